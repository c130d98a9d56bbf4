"""Shared helpers for the default scenario: the lab layout and real SMTP sessions.

Everything about the lab (addresses, domains) is read from molecule.yml, so the
scenario has one source of truth. Mail is sent from the controller, which sits on
the scenario network as its gateway (198.51.100.1 / 2001:db8:d0::1) and is
therefore an anonymous client outside mynetworks.
"""

import email
import email.policy
import ipaddress
import json
import os
import pathlib
import re
import shlex
import smtplib
import time
import uuid
from email.message import EmailMessage

import dkim
import pytest
import testinfra
import yaml

SCENARIO_DIR = pathlib.Path(__file__).resolve().parent.parent
PROJECT_DIR = SCENARIO_DIR.parent.parent
MOLECULE = yaml.safe_load((SCENARIO_DIR / "molecule.yml").read_text(encoding="utf-8"))
PLATFORMS = {platform["name"]: platform for platform in MOLECULE["platforms"]}
HOST_VARS = MOLECULE["provisioner"]["inventory"]["host_vars"]
MX_NAMES = sorted(name for name, platform in PLATFORMS.items() if "mx" in platform["groups"])
NS_NAME = next(name for name, platform in PLATFORMS.items() if "lab_dns" in platform["groups"])
LAB_ZONE = "lab.example"
_NETWORK = MOLECULE["driver"]["v6gate_networks"][0]
# Podman gives the gateway the first address of each subnet; that is the controller.
GATEWAY = {
    "ipv4": str(ipaddress.ip_network(_NETWORK["ipv4_subnet"])[1]),
    "ipv6": str(ipaddress.ip_network(_NETWORK["ipv6_subnet"])[1]),
}

# A sender on the fixture zones (tests/fixtures/zones/example.com.zone): its SPF
# record allows the gateway's IPv4 address but not its IPv6 address, and it
# publishes sel2048._domainkey for the fixture key rsa2048.pem.
SENDER_DOMAIN = "example.com"
SENDER_SELECTOR = b"sel2048"
SENDER_KEY = PROJECT_DIR / "tests" / "fixtures" / "dkim" / "rsa2048.pem"
LAB_MAILBOX = "labmail"
CLIENT_HELO = "client.lab.example"
# Instances configured with a user-supplied certificate (prepare.yml makes it),
# by instance name -> the certificate's common name. The others use the role's
# self-signed default, whose common name is the host name.
USER_CERT_CN = {
    name: "user-supplied.lab.example" for name, hv in HOST_VARS.items() if hv.get("postfix_tls_cert_file")
}
# The header recording test milter (files/header_recorder.py), attached as gate milter.
RECORDER_DIR = "/var/lib/header-recorder"


def mx_address(name, family):
    """IPv4 or IPv6 address of an instance, as configured in molecule.yml."""
    platform = PLATFORMS[name]
    if family == "ipv4":
        return platform["ip"]
    option = next(opt for opt in platform["extra_opts"] if opt.startswith("--ip6="))
    return option.split("=", 1)[1]


def mx_domain(name):
    """The accepted (relay) domain of an MX instance."""
    return HOST_VARS[name]["postfix_relay_domains"][0]


def mx_signing(name):
    """(domain, selector) the MX instance signs with."""
    entry = HOST_VARS[name]["opendkim_signing_domains"][0]
    return entry["domain"], entry["selector"]


def mx_fqdn(name):
    """FQDN of an instance, which is also its authserv-id."""
    return PLATFORMS[name]["hostname"]


def other_mx(name):
    return next(other for other in MX_NAMES if other != name)


def unique_subject(label):
    return f"v6gate-{label}-{uuid.uuid4().hex[:12]}"


def build_message(sender, recipient, subject, extra_headers=()):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = f"<{subject}@{sender.split('@')[1]}>"
    for name, value in extra_headers:
        message[name] = value
    message.set_content("Test message of the v6gate default scenario.\n")
    return message.as_bytes()


