# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gate's decision log line: written here for the gate, read here for the report, one format.

    decision queue_id=NOQUEUE client=2001:db8::10 rule=opt-in rcpt=<u@fabrikam.example>
    sender_domain=a.example domains=fabrikam.example reply="550 5.2.1 ..." mode=enforce took_ms=0.1

Values a sender chose (addresses, domains) are %-escaped down to characters that cannot start another
field, and quoted values cannot contain a quote, so no MAIL FROM or recipient can forge a field: the
report reads rule, reply and mode from where the gate wrote them. The report counts decisions per
recipient domain, rule, mode and reply code, and the sending addresses and domains behind the refusals
(given, or in monitor mode, would-be), with a bounded number of distinct keys per count.
"""

from __future__ import annotations

import re
from collections import Counter

from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import STATE_ENFORCE as MODE_ENFORCE
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import STATE_MONITOR as MODE_MONITOR

NULL_SENDER = "<>"
# Values a sender chose keep only characters that cannot start a new field.
_LOG_UNSAFE = re.compile(r"[^A-Za-z0-9@.<>_+\-:\[\]/]")
_FIELD = re.compile(r'([a-z_]+)=("(?:[^"\\]*)"|[^ "]*)(?= |$)')
_ESCAPE = re.compile(r"%([0-9A-F]{2})")
OTHER = "(other)"


def log_value(text: str) -> str:
    """``text`` with every character that could fake a log field (space, quote, =, control) %-escaped."""
    return _LOG_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "replace")), text)


def quoted(text: str) -> str:
    """Text for inside a quoted log field: no quote, backslash or control character can end it early."""
    return "".join(ch if ch.isprintable() and ch not in '"\\' else f"%{ord(ch):02X}" for ch in text)


def format_decision(queue_id: str, client: str, rule: str, reply: str | None, mode: str, sender_domain: str,
                    domains, rcpt: str | None = None, extra: str = "", took_ms: float = 0.0) -> str:
    """One decision line. ``reply`` is the refusal the rules give (None: accept); under monitor mode it is
    logged as would_reply and the reply is "accept"."""
    line = f"decision queue_id={log_value(queue_id)} client={client} rule={rule}"
    if rcpt is not None:
        line += f" rcpt={log_value(rcpt)}"
    line += f" sender_domain={log_value(sender_domain or NULL_SENDER)}"
    line += f" domains={','.join(log_value(d) for d in domains)}"
    given = reply if mode == MODE_ENFORCE else None
    line += f' reply="{quoted(given) if given else "accept"}"'
    if reply is not None and given is None:
        line += f' would_reply="{quoted(reply)}"'
    line += f" mode={mode}"
    if extra:
        line += " " + extra
    return line + f" took_ms={took_ms:.1f}"


def _unescape(text: str) -> str:
    raw = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def parse_decision(line: str) -> dict | None:
    """The fields of a decision line (also with a level or syslog prefix before ``decision``), values
    unescaped; None for any other line. A field given twice keeps its first value, which the gate wrote
    before any value a sender chose could follow."""
    start = line.find("decision queue_id=")
    if start < 0:
        return None
    fields: dict[str, str] = {}
    for match in _FIELD.finditer(line, start + len("decision ")):
        key, value = match.group(1), match.group(2)
        if value.startswith('"'):
            value = value[1:-1]
        fields.setdefault(key, _unescape(value))
    if not {"client", "rule", "reply", "mode"} <= fields.keys():
        return None
    return fields


def _code(reply: str) -> str:
    return reply.split(" ", 1)[0] if reply[:3].isdigit() else "250"


class BoundedCounter(Counter):
    """A Counter of at most ``limit`` distinct keys besides OTHER, which counts every later new key: a
    flood of distinct senders cannot grow the report's memory."""

    def __init__(self, limit: int = 10000) -> None:
        super().__init__()
        self.limit = limit

    def count(self, key: str, n: int = 1) -> None:
        if key not in self and len(self) >= self.limit:
            key = OTHER
        self[key] += n


