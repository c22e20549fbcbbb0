#!/usr/bin/env bash
# Lesson 1: the three network modes, side by side.
# none: a network namespace of its own with only lo; host: the host's own
# namespace; bridge (the default): its own namespace wired to a Linux bridge.
. "$(dirname "$0")/lib.sh"
need_image busybox

step "--network none: a new network namespace, and in it only the loopback interface"
show minirt run --rm --network none busybox ip -o addr
check "only lo exists" [ "$(printf '%s\n' "$OUT" | awk '{print $2}' | sort -u)" = lo ]

step "--network host: no network namespace of its own; it sees exactly what the host sees"
show ip -o link
host_links=$(printf '%s\n' "$OUT" | awk -F': ' '{print $2}' | sort)
show minirt run --rm --network host busybox ip -o link
check "the same interfaces as the host" [ "$(printf '%s\n' "$OUT" | awk -F': ' '{print $2}' | sed 's/@.*//' | sort)" = "$(printf '%s\n' "$host_links" | sed 's/@.*//')" ]

step "--network bridge (the default): eth0, one end of a veth pair whose other end is on the bridge minirt0"
show minirt run --rm busybox sh -c 'ip -o -4 addr show eth0; ip route'
check "eth0 has an address from the bridge network's subnet" contains "$OUT" "inet 10."
check "the default route goes through the bridge's address" contains "$OUT" "default via"
show ip -o -4 addr show minirt0
check "the host side: the bridge minirt0 holds the gateway address" contains "$OUT" "minirt0"
