# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules for anonymous inbound mail over IPv6, as Exchange Online applies them.

This module is the single home of the gate's decisions and of its reply texts. It is used in two places:

* inside Ansible modules (shipped by AnsiballZ), where the pre-deployment audit predicts which reply a
  sender would get, and
* on the mail exchanger itself, where the ``v6gate-milter`` daemon imports it to decide live SMTP
  transactions.

It therefore depends on the Python standard library only and performs no network I/O: callers do the
DNS lookups, SPF and DKIM evaluation and hand the outcomes in.

Order of the rules (see docs/gate.md for the reasoning):

1. ``check_recipient_domain``  at RCPT, per recipient: IPv6 must be enabled for the domain (550 5.2.1).
2. ``check_reverse_dns``       at RCPT: the client address must have a PTR record (450 4.7.25), or a
                               forward-confirmed one under the ``fcrdns`` policy; DNS trouble is 451 4.4.3.
3. ``check_authentication``    at end of data: SPF pass or any DKIM pass (450 4.7.26).

Per recipient domain, the domains file (``parse_optin_file``) gives a state: ``enforce`` (rules 2 and 3
answer), ``monitor`` (they are evaluated and logged, the message is accepted) or ``off`` (IPv6 disabled:
rule 1 answers 5.2.1). Its model says what an unlisted domain is: ``off`` under ``opt-in`` (Exchange
Online's 2021 model, the default), ``enforce`` under ``opt-out`` (its model since October 2024).
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ansible_collections.v6gate.mx.plugins.module_utils.addresses import parse_address

__all__ = [
    "DOMAIN_STATES",
    "MODELS",
    "MODEL_OPT_IN",
    "MODEL_OPT_OUT",
    "OPTIN_TRAILER_MARKER",
    "PTR_POLICIES",
    "PTR_POLICY_EXISTS",
    "PTR_POLICY_FCRDNS",
    "RULE_AUTHENTICATION",
    "RULE_DNS_TEMPORARY",
    "RULE_GATE_ERROR",
    "RULE_OPT_IN",
    "RULE_REVERSE_DNS",
    "STATE_ENFORCE",
    "STATE_MONITOR",
    "STATE_OFF",
    "DomainsFile",
    "MessageVerdict",
    "OptInList",
    "OptInListUnavailable",
    "OptInTrailerError",
    "PtrStatus",
    "RecipientVerdict",
    "Reply",
    "check_authentication",
    "check_recipient_domain",
    "check_reverse_dns",
    "classify_ptr",
    "disabled_domain_reply",
    "evaluate_message",
    "gate_error_reply",
    "is_optin_trailer_line",
    "is_subject_to_gate",
    "normalize_domain",
    "normalize_ipv6",
    "parse_optin_file",
    "parse_optin_text",
    "parse_optin_trailer",
    "recipient_domain",
    "render_optin_trailer",
]

log = logging.getLogger(__name__)

# Rule names, used in replies and in the one-line-per-decision log.
RULE_OPT_IN = "opt-in"
RULE_REVERSE_DNS = "reverse-dns"
RULE_AUTHENTICATION = "spf-dkim"
RULE_DNS_TEMPORARY = "dns-temporary"
RULE_GATE_ERROR = "gate-error"

# The reply texts. Only the bracketed address or domain varies. The first three are Exchange Online's
# published texts, word for word; the last two are ours for conditions Exchange does not document.
_TEXT_NOT_OPTED_IN = "Service unavailable, [{domain}] does not accept email over IPv6."
_TEXT_NO_REVERSE_DNS = "Service unavailable, sending IPv6 address [{address}] must have reverse DNS record."
_TEXT_NOT_AUTHENTICATED = (
    "Service unavailable, message sent over IPv6 [{address}] must pass either SPF or DKIM validation."
)
_TEXT_DNS_TEMPORARY = (
    "Service unavailable, reverse DNS lookup for IPv6 address [{address}] failed temporarily, "
    "try again later."
)
_TEXT_GATE_ERROR = "Service unavailable, IPv6 gate could not check this message, try again later."

# Per-domain states and the two models (what an unlisted domain is).
STATE_ENFORCE = "enforce"
STATE_MONITOR = "monitor"
STATE_OFF = "off"
DOMAIN_STATES = (STATE_ENFORCE, STATE_MONITOR, STATE_OFF)
MODEL_OPT_IN = "opt-in"
MODEL_OPT_OUT = "opt-out"
MODELS = (MODEL_OPT_IN, MODEL_OPT_OUT)
_UNLISTED_STATE = {MODEL_OPT_IN: STATE_OFF, MODEL_OPT_OUT: STATE_ENFORCE}

PTR_POLICY_EXISTS = "exists"
PTR_POLICY_FCRDNS = "fcrdns"
PTR_POLICIES = (PTR_POLICY_EXISTS, PTR_POLICY_FCRDNS)


class PtrStatus(enum.Enum):
    """Outcome of the reverse DNS lookups for a client address."""

    PASS = "pass"  # a PTR exists and (when looked up) one of its names resolves back to the address
    MISSING = "missing"  # no PTR record (NXDOMAIN or no data)
    MISMATCH = "mismatch"  # PTR exists but none of its names resolves back to the address
    TEMPERROR = "temperror"  # a lookup failed temporarily (SERVFAIL, timeout); the answer is unknown


@dataclass(frozen=True)
class Reply:
    """An SMTP reply: ``str(reply)`` is the exact line a client sees, e.g. ``450 4.7.25 Service ...``."""

    code: int
    status: str
    text: str
    rule: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.code} {self.status} {self.text}"

    @property
    def is_permanent(self) -> bool:
        return 500 <= self.code < 600

    @property
    def is_temporary(self) -> bool:
        return 400 <= self.code < 500

    def milter_reply(self) -> tuple[str, str, str]:
        """Arguments for pymilter's ``setreply(rcode, xcode, msg)``.

        libmilter treats a lone ``%`` as a format character and then drops the whole text, so it is doubled.
        """
        return str(self.code), self.status, self.text.replace("%", "%%")


