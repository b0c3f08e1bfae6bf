#!/usr/bin/env bash
# JSON fidelity: the same image, container (with a volume and an exec) and requests on
# Debian's dockerd and on berthd; every answer must carry dockerd's keys at every level
# with the same types (tests/fidelity/compare.py): version, info, container list and
# inspect, image list and inspect, volume list and inspect, system df, exec inspect and
# events.
#
# Usage: sudo tests/interop-fidelity.sh [BERTHD]   (default: target/debug/berthd)
# Needs: dockerd and containerd (Debian: docker.io), python3.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export BERTHD=${1:-$REPO_ROOT/target/debug/berthd}
[[ -x $BERTHD ]] || fail "berthd not found at $BERTHD (cargo build -p berth-daemon)"
command -v dockerd >/dev/null || fail "DOCKERD MISSING: dockerd not installed (apt-get install docker.io)"
WORK=$(mktemp -d "/var/tmp/berth-fidelity-$$-XXXX")

cleanup() {
    local rc=$?
    stop_berthd "$WORK" "$rc"
    stop_dockerd "$WORK" "$rc"
    unmount_under "$WORK"
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

start_dockerd "$WORK" >/dev/null
start_berthd "$WORK"
log "comparing dockerd's and berthd's JSON"
python3 "$REPO_ROOT/tests/fidelity/compare.py" "$WORK/docker.sock" "$WORK/berth.sock" \
    "$(images_dir)/busybox-1.35.docker.tar"
log "JSON fidelity: all answers match dockerd's keys and types"
