#!/usr/bin/env bash
# A bounded, schema-driven fuzz of berthd's API: schemathesis (PyPI) generates requests
# from Docker's v1.47 swagger (../shared/reference) against a berthd on a loopback TCP
# port, with a loaded image, a running container and a volume for the path parameters
# to name. Every answer must be a non-5xx (check `not_a_server_error`), and berthd must
# still answer afterwards. Left out: streams that never end by themselves (attach, events,
# logs, wait, stats); what reaches registries on the internet (pull, push, login,
# search); networks (a generated subnet could take the host's own routes); the build
# cache's prune; and what berthd does not have (swarm, plugins), which answers 501 by
# design. `POST /build` is in. The seed is fixed: the run is repeatable.
#
# Usage: sudo tests/interop-fuzz.sh [BERTHD]   (default: target/debug/berthd)
# Needs: python3 with the venv module, network access to PyPI (or BERTH_FUZZ_VENV naming
# a venv that has schemathesis).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BERTHD=${1:-$REPO_ROOT/target/debug/berthd}
BERTH=$REPO_ROOT/target/debug/berth
[[ -x $BERTHD && -x $BERTH ]] || fail "berthd or berth missing (cargo build -p berth-daemon -p berth-cli)"
SPEC=$REPO_ROOT/../shared/reference/docker-engine-api-v1.47.yaml
[[ -f $SPEC ]] || SPEC=$(dirname "$(images_dir)")/reference/docker-engine-api-v1.47.yaml
[[ -f $SPEC ]] || fail "SWAGGER MISSING: no shared/reference/docker-engine-api-v1.47.yaml beside the repository"
WORK=$(mktemp -d "/var/tmp/berth-fuzz-$$-XXXX")
BERTHD_PID=

cleanup() {
    local rc=$?
    if [[ -n $BERTHD_PID ]]; then
        "$BERTH" -H "unix://$WORK/b.sock" rm -f fuzzbox >/dev/null 2>&1 || true
        stop_pid "$BERTHD_PID" 10
    fi
    if ((rc != 0)) && [[ -f $WORK/berthd.log ]]; then
        echo "--- berthd log (tail) ---" >&2
        tail -n 30 "$WORK/berthd.log" >&2
    fi
    unmount_under "$WORK"
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

venv=${BERTH_FUZZ_VENV:-}
if [[ -z $venv ]]; then
    python3 -c 'import venv, ensurepip' 2>/dev/null ||
        fail "PYTHON3-VENV MISSING: python3 cannot make a venv with pip (Debian: apt-get install python3-venv)"
    venv=${HOME:-/root}/.cache/berth-fuzz-venv
    if [[ ! -x $venv/bin/schemathesis ]]; then
        log "making a venv with schemathesis"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q schemathesis
    fi
fi
[[ -x $venv/bin/schemathesis ]] || fail "schemathesis is not installed in $venv"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo '{}' >"$WORK/daemon.json"
"$BERTHD" --data-root "$WORK/data" --exec-root "$WORK/exec" --config-file "$WORK/daemon.json" \
    -H "unix://$WORK/b.sock" -H "tcp://127.0.0.1:$port" >"$WORK/berthd.log" 2>&1 &
BERTHD_PID=$!
wait_for "berthd on $WORK/b.sock" 20 test -S "$WORK/b.sock"
b() { "$BERTH" -H "unix://$WORK/b.sock" "$@"; }
b load -i "$(images_dir)/busybox-1.35.docker.tar" >/dev/null
b run -d --name fuzzbox -v fuzzvol:/data busybox:1.35 sleep 1000 >/dev/null
cat >"$WORK/schemathesis.toml" <<'TOML'
[parameters]
"path.id" = "fuzzbox"
"path.name" = "busybox:1.35"
TOML

log "fuzzing berthd's API from the v1.47 swagger (fixed seed)"
skip='(attach|events|logs|wait|stats|/export|/get$|/images/get|/build/prune|/session|swarm|services|tasks|secrets|configs|nodes|plugins|distribution|/images/create|/images/load|/push|networks|/auth|/images/search)'
(cd "$WORK" && "$venv/bin/schemathesis" run "$SPEC" --url "http://127.0.0.1:$port/v1.47" \
    --checks not_a_server_error --max-examples 25 --request-timeout 10 --seed 1 \
    --exclude-path-regex "$skip" --phases examples,fuzzing --workers 1)
kill -0 "$BERTHD_PID" || fail "berthd died during the fuzz run"
b version >/dev/null || fail "berthd does not answer after the fuzz run"
log "fuzz: no server errors, berthd still answers"
