"""Real SMTP sessions against the converged mail stack (postfix, opendkim, policyd_spf)."""

import json
import shlex
import smtplib
import ssl
import subprocess

import pytest
import testinfra
from conftest import (
    CLIENT_HELO,
    GATEWAY,
    LAB_MAILBOX,
    MX_NAMES,
    PROJECT_DIR,
    SENDER_DOMAIN,
    USER_CERT_CN,
    SmtpRefused,
    build_message,
    dkim_sign,
    header_values,
    mx_address,
    mx_domain,
    mx_fqdn,
    mx_signing,
    other_mx,
    recorded_by_gate_milter,
    smtp_send,
    unique_subject,
    wait_for_delivery,
)
from cryptography import x509

testinfra_hosts = [f"podman://{name}" for name in MX_NAMES]

# Reads the certificate without trusting it: lab certificates are self-made.
LAB_TLS_CONTEXT = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
LAB_TLS_CONTEXT.check_hostname = False
LAB_TLS_CONTEXT.verify_mode = ssl.CERT_NONE

FAMILIES = ["ipv4", "ipv6"]


def instance(host):
    return host.backend.get_hostname()


def our_authentication_results(message, authserv_id):
    prefix = authserv_id.lower()
    return [
        value
        for value in header_values(message, "Authentication-Results")
        if value.lower().split(";", 1)[0].strip() == prefix
    ]


def test_services_running_and_enabled(host):
    for service in ("postfix", "opendkim"):
        assert host.service(service).is_running, service
        assert host.service(service).is_enabled, service


def test_smtp_listens_on_ipv4_and_ipv6_wildcards(host):
    assert host.socket("tcp://0.0.0.0:25").is_listening
    assert host.socket("tcp://:::25").is_listening


def test_starttls_offers_the_configured_certificate(host):
    """Self-signed default on one instance, a user-supplied certificate on the other."""
    name = instance(host)
    with smtplib.SMTP(mx_address(name, "ipv6"), 25, local_hostname=CLIENT_HELO, timeout=30) as client:
        client.starttls(context=LAB_TLS_CONTEXT)
        der = client.sock.getpeercert(binary_form=True)
    subject = x509.load_der_x509_certificate(der).subject
    common_name = subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert common_name == USER_CERT_CN.get(name, mx_fqdn(name))


# opendkim_socket_type per instance (molecule.yml): TCP on d12, the default Unix socket on d13.
OPENDKIM_SOCKET_TYPE = {"v6gate-default-d12": "inet", "v6gate-default-d13": "unix"}


def test_opendkim_listens_where_its_socket_type_says(host):
    sock = host.file("/run/opendkim/opendkim.sock")
    milters = host.check_output("postconf -h smtpd_milters")
    if OPENDKIM_SOCKET_TYPE[instance(host)] == "unix":
        assert sock.is_socket
        assert (sock.user, sock.group) == ("opendkim", "opendkim")
        assert sock.mode & 0o007 == 0, oct(sock.mode)  # no access for others
        assert host.file("/run/opendkim").mode & 0o007 == 0
        assert "opendkim" in host.user("postfix").groups
        assert not host.socket("tcp://127.0.0.1:8891").is_listening
        assert milters.startswith("unix:/run/opendkim/opendkim.sock")
    else:
        assert not sock.exists
        assert host.socket("tcp://127.0.0.1:8891").is_listening
        assert "opendkim" not in host.user("postfix").groups
        assert milters.startswith("inet:127.0.0.1:8891")


def test_opendkim_private_keys_are_private(host):
    domain, selector = mx_signing(instance(host))
    key = host.file(f"/etc/opendkim/keys/{domain}/{selector}.private")
    assert key.is_file
    assert key.user == "opendkim"
    assert key.group == "opendkim"
    assert key.mode == 0o600
    record = host.file(f"/etc/opendkim/keys/{domain}/{selector}.txt")
    assert "v=DKIM1" in record.content_string


