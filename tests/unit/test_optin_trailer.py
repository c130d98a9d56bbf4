"""The opt-in file's trailer: a file cut short anywhere, even to nothing, is never read as a shorter list.

Review found an in-place rewrite loaded half-written (0 domains): every recipient got a permanent 550.
"""

import logging
import os

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils import ipv6_rules as rules
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    OptInList,
    OptInListUnavailable,
    OptInTrailerError,
    is_optin_trailer_line,
    parse_optin_text,
    parse_optin_trailer,
    render_optin_trailer,
)

BODY = (
    "# managed by v6gate\n\nContoso.com   # main\n# fabrikam.example is waiting\n"
    "bücher.example\nexample.org\n"
)
FILE = BODY + "# v6gate-optin end: 3 domain(s)\n"
DOMAINS = {
    "contoso.com": "Contoso.com",
    "xn--bcher-kva.example": "bücher.example",
    "example.org": "example.org",
}


# -------------------------------------------------------------------------------------- the trailer line


def test_trailer_format():
    assert render_optin_trailer(3) == "# v6gate-optin end: 3 domain(s)"
    assert render_optin_trailer(0) == "# v6gate-optin end: 0 domain(s)"
    assert render_optin_trailer(1) == "# v6gate-optin end: 1 domain(s)"
    for count in (0, 1, 9, 10, 2000):
        assert parse_optin_trailer(render_optin_trailer(count)) == count
        assert parse_optin_trailer(f"  {render_optin_trailer(count)}\r\n") == count


@pytest.mark.parametrize("count", [-1, 1.0, "3", True, None])
def test_trailer_count_must_be_a_whole_number(count):
    with pytest.raises(ValueError, match="whole number"):
        render_optin_trailer(count)


@pytest.mark.parametrize(
    "line",
    [
        "# v6gate-optin end: 3",  # cut off
        "# v6gate-optin end: 3 domain(",
        "# v6gate-optin end: 1",  # "...: 12 domain(s)" cut after the first digit
        "# v6gate-optin end: ",
        "# v6gate-optin end: domain(s)",
        "# v6gate-optin end: 03 domain(s)",
        "# v6gate-optin end: -1 domain(s)",
        "# v6gate-optin end: +1 domain(s)",
        "# v6gate-optin end: three domain(s)",
        "# v6gate-optin end: \uff13 domain(s)",  # FULLWIDTH DIGIT THREE: a digit, but not an ASCII one
        "# v6gate-optin end: 3 domains",
        "# v6gate-optin end: 3 domain(s) extra",
        "# v6gate-optin end:3 domain(s)",
        "#v6gate-optin end: 3 domain(s)",
        "# v6gate-optin end: 1234567890 domain(s)",
        "example.com",
    ],
)
def test_malformed_trailer_lines(line):
    with pytest.raises(ValueError, match="not a valid trailer line"):
        parse_optin_trailer(line)


def test_what_counts_as_a_trailer_line():
    assert is_optin_trailer_line("# v6gate-optin end: 3 domain(s)\n")
    assert is_optin_trailer_line("  # v6gate-optin end: garbage")
    assert not is_optin_trailer_line("# v6gate-opt")  # cut short before the marker: an ordinary comment
    assert not is_optin_trailer_line("example.com  # v6gate-optin end: 1 domain(s)")


# --------------------------------------------------------------------------------------- whole files


def test_complete_file_parses():
    assert parse_optin_text(FILE) == DOMAINS
    assert parse_optin_text(FILE.rstrip("\n")) == DOMAINS  # the final line break alone is not content
    assert parse_optin_text(FILE.replace("\n", "\r\n")) == DOMAINS
    assert parse_optin_text(FILE + "\n  \n") == DOMAINS  # blank lines after the trailer are nothing


def test_file_cut_short_anywhere_is_refused():
    """Every proper prefix of the file (but the one without the final line break) is refused."""
    for cut in range(len(FILE) - 1):
        with pytest.raises(ValueError):
            parse_optin_text(FILE[:cut])


def test_missing_trailer():
    with pytest.raises(OptInTrailerError, match=r"no trailer: the last line must be '# v6gate-optin end: 3 "
                       r"domain\(s\)'.*incomplete \(cut off while being written\?\)"):
        parse_optin_text(BODY)


@pytest.mark.parametrize("text", ["", "\n", "# managed by v6gate\n"])
def test_empty_or_comment_only_text_without_trailer_is_refused(text):
    with pytest.raises(OptInTrailerError, match="no trailer"):
        parse_optin_text(text)


def test_count_mismatch_when_a_line_is_lost_in_the_middle():
    lost = FILE.replace("bücher.example\n", "")
    with pytest.raises(OptInTrailerError, match=r"line 6: the trailer says 3 domain\(s\) but the file has 2 "
                       r"domain line\(s\); lines are missing"):
        parse_optin_text(lost)


def test_count_mismatch_when_a_line_is_added_by_hand():
    with pytest.raises(OptInTrailerError, match=r"says 3 domain\(s\) but the file has 4"):
        parse_optin_text(BODY + "extra.example\n# v6gate-optin end: 3 domain(s)\n")