def _reply(code: int, status: str, template: str, rule: str, **values: str) -> Reply:
    return Reply(code, status, template.format(**values), rule)


def gate_error_reply() -> Reply:
    """Temporary reply used when the gate itself cannot decide (bug, timeout, missing opt-in list)."""
    return _reply(451, "4.3.0", _TEXT_GATE_ERROR, RULE_GATE_ERROR)


# --------------------------------------------------------------------------------------------- addresses


def normalize_ipv6(address: str) -> str | None:
    """Return the compressed IPv6 form shown in replies (``2a01:111:f200:2004::240``).

    Returns None for IPv4 and for IPv4-mapped IPv6 (``::ffff:192.0.2.1``): that is an IPv4 client on a
    dual-stack socket, and IPv4 mail never meets these rules. Raises ValueError for anything else.
    """
    ip = parse_address(address)
    if isinstance(ip, ipaddress.IPv4Address) or ip.ipv4_mapped is not None:
        return None
    return ip.compressed


def _networks(trusted_networks: Iterable[str | ipaddress.IPv4Network | ipaddress.IPv6Network]):
    for network in trusted_networks:
        if isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network):
            yield network
        else:
            text = str(network).strip()
            if text.startswith("[") and "]" in text:  # Postfix style [2001:db8::]/32
                text = text[1:].replace("]", "", 1)
            yield ipaddress.ip_network(text, strict=False)


def is_subject_to_gate(client_address: str, authenticated: bool, trusted_networks: Iterable = ()) -> bool:
    """True when the client is anonymous, connects over IPv6 and is outside every trusted network.

    ``trusted_networks`` holds CIDR strings or ip_network objects (mynetworks and trusted partners).
    Raises ValueError for a client address that is not an IP address, so a caller fails closed.
    """
    address = normalize_ipv6(client_address)
    if address is None or authenticated:
        return False
    ip = ipaddress.IPv6Address(address)
    return not any(ip in network for network in _networks(trusted_networks) if network.version == 6)


