#!/usr/bin/env bash
# Storage benchmarks: image load and commit, berth against real docker (Debian's dockerd
# 20.10, private instances), and berth's container root preparation.
# Usage: sudo bench/images.sh [--no-build] [images.py options: --rounds N, --size-mb M]
# Writes docs/bench-images.{md,png,json}.
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/../tests/lib.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

bench_setup "$@"
command -v dockerd >/dev/null || fail "dockerd not installed (apt-get install docker.io)"

if ((BUILD)); then
    log "cargo build --release -p berth-daemon -p berth-shim, cargo cli-release, --example rootfs_bench"
    cargo build --release -p berth-daemon -p berth-shim
    cargo cli-release
    cargo build --release -p berth-image --example rootfs_bench
fi

WORK=$(mktemp -d /var/tmp/berth-bench-img.XXXXXX)
cleanup() {
    local rc=$?
    stop_containerd "$WORK"
    unmount_under "$WORK"
    losetup -j "$WORK/fs.img" -O NAME --noheadings 2>/dev/null | xargs -r -n1 losetup -d
    rm -rf "$WORK"
    return $rc
}
trap cleanup EXIT
# One containerd for all rounds; images.py starts a fresh dockerd on a fresh file system
# for each docker round.
start_containerd "$WORK"
"$VENV/bin/python" bench/images.py --work "$WORK" --containerd "$CTRD_SOCK" \
    --images "$(images_dir)" "${ARGS[@]}"
