"""Command line: run the gate, or validate its configuration / an opt-in file (used by the role's
``validate:``), without needing pymilter for the checks."""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import sys

from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    STATE_OFF,
    normalize_domain,
    parse_optin_file,
    parse_optin_text,
)

from . import __version__
from .config import DEFAULT_CONFIG_PATH, ConfigError, load_config

log = logging.getLogger("v6gate-gate")


def _setup_logging(to_stderr: bool) -> None:
    if to_stderr:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    else:
        handler = logging.handlers.SysLogHandler(address="/dev/log", facility="mail")
        handler.setFormatter(logging.Formatter("v6gate-gate[%(process)d]: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def check_optin_file(path: str) -> int:
    try:
        with open(path, encoding="utf-8") as handle:
            domains = parse_optin_text(handle.read())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.error("%s: %s", path, exc)
        return 1
    print(f"{path}: {len(domains)} domain(s)")
    return 0


def print_domain_states(path: str, domains: list[str]) -> int:
    """Print, as JSON, the state the gate gives each domain by the file at ``path``; playbooks read it
    before they change the file (a missing file: the gate accepts no domain yet, every one is off)."""
    try:
        with open(path, encoding="utf-8") as handle:
            parsed = parse_optin_file(handle.read())
    except FileNotFoundError:
        parsed = None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.error("%s: %s", path, exc)
        return 1
    keys = [normalize_domain(domain) for domain in domains]
    states = {key: parsed.state_of(key) if parsed else STATE_OFF for key in keys}
    print(json.dumps({"file": path, "model": parsed.model if parsed else None, "states": states,
                      "enabled": sorted(key for key, state in states.items() if state != STATE_OFF)}))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="v6gate-gate", description="IPv6 anonymous-inbound gate milter")
    parser.add_argument("--config", default=DEFAULT_CONFIG_PATH)
    parser.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--check-optin", metavar="FILE", help="validate an opt-in domains file and exit")
    parser.add_argument("--domain-states", nargs="+", metavar=("FILE", "DOMAIN"),
                        help="print as JSON the state the domains file gives each DOMAIN and exit")
    parser.add_argument("--stderr", action="store_true", help="log to stderr (the journal) instead of syslog")
    parser.add_argument("--version", action="version", version=__version__)
    args = parser.parse_args(argv)
    _setup_logging(args.stderr or args.check_config or bool(args.check_optin or args.domain_states))

    if args.check_optin:
        return check_optin_file(args.check_optin)
    if args.domain_states:
        return print_domain_states(args.domain_states[0], args.domain_states[1:])
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    if args.check_config:
        print(f"{args.config}: ok (authserv_id={config.authserv_id}, ptr_policy={config.ptr_policy})")
        return 0

    from .milter import run  # pymilter is needed only to serve

    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