# ---------------------------------------------------------------------------------------------- domains


def normalize_domain(domain: str) -> str:
    """Comparison key for a domain: lower case, no trailing dot, IDNA A-labels (``xn--``).

    Both ``Bücher.Example`` and ``xn--bcher-kva.example`` give ``xn--bcher-kva.example``. A name that IDNA
    cannot encode keeps its case-folded form, so it still compares equal to itself but to no valid domain.
    """
    text = domain.strip().rstrip(".")
    try:
        return text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return text.casefold()


def _display_domain(domain: str, keep_case: bool = False) -> str:
    """How a domain appears in a reply: ASCII only (SMTP replies are ASCII), without control characters."""
    text = domain.strip().rstrip(".")
    if not text.isascii():
        text = normalize_domain(text)
    shown = text if keep_case else text.lower()
    return "".join(ch for ch in shown if ch.isascii() and ch.isprintable()) or "unknown"


def _recipient_domain(recipient: str) -> str:
    """Domain part of ``user@example.com`` / ``<user@example.com>``; a bare domain is returned as is."""
    text = recipient.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    return text.rpartition("@")[2]


def recipient_domain(recipient: str) -> str:
    """Domain part of ``user@example.com`` / ``<user@example.com>``; a bare domain is returned as is."""
    return _recipient_domain(recipient)


def check_recipient_domain(domain: str, opted_in_domains, known_domains: Iterable[str] = ()) -> Reply | None:
    """Rule 1: None if IPv6 is enabled for the recipient domain, else 550 5.2.1.

    ``domain`` may be a bare domain or a whole address. ``opted_in_domains`` is an OptInList (its state for
    the domain decides: anything but ``off`` is enabled) or any iterable of enabled domains as the admin
    wrote them. Matching is case-insensitive and IDNA-aware.
    """
    key = normalize_domain(_recipient_domain(domain))
    if isinstance(opted_in_domains, OptInList):
        if opted_in_domains.state_of(key) != STATE_OFF:
            return None
    elif key in {normalize_domain(d) for d in opted_in_domains}:
        return None
    return disabled_domain_reply(domain, known_domains)


def disabled_domain_reply(domain: str, known_domains: Iterable[str] = ()) -> Reply:
    """The 550 5.2.1 for a recipient (address or domain) whose domain has IPv6 off.

    The reply names the domain as the admin configured it in ``known_domains`` (e.g. the domains the MX
    serves) when it is there, otherwise in lower case; never in the client's spelling.
    """
    domain = _recipient_domain(domain)
    key = normalize_domain(domain)
    configured = next((d for d in known_domains if normalize_domain(d) == key), None)
    shown = _display_domain(configured, keep_case=True) if configured else _display_domain(domain)
    return _reply(550, "5.2.1", _TEXT_NOT_OPTED_IN, RULE_OPT_IN, domain=shown)


# ------------------------------------------------------------------------------------------ reverse DNS


def classify_ptr(
    address: str,
    ptr_names: Iterable[str] | None,
    forward_addresses: Mapping[str, Iterable[str] | None] | None = None,
) -> PtrStatus:
    """Turn raw lookup results into a PtrStatus.

    ``ptr_names``: the PTR targets, an empty iterable for NXDOMAIN/no data, None for a temporary failure.
    ``forward_addresses``: for each PTR name, the AAAA addresses it resolves to (empty for none, None for a
    temporary failure); omit it when only existence matters (policy ``exists``).
    """
    if ptr_names is None:
        return PtrStatus.TEMPERROR
    names = [name.rstrip(".").lower() for name in ptr_names]
    if not names:
        return PtrStatus.MISSING
    if forward_addresses is None:
        return PtrStatus.PASS
    client = ipaddress.ip_address(normalize_ipv6(address) or parse_address(address).compressed)
    forward = {name.rstrip(".").lower(): value for name, value in forward_addresses.items()}
    unknown = False
    for name in names:
        resolved = forward.get(name)
        if resolved is None:
            unknown = True
            continue
        for candidate in resolved:
            try:
                if parse_address(candidate) == client:
                    return PtrStatus.PASS
            except ValueError:
                continue
    return PtrStatus.TEMPERROR if unknown else PtrStatus.MISMATCH


