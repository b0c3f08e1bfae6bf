#!/usr/bin/env bash
# Drives a runtime through a private dockerd (Debian's docker.io, 20.10) on its own
# containerd, data root and socket, with host networking untouched (no bridge, no
# iptables): `docker run --rm`, then `run -d`, `exec`, `stop` and `rm`.
# Usage: tests/interop-docker.sh [RUNTIME]   (default: target/{release,debug}/berth-runtime)
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

RUNTIME=$(resolve_runtime "${1:-}")
command -v dockerd >/dev/null || fail "dockerd not installed (apt-get install docker.io)"
command -v docker >/dev/null || fail "docker CLI not installed"
WORK=$(mktemp -d /tmp/berth-dkr.XXXXXX)
CGROUP_PARENT=berth-interop-$$

cleanup() {
    local rc=$?
    stop_dockerd "$WORK" "$rc"
    remove_cgroup_dirs "$CGROUP_PARENT"
    unmount_under "$WORK"
    rm -rf "$WORK"
    if ((rc == 0)); then echo "PASS: interop-docker ($RUNTIME)"; else echo "FAIL: interop-docker ($RUNTIME)" >&2; fi
    exit "$rc"
}
trap cleanup EXIT

log "starting containerd and dockerd in $WORK (runtime: $RUNTIME)"
start_dockerd "$WORK" --add-runtime "berth=$RUNTIME" --cgroup-parent "/$CGROUP_PARENT"
docker info --format '{{json .Runtimes}}' | grep -q '"berth"' || fail "dockerd did not register runtime berth"

log "loading busybox"
docker load -q -i "$(images_dir)/busybox-1.35.docker.tar" >/dev/null

log "docker run --rm"
out=$(timeout 60 docker run --rm --runtime berth --network none busybox:1.35 sh -c 'echo hello; id; hostname')
expect_line "$out" '^hello$' "docker run"
expect_line "$out" '^uid=0\(root\) gid=0\(root\)' "docker run id"
expect_line "$out" '^[0-9a-f]{12}$' "docker run hostname (short container id)"

log "docker run -d, exec, stop, rm"
cid=$(docker run -d --runtime berth --network none busybox:1.35 sleep 300)
[[ $(docker inspect -f '{{.State.Running}} {{.HostConfig.Runtime}}' "$cid") == "true berth" ]] ||
    fail "detached container not running under berth: $(docker inspect -f '{{json .State}}' "$cid")"
out=$(timeout 30 docker exec "$cid" sh -c 'echo from-exec; cat /proc/1/cmdline | tr "\0" " "')
expect_line "$out" '^from-exec$' "docker exec"
expect_line "$out" 'sleep 300' "docker exec sees init"
timeout 30 docker stop -t 1 "$cid" >/dev/null
[[ $(docker inspect -f '{{.State.Status}}' "$cid") == exited ]] || fail "container not exited after stop"
docker rm "$cid" >/dev/null
[[ -z $(docker ps -aq) ]] || fail "containers left after rm: $(docker ps -aq)"
