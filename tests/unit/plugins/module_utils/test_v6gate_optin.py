"""Editing the opt-in file: comments kept, one trailer at the end with the right count, atomic
replacement, validation with the gate's parser."""

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from ansible_cli import ansible_bin, run_json
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    OptInList,
    OptInTrailerError,
    is_optin_trailer_line,
    parse_optin_file,
    parse_optin_text,
    render_optin_trailer,
)
from ansible_collections.v6gate.mx.plugins.module_utils.v6gate_optin import (
    NEW_FILE_TEXT,
    ChangeLog,
    plan_edit,
    validate_domain,
    validate_domains,
    write_atomically,
)

REPO_ROOT = Path(__file__).resolve().parents[4]
# The gate's package and the shared core, as the role installs them below ipv6_gate_install_dir.
GATE_PYTHONPATH = f"{REPO_ROOT / 'roles' / 'ipv6_gate' / 'files'}:{REPO_ROOT / 'collections'}"
BODY = "# managed by v6gate\n\nexample.com  # first customer\n# example.net is waiting\nexample.org\n"


def end(count: int) -> str:
    """The trailer line of a file with ``count`` domain lines, with its line break."""
    return render_optin_trailer(count) + "\n"


FILE = BODY + end(2)


def assert_one_trailer_at_the_end(text: str) -> None:
    lines = text.splitlines()
    assert [n for n, line in enumerate(lines) if is_optin_trailer_line(line)] == [len(lines) - 1]
    assert text.endswith("\n")
    parse_optin_text(text)  # and the count is right


def test_add_appends_and_keeps_every_other_line():
    edit = plan_edit(FILE, validate_domains(["example.net"]), "present")
    assert edit.after == BODY + "example.net\n" + end(3)
    assert (edit.added, edit.removed, edit.changed) == (["example.net"], [], True)
    assert edit.repaired_trailer is False


def test_add_to_a_file_without_final_newline():
    edit = plan_edit("example.com\n" + render_optin_trailer(1), validate_domains(["example.net"]), "present")
    assert edit.after == "example.com\nexample.net\n" + end(2)


def test_add_existing_domain_in_other_spelling_is_no_change():
    edit = plan_edit(FILE, validate_domains(["EXAMPLE.com."]), "present")
    assert edit.after == FILE and not edit.changed and edit.added == []


def test_remove_drops_the_line_with_its_comment_only():
    edit = plan_edit(FILE, validate_domains(["Example.COM"]), "absent")
    assert edit.after == "# managed by v6gate\n\n# example.net is waiting\nexample.org\n" + end(1)
    assert edit.removed == ["example.com"]


def test_remove_drops_duplicates_and_other_spellings():
    text = "example.com\nEXAMPLE.COM.\nexample.org\n" + end(3)
    assert plan_edit(text, validate_domains(["example.com"]), "absent").after == "example.org\n" + end(1)


def test_remove_absent_domain_is_no_change():
    edit = plan_edit(FILE, validate_domains(["example.net"]), "absent")
    assert not edit.changed and edit.removed == []


def test_idn_u_label_and_a_label_are_the_same_domain():
    text = "bücher.example\n" + end(1)
    assert not plan_edit(text, validate_domains(["xn--bcher-kva.example"]), "present").changed
    assert plan_edit(text, validate_domains(["xn--bcher-kva.example"]), "absent").after == end(0)


def test_exclusive_converges_to_the_list_and_keeps_comments():
    edit = plan_edit(FILE, validate_domains(["example.org", "example.net"]), "present", exclusive=True)
    assert edit.after == (
        "# managed by v6gate\n\n# example.net is waiting\nexample.org\nexample.net\n" + end(2)
    )
    assert (edit.added, edit.removed) == (["example.net"], ["example.com"])
    assert edit.domains_after() == ["example.org", "example.net"]


def test_exclusive_with_empty_list_empties_the_list_but_keeps_comments():
    edit = plan_edit(FILE, {}, "present", exclusive=True)
    assert edit.after == "# managed by v6gate\n\n# example.net is waiting\n" + end(0)
    assert parse_optin_text(edit.after) == {}


