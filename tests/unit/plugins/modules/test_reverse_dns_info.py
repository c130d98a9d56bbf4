"""reverse_dns: every status against the real fixture, address forms, bad input, and through Ansible."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.iprev import check_reverse

pytestmark = pytest.mark.dns


@pytest.mark.parametrize(
    ("address", "status", "ptr_outcome", "confirmed"),
    [
        ("2001:db8:25::10", "pass", "answer", ["mail.example.com"]),
        ("2001:db8:25::11", "mismatch", "answer", []),
        ("2001:db8:25::12", "pass", "answer", ["multi-a.example.com"]),
        ("2001:db8:25::13", "missing", "nxdomain", []),
        ("2001:db8:25::14", "missing", "nodata", []),
        ("2001:db8:25::15", "mismatch", "answer", []),
        ("2001:db8:25::16", "temperror", "answer", []),
        ("2001:db8:25::17", "mismatch", "answer", []),
        ("2001:db8:ffff::1", "temperror", "servfail", []),
        ("198.51.100.10", "pass", "answer", ["mail.example.com"]),
        ("198.51.100.11", "mismatch", "answer", []),
        ("198.51.100.12", "pass", "answer", ["multi-a.example.com"]),
        ("198.51.100.13", "missing", "nxdomain", []),
    ],
)
def test_status_of_fixture_addresses(client, address, status, ptr_outcome, confirmed):
    result = check_reverse(client, address)
    assert result["status"] == status
    assert result["ptr_outcome"] == ptr_outcome
    assert result["confirmed_names"] == confirmed


def test_several_ptr_names_are_each_forward_checked(client):
    result = check_reverse(client, "2001:db8:25::12")
    assert result["ptr_names"] == ["multi-a.example.com", "multi-b.example.net"]
    by_name = {entry["name"]: entry for entry in result["forward"]}
    assert by_name["multi-a.example.com"]["confirmed"] is True
    assert (by_name["multi-b.example.net"]["outcome"], by_name["multi-b.example.net"]["confirmed"]) == (
        "nodata",
        False,
    )


def test_mismatch_reports_where_the_name_points(client):
    result = check_reverse(client, "2001:db8:25::11")
    assert result["forward"] == [
        {
            "name": "mismatch.example.com",
            "type": "AAAA",
            "outcome": "answer",
            "addresses": ["2001:db8:25::99"],
            "confirmed": False,
        }
    ]


def test_forward_servfail_is_temperror_not_mismatch(client):
    result = check_reverse(client, "2001:db8:25::16")
    assert result["forward"][0]["outcome"] == "servfail"
    assert result["status"] == "temperror"


@pytest.mark.parametrize(
    "form",
    [
        "2001:0db8:0025:0000:0000:0000:0000:0010",
        "2001:DB8:25::10",
        "[2001:db8:25::10]",
        "IPv6:2001:db8:25::10",
        " 2001:db8:25::10 ",
    ],
)
def test_any_textual_ipv6_form(client, form):
    result = check_reverse(client, form)
    assert (result["address"], result["status"]) == ("2001:db8:25::10", "pass")


def test_ipv4_mapped_address_is_looked_up_as_ipv4(client):
    result = check_reverse(client, "::ffff:198.51.100.10")
    assert (result["address"], result["family"], result["status"]) == ("198.51.100.10", "ipv4", "pass")
    assert result["reverse_name"] == "10.100.51.198.in-addr.arpa"


def test_dead_nameserver_is_temperror(silent_client):
    result = check_reverse(silent_client, "2001:db8:25::10")
    assert (result["status"], result["ptr_outcome"]) == ("temperror", "timeout")


def test_bad_address_is_refused(client):
    with pytest.raises(ValueError, match="not an IPv4 or IPv6 address"):
        check_reverse(client, "2001:db8:25::zz")


def test_module_through_ansible(dns_server, ansible_module):
    result = ansible_module(
        "reverse_dns_info",
        {
            "address": ["2001:db8:25::10", "2001:db8:25::13", "2001:db8:25::11", "::ffff:198.51.100.10"],
            "nameservers": [f"[::1]:{dns_server.port}"],
        },
    )
    assert result["_rc"] == 0 and result["changed"] is False
    assert [r["status"] for r in result["results"]] == ["pass", "missing", "mismatch", "pass"]
    assert result["summary"] == {"pass": 2, "missing": 1, "mismatch": 1, "temperror": 0}


def test_module_check_mode_single_address(dns_server, ansible_module):
    result = ansible_module(
        "reverse_dns_info",
        {"address": ["2001:db8:25::12"], "nameservers": [f"127.0.0.1@{dns_server.port}"]},
        check=True,
    )
    assert result["_rc"] == 0 and result["changed"] is False
    assert result["status"] == "pass"


def test_module_bad_input_fails_with_clear_message(dns_server, ansible_module):
    result = ansible_module(
        "reverse_dns_info",
        {
            "address": ["2001:db8:25::10", "mail.example.com", "300.1.1.1"],
            "nameservers": [f"127.0.0.1@{dns_server.port}"],
        },
    )
    assert result["failed"] is True and result["_rc"] != 0
    assert result["msg"] == "not an IPv4 or IPv6 address: 'mail.example.com', '300.1.1.1'"


def test_module_bad_nameserver_fails_with_clear_message(ansible_module):
    result = ansible_module(
        "reverse_dns_info", {"address": ["2001:db8:25::10"], "nameservers": ["ns1.example.com"]}
    )
    assert result["failed"] is True
    assert "'ns1.example.com' is not an IP address" in result["msg"]


@pytest.mark.parametrize("old", ["reverse_dns", "spf_check", "dkim_record", "ipv6_sender_readiness"])
def test_the_first_module_names_still_work_with_a_deprecation(dns_server, ansible_module, old):
    """meta/runtime.yml redirects each first name to its *_info module until 1.0.0."""
    args = {
        "reverse_dns": {"address": ["2001:db8:25::10"]},
        "spf_check": {"address": ["2001:db8:25::10"], "mail_from": "user@example.com"},
        "dkim_record": {"selector": ["sel2048"], "domain": "example.com"},
        "ipv6_sender_readiness": {"addresses": ["2001:db8:25::10"], "mail_from_domains": ["example.com"],
                                  "dkim_selectors": []},
    }[old]
    result = ansible_module(old, {**args, "nameservers": [f"127.0.0.1@{dns_server.port}"]})
    assert result["_rc"] == 0, result.get("msg")
    notes = [d["msg"] for d in result.get("deprecations", [])] + [result["_stderr"]]
    assert any(f"Use v6gate.mx.{old}_info instead" in " ".join(note.split()) for note in notes), notes
