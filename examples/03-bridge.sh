#!/usr/bin/env bash
# Lesson 3: a bridge is a virtual switch. Containers plugged into it reach each
# other directly, at layer 2: ARP, then frames through the bridge.
. "$(dirname "$0")/lib.sh"
need_image busybox
later minirt rm -f lesson3-a lesson3-b lesson3-c

step "Three containers on the default bridge network"
for c in a b c; do show minirt run -d --name lesson3-$c busybox sleep 300; done
a=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' lesson3-a)
b=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' lesson3-b)
c=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' lesson3-c)
note "addresses: a=$a b=$b c=$c"

step "Each container's veth peer is a port of the bridge minirt0"
show bridge link show master minirt0
check "three ports on minirt0" [ "$(printf '%s\n' "$OUT" | grep -c 'master minirt0')" -ge 3 ]

step "a pings b and c by address"
show minirt exec lesson3-a ping -c 1 -W 2 "$b"
check "b answers" contains "$OUT" "1 packets received"
show minirt exec lesson3-a ping -c 1 -W 2 "$c"
check "c answers" contains "$OUT" "1 packets received"

step "a's ARP table now holds b's and c's MAC addresses, learned through the bridge"
show minirt exec lesson3-a ip neigh
check "b's address is in a's neighbour table" contains "$OUT" "$b"
check "c's address is in a's neighbour table" contains "$OUT" "$c"

step "The bridge learned which port leads to which MAC (its forwarding database)"
mac_b=$(minirt inspect -f '{{.NetworkSettings.MacAddress}}' lesson3-b)
show bridge fdb show br minirt0
check "b's MAC is in the bridge's forwarding table" contains "$OUT" "$mac_b"
