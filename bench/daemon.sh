#!/usr/bin/env bash
# Engine benchmark: `run --rm busybox true` end to end and 500 running containers, berthd
# against Debian's dockerd 20.10 (and podman where it runs), same machine, same run.
# Usage: sudo bench/daemon.sh [--no-build] [daemon.py options: --runs N, --many N]
# Writes docs/bench-daemon.{md,png,json}.
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/../tests/lib.sh"
cd "$REPO_ROOT"

build=1
args=()
for a in "$@"; do
    if [[ $a == --no-build ]]; then build=0; else args+=("$a"); fi
done
((EUID == 0)) || fail "run me as root"
command -v dockerd >/dev/null || fail "dockerd not installed (apt-get install docker.io)"
if ! command -v podman >/dev/null; then
    log "installing podman for the comparison (it may still refuse to run here: see the report)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >/dev/null ||
        log "podman could not be installed; its rows will say so"
fi

VENV=${BERTH_BENCH_VENV:-$HOME/.cache/berth-bench-venv}
[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q -r bench/requirements.txt
if ((build)); then
    log "cargo build --release (berthd, berth), cargo shim-release"
    cargo build --release -p berth-daemon -p berth-cli
    cargo shim-release
fi

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
    --images "$(images_dir)" "${args[@]}"
