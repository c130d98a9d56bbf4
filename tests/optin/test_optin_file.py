"""Editing the opt-in file: comments kept, atomic replacement, validation with the gate's parser."""

import logging
import os
import threading

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import OptInList
from ansible_collections.v6gate.mx.plugins.module_utils.v6gate_optin import (
    ChangeLog,
    plan_edit,
    validate_domain,
    validate_domains,
    write_atomically,
)

FILE = "# managed by v6gate\n\nexample.com  # first customer\n# example.net is waiting\nexample.org\n"


def test_add_appends_and_keeps_every_other_line():
    edit = plan_edit(FILE, validate_domains(["example.net"]), "present")
    assert edit.after == FILE + "example.net\n"
    assert (edit.added, edit.removed, edit.changed) == (["example.net"], [], True)


def test_add_to_a_file_without_final_newline():
    edit = plan_edit("example.com", validate_domains(["example.net"]), "present")
    assert edit.after == "example.com\nexample.net\n"


def test_add_existing_domain_in_other_spelling_is_no_change():
    edit = plan_edit(FILE, validate_domains(["EXAMPLE.com."]), "present")
    assert edit.after == FILE and not edit.changed and edit.added == []


def test_remove_drops_the_line_with_its_comment_only():
    edit = plan_edit(FILE, validate_domains(["Example.COM"]), "absent")
    assert edit.after == "# managed by v6gate\n\n# example.net is waiting\nexample.org\n"
    assert edit.removed == ["example.com"]


def test_remove_drops_duplicates_and_other_spellings():
    text = "example.com\nEXAMPLE.COM.\nexample.org\n"
    assert plan_edit(text, validate_domains(["example.com"]), "absent").after == "example.org\n"


def test_remove_absent_domain_is_no_change():
    edit = plan_edit(FILE, validate_domains(["example.net"]), "absent")
    assert not edit.changed and edit.removed == []


def test_idn_u_label_and_a_label_are_the_same_domain():
    text = "bücher.example\n"
    assert not plan_edit(text, validate_domains(["xn--bcher-kva.example"]), "present").changed
    assert plan_edit(text, validate_domains(["xn--bcher-kva.example"]), "absent").after == ""


def test_exclusive_converges_to_the_list_and_keeps_comments():
    edit = plan_edit(FILE, validate_domains(["example.org", "example.net"]), "present", exclusive=True)
    assert edit.after == "# managed by v6gate\n\n# example.net is waiting\nexample.org\nexample.net\n"
    assert (edit.added, edit.removed) == (["example.net"], ["example.com"])
    assert edit.domains_after() == ["example.org", "example.net"]


def test_exclusive_with_empty_list_empties_the_list_but_keeps_comments():
    edit = plan_edit(FILE, {}, "present", exclusive=True)
    assert edit.after == "# managed by v6gate\n\n# example.net is waiting\n"


def test_invalid_existing_file_is_refused_with_its_line():
    with pytest.raises(ValueError, match=r"line 2: not a single domain name: 'two words'"):
        plan_edit("example.com\ntwo words\n", validate_domains(["example.net"]), "present")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("example.com # note", "without '#' or line breaks"),
        ("example.com\nexample.net", "without '#' or line breaks"),
        ("user@example.com", "not a single domain name"),
        ("two words.example", "not a single domain name"),
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
    write_atomically(str(path), FILE + "example.net\n")
    after = path.stat()
    assert path.read_text() == FILE + "example.net\n"
    assert after.st_ino != before.st_ino  # renamed into place, not rewritten in place
    assert (after.st_mode & 0o7777, after.st_uid, after.st_gid) == (0o640, before.st_uid, before.st_gid)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optin"]  # no temporary file left behind


def test_atomic_write_refuses_invalid_text_and_leaves_the_file(tmp_path):
    path = tmp_path / "optin"
    path.write_text(FILE)
    with pytest.raises(ValueError, match="line 1"):
        write_atomically(str(path), "not valid\n")
    assert path.read_text() == FILE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optin"]


def test_new_file_gets_the_given_mode(tmp_path):
    path = tmp_path / "optin"
    write_atomically(str(path), "example.com\n", new_file_mode=0o644)
    assert path.stat().st_mode & 0o7777 == 0o644


def test_running_gate_list_never_sees_a_partial_file(tmp_path, caplog):
    """The gate's OptInList reads the file while it is replaced over and over: every read gives one of the
    two complete lists, never an error (which a half-written file would cause) and never a third list."""
    path = tmp_path / "optin"
    small = "# header\nexample.com\n"
    big = small + "".join(f"d{n}.example\n" for n in range(2000))
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
