# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-domain IPv6 opt-in: editing the gate's opt-in file safely, and checking a domain is ready first.

The file format belongs to ``ipv6_rules.parse_optin_text`` (the function the running gate uses); this
module never parses the file any other way. Editing works on whole lines: a line whose domain is
removed is dropped, new domains are appended, every other line (comments, blank lines, spelling, order)
is kept byte for byte, and the trailer (``ipv6_rules.render_optin_trailer``, the last line, counting the
domain lines) is replaced by one with the new count. The result is parsed again before it replaces the
file, and it replaces the file by rename in the same directory, so the gate (which re-reads on
mtime/inode change) sees either the old or the new file, never a half-written one; and the trailer makes
the gate refuse a half-written one should anyone else write it in place.

A file without a valid trailer (written by hand, by a release before the trailer, or cut short) is not
edited: ``plan_edit`` raises OptInTrailerError, unless asked to repair the trailer, which keeps the
file's domains as they are and writes the trailer that counts them.

Readiness, before a domain is enabled, is a list of named checks, each with a status and a detail:

* ``accepted_domain`` the stack accepts mail for the domain (it is a relay domain of this MX),
* ``mx``              the domain publishes MX records (not none, not a null MX),
* ``mx_aaaa``         at least one MX host has an AAAA record (IPv6 senders can reach it),
* ``mx_ptr``          every such IPv6 address has a PTR record,
* ``smtp_ipv6``       each of those addresses (or the given ones) greets with ``220`` on port 25.

A DNS timeout or SERVFAIL fails a check as *temporary*: the answer is unknown, so the domain is not
enabled, and the detail says to try again rather than blaming the domain's records.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import json
import os
import socket
import stat
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ansible_collections.v6gate.mx.plugins.module_utils.addresses import is_dns_name
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import ANSWER
from ansible_collections.v6gate.mx.plugins.module_utils.iprev import check_reverse
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    MODEL_OPT_IN,
    OptInTrailerError,
    is_optin_trailer_line,
    normalize_domain,
    parse_optin_file,
    parse_optin_text,
    render_optin_trailer,
)

# The ipv6_gate role's default (ipv6_gate_config_dir + /ipv6-optin-domains); the module's default too.
DEFAULT_OPTIN_FILE = "/etc/v6gate/ipv6-optin-domains"
DEFAULT_CHANGE_LOG = "/var/lib/v6gate/optin-changes.jsonl"

CHECK_ACCEPTED_DOMAIN = "accepted_domain"
CHECK_MX = "mx"
CHECK_MX_AAAA = "mx_aaaa"
CHECK_MX_PTR = "mx_ptr"
CHECK_SMTP_IPV6 = "smtp_ipv6"
CHECKS = (CHECK_ACCEPTED_DOMAIN, CHECK_MX, CHECK_MX_AAAA, CHECK_MX_PTR, CHECK_SMTP_IPV6)
DNS_CHECKS = (CHECK_MX, CHECK_MX_AAAA, CHECK_MX_PTR)

PASS = "pass"
FAIL = "fail"
SKIPPED = "skipped"  # the caller asked not to run it
UNCHECKED = "unchecked"  # could not run because an earlier check it depends on failed

NEW_FILE_HEADER = (
    "# Domains that accept anonymous mail over IPv6 (v6gate opt-in), one per line.\n"
    "# Recipients in any other domain get 550 5.2.1 from the gate. Managed by the ipv6_gate role and\n"
    "# v6gate.mx.ipv6_optin; the list in the inventory (ipv6_gate_optin_domains) is the source of truth.\n"
)
# What create=true starts from: the header and the trailer of an empty list.
NEW_FILE_TEXT = NEW_FILE_HEADER + render_optin_trailer(0) + "\n"


# -------------------------------------------------------------------------------------- domain input