def check_reverse_dns(address: str, ptr_status: PtrStatus, policy: str = PTR_POLICY_EXISTS) -> Reply | None:
    """Rule 2: None if the reverse DNS of ``address`` satisfies ``policy``, else the reply to give.

    ``exists`` (Exchange Online's wording) accepts any PTR record, also one that does not resolve back;
    ``fcrdns`` (what Gmail asks for) also rejects MISMATCH. TEMPERROR gives 451 4.4.3, never 4.7.25:
    a DNS outage must not look like a sender's misconfiguration.
    """
    if policy not in PTR_POLICIES:
        raise ValueError(f"unknown PTR policy {policy!r}; expected one of {', '.join(PTR_POLICIES)}")
    shown = normalize_ipv6(address) or parse_address(address).compressed
    if ptr_status is PtrStatus.PASS:
        return None
    if ptr_status is PtrStatus.TEMPERROR:
        return _reply(451, "4.4.3", _TEXT_DNS_TEMPORARY, RULE_DNS_TEMPORARY, address=shown)
    if ptr_status is PtrStatus.MISMATCH and policy == PTR_POLICY_EXISTS:
        return None
    if ptr_status in (PtrStatus.MISSING, PtrStatus.MISMATCH):
        return _reply(450, "4.7.25", _TEXT_NO_REVERSE_DNS, RULE_REVERSE_DNS, address=shown)
    raise ValueError(f"not a PtrStatus: {ptr_status!r}")


# --------------------------------------------------------------------------------------- SPF and DKIM


def check_authentication(address: str, spf_pass: bool, dkim_pass: bool) -> Reply | None:
    """Rule 3: None if SPF passed or at least one DKIM signature verified, else 450 4.7.26."""
    if spf_pass or dkim_pass:
        return None
    shown = normalize_ipv6(address) or parse_address(address).compressed
    return _reply(450, "4.7.26", _TEXT_NOT_AUTHENTICATED, RULE_AUTHENTICATION, address=shown)


# ------------------------------------------------------------------------------------- whole message


@dataclass(frozen=True)
class RecipientVerdict:
    recipient: str
    reply: Reply | None  # None: accepted

    @property
    def accepted(self) -> bool:
        return self.reply is None


@dataclass(frozen=True)
class MessageVerdict:
    """What a client would see: one verdict per recipient; ``data_reply`` answers the end of data."""

    subject_to_gate: bool
    recipients: tuple[RecipientVerdict, ...]
    data_reply: Reply | None

    @property
    def delivered_to(self) -> tuple[str, ...]:
        if self.data_reply is not None:
            return ()
        return tuple(v.recipient for v in self.recipients if v.accepted)


def evaluate_message(
    client_address: str,
    recipients: Iterable[str],
    opted_in_domains,
    ptr_status: PtrStatus,
    spf_pass: bool,
    dkim_pass: bool,
    *,
    ptr_policy: str = PTR_POLICY_EXISTS,
    authenticated: bool = False,
    trusted_networks: Iterable = (),
    known_domains: Iterable[str] = (),
) -> MessageVerdict:
    """Predict the gate's answers for a whole transaction, in the order the milter applies them.

    Per recipient: opt-in first, then reverse DNS. At end of data (reached only if at least one recipient
    was accepted): SPF or DKIM. Clients outside the gate get no reply from it at all.
    """
    recipients = tuple(recipients)
    known_domains = tuple(known_domains)
    if not is_subject_to_gate(client_address, authenticated, trusted_networks):
        verdicts = tuple(RecipientVerdict(r, None) for r in recipients)
        return MessageVerdict(False, verdicts, None)
    verdicts = tuple(
        RecipientVerdict(
            recipient,
            check_recipient_domain(recipient, opted_in_domains, known_domains)
            or check_reverse_dns(client_address, ptr_status, ptr_policy),
        )
        for recipient in recipients
    )
    data_reply = None
    if any(v.accepted for v in verdicts):
        data_reply = check_authentication(client_address, spf_pass, dkim_pass)
    return MessageVerdict(True, verdicts, data_reply)


