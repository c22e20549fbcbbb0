#!/usr/bin/env bash
# Lesson 14: writing a CNI plugin. A plugin is only an executable: the runtime
# runs it with CNI_COMMAND (ADD, DEL, CHECK, VERSION), CNI_CONTAINERID,
# CNI_NETNS, CNI_IFNAME and CNI_PATH in its environment and the network's
# config on stdin; on ADD it wires the namespace and prints a JSON result.
# This one, in shell as the course's net-script.sh, makes a bridge, a veth per
# container, an address from its own tiny IPAM and a default route; minirt
# runs it like any other plugin.
. "$(dirname "$0")/lib.sh"
need_image busybox
conf=${MINIRT_CNI_CONFIG:-/etc/minirt/cni/net.d}
root=${MINIRT_ROOT:-/var/run/minirt}
plugins=$(mktemp -d /tmp/minirt-lesson14-XXXXXX)
later rm -rf "$plugins"
later ip link del l14br0
later rm -rf "$root/.lesson14-ipam"
later rm -f "$conf/lesson14.conflist"
later minirt rm -f lesson14-a lesson14-b

step "The plugin: one shell script, found by its name (the conflist's \"type\") in CNI_PATH"
cat >"$plugins/net-script" <<'PLUGIN'
#!/bin/sh
# net-script: a bridge, a veth and an address per container. The config
# (stdin) names the bridge, the subnet (a /24) and where leases are kept.
set -eu
config=$(cat)
field() { printf '%s' "$config" | tr -d '\n' | sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p"; }
version=$(field cniVersion)
bridge=$(field bridge)
subnet=$(field subnet)
leases=$(field dataDir)
prefix=${subnet%.*}          # 10.140.0 of 10.140.0.0/24
gateway=$prefix.1
host_if=l14$(printf '%s' "${CNI_CONTAINERID:-}" | cut -c1-8)
fail() { printf '{"cniVersion":"%s","code":%s,"msg":"%s"}\n' "$version" "$1" "$2"; exit 1; }

case $CNI_COMMAND in
VERSION)
    echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}'
    ;;
ADD)
    # The bridge, the first time: it holds the gateway address.
    if ! ip link show "$bridge" >/dev/null 2>&1; then
        ip link add "$bridge" type bridge
        ip addr add "$gateway/24" dev "$bridge"
        ip link set "$bridge" up
    fi
    # An address: the first .N whose lease directory we can make (mkdir is atomic).
    mkdir -p "$leases"
    n=2
    while ! mkdir "$leases/$prefix.$n" 2>/dev/null; do
        n=$((n + 1)); [ $n -lt 255 ] || fail 11 "no address left in $subnet"
    done
    ip=$prefix.$n
    echo "$CNI_CONTAINERID" >"$leases/$ip/owner"
    # A veth: one end in the container's namespace as CNI_IFNAME, the other on the bridge.
    ip link add "$host_if" type veth peer name "$CNI_IFNAME" netns "$(basename "$CNI_NETNS")"
    ip link set "$host_if" master "$bridge" up
    nsenter --net="$CNI_NETNS" ip addr add "$ip/24" dev "$CNI_IFNAME"
    nsenter --net="$CNI_NETNS" ip link set "$CNI_IFNAME" up
    nsenter --net="$CNI_NETNS" ip route add default via "$gateway"
    mac=$(nsenter --net="$CNI_NETNS" cat "/sys/class/net/$CNI_IFNAME/address")
    cat <<JSON
{"cniVersion": "$version",
 "interfaces": [{"name": "$host_if"}, {"name": "$CNI_IFNAME", "mac": "$mac", "sandbox": "$CNI_NETNS"}],
 "ips": [{"address": "$ip/24", "gateway": "$gateway", "interface": 1}],
 "routes": [{"dst": "0.0.0.0/0", "gw": "$gateway"}]}
JSON
    ;;
DEL)
    # Idempotent, as the spec asks: what is already gone is fine.
    ip link del "$host_if" 2>/dev/null || true
    for lease in "$leases"/*/owner; do
        if [ -f "$lease" ] && [ "$(cat "$lease")" = "$CNI_CONTAINERID" ]; then rm -rf "$(dirname "$lease")"; fi
    done
    ;;
CHECK)
    ip link show "$host_if" >/dev/null 2>&1 || fail 11 "the host end $host_if is missing"
    nsenter --net="$CNI_NETNS" ip -o -4 addr show dev "$CNI_IFNAME" | grep -q "$prefix." || fail 11 "$CNI_IFNAME has no address"
    ;;
*)
    fail 4 "unknown CNI_COMMAND $CNI_COMMAND"
    ;;
esac
PLUGIN
chmod +x "$plugins/net-script"
show sed -n '1,12p' "$plugins/net-script"
show env CNI_COMMAND=VERSION "$plugins/net-script" </dev/null
check "it answers VERSION with the spec versions it speaks" contains "$OUT" '"supportedVersions":["0.4.0","1.0.0"]'

step "A network that uses it: a conflist whose one plugin has type net-script"
mkdir -p "$conf"
cat >"$conf/lesson14.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "lesson14",
  "plugins": [
    {"type": "net-script", "bridge": "l14br0", "subnet": "10.140.0.0/24", "dataDir": "$root/.lesson14-ipam"}
  ]
}
JSON
# minirt looks for plugins in CNI_PATH: ours first, the standard ones (loopback) after.
export MINIRT_CNI_PATH="$plugins:/usr/lib/cni:/opt/cni/bin"
show minirt network ls
check "minirt knows it as a network" contains "$OUT" "lesson14"

step "Two containers on it: the script gave each an address and a route"
show minirt run -d --name lesson14-a --network lesson14 busybox sleep 300
show minirt run -d --name lesson14-b --network lesson14 busybox sleep 300
a=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' lesson14-a)
b=$(minirt inspect -f '{{.NetworkSettings.IPAddress}}' lesson14-b)
note "lesson14-a is $a, lesson14-b is $b (from the script's JSON result)"
check "the first lease, .2" contains "$a" "10.140.0.2"
show minirt exec lesson14-a ip route
check "a default route via the bridge's address" contains "$OUT" "default via 10.140.0.1"
show minirt exec lesson14-a ping -c 1 -W 2 "$b"
check "the containers reach each other over the script's bridge" contains "$OUT" "1 packets received"
show ip -o link show master l14br0
check "two veths on the bridge, the script's names" contains "$OUT" "l14"

step "What minirt gave the plugin, and what it got back (the container's cni.log)"
id=$(minirt inspect -f '{{.Id}}' lesson14-a)
show grep -m1 net-script "$root/$id/cni.log"
check "CNI_COMMAND=ADD with the container's id" contains "$OUT" "CNI_CONTAINERID=$id"
check "the config on stdin, with the network's name added by the runtime" contains "$OUT" '"name":"lesson14"'
check "the script's result" contains "$OUT" "10.140.0.2/24"

step "CHECK: minirt network check runs the plugin with CNI_COMMAND=CHECK"
show minirt network check lesson14-a
check "the attachment is as the plugin left it" contains "$OUT" "lesson14"

step "DEL: rm runs the plugin once more; the veth and the lease go"
show minirt rm -f lesson14-a
check "the plugin's DEL succeeded (no teardown warning)" lacks "$OUT" "teardown failed"
show ls "$root/.lesson14-ipam"
check "a's lease is released" lacks "$OUT" "10.140.0.2"
show ip -o link show master l14br0
check "one veth left on the bridge (b's)" contains "$OUT" "l14"