def validate_domain(text) -> tuple[str, str]:
    """A domain given to the module -> (comparison key, spelling to write). Raises ValueError.

    The file's own parser (``parse_optin_text``) decides what a domain line is; on top of that, input must
    be one line without a comment, and its A-label form a DNS name by the DNS layer's rule
    (``is_dns_name``), so a stray character is refused here instead of being written for the gate.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"domain {text!r}: empty")
    if "#" in text or any(ch.isspace() for ch in text.strip()):
        raise ValueError(f"domain {text!r}: must be a single domain name, without '#', spaces or line breaks")
    try:
        parsed = parse_optin_text(text, require_trailer=False)
    except ValueError as error:
        raise ValueError(f"domain {text!r}: {str(error).removeprefix('line 1: ')}") from None
    if len(parsed) != 1:
        raise ValueError(f"domain {text!r}: must be a single domain name")
    key, written = next(iter(parsed.items()))
    if not is_dns_name(key, fqdn=True):
        raise ValueError(f"domain {text!r}: not a valid DNS name (labels of letters, digits, inner hyphens; "
                         "at most 63 characters each and 253 in all)")
    return key, written


def validate_domains(texts) -> dict[str, str]:
    """Validate every domain; one ValueError naming all bad ones. Returns {key: spelling}, input order."""
    domains: dict[str, str] = {}
    errors = []
    for text in texts:
        try:
            key, written = validate_domain(text)
        except ValueError as error:
            errors.append(str(error))
            continue
        domains.setdefault(key, written)
    if errors:
        raise ValueError("; ".join(errors))
    return domains


# ----------------------------------------------------------------------------------- editing the file


@dataclass
class OptInEdit:
    """The file before and after one change; ``added``/``removed`` hold domains as written.

    ``repaired_trailer``: ``before`` had no valid trailer and ``after`` has one (repair_trailer).
    """

    before: str
    after: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    repaired_trailer: bool = False

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def domains_after(self) -> list[str]:
        return list(parse_optin_text(self.after).values())


def _line_domain_key(line: str) -> str | None:
    """The comparison key of the domain on one line of a file that already parsed, or None."""
    parsed = parse_optin_text(line, require_trailer=False)
    return next(iter(parsed), None)


def plan_edit(before: str, domains: dict[str, str], state: str, exclusive: bool = False,
              repair_trailer: bool = False) -> OptInEdit:
    """Work out the new file text.

    ``domains`` is {key: spelling} (from validate_domains). ``state`` present adds the missing ones at the
    end, absent drops every line naming one of them. ``exclusive`` (with present) also drops every other
    domain, so the file lists exactly ``domains``. The result ends with exactly one trailer, counting its
    domain lines; a run that changes no domain leaves a valid file as it is, byte for byte.

    Raises ValueError if ``before`` is not a valid opt-in file: a broken file must be repaired by a person,
    not edited around. A file whose only fault is its trailer (missing, malformed, wrong count, text after
    it) raises OptInTrailerError, unless ``repair_trailer``: then every trailer line is dropped, every
    other line kept (domains written after an old trailer included) and a trailer counting them appended.
    """
    if state not in ("present", "absent"):
        raise ValueError(f"state must be present or absent, got {state!r}")
    try:
        parsed = parse_optin_file(before)  # the gate's own parser: raises with the line number
        valid = True
    except OptInTrailerError:
        if not repair_trailer:
            raise
        parsed = parse_optin_file(before, require_trailer=False)  # still raises for a bad domain line
        valid = False
    if parsed.model != MODEL_OPT_IN:
        # Removing a line there would turn a domain on, not off: state present/absent means nothing.
        raise ValueError(f"the file uses the {parsed.model} model; this module edits opt-in files only; "
                         "set the domains' states with the ipv6_gate role (ipv6_gate_optout_domains, "
                         "ipv6_gate_monitor_domains)")
    current = parsed.domains
    if state == "present":
        drop = {key for key in current if key not in domains} if exclusive else set()
        add = {key: written for key, written in domains.items() if key not in current}
    else:
        drop = {key for key in domains if key in current}
        add = {}
    edit = OptInEdit(before, before, list(add.values()), [current[key] for key in current if key in drop],
                     repaired_trailer=not valid)
    if valid and not add and not drop:
        return edit
    kept_lines = []
    for line in before.splitlines(keepends=True):
        if is_optin_trailer_line(line):
            if valid:
                break  # the trailer of a valid file: only blank lines follow it
            continue  # repair: every trailer-like line goes, wherever it is
        if _line_domain_key(line) in drop:
            continue
        kept_lines.append(line)
    body = "".join(kept_lines)
    if body and not body.endswith(("\n", "\r")):
        body += "\n"
    body += "".join(f"{written}\n" for written in add.values())
    count = sum(1 for line in body.splitlines() if _line_domain_key(line) is not None)
    edit.after = body + render_optin_trailer(count) + "\n"
    expected = (set(current) - drop) | set(add)
    if set(parse_optin_text(edit.after)) != expected:  # cannot happen unless the line logic above is wrong
        raise ValueError("internal error: the edited opt-in file does not list the expected domains")
    return edit


def read_optin_file(path: str) -> str | None:
    """The file's text, or None when it does not exist. Raises OSError/UnicodeDecodeError otherwise."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_atomically(path: str, text: str, new_file_mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` by rename from a temporary file in the same directory.

    An existing file's owner, group and mode are copied onto the temporary file before the rename, so
    the gate's user can read the new file the moment it appears. The text is validated with the gate's
    parser first (so it must end with its trailer) and flushed to disk before the rename; the directory
    is synced after it.
    """
    parse_optin_text(text)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        existing = os.stat(path)
    except FileNotFoundError:
        existing = None
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            if existing is not None:
                os.fchmod(handle.fileno(), stat.S_IMODE(existing.st_mode))
                if (existing.st_uid, existing.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(handle.fileno(), existing.st_uid, existing.st_gid)
            else:
                os.fchmod(handle.fileno(), new_file_mode)
            os.fsync(handle.fileno())
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# ----------------------------------------------------------------------------------------- change log


class ChangeLog:
    """The append-only JSON-lines record of opt-in changes, also the lock around one edit.

    Opening it takes an exclusive flock, held until close: two runs on the same host (a playbook and a
    person) then edit the opt-in file one after the other instead of losing one change. Opening before
    the edit also proves the log is writable, so a change is never made that could not be recorded.
    """

    def __init__(self, path: str, mode: int = 0o640) -> None:
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, mode=0o750, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
        self._file = os.fdopen(fd, "a", encoding="utf-8")
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)

    def append(self, entries: list[dict]) -> None:
        if not entries:
            return
        # One write per call: with O_APPEND concurrent readers never see a partial line.
        self._file.write("".join(json.dumps(entry, sort_keys=True) + "\n" for entry in entries))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()  # releases the lock

    def __enter__(self):
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def change_entries(edit: OptInEdit, path: str, changed_by: str, reason: str, forced: bool,
                   readiness: dict, host: str | None = None, now: datetime | None = None) -> list[dict]:
    """One change-log entry per domain added or removed."""
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
    host = host or socket.gethostname()
    entries = []
    for domain in edit.added:
        report = readiness.get(normalize_domain(domain), {})
        entries.append({
            "time": when, "host": host, "file": path, "domain": domain, "state": "present",
            "changed_by": changed_by, "reason": reason, "forced": forced and not report.get("ready", True),
            "checks": {check["check"]: check["status"] for check in report.get("checks", [])},
        })
    entries.extend({
        "time": when, "host": host, "file": path, "domain": domain, "state": "absent",
        "changed_by": changed_by, "reason": reason, "forced": False, "checks": {},
    } for domain in edit.removed)
    return entries


def syslog_line(entry: dict) -> str:
    checks = ",".join(f"{name}={status}" for name, status in entry["checks"].items()) or "-"
    return (f"opt-in {entry['state']} domain={entry['domain']} file={entry['file']} "
            f"by={entry['changed_by']} forced={'yes' if entry['forced'] else 'no'} checks={checks} "
            f"reason={json.dumps(entry['reason'])}")


# ------------------------------------------------------------------------------------------ readiness


def _result(check: str, status: str, detail: str, temporary: bool = False, **data) -> dict:
    # checked_from: the SMTP check in particular means "reachable from there"; the record says from where.
    return {"check": check, "status": status, "detail": detail, "temporary": temporary,
            "checked_from": socket.gethostname(), **data}


def smtp_greeting(address: str, port: int = 25, timeout: float = 10.0) -> tuple[bool, str]:
    """Connect to [address]:port over IPv6 and read the greeting. (True, banner) for a 220 greeting.

    The session is ended with QUIT so the MX logs a clean disconnect rather than a lost connection.
    """
    banner_lines: list[str] = []
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            reader = sock.makefile("rb")
            while True:
                raw = reader.readline(1024)
                if not raw:
                    return False, (f"[{address}]:{port} closed the connection without a complete greeting"
                                   + (f" after {banner_lines[-1]!r}" if banner_lines else ""))
                line = raw.decode("ascii", "replace").rstrip("\r\n")
                banner_lines.append(line)
                if len(line) < 4 or line[3] != "-":
                    break
            with contextlib.suppress(OSError):
                sock.sendall(b"QUIT\r\n")
                reader.readline(1024)
    except TimeoutError:
        return False, f"[{address}]:{port} did not greet within {timeout:g} s"
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        return False, f"[{address}]:{port} not reachable: {reason}"
    greeting = banner_lines[-1]
    if greeting[:3] == "220":
        return True, f"[{address}]:{port} greets: {greeting}"
    return False, f"[{address}]:{port} answers but does not accept mail: {greeting}"


def parse_smtp_addresses(texts) -> list[str]:
    """IPv6 addresses to test SMTP on; one ValueError naming every entry that is not IPv6."""
    addresses, bad = [], []
    for text in texts:
        try:
            address = ipaddress.ip_address(str(text).strip().strip("[]"))
        except ValueError:
            bad.append(repr(text))
            continue
        if address.version != 6 or address.ipv4_mapped is not None:
            bad.append(repr(text))
            continue
        addresses.append(address.compressed)
    if bad:
        raise ValueError(f"smtp_addresses must be IPv6 addresses: {', '.join(bad)}")
    return addresses


def assess_readiness(client, domain: str, accepted_domains=(), skip=(), smtp_addresses=None,
                     smtp_port: int = 25, smtp_timeout: float = 10.0) -> dict:
    """Run the readiness checks for one domain. ``client`` is a dns_client.DnsClient (None if every DNS
    check is skipped and smtp_addresses are given). Returns {domain, ready, reasons, checks, mx_hosts,
    addresses}; ``checks`` holds one entry per check in CHECKS order."""
    key = normalize_domain(domain)
    skip = set(skip)
    checks: dict[str, dict] = {}

    accepted = {normalize_domain(d) for d in accepted_domains}
    if CHECK_ACCEPTED_DOMAIN in skip:
        checks[CHECK_ACCEPTED_DOMAIN] = _result(CHECK_ACCEPTED_DOMAIN, SKIPPED, "not checked (skipped)")
    elif not accepted:
        checks[CHECK_ACCEPTED_DOMAIN] = _result(
            CHECK_ACCEPTED_DOMAIN, FAIL, "no accepted domains were given (accepted_domains is empty), so it "
            f"cannot be confirmed that this MX accepts mail for {key}")
    elif key in accepted:
        checks[CHECK_ACCEPTED_DOMAIN] = _result(CHECK_ACCEPTED_DOMAIN, PASS, f"{key} is an accepted domain")
    else:
        checks[CHECK_ACCEPTED_DOMAIN] = _result(
            CHECK_ACCEPTED_DOMAIN, FAIL, f"{key} is not one of the domains this MX accepts mail for "
            f"({', '.join(sorted(accepted))})")

    explicit_smtp = smtp_addresses is not None and len(smtp_addresses) > 0
    need_dns = any(c not in skip for c in DNS_CHECKS) or (CHECK_SMTP_IPV6 not in skip and not explicit_smtp)
    mx_hosts: list[str] = []
    addresses: list[str] = []
    blocked = ""  # why checks that need MX addresses could not run

    if need_dns:
        mx = client.resolve(key, "MX")
        exchanges = sorted(mx.records) if mx.outcome == ANSWER else []
        mx_hosts = [host for _pref, host in exchanges if host not in ("", "@", ".")]
        if mx.is_temporary:
            mx_status = _result(CHECK_MX, FAIL, f"MX lookup for {key} failed temporarily ({mx.outcome}: "
                                f"{mx.detail}); try again", temporary=True)
        elif mx.outcome != ANSWER:
            mx_status = _result(CHECK_MX, FAIL, f"{key} has no MX record ({mx.outcome}); senders cannot "
                                "find the MX")
        elif not mx_hosts:
            mx_status = _result(CHECK_MX, FAIL, f"{key} publishes a null MX (RFC 7505): it accepts no mail")
        else:
            mx_status = _result(CHECK_MX, PASS, f"MX {', '.join(f'{p} {h}' for p, h in exchanges)}")
        checks[CHECK_MX] = mx_status if CHECK_MX not in skip else _result(
            CHECK_MX, SKIPPED, "not checked (skipped)", mx_hosts=mx_hosts)
        checks[CHECK_MX]["mx_hosts"] = mx_hosts
        if mx_status["status"] == FAIL:
            blocked = "the MX check failed"

        aaaa_status = None
        if not blocked:
            lookups = client.map(lambda host: client.resolve(host, "AAAA"), mx_hosts)
            with_aaaa = {host: list(r.records) for host, r in zip(mx_hosts, lookups, strict=True)
                         if r.outcome == ANSWER}
            temporary = [f"{host} ({r.outcome})" for host, r in zip(mx_hosts, lookups, strict=True)
                         if r.is_temporary]
            without = [f"{host} ({r.outcome})" for host, r in zip(mx_hosts, lookups, strict=True)
                       if r.is_void]
            addresses = list(dict.fromkeys(a for records in with_aaaa.values() for a in records))
            if not with_aaaa:
                if temporary:
                    aaaa_status = _result(CHECK_MX_AAAA, FAIL, "AAAA lookup failed temporarily for "
                                          f"{', '.join(temporary)}; try again", temporary=True)
                else:
                    aaaa_status = _result(CHECK_MX_AAAA, FAIL, "no MX host has an AAAA record: "
                                          f"{', '.join(without)}; IPv6 senders cannot reach the domain")
                blocked = "no MX host has an IPv6 address"
            else:
                detail = "; ".join(f"{host} AAAA {', '.join(records)}" for host, records in with_aaaa.items())
                if without or temporary:
                    detail += (f" (without AAAA: {', '.join(without + temporary)}; "
                               "IPv6 senders use the others)")
                aaaa_status = _result(CHECK_MX_AAAA, PASS, detail)
            aaaa_status["addresses"] = addresses
        if CHECK_MX_AAAA in skip:
            checks[CHECK_MX_AAAA] = _result(CHECK_MX_AAAA, SKIPPED, "not checked (skipped)",
                                            addresses=addresses)
        elif aaaa_status is None:
            checks[CHECK_MX_AAAA] = _result(CHECK_MX_AAAA, UNCHECKED, f"not checked: {blocked}")
        else:
            checks[CHECK_MX_AAAA] = aaaa_status

        if CHECK_MX_PTR in skip:
            checks[CHECK_MX_PTR] = _result(CHECK_MX_PTR, SKIPPED, "not checked (skipped)")
        elif blocked:
            checks[CHECK_MX_PTR] = _result(CHECK_MX_PTR, UNCHECKED, f"not checked: {blocked}")
        else:
            reverse = client.map(lambda address: check_reverse(client, address), addresses)
            missing = [r for r in reverse if r["ptr_outcome"] in ("nxdomain", "nodata")]
            temporary = [r for r in reverse if r["ptr_outcome"] not in (ANSWER, "nxdomain", "nodata")]
            parts = []
            for r in reverse:
                if r["ptr_outcome"] == ANSWER:
                    note = "" if r["confirmed_names"] else " (does not resolve back to the address)"
                    parts.append(f"{r['address']} PTR {', '.join(r['ptr_names'])}{note}")
                else:
                    parts.append(f"{r['address']} no PTR ({r['ptr_outcome']})")
            if missing:
                checks[CHECK_MX_PTR] = _result(CHECK_MX_PTR, FAIL, "; ".join(parts), ptr=reverse)
            elif temporary:
                checks[CHECK_MX_PTR] = _result(CHECK_MX_PTR, FAIL, "; ".join(parts) + "; try again",
                                               temporary=True, ptr=reverse)
            else:
                checks[CHECK_MX_PTR] = _result(CHECK_MX_PTR, PASS, "; ".join(parts), ptr=reverse)
    else:
        for check in DNS_CHECKS:
            checks[check] = _result(check, SKIPPED, "not checked (skipped)")

    if CHECK_SMTP_IPV6 in skip:
        checks[CHECK_SMTP_IPV6] = _result(CHECK_SMTP_IPV6, SKIPPED, "not checked (skipped)")
    elif not explicit_smtp and blocked:
        checks[CHECK_SMTP_IPV6] = _result(CHECK_SMTP_IPV6, UNCHECKED, f"not checked: {blocked}")
    else:
        targets = list(smtp_addresses) if explicit_smtp else addresses
        with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
            greetings = list(pool.map(lambda a: smtp_greeting(a, smtp_port, smtp_timeout), targets))
        status = PASS if all(ok for ok, _detail in greetings) else FAIL
        checks[CHECK_SMTP_IPV6] = _result(CHECK_SMTP_IPV6, status, "; ".join(d for _ok, d in greetings),
                                          targets=targets, port=smtp_port)

    return readiness_report(key, checks, mx_hosts, addresses)


def readiness_report(key: str, checks: dict, mx_hosts: list, addresses: list) -> dict:
    """The result of assess_readiness from {check name: check result}: ready when nothing failed."""
    ordered = [checks[name] for name in CHECKS]
    failed = [c for c in ordered if c["status"] in (FAIL, UNCHECKED)]
    return {
        "domain": key,
        "ready": not failed,
        "temporary": any(c["temporary"] for c in ordered),
        "reasons": [f"{c['check']}: {c['detail']}" for c in ordered if c["status"] == FAIL],
        "checks": ordered,
        "mx_hosts": mx_hosts,
        "addresses": addresses,
    }


def describe_os_error(error: OSError, path: str) -> str:
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied on {path} (run with become?)"
    return f"{path}: {error.strerror or error}"


def combine_readiness(earlier: dict, client, domain: str, accepted_domains=(), skip=(), smtp_addresses=None,
                      smtp_port: int = 25, smtp_timeout: float = 10.0) -> dict:
    """Readiness from an earlier run (a ``readiness`` entry returned with readiness_only, e.g. on the
    controller) completed here: checks it ran are taken as they are, checks it skipped run here unless
    ``skip`` names them. The SMTP check here targets the MX addresses the earlier run found, so the host
    needs no DNS for it. Raises ValueError for something that is not such a report."""
    key = normalize_domain(domain)
    if not isinstance(earlier, dict) or not isinstance(earlier.get("checks"), list):
        raise ValueError(f"readiness_results[{key!r}] is not a readiness report (no checks list)")
    done = {}
    for check in earlier["checks"]:
        if not isinstance(check, dict) or check.get("check") not in CHECKS or check.get("status") not in (
                PASS, FAIL, SKIPPED, UNCHECKED):
            raise ValueError(f"readiness_results[{key!r}]: not a readiness check: {check!r}")
        if check["status"] != SKIPPED:
            done[check["check"]] = check
    if earlier.get("domain", key) != key:
        raise ValueError(f"readiness_results[{key!r}] is the report of {earlier.get('domain')!r}")
    addresses = list(earlier.get("addresses") or [])
    targets = smtp_addresses or addresses or None
    here = assess_readiness(client, key, accepted_domains, set(skip) | set(done), targets, smtp_port,
                            smtp_timeout)
    checks = {c["check"]: c for c in here["checks"]}
    checks.update(done)
    return readiness_report(key, checks, earlier.get("mx_hosts") or here["mx_hosts"],
                            addresses or here["addresses"])
