#!/usr/bin/env bash
# Lesson 13: an overlay. The same two nodes and pod slices as lesson 12, but
# the LAN is not asked to route pod addresses: each node has a VXLAN device
# (as flannel's vxlan backend makes, flannel.1) that wraps a pod's packet in
# UDP to the other node's LAN address, port 4789. The forwarding database and
# the neighbour table tell each device where the other's pods live.
. "$(dirname "$0")/lib.sh"
need_image busybox
need_image nettools
make_nodes "l13-$$" 2
later on_node 1 minirt network rm pods
later on_node 2 minirt network rm pods
later minirt rm -f l13-capture
later on_node 1 minirt rm -f pod-a
later on_node 2 minirt rm -f pod-b

step "Pod networks on each node, 50 bytes under the LAN's MTU: VXLAN's outer headers take them"
show on_node 1 minirt network create --subnet 10.244.1.0/24 -o ip-masq=false -o com.docker.network.driver.mtu=1450 pods
show on_node 2 minirt network create --subnet 10.244.2.0/24 -o ip-masq=false -o com.docker.network.driver.mtu=1450 pods
show on_node 1 minirt run -d --name pod-a --network pods busybox nc -ll -p 9000 -e netstat -tn
show on_node 2 minirt run -d --name pod-b --network pods nettools sleep 300
a=$(on_node 1 minirt inspect -f '{{.NetworkSettings.IPAddress}}' pod-a)
b=$(on_node 2 minirt inspect -f '{{.NetworkSettings.IPAddress}}' pod-b)
note "pod-a is $a on node 1, pod-b is $b on node 2"

step "A VXLAN device per node: network id (VNI) 1, UDP port 4789, over eth0; fixed MACs so the other node can name them"
for n in 1 2; do
    show on_node $n ip link add flannel.1 address 02:42:0a:f4:0$n:00 type vxlan id 1 local 192.168.50.1$n dev eth0 dstport 4789 nolearning
    show on_node $n ip addr add 10.244.$n.0/32 dev flannel.1
    show on_node $n ip link set flannel.1 up
done
show on_node 1 ip -d link show flannel.1
check "a vxlan device, id 1, port 4789" contains "$OUT" "vxlan id 1"

step "Where the other node's pods are: a route through flannel.1, the neighbour (the remote device's MAC) and the fdb entry (that MAC lives behind the other node's LAN address)"
show on_node 1 ip route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
show on_node 1 ip neigh add 10.244.2.0 lladdr 02:42:0a:f4:02:00 dev flannel.1 nud permanent
show on_node 1 bridge fdb append 02:42:0a:f4:02:00 dev flannel.1 dst 192.168.50.12
show on_node 2 ip route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink
show on_node 2 ip neigh add 10.244.1.0 lladdr 02:42:0a:f4:01:00 dev flannel.1 nud permanent
show on_node 2 bridge fdb append 02:42:0a:f4:01:00 dev flannel.1 dst 192.168.50.11
show on_node 2 bridge fdb show dev flannel.1
check "node 2 sends node 1's device's frames to 192.168.50.11" contains "$OUT" "dst 192.168.50.11"
show on_node 2 ip route
check "the LAN itself carries no pod route: only flannel.1 does" lacks "$OUT" "10.244.1.0/24 via 192.168.50"

step "Watch the LAN: tcpdump (in minirt's nettools image, on the host's network) on node 1's cable to the LAN switch"
# A bridge passes frames between its ports without showing them on its own device: capture on a port.
show minirt run -d --name l13-capture --network host nettools timeout 20 tcpdump -i "$NODE_PREFIX-v1" -nn -p -l -c 2 udp port 4789
retry 50 sh -c "minirt logs l13-capture 2>&1 | grep -q 'listening on'"

step "pod-b pings pod-a by its own address, across the overlay"
show on_node 2 minirt exec pod-b ping -c 1 -W 2 "$a"
check "pod-a answered" contains "$OUT" "1 received"
show minirt wait l13-capture
show minirt logs l13-capture
check "on the LAN: UDP between the nodes' addresses, to port 4789" contains "$OUT" "192.168.50.12."
check "a VXLAN header with network id 1" contains "$OUT" "vni 1"
check "inside it, the pods' own addresses: $b to $a" contains "$OUT" "$b > $a"

step "A TCP connection through the overlay: pod-a sees pod-b's own address, no NAT"
retry 50 on_node 1 minirt exec pod-a sh -c "netstat -ltn | grep -q ':9000 '"
show on_node 2 minirt exec pod-b sh -c "timeout 5 nc $a 9000 </dev/null"
check "the connection came from $b" contains "$OUT" "$b:"
