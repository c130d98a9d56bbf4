"""Check a policyd-spf configuration file before it is installed.

policyd-spf itself accepts any file, even a missing one, and falls back to
defaults, so a typo would silently change the SPF policy. This check parses
the file with spf-engine's own reader and validates the values it knows.
"""

import ipaddress
import sys

from spf_engine import policydspfsupp

REJECT_CHOICES = {
    "HELO_reject": {"SPF_Not_Pass", "Softfail", "Fail", "Null", "False", "No_Check"},
    "Mail_From_reject": {"SPF_Not_Pass", "Softfail", "Fail", "False", "No_Check"},
}
NETWORK_LISTS = ("skip_addresses", "Whitelist")


def problems(path):
    """Return a list of human-readable problems found in the file at path."""
    try:
        with open(path, encoding="utf-8") as handle:
            handle.read()
    except OSError as error:
        return [f"cannot read {path}: {error}"]
    config = policydspfsupp._processConfigFile(filename=path, useSyslog=0)
    found = []
    for key, choices in REJECT_CHOICES.items():
        value = str(config.get(key))
        if value not in choices:
            found.append(f"{key} = {value} is not one of {sorted(choices)}")
    if str(config.get("Header_Type")) not in {"SPF", "AR"}:
        found.append(f"Header_Type = {config.get('Header_Type')} is not SPF or AR")
    for key in NETWORK_LISTS:
        for entry in str(config.get(key) or "").split(","):
            entry = entry.strip()
            if not entry:
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as error:
                found.append(f"{key}: {error}")
    return found


def main():
    if len(sys.argv) != 2:
        print("usage: check_policyd_spf_conf.py FILE", file=sys.stderr)
        return 2
    found = problems(sys.argv[1])
    for problem in found:
        print(f"{sys.argv[1]}: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
