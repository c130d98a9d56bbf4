# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Receiver profiles: what a big receiver answers a sending host, as data, one file per receiver.

A profile is an ordered list of rules. Each rule names its conditions (from the closed set in
``CONDITIONS``, judged on the sender's DNS only), the reply the receiver publishes for it (or none:
then only the rule is predicted, never a made-up text), the SMTP stage, and the public source of both.
The first rule that holds with a published reply gives the prediction; rules before it that hold
without one (or need a lookup that failed) are named as answers that may come first.
docs/receiver-sources.md has the research behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import PtrStatus, Reply

VERDICT_ACCEPT = "accept"
VERDICT_TEMPFAIL = "tempfail"
VERDICT_REJECT = "reject"
VERDICT_UNKNOWN = "unknown"  # a rule holds but the receiver publishes no reply, or DNS failed temporarily
SEVERITY = (VERDICT_ACCEPT, VERDICT_UNKNOWN, VERDICT_TEMPFAIL, VERDICT_REJECT)  # mildest first

SOURCE_RECEIVER = "receiver"  # the receiver's own page
SOURCE_THIRD_PARTY = "third-party"  # only quoted by others (bounce logs, blogs)


@dataclass(frozen=True)
class Facts:
    """What a receiver sees of one sending address and envelope, from DNS (readiness.assess_sender)."""

    address: str  # IPv6, compressed
    ptr: str  # pass, missing, mismatch, temperror (forward-confirmed reverse DNS, iprev)
    gate_ptr: PtrStatus  # reverse DNS as the v6gate gate judges it under the audit's ptr_policy
    spf: str  # pyspf result for the MAIL FROM (or HELO) identity
    spf_domain: str
    dkim_pass: bool  # a usable key is published for a signing domain
    from_domain: str
    dmarc: dict  # dmarc.discover_policy()
    dmarc_result: dict  # dmarc.evaluate()
    bulk: bool  # the sender counts as a bulk sender (5,000 or more messages a day to the receiver)
    ptr_policy: str = "exists"  # the gate's ptr_policy, for the Exchange Online profile


def _unknown_if(temporary: bool, value: bool):
    return None if temporary else value


def _spf_temporary(facts: Facts) -> bool:
    return facts.spf == "temperror"


# Each condition: True (holds), False, or None (a lookup it needs failed temporarily).
CONDITIONS = {
    "ptr_not_confirmed": lambda f: _unknown_if(f.ptr == "temperror", f.ptr in ("missing", "mismatch")),
    "not_authenticated": lambda f: False if f.dkim_pass else _unknown_if(_spf_temporary(f), f.spf != "pass"),
    "spf_not_pass": lambda f: _unknown_if(_spf_temporary(f), f.spf != "pass"),
    "dkim_not_pass": lambda f: not f.dkim_pass,
    "dmarc_missing": lambda f: _unknown_if(f.dmarc["status"] == "temperror", f.dmarc["status"] != "policy"),
    "not_aligned": lambda f: False if f.dmarc_result["dkim"]["aligned"] else _unknown_if(
        _spf_temporary(f), not f.dmarc_result["spf"]["aligned"]),
    "dmarc_reject": lambda f: _unknown_if(f.dmarc_result["result"] == "temperror",
                                          f.dmarc_result["result"] == "fail"
                                          and f.dmarc_result["disposition"] == "reject"),
}
STAGES = ("connect", "rcpt", "data")  # data: the reply to the end of DATA


@dataclass(frozen=True)
class Rule:
    name: str
    when: tuple  # condition names; the rule holds when any of them holds
    source: str  # URL of the rule (and of its text)
    stage: str = "data"
    code: int | None = None  # None: the receiver publishes no reply for this rule
    status: str = ""
    text: str = ""  # the published text; {address}, {domain} (MAIL FROM), {from_domain} vary
    text_source: str = SOURCE_RECEIVER
    bulk_only: bool = False
    also: tuple = ()  # other published replies for the same rule: ((code, status, text), ...)
    note: str = ""
    reply: object = None  # a function(Facts) -> Reply | None that decides instead of ``when`` (Exchange)

    def __post_init__(self):
        unknown = [name for name in self.when if name not in CONDITIONS]
        if unknown or self.stage not in STAGES or (self.code is None) != (not self.text):
            raise ValueError(f"rule {self.name}: bad conditions {unknown}, stage or code/text pair")


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    rules: tuple
    sources: tuple = ()
    notes: tuple = field(default=())


