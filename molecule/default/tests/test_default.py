"""Verify the converged hosts of the default scenario."""

from conftest import MX_NAMES

# The DNS instance of the scenario is not converged; only the MX hosts are.
testinfra_hosts = [f"podman://{name}" for name in MX_NAMES]


def test_mailname_is_the_fqdn(host):
    mailname = host.file("/etc/mailname")
    assert mailname.exists
    assert mailname.mode == 0o644
    assert mailname.content_string.strip() == host.check_output("hostname -f")


def test_base_packages_installed(host):
    for package in ("ca-certificates", "openssl", "bind9-dnsutils", "rsyslog"):
        assert host.package(package).is_installed, package


def test_syslog_running(host):
    assert host.service("rsyslog").is_running
