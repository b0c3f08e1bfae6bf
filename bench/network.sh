#!/usr/bin/env bash
# Networking benchmark (issue 7): `run --rm busybox true` on the default bridge and with
# `--network none`, TCP throughput container to container on a user network and host to
# container through a published port; berthd against Debian's dockerd 20.10 on its bridge,
# same machine, same run, the same static tool (bench/tools/tcpbench.c) on both sides.
# Usage: sudo bench/network.sh [--no-build] [network.py options: --runs N, --tcp-runs N,
#        --bytes N, --berthd PATH, --berth PATH, --shim PATH]
# Writes docs/bench-network.{md,png,json}.
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/../tests/lib.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

bench_setup "$@"
command -v dockerd >/dev/null || fail "dockerd not installed (apt-get install docker.io)"
if ! command -v musl-gcc >/dev/null; then
    log "installing musl-tools (a static tcpbench that resolves names without glibc's NSS)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends musl-tools >/dev/null ||
        fail "musl-tools could not be installed (apt-get install musl-tools)"
fi
bench_build_engine

# free_subnet VAR: sets VAR to the first 10.X.Y.0/24 (X in 200..250) that no route here
# contains or lies in, and that an earlier call did not hand out ($TAKEN).
TAKEN=" "
free_subnet() {
    local x y net
    for ((x = 200; x <= 250; x++)); do
        for ((y = 1; y < 255; y += 7)); do
            net=10.$x.$y.0/24
            [[ $TAKEN == *" $net "* ]] && continue
            if ! ip -4 route show table all to match "$net" | grep -qv '^default' &&
                [[ -z $(ip -4 route show table all root "$net") ]]; then
                TAKEN+="$net "
                printf -v "$1" %s "$net"
                return 0
            fi
        done
    done
    fail "no free 10.x.y.0/24 subnet for the benchmark's networks"
}
free_subnet BERTH_BIP_NET
free_subnet DOCKER_BIP_NET
free_subnet BERTH_USER_NET
free_subnet DOCKER_USER_NET
gateway() { echo "${1%.0/24}.1"; }

WORK=$(mktemp -d /var/tmp/berth-bench-network.XXXXXX)
DOCKER_BRIDGE=nbdk$$
# remove_bridges_in SUBNET...: deletes every bridge holding an address in one of SUBNETs
# (ours: the subnets were free when the run began), e.g. left by a daemon killed midway.
remove_bridges_in() {
    local net dev
    for net in "$@"; do
        for dev in $(ip -4 -o addr show to "$net" 2>/dev/null | awk '{print $2}'); do
            if [[ -d /sys/class/net/$dev/bridge ]]; then ip link del "$dev" 2>/dev/null || true; fi
        done
    done
}
# stop_leftovers: ends what still names $WORK once the daemons are gone (a container
# monitor whose daemon was killed): the container's processes first, then the monitor.
stop_leftovers() {
    local pid child
    for pid in $(pids_with_arg "$WORK/"); do
        ((pid == $$)) && continue
        for child in $(pgrep -P "$pid"); do kill -KILL "$child" 2>/dev/null || true; done
        stop_pid "$pid" 5
    done
}
cleanup() {
    local rc=$? pid
    stop_dockerd "$WORK" "$rc"
    for pid in $(pids_with_arg "$WORK/berth.sock"); do stop_pid "$pid" 10; done
    stop_leftovers
    ip link del "$DOCKER_BRIDGE" 2>/dev/null || true
    remove_bridges_in "$BERTH_BIP_NET" "$DOCKER_BIP_NET" "$BERTH_USER_NET" "$DOCKER_USER_NET"
    unmount_under "$WORK"
    rm -rf "$WORK"
    return $rc
}
trap cleanup EXIT

log "tcpbench: musl-gcc -static -O2"
musl-gcc -static -O2 -Wall -Wextra -o "$WORK/tcpbench" bench/tools/tcpbench.c

# dockerd's default bridge under a private name (a non-default name must exist beforehand);
# iptables stay off so the host's firewall is untouched: published ports then go through
# docker-proxy, which is what docker 20.10 uses for connections to 127.0.0.1 anyway.
ip link add "$DOCKER_BRIDGE" type bridge
ip addr add "$(gateway "$DOCKER_BIP_NET")/24" dev "$DOCKER_BRIDGE"
ip link set "$DOCKER_BRIDGE" up
start_dockerd "$WORK" --bridge="$DOCKER_BRIDGE"

"$VENV/bin/python" bench/network.py --work "$WORK" --docker-host "$DOCKER_HOST" \
    --images "$(images_dir)" --tcpbench "$WORK/tcpbench" \
    --berth-bip "$(gateway "$BERTH_BIP_NET")/24" --docker-gateway "$(gateway "$DOCKER_BIP_NET")" \
    --berth-subnet "$BERTH_USER_NET" --docker-subnet "$DOCKER_USER_NET" "${ARGS[@]}"