@pytest.mark.parametrize(
    "after",
    [
        "fabrikam.example\n",  # echo fabrikam.example >> file
        "# a comment\n",
        "# v6gate-optin end: 3 domain(s)\n",  # two files glued together, or the trailer twice
        "\nnot a domain\n",
    ],
)
def test_text_after_the_trailer_is_refused(after):
    with pytest.raises(OptInTrailerError, match=r"line (8|9): text after the trailer \(line 7\).*must be the "
                       "last line"):
        parse_optin_text(FILE + after)


def test_malformed_trailer_names_its_line():
    with pytest.raises(OptInTrailerError, match=r"line 7: not a valid trailer line: '# v6gate-optin end: 3'"):
        parse_optin_text(BODY + "# v6gate-optin end: 3\n")


def test_a_bad_domain_line_is_reported_before_the_trailer():
    with pytest.raises(ValueError, match=r"^line 2: not a single domain name: 'not a domain'$") as error:
        parse_optin_text("ok.example\nnot a domain\n# v6gate-optin end: 2 domain(s)\n")
    assert not isinstance(error.value, OptInTrailerError)  # a person must fix it; no trailer repair does
    with pytest.raises(ValueError, match=r"line 2: not a single domain name: 'not a domain'$"):
        parse_optin_text("ok.example\nnot a domain\n# v6gate-optin end: 1\nmore text\n")


def test_a_file_cut_off_inside_a_line_names_the_line_and_the_missing_trailer():
    with pytest.raises(ValueError, match=r"^line 2: not a fully qualified domain name: 'fabrik'; and no "
                       r"trailer: the file is incomplete \(cut off while being written\?\)") as error:
        parse_optin_text("contoso.example\nfabrik")
    assert not isinstance(error.value, OptInTrailerError)


@pytest.mark.parametrize(
    "text",
    ["# v6gate-optin end: 0 domain(s)\n", "# header\n\n# none yet\n# v6gate-optin end: 0 domain(s)\n"],
)
def test_explicitly_empty_list_is_valid(text):
    assert parse_optin_text(text) == {}


def test_a_domain_listed_twice_counts_twice():
    text = "example.com\nEXAMPLE.COM.\n# v6gate-optin end: 2 domain(s)\n"
    assert parse_optin_text(text) == {"example.com": "example.com"}
    with pytest.raises(OptInTrailerError, match="says 1 domain"):
        parse_optin_text("example.com\nEXAMPLE.COM.\n# v6gate-optin end: 1 domain(s)\n")


def test_without_trailer_check_for_single_lines_and_repairs():
    assert parse_optin_text(BODY, require_trailer=False) == DOMAINS
    assert parse_optin_text(FILE + "fabrikam.example\n", require_trailer=False) == dict(
        DOMAINS, **{"fabrikam.example": "fabrikam.example"}
    )
    with pytest.raises(ValueError, match="line 1"):
        parse_optin_text("not a domain", require_trailer=False)


# ------------------------------------------------------------------------------------ the gate's view


def test_optin_list_keeps_last_good_list_when_the_file_is_replaced_by_a_truncated_one(tmp_path, caplog):
    path = tmp_path / "optin"
    path.write_text(FILE)
    optin = OptInList(str(path), logging.getLogger("test-trailer"))
    assert len(optin) == 3
    caplog.set_level(logging.INFO, logger="test-trailer")

    # the bug: an in-place rewrite caught half-way, here cut after the first domain line
    path.write_text(FILE[: FILE.index("bücher")])
    assert "contoso.com" in optin and "example.org" in optin
    assert rules.check_recipient_domain("x@example.org", optin) is None  # no 550 for a lost domain
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"cannot use {path}: no trailer" in errors[0] and "keeping last good list (3)" in errors[0]

    # caught at 0 bytes: still the last good list, not an empty one
    path.write_text("")
    assert len(optin) == 3 and rules.check_recipient_domain("x@contoso.com", optin) is None

    # cut inside the trailer, by rename this time
    tmp = tmp_path / "optin.tmp"
    tmp.write_text(FILE[:-8])
    os.replace(tmp, path)
    assert optin.domains() == ("Contoso.com", "bücher.example", "example.org")
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 3

    # a complete file is taken at once
    path.write_text("fabrikam.example\n# v6gate-optin end: 1 domain(s)\n")
    assert optin.domains() == ("fabrikam.example",)
    assert rules.check_recipient_domain("x@contoso.com", optin).status == "5.2.1"


def test_optin_list_with_only_a_truncated_file_is_unavailable(tmp_path):
    path = tmp_path / "optin"
    path.write_text(BODY)
    optin = OptInList(str(path))
    assert not optin.loaded
    with pytest.raises(OptInListUnavailable):  # the gate answers 451 4.3.0, never 5.2.1
        rules.check_recipient_domain("x@contoso.com", optin)
    path.write_text("")
    with pytest.raises(OptInListUnavailable):
        rules.check_recipient_domain("x@contoso.com", optin)


def test_optin_list_explicitly_empty_is_loaded(tmp_path):
    path = tmp_path / "optin"
    path.write_text("# nobody yet\n# v6gate-optin end: 0 domain(s)\n")
    optin = OptInList(str(path))
    assert optin.loaded and len(optin) == 0
    assert rules.check_recipient_domain("x@contoso.com", optin).status == "5.2.1"
