#!/usr/bin/env bash
# The kernel's ESP ceiling on one host (the deployed-stack mode, on the AWS gateway: deployed.ts): two
# namespaces joined by a veth, a static-key `ip xfrm` tunnel (no IKE) with the given cipher and
# ESP-in-UDP 4500 like the NAT-T tunnel, then iperf3 between the inner addresses. The lab crosses its
# WAN instead, between the two gateways (wanCeiling.ts).
#   esp-ceiling.sh setup CIPHER [esn] | iperf ARGS... | teardown
#   esn: extended sequence numbers and a 128-packet replay window, as Libreswan's SAs have
set -euo pipefail
A=bench-esp-a B=bench-esp-b
OUTER_A=172.31.255.1 OUTER_B=172.31.255.2 INNER_A=10.255.1.1 INNER_B=10.255.2.1
key() { echo "0x$(head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
algo() {
  case $1 in
    aes-gcm-256) echo "aead rfc4106(gcm(aes)) $(key 36) 128" ;;
    aes-gcm-128) echo "aead rfc4106(gcm(aes)) $(key 20) 128" ;;
    chacha20-poly1305) echo "aead rfc7539esp(chacha20,poly1305) $(key 36) 128" ;;
    aes-cbc-sha1) echo "enc cbc(aes) $(key 16) auth-trunc hmac(sha1) $(key 20) 96" ;;
    plain) echo "" ;;
    *) echo "esp-ceiling: unknown cipher $1" >&2; exit 2 ;;
  esac
}
teardown() {
  # shellcheck disable=SC2015  # || true covers both: no pid file and a process already gone are fine
  [[ -f /run/bench-esp-iperf.pid ]] && kill "$(cat /run/bench-esp-iperf.pid)" 2>/dev/null || true
  rm -f /run/bench-esp-iperf.pid
  for ns in $A $B; do
    # shellcheck disable=SC2015  # as above
    [[ -f /run/$ns.encap.pid ]] && kill "$(cat "/run/$ns.encap.pid")" 2>/dev/null || true
    rm -f "/run/$ns.encap.pid"
    ip netns del "$ns" 2>/dev/null || true
  done
}
case $1 in
  setup)
    teardown
    ip netns add $A; ip netns add $B
    ip link add veth-esp-a netns $A type veth peer name veth-esp-b netns $B
    ip -n $A addr add $OUTER_A/30 dev veth-esp-a; ip -n $B addr add $OUTER_B/30 dev veth-esp-b
    ip -n $A addr add $INNER_A/32 dev lo; ip -n $B addr add $INNER_B/32 dev lo
    for ns in $A $B; do ip -n "$ns" link set lo up; done
    ip -n $A link set veth-esp-a up; ip -n $B link set veth-esp-b up
    ip -n $A route add $INNER_B/32 via $OUTER_B src $INNER_A
    ip -n $B route add $INNER_A/32 via $OUTER_A src $INNER_B
    extra=(); [[ ${3:-} == esn ]] && extra=(replay-window 128 flag esn)
    if [[ $2 != plain ]]; then
      read -r -a ab <<<"$(algo "$2")"; read -r -a ba <<<"$(algo "$2")"
      for ns in $A $B; do
        ip -n "$ns" xfrm state add src $OUTER_A dst $OUTER_B proto esp spi 0x1001 reqid 1 mode tunnel "${extra[@]}" "${ab[@]}" encap espinudp 4500 4500 0.0.0.0
        ip -n "$ns" xfrm state add src $OUTER_B dst $OUTER_A proto esp spi 0x1002 reqid 2 mode tunnel "${extra[@]}" "${ba[@]}" encap espinudp 4500 4500 0.0.0.0
        # ESP-in-UDP is decapsulated only on a UDP socket marked UDP_ENCAP_ESPINUDP (pluto holds one).
        ip netns exec "$ns" setsid python3 -c 'import socket,signal
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.setsockopt(socket.IPPROTO_UDP,100,2); s.bind(("0.0.0.0",4500)); signal.pause()' \
          </dev/null >/dev/null 2>&1 &
        echo $! >"/run/$ns.encap.pid"
      done
      ip -n $A xfrm policy add src $INNER_A/32 dst $INNER_B/32 dir out tmpl src $OUTER_A dst $OUTER_B proto esp reqid 1 mode tunnel
      ip -n $A xfrm policy add src $INNER_B/32 dst $INNER_A/32 dir in tmpl src $OUTER_B dst $OUTER_A proto esp reqid 2 mode tunnel
      ip -n $B xfrm policy add src $INNER_B/32 dst $INNER_A/32 dir out tmpl src $OUTER_B dst $OUTER_A proto esp reqid 2 mode tunnel
      ip -n $B xfrm policy add src $INNER_A/32 dst $INNER_B/32 dir in tmpl src $OUTER_A dst $OUTER_B proto esp reqid 1 mode tunnel
      for _ in $(seq 50); do ip netns exec $A ss -Hlun 'sport = :4500' | grep . >/dev/null && ip netns exec $B ss -Hlun 'sport = :4500' | grep . >/dev/null && break; sleep 0.1; done
    fi
    ip netns exec $B iperf3 -s -D -B $INNER_B -I /run/bench-esp-iperf.pid
    for _ in $(seq 50); do ip netns exec $B ss -Hltn 'sport = :5201' | grep . >/dev/null && break; sleep 0.1; done
    ip netns exec $A ping -c 1 -W 2 $INNER_B >/dev/null || { echo "esp-ceiling: $INNER_B unreachable through the static tunnel" >&2; exit 1; }
    ip -n $A xfrm state | grep -E '^\s+(aead|enc|auth|auth-trunc) ' | sed -E 's/0x[0-9a-f]+/<key>/' | sort -u | paste -sd ' ' || true
    ;;
  iperf) shift; ip netns exec $A iperf3 -c $INNER_B -B $INNER_A "$@" ;;
  teardown) teardown ;;
esac
