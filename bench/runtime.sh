#!/usr/bin/env bash
# Container lifecycle benchmark: berth-runtime against crun and runc, same machine, same run.
# Usage: sudo bench/runtime.sh [--no-build] [runtime.py options: --iterations N, --berth PATH, ...]
# Writes docs/bench-runtime.{md,png,json}. Python deps go into a venv
# ($BERTH_BENCH_VENV, default ~/.cache/berth-bench-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
args=()
for a in "$@"; do
    if [[ $a == --no-build ]]; then build=0; else args+=("$a"); fi
done
((EUID == 0)) || { echo "run me as root" >&2; exit 1; }

VENV=${BERTH_BENCH_VENV:-$HOME/.cache/berth-bench-venv}
[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q -r bench/requirements.txt

if ((build)); then
    echo "==> cargo runtime-release" >&2
    cargo runtime-release
fi

# All runtimes run in one private mount namespace in which the cgroup v2 mount is replaced
# by an empty tmpfs: crun 1.8 refuses this machine's hybrid layout (v2 holds hugetlb), so
# every runtime gets plain cgroup v1, the same conditions for all (see docs/bench-runtime.md).
exec unshare -m --propagation private bash -c '
    umount /sys/fs/cgroup/unified 2>/dev/null && mount -t tmpfs -o size=64m none /sys/fs/cgroup/unified
    exec "$@"' bench "$VENV/bin/python" bench/runtime.py "${args[@]}"