class DomainReport:
    """What the gate decided for one recipient domain."""

    def __init__(self, limit: int) -> None:
        self.decisions = Counter()  # (rule, mode, code) -> n
        self.clients = BoundedCounter(limit)  # refused (or would-be) sending addresses
        self.sender_domains = BoundedCounter(limit)

    def add(self, rule: str, mode: str, code: str, client: str, sender_domain: str, n: int = 1) -> None:
        self.decisions[(rule, mode, code)] += n
        if code != "250":
            self.clients.count(client, n)
            self.sender_domains.count(sender_domain, n)

    def summary(self, top: int) -> dict:
        refusals = [(mode, n) for (_rule, mode, code), n in self.decisions.items() if code != "250"]
        refused = sum(n for mode, n in refusals if mode == MODE_ENFORCE)
        would = sum(n for mode, n in refusals if mode == MODE_MONITOR)
        temporary = sum(n for (rule, _m, code), n in self.decisions.items() if code.startswith("4")
                        and rule in ("dns-temporary", "gate-error"))
        monitored = any(mode == MODE_MONITOR for (_r, mode, _c) in self.decisions)
        return {
            "decisions": [{"rule": r, "mode": m, "code": c, "count": n}
                          for (r, m, c), n in sorted(self.decisions.items())],
            "total": sum(self.decisions.values()),
            "refused": refused,
            "would_refuse": would,
            "temporary": temporary,
            "top_clients": [[k, n] for k, n in self.clients.most_common(top)],
            "top_sender_domains": [[k, n] for k, n in self.sender_domains.most_common(top)],
            "monitored": monitored,
            "verdict": _verdict(monitored, would, len(self.clients)),
        }


def _verdict(monitored: bool, would: int, senders: int) -> str:
    if not monitored:
        return "enforced"
    if not would:
        return "ready: no would-be refusals in the window"
    return f"review: {would} would-be refusal(s) from {senders} sending address(es)"


class GateReport:
    """Decisions over a window, per recipient domain; several hosts' reports merge by adding counts."""

    def __init__(self, limit: int = 10000) -> None:
        self.limit = limit
        self.domains: dict[str, DomainReport] = {}
        self.lines = 0
        self.unreadable = 0

    def _domain(self, name: str) -> DomainReport:
        if name not in self.domains and len(self.domains) >= self.limit:
            name = OTHER
        return self.domains.setdefault(name, DomainReport(self.limit))

    def add_line(self, line: str) -> None:
        fields = parse_decision(line)
        if fields is None:
            if "decision queue_id=" in line:
                self.unreadable += 1
            return
        self.lines += 1
        refusal = fields.get("would_reply") if fields["mode"] == MODE_MONITOR else fields["reply"]
        code = _code(refusal or "accept")
        domains = [d for d in fields.get("domains", "").split(",") if d] or ["(unknown)"]
        for domain in dict.fromkeys(domains):
            self._domain(domain).add(fields["rule"], fields["mode"], code, fields["client"],
                                     fields.get("sender_domain", "(unknown)"))

    def as_dict(self, top: int = 10) -> dict:
        return {"decision_lines": self.lines, "unreadable_lines": self.unreadable,
                "domains": {name: report.summary(top) for name, report in sorted(self.domains.items())},
                "counts": self._counts()}

    def _counts(self) -> dict:
        """Every count, for merging reports of several hosts exactly (top lists alone would not add up)."""
        return {name: {"decisions": [[r, m, c, n] for (r, m, c), n in report.decisions.items()],
                       "clients": dict(report.clients), "sender_domains": dict(report.sender_domains)}
                for name, report in self.domains.items()}

    def merge_counts(self, counts: dict, lines: int = 0, unreadable: int = 0) -> None:
        self.lines += lines
        self.unreadable += unreadable
        for name, data in counts.items():
            report = self._domain(name)
            for rule, mode, code, n in data["decisions"]:
                report.decisions[(rule, mode, code)] += n
            for key, n in data["clients"].items():
                report.clients.count(key, n)
            for key, n in data["sender_domains"].items():
                report.sender_domains.count(key, n)


def _cell(text) -> str:
    """A table cell: sender-shaped text in a code span, with nothing that could end it or the table."""
    value = str(text).replace("`", "'").replace("|", "%7C").replace("\n", " ")
    return f"`{value}`"


def render_markdown(report: dict, title: str) -> str:
    unreadable = f", {report['unreadable_lines']} unreadable" if report["unreadable_lines"] else ""
    lines = [f"# {title}", "", f"{report['decision_lines']} decision line(s){unreadable}.", "",
             "| domain | decisions | refused | would refuse (monitor) | temporary | verdict |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for name, domain in report["domains"].items():
        counts = " | ".join(str(domain[key]) for key in ("total", "refused", "would_refuse", "temporary"))
        lines.append(f"| {_cell(name)} | {counts} | {domain['verdict']} |")
    for name, domain in report["domains"].items():
        lines += ["", f"## {_cell(name)}", "", "| rule | mode | code | count |", "| --- | --- | --- | ---: |"]
        lines += [f"| {d['rule']} | {d['mode']} | {d['code']} | {d['count']} |" for d in domain["decisions"]]
        for key, heading in (("top_clients", "sending address"), ("top_sender_domains", "sender domain")):
            if domain[key]:
                lines += ["", f"| refused {heading} | count |", "| --- | ---: |"]
                lines += [f"| {_cell(k)} | {n} |" for k, n in domain[key]]
    return "\n".join(lines) + "\n"
