#!/usr/bin/env bash
# Lesson 4: how a container reaches beyond its host. Its default route points at
# the bridge; the host forwards (ip_forward) and rewrites the source address
# (MASQUERADE), so the outside sees the host, never the container.
. "$(dirname "$0")/lib.sh"
need_image busybox
outside=lesson4-outside-$$
later ip netns delete "$outside"
later ip link delete lesson4-up

step "An 'outside world' for the lesson: a namespace behind a veth, at 10.123.0.2"
show ip netns add "$outside"
show ip link add lesson4-up type veth peer name lesson4-peer netns "$outside"
show ip addr add 10.123.0.1/24 dev lesson4-up
show ip link set lesson4-up up
show ip -n "$outside" addr add 10.123.0.2/24 dev lesson4-peer
show ip -n "$outside" link set lesson4-peer up
note "a listener there answers every connection with its table of connections (so we see who came)"
later minirt rm -f lesson4-listener
show ip netns exec "$outside" minirt run -d --name lesson4-listener --network host busybox nc -ll -p 9000 -e netstat -tn
retry 50 sh -c "ip netns exec $outside ss -ltn | grep -q ':9000 '"

step "The container's routes: its subnet on eth0, everything else via the bridge's address"
later minirt rm -f lesson4-client
show minirt run -d --name lesson4-client busybox sleep 300
show minirt exec lesson4-client ip route
check "a default route via the gateway" contains "$OUT" "default via"
gateway=$(printf '%s\n' "$OUT" | awk '/^default/ {print $3}')

step "The host forwards between interfaces"
show sysctl net.ipv4.ip_forward
check "ip_forward is on (the bridge plugin turned it on)" contains "$OUT" "= 1"

step "The container connects to 10.123.0.2:9000; the outside sees the host's address"
show minirt exec lesson4-client sh -c 'timeout 5 nc 10.123.0.2 9000 </dev/null'
check "the peer saw 10.123.0.1 (the host), not the container" contains "$OUT" "10.123.0.1:"
check "no container address reached the outside" lacks "$OUT" "${gateway%.*}."

step "The rules that did it, written by the bridge plugin: POSTROUTING sends the container's address to its own chain"
client=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' lesson4-client)
show sh -c "iptables -t nat -S POSTROUTING | grep -- '-s $client'"
chain=$(printf '%s\n' "$OUT" | grep -o -- '-j CNI-[0-9a-f]*' | head -1 | cut -c4-)
check "the container's source address has a chain of its own" [ -n "$chain" ]
show iptables -t nat -S "$chain"
check "which accepts its own subnet and masquerades the rest" contains "$OUT" "-j MASQUERADE"