def test_invalid_existing_file_is_refused_with_its_line():
    for repair in (False, True):  # a bad domain line is never "repaired"
        with pytest.raises(ValueError, match=r"line 2: not a single domain name: 'two words'") as error:
            plan_edit("example.com\ntwo words\n", validate_domains(["example.net"]), "present",
                      repair_trailer=repair)
        assert not isinstance(error.value, OptInTrailerError)


@pytest.mark.parametrize(
    ("state", "names", "exclusive"),
    [
        ("present", ["example.net"], False),
        ("present", ["example.net", "a.example", "b.example"], False),
        ("absent", ["example.com"], False),
        ("absent", ["example.com", "example.org"], False),
        ("present", ["example.org", "c.example"], True),
        ("present", [], True),
    ],
)
def test_every_edit_keeps_exactly_one_trailer_at_the_end(state, names, exclusive):
    edit = plan_edit(FILE, validate_domains(names), state, exclusive)
    assert_one_trailer_at_the_end(edit.after)
    again = plan_edit(edit.after, validate_domains(names), state, exclusive)  # and is idempotent
    assert not again.changed and again.after == edit.after


def test_a_valid_file_is_left_byte_for_byte_when_no_domain_changes():
    text = "example.com\r\n" + render_optin_trailer(1) + "\r\n\n"  # CRLF, a blank line after the trailer
    edit = plan_edit(text, validate_domains(["example.com"]), "present")
    assert edit.after == text and not edit.changed


def test_blank_lines_after_the_trailer_go_with_it():
    edit = plan_edit(FILE + "\n\n", validate_domains(["example.net"]), "present")
    assert edit.after == BODY + "example.net\n" + end(3)


@pytest.mark.parametrize(
    ("before", "message"),
    [
        (BODY, "no trailer"),  # a file from before the trailer, or written by hand
        ("", "no trailer"),  # cut to nothing
        (BODY + end(3), r"says 3 domain\(s\) but the file has 2"),
        (FILE + "example.net\n", "text after the trailer"),  # echo example.net >> file
        (BODY + "# v6gate-optin end: 2\n", "not a valid trailer line"),
    ],
)
def test_a_file_without_valid_trailer_is_not_edited(before, message):
    with pytest.raises(OptInTrailerError, match=message):
        plan_edit(before, validate_domains(["example.net"]), "present")


def test_repair_trailer_keeps_the_domains_and_appends_the_trailer():
    edit = plan_edit(BODY, validate_domains(["example.com"]), "present", repair_trailer=True)
    assert edit.after == FILE and edit.changed and edit.repaired_trailer
    assert (edit.added, edit.removed) == ([], [])
    with_change = plan_edit(BODY, validate_domains(["example.net"]), "present", repair_trailer=True)
    assert with_change.after == BODY + "example.net\n" + end(3)
    assert with_change.added == ["example.net"]


def test_repair_trailer_of_a_file_without_final_newline_or_anything_at_all():
    assert plan_edit("example.com", {}, "absent", repair_trailer=True).after == "example.com\n" + end(1)
    assert plan_edit("", {}, "present", exclusive=True, repair_trailer=True).after == end(0)


def test_repair_trailer_takes_domains_after_an_old_trailer_and_fixes_the_count():
    before = BODY + end(2) + "example.net\n" + end(7)
    edit = plan_edit(before, validate_domains(["example.org"]), "absent", repair_trailer=True)
    assert edit.after == "# managed by v6gate\n\nexample.com  # first customer\n# example.net is waiting\n" \
        "example.net\n" + end(2)
    assert edit.removed == ["example.org"] and edit.repaired_trailer
    assert_one_trailer_at_the_end(edit.after)


def test_repair_trailer_does_nothing_to_a_valid_file():
    edit = plan_edit(FILE, validate_domains(["example.com"]), "present", repair_trailer=True)
    assert edit.after == FILE and not edit.changed and not edit.repaired_trailer


