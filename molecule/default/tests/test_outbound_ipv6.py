"""postfix_outbound_ipv6: auto (issue 16). mx12 has two IPv6 addresses: 2001:db8:d0::12 with a
forward-confirmed PTR inside d12.lab.example's SPF, and 2001:db8:d0::1212 with neither (prepare.yml).
Bound to the ready one, its mail to mx13 leaves over IPv6 from it; bound to the unready one, the role
keeps the smtp client on IPv4 and says why. mx13's own log names the source address of each message.
"""

import json
import re
import shlex
import subprocess
import time

import testinfra
from conftest import (
    LAB_MAILBOX,
    PROJECT_DIR,
    mx_address,
    mx_domain,
    mx_fqdn,
    unique_subject,
    wait_for_delivery,
)

SENDER = "v6gate-default-d12"
RECEIVER = "v6gate-default-d13"
READY = "2001:db8:d0::12"
UNREADY = "2001:db8:d0::1212"
testinfra_hosts = [f"podman://{SENDER}"]
IPV4_ONLY = re.compile(r"^\s+-o inet_protocols=ipv4$", re.MULTILINE)


SAY = "Say which way outbound mail leaves, and why"


def converge(molecule_env, extra_vars):
    """The converge play's postfix part on the sender alone, as an admin re-runs it; returns the lines
    the role printed about outbound IPv6."""
    env, inventory = molecule_env
    result = subprocess.run(
        ["ansible-playbook", "-i", inventory, str(PROJECT_DIR / "molecule" / "default" / "converge.yml"),
         "--limit", SENDER, "--tags", "postfix", "-e", json.dumps(extra_vars)],
        env=dict(env, ANSIBLE_STDOUT_CALLBACK="json"), capture_output=True, text=True, timeout=600,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    said = [result_["msg"] for play in json.loads(result.stdout)["plays"] for task in play["tasks"]
            if task["task"]["name"].endswith(SAY) for result_ in task["hosts"].values() if "msg" in result_]
    assert len(said) == 1, said  # decided once per play, though candidate.yml runs twice
    return said[0]


def send_to_the_other_mx(host, label):
    """Submit on loopback; return the source address the receiving MX logged for the message."""
    subject = unique_subject(label)
    recipient = f"{LAB_MAILBOX}@{mx_domain(RECEIVER)}"
    sender = f"ops@{mx_domain(SENDER)}"
    script = (
        "import smtplib\n"
        "from email.message import EmailMessage\n"
        "m = EmailMessage()\n"
        f"m['From'] = {sender!r}\n"
        f"m['To'] = {recipient!r}\n"
        f"m['Subject'] = {subject!r}\n"
        "m.set_content('which address did I leave from?\\n')\n"
        "with smtplib.SMTP('127.0.0.1', 25, timeout=60) as s:\n"
        f"    s.send_message(m, from_addr={sender!r}, to_addrs=[{recipient!r}])\n"
    )
    host.check_output(f"python3 -c {shlex.quote(script)}")
    receiver = testinfra.get_host(f"podman://{RECEIVER}")
    delivered = wait_for_delivery(receiver, subject, timeout=90)
    # The receiving smtpd's queue id, from the Received header it added; its log line names the client.
    by_receiver = [" ".join(str(value).split()) for value in delivered.get_all("Received", [])
                   if f" by {mx_fqdn(RECEIVER)} " in " ".join(str(value).split())]
    assert len(by_receiver) == 1, delivered.get_all("Received")
    queue_id = re.search(r"\bid ([0-9A-F]+)\b", by_receiver[0]).group(1)
    deadline = time.monotonic() + 20  # the journal may lag the delivery a little
    while True:
        log = receiver.run(f"journalctl --no-pager -t postfix/smtpd --grep {queue_id}: -o cat").stdout
        client = re.search(rf"{queue_id}: client=[^\[]*\[([0-9a-fA-F:.]+)\]", log)
        if client or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert client, f"no smtpd log line for {queue_id} on {RECEIVER}: {by_receiver[0]}"
    return client.group(1)


def test_auto_sends_over_ipv6_from_the_ready_address(host):
    master = host.file("/etc/postfix/master.cf").content_string
    assert not IPV4_ONLY.search(master), master
    assert host.run(f"ip -6 -o addr show dev eth0 | grep -F {UNREADY}/").rc == 0  # both addresses exist
    assert send_to_the_other_mx(host, "egress-ready") == READY


def test_auto_keeps_ipv4_when_only_the_unready_address_is_configured(host, molecule_env):
    said = converge(molecule_env, {"postfix_smtp_bind_address6": UNREADY})
    assert said[0] == "outbound SMTP stays on IPv4 (postfix_outbound_ipv6: auto), because:", said
    # the reasons are the receivers' own answers for that address
    assert any(line.startswith("Gmail: reject - 550 5.7.1 This message does not meet IPv6 sending guidelines")
               for line in said), said
    exchange = (f"Exchange Online (inbound IPv6): tempfail - 450 4.7.25 Service unavailable, sending IPv6 "
                f"address [{UNREADY}] must have reverse DNS record. (reverse-dns)")
    assert exchange in said, said
    master = host.file("/etc/postfix/master.cf").content_string
    assert len(IPV4_ONLY.findall(master)) == 2, master  # the smtp and relay services
    assert host.check_output("postconf -h smtp_bind_address6") == UNREADY
    assert send_to_the_other_mx(host, "egress-unready") == mx_address(SENDER, "ipv4")

    # back to the ready address: IPv6 again, and the play says from where
    said = converge(molecule_env, {})
    assert said[0] == f"outbound SMTP over IPv6 from {READY}: every receiver profile accepts it", said
    assert [line.rpartition(": ")[2] for line in said[1:]] == ["accept"] * 4, said
    assert not IPV4_ONLY.search(host.file("/etc/postfix/master.cf").content_string)
    assert send_to_the_other_mx(host, "egress-ready-again") == READY
