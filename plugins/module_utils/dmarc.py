# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DMARC (RFC 7489) as the audit reads it: the organizational domain from the Public Suffix List, policy
discovery with its fallback to the organizational domain, the record's tags, identifier alignment, and
the result a receiver reaches for given SPF and DKIM outcomes.

What a receiver decides is taken from DNS answers and the published list only, never from message text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ansible_collections.v6gate.mx.plugins.module_utils.dkim_keys import TAG_NAME
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import DnsClient, DnsResult
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import normalize_domain

# Debian's publicsuffix package; the list as publicsuffix.org publishes it (ICANN and private sections).
PUBLIC_SUFFIX_LIST = "/usr/share/publicsuffix/public_suffix_list.dat"

STATUS_POLICY = "policy"  # one usable record: receivers apply DMARC
STATUS_NONE = "none"  # no record at the domain nor at its organizational domain
STATUS_INVALID = "invalid"  # records that receivers discard: no DMARC is applied
STATUS_TEMPERROR = "temperror"  # SERVFAIL or timeout: the policy is unknown

POLICIES = ("none", "quarantine", "reject")
ALIGNMENT_MODES = {"r": "relaxed", "s": "strict"}
_WEAKER = {"reject": "quarantine", "quarantine": "none", "none": "none"}
# RFC 7489 6.4: the first tag; its name "v" is an ABNF string (any case), DMARC1 is given byte by byte.
_VERSION = re.compile(r"^[vV][ \t]*=[ \t]*DMARC1[ \t]*(;|$)")
_PERCENT = re.compile(r"[0-9]{1,3}")  # ASCII digits only: int() also reads "+5", " 5" and other scripts
_SECONDS = re.compile(r"[0-9]{1,10}")
_REPORT_URI = re.compile(r"^mailto:[^@\s!,;]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+(![0-9]+[kmgt]?)?$", re.IGNORECASE)
_FAILURE_OPTIONS = {"0", "1", "d", "s"}
# Tags of the DMARCbis drafts: not RFC 7489's, ignored without a warning.
_LATER_TAGS = {"np", "psd", "t"}


class PublicSuffixList:
    """The Public Suffix List's rules (https://publicsuffix.org/list/): plain, wildcard (``*.``) and
    exception (``!``) rules, in A-labels; rules are matched label by label from the right."""

    def __init__(self, text: str) -> None:
        self.rules: set[str] = set()
        self.wildcards: set[str] = set()  # the parent of each "*." rule
        self.exceptions: set[str] = set()
        for line in text.splitlines():
            rule = line.strip().split(None, 1)[0] if line.strip() else ""
            if not rule or rule.startswith("//"):
                continue
            if rule.startswith("!"):
                self.exceptions.add(normalize_domain(rule[1:]))
            elif rule.startswith("*."):
                self.wildcards.add(normalize_domain(rule[2:]))
            else:
                self.rules.add(normalize_domain(rule))
        if not self.rules:
            raise ValueError("the public suffix list has no rules")

    @classmethod
    def from_file(cls, path: str = PUBLIC_SUFFIX_LIST) -> PublicSuffixList:
        try:
            with open(path, encoding="utf-8") as handle:
                return cls(handle.read())
        except OSError as error:
            raise ValueError(f"cannot read the public suffix list {path}: {error.strerror} "
                             "(Debian: apt install publicsuffix)") from None

    def public_suffix(self, domain: str) -> str:
        """The longest matching rule wins, an exception over all others; no match is the rule ``*``."""
        labels = normalize_domain(domain).split(".")
        for start in range(len(labels)):
            candidate = ".".join(labels[start:])
            if candidate in self.exceptions:
                return ".".join(labels[start + 1:])
            if candidate in self.rules or ".".join(labels[start + 1:]) in self.wildcards:
                return candidate
        return labels[-1]

    def organizational_domain(self, domain: str) -> str:
        """RFC 7489 3.2: the public suffix and one label more (a public suffix itself stays as it is)."""
        key = normalize_domain(domain)
        suffix = self.public_suffix(key)
        if key == suffix:
            return key
        return ".".join(key.split(".")[-(suffix.count(".") + 2):])


def aligned(identifier: str, from_domain: str, mode: str, psl: PublicSuffixList) -> bool:
    """RFC 7489 3.1: strict needs the same name; relaxed the same organizational domain."""
    if not identifier:
        return False
    ours, theirs = normalize_domain(identifier), normalize_domain(from_domain)
    if mode == "s":
        return ours == theirs
    return psl.organizational_domain(ours) == psl.organizational_domain(theirs)