@pytest.mark.parametrize("family", FAMILIES)
def test_signed_mail_from_outside_gets_dkim_pass_and_spf_result(host, family):
    name = instance(host)
    authserv_id = mx_fqdn(name)
    subject = unique_subject(f"inbound-{family}")
    recipient = f"{LAB_MAILBOX}@{mx_domain(name)}"
    raw = build_message(
        f"alice@{SENDER_DOMAIN}",
        recipient,
        subject,
        extra_headers=[
            # Forged: claim our authserv-id, so RFC 8601 section 5 says remove them,
            # whatever the spelling (case, version number, comments).
            ("Authentication-Results", f"{authserv_id}; dkim=pass header.d=forged.example; spf=pass"),
            ("Authentication-Results", f"{authserv_id.upper()} 1; dkim=pass header.d=forged.example"),
            (
                "Authentication-Results",
                f"(relay) {authserv_id} (v1) 1; spf=pass smtp.mailfrom=forged.example",
            ),
            # Someone else's results: not ours to remove.
            ("Authentication-Results", "upstream.example; dkim=pass header.d=kept.example"),
            ("Authentication-Results", f"{authserv_id}.upstream.example; dkim=pass header.d=kept2.example"),
        ],
    )
    smtp_send(mx_address(name, family), f"bob@{SENDER_DOMAIN}", recipient, dkim_sign(raw))

    delivered = wait_for_delivery(host, subject)
    ours = our_authentication_results(delivered, authserv_id)
    assert len(ours) == 1, ours
    assert "dkim=pass" in ours[0]
    assert f"header.d={SENDER_DOMAIN}" in ours[0]
    assert "forged.example" not in str(delivered)
    received_results = " ".join(header_values(delivered, "Authentication-Results"))
    assert "kept.example" in received_results
    assert "kept2.example" in received_results
    # example.com's SPF record lists the gateway's IPv4 network, not its IPv6 one.
    spf = header_values(delivered, "Received-SPF")
    assert len(spf) == 1, spf
    expected = "Pass" if family == "ipv4" else "Fail"
    assert spf[0].startswith(f"{expected} (mailfrom)"), spf[0]
    assert f"client-ip={GATEWAY[family]};" in spf[0], spf[0]

    # The gate milters run for anonymous IPv6 clients only, and never see the forged field.
    seen = recorded_by_gate_milter(host, subject)
    if family == "ipv4":
        assert seen is None
    else:
        assert seen is not None
        assert seen["client_address"] == GATEWAY["ipv6"]
        seen_text = "\n".join(f"{name}: {value}" for name, value in seen["headers"])
        assert "kept.example" in seen_text
        assert "DKIM-Signature" in seen_text
        assert "forged.example" not in seen_text


def test_spf_fail_is_rejected_over_ipv4(host):
    name = instance(host)
    recipient = f"{LAB_MAILBOX}@{mx_domain(name)}"
    raw = build_message("x@spf-fail.lab.example", recipient, unique_subject("spf-fail-ipv4"))
    with pytest.raises(SmtpRefused) as refused:
        smtp_send(mx_address(name, "ipv4"), "x@spf-fail.lab.example", recipient, raw)
    assert refused.value.code == 550
    assert "SPF" in refused.value.text


def test_spf_fail_is_only_recorded_over_ipv6(host):
    name = instance(host)
    subject = unique_subject("spf-fail-ipv6")
    recipient = f"{LAB_MAILBOX}@{mx_domain(name)}"
    # DKIM-signed, so that an IPv6 gate ("SPF or DKIM") in front would accept it as well.
    raw = dkim_sign(build_message(f"alice@{SENDER_DOMAIN}", recipient, subject))
    smtp_send(mx_address(name, "ipv6"), "x@spf-fail.lab.example", recipient, raw)
    delivered = wait_for_delivery(host, subject)
    spf = header_values(delivered, "Received-SPF")
    assert len(spf) == 1 and spf[0].startswith("Fail (mailfrom)"), spf


