# Shared by the demos: narration, commands shown before they run, checks that
# stop the demo when what it shows is not true, and cleanup on every exit.
# Demos run `minirt` from PATH; `examples/sandbox DEMO` runs one as a test.
set -euo pipefail

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }

# show CMD...: prints the command, runs it, prints its output; the output is kept in $OUT.
show() {
    printf '\033[2m$ %s\033[0m\n' "$*"
    if ! OUT=$("$@" 2>&1); then
        printf '%s\n' "$OUT"
        echo "demo failed: '$*' did not succeed" >&2
        exit 1
    fi
    [ -z "$OUT" ] || printf '%s\n' "$OUT"
}

# check DESCRIPTION COMMAND...: the lesson's claim, verified.
check() {
    local what=$1; shift
    if "$@"; then printf '   \033[32mok\033[0m %s\n' "$what"; else echo "demo failed: $what" >&2; exit 1; fi
}
contains() { [[ $1 == *"$2"* ]]; }
lacks() { [[ $1 != *"$2"* ]]; }

# retry N CMD...: for a server that needs a moment to listen (bounded).
retry() {
    local n=$1; shift
    for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    "$@"
}

# Things to undo, last first, however the demo ends.
CLEANUP=()
on_exit() { local i; for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[$i]}" >/dev/null 2>&1 || true; done; }
trap on_exit EXIT
later() { CLEANUP+=("$*"); }

# The image store must hold the images the lessons use.
need_image() {
    minirt images -q 2>/dev/null | grep -qx "$1" || {
        echo "this demo needs the image $1: rootfs-images/build rootfs-images/$1" >&2; exit 1; }
}

# The multi-node lessons: "nodes" are network namespaces joined by a LAN bridge
# (192.168.50.0/24, node N at .1N), each running its own minirt with its own
# state root and networks. make_nodes PREFIX COUNT; on_node N CMD... runs CMD there.
make_nodes() {
    local i
    NODE_PREFIX=$1
    NODES_DIR=$(mktemp -d "/tmp/minirt-$1-XXXXXX")
    later rm -rf "$NODES_DIR"
    ip link add "$NODE_PREFIX-lan" type bridge
    later ip link del "$NODE_PREFIX-lan"
    ip link set "$NODE_PREFIX-lan" up
    for i in $(seq "$2"); do
        ip netns add "$NODE_PREFIX-$i"
        later ip netns del "$NODE_PREFIX-$i"
        ip link add "$NODE_PREFIX-v$i" type veth peer name eth0 netns "$NODE_PREFIX-$i"
        ip link set "$NODE_PREFIX-v$i" master "$NODE_PREFIX-lan" up
        on_node "$i" ip link set lo up
        on_node "$i" ip addr add "192.168.50.1$i/24" dev eth0
        on_node "$i" ip link set eth0 up
    done
}
on_node() {
    local n=$1; shift
    nsenter --net="/run/netns/$NODE_PREFIX-$n" env MINIRT_ROOT="$NODES_DIR/$n" MINIRT_CNI_CONFIG="$NODES_DIR/$n/cni" "$@"
}