# ------------------------------------------------------------------------------------------ opt-in list


class OptInListUnavailable(RuntimeError):
    """No opt-in list has ever been read: the gate cannot tell 5.2.1 from acceptance and must tempfail."""


class OptInTrailerError(ValueError):
    """Every domain line of an opt-in text is fine, but its trailer is missing, wrong or not the last line.

    The text is then incomplete (cut off while being written) or was not written by v6gate's own writers
    (the ipv6_gate role's template, the ipv6_optin module).
    """


# The trailer, the last line of every opt-in file v6gate writes: "# v6gate-optin end: 3 domain(s)". It is
# a comment to any other reader (and to gates before the trailer existed). Defined here only: the role's
# template (ipv6-optin-domains.j2) spells the same line, and a test renders it through Ansible.
OPTIN_TRAILER_MARKER = "# v6gate-optin end:"
_OPTIN_TRAILER_UNIT = " domain(s)"
_OPTIN_TRAILER_EXAMPLE = f"{OPTIN_TRAILER_MARKER} 3{_OPTIN_TRAILER_UNIT}"


def render_optin_trailer(count: int) -> str:
    """The trailer line for a file with ``count`` domain lines, without the line break."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"trailer count must be a whole number >= 0, got {count!r}")
    return f"{OPTIN_TRAILER_MARKER} {count}{_OPTIN_TRAILER_UNIT}"


def is_optin_trailer_line(line: str) -> bool:
    """Whether ``line`` claims to be a trailer (valid or not): it starts with the trailer's marker."""
    return line.strip().startswith(OPTIN_TRAILER_MARKER.rstrip(":"))


def parse_optin_trailer(line: str) -> int:
    """The domain count of a valid trailer line. Raises ValueError for anything else.

    Exactly ``render_optin_trailer``'s form; surrounding white space and the line break are ignored.
    """
    text = line.strip()
    prefix = OPTIN_TRAILER_MARKER + " "
    if text.startswith(prefix) and text.endswith(_OPTIN_TRAILER_UNIT):
        count = text[len(prefix) : len(text) - len(_OPTIN_TRAILER_UNIT)]
        if count.isascii() and count.isdigit() and len(count) <= 9 and (count == "0" or count[0] != "0"):
            return int(count)
    raise ValueError(f"not a valid trailer line: {text!r} (expected e.g. {_OPTIN_TRAILER_EXAMPLE!r})")


@dataclass(frozen=True)
class DomainsFile:
    """A parsed domains file: the model, and the listed domains with their spelling and state."""

    model: str = MODEL_OPT_IN
    domains: dict = field(default_factory=dict)  # {comparison key: domain as written}
    states: dict = field(default_factory=dict)  # {comparison key: state}

    def state_of(self, key: str) -> str:
        """The state of a domain given by its comparison key (``normalize_domain``)."""
        return self.states.get(key, _UNLISTED_STATE[self.model])


_MODEL_KEYWORD = "model"


def _parse_optin_line(raw: str, number: int):
    """One line: None (comment, blank), ("model", model) or ("domain", key, written, state)."""
    line = raw.split("#", 1)[0].strip()
    if not line:
        return None
    words = line.split()
    if words[0] == _MODEL_KEYWORD:
        if len(words) != 2 or words[1] not in MODELS:
            raise ValueError(f"line {number}: expected 'model {MODELS[0]}' or 'model {MODELS[1]}': {line!r}")
        return (_MODEL_KEYWORD, words[1])
    if len(words) > 2 or "@" in words[0] or words[0].startswith("."):
        raise ValueError(f"line {number}: not a single domain name: {line!r}")
    state = words[1] if len(words) == 2 else STATE_ENFORCE
    if state not in DOMAIN_STATES:
        raise ValueError(f"line {number}: not a single domain name: {line!r} ({state!r} is not a state; "
                         f"a domain may be followed by one of {', '.join(DOMAIN_STATES)})")
    written = words[0].rstrip(".")
    try:
        key = written.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError(f"line {number}: not a valid domain name: {line!r} ({exc})") from None
    if "." not in key.strip("."):
        raise ValueError(f"line {number}: not a fully qualified domain name: {line!r}")
    return ("domain", key, written, state)