def test_virtual_alias_domain_delivers_its_aliases_and_refuses_the_rest(host):
    """postfix_virtual_aliases on d12 (molecule.yml): info@ reaches the lab mailbox, other@ is unknown."""
    name = instance(host)
    if name != "v6gate-default-d12":
        pytest.skip("the alias domain is d12's")
    subject = unique_subject("alias")
    sender = f"alice@{SENDER_DOMAIN}"
    raw = dkim_sign(build_message(sender, "info@alias.d12.lab.example", subject))
    smtp_send(mx_address(name, "ipv4"), sender, "info@alias.d12.lab.example", raw)
    delivered = wait_for_delivery(host, subject)
    assert "info@alias.d12.lab.example" in delivered["To"]
    with pytest.raises(SmtpRefused) as refused:
        smtp_send(mx_address(name, "ipv4"), sender, "other@alias.d12.lab.example", raw)
    assert refused.value.code == 550 and "5.1.1" in refused.value.text


@pytest.mark.parametrize("family", FAMILIES)
def test_no_relaying_to_foreign_domains(host, family):
    name = instance(host)
    raw = build_message(f"alice@{SENDER_DOMAIN}", "victim@example.org", unique_subject("relay"))
    with pytest.raises(SmtpRefused) as refused:
        smtp_send(mx_address(name, family), f"alice@{SENDER_DOMAIN}", "victim@example.org", raw)
    assert refused.value.code == 554
    assert "Relay access denied" in refused.value.text


@pytest.mark.parametrize("family", FAMILIES)
def test_mail_from_our_network_leaves_dkim_signed(host, family, published_dkim_keys):
    """Submit on loopback (mynetworks); the MX signs and delivers to the other MX over SMTP.

    The other MX finds the MX record and the published key in the lab DNS and
    must verify the signature (dkim=pass) and see STARTTLS (ESMTPS).
    """
    name = instance(host)
    receiver_name = other_mx(name)
    receiver = testinfra.get_host(f"podman://{receiver_name}")
    domain, selector = published_dkim_keys[name]
    subject = unique_subject(f"outbound-{family}")
    loopback = "127.0.0.1" if family == "ipv4" else "::1"
    recipient = f"{LAB_MAILBOX}@{mx_domain(receiver_name)}"
    script = (
        "import smtplib\n"
        "from email.message import EmailMessage\n"
        "m = EmailMessage()\n"
        f"m['From'] = 'ops@{domain}'\n"
        f"m['To'] = '{recipient}'\n"
        f"m['Subject'] = '{subject}'\n"
        "m.set_content('signed on the way out\\n')\n"
        f"with smtplib.SMTP('{loopback}', 25, timeout=60) as s:\n"
        f"    s.send_message(m, from_addr='ops@{domain}', to_addrs=['{recipient}'])\n"
    )
    host.check_output(f"python3 -c {shlex.quote(script)}")

    delivered = wait_for_delivery(receiver, subject, timeout=90)
    # Our own IPv6 networks get the plain milters only.
    assert recorded_by_gate_milter(host, subject) is None
    signatures = header_values(delivered, "DKIM-Signature")
    assert any(f"d={domain};" in sig and f"s={selector};" in sig for sig in signatures), signatures
    results = our_authentication_results(delivered, mx_fqdn(receiver_name))
    assert len(results) == 1 and "dkim=pass" in results[0] and f"header.d={domain}" in results[0], results
    assert any("with ESMTPS" in value for value in header_values(delivered, "Received"))
    spf = header_values(delivered, "Received-SPF")
    assert spf and spf[0].startswith("Pass (mailfrom)"), spf


