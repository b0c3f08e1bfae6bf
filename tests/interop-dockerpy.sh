#!/usr/bin/env bash
# docker-py (PyPI `docker`) against berthd: a venv with docker-py, a berthd on a temporary
# data root and socket, then every tests/dockerpy/test_*.py with DOCKER_HOST pointing at it.
#
# Usage: tests/interop-dockerpy.sh [BERTHD]   (default: target/debug/berthd)
# Needs: python3 with the venv module (Debian: python3-venv), network access to PyPI
# (or BERTH_DOCKERPY_VENV naming a venv that already has docker-py).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BERTHD=${1:-$REPO_ROOT/target/debug/berthd}
[[ -x $BERTHD ]] || fail "berthd not found at $BERTHD (cargo build -p berth-daemon)"
WORK=$(mktemp -d "/tmp/berth-dockerpy-$$-XXXX")
BERTHD_PID=

cleanup() {
    local rc=$?
    [[ -n $BERTHD_PID ]] && stop_pid "$BERTHD_PID" 10
    if ((rc != 0)) && [[ -f $WORK/berthd.log ]]; then
        echo "--- berthd log (tail) ---" >&2
        tail -n 30 "$WORK/berthd.log" >&2
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

venv=${BERTH_DOCKERPY_VENV:-}
if [[ -z $venv ]]; then
    python3 -c 'import venv, ensurepip' 2>/dev/null ||
        fail "PYTHON3-VENV MISSING: python3 cannot make a venv with pip (Debian: apt-get install python3-venv)"
    venv=$WORK/venv
    log "making a venv with docker-py"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check docker ||
        fail "pip install docker failed (PyPI unreachable?)"
fi
"$venv/bin/python" -c 'import docker' || fail "docker-py is not importable from $venv"

log "starting berthd on $WORK"
echo '{}' >"$WORK/daemon.json"
"$BERTHD" --data-root "$WORK/data" --exec-root "$WORK/exec" --config-file "$WORK/daemon.json" \
    -H "unix://$WORK/berth.sock" >"$WORK/berthd.log" 2>&1 &
BERTHD_PID=$!
wait_for "berthd on $WORK/berth.sock" 20 test -S "$WORK/berth.sock"

export DOCKER_HOST=unix://$WORK/berth.sock
BERTH_TEST_IMAGES=$(images_dir)
export BERTH_TEST_IMAGES
unset DOCKER_API_VERSION DOCKER_TLS_VERIFY DOCKER_CERT_PATH
failed=0
for t in "$REPO_ROOT"/tests/dockerpy/test_*.py; do
    log "docker-py: $(basename "$t")"
    if ! (cd "$(dirname "$t")" && "$venv/bin/python" -m unittest -v "$(basename "$t" .py)") 2>&1 |
        sed 's/^/    /'; then
        failed=1
    fi
done
((failed == 0)) || fail "docker-py tests failed"
log "docker-py against berthd: all passed"
