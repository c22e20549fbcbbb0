#!/usr/bin/env bash
# Lesson 7: CNI. A network is a conflist: a chain of plugins that minirt, as the
# CNI runtime, executes with CNI_* variables and the config on stdin; each
# plugin's result is the next one's prevResult. Any conflist in minirt's
# config folder is a network. This one uses ptp: a veth per container, no bridge.
. "$(dirname "$0")/lib.sh"
need_image busybox
conf=${MINIRT_CNI_CONFIG:-/etc/minirt/cni/net.d}
root=${MINIRT_ROOT:-/var/run/minirt}
later rm -f "$conf/lesson7.conflist"
later minirt rm -f lesson7

step "A hand-written conflist: ptp (point-to-point veth) with host-local addresses, then portmap"
mkdir -p "$conf"
cat >"$conf/lesson7.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "lesson7",
  "plugins": [
    {"type": "ptp", "ipMasq": true,
     "ipam": {"type": "host-local", "subnet": "10.126.0.0/24", "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "$root/.ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
show cat "$conf/lesson7.conflist"
show minirt network ls
check "minirt knows it as a network" contains "$OUT" "lesson7"

step "A container on it"
show minirt run -d --name lesson7 --network lesson7 -p 8087:80 busybox httpd -f -p 80
id=$(minirt inspect -f '{{.Id}}' lesson7)
ip=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' lesson7)
show minirt exec lesson7 ip -o -4 addr show eth0
check "an address from the conflist's range" contains "$OUT" "10.126.0."

step "What minirt passed to each plugin and what came back (kept in the container's folder)"
show cat "$root/$id/cni.log"
check "ptp was called with CNI_COMMAND=ADD" contains "$OUT" "CNI_COMMAND=ADD"
check "with the pinned namespace as CNI_NETNS" contains "$OUT" "CNI_NETNS=/var/run/netns/minirt-${id:0:12}"
check "portmap got ptp's result as prevResult" contains "$OUT" "prevResult"
check "and the port mappings as a capability" contains "$OUT" "portMappings"

step "ptp routes the container's /32 to its veth on the host: no bridge, plain routing"
show ip route show "$ip"
check "a host route to the container's address" contains "$OUT" "$ip dev veth"
show ping -c 1 -W 2 "$ip"
check "the host reaches it" contains "$OUT" "1 received"
