# shellcheck shell=bash
# Shared helpers for berth's shell-level tests; source it, don't run it.
# Scripts that source this use `set -euo pipefail` and a `cleanup` EXIT trap.

# The repository root (this file lives in <repo>/tests).
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Name the failing command when `set -e` ends a script.
trap 'printf "error: line %s: %s (exit %s)\n" "$LINENO" "$BASH_COMMAND" "$?" >&2' ERR

log() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# resolve_runtime [PATH]: the runtime binary to test, as an absolute path. Default:
# the release build (cargo runtime-release) if there is one, else target/debug/berth-runtime.
resolve_runtime() {
    local rt=${1:-}
    if [[ -z $rt ]]; then
        rt=$REPO_ROOT/target/x86_64-unknown-linux-gnu/runtime/berth-runtime
        [[ -x $rt ]] || rt=$REPO_ROOT/target/debug/berth-runtime
    fi
    [[ -x $rt ]] || rt=$(command -v "$rt" || true)
    [[ -n $rt && -x $rt ]] || fail "runtime binary '${1:-berth-runtime}' not found (build it or pass a path)"
    realpath "$rt"
}

# images_dir: $BERTH_TEST_IMAGES, else the first shared/images beside the repository or
# one of its parents that holds the busybox archive.
images_dir() {
    if [[ -n ${BERTH_TEST_IMAGES:-} ]]; then echo "$BERTH_TEST_IMAGES"; return; fi
    local dir=$REPO_ROOT
    while [[ $dir != / ]]; do
        dir=$(dirname "$dir")
        if [[ -f $dir/shared/images/busybox-1.35.docker.tar ]]; then echo "$dir/shared/images"; return; fi
    done
    fail "TEST IMAGES MISSING: no shared/images/busybox-1.35.docker.tar beside $REPO_ROOT; set BERTH_TEST_IMAGES"
}

