# What the benchmark scripts share; source after tests/lib.sh.

# Splits "$@" into BUILD (0 with --no-build, else 1) and ARGS (the rest, for the Python
# part); refuses to run without root; makes the Python venv ($VENV) with the plot deps.
bench_setup() {
    BUILD=1
    ARGS=()
    local a
    for a in "$@"; do
        if [[ $a == --no-build ]]; then BUILD=0; else ARGS+=("$a"); fi
    done
    ((EUID == 0)) || fail "run me as root"
    VENV=${BERTH_BENCH_VENV:-$HOME/.cache/berth-bench-venv}
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r bench/requirements.txt
}

# Builds berthd, berth and the shim for release unless --no-build was given.
bench_build_engine() {
    ((BUILD)) || return 0
    log "cargo build --release (berthd), cargo cli-release, cargo shim-release"
    cargo build --release -p berth-daemon
    cargo cli-release
    cargo shim-release
}