@dataclass
class DmarcRecord:
    """A record's tags, with RFC 7489's defaults for those it leaves out or gets wrong."""

    text: str
    p: str = "none"
    sp: str = "none"
    adkim: str = "r"
    aspf: str = "r"
    pct: int = 100
    rua: list = field(default_factory=list)
    ruf: list = field(default_factory=list)
    fo: list = field(default_factory=lambda: ["0"])
    ri: int = 86400
    warnings: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"p": self.p, "sp": self.sp, "adkim": self.adkim, "aspf": self.aspf, "pct": self.pct,
                "rua": self.rua, "ruf": self.ruf, "fo": self.fo, "ri": self.ri}


class DmarcRecordError(ValueError):
    """A record receivers discard (RFC 7489 6.6.3): they apply no DMARC."""


def is_dmarc_record(text: str) -> bool:
    """RFC 7489 6.6.3 steps 2 and 4: a TXT record that does not start with v=DMARC1 is not one."""
    return bool(_VERSION.match(text))


def _shown(value: str) -> str:
    """A sender's tag value as a warning quotes it: a zone can publish kilobytes in one tag."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _report_uris(value: str, tag: str, warnings: list) -> list:
    uris = []
    for uri in (part.strip() for part in value.split(",")):
        if _REPORT_URI.match(uri):
            uris.append(uri)
        else:
            warnings.append(f"{tag}: {_shown(uri)} is not a mailto: report address; ignored")
    return uris


def _record_tags(text: str, warnings: list) -> dict[str, str]:
    """DKIM's tag-list syntax (RFC 7489 6.4), read as 6.3 asks: a malformed tag is ignored with a warning.
    A tag given twice makes the tag list invalid (RFC 6376 3.2): which value a receiver takes is unknown."""
    tags: dict[str, str] = {}
    for raw in text.split(";"):
        name, equals, value = raw.partition("=")
        name = name.strip(" \t").lower()
        if not raw.strip(" \t"):
            continue
        if not equals or not TAG_NAME.fullmatch(name):
            warnings.append(f"malformed tag {_shown(raw.strip())} ignored")
            continue
        if name in tags:
            raise DmarcRecordError(f"malformed record: duplicate tag {name}=")
        tags[name] = value.strip(" \t")
    return tags


def parse_dmarc_record(text: str) -> DmarcRecord:
    """Parse one record (RFC 7489 6.3). A bad p= or sp= makes the record unusable unless rua= has a valid
    address (then it counts as p=none, 6.6.3 step 6); other bad values and malformed tags fall back to
    their defaults with a warning, unknown tags are ignored (6.3). DmarcRecordError for a record that is
    not one, a tag given twice, or a bad policy without a report address."""
    if not is_dmarc_record(text):
        raise DmarcRecordError(f"not a DMARC record (must start with v=DMARC1): {text[:80]!r}")
    record = DmarcRecord(text=text)
    warnings = record.warnings
    tags = _record_tags(text, warnings)
    record.rua = _report_uris(tags["rua"], "rua", warnings) if "rua" in tags else []
    record.ruf = _report_uris(tags["ruf"], "ruf", warnings) if "ruf" in tags else []
    bad = []
    if tags.get("p", "").lower() not in POLICIES:
        bad.append(f"p={_shown(tags['p'])}" if "p" in tags else "no p= tag")
    if tags.get("sp", "none").lower() not in POLICIES:
        bad.append(f"sp={_shown(tags['sp'])}")
    if bad:
        problem = f"{' and '.join(bad)} (a policy is none, quarantine or reject)"
        if not record.rua:
            raise DmarcRecordError(f"{problem}, and no valid rua= address: receivers apply no DMARC")
        warnings.append(f"{problem}: read as p=none, because rua= has a report address (RFC 7489 6.6.3)")
        record.p = record.sp = "none"
    else:
        record.p = tags["p"].lower()
        record.sp = tags.get("sp", record.p).lower()
    for tag in ("adkim", "aspf"):
        if tag in tags:
            mode = tags[tag].lower()
            if mode in ALIGNMENT_MODES:
                setattr(record, tag, mode)
            else:
                warnings.append(f"{tag}={_shown(tags[tag])} is not r or s: relaxed alignment applies")
    if "pct" in tags:
        if _PERCENT.fullmatch(tags["pct"]) and int(tags["pct"]) <= 100:
            record.pct = int(tags["pct"])
        else:
            warnings.append(f"pct={_shown(tags['pct'])} is not 0 to 100: 100 applies")
    if "fo" in tags:
        options = [option.strip().lower() for option in tags["fo"].split(":")]
        if options and all(option in _FAILURE_OPTIONS for option in options):
            record.fo = options
        else:
            warnings.append(f"fo={_shown(tags['fo'])} is not a list of 0, 1, d and s: fo=0 applies")
    if "ri" in tags:
        if _SECONDS.fullmatch(tags["ri"]) and int(tags["ri"]) < 2**32:
            record.ri = int(tags["ri"])
        else:
            warnings.append(f"ri={_shown(tags['ri'])} is not a number of seconds: 86400 applies")
    known = {"v", "p", "sp", "adkim", "aspf", "pct", "rua", "ruf", "fo", "rf", "ri"}
    for name in tags:
        if name not in known and name not in _LATER_TAGS:
            warnings.append(f"unknown tag {name}= ignored")
    return record


def _dmarc_records(client: DnsClient, domain: str) -> tuple[DnsResult, list[str]]:
    result = client.resolve(f"_dmarc.{domain}", "TXT")
    return result, [text for text in result.records if is_dmarc_record(text)]


def discover_policy(client: DnsClient, from_domain: str, psl: PublicSuffixList) -> dict:
    """RFC 7489 6.6.3: the record at ``_dmarc.<From domain>``, else at ``_dmarc.<organizational domain>``.

    A SERVFAIL or timeout at the From domain is ``temperror`` and does not fall back: the sender's zone
    must not be able to swap its own policy for its parent's by failing. Several records, or an unusable
    one, are ``invalid`` (receivers apply no DMARC)."""
    domain = normalize_domain(from_domain)
    organizational = psl.organizational_domain(domain)
    report = {"domain": domain, "organizational_domain": organizational, "status": STATUS_NONE,
              "found_at": None, "record": None, "policy": None, "applied_policy": None,
              "subdomain_policy_applies": False, "errors": [], "warnings": [], "lookups": []}
    for name in dict.fromkeys([domain, organizational]):
        result, records = _dmarc_records(client, name)
        report["lookups"].append({"name": result.name, "outcome": result.outcome, "detail": result.detail})
        if result.is_temporary:
            report["status"] = STATUS_TEMPERROR
            report["errors"].append(f"_dmarc.{name}: {result.outcome} ({result.detail or 'no answer'}): "
                                    "the policy is unknown; receivers may defer the mail")
            return report
        if records:
            break
    else:
        return report
    report["found_at"] = result.name
    if len(records) > 1:
        report["status"] = STATUS_INVALID
        report["errors"].append(f"{result.name} has {len(records)} DMARC records: receivers apply no DMARC "
                                "(RFC 7489 6.6.3)")
        return report
    report["record"] = records[0]
    try:
        record = parse_dmarc_record(records[0])
    except DmarcRecordError as error:
        report["status"] = STATUS_INVALID
        report["errors"].append(f"{result.name}: {error}")
        return report
    report["status"] = STATUS_POLICY
    report["policy"] = record.as_dict()
    report["warnings"] = record.warnings
    # sp= governs the From domain only when the record came from its organizational domain (6.6.3).
    report["subdomain_policy_applies"] = name != domain
    report["applied_policy"] = record.sp if name != domain else record.p
    return report


def evaluate(policy: dict, psl: PublicSuffixList, spf_domain: str = "", dkim_domains=(),
             spf_temporary: bool = False) -> dict:
    """The DMARC result for a message whose SPF passed for ``spf_domain`` (empty: SPF did not pass) and
    whose valid DKIM signatures have the ``d=`` in ``dkim_domains``; ``policy`` from discover_policy.
    ``spf_temporary``: SPF failed temporarily, so without an aligned DKIM signature the result is
    ``temperror`` (RFC 7489 6.6.2), never a fail a sender's broken zone would turn into a reject.

    ``disposition`` is what the policy asks for a failing message (``pct`` below 100 lets receivers
    apply the next weaker policy to the rest: ``disposition_otherwise``)."""
    from_domain = policy["domain"]
    tags = policy["policy"] or {}
    spf_mode, dkim_mode = tags.get("aspf", "r"), tags.get("adkim", "r")
    spf_aligned = aligned(spf_domain, from_domain, spf_mode, psl)
    dkim = [{"domain": normalize_domain(domain), "aligned": aligned(domain, from_domain, dkim_mode, psl)}
            for domain in dkim_domains]
    passed = spf_aligned or any(signature["aligned"] for signature in dkim)
    result = {"spf": {"domain": normalize_domain(spf_domain) if spf_domain else None, "aligned": spf_aligned,
                      "mode": ALIGNMENT_MODES[spf_mode]},
              "dkim": {"signatures": dkim, "aligned": any(s["aligned"] for s in dkim),
                       "mode": ALIGNMENT_MODES[dkim_mode]}}
    if policy["status"] == STATUS_TEMPERROR or (spf_temporary and not passed):
        return dict(result, result="temperror", disposition=None, disposition_otherwise=None)
    if policy["status"] != STATUS_POLICY:
        return dict(result, result="none", disposition="none", disposition_otherwise="none")
    if passed:
        return dict(result, result="pass", disposition="none", disposition_otherwise="none")
    applied = policy["applied_policy"]
    otherwise = applied if tags["pct"] == 100 else _WEAKER[applied]
    # pct=0: the policy is applied to no failing message, all get the next weaker one (RFC 7489 6.6.4)
    return dict(result, result="fail", disposition=applied if tags["pct"] else otherwise,
                disposition_otherwise=otherwise)
