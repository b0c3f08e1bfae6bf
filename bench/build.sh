#!/usr/bin/env bash
# Build benchmark: a 12-step Dockerfile built from busybox, fully cached and cold, by berth
# (the CLI through berthd) against a private dockerd 20.10's classic builder (and BuildKit
# where the docker CLI has buildx), same machine, same run.
# Usage: sudo bench/build.sh [--no-build] [build.py options: --cached-runs N, --cold-runs N]
# Writes docs/bench-build.{md,png,json}.
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/../tests/lib.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

bench_setup "$@"
command -v dockerd >/dev/null || fail "dockerd not installed (apt-get install docker.io)"

bench_build_engine

WORK=$(mktemp -d /var/tmp/berth-bench-build.XXXXXX)
cleanup() {
    local rc=$?
    stop_dockerd "$WORK" "$rc"
    unmount_under "$WORK"
    rm -rf "$WORK"
    return $rc
}
trap cleanup EXIT
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
start_dockerd "$WORK"
"$VENV/bin/python" bench/build.py --work "$WORK" --docker-host "$DOCKER_HOST" \
    --images "$(images_dir)" "${ARGS[@]}"
