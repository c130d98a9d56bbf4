#!/usr/bin/env bash
# Throw-away lab proving the IPv6 gate against real Postfix + OpenDKIM over real IPv6.
#
#   tests/gate/lab.sh up       # network, ns (Knot), mx (Postfix + OpenDKIM + ipv6_gate role), tx (sender)
#   tests/gate/lab.sh verify   # tests/gate/verify.py: real SMTP over IPv6/IPv4, exact reply lines
#   tests/gate/lab.sh down     # remove containers and network
#
# Postfix and OpenDKIM are configured here by hand, exactly as the postfix/opendkim roles are asked to
# (see docs/gate.md, "Postfix wiring"); the gate itself is installed by roles/ipv6_gate. The Molecule
# scenario molecule/ipv6_inbound replaces this script with site.yml once those roles are complete.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$REPO/containers.conf}
PREFIX=${GATE_LAB_PREFIX:-gatelab}
IMAGE=${GATE_LAB_IMAGE:-localhost/v6gate-debian:12}
NET=$PREFIX-net
NET6=2001:db8:b0
NET4=198.51.100
NS6=$NET6::53 NS4=$NET4.179
MX6=$NET6::25 MX4=$NET4.181
TX6=$NET6::10 TX4=$NET4.182
AUTHSERV_ID=mx.gate.example

cx() { podman exec "$PREFIX-$1" bash -c "$2"; }

apt_install() {  # container, packages...
  local name=$1; shift
  cx "$name" "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq $* >/tmp/apt.log 2>&1 || { tail -20 /tmp/apt.log; exit 1; }"
}

up() {
  podman network exists "$NET" || podman network create --ipv6 --subnet "$NET6::/64" --subnet "$NET4.176/28" "$NET" >/dev/null
  local name ip6 ip4
  while read -r name ip6 ip4; do
    podman container exists "$PREFIX-$name" || podman run -d --name "$PREFIX-$name" --hostname "$name.gate.example" \
      --network "$NET" --ip6 "$ip6" --ip "$ip4" --cap-add NET_ADMIN --systemd=always "$IMAGE" /sbin/init >/dev/null
  done <<<"ns $NS6 $NS4
mx $MX6 $MX4
tx $TX6 $TX4"
  sleep 2

  # ns: Knot serving tests/gate/zones on the lab network.
  apt_install ns knot
  cx ns "mkdir -p /var/lib/knot/lab"
  for zone in "$REPO"/tests/gate/zones/*.zone; do podman cp "$zone" "$PREFIX-ns:/var/lib/knot/lab/"; done
  cx ns "cat > /etc/knot/knot.conf <<CONF
server:
  listen: [ $NS6@53, $NS4@53 ]
template:
  - id: default
    storage: /var/lib/knot/lab
    zonefile-sync: -1
    journal-content: none
zone:
\$(cd /var/lib/knot/lab && for f in *.zone; do printf '  - domain: %s\n' \"\${f%.zone}\"; done)
CONF
chown -R knot:knot /var/lib/knot/lab; knotc conf-check && systemctl restart knot"

  # tx: extra source addresses (no PTR, PTR that does not resolve back, trusted partner).
  cx tx "for a in 11 12 13 14; do ip -6 addr add $NET6::\$a/64 dev eth0 nodad 2>/dev/null || true; done"
  apt_install tx python3-dkim
  podman cp "$REPO/tests/gate/smtp_case.py" "$PREFIX-tx:/usr/local/bin/smtp_case.py"
  podman cp "$REPO/tests/fixtures/dkim/rsa2048.pem" "$PREFIX-tx:/root/s1.pem"

  # mx: Postfix + OpenDKIM, wired as docs/gate.md asks of the postfix and opendkim roles.
  # /etc/resolv.conf stays as it is (apt needs it); OpenDKIM and the gate are pointed at ns explicitly.
  cx mx "echo 'postfix postfix/main_mailer_type select Internet Site' | debconf-set-selections
echo 'postfix postfix/mailname string mx.gate.example' | debconf-set-selections"
  apt_install mx postfix opendkim
  cx mx "id user >/dev/null 2>&1 || useradd -m user
cat > /etc/opendkim.conf <<CONF
Syslog yes
UserID opendkim
UMask 007
PidFile /run/opendkim/opendkim.pid
Mode sv
Socket inet:8891@127.0.0.1
AuthservID $AUTHSERV_ID
AuthservIDWithJobID no
AlwaysAddARHeader yes
Nameservers $NS6
Canonicalization relaxed/simple
CONF
cat > /etc/postfix/authres_strip.regexp <<'CONF'
/^Authentication-Results:[[:space:]]*mx\.gate\.example[[:space:]]*(;|\(|\$)/ IGNORE
CONF
cat > /etc/postfix/milter_maps.cidr <<CONF
[::1]/128 inet:127.0.0.1:8891
[$NET6::13]/128 inet:127.0.0.1:8891
::/0 inet:127.0.0.1:8891, inet:127.0.0.1:8893
CONF
postconf -e myhostname=mx.gate.example 'mydestination=contoso.example, fabrikam.example, localhost' \
  'inet_protocols=all' 'mynetworks=127.0.0.0/8 [::1]/128' \
  'smtpd_recipient_restrictions=permit_mynetworks, reject_unauth_destination' \
  'smtpd_milters=inet:127.0.0.1:8891' 'non_smtpd_milters=' 'smtpd_milter_maps=cidr:/etc/postfix/milter_maps.cidr' \
  'milter_default_action=tempfail' 'header_checks=regexp:/etc/postfix/authres_strip.regexp' \
  'smtpd_tls_security_level=none' 'disable_dns_lookups=no'
systemctl restart opendkim postfix"

  # the gate, by its role
  "$REPO/.venv/bin/ansible-playbook" -i "$PREFIX-mx," -c containers.podman.podman \
    "$REPO/tests/gate/gate_lab.yml" -e "ipv6_gate_lab_trusted=$NET6::13/128 ipv6_gate_lab_ns=$NS6" "$@"
}

verify() { "$REPO/.venv/bin/python" "$REPO/tests/gate/verify.py" --prefix "$PREFIX" "$@"; }

down() {
  for name in tx mx ns; do podman rm -f "$PREFIX-$name" >/dev/null 2>&1 || true; done
  podman network rm "$NET" >/dev/null 2>&1 || true
}

cmd=${1:-}; shift || true
case "$cmd" in
  up) up "$@" ;;
  verify) verify "$@" ;;
  down) down ;;
  *) echo "usage: $0 up|verify|down" >&2; exit 2 ;;
esac
