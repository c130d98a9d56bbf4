"""The postfix role's checks (tasks/check.yml) with its real defaults and vars, run by Ansible against
stand-in hosts: a domain in two classes, an alias of a domain nobody accepts, an alias domain without
aliases and a bad target all fail before the host is touched, each naming what is wrong."""

import sys
from pathlib import Path

import yaml
from ansible_cli import ansible_bin, run_json

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLE = REPO_ROOT / "roles" / "postfix"
DOMAINS_CHECK = "Check the domains and the virtual aliases"
BASE = {"postfix_myhostname": "mx.example.net", "postfix_authserv_id": "mx.example.net",
        "postfix_relay_domains": ["relay.example"], "postfix_relay_transport": "smtp:[store.example]:25"}
HOSTS = {
    "aliases": {"postfix_virtual_alias_domains": ["Alias.Example."],
                "postfix_virtual_aliases": {"info@alias.example": "a@relay.example",
                                            "@alias.example": ["b@relay.example", "c@elsewhere.example"],
                                            "old@relay.example": "a@relay.example"}},
    "none": {},
    "relay-and-alias": {"postfix_virtual_alias_domains": ["relay.example"],
                        "postfix_virtual_aliases": {"@relay.example": "x@elsewhere.example"}},
    "local-and-relay": {"postfix_relay_domains": ["mx.example.net"], "postfix_relay_transport": "local:"},
    "alias-of-a-stranger": {"postfix_virtual_aliases": {"info@stranger.example": "a@relay.example"}},
    "alias-domain-without-alias": {"postfix_virtual_alias_domains": ["alias.example"]},
    "not-an-address": {"postfix_virtual_aliases": {"relay.example": "a@relay.example"}},
    "empty-target": {"postfix_virtual_alias_domains": ["alias.example"],
                     "postfix_virtual_aliases": {"info@alias.example": []}},
    # $mydomain is mx.example.net minus its first label: example.net is local and a relay domain here
    "mydomain-and-relay": {"postfix_mydestination": ["$myhostname", "localhost.$mydomain", "${mydomain}"],
                           "postfix_relay_domains": ["example.net"], "postfix_relay_transport": "local:"},
    "null-target": {"postfix_virtual_alias_domains": ["alias.example"],
                    "postfix_virtual_aliases": {"info@alias.example": None}},
    "target-with-space": {"postfix_virtual_alias_domains": ["alias.example"],
                          "postfix_virtual_aliases": {"info@alias.example": "a@relay.example b@x.example"}},
}


def test_domain_classes_and_aliases_are_checked_before_the_host_is_touched(tmp_path):
    role = tmp_path / "roles" / "checks"
    for part in ("defaults", "vars", "tasks"):
        (role / part).mkdir(parents=True)
    (role / "defaults" / "main.yml").symlink_to(ROLE / "defaults" / "main.yml")
    (role / "vars" / "main.yml").symlink_to(ROLE / "vars" / "main.yml")
    (role / "tasks" / "main.yml").symlink_to(ROLE / "tasks" / "check.yml")
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False,
                                                        "roles": [str(role)]}]))
    hosts = {name: {**BASE, **overrides, "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable} for name, overrides in HOSTS.items()}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    playbook = ansible_bin("ansible-playbook")
    command = [str(playbook), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")]
    output = run_json(command, timeout=120)
    failures = {host: result["msg"] for task in output["plays"][0]["tasks"]
                for host, result in task["hosts"].items() if result.get("failed")}
    checked = {host for task in output["plays"][0]["tasks"] if task["task"]["name"].endswith(DOMAINS_CHECK)
               for host in task["hosts"]}
    assert checked == set(HOSTS)
    assert sorted(failures) == sorted(set(HOSTS) - {"aliases", "none"}), failures
    assert "(['relay.example'])" in failures["relay-and-alias"]
    assert "(['mx.example.net'])" in failures["local-and-relay"]
    assert "(['example.net'])" in failures["mydomain-and-relay"]
    assert "(['info@stranger.example'])" in failures["alias-of-a-stranger"]
    assert "no alias (['alias.example'])" in failures["alias-domain-without-alias"]
    for host in ("not-an-address", "empty-target", "null-target", "target-with-space"):
        assert failures[host].startswith("postfix: a domain is in more than one of"), failures[host]
