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
