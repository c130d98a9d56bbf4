#!/usr/bin/env python3
"""Prove the IPv6 gate over real SMTP: every case asserts the exact reply lines a client sees.

Runs on the controller against molecule/ipv6_inbound or any topology with the same
names: a sender container that can send from the lab's addresses and an mx container running Postfix,
OpenDKIM and the gate. Prints a transcript; exit status 1 if any case fails.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
import uuid

NET6 = "2001:db8:b0"
MX6, MX4 = f"{NET6}::25", "198.51.100.181"
TX_GOOD, TX_NOPTR, TX_LIAR, TX_PARTNER, TX_FRESH, TX_SLOW = (f"{NET6}::{n}" for n in (10, 11, 12, 13, 14, 15))
TX4 = "198.51.100.182"
AUTHSERV_ID = "mx.gate.example"
OK_RCPT = "250 2.1.5 Ok"
# SASL account of molecule/ipv6_inbound (postfix_sasl_users); a lab-only password
SASL_USER, SASL_PASSWORD = "alice@contoso.example", "lab-only-Passw0rd"
AUTH_OK = "235 2.7.0 Authentication successful"


def r4725(address):
    return f"450 4.7.25 Service unavailable, sending IPv6 address [{address}] must have reverse DNS record."


def r4726(address):
    return (
        f"450 4.7.26 Service unavailable, message sent over IPv6 [{address}] "
        "must pass either SPF or DKIM validation."
    )


def r521(domain):
    return f"550 5.2.1 Service unavailable, [{domain}] does not accept email over IPv6."


class Lab:
    def __init__(self, prefix: str) -> None:
        self.tx, self.mx, self.ns = f"{prefix}-tx", f"{prefix}-mx", f"{prefix}-ns"
        self.failures: list[str] = []

    def sh(self, container: str, command: str, check: bool = True) -> str:
        done = subprocess.run(
            ["podman", "exec", container, "bash", "-c", command], capture_output=True, text=True, timeout=180
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{container}: {command}: {done.stderr.strip()}")
        return done.stdout

    def send(
        self,
        source,
        helo="tx1.sender.example",
        mail_from="a@sender.example",
        rcpts=("user@contoso.example",),
        server=MX6,
        sign=None,
        headers=(),
        subject=None,
        port=25,
        starttls=False,
        auth_user=None,
        password=SASL_PASSWORD,
    ) -> dict:
        args = [
            "python3",
            "/usr/local/bin/smtp_case.py",
            "--server",
            server,
            "--source",
            source,
            "--helo",
            helo,
            "--mail-from",
            mail_from,
            "--subject",
            subject or f"gate-lab {uuid.uuid4()}",
        ]
        for rcpt in rcpts:
            args += ["--rcpt", rcpt]
        for header in headers:
            args += ["--header", header]
        if sign:
            args += ["--sign", f"{sign}:s1:/root/s1.pem"]
        args += ["--port", str(port)] + (["--starttls"] if starttls else [])
        if auth_user:
            args = ["env", f"SMTP_AUTH_PASSWORD={password}", *args, "--auth-user", auth_user]
        return json.loads(self.sh(self.tx, shlex.join(args)))

    def case(
        self, title: str, result: dict, rcpt=None, data=None, data_prefix=None, mail_prefix=None, auth=None
    ) -> dict:
        problems = []
        if "error" in result:
            problems.append(result["error"])
        if auth is not None and result.get("auth") != auth:
            problems.append(f"AUTH reply {result.get('auth')!r} != {auth!r}")
        if mail_prefix is not None and not result.get("mail", "").startswith(mail_prefix):
            problems.append(f"MAIL reply {result.get('mail')!r} does not start with {mail_prefix!r}")
        if rcpt is not None and result.get("rcpt") != list(rcpt):
            problems.append(f"RCPT replies {result.get('rcpt')} != {list(rcpt)}")
        if data is not None and result.get("data") != data:
            problems.append(f"DATA reply {result.get('data')!r} != {data!r}")
        if data_prefix is not None and not str(result.get("data", "")).startswith(data_prefix):
            problems.append(f"DATA reply {result.get('data')!r} does not start with {data_prefix!r}")
        status = "FAIL" if problems else "ok  "
        print(f"[{status}] {title}")
        if "auth" in result:
            print(f"         AUTH -> {result['auth']}")
        if not result.get("mail", "").startswith("250"):
            print(f"         MAIL -> {result.get('mail')}")
        for line in result.get("rcpt", []):
            print(f"         RCPT -> {line}")
        if "data" in result:
            print(f"         DATA -> {result['data']}")
        for problem in problems:
            print(f"         !! {problem}")
            self.failures.append(f"{title}: {problem}")
        return result

    def delivered(self, subject: str, timeout: float = 15.0) -> str:
        """Headers of the delivered message with this subject, from an mbox or a Maildir of user 'user'."""
        mark = "=====v6gate-message====="
        command = (
            f"sed 's/^From /{mark}\\n&/' /var/mail/user 2>/dev/null; "
            "for f in ~user/Maildir/new/* ~user/Maildir/cur/*; do "
            f'[ -f "$f" ] && echo {mark} && cat "$f"; done; true'
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.sh(self.mx, command).split(mark)[::-1]:
                if f"Subject: {subject}" in message:
                    return message.strip("\n").split("\n\n", 1)[0]
            time.sleep(0.5)
        return ""

    def check(self, title: str, ok: bool, failure: str) -> None:
        """A yes/no finding: printed like a case; failure is recorded when it does not hold."""
        print(f"[{'ok  ' if ok else 'FAIL'}] {title}")
        if not ok:
            print(f"         !! {failure}")
            self.failures.append(failure)

    def expect_ours_only(self, title: str, subject: str, may_have_none: bool = False) -> None:
        """At most one Authentication-Results with our id (the gate's: exactly one unless the client was
        exempt from verification), and nothing a sender forged."""
        headers = self.delivered(subject).replace("\n\t", " ").replace("\n ", " ").split("\n")
        claims = [
            h
            for h in headers
            if h.lower().startswith("authentication-results:")
            and ("gate.example" in h.lower() or "mx.gate" in h.lower())
        ]
        forged = [h for h in claims if "spffail.sender.example" in h or "x.y=z" in h]
        ok = not forged and (len(claims) == 1 or (may_have_none and not claims))
        self.check(
            f"{title}: only the gate's own Authentication-Results reached the mailbox",
            ok,
            f"{title}: headers claiming our id: {claims}",
        )

    def expect_no_monitor_header(self, title: str, subject: str) -> None:
        headers = self.delivered(subject).lower()
        self.check(f"{title}: no X-V6gate-Monitor header (the sender's are removed)",
                   "x-v6gate-monitor" not in headers, f"{title}: an X-V6gate-Monitor header was delivered")

    def expect_headers(self, title: str, subject: str, needles: list[str]) -> None:
        headers = self.delivered(subject).replace("\n\t", " ").replace("\n ", " ")
        missing = [n for n in needles if n not in headers]
        print(f"[{'FAIL' if missing else 'ok  '}] {title}")
        for needle in needles:
            print(f"         {'!! missing ' if needle in missing else 'has '}{needle}")
        if missing:
            self.failures.append(f"{title}: missing {missing}")


# Authentication-Results a sender writes to be read as ours: every syntax a review got past a regexp.
FORGED = [
    f"{AUTHSERV_ID}; dkim=pass header.d=spffail.sender.example",
    f"{AUTHSERV_ID}; spf=pass smtp.mailfrom=spffail.sender.example",
    f"(x) (y) {AUTHSERV_ID}; dkim=pass header.d=spffail.sender.example x.y=z",
    f'"{AUTHSERV_ID}"; spf=pass smtp.mailfrom=spffail.sender.example',
    f"(a (nested) comment) {AUTHSERV_ID}; dkim=pass header.d=spffail.sender.example",
    f"(escaped \\) paren) {AUTHSERV_ID}; spf=pass smtp.mailfrom=spffail.sender.example",
    "mx.gate (split) .example; dkim=pass header.d=spffail.sender.example",
]
# The review's signature: no key exists for s9, and its i= decodes to text that reads "dkim=pass".
CRAFTED_SIGNATURE = (
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=sender.example; s=s9; "
    "i=x=3Bdkim=3Dpass=20@sender.example; h=from:to:subject; bh=AAAA; b=AAAA"
)


def attacks(lab: Lab) -> None:
    """What a hostile sender controls (headers, tags) never turns into an accept or into our verdict."""
    print("== a hostile sender")
    lab.case(
        "the crafted i= signature with SPF fail: 4.7.26",
        lab.send(TX_GOOD, mail_from="a@spffail.sender.example", headers=[CRAFTED_SIGNATURE]),
        rcpt=[OK_RCPT],
        data=r4726(TX_GOOD),
    )
    for number, forged in enumerate(FORGED, start=1):
        lab.case(
            f"forged Authentication-Results #{number} on an unsigned SPF-failing message: 4.7.26",
            lab.send(
                TX_GOOD, mail_from="a@spffail.sender.example", headers=[f"Authentication-Results: {forged}"]
            ),
            rcpt=[OK_RCPT],
            data=r4726(TX_GOOD),
        )
    # First a harmless lower-case one that is not ours: Postfix counts header names in any case, so a
    # gate counting per spelling would delete it and keep a forgery below.
    forgeries = ["authentication-results: other.example; spf=pass smtp.mailfrom=other.example"]
    forgeries += [f"Authentication-Results: {forged}" for forged in FORGED]
    forgeries += [f"X-V6gate-Monitor: {AUTHSERV_ID}; mode=monitor; rule=accept", "x-v6gate-monitor: forged"]
    for title, source, server, options in (
        ("accepted over IPv6", TX_GOOD, MX6, {}),
        ("over IPv4", TX4, MX4, {}),
        ("from the trusted partner network", TX_PARTNER, MX6, {}),
        (
            "from an authenticated client",
            TX_NOPTR,
            MX6,
            {"starttls": True, "auth_user": SASL_USER, "mail_from": SASL_USER},
        ),
    ):
        s = f"gate-lab forged {uuid.uuid4()}"
        lab.case(
            f"forged Authentication-Results on mail {title}: delivered",
            lab.send(source, server=server, subject=s, headers=forgeries, **options),
            rcpt=[OK_RCPT],
            data_prefix="250 ",
        )
        lab.expect_ours_only(f"mail {title}", s, may_have_none=bool(options))
        lab.expect_no_monitor_header(f"mail {title}", s)
    since = lab.sh(lab.mx, "date +%s").strip()
    lab.case(
        "a quoted local part full of log fields: 5.2.1",
        lab.send(TX_GOOD, rcpts=['"x rule=accept reply=accept"@fabrikam.example']),
        rcpt=[r521("fabrikam.example")],
    )
    journal = lab.sh(lab.mx, f"journalctl -u v6gate-gate --since @{since} -o cat --no-pager")
    lines = [line for line in journal.splitlines() if "rule=opt-in" in line and "fabrikam" in line]
    escaped = bool(lines) and all(line.count(" rule=") == 1 and "%20rule%3Daccept" in line for line in lines)
    lab.check("its decision line has one rule= field, the rest escaped", escaped, f"log lines: {lines}")


def run(lab: Lab, slow: bool) -> None:
    print("== rules over IPv6")
    s = f"gate-lab spf-pass {uuid.uuid4()}"
    lab.case(
        "SPF pass without DKIM is accepted", lab.send(TX_GOOD, subject=s), rcpt=[OK_RCPT], data_prefix="250 "
    )
    lab.expect_headers(
        "accepted message carries the gate's Authentication-Results, the only one with our id",
        s,
        [
            f"Authentication-Results: {AUTHSERV_ID}; iprev=pass policy.iprev={TX_GOOD} (tx1.sender.example); "
            "spf=pass smtp.mailfrom=sender.example; dkim=none",
        ],
    )
    lab.expect_ours_only("the accepted message", s)
    s = f"gate-lab dkim-pass {uuid.uuid4()}"
    lab.case(
        "DKIM pass with SPF fail is accepted",
        lab.send(TX_GOOD, mail_from="a@dkimonly.sender.example", sign="dkimonly.sender.example", subject=s),
        rcpt=[OK_RCPT],
        data_prefix="250 ",
    )
    lab.expect_headers(
        "the gate verified the signature itself and records both verdicts",
        s,
        [
            "spf=fail smtp.mailfrom=dkimonly.sender.example; "
            "dkim=pass header.d=dkimonly.sender.example header.s=s1",
        ],
    )
    lab.expect_ours_only("the DKIM-passing message", s)
    lab.case("no reverse DNS: 4.7.25", lab.send(TX_NOPTR), rcpt=[r4725(TX_NOPTR)])
    lab.case(
        "neither SPF nor DKIM: 4.7.26",
        lab.send(TX_GOOD, mail_from="a@spffail.sender.example"),
        rcpt=[OK_RCPT],
        data=r4726(TX_GOOD),
    )
    attacks(lab)
    lab.case(
        "recipient domain not opted in: 5.2.1, the other recipient accepted",
        lab.send(TX_GOOD, rcpts=["user@fabrikam.example", "user@contoso.example"]),
        rcpt=[r521("fabrikam.example"), OK_RCPT],
        data_prefix="250 ",
    )
    lab.case(
        "uppercase recipient domains: matched case-insensitively, reply shows the configured name",
        lab.send(TX_GOOD, rcpts=["user@CONTOSO.EXAMPLE", "user@FABRIKAM.Example"]),
        rcpt=[OK_RCPT, r521("fabrikam.example")],
        data_prefix="250 ",
    )
    lab.case(
        "opt-in is judged before reverse DNS (5.2.1 even without PTR)",
        lab.send(TX_NOPTR, rcpts=["user@fabrikam.example"]),
        rcpt=[r521("fabrikam.example")],
    )
    lab.case(
        "null sender: SPF on the HELO name",
        lab.send(TX_GOOD, mail_from=""),
        rcpt=[OK_RCPT],
        data_prefix="250 ",
    )
    lab.case(
        "PTR that does not resolve back is enough under the 'exists' policy",
        lab.send(TX_LIAR),
        rcpt=[OK_RCPT],
        data_prefix="250 ",
    )

    conf = "/etc/v6gate/ipv6-gate.conf"
    policy = (
        "sed -i 's/^ptr_policy = .*/ptr_policy = {}/' "
        + conf
        + " && systemctl restart v6gate-gate && sleep 1"
    )
    lab.sh(lab.mx, policy.format("fcrdns"))
    try:
        lab.case("the same PTR under the 'fcrdns' policy: 4.7.25", lab.send(TX_LIAR), rcpt=[r4725(TX_LIAR)])
    finally:
        lab.sh(lab.mx, policy.format("exists"))

    print("== exempt clients")
    lab.case(
        "trusted partner network: no rule applies",
        lab.send(TX_PARTNER, mail_from="a@spffail.sender.example", rcpts=["user@fabrikam.example"]),
        rcpt=[OK_RCPT],
        data_prefix="250 ",
    )
    lab.case(
        # (an SPF-failing sender would meet policyd-spf's IPv4 rejection, which is not the gate's business)
        "over IPv4 the opt-in rule does not apply: a domain that has not opted in is accepted",
        lab.send(TX4, server=MX4, rcpts=["user@fabrikam.example"]),
        rcpt=[OK_RCPT],
        data_prefix="250 ",
    )

    print("== authenticated clients (SMTP AUTH after STARTTLS)")
    since = lab.sh(lab.mx, "date +%s").strip()
    lab.case(
        "port 25, authenticated, over IPv6 without reverse DNS, to a domain not opted in: accepted",
        lab.send(
            TX_NOPTR,
            mail_from=SASL_USER,
            rcpts=["user@fabrikam.example"],
            starttls=True,
            auth_user=SASL_USER,
        ),
        auth=AUTH_OK,
        rcpt=[OK_RCPT],
        data_prefix="250 ",
    )
    exempt = f"exempt client={TX_NOPTR} reason=authenticated user={SASL_USER}"
    logged = exempt in lab.sh(lab.mx, f"journalctl -u v6gate-gate --since @{since} -o cat --no-pager")
    lab.check(f"the gate saw the session and logged '{exempt}'", logged, f"gate log lacks {exempt!r}")
    lab.case(
        "submission (587), authenticated, the same client and message: accepted",
        lab.send(
            TX_NOPTR,
            mail_from=SASL_USER,
            rcpts=["user@fabrikam.example"],
            port=587,
            starttls=True,
            auth_user=SASL_USER,
        ),
        auth=AUTH_OK,
        rcpt=[OK_RCPT],
        data_prefix="250 ",
    )
    lab.case(
        "an authenticated login sending as another user of ours: refused (it stays in its lane)",
        lab.send(
            TX_NOPTR,
            mail_from="bob@contoso.example",
            port=587,
            starttls=True,
            auth_user=SASL_USER,
        ),
        auth=AUTH_OK,
        rcpt=[f"553 5.7.1 <bob@contoso.example>: Sender address rejected: not owned by user {SASL_USER}"],
    )
    lab.case(
        "submission without AUTH: refused",
        lab.send(TX_GOOD, port=587, starttls=True),
        rcpt=[f"554 5.7.1 <tx1.sender.example[{TX_GOOD}]>: Client host rejected: Access denied"],
    )
    lab.case(
        "wrong password: 535 5.7.8, and the client stays anonymous (the gate applies: 4.7.25)",
        lab.send(TX_NOPTR, starttls=True, auth_user=SASL_USER, password="wrong-password"),
        auth="535 5.7.8 Error: authentication failed: authentication failure",
        rcpt=[r4725(TX_NOPTR)],
    )

    # postfix_sasl_auth_rate_limit (10 a minute); anvil counts per client and service, and no other
    # case sends AUTH from this address on port 587.
    replies = [
        lab.send(TX_GOOD, port=587, starttls=True, auth_user=SASL_USER, password=f"guess-{n}").get("auth", "")
        for n in range(12)
    ]
    throttled = "450 4.7.1 Error: too many AUTH commands from " + TX_GOOD
    # Postfix 3.10 counts a couple more of this client's events in the minute than 3.7 does, so the
    # promise tested is the limit: some guesses answered, never more than 10, then throttled.
    answered = [r for r in replies if r.startswith("535 ")]
    lab.check(
        "password guessing is throttled: at most 10 AUTH commands a minute, then 450 4.7.1",
        replies[0].startswith("535 ") and len(answered) <= 10 and replies[-1] == throttled
        and replies[len(answered) :] == [throttled] * (len(replies) - len(answered)),
        f"AUTH replies: {replies}",
    )

    print("== opt-in list changes without a restart")
    pid = lab.sh(lab.mx, "systemctl show -p MainPID --value v6gate-gate").strip()
    optin = "/etc/v6gate/ipv6-optin-domains"
    # As the writers do it: the domain goes before a new trailer that counts it, then one rename.
    lab.sh(
        lab.mx,
        f"cp -p {optin} /root/optin.saved && cp -p {optin} {optin}.new && "
        f"sed -i '/^# v6gate-optin end:/d' {optin}.new && echo fabrikam.example >> {optin}.new && "
        f"n=$(grep -cv '^[[:space:]]*\\(#\\|$\\|model \\)' {optin}.new) && "
        f"echo \"# v6gate-optin end: $n domain(s)\" >> {optin}.new && mv {optin}.new {optin}",
    )
    lab.case(
        "domain added to the opt-in file is accepted at once",
        lab.send(TX_GOOD, rcpts=["user@fabrikam.example"]),
        rcpt=[OK_RCPT],
        data_prefix="250 ",
    )
    lab.sh(lab.mx, f"cp -p /root/optin.saved {optin}.new && mv {optin}.new {optin}")
    lab.case(
        "and refused again once removed",
        lab.send(TX_GOOD, rcpts=["user@fabrikam.example"]),
        rcpt=[r521("fabrikam.example")],
    )
    # The review's accident: a list loaded half-written emptied itself and every recipient got 5.2.1.
    lab.sh(lab.mx, f"head -n 3 /root/optin.saved > {optin}.new && mv {optin}.new {optin}")
    lab.case(
        "a half-written opt-in file (no trailer) is refused: the last good list stays in force",
        lab.send(TX_GOOD),
        rcpt=[OK_RCPT],
        data_prefix="250 ",
    )
    lab.sh(lab.mx, f"cp -p /root/optin.saved {optin}.new && mv {optin}.new {optin}")
    same = lab.sh(lab.mx, "systemctl show -p MainPID --value v6gate-gate").strip() == pid
    lab.check(f"the gate was not restarted (pid {pid})", same, "opt-in change restarted the gate")

    domain_states(lab)

    print("== failures give 4xx, never an accept or a 5xx")
    lab.sh(lab.mx, "systemctl stop v6gate-gate")
    try:
        # Postfix cannot reach the milter and applies milter_default_action = tempfail
        lab.case("gate stopped: temporary failure", lab.send(TX_GOOD), mail_prefix="451 4.7.1 ")
    finally:
        lab.sh(lab.mx, "systemctl start v6gate-gate && sleep 1")
    optin = "/etc/v6gate/ipv6-optin-domains"
    lab.sh(lab.mx, f"mv {optin} /root/optin.away && systemctl restart v6gate-gate && sleep 1")
    try:
        lab.case(
            "no usable opt-in list: the gate answers its own 451, never 5.2.1",
            lab.send(TX_GOOD),
            rcpt=["451 4.3.0 Service unavailable, IPv6 gate could not check this message, try again later."],
        )
    finally:
        lab.sh(lab.mx, f"mv /root/optin.away {optin} && sleep 0.2")
    lab.case("and the list is picked up as soon as it is back", lab.send(TX_GOOD), rcpt=[OK_RCPT])
    if slow:
        deadline_case(lab)
        lab.sh(lab.ns, "systemctl stop knot")
        try:
            lab.case(
                "DNS server stopped: 451 4.4.3 for the PTR lookup",
                lab.send(TX_FRESH),
                rcpt=[
                    f"451 4.4.3 Service unavailable, reverse DNS lookup for IPv6 address [{TX_FRESH}] "
                    "failed temporarily, try again later."
                ],
            )
        finally:
            lab.sh(lab.ns, "systemctl start knot")


DOMAINS_FILE = "/etc/v6gate/ipv6-optin-domains"
METRICS_FILE = "/var/lib/v6gate-gate/metrics/v6gate_gate.prom"


def write_domains(lab: Lab, *lines: str) -> None:
    """Replace the gate's domains file as the writers do: the whole file with its trailer, then a rename."""
    count = sum(1 for line in lines if not line.startswith("model "))
    text = "".join(f"{line}\n" for line in lines) + f"# v6gate-optin end: {count} domain(s)\n"
    new = f"{DOMAINS_FILE}.new"
    lab.sh(lab.mx, f"printf %s {shlex.quote(text)} > {new} && chgrp v6gate-gate {new} && chmod 0640 {new} "
                   f"&& mv {new} {DOMAINS_FILE}")


