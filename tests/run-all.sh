#!/usr/bin/env bash
# berth's whole test suite, as CI runs it (root needed): formatting, clippy, a check of
# the test harness against runc, the docker, containerd, image, registry, docker-py, build, network, JSON-fidelity and API-fuzz interop scripts, doctests,
# then every unit and integration test with cargo-nextest, whose summary is the last line.
# Usage: sudo ./tests/run-all.sh   (BERTH_TEST_RUNTIME=/path runs interop and the runtime's
# integration tests against another runtime binary)
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

failed=()
step() { log "$*"; "$@"; }
# soft STEP...: runs a step that must not stop the others; its failure fails the run.
soft() {
    log "$*"
    local name=$1
    [[ $name != timeout ]] || name=$3 # `timeout SECONDS SCRIPT`: the script names the step
    "$@" || failed+=("$(basename "$name")")
}

step cargo fmt --all -- --check
step cargo clippy --workspace --all-targets -- -D warnings
step cargo build --workspace --all-targets
# One static probe for every test process (nextest runs each test in its own process).
step cargo probe-static
BERTH_TEST_PROBE=$REPO_ROOT/target/$(uname -m)-unknown-linux-gnu/release/berth-probe
export BERTH_TEST_PROBE
RUNTIME=$(resolve_runtime "${BERTH_TEST_RUNTIME:-$REPO_ROOT/target/debug/berth-runtime}")

# The harness itself must work against a reference runtime, whatever berth's state.
soft env BERTH_TEST_RUNTIME=/usr/sbin/runc timeout 300 cargo test -q -p berth-runtime --test harness_smoke
soft timeout 300 tests/interop-containerd.sh "$RUNTIME"
soft timeout 300 tests/interop-docker.sh "$RUNTIME"
soft timeout 300 tests/interop-images.sh
soft timeout 300 tests/interop-registry.sh
soft timeout 300 tests/interop-dockerpy.sh
soft timeout 300 tests/interop-build.sh
soft timeout 900 tests/interop-build-debian.sh
soft timeout 300 tests/interop-network.sh
soft timeout 300 tests/interop-fidelity.sh
soft timeout 600 tests/interop-fuzz.sh
soft cargo test -q --workspace --doc
((${#failed[@]} == 0)) || log "failed so far: ${failed[*]}"

if cargo nextest --version >/dev/null 2>&1; then
    log "cargo nextest run --workspace"
    timeout 1500 cargo nextest run --workspace --no-fail-fast || failed+=(nextest)
else
    log "cargo-nextest missing; using cargo test"
    timeout 1500 cargo test --workspace --no-fail-fast || failed+=("cargo test")
fi
if ((${#failed[@]} > 0)); then
    echo "run-all: failed: ${failed[*]}" >&2
    exit 1
fi
