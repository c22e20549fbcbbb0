#!/usr/bin/env bash
# Lesson 10: service networking. A Service is one virtual IP in front of several
# replicas. Nothing listens on that address: kube-proxy (here, minirt) writes
# DNAT rules that pick a replica for each new connection, and a NodePort
# publishes the same on every address of the host.
. "$(dirname "$0")/lib.sh"
need_image busybox
later minirt network rm lesson10
later minirt service rm web
later minirt rm -f lesson10-web1 lesson10-web2 lesson10-web3

step "A network, with a range for its services' virtual IPs (as --service-cluster-ip-range)"
show minirt network create --subnet 10.110.0.0/24 --service-range 10.96.110.0/24 lesson10

step "Three replicas: busybox httpd answering with its hostname, each labelled app=web"
for i in 1 2 3; do
    show minirt run -d --name lesson10-web$i -l app=web --network lesson10 busybox sh -c \
        'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'
done
for i in 1 2 3; do
    ip=$(minirt inspect -f '{{.NetworkSettings.Networks.lesson10.IPAddress}}' lesson10-web$i)
    retry 50 curl -sf --max-time 2 "http://$ip:8080/"
done

step "The service: port 80 of a virtual IP to port 8080 of whatever matches app=web, and node port 30080"
show minirt service create web --network lesson10 --port 80:8080 --selector app=web --node-port 30080
show minirt service ls
check "three endpoints" contains "$OUT" "30080/tcp   3"
vip=$(minirt service inspect -f '{{.ClusterIP}}' web)
note "Nothing on this host has the address $vip; only a route sends the range to the rules:"
show ip route show 10.96.110.0/24
check "the range is routed (connect() looks up a route before NAT runs)" contains "$OUT" "dev lo"
show ip -o addr
check "no interface has the virtual IP" lacks "$OUT" "$vip"

step "30 new connections from a client container, by the service's name: spread over the three"
show minirt run --rm --network lesson10 busybox sh -c \
    'for i in $(seq 30); do wget -qO- http://web/; done | sort | uniq -c'
check "all three replicas answered" test "$(printf '%s\n' "$OUT" | grep -c .)" = 3

step "The rules (minirt explain reads them back from the kernel)"
show minirt explain web
check "a dispatch map entry for the VIP" contains "$OUT" "$vip . tcp . 80 : goto svc-"
check "the first replica is picked 1/3 of the time" contains "$OUT" "numgen random mod 3 0"
check "the second 1/2 of the rest" contains "$OUT" "numgen random mod 2 0"
check "each pick DNATs to its replica" contains "$OUT" "dnat ip to 10.110.0."
note "1/3, then 1/2 of the 2/3 left, then all of the last 1/3: each replica gets 1/3, as kube-proxy's"
note "iptables mode does with -m statistic --probability 0.333, 0.5, then all. Each pick is two rules:"
note "a client that is the replica itself (a hairpin) is marked for masquerade, or the replica would"
note "answer itself directly and the reply would miss the NAT."

step "A second path for TCP: balancing at connect(), before any packet exists"
note "minirt also does what Cilium's socket load balancing does: a bpf program on the cgroup2 root"
note "rewrites a TCP connect() to $vip:80 into one replica's address, for the host and its containers."
show minirt explain --socket-lb
check "the VIP's TCP port has an entry listing the replicas" contains "$OUT" "$vip:80/tcp -> 10.110.0."
show minirt run --rm --network lesson10 busybox wget -qO- http://web/
show sh -c "conntrack -L -p tcp -d $vip 2>/dev/null | grep -c . || true"
check "conntrack has no connection to the VIP: it went straight to a replica, no DNAT" test "$OUT" = 0
note "Yet the socket names the VIP as its peer, as under DNAT: a second program (cgroup/getpeername4)"
note "answers getpeername() from what connect4 recorded for it. ss asks the kernel through netlink"
note "and sees the replica the connection really goes to:"
show python3 -c "
import socket, subprocess
c = socket.create_connection(('$vip', 80), timeout=2)
print('getpeername():', '%s:%d' % c.getpeername())
print('ss:', subprocess.run(['ss', '-Htn', 'state', 'established', 'sport', '=', ':%d' % c.getsockname()[1]],
                            capture_output=True, text=True).stdout.split()[-1])"
check "getpeername() names the VIP" contains "$OUT" "getpeername(): $vip:80"
check "the connection itself goes to a replica's port 8080" contains "$OUT" ":8080"
note "The rules stay underneath for what connect() cannot decide: UDP (whose next datagram must move"
note "when a replica goes), client-ip affinity, node ports, and namespaces minirt did not start."
note "MINIRT_SOCKET_LB=0 turns the bpf path off, leaving kube-proxy's nftables mode alone."

step "A replica stops: it leaves the rules before it is signalled, so no new connection is sent to it"
show minirt stop -t 1 lesson10-web2
show minirt explain web
check "two endpoints now" lacks "$OUT" "numgen random mod 3"
check "picked 1/2, then the other" contains "$OUT" "numgen random mod 2 0"
gone=$(minirt inspect -f '{{.Id}}' lesson10-web2 | cut -c1-12)
show minirt run --rm --network lesson10 busybox sh -c 'for i in $(seq 20); do wget -qO- http://web/ || echo FAILED; done | sort | uniq -c'
check "no failed request" lacks "$OUT" "FAILED"
check "nothing reached the stopped replica" lacks "$OUT" "$gone"

step "The node port: port 30080 of every host address, 127.0.0.1 included"
show curl -s --max-time 2 http://127.0.0.1:30080/
check "a replica answers on 127.0.0.1:30080" test -n "$OUT"
show curl -s --max-time 2 http://10.110.0.1:30080/
check "and on the host's address on the bridge" test -n "$OUT"
show sh -c "conntrack -L -p tcp --dport 30080 2>/dev/null | head -1"
check "the node port went through DNAT: the reply comes from a replica's port 8080" contains "$OUT" "sport=8080"
note "127.0.0.1 works because the bridge has route_localnet=1 (portmap needs it too);"
note "minirt's loopback guard drops 127.0.0.0/8 arriving from any other interface (CVE-2020-8558):"
show sh -c "nft list chain inet minirt loopback-guard | grep 127.0.0.0/8"

step "The same thing by hand: a second virtual IP, one nft rule"
ip1=$(minirt inspect -f '{{.NetworkSettings.Networks.lesson10.IPAddress}}' lesson10-web1)
ip3=$(minirt inspect -f '{{.NetworkSettings.Networks.lesson10.IPAddress}}' lesson10-web3)
later nft delete table ip lesson10
show nft add table ip lesson10
show nft add chain ip lesson10 pre '{ type nat hook prerouting priority -110; }'
show nft add rule ip lesson10 pre ip daddr 10.96.110.200 tcp dport 80 dnat to numgen random mod 2 map "{ 0 : $ip1, 1 : $ip3 }" : 8080
show minirt run --rm --network lesson10 busybox sh -c 'for i in $(seq 10); do wget -qO- http://10.96.110.200/; done | sort | uniq -c'
check "the hand-made VIP balances over the two live replicas" test "$(printf '%s\n' "$OUT" | grep -c .)" = 2
show nft delete table ip lesson10

step "Removing the service removes its rules, its route and its names"
show minirt rm -f lesson10-web1 lesson10-web2 lesson10-web3
show minirt service rm web
show sh -c "nft list table inet minirt 2>&1 || true"
check "minirt's table is gone with its last user" contains "$OUT" "No such file or directory"
show sh -c "ip route show 10.96.110.0/24"
check "the range's route is gone" test -z "$OUT"
