#!/usr/bin/env bash
# Builds berth (berthd, the berth CLI, berth-shim, berth-runtime), starts a berthd on a
# temporary data root and socket, loads the busybox test image and runs one container
# through it, then stops berthd and removes everything. Needs root.
# Usage: sudo ./tests/quickstart.sh
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

((EUID == 0)) || fail "run me as root (sudo ./tests/quickstart.sh)"
if ! pkg-config --exists libseccomp 2>/dev/null; then
    log "installing libseccomp-dev and pkg-config (needed to build berth)"
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends libseccomp-dev pkg-config >/dev/null
fi
if ! command -v nft >/dev/null && ! command -v iptables-restore >/dev/null; then
    log "installing nftables (containers on the default bridge get NAT and ports through it)"
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends nftables >/dev/null
fi
log "building berthd, berth, berth-shim and berth-init (release)"
(cd "$REPO_ROOT" && cargo build --release -p berth-daemon -p berth-cli -p berth-shim -p berth-init)
export BERTHD=$REPO_ROOT/target/release/berthd BERTH=$REPO_ROOT/target/release/berth
WORK=$(mktemp -d /tmp/berth-quickstart.XXXXXX)
cleanup() {
    local rc=$?
    stop_berthd "$WORK" "$rc"
    unmount_under "$WORK"
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

log "starting berthd on $WORK/berth.sock"
start_berthd "$WORK"
log "berth load -i busybox-1.35.docker.tar"
"$BERTH" load -i "$(images_dir)/busybox-1.35.docker.tar"
log "berth run --rm busybox:1.35 ..."
"$BERTH" run --rm --name quickstart busybox:1.35 \
    sh -c 'echo "hello from a container: host $(hostname), pid $$, $(id)"'
