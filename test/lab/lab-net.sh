#!/usr/bin/env bash
# lab-net.sh up|down|status - the lab network: netns "lab-wan" holding bridge "lab-br0" with 198.18.0.1/24.
# A server under test runs directly inside lab-wan (it owns 198.18.0.1); VM taps are attached to lab-br0.
# Env: LAB_NETNS (default lab-wan), LAB_BRIDGE (lab-br0), LAB_WAN_ADDR (198.18.0.1/24),
#      LAB_BRIDGE_MAC (02:00:c6:12:00:01)
#
# The bridge gets a fixed MAC address. A bridge without a MAC of its own takes the lowest MAC of its
# ports, which changes whenever a VM's tap joins or leaves; a client that is already connected keeps
# a stale ARP entry for the server (198.18.0.1), and its packets are dropped by the server's host (not
# addressed to it) until the server next sends to that client. It looks like "a session stops
# receiving when another session ends", whatever the server on the bridge and its data-plane threads.
set -euo pipefail
NS="${LAB_NETNS:-lab-wan}"; BR="${LAB_BRIDGE:-lab-br0}"; ADDR="${LAB_WAN_ADDR:-198.18.0.1/24}"
MAC="${LAB_BRIDGE_MAC:-02:00:c6:12:00:01}"
case "${1:-status}" in
  up)
    ip netns list | awk '{print $1}' | grep -qx "$NS" || ip netns add "$NS"
    ip -n "$NS" link set lo up
    ip -n "$NS" link show "$BR" >/dev/null 2>&1 || ip -n "$NS" link add "$BR" type bridge
    ip -n "$NS" link set "$BR" address "$MAC" # fixed: see the top of this file
    ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
    ip -n "$NS" link set "$BR" up
    ip -n "$NS" -4 addr show dev "$BR" | grep -q "inet ${ADDR%/*}/" || ip -n "$NS" addr add "$ADDR" dev "$BR"
    ;;
  down)
    if ip netns list | awk '{print $1}' | grep -qx "$NS"; then ip netns del "$NS"; fi
    ;;
  status)
    ip netns list | awk '{print $1}' | grep -qx "$NS" || { echo "netns $NS: absent"; exit 1; }
    ip -n "$NS" -br addr; ip -n "$NS" -br link
    ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
