"""The gate's command line checks, as the role's ``validate:`` runs them (no pymilter needed)."""

import json
import logging

import pytest
from v6gate_gate.cli import main


@pytest.fixture(autouse=True)
def _restore_logging():
    """main() configures the root logger like the daemon does; give the other tests theirs back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


CONFIG = "[gate]\nauthserv_id = mx.example.net\noptin_file = /etc/v6gate/ipv6-optin-domains\n"


def test_check_config_ok(tmp_path, capsys):
    path = tmp_path / "gate.conf"
    path.write_text(CONFIG)
    assert main(["--config", str(path), "--check-config"]) == 0
    assert "ok (authserv_id=mx.example.net, ptr_policy=exists)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "message"),
    [(CONFIG + "ptr_policy = maybe\n", "ptr_policy must be one of"), ("", "no [gate] section")],
)
def test_check_config_rejects(tmp_path, capsys, text, message):
    path = tmp_path / "gate.conf"
    path.write_text(text)
    assert main(["--config", str(path), "--check-config"]) == 2
    assert message in capsys.readouterr().err


def test_check_config_missing_file(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "absent"), "--check-config"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_check_optin(tmp_path, capsys):
    good = tmp_path / "good"
    good.write_text("# ok\ncontoso.example\n# v6gate-optin end: 1 domain(s)\n")
    assert main(["--check-optin", str(good)]) == 0
    assert "1 domain(s)" in capsys.readouterr().out
    bad = tmp_path / "bad"
    bad.write_text("contoso.example\nnot a domain\n# v6gate-optin end: 2 domain(s)\n")
    assert main(["--check-optin", str(bad)]) == 1
    assert "line 2" in capsys.readouterr().err


def test_check_optin_explicitly_empty(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.write_text("# none yet\n# v6gate-optin end: 0 domain(s)\n")
    assert main(["--check-optin", str(empty)]) == 0
    assert f"{empty}: 0 domain(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", ": no trailer: the last line must be '# v6gate-optin end: 3 domain(s)'"),
        ("contoso.example\nfabrikam.ex", ": no trailer: "),  # cut off
        ("contoso.example\nfabrik",  # cut off inside a line: the line is named, and the missing trailer
         ": line 2: not a fully qualified domain name: 'fabrik'; and no trailer: the file is incomplete"),
        ("contoso.example\n# v6gate-optin end: 2 domain(s)\n",
         ": line 2: the trailer says 2 domain(s) but the file has 1 domain line(s); lines are missing"),
        ("contoso.example\n# v6gate-optin end: 1 domain(s)\nfabrikam.example\n",
         ": line 3: text after the trailer (line 2): 'fabrikam.example'; the trailer must be the last line"),
        ("contoso.example\n# v6gate-optin end: 1 dom",
         ": line 2: not a valid trailer line: '# v6gate-optin end: 1 dom'"),
    ],
)
def test_check_optin_names_the_file_and_the_trailer_problem(tmp_path, capsys, text, message):
    path = tmp_path / "optin"
    path.write_text(text)
    assert main(["--check-optin", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"ERROR {path}{message}" in captured.err


def test_domain_states_follow_the_model(tmp_path, capsys):
    """What playbooks/ipv6_domains.yml reads before it turns a domain off: the gate's own parser decides."""
    path = tmp_path / "domains"
    path.write_text("model opt-out\nFabrikam.Example. off\nwatched.example monitor\n"
                    "# v6gate-optin end: 2 domain(s)\n")
    assert main(["--domain-states", str(path), "contoso.example", "fabrikam.example", "WATCHED.example"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["model"] == "opt-out"
    assert shown["states"] == {"contoso.example": "enforce", "fabrikam.example": "off",
                               "watched.example": "monitor"}
    assert shown["enabled"] == ["contoso.example", "watched.example"]


def test_domain_states_without_a_file_are_off(tmp_path, capsys):
    assert main(["--domain-states", str(tmp_path / "absent"), "contoso.example"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["model"], shown["states"], shown["enabled"]) == (None, {"contoso.example": "off"}, [])


def test_domain_states_refuse_a_bad_file(tmp_path, capsys):
    """A file cut short is an error, never read as 'nothing enabled' (which would skip the TTL wait)."""
    path = tmp_path / "domains"
    path.write_text("contoso.example\n")
    assert main(["--domain-states", str(path), "contoso.example"]) == 1
    assert "no trailer" in capsys.readouterr().err
