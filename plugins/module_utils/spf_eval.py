# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SPF (RFC 7208) for the gate and the audit: pyspf's check_host() over the one DNS client.

``evaluate_spf`` is what the gate runs for a live message and what the audit's prediction runs, with the
same identity rules, the same lookups and the same deadline handling. ``check_spf`` adds what only an
audit wants: the static lookup count of the whole include tree, the dual-stack void count and warnings.
"""

from __future__ import annotations

import re
import threading
import traceback
from dataclasses import dataclass

from ansible_collections.v6gate.mx.plugins.module_utils.addresses import parse_address
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import Deadline, DnsClient, DnsResult

try:
    import spf

    HAS_PYSPF = True
    PYSPF_IMPORT_ERROR = None
except ImportError:
    HAS_PYSPF = False
    PYSPF_IMPORT_ERROR = traceback.format_exc()

SPF_LOOKUP_LIMIT = 10
SPF_VOID_LIMIT = 2
_SPF_VERSION = re.compile(r"^v=spf1(\s|$)", re.IGNORECASE)
_DNS_MECHANISMS = ("include", "a", "mx", "ptr", "exists")

# pyspf looks DNS up through its module-level DNSLookup. It is replaced once by a dispatcher that uses
# the DnsClient and Deadline of the SPF evaluation running on this thread (set by _SpfQuery.dns), so SPF
# shares the caller's cache, nameservers and time limits; with no evaluation active, pyspf behaves as
# shipped.
_pyspf_thread = threading.local()


def _pyspf_lookup(name, qtype, strict=True, timeout=None):
    evaluation = getattr(_pyspf_thread, "evaluation", None)
    if evaluation is None:
        return _PYSPF_ORIGINAL_LOOKUP(name, qtype, strict, timeout)
    client, deadline = evaluation
    result = client.resolve(name, qtype, deadline)
    if result.is_temporary:
        raise spf.TempError(f"DNS {result.outcome.upper()} for {name} {qtype}")
    key = (name, qtype)
    if qtype in ("TXT", "SPF"):
        return [(key, strings) for strings in result.txt_strings]
    return [(key, record) for record in result.records]


if HAS_PYSPF:
    _PYSPF_ORIGINAL_LOOKUP = getattr(spf, "_v6gate_original_lookup", spf.DNSLookup)
    spf._v6gate_original_lookup = _PYSPF_ORIGINAL_LOOKUP
    spf.DNSLookup = _pyspf_lookup

    class _SpfQuery(spf.query):
        """pyspf's evaluation with our DNS and an optional dual-stack void count.

        RFC 7208 counts a lookup as void when it returns no records. For an IPv6 sender, ``a:host`` asks for
        AAAA; if host only has an A record, pyspf counts that as void although the name is perfectly alive
        (it serves IPv4 senders). In ``dual_stack`` mode such an empty AAAA is not counted.
        """

        def __init__(self, *args, client: DnsClient, deadline: Deadline | None, dual_stack: bool = False,
                     **kwargs):
            super().__init__(*args, **kwargs)
            self._client = client
            self._deadline = deadline
            self._dual_stack = dual_stack
            self.dual_stack_exempted = 0

        def dns(self, name, qtype, cnames=None, ignore_void=False):
            previous = getattr(_pyspf_thread, "evaluation", None)
            _pyspf_thread.evaluation = (self._client, self._deadline)
            try:
                result = super().dns(name, qtype, cnames=cnames, ignore_void=True)
            finally:
                _pyspf_thread.evaluation = previous
            if not result and not ignore_void:
                if self._dual_stack and qtype == "AAAA"\
                        and self._client.resolve(name, "A", self._deadline).records:
                    self.dual_stack_exempted += 1
                    return result
                self.void_lookups += 1
                if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                    raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
            return result


@dataclass(frozen=True)
class SpfIdentity:
    identity: str  # "mailfrom" or "helo"
    sender: str  # what check_host() is given as <sender>
    domain: str  # the domain checked, lower case, "" when there is none
    helo: str


def spf_identity(mail_from: str | None, helo: str | None) -> SpfIdentity:
    """RFC 7208 section 2.4: the MAIL FROM identity, or for the null sender the HELO identity
    (``postmaster@<helo>``). ``<a@b>`` and ``a@b`` are the same sender."""
    helo = (helo or "").strip().rstrip(".")
    sender = (mail_from or "").strip()
    if sender.startswith("<") and sender.endswith(">"):
        sender = sender[1:-1].strip()
    if sender:
        return SpfIdentity("mailfrom", sender, sender.rpartition("@")[2].lower().rstrip("."), helo)
    return SpfIdentity("helo", f"postmaster@{helo}" if helo else "", helo.lower(), helo)


def domain_problem(domain: str) -> str | None:
    """What makes ``domain`` malformed for check_host() (RFC 7208 section 4.3), or None.

    Only structure is judged (labels, length, literals, white space), not the characters of a label, so an
    internationalised name still reaches DNS as the sender wrote it.
    """
    if domain.startswith("["):
        return "is an address literal"
    if any(ch.isspace() or not ch.isprintable() for ch in domain):
        return "holds white space or control characters"
    labels = domain.rstrip(".").split(".")
    if len(labels) < 2:
        return "is not a fully qualified domain name"
    if any(not label for label in labels):
        return "has an empty label"
    if any(len(label.encode("utf-8")) > 63 for label in labels) or len(domain.encode("utf-8")) > 253:
        return "has a label over 63 octets or is over 253 octets long"
    return None


@dataclass(frozen=True)
class SpfEvaluation:
    result: str  # pass, fail, softfail, neutral, none, temperror, permerror
    identity: str
    domain: str
    explanation: str = ""
    lookups: int = 0
    void_lookups: int = 0
    dual_stack_exempted: int = 0


def evaluate_spf(client: DnsClient, address: str, mail_from: str | None, helo: str | None,
                 deadline: Deadline | None = None, dual_stack: bool = False) -> SpfEvaluation:
    """check_host() for one client address; every lookup within the client's lifetime and ``deadline``.

    A sender with no domain (``a@``, or the null sender without HELO), or with a malformed one
    (``domain_problem``), is ``none`` without any lookup, as RFC 7208 section 4.3 says.
    """
    who = spf_identity(mail_from, helo)
    if not who.domain:
        return SpfEvaluation("none", who.identity, "", "no domain to check")
    problem = domain_problem(who.domain)
    if problem:  # a sender-shaped name that cannot be a domain is never looked up
        return SpfEvaluation("none", who.identity, who.domain, f"the domain {problem}")
    if deadline is not None and deadline.remaining() <= 0:
        return SpfEvaluation("temperror", who.identity, who.domain, "decision deadline reached")
    query = _SpfQuery(i=address, s=who.sender, h=who.helo or who.domain, client=client, deadline=deadline,
                      dual_stack=dual_stack, querytime=0)
    local, at, domain = who.sender.rpartition("@")
    if at:  # pyspf splits at the first "@", but a quoted local part may hold one (RFC 5321 4.1.2)
        query.l, query.o, query.d = local or "postmaster", domain, domain
    result, _code, explanation = query.check()
    return SpfEvaluation(str(result).lower(), who.identity, who.domain, str(explanation), query.lookups,
                         query.void_lookups, query.dual_stack_exempted)


# ------------------------------------------------------------------------------------ the audit's view


def spf_records(client: DnsClient, domain: str) -> tuple[DnsResult, list[str]]:
    """The TXT lookup for ``domain`` and the SPF records among its answers (strings already joined)."""
    txt = client.resolve(domain, "TXT")
    return txt, [record for record in txt.records if _SPF_VERSION.match(record)]


def analyse_spf_tree(client: DnsClient, domain: str) -> dict:
    """Walk the SPF record and everything it includes or redirects to, without a sender address.

    Counts the DNS-querying terms RFC 7208 section 4.6.4 limits to 10 (include, a, mx, ptr, exists,
    redirect) over the whole tree, so the count does not depend on where one sender's evaluation stopped.
    Targets with macros are counted but cannot be followed without a sender.
    """
    warnings: list[str] = []
    visited: set[str] = set()
    state = {"lookups": 0, "temporary": False}

    def walk(current: str, depth: int, top: bool) -> None:
        current = current.lower().rstrip(".")
        if current in visited or depth > 10:
            warnings.append(f"SPF include/redirect loop or nesting too deep at {current}")
            return
        visited.add(current)
        txt, records = spf_records(client, current)
        if txt.is_temporary:
            state["temporary"] = True
            warnings.append(f"SPF record of {current} could not be read: {txt.outcome}")
            return
        if not records:
            where = "" if top else " (included or redirected to)"
            warnings.append(f"no SPF record at {current}{where}")
            return
        if len(records) > 1:
            warnings.append(f"{len(records)} SPF records at {current}; RFC 7208 makes that a permerror")
        terms = records[0].split()[1:]
        has_all = any(term.lstrip("+-~?").lower() == "all" for term in terms)
        for term in terms:
            lowered = term.lower()
            mechanism = lowered.lstrip("+-~?")
            name = re.split(r"[:/=]", mechanism, maxsplit=1)[0]
            if name in _DNS_MECHANISMS:
                state["lookups"] += 1
                if name == "ptr":
                    warnings.append(f"ptr mechanism at {current}: RFC 7208 says do not use it; "
                                    "many receivers skip or distrust it")
                if name == "include":
                    target = term.split(":", 1)[1] if ":" in term else ""
                    if target and "%" not in target:
                        walk(target, depth + 1, False)
            elif name == "redirect" and not has_all:
                # "redirect=" is a modifier; "redirect:x" is an unknown mechanism (permerror in pyspf)
                _name, equals, target = term.partition("=")
                if equals:
                    state["lookups"] += 1
                    if target and "%" not in target:
                        walk(target, depth + 1, False)
            elif mechanism == "all" and lowered[0] not in "-~?":
                warnings.append(f"+all at {current} authorises every address on the internet")

    walk(domain, 0, True)
    if state["lookups"] > SPF_LOOKUP_LIMIT:
        warnings.append(f"SPF of {domain} needs {state['lookups']} DNS lookups; the limit is "
                        f"{SPF_LOOKUP_LIMIT}, receivers return permerror")
    return {"lookup_count": state["lookups"], "warnings": warnings, "temporary": state["temporary"]}


def identity_warning(who: SpfIdentity) -> str | None:
    """Why RFC 7208 section 4.3 makes this identity ``none`` before any lookup, if it does."""
    problem = domain_problem(who.domain)
    if problem is None:
        return None
    role = "MAIL FROM domain" if who.identity == "mailfrom" else "HELO name"
    return f"{role} {who.domain!r} {problem}: SPF result none (RFC 7208 section 4.3)"


def check_spf(client: DnsClient, address, mail_from: str | None = None, helo: str | None = None,
              tree_cache: dict | None = None) -> dict:
    """Evaluate SPF for one sender address as the gate does, plus the static lookup count and warnings.

    ``mail_from`` may be a bare domain (checked as ``postmaster@<domain>``). A ``mail_from`` ending in
    ``@`` has no domain to check and is refused with ValueError.
    """
    ip = parse_address(address) if isinstance(address, str) else address
    sender = (mail_from or "").strip().strip("<>").strip()
    if sender.endswith("@"):
        raise ValueError(f"mail_from {mail_from!r} has no domain after the @")
    if sender and "@" not in sender:
        sender = f"postmaster@{sender}"
    if not sender and not (helo or "").strip():
        raise ValueError("either mail_from or helo is needed for an SPF check")
    mail_from = sender
    who = spf_identity(mail_from, helo)
    evaluation = evaluate_spf(client, ip.compressed, mail_from, helo)
    warnings: list[str] = []
    invalid = identity_warning(who)
    if invalid:
        warnings.append(invalid)
        records, txt_outcome, tree = [], "", {"lookup_count": 0, "warnings": []}
    else:
        txt, records = spf_records(client, who.domain)
        txt_outcome = txt.outcome
        if tree_cache is not None and who.domain in tree_cache:
            tree = tree_cache[who.domain]
        else:
            tree = analyse_spf_tree(client, who.domain)
            if tree_cache is not None:
                tree_cache[who.domain] = tree
        warnings.extend(tree["warnings"])
    report = {
        "address": ip.compressed,
        "family": f"ipv{ip.version}",
        "identity": who.identity,
        "mail_from": who.sender if who.identity == "mailfrom" else "",
        "helo": helo or "",
        "domain": who.domain,
        "result": evaluation.result,
        "explanation": evaluation.explanation,
        "record": records[0] if len(records) == 1 else "",
        "records": records,
        "record_lookup": txt_outcome,
        "lookup_count": tree["lookup_count"],
        "lookups_evaluated": evaluation.lookups,
        "void_lookup_count": evaluation.void_lookups,
        "warnings": warnings,
    }
    dual = evaluation
    if ip.version == 6 and not invalid:
        dual = evaluate_spf(client, ip.compressed, mail_from, helo, dual_stack=True)
        if dual.result != evaluation.result:
            warnings.append(
                f"pyspf gives {evaluation.result} ({evaluation.void_lookups} void lookups) but counting an "
                f"empty AAAA of a name that has an A record as not void gives {dual.result}; receivers "
                "disagree on this record"
            )
    report.update({
        "void_lookup_count_dual_stack": dual.void_lookups,
        "dual_stack_exempted_lookups": dual.dual_stack_exempted,
        "result_dual_stack": dual.result,
        "explanation_dual_stack": dual.explanation,
    })
    if evaluation.void_lookups > SPF_VOID_LIMIT:
        warnings.append(f"{evaluation.void_lookups} void lookups; the limit is {SPF_VOID_LIMIT}")
    return report
