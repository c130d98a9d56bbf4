#!/usr/bin/env bash
# Before the lab and the tests (./v6gate lab, ./v6gate test), after the images are built: prove in a
# few seconds that a container on a dual-stack Podman network of our own resolves the Debian mirror
# its apt sources name through the network's gateway (aardvark-dns, as the lab MX and the Molecule
# MX resolve) and fetches the mirror's dists/<suite>/Release. On failure it says what is wrong and
# how to fix it, in well under a minute. A success is remembered for an hour (.cache/preflight.ok)
# while containers.conf, the host's resolv.conf and the images stay the same.
# Usage: scripts/preflight.sh [--force] [IMAGE ...]   (default: localhost/v6gate-debian:13 and :12)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CONTAINERS_CONF:=$PWD/containers.conf}"
export CONTAINERS_CONF

network=v6gate-probe
ipv6_subnet=2001:db8:ffff::/64
ipv4_subnet=198.51.100.248/29
gateway=198.51.100.249
stamp=.cache/preflight.ok
fresh_seconds=3600

force=0
images=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -*) echo "usage: $0 [--force] [IMAGE ...]" >&2; exit 2 ;;
    *) images+=("$arg") ;;
  esac
done
[ ${#images[@]} -gt 0 ] || images=(localhost/v6gate-debian:13 localhost/v6gate-debian:12)

started=$SECONDS
say() { echo "preflight: $*"; }

fail() { # fail WHAT FIX...
  {
    echo "preflight: FAILED after $((SECONDS - started)) s: $1"
    shift
    local fix
    for fix in "$@"; do echo "  - $fix"; done
    echo "  (scripts/preflight.sh --force checks again; docs/architecture.md, \"Container DNS\", explains the set-up)"
  } >&2
  exit 1
}

mkdir -p .cache
exec 9> .cache/preflight.lock
flock -w 120 9 || fail "another scripts/preflight.sh holds .cache/preflight.lock" \
  "wait for it to end, or remove .cache/preflight.lock if no preflight is running"

# What a success depends on; the second run within the hour costs only this.
image_ids=$(timeout 20 podman image inspect --format '{{.Id}}' "${images[@]}" 2>/dev/null) ||
  fail "image missing: ${images[*]}" "build the images: molecule/images/build.sh (./v6gate images)"
key=$(cat "$CONTAINERS_CONF" /etc/resolv.conf <(echo "$image_ids") 2>/dev/null | sha256sum | cut -c1-32)
if [ "$force" -eq 0 ] && [ -f "$stamp" ]; then
  read -r stamp_key stamp_time stamp_line < "$stamp" || true
  [[ ${stamp_time:-} =~ ^[0-9]+$ ]] || stamp_time=0
  if [ "${stamp_key:-}" = "$key" ] && [ $(( $(date +%s) - stamp_time )) -lt "$fresh_seconds" ]; then
    say "ok (checked $(( ($(date +%s) - stamp_time) / 60 )) min ago): ${stamp_line:-}"
    exit 0
  fi
fi
rm -f "$stamp"

# 1. The network backend: CNI (Podman 4.3's pick on a host with CNI plugins) has no DNS on the gateway.
backend=$(timeout 20 podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null) ||
  fail "podman info failed: $(timeout 20 podman info 2>&1 | tail -n 2)" "check Podman itself: podman info"
if [ "$backend" != netavark ]; then
  fail "Podman uses the network backend '$backend', not netavark: containers would find no DNS server on the network gateway" \
    "install netavark and aardvark-dns (apt-get install netavark aardvark-dns iptables; scripts/bootstrap.sh does)" \
    "use the project's containers.conf (network_backend = \"netavark\"): export CONTAINERS_CONF=$PWD/containers.conf" \
    "podman info --format '{{.Host.NetworkBackend}}' must print netavark; containers and networks made under CNI must be made again (./v6gate lab-down)"
fi
aardvark=
for dir in /usr/local/libexec/podman /usr/local/lib/podman /usr/libexec/podman /usr/lib/podman; do
  [ -x "$dir/aardvark-dns" ] && { aardvark=$dir/aardvark-dns; break; }
done
[ -n "$aardvark" ] || fail "aardvark-dns is not installed: netavark networks would have no DNS server on the gateway" \
  "apt-get install aardvark-dns (scripts/bootstrap.sh does)"

# 2. A throwaway dual-stack network, removed again on every way out.
probe_containers=()
cleanup() {
  local name
  for name in "${probe_containers[@]}"; do
    timeout 20 podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  done
  timeout 20 podman network rm -f "$network" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
timeout 20 podman network rm -f "$network" >/dev/null 2>&1 || true # left over from a killed run
if ! out=$(timeout 20 podman network create --ipv6 --subnet "$ipv6_subnet" --subnet "$ipv4_subnet" \
             --label owner=v6gate-probe "$network" 2>&1); then
  fail "cannot create the dual-stack Podman network $network ($ipv6_subnet, $ipv4_subnet): $out" \
    "another network may use these subnets: podman network ls; podman network inspect NAME"
fi

# 3. In the container: the mirror and suite from the image's apt sources, the name resolved through
# the gateway only (--dns), and the first bytes of dists/<suite>/Release. Prints one result line.
probe_py=$(cat <<'PY'
import socket, sys, urllib.parse, urllib.request
uri = suite = None
for line in open("/etc/apt/sources.list", encoding="utf-8"):
    words = line.split("#")[0].split()
    if words[:1] == ["deb"]:
        words = [w for w in words[1:] if not w.startswith("[") and not w.endswith("]") and "=" not in w]
        if len(words) >= 2 and "security" not in words[0]:
            uri, suite = words[0].rstrip("/"), words[1]
            break
if not uri:
    print("sources - - no deb line in /etc/apt/sources.list"); sys.exit(1)
url = f"{uri}/dists/{suite}/Release"
host = urllib.parse.urlsplit(uri).hostname
try:
    addresses = sorted({a[4][0] for a in socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)})
except OSError as exc:
    print(f"resolve {host} {url} {exc}"); sys.exit(1)
try:
    with urllib.request.urlopen(url, timeout=10) as reply:
        head = reply.read(2048)
except Exception as exc:
    print(f"fetch {host} {url} {exc} (addresses: {' '.join(addresses)})"); sys.exit(1)
if b"Suite:" not in head and b"Codename:" not in head:
    print(f"fetch {host} {url} the reply is not a Release file: {head[:80]!r}"); sys.exit(1)
print(f"ok {host} {url} {' '.join(addresses)}")
PY
)

urls=()
for image in "${images[@]}"; do
  name=v6gate-probe-$(echo "${image##*/}" | tr -c 'A-Za-z0-9_.\n-' '-')
  probe_containers+=("$name")
  rc=0
  out=$(timeout -k 5 30 podman run --rm --name "$name" --network "$network" --dns "$gateway" \
          --pull=never "$image" python3 -c "$probe_py" 2>&1) || rc=$?
  result=$(echo "$out" | grep -E '^(ok|sources|resolve|fetch) ' | tail -n 1 || true)
  read -r what host url detail <<< "${result:-none - - -}"
  case "$what" in
    ok) urls+=("$url"); continue ;;
    none)
      if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "the probe container from $image did not finish within 30 s" \
          "see whether containers start at all: podman run --rm --network $network $image true"
      fi
      fail "the probe container from $image did not run (exit $rc): $(echo "$out" | grep -v 'failed to connect to syslog' | tail -n 3)" \
        "netavark sets up container networks with iptables: apt-get install iptables (scripts/bootstrap.sh does)" \
        "try it by hand: podman network create --ipv6 --subnet $ipv6_subnet --subnet $ipv4_subnet $network; podman run --rm --network $network $image true" ;;
    sources)
      fail "$image: $detail" "rebuild the images: molecule/images/build.sh --rebuild" ;;
    resolve)
      # Does the host itself resolve the name? Then the gateway (aardvark-dns) is the problem.
      if host_addr=$(timeout 5 getent ahosts "$host" 2>/dev/null | awk 'NR == 1 { print $1 }') && [ -n "$host_addr" ]; then
        fail "a container cannot resolve $host through the network gateway $gateway (aardvark-dns): $detail; this host resolves it ($host_addr)" \
          "aardvark-dns must answer on the gateway: $aardvark (apt-get install --reinstall aardvark-dns netavark)" \
          "a host firewall must not drop DNS (udp and tcp port 53) from $ipv4_subnet to $gateway" \
          "aardvark-dns forwards to this host's resolvers in /etc/resolv.conf: they must answer it"
      fi
      fail "neither a container nor this host can resolve the Debian mirror $host (from $image's /etc/apt/sources.list): $detail" \
        "this host needs a working resolver (/etc/resolv.conf): try getent hosts deb.debian.org" \
        "if the name is wrong: the images take the mirror from this host's apt sources when they are built; fix those, then molecule/images/build.sh --rebuild" ;;
    fetch)
      if timeout 10 python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=8).read(64)' "$url" 2>/dev/null; then
        fail "a container resolves $host but cannot fetch $url: $detail; this host can" \
          "netavark forwards and masquerades container traffic with iptables: apt-get install iptables, and check sysctl net.ipv4.ip_forward (netavark sets it to 1)" \
          "a host firewall must not drop traffic forwarded from $ipv4_subnet and $ipv6_subnet" \
          "if this host reaches the mirror only through a proxy, the containers cannot: use a mirror they reach directly"
      fi
      fail "the Debian mirror does not answer: $url: $detail (neither from a container nor from this host)" \
        "check the mirror and this host's access to it: python3 -c 'import urllib.request; urllib.request.urlopen(\"$url\")'" \
        "if the mirror is wrong: the images take it from this host's apt sources when they are built; fix those, then molecule/images/build.sh --rebuild" ;;
  esac
done

line="a container on a dual-stack network resolves ${host:-?} through the gateway and fetches $(printf '%s, ' "${urls[@]}" | sed 's/, $//')"
echo "$key $(date +%s) $line" > "$stamp"
say "ok ($((SECONDS - started)) s): $line"
