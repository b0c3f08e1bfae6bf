#!/usr/bin/env bash
# Image load benchmark: berth against real docker (Debian's dockerd 20.10, private instance).
# Usage: sudo bench/images.sh [--no-build] [images.py options: --rounds N, --size-mb M]
# Writes docs/bench-images.{md,png,json}.
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

VENV=${BERTH_BENCH_VENV:-$HOME/.cache/berth-bench-venv}
[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q -r bench/requirements.txt
if ((build)); then
    log "cargo build --release -p berth-cli"
    cargo build --release -p berth-cli
fi

WORK=$(mktemp -d /var/tmp/berth-bench-dkr.XXXXXX)
cleanup() {
    local rc=$?
    stop_dockerd "$WORK" "$rc"
    unmount_under "$WORK"
    rm -rf "$WORK"
}
trap cleanup EXIT
start_dockerd "$WORK"
"$VENV/bin/python" bench/images.py "${args[@]}"