# name -> (extra vars, text the failed play must show, tag to run, live files that must stay)
POSTFIX_LIVE_FILES = tuple(
    f"/etc/postfix/{name}"
    for name in ("main.cf", "master.cf", "client_class.cidr", "milter_maps.cidr", "transport")
)
OPENDKIM_LIVE_FILES = ("/etc/opendkim.conf", "/etc/opendkim/KeyTable", "/etc/opendkim/SigningTable")
SPF_LIVE_FILES = tuple(f"/etc/postfix-policyd-spf-python/policyd-spf-{family}.conf" for family in FAMILIES)
BAD_VALUES = {
    # Passes the argument spec (a list of strings) but is no network: only
    # Postfix's own table parser on the host can tell.
    "bad-network": (
        {"postfix_mynetworks": ["127.0.0.0/8", "2001:db8::/129"]},
        "bad mask length",
        "postfix",
        POSTFIX_LIVE_FILES,
    ),
    # Caught by meta/argument_specs.yml before the host is touched.
    "bad-choice": (
        {"postfix_milter_default_action": "explode"},
        "postfix_milter_default_action",
        "postfix",
        POSTFIX_LIVE_FILES,
    ),
    # A chrooted smtpd would look for the milters' Unix sockets under /var/spool/postfix.
    "chroot-with-unix-milters": (
        {"postfix_chroot": True, "opendkim_socket_type": "unix"},
        "postfix_chroot is true",
        "postfix",
        POSTFIX_LIVE_FILES,
    ),
    "sasl-account-without-password": (
        {"postfix_submission_enabled": True, "postfix_sasl_users": [{"name": "bob@example.net"}]},
        "postfix_sasl_users: every account needs",
        "postfix",
        POSTFIX_LIVE_FILES,
    ),
    # Only Postfix's check can refuse it, and it comes last: the OpenDKIM change in the same run must
    # not have gone live either (playbooks/mx.yml checks every candidate before any role installs).
    "postfix-refuses-after-an-opendkim-change": (
        {
            "opendkim_oversign_headers": ["From", "Subject"],
            "postfix_ipv6_trusted_networks": ["2001:db8::/129"],
        },
        "bad mask length",
        "all",
        POSTFIX_LIVE_FILES + OPENDKIM_LIVE_FILES,
    ),
    # policyd-spf itself would silently ignore it; the role's checker refuses it.
    "bad-spf-skip-network": (
        {"policyd_spf_skip_addresses": ["127.0.0.0/8", "2001:db8::/129"]},
        "does not appear to be an IPv4 or IPv6 network",
        "policyd_spf",
        SPF_LIVE_FILES,
    ),
}


def live_config_digest(host, files):
    return host.check_output(f"cat {' '.join(files)} | sha256sum")


@pytest.fixture(scope="module", params=sorted(BAD_VALUES))
def bad_value_run(request, molecule_env):
    """Run the converge play with one bad inventory value on every MX at once.

    Returns the play's result, the case, and each instance's digest of the
    live files of the case taken just before the run.
    """
    extra_vars, expected_error, tag, files = BAD_VALUES[request.param]
    env, inventory = molecule_env
    digests = {name: live_config_digest(testinfra.get_host(f"podman://{name}"), files) for name in MX_NAMES}
    result = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            inventory,
            str(PROJECT_DIR / "molecule" / "default" / "converge.yml"),
            "--limit",
            "mx",
            "--tags",
            tag,
            "-e",
            json.dumps(extra_vars),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result, expected_error, files, digests


def test_bad_inventory_value_fails_play_and_mail_keeps_flowing(host, bad_value_run):
    result, expected_error, files, digests = bad_value_run
    name = instance(host)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert expected_error in output, output[-3000:]
    assert f"{name}" in output

    assert live_config_digest(host, files) == digests[name]
    assert host.service("postfix").is_running
    subject = unique_subject("after-bad-value")
    recipient = f"{LAB_MAILBOX}@{mx_domain(name)}"
    raw = dkim_sign(build_message(f"alice@{SENDER_DOMAIN}", recipient, subject))
    smtp_send(mx_address(name, "ipv4"), f"bob@{SENDER_DOMAIN}", recipient, raw)
    wait_for_delivery(host, subject)
