#!/usr/bin/env bash
# One-time (and fast on re-run) set-up of a Debian 12/13 controller, as root:
# Debian packages, the project virtualenv from requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

host_packages=(
  podman runc debootstrap          # lab and Molecule containers, built without a registry
  netavark aardvark-dns iptables   # container networks with DNS on the gateway (containers.conf)
  knot knot-dnsutils               # the authoritative DNS server the tests start on loopback
  publicsuffix                     # the Public Suffix List dmarc_info reads (organizational domains)
  unbound                          # the caching resolver bench/audit_bench.py --resolver-cache starts
  python3 python3-venv git ca-certificates
)

missing=()
for pkg in "${host_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packaged knot.service is not ours; the tests start their own knotd on a free port. The same
  # for unbound.service, but only when bootstrap just installed it: a resolver the admin runs stays.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now knot.service >/dev/null 2>&1 || true
    if [[ " ${missing[*]} " == *" unbound "* ]]; then
      systemctl disable --now unbound.service unbound-resolvconf.service >/dev/null 2>&1 || true
    fi
  fi
fi

# The virtualenv is rebuilt only when requirements.txt changes.
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: creating .venv from requirements.txt"
  /usr/bin/python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi
