#!/usr/bin/env bash
# Lesson 2: a network namespace is a separate network stack; a veth pair is a
# cable between two of them. First by hand with `ip netns`, then the same thing
# as minirt (through the CNI bridge plugin) builds it for a container.
. "$(dirname "$0")/lib.sh"
need_image busybox
red=lesson2-red-$$ blue=lesson2-blue-$$
later ip netns delete "$red"
later ip netns delete "$blue"

step "Two empty network namespaces"
show ip netns add "$red"
show ip netns add "$blue"
show ip netns exec "$red" ip -o link
check "a new namespace has only lo, and it is down" contains "$OUT" "lo: <LOOPBACK>"

step "A veth pair: what enters one end leaves the other. One end into each namespace"
show ip link add veth-red type veth peer name veth-blue
show ip link set veth-red netns "$red"
show ip link set veth-blue netns "$blue"
show ip -n "$red" addr add 10.124.0.1/24 dev veth-red
show ip -n "$blue" addr add 10.124.0.2/24 dev veth-blue
show ip -n "$red" link set veth-red up
show ip -n "$blue" link set veth-blue up
show ip netns exec "$red" ping -c 1 -W 2 10.124.0.2
check "red reaches blue through the cable" contains "$OUT" "1 received"

step "The same by minirt: the container's namespace is pinned at /var/run/netns/minirt-<id>"
later minirt rm -f lesson2
show minirt run -d --name lesson2 busybox sleep 300
short=$(minirt inspect -f '{{.Id}}' lesson2 | cut -c1-12)
show ip netns list
check "ip netns lists the container's namespace" contains "$OUT" "minirt-$short"
show ip netns exec "minirt-$short" ip -o link show eth0
check "inside: eth0, one end of a veth pair (eth0@ifN names its peer's index)" contains "$OUT" "eth0@if"
peer=$(printf '%s\n' "$OUT" | sed -n 's/.*eth0@if\([0-9]*\).*/\1/p')

step "The other end is on the host, plugged into the bridge minirt0"
show ip -o link show type veth
check "host interface $peer is a veth in the bridge minirt0" sh -c "ip -o link show type veth | grep -q '^$peer: .*master minirt0'"
check "and its peer lives in the container's namespace" sh -c "ip -o link show type veth | grep '^$peer: ' | grep -q 'link-netns minirt-$short'"
note "by hand: two namespaces and a cable; minirt: the same cable, one end on a bridge, set up by the CNI bridge plugin"
