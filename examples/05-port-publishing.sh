#!/usr/bin/env bash
# Lesson 5: publishing a port. `-p 8080:80` is not a proxy: it is a DNAT rule in
# the kernel (written by the CNI portmap plugin) rewriting packets for the
# host's port 8080 to the container's port 80.
. "$(dirname "$0")/lib.sh"
need_image nginx-rootfs
later minirt rm -f lesson5-web

step "nginx in a container, its port 80 published on the host's port 8080"
show minirt run -d --name lesson5-web -p 8080:80 nginx-rootfs
ip=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' lesson5-web)
show minirt port lesson5-web
check "80/tcp -> 0.0.0.0:8080" contains "$OUT" "80/tcp -> 0.0.0.0:8080"

step "curl the host's port 8080"
retry 50 curl -sf --max-time 2 http://127.0.0.1:8080/
show curl -s --max-time 2 http://127.0.0.1:8080/
check "nginx answers through the published port" contains "$OUT" "Hello from minirt"

step "The DNAT rule: TCP to port 8080 goes to $ip:80"
show sh -c "iptables -t nat -S | grep -- '--dport 8080'"
check "a DNAT to the container's address and port 80" contains "$OUT" "--to-destination $ip:80"

step "The same page straight from the container's own address"
show curl -s --max-time 2 "http://$ip/"
check "nginx answers directly too" contains "$OUT" "Hello from minirt"

step "minirt explain: the whole path, read back from the kernel, with the command for each part"
show minirt explain lesson5-web
check "the veth and the bridge" contains "$OUT" "plugged into the bridge minirt0"
check "the DNAT rule, as the kernel has it" contains "$OUT" "--to-destination $ip:80"
