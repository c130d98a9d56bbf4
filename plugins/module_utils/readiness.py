# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPv6 readiness of a sending host: the reply an Exchange Online-style receiver (and our gate) gives,
predicted from the sender's DNS with the gate's own lookups (``iprev``, ``spf_eval``) and rules
(``ipv6_rules``). Only the DKIM half differs, as it must: an audit has no message to verify, so a usable
published key (``dkim_keys``) stands for a signature that verifies.
"""

from __future__ import annotations

from ansible_collections.v6gate.mx.plugins.module_utils.addresses import (
    check_domains,
    is_dns_name,
    parse_addresses,
)
from ansible_collections.v6gate.mx.plugins.module_utils.dkim_keys import check_dkim
from ansible_collections.v6gate.mx.plugins.module_utils.dmarc import discover_policy, evaluate
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import ANSWER, DnsClient
from ansible_collections.v6gate.mx.plugins.module_utils.iprev import reverse_dns, reverse_report
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    PTR_POLICIES,
    check_authentication,
    check_reverse_dns,
)
from ansible_collections.v6gate.mx.plugins.module_utils.receivers import (
    VERDICT_ACCEPT,
    Facts,
    predict,
    profiles,
    verdict_of,
    worst,
)
from ansible_collections.v6gate.mx.plugins.module_utils.spf_eval import check_spf


def assess_sender(client: DnsClient, addresses, helo: str | None, mail_from_domains, dkim_selectors,
                  ptr_policy: str = "exists", dkim_domains=None, receivers=(), psl=None, from_domain=None,
                  bulk: bool = False, ipv4_available: bool = False) -> dict:
    """Predict what an Exchange Online-style receiver (and our gate) replies to each (address, MAIL FROM
    domain) of a sending host, using the gate's own rule functions; and with ``receivers`` (profile names,
    ``psl`` a dmarc.PublicSuffixList) what each of those receivers replies.

    Reverse DNS is judged at RCPT time, so its reply comes first; SPF-or-DKIM at end of data. A DKIM
    "pass" here means a usable key is published for a selector under the domain: the DNS half of DKIM,
    which is all an audit can see. The From domain is ``from_domain`` or else the MAIL FROM domain; its
    DMARC policy is judged with the SPF domain (when SPF passes) and the domains of the usable keys.
    """
    known = profiles()
    unknown = [name for name in receivers if name not in known]
    if unknown:
        raise ValueError(f"unknown receiver profile(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if receivers and psl is None:
        raise ValueError("receiver profiles need the public suffix list (psl)")
    if from_domain is not None and not is_dns_name(from_domain, fqdn=True):
        raise ValueError(f"not a valid From domain: {from_domain!r}")
    if ptr_policy not in PTR_POLICIES:
        raise ValueError(f"ptr_policy must be one of {', '.join(PTR_POLICIES)}")
    ips = parse_addresses(addresses)
    not_ipv6 = [ip.compressed for ip in ips if ip.version != 6]
    if not_ipv6:
        raise ValueError(f"not IPv6 (IPv4 mail is never subject to these rules): {', '.join(not_ipv6)}")
    if helo:
        # A bare "localhost" HELO is a finding for the SPF HELO check, not bad input.
        if not is_dns_name(helo):
            raise ValueError(f"not a valid HELO name: {helo!r}")
        helo = helo.strip().rstrip(".").lower()
    domains = check_domains(mail_from_domains, "MAIL FROM domain") or ([helo] if helo else [])
    if not domains:
        raise ValueError("give mail_from_domains or a helo name")
    identity = "mailfrom" if mail_from_domains else "helo"
    key_domains = check_domains(dkim_domains, "DKIM signing domain") if dkim_domains else domains
    bad_selectors = [repr(s) for s in dkim_selectors if not is_dns_name(s)]
    if bad_selectors:
        raise ValueError(f"not a valid DKIM selector: {', '.join(bad_selectors)}")

    lookups = dict(zip(ips, client.map(lambda ip: reverse_dns(client, ip, confirm_all=True), ips),
                       strict=True))
    reverse = {ip: reverse_report(lookup) for ip, lookup in lookups.items()}
    dkim_pairs = [(sel, dom) for dom in key_domains for sel in dkim_selectors]
    dkim = client.map(lambda pair: check_dkim(client, *pair), dkim_pairs)
    usable_by_domain = {dom: [d for d in dkim if d["domain"] == dom and d["usable"]] for dom in key_domains}
    any_usable = [d for d in dkim if d["usable"]]
    tree_cache: dict = {}
    pairs = [(ip, dom) for ip in ips for dom in domains]
    spf_results = client.map(
        lambda pair: check_spf(client, pair[0], pair[1] if identity == "mailfrom" else None, helo,
                               tree_cache),
        pairs,
    )

    from_domains = sorted({from_domain or domain for domain in domains}) if receivers else []
    found = client.map(lambda name: discover_policy(client, name, psl), from_domains)
    policies = dict(zip(from_domains, found, strict=True))

    rows = []
    for (ip, domain), spf_report in zip(pairs, spf_results, strict=True):
        ptr = reverse[ip]
        ptr_status = lookups[ip].status(ptr_policy)  # as the gate judges it under this policy
        # Without dkim_domains each MAIL FROM domain is assumed to sign as itself (d= that domain). With
        # dkim_domains the host signs all mail with those domains, and any of their keys counts, because
        # Exchange accepts any passing DKIM signature, aligned or not.
        usable = usable_by_domain.get(domain, []) if dkim_domains is None else any_usable
        spf_pass = spf_report["result"] == "pass"
        dkim_pass = bool(usable)
        reply = check_reverse_dns(ip.compressed, ptr_status, ptr_policy) or check_authentication(
            ip.compressed, spf_pass, dkim_pass)
        reasons = _readiness_reasons(ptr, ptr_policy, spf_report, dkim, usable)
        rows.append({
            "address": ip.compressed,
            "mail_from_domain": domain,
            "identity": identity,
            "verdict": verdict_of(reply),
            "accepted": reply is None,
            "reply": str(reply) if reply else "",
            "reply_code": reply.code if reply else 250,
            "reply_status": reply.status if reply else "",
            "rule": reply.rule if reply else "",
            "reverse_dns": ptr["status"],
            "ptr_names": ptr["ptr_names"],
            "spf": spf_report["result"],
            "spf_dual_stack": spf_report["result_dual_stack"],
            "dkim": "pass" if dkim_pass else "fail",
            "dkim_selectors_usable": [f"{d['selector']}._domainkey.{d['domain']}" for d in usable],
            "reasons": reasons,
        })
        if receivers:
            sender_from = from_domain or domain
            dmarc = evaluate(policies[sender_from], psl, domain if spf_pass else "",
                             sorted({d["domain"] for d in usable}),
                             spf_temporary=spf_report["result"] == "temperror")
            facts = Facts(address=ip.compressed, ptr=ptr["status"], gate_ptr=ptr_status,
                          spf=spf_report["result"], spf_domain=domain, dkim_pass=dkim_pass,
                          from_domain=sender_from, dmarc=policies[sender_from], dmarc_result=dmarc, bulk=bulk,
                          ptr_policy=ptr_policy)
            rows[-1]["from_domain"] = sender_from
            rows[-1]["dmarc"] = {"status": policies[sender_from]["status"],
                                 "applied_policy": policies[sender_from]["applied_policy"],
                                 "result": dmarc["result"]}
            rows[-1]["receivers"] = [predict(known[name], facts, ipv4_available) for name in receivers]
    report = {
        "accepted": all(row["accepted"] for row in rows),
        "verdict": worst(row["verdict"] for row in rows),
        "replies": list(dict.fromkeys(row["reply"] for row in rows if row["reply"])),
        "rows": rows,
        "reverse_dns": list(reverse.values()),
        "spf": spf_results,
        "dkim": dkim,
        "dmarc": list(policies.values()),
    }
    if receivers:
        report["receivers"] = [_receiver_summary(index, name, rows) for index, name in enumerate(receivers)]
    return report


def _receiver_summary(index: int, name: str, rows: list) -> dict:
    """One receiver over all rows: the worst verdict, its distinct replies, and one line saying why."""
    answers = [row["receivers"][index] for row in rows]
    verdict = worst(answer["verdict"] for answer in answers)
    replies = list(dict.fromkeys(answer["reply"] for answer in answers if answer["reply"]))
    summary = f"{answers[0]['title']}: {verdict}" if answers else f"{name}: {verdict}"
    if verdict != VERDICT_ACCEPT:
        worst_answers = [answer for answer in answers if answer["verdict"] == verdict]
        why = [f"{answer['reply']} ({answer['rule']})" if answer["reply"] else
               f"{answer['rule']}: {answer['reasons'][0] if answer['reasons'] else 'no published reply'}"
               for answer in worst_answers]
        summary += " - " + "; ".join(dict.fromkeys(why))
    return {"receiver": name, "verdict": verdict, "replies": replies, "summary": summary}


def _readiness_reasons(ptr: dict, ptr_policy: str, spf_report: dict, dkim: list, usable: list) -> list[str]:
    reasons = []
    status = ptr["status"]
    if status == "pass":
        reasons.append(f"reverse DNS: {', '.join(ptr['confirmed_names'])} forward-confirms")
    elif status == "missing":
        reasons.append(f"reverse DNS: no PTR record for {ptr['address']} ({ptr['ptr_outcome']})")
    elif status == "mismatch":
        verdict = "accepted under policy 'exists'" if ptr_policy == "exists" else "rejected under 'fcrdns'"
        reasons.append(f"reverse DNS: PTR {', '.join(ptr['ptr_names'])} does not resolve back to "
                       f"{ptr['address']} ({verdict})")
    elif ptr["ptr_outcome"] == ANSWER and ptr_policy == "exists":
        reasons.append(f"reverse DNS: PTR {', '.join(ptr['ptr_names'])} exists; resolving it back failed "
                       "temporarily (accepted under policy 'exists')")
    else:
        reasons.append(f"reverse DNS: lookup failed temporarily ({ptr['ptr_outcome']}"
                       f"{', forward lookup failed' if ptr['ptr_outcome'] == ANSWER else ''})")
    spf_line = f"SPF {spf_report['result']} for {spf_report['domain']}"
    if spf_report["explanation"] and spf_report["result"] != "pass":
        spf_line += f": {spf_report['explanation']}"
    if spf_report["result_dual_stack"] != spf_report["result"]:
        spf_line += f" (dual-stack void counting: {spf_report['result_dual_stack']})"
    reasons.append(spf_line)
    if usable:
        keys = ", ".join(f"{d['selector']}._domainkey.{d['domain']}" for d in usable)
        reasons.append(f"DKIM: usable key at {keys}")
    elif dkim:
        found = ", ".join(f"{d['selector']}._domainkey.{d['domain']}: {d['status']}" for d in dkim)
        reasons.append(f"DKIM: no usable key ({found})")
    else:
        reasons.append("DKIM: no selectors declared")
    return reasons
