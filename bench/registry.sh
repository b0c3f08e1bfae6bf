#!/usr/bin/env bash
# Registry benchmark: pull and push of a generated ~1 GB, 8-layer image over loopback
# against Debian's docker-registry (distribution 2.8): berth (CLI through berthd) against
# a private dockerd 20.10 and skopeo, same machine, same run.
# Usage: sudo bench/registry.sh [--no-build] [registry.py options: --rounds N, --size-mb M,
#        --no-drop-caches]
# Writes docs/bench-registry.{md,png,json}. registry.py starts the two registries (one to
# pull from, one restarted empty before every push) and berthd; this script builds the
# release binaries and starts dockerd. dockerd needs no --insecure-registry: it treats
# 127.0.0.0/8 as insecure by default, as berth does.
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/../tests/lib.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

bench_setup "$@"
command -v dockerd >/dev/null || fail "dockerd not installed (apt-get install docker.io)"
command -v docker-registry >/dev/null || fail "docker-registry not installed (apt-get install docker-registry)"
command -v skopeo >/dev/null || fail "skopeo not installed (apt-get install skopeo)"

bench_build_engine

WORK=$(mktemp -d /var/tmp/berth-bench-reg.XXXXXX)
cleanup() {
    local rc=$? pid
    stop_dockerd "$WORK" "$rc"
    # registry.py stops what it started; anything left after a crash has WORK in its argv.
    for pid in $(pids_with_arg "$WORK/"); do stop_pid "$pid" 10; done
    unmount_under "$WORK"
    rm -rf "$WORK"
    return $rc
}
trap cleanup EXIT
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
start_dockerd "$WORK"
"$VENV/bin/python" bench/registry.py --work "$WORK" --docker-host "$DOCKER_HOST" "${ARGS[@]}"
