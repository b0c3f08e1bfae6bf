#!/usr/bin/env bash
# A Dockerfile that installs Debian packages, built through berthd: a Debian base made here
# with debootstrap (minbase, from deb.debian.org) and imported, then `apt-get install` in a
# RUN step (over berthd's default bridge network), built both by `berth build` and by the
# docker CLI's classic builder against berthd; both images run the installed program.
# Usage: tests/interop-build-debian.sh   (berthd/berth from target/debug, or $BERTHD/$BERTH)
# Needs: debootstrap, network access to the Debian mirror ($DEBIAN_MIRROR).
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

command -v debootstrap >/dev/null || fail "DEBOOTSTRAP MISSING: apt-get install debootstrap"
command -v docker >/dev/null || fail "docker CLI not installed"
BERTH=${BERTH:-$REPO_ROOT/target/debug/berth}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
WORK=$(mktemp -d /var/tmp/berth-deb.XXXXXX)

cleanup() {
    local rc=$?
    stop_berthd "$WORK" "$rc"
    unmount_under "$WORK"
    rm -rf "$WORK"
    if ((rc == 0)); then echo "PASS: interop-build-debian"; else echo "FAIL: interop-build-debian" >&2; fi
    exit "$rc"
}
trap cleanup EXIT

log "debootstrap --variant=minbase bookworm ($MIRROR)"
timeout 600 debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    fail "debootstrap failed: $(tail -5 "$WORK/debootstrap.log")"
start_berthd "$WORK"
tar -C "$WORK/rootfs" -c . | "$BERTH" import - debian:boot >/dev/null
rm -rf "$WORK/rootfs"

mkdir -p "$WORK/ctx"
cat >"$WORK/ctx/Dockerfile" <<'DOCKERFILE'
FROM debian:boot
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends hello cowsay && rm -rf /var/lib/apt/lists/*
CMD ["hello"]
DOCKERFILE

log "berth build"
timeout 600 "$BERTH" build -t deb-hello:berth "$WORK/ctx" >"$WORK/berth-build.log" 2>&1 ||
    fail "berth build failed: $(tail -20 "$WORK/berth-build.log")"
out=$("$BERTH" run --rm deb-hello:berth)
[[ $out == "Hello, world!" ]] || fail "berth-built image printed: $out"
out=$("$BERTH" run --rm deb-hello:berth /usr/games/cowsay moo)
expect_line "$out" '< moo >' "cowsay in the berth-built image"

log "docker build (classic builder) against berthd"
DOCKER_BUILDKIT=0 DOCKER_HOST=$BERTH_HOST timeout 600 docker build --no-cache -t deb-hello:docker "$WORK/ctx" \
    >"$WORK/docker-build.log" 2>&1 || fail "docker build failed: $(tail -20 "$WORK/docker-build.log")"
out=$(DOCKER_HOST=$BERTH_HOST docker run --rm deb-hello:docker)
[[ $out == "Hello, world!" ]] || fail "docker-built image printed: $out"
[[ -z $("$BERTH" ps -aq) ]] || fail "containers left: $("$BERTH" ps -a)"