def parse_optin_text(text: str, require_trailer: bool = True) -> dict[str, str]:
    """The listed domains of a domains file, {comparison key: domain as written}: see parse_optin_file."""
    return parse_optin_file(text, require_trailer).domains


def parse_optin_file(text: str, require_trailer: bool = True) -> DomainsFile:
    """Parse the domains file (the opt-in file): one domain per line, optionally followed by its state
    (``enforce``, the default, ``monitor`` or ``off``); at most one ``model opt-in|opt-out`` line
    (``opt-in`` without one); ``#`` starts a comment, blank lines are ignored; and as the last line the
    trailer ``# v6gate-optin end: N domain(s)``, N the number of domain lines (a domain listed twice
    counts twice). Blank lines may follow the trailer; nothing else may.

    Raises ValueError naming the line for anything that is not a plausible domain or state, so a typo never
    silently drops (and permanently 5xx-rejects) a domain; for a domain listed with two states; and for
    ``off`` under the opt-in model, where every unlisted domain is off already. OptInTrailerError (a
    ValueError) when the trailer is missing, malformed, not last or counts another number of domains: a
    file cut short anywhere (the writer's rename not used, a full disk) is refused instead of read as a
    shorter, or empty, list.

    ``require_trailer=False`` skips the trailer checks (trailer lines are then plain comments): for one
    line, or for a file whose domains are to be kept while its trailer is repaired. The gate never does.
    """
    domains: dict[str, str] = {}
    states: dict[str, str] = {}
    model: tuple[int, str] | None = None  # (line number, model)
    domain_lines = 0
    trailer: tuple[int, int] | None = None  # (line number, count)
    line_error: str | None = None  # the first bad line; the rest is only searched for a trailer
    trailer_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        if line_error is not None:
            trailer_seen = trailer_seen or is_optin_trailer_line(raw)
            continue
        if require_trailer and trailer is not None:
            if raw.strip():
                raise OptInTrailerError(
                    f"line {number}: text after the trailer (line {trailer[0]}): {raw.strip()!r}; "
                    "the trailer must be the last line"
                )
            continue
        if require_trailer and is_optin_trailer_line(raw):
            try:
                trailer = (number, parse_optin_trailer(raw))
            except ValueError as exc:
                raise OptInTrailerError(f"line {number}: {exc}") from None
            continue
        try:
            parsed = _parse_optin_line(raw, number)
            if parsed is not None and parsed[0] == _MODEL_KEYWORD:
                if model is not None:
                    raise ValueError(f"line {number}: a second model line (the first is line {model[0]})")
                model = (number, parsed[1])
            elif parsed is not None:
                key, written, state = parsed[1:]
                if states.setdefault(key, state) != state:
                    raise ValueError(f"line {number}: {written!r} is listed with two states, "
                                     f"{states[key]} and {state}")
                domain_lines += 1
                domains.setdefault(key, written)
        except ValueError as exc:
            if not require_trailer:
                raise
            line_error = str(exc)
    if line_error is not None:
        if not trailer_seen:  # likely cut off inside this (last) line: say so
            line_error += ("; and no trailer: the file is incomplete (cut off while being written?) or was "
                           "not written by v6gate")
        raise ValueError(line_error)
    parsed_file = DomainsFile(model[1] if model else MODEL_OPT_IN, domains, states)
    if parsed_file.model == MODEL_OPT_IN:
        off = [domains[key] for key, state in states.items() if state == STATE_OFF]
        if off:
            raise ValueError(f"{', '.join(off)}: 'off' under the opt-in model, where every unlisted domain "
                             "is off already; remove the line, or add 'model opt-out'")
    if not require_trailer:
        return parsed_file
    if trailer is None:
        raise OptInTrailerError(
            f"no trailer: the last line must be {_OPTIN_TRAILER_EXAMPLE!r} (with the number of domain "
            "lines); the file is incomplete (cut off while being written?) or was not written by v6gate"
        )
    if trailer[1] != domain_lines:
        raise OptInTrailerError(
            f"line {trailer[0]}: the trailer says {trailer[1]} domain(s) but the file has {domain_lines} "
            "domain line(s); lines are missing (file cut off or damaged?) or were added or removed by hand"
        )
    return parsed_file


