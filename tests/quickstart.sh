#!/usr/bin/env bash
# Builds berth-runtime (release), unpacks the busybox test image into a bundle under /tmp
# and runs one container in it. Needs root.
# Usage: sudo ./tests/quickstart.sh [RUNTIME]   (a RUNTIME path skips the build, e.g. /usr/sbin/runc)
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

((EUID == 0)) || fail "run me as root (sudo ./tests/quickstart.sh)"
if [[ -z ${1:-} ]]; then
    if ! pkg-config --exists libseccomp 2>/dev/null; then
        log "installing libseccomp-dev and pkg-config (needed to build berth-runtime)"
        DEBIAN_FRONTEND=noninteractive apt-get -qq update
        DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends libseccomp-dev pkg-config >/dev/null
    fi
    log "building berth-runtime (release)"
    (cd "$REPO_ROOT" && cargo runtime-release)
    RUNTIME=$REPO_ROOT/target/x86_64-unknown-linux-gnu/runtime/berth-runtime
else
    RUNTIME=$(resolve_runtime "$1")
fi
BUNDLE=$(mktemp -d /tmp/berth-quickstart.XXXXXX)
trap 'rm -rf "$BUNDLE"' EXIT

log "unpacking busybox into $BUNDLE/rootfs"
unpack_busybox "$BUNDLE/rootfs"
(cd "$BUNDLE" && "$RUNTIME" spec)
python3 - "$BUNDLE/config.json" <<'PY'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["sh", "-c", 'echo "hello from a container: host $(hostname), pid $$, $(id)"']
spec["hostname"] = "berth"
json.dump(spec, open(path, "w"), indent=2)
PY
log "$RUNTIME run"
"$RUNTIME" --root "$BUNDLE/state" run --bundle "$BUNDLE" "quickstart-$$"