def counter(lab: Lab, labels: str, timeout: float = 20.0, above: float = 0.0) -> float:
    """The value of one v6gate_gate_decisions_total sample, once it is above ``above`` (the file is
    rewritten every ipv6_gate_metrics_interval seconds)."""
    deadline = time.monotonic() + timeout
    value = 0.0
    while time.monotonic() < deadline:
        for line in lab.sh(lab.mx, f"cat {METRICS_FILE}", check=False).splitlines():
            if line.startswith(f"v6gate_gate_decisions_total{{{labels}}} "):
                value = float(line.rsplit(" ", 1)[1])
        if value > above:
            return value
        time.sleep(1)
    return value


def domain_states(lab: Lab) -> None:
    """Monitor mode and the opt-out model (issue 15), switched in the domains file without a restart."""
    print("== per-domain states: monitor, and the opt-out model")
    pid = lab.sh(lab.mx, "systemctl show -p MainPID --value v6gate-gate").strip()
    lab.sh(lab.mx, f"cp -p {DOMAINS_FILE} /root/domains.saved")
    would_labels = 'rule="spf-dkim",code="450",mode="monitor",domain="contoso.example"'
    try:
        before = counter(lab, would_labels, timeout=0)
        write_domains(lab, "model opt-in", "Contoso.Example monitor")
        since = lab.sh(lab.mx, "date +%s").strip()
        s = f"gate-lab monitor {uuid.uuid4()}"
        lab.case(
            "monitor: a message failing SPF and DKIM is accepted",
            lab.send(TX_GOOD, mail_from="a@spffail.sender.example", subject=s),
            rcpt=[OK_RCPT],
            data_prefix="250 ",
        )
        lab.expect_headers(
            "it carries the gate's X-V6gate-Monitor header with the reply it would have given",
            s,
            [f'X-V6gate-Monitor: {AUTHSERV_ID}; mode=monitor; rule=spf-dkim; would-reply="{r4726(TX_GOOD)}"'],
        )
        journal = lab.sh(lab.mx, f"journalctl -u v6gate-gate --since @{since} -o cat --no-pager")
        logged = ('rule=spf-dkim sender_domain=spffail.sender.example domains=contoso.example '
                  f'reply="accept" would_reply="{r4726(TX_GOOD)}" mode=monitor')
        lab.check("its decision line says what would have been replied", logged in journal,
                  f"gate log lacks {logged!r}")
        after = counter(lab, would_labels, above=before)
        lab.check(f"the would-be refusal is counted ({before:.0f} -> {after:.0f}) in {METRICS_FILE}",
                  after == before + 1, f"counter {would_labels}: {before} -> {after}")
        lab.case(
            "monitor: no reverse DNS is accepted too (a would-be 4.7.25)",
            lab.send(TX_NOPTR),
            rcpt=[OK_RCPT],
            data_prefix="250 ",
        )
        lab.case(
            "monitor: a domain not listed is still off under opt-in: 5.2.1",
            lab.send(TX_GOOD, rcpts=["user@fabrikam.example"]),
            rcpt=[r521("fabrikam.example")],
        )

        write_domains(lab, "model opt-out", "fabrikam.example off")
        lab.case(
            "opt-out: the domain turned off gets 5.2.1, an unlisted accepted domain is enabled",
            lab.send(TX_GOOD, rcpts=["user@fabrikam.example", "user@unready.example"]),
            rcpt=[r521("fabrikam.example"), OK_RCPT],
            data_prefix="250 ",
        )
        lab.case(
            "opt-out: an enabled domain still enforces the rules (4.7.26)",
            lab.send(TX_GOOD, mail_from="a@spffail.sender.example"),
            rcpt=[OK_RCPT],
            data=r4726(TX_GOOD),
        )
        lab.case("opt-out: and 4.7.25 without reverse DNS", lab.send(TX_NOPTR), rcpt=[r4725(TX_NOPTR)])
    finally:
        lab.sh(lab.mx, f"cp -p /root/domains.saved {DOMAINS_FILE}.new && mv {DOMAINS_FILE}.new "
                       f"{DOMAINS_FILE}")
    lab.case("the saved list is back in force", lab.send(TX_GOOD, rcpts=["user@fabrikam.example"]),
             rcpt=[r521("fabrikam.example")])
    same = lab.sh(lab.mx, "systemctl show -p MainPID --value v6gate-gate").strip() == pid
    lab.check(f"the model and the states changed without a restart (pid {pid})", same,
              "a domains file change restarted the gate")


