#!/usr/bin/env bash
# Lesson 11: cluster DNS. CoreDNS answers web-service, web-service.apps and
# web-service.apps.svc.cluster.local with the service's virtual IP, and
# 10-244-2-5.apps.pod.cluster.local with a pod's address. Containers find the
# short names through the search list kubelet writes, with ndots:5.
# Here the network's DNS server (dnsmasq on the gateway) plays CoreDNS.
. "$(dirname "$0")/lib.sh"
need_image busybox
need_image nettools
later minirt network rm lesson11
later minirt service rm web db
later minirt rm -f lesson11-web1 lesson11-web2

step "A network (its name plays the Kubernetes namespace), two replicas, a service and a headless one"
show minirt network create --subnet 10.111.0.0/24 --service-range 10.96.111.0/24 lesson11
for i in 1 2; do
    show minirt run -d --name lesson11-web$i -l app=web --network lesson11 busybox sh -c \
        'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'
done
show minirt service create web --network lesson11 --port 80:8080 --selector app=web --ip 10.96.111.10
show minirt service create db --network lesson11 --headless --selector app=web
ip1=$(minirt inspect -f '{{.NetworkSettings.Networks.lesson11.IPAddress}}' lesson11-web1)
ip2=$(minirt inspect -f '{{.NetworkSettings.Networks.lesson11.IPAddress}}' lesson11-web2)

step "A container's resolv.conf: the network's server, kubelet's search list, ndots:5"
show minirt run --rm --network lesson11 busybox cat /etc/resolv.conf
check "search <ns>.svc.<domain> svc.<domain> <domain> <ns>" contains "$OUT" "search lesson11.svc.cluster.local svc.cluster.local cluster.local lesson11"
check "ndots:5: a name with fewer than 5 dots tries the search list first" contains "$OUT" "options ndots:5"

step "Service records: the short name, NAME.NAMESPACE and the full name answer the virtual IP"
show minirt run --rm --network lesson11 nettools sh -c \
    'for n in web web.lesson11 web.lesson11.svc.cluster.local; do echo "$n -> $(dig +short +search $n)"; done'
check "web" contains "$OUT" "web -> 10.96.111.10"
check "web.lesson11" contains "$OUT" "web.lesson11 -> 10.96.111.10"
check "the full name" contains "$OUT" "web.lesson11.svc.cluster.local -> 10.96.111.10"

step "Which names the resolver tried: dig +showsearch"
show minirt run --rm --network lesson11 nettools sh -c "dig +search +showsearch +noall +answer web | tr -s '\t' ' '"
check "web.lesson11.svc.cluster.local, the first on the list, answered" contains "$OUT" "web.lesson11.svc.cluster.local. 0 IN A 10.96.111.10"
show minirt run --rm --network lesson11 nettools sh -c 'dig +search +showsearch nosuch | grep -E "^;nosuch|status:"'
check "an unknown name walks the whole list, each answered NXDOMAIN here" contains "$OUT" "nosuch.cluster.local"
note "Every one of those queries was answered by the network's server: it owns cluster.local"
note "and lesson11 (dnsmasq --local=/cluster.local/), so search-list lookups never leave the host."

step "Pod records and reverse lookups"
pod=$(echo "$ip1" | tr . -).lesson11.pod.cluster.local
show minirt run --rm --network lesson11 nettools sh -c "dig +short $pod; dig +short -x 10.96.111.10"
check "A-B-C-D.<ns>.pod.<domain> is the pod's address" contains "$OUT" "$ip1"
check "the VIP's PTR is the service's full name" contains "$OUT" "web.lesson11.svc.cluster.local."

step "A headless service has no virtual IP: its name answers every endpoint"
show minirt run --rm --network lesson11 nettools dig +short +search db
check "both replicas" test "$(printf '%s\n' "$OUT" | sort | tr '\n' ' ')" = "$(printf '%s\n' "$ip1" "$ip2" | sort | tr '\n' ' ')"
show minirt stop -t 1 lesson11-web2
show minirt run --rm --network lesson11 nettools dig +short +search db
check "a stopped endpoint leaves the answer" test "$OUT" = "$ip1"

step "A removed service's names stop resolving"
show minirt service rm web
show minirt run --rm --network lesson11 nettools sh -c 'dig +search web | grep status:'
check "NXDOMAIN" contains "$OUT" "NXDOMAIN"
