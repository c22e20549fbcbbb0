#!/usr/bin/env bash
# Lesson 12: pod networking across nodes. Each node gets its own slice of the
# cluster's pod range (10.244.1.0/24, 10.244.2.0/24, as the course and
# flannel lay it out); each node routes the other's slice to that node's LAN
# address (flannel's host-gw backend, or what Calico's BGP installs). Pods
# then reach each other by their own addresses, with no NAT on the way.
. "$(dirname "$0")/lib.sh"
need_image busybox
need_image nettools
make_nodes "l12-$$" 2
later on_node 1 minirt network rm pods
later on_node 2 minirt network rm pods
later on_node 1 minirt rm -f pod-a
later on_node 2 minirt rm -f pod-b

step "Two nodes on one LAN, each a network namespace with its own minirt"
show on_node 1 ip -4 -o addr show eth0
show on_node 2 ip -4 -o addr show eth0
show on_node 1 ping -c 1 -W 2 192.168.50.12
check "node 1 reaches node 2 over the LAN" contains "$OUT" "1 received"

step "Each node's pod network: its slice of 10.244.0.0/16, no outbound NAT (-o ip-masq=false)"
show on_node 1 minirt network create --subnet 10.244.1.0/24 -o ip-masq=false pods
show on_node 2 minirt network create --subnet 10.244.2.0/24 -o ip-masq=false pods

step "A pod on each node: pod-a on node 1 answers on port 9000 with its table of connections"
show on_node 1 minirt run -d --name pod-a --network pods busybox nc -ll -p 9000 -e netstat -tn
show on_node 2 minirt run -d --name pod-b --network pods nettools sleep 300
a=$(on_node 1 minirt inspect -f '{{.NetworkSettings.IPAddress}}' pod-a)
b=$(on_node 2 minirt inspect -f '{{.NetworkSettings.IPAddress}}' pod-b)
note "pod-a is $a on node 1, pod-b is $b on node 2"

step "Without routes, node 2 does not know where 10.244.1.0/24 is: pod-b's packets die at its node"
show on_node 2 ip route
check "node 2 has no route to node 1's pods" lacks "$OUT" "10.244.1.0/24"
if on_node 2 minirt exec pod-b ping -c 1 -W 1 "$a" >/dev/null 2>&1; then
    echo "demo failed: pod-b reached pod-a before any route existed" >&2; exit 1
fi
note "ping $a from pod-b: no answer"

step "Routes: each node sends the other's slice to the other's LAN address"
show on_node 1 ip route add 10.244.2.0/24 via 192.168.50.12 dev eth0
show on_node 2 ip route add 10.244.1.0/24 via 192.168.50.11 dev eth0
show on_node 2 ip route get "$a"
check "node 2 sends pod-a's address to node 1" contains "$OUT" "via 192.168.50.11"

step "The path, hop by hop: pod-b's gateway (its node's bridge), node 1's LAN address, pod-a"
retry 50 on_node 1 minirt exec pod-a sh -c "netstat -ltn | grep -q ':9000 '"
show on_node 2 minirt exec pod-b traceroute -n -q 1 -w 2 "$a"
check "first hop: node 2's bridge 10.244.2.1" contains "$OUT" " 10.244.2.1 "
check "then node 1, 192.168.50.11" contains "$OUT" " 192.168.50.11 "
check "then pod-a itself" contains "$OUT" " $a "

step "No NAT anywhere: pod-a sees pod-b's own address"
show on_node 2 minirt exec pod-b sh -c "timeout 5 nc $a 9000 </dev/null"
check "the connection came from $b, pod-b's address" contains "$OUT" "$b:"
show on_node 1 sh -c "iptables -t nat -S POSTROUTING | grep -c MASQUERADE || true"
check "node 1 masquerades nothing" [ "$OUT" = 0 ]
