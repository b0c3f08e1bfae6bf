#!/usr/bin/env bash
# Engine benchmark: `run --rm busybox true` end to end and 500 running containers, berthd
# against Debian's dockerd 20.10 (and podman where it runs), same machine, same run.
# Usage: sudo bench/daemon.sh [--no-build] [daemon.py options: --runs N, --many N]
# Writes docs/bench-daemon.{md,png,json}.
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/../tests/lib.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

bench_setup "$@"
command -v dockerd >/dev/null || fail "dockerd not installed (apt-get install docker.io)"
if ! command -v podman >/dev/null; then
    log "installing podman for the comparison (it may still refuse to run here: see the report)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >/dev/null ||
        log "podman could not be installed; its rows will say so"
fi

bench_build_engine

WORK=$(mktemp -d /var/tmp/berth-bench-daemon.XXXXXX)
cleanup() {
    local rc=$?
    stop_dockerd "$WORK" "$rc"
    unmount_under "$WORK"
    rm -rf "$WORK"
    return $rc
}
trap cleanup EXIT
start_dockerd "$WORK"
"$VENV/bin/python" bench/daemon.py --work "$WORK" --docker-host "$DOCKER_HOST" \
    --images "$(images_dir)" "${ARGS[@]}"