# unpack_busybox DEST: extracts the busybox image's single layer into DEST.
unpack_busybox() {
    local archive layer
    archive=$(images_dir)/busybox-1.35.docker.tar
    layer=$(tar -xOf "$archive" manifest.json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Layers"][0])')
    mkdir -p "$1"
    tar -xOf "$archive" "$layer" | tar -x -C "$1"
}

# pids_with_arg STRING: pids of processes whose command line contains STRING (a unique
# temp path of ours, so this never matches anything we did not start).
pids_with_arg() {
    local f
    for f in /proc/[0-9]*/cmdline; do
        if tr '\0' ' ' 2>/dev/null <"$f" | grep -qF -- "$1"; then
            f=${f#/proc/}; echo "${f%/cmdline}"
        fi
    done
}

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 10).
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < ${2:-10} * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# unmount_under DIR: lazily unmounts every mount at or below DIR, deepest first.
unmount_under() {
    local m
    awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# wait_for DESCRIPTION SECONDS COMMAND...: retries COMMAND every 0.1 s until it succeeds.
wait_for() {
    local what=$1 secs=$2 i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "timed out after ${secs}s waiting for $what"
}

# start_containerd WORK: runs a private containerd (config, root, state and socket
# under WORK, CRI off) in the background; sets CTRD_SOCK and CTRD_PID.
start_containerd() {
    local work=$1
    mkdir -p "$work/containerd"
    cat >"$work/containerd/config.toml" <<TOML
version = 2
root = "$work/containerd/root"
state = "$work/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/containerd/containerd.sock"
[ttrpc]
  address = "$work/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/containerd/opt"
TOML
    CTRD_SOCK=$work/containerd/containerd.sock
    containerd --config "$work/containerd/config.toml" >"$work/containerd/log" 2>&1 &
    CTRD_PID=$!
    wait_for "containerd on $CTRD_SOCK" 20 ctr -a "$CTRD_SOCK" version
}

# stop_containerd WORK: stops the containerd of start_containerd and any shim it left.
stop_containerd() {
    local pid
    [[ -n ${CTRD_PID:-} ]] && stop_pid "$CTRD_PID" 10
    for pid in $(pids_with_arg "$1/containerd/containerd.sock"); do stop_pid "$pid" 2; done
}

# remove_cgroup_dirs NAME: removes the (empty) cgroup directory NAME, a parent that
# containerd names after its namespace, from every hierarchy.
remove_cgroup_dirs() {
    local d
    for d in /sys/fs/cgroup/*/"$1"; do
        if [[ -d $d ]]; then rmdir "$d" 2>/dev/null || true; fi
    done
}

# expect_line OUTPUT PATTERN WHAT: fails unless a line of OUTPUT matches the ERE PATTERN.
expect_line() {
    grep -Eq -- "$2" <<<"$1" || fail "$3: no line matching /$2/ in output:
$1"
}

# start_dockerd WORK [DOCKERD-ARGS...]: runs a private dockerd (on start_containerd's
# containerd, with its data, exec root and socket under WORK, host networking untouched)
# in the background; exports DOCKER_HOST for it and sets DOCKERD_PID.
start_dockerd() {
    local work=$1
    shift
    export DOCKER_HOST=unix://$work/docker.sock DOCKER_API_VERSION=1.41 DOCKER_CONFIG=$work/cli
    start_containerd "$work"
    echo '{}' >"$work/daemon.json"
    dockerd --config-file "$work/daemon.json" --data-root "$work/data" --exec-root "$work/exec" \
        -H "$DOCKER_HOST" --pidfile "$work/dockerd.pid" --containerd "$CTRD_SOCK" \
        --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none \
        "$@" >"$work/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    wait_for "dockerd on $DOCKER_HOST" 30 docker version
}

# stop_dockerd WORK [STATUS]: removes the containers of start_dockerd's dockerd, stops it and its
# containerd; with a failing status, prints the tail of dockerd's log.
stop_dockerd() {
    local rc=${2:-0} id
    if [[ -n ${DOCKERD_PID:-} ]]; then
        for id in $(docker ps -aq 2>/dev/null); do docker rm -f "$id" >/dev/null 2>&1 || true; done
        stop_pid "$DOCKERD_PID" 20
        wait "$DOCKERD_PID" 2>/dev/null || true
    fi
    stop_containerd "$1"
    if ((rc != 0)) && [[ -f $1/dockerd.log ]]; then
        echo "--- dockerd log (tail) ---" >&2
        tail -n 30 "$1/dockerd.log" >&2
    fi
}

# start_berthd WORK: a berthd (target/debug, or $BERTHD) on WORK/berth-data with its socket
# at WORK/berth.sock; exports BERTH_HOST for `berth`. stop_berthd WORK [STATUS] ends it and
# every container it has, and prints its log's tail on a failing status.
start_berthd() {
    local work=$1 berthd=${BERTHD:-$REPO_ROOT/target/debug/berthd}
    [[ -x $berthd ]] || fail "berthd not found at $berthd (cargo build --workspace)"
    echo '{}' >"$work/berthd.json"
    "$berthd" --data-root "$work/berth-data" --exec-root "$work/berth-exec" \
        --config-file "$work/berthd.json" -H "unix://$work/berth.sock" >"$work/berthd.log" 2>&1 &
    BERTHD_PID=$!
    export BERTH_HOST=unix://$work/berth.sock
    wait_for "berthd on $work/berth.sock" 20 test -S "$work/berth.sock"
}

stop_berthd() {
    local rc=${2:-0} berth=${BERTH:-$REPO_ROOT/target/debug/berth} ids
    [[ -n ${BERTHD_PID:-} ]] || return 0
    ids=$("$berth" ps -aq 2>/dev/null || true)
    [[ -z $ids ]] || "$berth" rm -f $ids >/dev/null 2>&1 || true
    stop_pid "$BERTHD_PID" 20
    wait "$BERTHD_PID" 2>/dev/null || true
    BERTHD_PID=
    if ((rc != 0)) && [[ -f $1/berthd.log ]]; then
        echo "--- berthd log (tail) ---" >&2
        tail -n 30 "$1/berthd.log" >&2
    fi
}