def deadline_case(lab: Lab) -> None:
    """A PTR with 10 names whose AAAA never answer (the gate's relay drops them): without one deadline per
    decision the gate would wait 10 x its lookup limit, Postfix would give up at milter_command_timeout
    (30 s) and answer 451 4.7.1 for the gate. Under "exists" the PTR is enough, so the answer is 250."""
    limit = int(lab.sh(lab.mx, "postconf -h milter_command_timeout").strip().rstrip("s"))
    started = time.monotonic()
    lab.case(
        "a PTR with 10 names whose AAAA never answer: decided within the deadline, accepted",
        lab.send(TX_SLOW),
        rcpt=[OK_RCPT],
        data_prefix="250 ",
    )
    took = time.monotonic() - started
    lab.check(
        f"the transaction took {took:.1f} s: the lookups waited, and stopped at the deadline below {limit} s",
        15 <= took < limit,
        f"slow PTR transaction took {took:.1f} s (expected the gate's 20 s deadline, under {limit} s)",
    )
    journal = lab.sh(lab.mx, "journalctl -u v6gate-gate --no-pager -o cat")
    lines = [line for line in journal.splitlines() if f"client={TX_SLOW} rule=accept" in line]
    lab.check(
        "the gate's decision line says iprev=temperror (no name confirmed in time)",
        bool(lines) and "iprev=temperror" in lines[-1],
        f"decision line for {TX_SLOW}: {lines[-1:]}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefix", default="ipv6in", help="container name prefix (ipv6in)")
    parser.add_argument("--fast", action="store_true", help="skip the DNS outage case (waits for timeouts)")
    args = parser.parse_args()
    lab = Lab(args.prefix)
    run(lab, slow=not args.fast)
    print(f"== {len(lab.failures)} failure(s)")
    return 1 if lab.failures else 0


if __name__ == "__main__":
    sys.exit(main())
