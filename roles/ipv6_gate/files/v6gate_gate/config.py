"""The gate's configuration file (INI, section ``[gate]``), written by the ipv6_gate role."""

from __future__ import annotations

import configparser
import ipaddress
from dataclasses import dataclass, field

from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import parse_nameserver
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import PTR_POLICIES

DEFAULT_CONFIG_PATH = "/etc/v6gate/ipv6-gate.conf"
DEFAULT_SOCKET = "unix:/run/v6gate-gate/milter.sock"
# libmilter's socket notations: unix:/path (local: is the same), inet:port@host, inet6:port@host
SOCKET_SCHEMES = ("unix:", "local:", "inet:", "inet6:")


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or has an invalid value."""


@dataclass(frozen=True)
class GateConfig:
    authserv_id: str
    optin_file: str
    socket: str = DEFAULT_SOCKET
    ptr_policy: str = "exists"
    trusted_networks: tuple = ()
    known_domains: tuple[str, ...] = ()
    dns_timeout: float = 5.0
    spf_timeout: float = 20.0
    # One decision (RCPT: reverse DNS; end of data: SPF and DKIM) never takes longer, so Postfix's
    # milter_command_timeout (30 s by default) is never what answers a client.
    decision_timeout: float = 20.0
    milter_timeout: int = 600
    nameservers: tuple[str, ...] = field(default=())
    dns_cache_size: int = 10000
    # DKIM: a message is kept in memory for verification only up to this size; signatures tried per message.
    max_message_bytes: int = 10485760
    max_signatures: int = 5
    # Headers kept per message for DKIM (a message with more is not verified).
    max_headers: int = 1000
    # Prometheus textfile (empty: no metrics), how often it is rewritten, distinct domain labels kept.
    metrics_file: str = ""
    metrics_interval: int = 15
    metrics_max_domains: int = 1000


def _split(value: str) -> list[str]:
    return [item for item in value.replace(",", " ").split() if item]


def _valid_socket(socket: str) -> bool:
    scheme = next((s for s in SOCKET_SCHEMES if socket.startswith(s)), None)
    if scheme is None:
        return False
    rest = socket[len(scheme) :]
    if scheme in ("unix:", "local:"):
        return rest.startswith("/") and not any(ch.isspace() for ch in rest)
    port, sep, host = rest.partition("@")
    return port.isdigit() and 0 < int(port) < 65536 and (not sep or bool(host))


def parse_config(text: str, source: str = "<config>") -> GateConfig:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if not parser.has_section("gate"):
        raise ConfigError(f"{source}: no [gate] section")
    section = parser["gate"]
    known = {
        "authserv_id",
        "optin_file",
        "socket",
        "ptr_policy",
        "trusted_networks",
        "known_domains",
        "dns_timeout",
        "spf_timeout",
        "decision_timeout",
        "milter_timeout",
        "nameservers",
        "dns_cache_size",
        "max_message_bytes",
        "max_signatures",
        "max_headers",
        "metrics_file",
        "metrics_interval",
        "metrics_max_domains",
    }
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s) {', '.join(unknown)}")
    for required in ("authserv_id", "optin_file"):
        if not section.get(required, "").strip():
            raise ConfigError(f"{source}: {required} is required")
    authserv_id = section["authserv_id"].strip()
    if any(ch.isspace() or ch in ';()"' for ch in authserv_id):
        raise ConfigError(f"{source}: authserv_id must be a single token, got {authserv_id!r}")
    ptr_policy = section.get("ptr_policy", "exists").strip()
    if ptr_policy not in PTR_POLICIES:
        raise ConfigError(f"{source}: ptr_policy must be one of {', '.join(PTR_POLICIES)}")
    try:
        networks = tuple(
            ipaddress.ip_network(n, strict=False) for n in _split(section.get("trusted_networks", ""))
        )
    except ValueError as exc:
        raise ConfigError(f"{source}: trusted_networks: {exc}") from None
    try:
        dns_timeout = section.getfloat("dns_timeout", 5.0)
        spf_timeout = section.getfloat("spf_timeout", 20.0)
        decision_timeout = section.getfloat("decision_timeout", 20.0)
        milter_timeout = section.getint("milter_timeout", 600)
        limits = {
            name: section.getint(name, default)
            for name, default in (
                ("dns_cache_size", 10000),
                ("max_message_bytes", 10485760),
                ("max_signatures", 5),
                ("max_headers", 1000),
                ("metrics_interval", 15),
                ("metrics_max_domains", 1000),
            )
        }
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if not (
        0 < dns_timeout <= 60
        and 0 < spf_timeout <= 120
        and 0 < decision_timeout <= 60
        and 0 < milter_timeout <= 3600
    ):
        raise ConfigError(
            f"{source}: timeouts out of range (dns 0-60 s, spf 0-120 s, decision 0-60 s, milter 0-3600 s)"
        )
    for name, value in limits.items():
        if value < 1:
            raise ConfigError(f"{source}: {name} must be 1 or more, got {value}")
    nameservers = tuple(_split(section.get("nameservers", "")))
    for spec in nameservers:
        try:
            parse_nameserver(spec)
        except ValueError as exc:
            raise ConfigError(f"{source}: nameservers: {exc}") from None
    metrics_file = section.get("metrics_file", "").strip()
    if metrics_file and (not metrics_file.startswith("/") or not metrics_file.endswith(".prom")):
        raise ConfigError(f"{source}: metrics_file must be an absolute path ending in .prom (node_exporter "
                          f"reads only those), got {metrics_file!r}")
    socket = section.get("socket", DEFAULT_SOCKET).strip()
    if not _valid_socket(socket):
        raise ConfigError(
            f"{source}: socket must be unix:/absolute/path, inet:port@host or inet6:port@[host], "
            f"got {socket!r}"
        )
    return GateConfig(
        authserv_id=authserv_id,
        optin_file=section["optin_file"].strip(),
        socket=socket,
        ptr_policy=ptr_policy,
        trusted_networks=networks,
        known_domains=tuple(_split(section.get("known_domains", ""))),
        dns_timeout=dns_timeout,
        spf_timeout=spf_timeout,
        decision_timeout=decision_timeout,
        milter_timeout=milter_timeout,
        nameservers=nameservers,
        metrics_file=metrics_file,
        **limits,
    )


def load_config(path: str = DEFAULT_CONFIG_PATH) -> GateConfig:
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_config(handle.read(), path)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
