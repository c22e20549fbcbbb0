#!/usr/bin/env bash
# Lesson 15: IPAM kinds. The main plugin wires a container; which address it
# gets is the IPAM plugin's job, and there are three kinds: host-local hands
# out addresses from a range and keeps a lease file per address on this host;
# static gives the address written in the config; dhcp asks a DHCP server on
# the network (the dhcp plugin's daemon does the DHCP exchange from inside the
# container's namespace and renews the lease until DEL releases it).
# Three hand-written conflists on one LAN show them side by side. The LAN is a
# veth to a namespace that plays its router and DHCP server; the containers
# join it with macvlan, whose DEL asks IPAM to release before it removes the
# interface (the bridge plugin 1.1.1 removes it first, so no DHCP release can
# be sent from it: containernetworking/plugins#791).
. "$(dirname "$0")/lib.sh"
need_image busybox
conf=${MINIRT_CNI_CONFIG:-/etc/minirt/cni/net.d}
root=${MINIRT_ROOT:-/var/run/minirt}
work=$(mktemp -d /tmp/minirt-lesson15-XXXXXX)
server=l15-dhcp-$$
later rm -rf "$work"
later rm -f "$conf/l15-hostlocal.conflist" "$conf/l15-static.conflist" "$conf/l15-dhcp.conflist"
later rm -rf "$root/.ipam/l15-hostlocal"
mkdir -p "$conf"
on_server() { nsenter --net="/run/netns/$server" "$@"; }

step "A LAN: this host's end l15-lan, and at the other end a router that is also the DHCP server (dnsmasq)"
show ip netns add "$server"
later ip netns del "$server"
show ip link add l15-lan type veth peer name eth0 netns "$server"
later ip link del l15-lan
show ip link set l15-lan up
show on_server ip addr add 192.168.60.1/24 dev eth0
show on_server ip link set eth0 up
show on_server /usr/sbin/dnsmasq --conf-file=/dev/null --no-hosts --no-resolv --port=0 --user=root --interface=eth0 --bind-interfaces \
    --dhcp-range=192.168.60.100,192.168.60.150,1h --dhcp-leasefile="$work/dnsmasq.leases" --pid-file="$work/dnsmasq.pid" --log-facility=/dev/null
later 'kill $(cat '"$work"'/dnsmasq.pid)'
note "it serves 192.168.60.100-150; its leases are in $work/dnsmasq.leases"

step "The dhcp plugin needs its daemon: it holds the leases and renews them"
/usr/lib/cni/dhcp daemon -socketpath "$work/dhcp.sock" -pidfile "$work/dhcp.pid" -timeout 5s >"$work/dhcp.log" 2>&1 &
later 'kill $(cat '"$work"'/dhcp.pid)'
retry 50 test -S "$work/dhcp.sock"
note "it listens on $work/dhcp.sock"

step "Three networks on the same LAN, one per IPAM kind (any conflist in minirt's folder is a network)"
conflist() {  # conflist NAME IPAM-JSON
    printf '{"cniVersion":"1.0.0","name":"%s","plugins":[{"type":"macvlan","master":"l15-lan","mode":"bridge","ipam":%s}]}\n' "$1" "$2" >"$conf/$1.conflist"
    show cat "$conf/$1.conflist"
}
conflist l15-hostlocal '{"type":"host-local","ranges":[[{"subnet":"192.168.60.0/24","rangeStart":"192.168.60.10","rangeEnd":"192.168.60.19","gateway":"192.168.60.1"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"'"$root"'/.ipam"}'
conflist l15-static '{"type":"static","addresses":[{"address":"192.168.60.50/24","gateway":"192.168.60.1"}],"routes":[{"dst":"0.0.0.0/0"}]}'
conflist l15-dhcp '{"type":"dhcp","daemonSocketPath":"'"$work"'/dhcp.sock"}'
later minirt rm -f l15-a l15-b l15-c

step "host-local: the first free address of its range, and a lease file on this host"
show minirt run -d --name l15-a --network l15-hostlocal busybox sleep 300
a=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' l15-a)
check "an address from 192.168.60.10-19: $a" contains "$a" "192.168.60.1"
show ls "$root/.ipam/l15-hostlocal"
check "its lease is a file named by the address" contains "$OUT" "$a"

step "static: exactly the configured address, and nothing kept anywhere"
show minirt run -d --name l15-b --network l15-static busybox sleep 300
b=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' l15-b)
check "the address in the config: 192.168.60.50" [ "$b" = 192.168.60.50 ]

step "dhcp: the server chose, and its lease file names the container's MAC"
show minirt run -d --name l15-c --network l15-dhcp busybox sleep 300
c=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' l15-c)
mac=$(minirt inspect -f '{{.NetworkSettings.MacAddress}}' l15-c)
note "l15-c got $c, MAC $mac"
show cat "$work/dnsmasq.leases"
check "the DHCP server's lease: $mac has $c" contains "$OUT" "$mac $c"
show minirt exec l15-c ip route
check "and the default route it sent (its router option)" contains "$OUT" "default via 192.168.60.1"

step "All three share the LAN: the DHCP container reaches the other two, and each reaches the router"
show minirt exec l15-c ping -c 1 -W 2 "$a"
show minirt exec l15-c ping -c 1 -W 2 "$b"
show minirt exec l15-a ping -c 1 -W 2 192.168.60.1

step "Removing the containers releases each kind's address its own way"
show minirt rm -f l15-a l15-b l15-c
show ls "$root/.ipam/l15-hostlocal"
check "host-local deleted the lease file" lacks "$OUT" "$a"
retry 30 sh -c "! grep -q '$mac' '$work/dnsmasq.leases'" || true
show cat "$work/dnsmasq.leases"
check "the dhcp daemon sent DHCPRELEASE: the server dropped the lease" lacks "$OUT" "$mac"
