#!/usr/bin/env bash
# Drives a runtime through a private containerd (Debian's, 1.6) with `ctr`: an attached
# `run --rm`, then a detached run with `task exec`, `task kill` and deletes.
# Usage: tests/interop-containerd.sh [RUNTIME]   (default: target/{release,debug}/berth-runtime)
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

RUNTIME=$(resolve_runtime "${1:-}")
command -v containerd >/dev/null || fail "containerd not installed (apt-get install containerd)"
WORK=$(mktemp -d /tmp/berth-ctrd.XXXXXX)
NS=berth-interop-$$
IMAGE=docker.io/library/busybox:1.35

cleanup() {
    local rc=$? id
    if [[ -n ${CTRD_SOCK:-} ]] && ctr -a "$CTRD_SOCK" version >/dev/null 2>&1; then
        for id in $(ctr -a "$CTRD_SOCK" -n "$NS" tasks ls -q 2>/dev/null); do
            ctr -a "$CTRD_SOCK" -n "$NS" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
            ctr -a "$CTRD_SOCK" -n "$NS" tasks delete -f "$id" >/dev/null 2>&1 || true
        done
        for id in $(ctr -a "$CTRD_SOCK" -n "$NS" containers ls -q 2>/dev/null); do
            ctr -a "$CTRD_SOCK" -n "$NS" containers delete "$id" >/dev/null 2>&1 || true
        done
    fi
    stop_containerd "$WORK"
    remove_cgroup_dirs "$NS"
    if ((rc != 0)) && [[ -f $WORK/containerd/log ]]; then
        echo "--- containerd log (tail) ---" >&2; tail -n 30 "$WORK/containerd/log" >&2
    fi
    unmount_under "$WORK"
    rm -rf "$WORK"
    if ((rc == 0)); then echo "PASS: interop-containerd ($RUNTIME)"; else echo "FAIL: interop-containerd ($RUNTIME)" >&2; fi
    exit "$rc"
}
trap cleanup EXIT

ctr_() { ctr -a "$CTRD_SOCK" -n "$NS" "$@"; }
run_opts=(--runc-binary "$RUNTIME" --runc-root "$WORK/runc-root")

log "starting containerd in $WORK (runtime: $RUNTIME)"
start_containerd "$WORK"

log "importing busybox"
ctr_ images import "$(images_dir)/busybox-1.35.docker.tar" >/dev/null
ctr_ images ls -q | grep -qx "$IMAGE" || fail "image $IMAGE not listed after import"

log "ctr run --rm (attached)"
out=$(timeout 60 ctr -a "$CTRD_SOCK" -n "$NS" run --rm "${run_opts[@]}" "$IMAGE" berth-1 \
    sh -c 'echo hello; id -u; hostname')
expect_line "$out" '^hello$' "attached run"
expect_line "$out" '^0$' "attached run uid"

log "ctr run -d, task exec, task kill, delete"
ctr_ run -d --null-io "${run_opts[@]}" "$IMAGE" berth-2 sleep 300
wait_for "task berth-2 RUNNING" 10 bash -c "ctr -a '$CTRD_SOCK' -n '$NS' tasks ls | grep -E '^berth-2 .*RUNNING'"
out=$(timeout 30 ctr -a "$CTRD_SOCK" -n "$NS" tasks exec --exec-id probe-1 berth-2 sh -c 'echo from-exec; cat /proc/1/cmdline | tr "\0" " "')
expect_line "$out" '^from-exec' "task exec"
expect_line "$out" 'sleep 300' "task exec sees init"
ctr_ tasks kill -s SIGKILL berth-2
wait_for "task berth-2 STOPPED" 10 bash -c "ctr -a '$CTRD_SOCK' -n '$NS' tasks ls | grep -E '^berth-2 .*STOPPED'"
ctr_ tasks delete berth-2 >/dev/null
ctr_ containers delete berth-2
[[ -z $(ctr_ containers ls -q) ]] || fail "containers left after delete: $(ctr_ containers ls -q)"