def dkim_sign(raw, domain=SENDER_DOMAIN, selector=SENDER_SELECTOR, key_path=SENDER_KEY):
    signature = dkim.sign(
        raw,
        selector,
        domain.encode(),
        key_path.read_bytes(),
        include_headers=[b"from", b"to", b"subject", b"message-id"],
    )
    return signature + raw


class SmtpRefused(Exception):
    """The server refused the envelope or the message; carries the reply."""

    def __init__(self, code, text):
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


def smtp_send(address, mail_from, rcpt, raw, starttls=True):
    """One SMTP transaction from the controller; raises SmtpRefused on 4xx/5xx."""
    with smtplib.SMTP(address, 25, local_hostname=CLIENT_HELO, timeout=60) as client:
        client.ehlo()
        if starttls:
            client.starttls()
            client.ehlo()
        code, reply = client.mail(mail_from)
        if code >= 400:
            raise SmtpRefused(code, reply.decode())
        code, reply = client.rcpt(rcpt)
        if code >= 400:
            raise SmtpRefused(code, reply.decode())
        code, reply = client.data(raw)
        if code >= 400:
            raise SmtpRefused(code, reply.decode())


def wait_for_delivery(host, subject, timeout=60):
    """Return the delivered message (email.message.Message) whose Subject is subject."""
    maildir = f"/home/{LAB_MAILBOX}/Maildir/new"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = host.run(f"grep -l -F -x 'Subject: {subject}' {maildir}/* 2>/dev/null | head -n 1")
        path = found.stdout.strip()
        if path:
            raw = host.file(path).content
            return email.message_from_bytes(raw, policy=email.policy.compat32)
        time.sleep(1)
    log = host.run(
        "journalctl -n 40 --no-pager -t postfix/smtpd -t postfix/local -t postfix/smtp -t opendkim"
    )
    pytest.fail(f"message {subject!r} not delivered on {host.backend.get_hostname()}:\n{log.stdout}")


def recorded_by_gate_milter(host, subject):
    """Header fields the gate milter was shown for the message, or None if it saw none."""
    path = f"{RECORDER_DIR}/{re.sub(r'[^A-Za-z0-9_-]', '_', subject)}.json"
    record = host.file(path)
    if not record.exists:
        return None
    return json.loads(record.content_string)


def header_values(message, name):
    return [" ".join(str(value).split()) for value in message.get_all(name, [])]


@pytest.fixture(scope="session")
def published_dkim_keys():
    """Publish each MX instance's generated DKIM record in the lab zone, like an admin would.

    The record text comes from the file the opendkim role tells the user to
    publish; Knot serves it, so receivers look it up through real DNS.
    """
    ns = testinfra.get_host(f"podman://{NS_NAME}")
    ns.check_output(f"knotc zone-begin {LAB_ZONE}")
    try:
        for name in MX_NAMES:
            domain, selector = mx_signing(name)
            stub = (
                testinfra.get_host(f"podman://{name}")
                .file(f"/etc/opendkim/keys/{domain}/{selector}.txt")
                .content_string
            )
            rdata = " ".join(re.findall(r'"[^"]*"', stub[stub.index("(") : stub.rindex(")")]))
            owner = f"{selector}._domainkey.{domain.removesuffix('.' + LAB_ZONE)}"
            ns.check_output(f"knotc zone-unset {LAB_ZONE} {owner} TXT || true")
            ns.check_output(f"knotc zone-set {LAB_ZONE} {owner} 60 TXT {shlex.quote(rdata)}")
        ns.check_output(f"knotc zone-commit {LAB_ZONE}")
    except Exception:
        ns.run(f"knotc zone-abort {LAB_ZONE}")
        raise
    return {name: mx_signing(name) for name in MX_NAMES}


@pytest.fixture(scope="session")
def molecule_env():
    """Environment and inventory for running ansible-playbook like Molecule does."""
    inventory = pathlib.Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    env = dict(os.environ)
    env.setdefault("ANSIBLE_ROLES_PATH", str(PROJECT_DIR / "roles"))
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(PROJECT_DIR / "collections"))
    config = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")) / "ansible.cfg"
    if config.is_file():
        env["ANSIBLE_CONFIG"] = str(config)
    return env, str(inventory)
