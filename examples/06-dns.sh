#!/usr/bin/env bash
# Lesson 6: names. /etc/hosts answers first, then the resolvers of
# /etc/resolv.conf, which also lists the search domains tried for a short name.
# On a minirt network a DNS server on the bridge's address knows every
# container by its name, as NAME and NAME.<network>.
. "$(dirname "$0")/lib.sh"
need_image busybox
need_image nettools
later minirt network rm lesson6
later minirt rm -f lesson6-web lesson6-client

step "A network of our own; its DNS server listens on the gateway, 10.125.0.1"
show minirt network create --subnet 10.125.0.0/24 lesson6
show minirt run -d --name lesson6-web --network lesson6 busybox httpd -f -p 80
web=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' lesson6-web)
show minirt run -d --name lesson6-client --network lesson6 --add-host db.example.test:10.125.0.99 busybox sleep 300

step "/etc/hosts: localhost, the container's own name and address, and --add-host entries"
show minirt exec lesson6-client cat /etc/hosts
check "its own name is there" contains "$OUT" "lesson6-client"
check "the --add-host entry is there" contains "$OUT" "db.example.test"

step "/etc/resolv.conf: the network's DNS server, and the network as a search domain"
show minirt exec lesson6-client cat /etc/resolv.conf
check "nameserver is the gateway" contains "$OUT" "nameserver 10.125.0.1"
check "search domain is the network's name" contains "$OUT" "search lesson6"

step "Containers find each other by name: web and web.lesson6"
show minirt exec lesson6-client nslookup lesson6-web.lesson6
check "the fully qualified name resolves to web's address" contains "$OUT" "$web"
show minirt exec lesson6-client ping -c 1 -W 2 lesson6-web
check "the short name works too" contains "$OUT" "1 packets received"

step "The search domain at work: dig +search shows the name actually asked for"
show minirt run --rm --network lesson6 nettools dig +search +noall +question +answer lesson6-web
check "the short name went out as lesson6-web.lesson6" contains "$OUT" "lesson6-web.lesson6."
check "and the network's DNS server answered with web's address" contains "$OUT" "$web"

step "Names stay live: a container started now resolves at once; a removed one stops"
later minirt rm -f lesson6-late
show minirt run -d --name lesson6-late --network lesson6 busybox sleep 300
show minirt exec lesson6-client nslookup lesson6-late.lesson6
check "the new container resolves" contains "$OUT" "$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' lesson6-late)"
show minirt rm -f lesson6-late
printf '\033[2m$ minirt exec lesson6-client nslookup lesson6-late.lesson6\033[0m\n'
if minirt exec lesson6-client nslookup lesson6-late.lesson6 >/dev/null 2>&1; then echo "demo failed: a removed container still resolves" >&2; exit 1; fi
check "the removed container no longer resolves" true

step "--dns-search sets the search domains; they are what a short name is completed with"
show minirt run --rm --network lesson6 --dns-search example.test busybox cat /etc/resolv.conf
check "search line as given" contains "$OUT" "search example.test"
