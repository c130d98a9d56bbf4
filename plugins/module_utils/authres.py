# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RFC 8601 Authentication-Results: the one reader and the one writer, for the gate and the modules.

Reading is for reports only. The gate never takes a result from a header: it decides from its own
lookups and signature checks, and uses ``claims_authserv_id`` only to remove every header that could be
read as ours (RFC 8601 section 5) before the message goes on.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from email.header import decode_header


class AuthResParseError(ValueError):
    pass


@dataclass(frozen=True)
class MethodResult:
    method: str  # e.g. "dkim", lower case
    result: str  # e.g. "pass", lower case
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AuthResults:
    authserv_id: str  # lower case
    results: tuple[MethodResult, ...]

    def methods(self) -> set[str]:
        return {r.method for r in self.results}


def strip_comments(value: str) -> str:
    """Remove RFC 5322 comments (nested, with quoted-pairs), keeping quoted strings intact.

    Raises AuthResParseError for an unterminated comment or quoted string: such a header is never trusted.
    """
    out: list[str] = []
    depth = 0
    quoted = False
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and (depth or quoted):
            if i + 1 >= len(value):
                raise AuthResParseError("dangling backslash")
            if quoted:
                out.append(value[i : i + 2])
            i += 2
            continue
        if quoted:
            out.append(ch)
            quoted = ch != '"'
        elif depth:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0:
                out.append(" ")
        elif ch == "(":
            depth = 1
        elif ch == '"':
            quoted = True
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    if depth or quoted:
        raise AuthResParseError("unterminated comment or quoted string")
    return "".join(out)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def authserv_id_of(value: str) -> str | None:
    """The authserv-id an Authentication-Results value claims, lower case; None if there is none."""
    try:
        head = _split_outside_quotes(strip_comments(value), ";")[0].split()
    except AuthResParseError:
        # fall back to the raw first token so a malformed header claiming our id is still recognised
        head = value.split(";", 1)[0].split("(", 1)[0].split()
    return head[0].strip('"').lower() if head else None


_NOT_ID_TEXT = re.compile(r'[\s"\\]')


def _strip_comments_leniently(value: str) -> str:
    """Comments removed as a forgiving reader would: an unterminated one runs to the end of the value."""
    out: list[str] = []
    depth = 0
    escaped = False
    for ch in value:
        if escaped:
            escaped = False
            if not depth:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            continue
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if not depth:
                out.append(" ")
        elif not depth:
            out.append(ch)
    return "".join(out)


def claims_authserv_id(value: str, authserv_id: str) -> bool:
    """Whether any reader, strict or lenient, could take this header value as written by ``authserv_id``.

    Deliberately broader than the grammar: the id is looked for anywhere in the value, once with comments
    removed (so ``mx (x).example`` style splits are joined up) and once as written, each time with quotes,
    backslashes (quoted-pairs) and white space squeezed out and case folded. A header that merely mentions
    our name is removed too, which RFC 8601 section 5 allows; one that claims it is never kept.
    """
    wanted = _squeeze(authserv_id)
    if not wanted:
        return False
    readings = [value, _decoded_words(value)]
    for text in readings:
        for variant in (_strip_comments_leniently(text), text.replace("(", "").replace(")", "")):
            if wanted in _squeeze(variant):
                return True
    return False


def _squeeze(text: str) -> str:
    return _NOT_ID_TEXT.sub("", unicodedata.normalize("NFKC", text)).casefold()


def _decoded_words(value: str) -> str:
    """The value with RFC 2047 encoded-words decoded, as a lax mail reader might show it."""
    try:
        parts = decode_header(value)
    except Exception:  # a malformed encoded-word: the undecoded readings still apply
        return value
    text = []
    for part, charset in parts:
        if isinstance(part, bytes):
            try:
                part = part.decode(charset or "latin-1", "replace")
            except LookupError:  # an unknown charset name
                part = part.decode("latin-1")
        text.append(part)
    return "".join(text)


def parse_authentication_results(value: str) -> AuthResults:
    """Parse an Authentication-Results header value (unfolded). Raises AuthResParseError."""
    parts = [p.strip() for p in _split_outside_quotes(strip_comments(value), ";")]
    head = parts[0].split()
    if not head or len(head) > 2 or (len(head) == 2 and not head[1].isdigit()):
        raise AuthResParseError(f"bad authserv-id part {parts[0]!r}")
    authserv_id = head[0].strip('"').lower()
    rest = [p for p in parts[1:] if p]
    if rest == ["none"] or not rest:
        return AuthResults(authserv_id, ())
    results = []
    for part in rest:
        tokens = part.split()
        method, sep, result = tokens[0].partition("=")
        if not sep or not method or not result:
            raise AuthResParseError(f"bad resinfo {part!r}")
        method = method.split("/", 1)[0].lower()
        properties = []
        for token in tokens[1:]:
            name, sep, prop_value = token.partition("=")
            if not sep:
                if name.lower() == "reason" or name.startswith('"'):
                    continue  # ``reason="..."`` may be split by spaces inside the quotes
                continue
            properties.append((name.lower(), prop_value))
        results.append(MethodResult(method, result.lower(), tuple(properties)))
    return AuthResults(authserv_id, tuple(results))


def _safe_value(text: str) -> str:
    """A property value we write: printable ASCII, no characters that would change the header's syntax."""
    cleaned = "".join(ch for ch in text if ch.isascii() and ch.isprintable() and ch not in ' ;()"\\')
    return cleaned or "unknown"


def format_authentication_results(authserv_id: str, results: list[tuple]) -> str:
    """Our header value: ``id; method=result prop=value (comment); ...``."""
    parts = [authserv_id]
    for method, result, properties, comment in results:
        text = f"{method}={result}"
        for name, value in properties:
            text += f" {name}={_safe_value(value)}"
        if comment:
            safe = "".join(ch for ch in comment if ch.isascii() and ch.isprintable() and ch not in "();\\")
            text += f" ({safe})"
        parts.append(text)
    return "; ".join(parts)