def test_new_file_text_is_a_valid_empty_list():
    assert parse_optin_text(NEW_FILE_TEXT) == {}
    assert_one_trailer_at_the_end(NEW_FILE_TEXT)
    assert plan_edit(NEW_FILE_TEXT, validate_domains(["example.com"]), "present").after.endswith(
        "\nexample.com\n" + end(1)
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("example.com # note", "without '#', spaces or line breaks"),
        ("example.com\nexample.net", "without '#', spaces or line breaks"),
        ("user@example.com", "not a single domain name"),
        ("two words.example", "without '#', spaces or line breaks"),
        # a state word is file syntax, not part of a domain: never written as an enforced line
        ("example.com monitor", "without '#', spaces or line breaks"),
        ("localhost", "not a fully qualified domain name"),
        (".example.com", "not a single domain name"),
        ("a..example", "not a valid domain name"),
        ("-lead.example", "not a valid DNS name"),
        ("trail-.example", "not a valid DNS name"),
        ("exa$mple.com", "not a valid DNS name"),
        ("x" * 63 + "." + "y" * 63 + "." + "z" * 63 + "." + "w" * 63 + ".example", "not a valid DNS name"),
    ],
)
def test_invalid_domain_input(bad, message):
    with pytest.raises(ValueError, match="domain .*" + message.replace("$", r"\$")):
        validate_domain(bad)


def test_validate_domains_names_every_bad_one():
    with pytest.raises(ValueError) as error:
        validate_domains(["ok.example", "bad one.example", "localhost"])
    assert "'bad one.example'" in str(error.value) and "'localhost'" in str(error.value)


def test_valid_domain_forms():
    assert validate_domain(" Example.COM. ") == ("example.com", "Example.COM")
    assert validate_domain("Bücher.example") == ("xn--bcher-kva.example", "Bücher.example")


def test_atomic_write_replaces_inode_and_keeps_owner_group_mode(tmp_path):
    path = tmp_path / "optin"
    path.write_text(FILE)
    path.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(path, 1, 2)
    before = path.stat()
    write_atomically(str(path), BODY + "example.net\n" + end(3))
    after = path.stat()
    assert path.read_text() == BODY + "example.net\n" + end(3)
    assert after.st_ino != before.st_ino  # renamed into place, not rewritten in place
    assert (after.st_mode & 0o7777, after.st_uid, after.st_gid) == (0o640, before.st_uid, before.st_gid)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optin"]  # no temporary file left behind


def test_atomic_write_refuses_invalid_text_and_leaves_the_file(tmp_path):
    path = tmp_path / "optin"
    path.write_text(FILE)
    with pytest.raises(ValueError, match="line 1"):
        write_atomically(str(path), "not valid\n")
    with pytest.raises(OptInTrailerError, match="no trailer"):
        write_atomically(str(path), BODY)
    assert path.read_text() == FILE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optin"]


def test_new_file_gets_the_given_mode(tmp_path):
    path = tmp_path / "optin"
    write_atomically(str(path), "example.com\n" + end(1), new_file_mode=0o644)
    assert path.stat().st_mode & 0o7777 == 0o644


def test_running_gate_list_never_sees_a_partial_file(tmp_path, caplog):
    """The gate's OptInList reads the file while it is replaced over and over: every read gives one of the
    two complete lists, never an error (which a half-written file would cause) and never a third list."""
    path = tmp_path / "optin"
    small = "# header\nexample.com\n" + end(1)
    big = small.removesuffix(end(1)) + "".join(f"d{n}.example\n" for n in range(2000)) + end(2001)
    path.write_text(small)
    optin = OptInList(str(path), logging.getLogger("test-optin"))
    seen = set()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            optin.refresh()
            seen.add(len(optin))

    thread = threading.Thread(target=reader)
    with caplog.at_level(logging.ERROR, logger="test-optin"):
        thread.start()
        for n in range(60):
            write_atomically(str(path), big if n % 2 == 0 else small)
        stop.set()
        thread.join()
    assert seen <= {1, 2001}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_change_log_lock_serialises_two_writers(tmp_path):
    log_path = tmp_path / "state" / "changes.jsonl"
    first = ChangeLog(str(log_path))
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o750
    acquired = threading.Event()

    def second_writer():
        with ChangeLog(str(log_path)) as second:
            acquired.set()
            second.append([{"n": 2}])

    thread = threading.Thread(target=second_writer)
    thread.start()
    assert not acquired.wait(0.3)  # blocked while the first run holds the lock
    first.append([{"n": 1}])
    first.close()
    thread.join(timeout=5)
    assert log_path.read_text() == '{"n": 1}\n{"n": 2}\n'
    assert log_path.stat().st_mode & 0o777 == 0o640