def _fill(text: str, facts: Facts) -> str:
    return text.format(address=facts.address, domain=facts.spf_domain, from_domain=facts.from_domain)


def _prediction(profile: Profile, rule: Rule | None, verdict: str, reply: Reply | None, reasons,
                facts: Facts) -> dict:
    also = [f"{code} {status} {_fill(text, facts)}" for code, status, text in (rule.also if reply else ())]
    return {"receiver": profile.name, "title": profile.title, "verdict": verdict,
            "notes": list(profile.notes),
            "rule": rule.name if rule else "",
            "reply": str(reply) if reply else "", "code": reply.code if reply else None,
            "status": reply.status if reply else "", "text_published": reply is not None,
            "text_source": rule.text_source if reply and rule else "",
            "stage": rule.stage if rule else "", "source": rule.source if rule else "",
            "also": also, "reasons": [reason for reason in reasons if reason]}


def verdict_of(reply: Reply | None) -> str:
    """What a reply means for the sender; None is no refusal."""
    if reply is None:
        return VERDICT_ACCEPT
    return VERDICT_REJECT if reply.is_permanent else VERDICT_TEMPFAIL


def worst(verdicts) -> str:
    """The most severe of ``verdicts`` (accept when there are none)."""
    return max(verdicts, key=SEVERITY.index, default=VERDICT_ACCEPT)


def _judge(profile: Profile, rule: Rule, facts: Facts) -> dict | None:
    """The prediction of one rule, or None when it does not hold."""
    if rule.reply is not None:
        reply = rule.reply(facts)
        if reply is None:
            return None
        return _prediction(profile, rule, verdict_of(reply), reply, [rule.note], facts)
    holds = [CONDITIONS[name](facts) for name in rule.when]
    if True in holds:
        reasons = [name for name, value in zip(rule.when, holds, strict=True) if value]
        if rule.code is None:
            return _prediction(profile, rule, VERDICT_UNKNOWN, None, [
                f"{', '.join(reasons)}: {profile.title} publishes no reply for this rule", rule.note], facts)
        reply = Reply(rule.code, rule.status, _fill(rule.text, facts), rule.name)
        return _prediction(profile, rule, verdict_of(reply), reply, [*reasons, rule.note], facts)
    if None in holds:
        unknown = [name for name, value in zip(rule.when, holds, strict=True) if value is None]
        return _prediction(profile, rule, VERDICT_UNKNOWN, None, [
            f"{', '.join(unknown)}: a DNS lookup failed temporarily; the answer depends on it"], facts)
    return None


def predict(profile: Profile, facts: Facts, ipv4_available: bool = False) -> dict:
    """The first rule of ``profile`` that holds for ``facts`` with a published reply: the receiver's reply,
    its stage and source. Rules before it that hold without a published reply, or that depend on a failed
    lookup, do not hide it: they are listed in ``unknown_rules`` (the receiver may answer with them first).
    When no rule gives a reply, the first such rule is the prediction (``unknown``).

    ``retry_over_ipv4``: the reply is temporary and the sender has IPv4, so a dual-stack Postfix tries the
    receiver's IPv4 addresses next instead of giving up (a 5xx ends the delivery)."""
    undecided = []
    result = None
    for rule in profile.rules:
        if rule.bulk_only and not facts.bulk:
            continue
        judged = _judge(profile, rule, facts)
        if judged is None:
            continue
        if judged["verdict"] != VERDICT_UNKNOWN:
            result = judged
            break
        undecided.append(judged)
    if result is not None:
        result["reasons"][:0] = [f"{earlier['rule']} may answer first: {earlier['reasons'][0]}"
                                 for earlier in undecided]
    elif undecided:
        result, undecided = undecided[0], undecided[1:]
    else:
        result = _prediction(profile, None, VERDICT_ACCEPT, None, [], facts)
    result["unknown_rules"] = [earlier["rule"] for earlier in undecided]
    result["retry_over_ipv4"] = result["verdict"] == VERDICT_TEMPFAIL and ipv4_available
    return result


def profiles() -> dict:
    """Every profile by name, in the order reports show them."""
    # imported here: each profile imports this module
    from ansible_collections.v6gate.mx.plugins.module_utils.receivers import (
        exchange_online,
        gmail,
        outlook_com,
        yahoo,
    )

    return {module.PROFILE.name: module.PROFILE for module in (exchange_online, gmail, outlook_com, yahoo)}