class OptInList:
    """The domains file, re-read when it changes (mtime, inode or size), safe across threads.

    If the file later becomes unreadable or invalid, the last good list stays in force and the problem is
    logged once; nothing is accepted or 5xx-rejected on the basis of a half-written file. A file cut short
    anywhere, even to 0 bytes, is invalid: its trailer (``parse_optin_text``) is missing or counts more
    domains than are left. If no good list has ever been read, lookups raise OptInListUnavailable.
    """

    def __init__(self, path: str, logger: logging.Logger | None = None) -> None:
        self.path = path
        self._log = logger or log
        self._lock = threading.Lock()
        self._file: DomainsFile | None = None
        self._signature: tuple | None = None
        self._failed_signature: object = None
        self.refresh()

    def _stat_signature(self) -> tuple:
        st = os.stat(self.path)
        return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    def refresh(self) -> bool:
        """Re-read the file if it changed. Returns True when a new list was loaded."""
        with self._lock:
            try:
                signature = self._stat_signature()
            except OSError as exc:
                self._failed(("stat", exc.errno), f"cannot stat {self.path}: {exc.strerror}")
                return False
            if signature == self._signature:
                return False
            try:
                with open(self.path, encoding="utf-8") as handle:
                    parsed = parse_optin_file(handle.read())
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                self._failed(signature, f"cannot use {self.path}: {exc}")
                return False
            self._file = parsed
            self._signature = signature
            self._failed_signature = None
            counts = {state: sum(1 for s in parsed.states.values() if s == state) for state in DOMAIN_STATES}
            self._log.info(
                "opt-in list %s loaded: %d domain(s), model %s (%s)", self.path, len(parsed.domains),
                parsed.model, " ".join(f"{state}={count}" for state, count in counts.items()),
            )
            return True

    def _failed(self, key: object, message: str) -> None:
        if key != self._failed_signature:
            self._failed_signature = key
            kept = (
                "none loaded yet"
                if self._file is None
                else f"keeping last good list ({len(self._file.domains)})"
            )
            self._log.error("opt-in list problem: %s; %s", message, kept)

    @property
    def loaded(self) -> bool:
        return self._file is not None

    def current(self) -> DomainsFile:
        """The list in force (re-read first if the file changed). Raises OptInListUnavailable."""
        self.refresh()
        parsed = self._file
        if parsed is None:
            raise OptInListUnavailable(f"no usable opt-in list at {self.path}")
        return parsed

    def state_of(self, recipient: str) -> str:
        """The state (enforce, monitor, off) of a recipient's domain; a bare domain works too."""
        return self.current().state_of(normalize_domain(_recipient_domain(recipient)))

    def contains(self, domain: str) -> bool:
        """Whether IPv6 is enabled (any state but off) for the domain."""
        return self.state_of(domain) != STATE_OFF

    __contains__ = contains

    @property
    def model(self) -> str:
        return self.current().model

    def domains(self) -> tuple[str, ...]:
        """The listed domains as the admin wrote them (under opt-out, also the ones turned off)."""
        return tuple(self.current().domains.values())

    def __iter__(self):
        return iter(self.domains())

    def __len__(self) -> int:
        return len(self.current().domains)