# ------------------------------------------------------------------------- the role's template, rendered


def render_role_template(tmp_path, domains: list[str], model="opt-in", monitor=(), optout=()) -> str:
    """Render roles/ipv6_gate/templates/ipv6-optin-domains.j2 with Ansible's template module and the
    role's ``validate:`` (the gate's ``--check-optin``), as the role does; return the file."""
    dest = tmp_path / "ipv6-optin-domains"
    args = {
        "src": str(REPO_ROOT / "roles" / "ipv6_gate" / "templates" / "ipv6-optin-domains.j2"),
        "dest": str(dest),
        "validate": f"/usr/bin/env PYTHONDONTWRITEBYTECODE=1 PYTHONPATH={GATE_PYTHONPATH} "
        f"{sys.executable} -m v6gate_gate --check-optin %s",
    }
    extra = {"ipv6_gate_optin_domains": domains, "ipv6_gate_model": model,
             "ipv6_gate_monitor_domains": list(monitor), "ipv6_gate_optout_domains": list(optout),
             "ansible_python_interpreter": sys.executable}
    command = [str(ansible_bin("ansible")), "localhost", "-i", "localhost,", "-c", "local",
               "-m", "ansible.builtin.template", "-a", json.dumps(args), "-e", json.dumps(extra)]
    output = run_json(command, timeout=120)
    result = output["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert output["rc"] == 0 and result["changed"] is True, result
    return dest.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("domains", "expected"),
    [
        ([], {}),
        (["contoso.example"], {"contoso.example": "contoso.example"}),
        (["Contoso.com", "bücher.example", "contoso.COM"],  # a duplicate counts as a line
         {"contoso.com": "Contoso.com", "xn--bcher-kva.example": "bücher.example"}),
    ],
)
def test_role_template_writes_the_trailer_the_gate_requires(tmp_path, domains, expected):
    text = render_role_template(tmp_path, domains)
    assert text.splitlines()[-1] == render_optin_trailer(len(domains))
    assert_one_trailer_at_the_end(text)
    assert parse_optin_text(text) == expected
    # and the module edits what the role wrote without complaint
    edit = plan_edit(text, validate_domains(["fabrikam.example"]), "present")
    assert edit.after.endswith("\nfabrikam.example\n" + end(len(domains) + 1))


def test_role_template_writes_the_model_and_the_states(tmp_path):
    text = render_role_template(tmp_path, [], model="opt-out", monitor=["fabrikam.example"],
                                optout=["Contoso.example"])
    parsed = parse_optin_file(text)
    assert parsed.model == "opt-out"
    assert parsed.states == {"fabrikam.example": "monitor", "contoso.example": "off"}
    assert parsed.state_of("unlisted.example") == "enforce"
    text = render_role_template(tmp_path, ["contoso.example"], monitor=["fabrikam.example"])
    assert parse_optin_file(text).states == {"contoso.example": "enforce", "fabrikam.example": "monitor"}
    # ipv6_optin edits opt-in files only: under opt-out, removing a line would turn a domain on
    with pytest.raises(ValueError, match="uses the opt-out model; this module edits opt-in files only"):
        plan_edit(render_role_template(tmp_path, [], model="opt-out", optout=["contoso.example"]),
                  validate_domains(["contoso.example"]), "absent")


def test_gate_cli_rejects_a_role_file_cut_short(tmp_path):
    text = render_role_template(tmp_path, ["contoso.example", "fabrikam.example"])
    cut = tmp_path / "cut"
    cut.write_text(text[: text.index("fabrikam")], encoding="utf-8")
    checked = subprocess.run([sys.executable, "-m", "v6gate_gate", "--check-optin", str(cut)],
                             capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=GATE_PYTHONPATH),
                             timeout=60)
    assert checked.returncode == 1
    assert f"{cut}: no trailer: the last line must be '# v6gate-optin end: 3 domain(s)'" in checked.stderr
