#!/usr/bin/env bash
# Lesson 8: the pod model. A second container joins the first one's network
# namespace (--network container:NAME): one set of interfaces, one address,
# and they talk over localhost, as containers of a Kubernetes pod do.
. "$(dirname "$0")/lib.sh"
need_image busybox
need_image nginx-rootfs
later minirt rm -f lesson8-web lesson8-sidecar

step "The pod's first container: nginx"
show minirt run -d --name lesson8-web nginx-rootfs

step "A sidecar in the same network namespace"
show minirt run -d --name lesson8-sidecar --network container:lesson8-web busybox sleep 300
note "nginx's image has no shell tools: read its interfaces from the host, through /proc/PID/net"
show cat "/proc/$(minirt inspect -f '{{.State.Pid}}' lesson8-web)/net/dev"
web_ifaces=$(printf '%s\n' "$OUT" | awk -F: 'NR > 2 {print $1}' | tr -d ' ' | sort)
show minirt exec lesson8-sidecar ip -o -4 addr
check "the sidecar sees the same interfaces" [ "$(printf '%s\n' "$OUT" | awk '{print $2}' | sort -u)" = "$(printf '%s\n' "$web_ifaces" | grep -v '^$' | sort -u)" ]
check "and the same address" contains "$OUT" "$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' lesson8-web)"

step "The sidecar reaches nginx on localhost"
retry 50 minirt exec lesson8-sidecar wget -qO /dev/null http://127.0.0.1/
show minirt exec lesson8-sidecar wget -qO- http://127.0.0.1/
check "nginx answers on 127.0.0.1 inside the pod" contains "$OUT" "Hello from minirt"

step "Both containers, one network namespace: the same inode"
show sh -c "readlink /proc/$(minirt inspect -f '{{.State.Pid}}' lesson8-web)/ns/net /proc/$(minirt inspect -f '{{.State.Pid}}' lesson8-sidecar)/ns/net"
check "one namespace" [ "$(printf '%s\n' "$OUT" | sort -u | wc -l)" = 1 ]
