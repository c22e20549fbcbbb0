#!/usr/bin/env bash
# Lesson 9: pod-to-pod without NAT, the Kubernetes network model. Two networks
# on two subnets (two "nodes'" pod ranges); the host routes between them and
# masquerades nothing, so every container sees the others' real addresses.
. "$(dirname "$0")/lib.sh"
need_image busybox
later minirt network rm lesson9-a lesson9-b
later minirt rm -f lesson9-server lesson9-client

step "Two networks, outbound NAT off (-o ip-masq=false) and not isolated from each other (-o isolate=false: by default, as in docker, containers of different bridge networks cannot reach each other)"
show minirt network create --subnet 10.127.1.0/24 -o ip-masq=false -o isolate=false lesson9-a
show minirt network create --subnet 10.127.2.0/24 -o ip-masq=false -o isolate=false lesson9-b

step "A server on lesson9-a that answers with its table of connections"
show minirt run -d --name lesson9-server --network lesson9-a busybox nc -ll -p 9000 -e netstat -tn
server=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' lesson9-server)
show minirt run -d --name lesson9-client --network lesson9-b busybox sleep 300
client=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' lesson9-client)
note "server $server on lesson9-a, client $client on lesson9-b"

step "The host has a route to each subnet (its bridges), so it routes between them"
show ip route
check "a route to lesson9-a's subnet" contains "$OUT" "10.127.1.0/24"
check "and to lesson9-b's" contains "$OUT" "10.127.2.0/24"

step "The client connects to the server's own address; the server sees the client's own address"
retry 50 minirt exec lesson9-server sh -c "netstat -ltn | grep -q ':9000 '"
show minirt exec lesson9-client sh -c "timeout 5 nc $server 9000 </dev/null"
check "the source address arrived unchanged: $client" contains "$OUT" "$client:"

step "No MASQUERADE rule for these containers (the bridge plugin would tag one with each address)"
show sh -c "iptables -t nat -S POSTROUTING | grep -cE -- '-s ($server|$client)/32' || true"
check "none" [ "$OUT" = 0 ]
