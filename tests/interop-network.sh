#!/usr/bin/env bash
# Networking through berthd with the real docker CLI, docker-py and docker-compose:
# network create, ls, inspect, connect, disconnect, rm and prune; containers on a user
# network found by name and alias; published ports reached from the host; docker's
# errors for a network in use; network JSON compared with dockerd's; and, once
# everything is removed and berthd stopped, none of berth's bridges, links, namespace
# files or nftables tables left.
#
# Usage: sudo tests/interop-network.sh [BERTHD]   (default: target/debug/berthd)
# Needs: the docker CLI, docker-compose (v1, Debian's), dockerd, nftables, curl, python3
# with venv (or BERTH_DOCKERPY_VENV naming a venv with docker-py).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export BERTHD=${1:-$REPO_ROOT/target/debug/berthd}
[[ -x $BERTHD ]] || fail "berthd not found at $BERTHD (cargo build -p berth-daemon)"
command -v docker >/dev/null || fail "DOCKER CLI MISSING"
command -v nft >/dev/null || fail "NFT MISSING: apt-get install nftables"
command -v curl >/dev/null || fail "CURL MISSING: apt-get install curl"
command -v docker-compose >/dev/null || fail "DOCKER-COMPOSE MISSING: apt-get install docker-compose"
WORK=$(mktemp -d "/var/tmp/berth-network-$$-XXXX")

cleanup() {
    local rc=$?
    if [[ -n ${BERTHD_PID:-} ]]; then
        for n in $(docker network ls -q --filter type=custom 2>/dev/null); do
            docker network rm "$n" >/dev/null 2>&1 || true
        done
    fi
    stop_berthd "$WORK" "$rc"
    stop_dockerd "$WORK" "$rc"
    unmount_under "$WORK"
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

start_berthd "$WORK"
export DOCKER_HOST=$BERTH_HOST
unset DOCKER_API_VERSION
docker load -i "$(images_dir)/busybox-1.35.docker.tar" >/dev/null

log "docker CLI: a user network, names and aliases"
docker network create --subnet 10.215.3.0/24 --label team=net netcli >/dev/null
[[ $(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' netcli) == 10.215.3.0/24 ]] ||
    fail "network inspect: wrong subnet"
docker network ls --filter label=team=net --format '{{.Name}}' | grep -qx netcli || fail "network ls filter"
docker network ls --format '{{.Name}}' | grep -qx bridge || fail "no bridge network listed"
docker run -d --name web --network netcli --network-alias www busybox:1.35 \
    sh -c 'echo hello > /tmp/index.html; exec httpd -f -p 80 -h /tmp' >/dev/null
out=$(docker run --rm --network netcli busybox:1.35 wget -qO- http://www/index.html)
[[ $out == hello ]] || fail "alias www answered '$out'"
out=$(docker run --rm --network netcli busybox:1.35 wget -qO- http://web/index.html)
[[ $out == hello ]] || fail "name web answered '$out'"
ip=$(docker inspect -f '{{.NetworkSettings.Networks.netcli.IPAddress}}' web)
[[ $ip == 10.215.3.* ]] || fail "web has address '$ip'"
docker network inspect -f '{{range .Containers}}{{.Name}}{{end}}' netcli | grep -qx web ||
    fail "network inspect does not list web"
if docker network rm netcli 2>"$WORK/err"; then fail "a network in use was removed"; fi
grep -q "has active endpoints" "$WORK/err" || fail "network rm: $(cat "$WORK/err")"

log "docker CLI: published ports and port"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
port2=$(free_port)
docker run -d --name pub -p "$port:80" busybox:1.35 \
    sh -c 'echo published > /tmp/index.html; exec httpd -f -p 80 -h /tmp' >/dev/null
wait_for "port $port" 10 curl -sf "http://127.0.0.1:$port/index.html"
[[ $(curl -s "http://127.0.0.1:$port/index.html") == published ]] || fail "127.0.0.1:$port"
gw=$(docker inspect -f '{{.NetworkSettings.Gateway}}' pub)
[[ $(curl -s "http://$gw:$port/index.html") == published ]] || fail "$gw:$port"
docker port pub | grep -qx "80/tcp -> 0.0.0.0:$port" || fail "docker port: $(docker port pub)"
docker network connect --alias late netcli pub
out=$(docker run --rm --network netcli busybox:1.35 wget -qO- http://late/index.html)
[[ $out == published ]] || fail "connect --alias late answered '$out'"
docker network disconnect netcli pub
bridge=$(docker network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' bridge)
user_bridge=br-$(docker network inspect -f '{{.Id}}' netcli | cut -c1-12)

log "docker-py: networks"
venv=${BERTH_DOCKERPY_VENV:-}
if [[ -z $venv ]]; then
    python3 -c 'import venv, ensurepip' 2>/dev/null ||
        fail "PYTHON3-VENV MISSING: apt-get install python3-venv"
    venv=$WORK/venv
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check docker ||
        fail "pip install docker failed (PyPI unreachable?)"
fi
"$venv/bin/python" "$REPO_ROOT/tests/network/dockerpy_networks.py"

log "docker-compose: a project on two networks, one internal"
mkdir -p "$WORK/compose"
cat >"$WORK/compose/docker-compose.yml" <<YAML
version: "3"
services:
  web:
    image: busybox:1.35
    command: sh -c 'echo composed > /tmp/index.html; exec httpd -f -p 80 -h /tmp'
    ports: ["$port2:80"]
    networks: [front]
  client:
    image: busybox:1.35
    command: sleep 100
    networks: [front, back]
networks:
  front:
  back:
    internal: true
YAML
(
    cd "$WORK/compose"
    docker-compose -p bcmp up -d >"$WORK/compose.log" 2>&1 || fail "docker-compose up: $(tail -3 "$WORK/compose.log")"
    [[ $(docker-compose -p bcmp exec -T client wget -qO- http://web/index.html) == composed ]] ||
        fail "compose service web not reached by name"
    wait_for "compose port $port2" 10 curl -sf "http://127.0.0.1:$port2/index.html"
    docker-compose -p bcmp exec -T client ip route | grep -q '^default via' || fail "no default route"
    docker-compose -p bcmp down >"$WORK/compose.log" 2>&1 || fail "docker-compose down"
)
[[ -z $(docker network ls -q --filter name=bcmp_) ]] || fail "compose networks left"

log "network JSON against dockerd's"
start_dockerd "$WORK" >/dev/null
python3 "$REPO_ROOT/tests/network/compare_networks.py" "$WORK/docker.sock" "$WORK/berth.sock" \
    "$(images_dir)/busybox-1.35.docker.tar"
stop_dockerd "$WORK"
DOCKERD_PID=
export DOCKER_HOST=$BERTH_HOST
unset DOCKER_API_VERSION

log "removing everything"
docker rm -f web pub >/dev/null
docker network rm netcli >/dev/null
docker network prune -f >/dev/null
[[ -z $(docker network ls -q --filter type=custom) ]] || fail "custom networks left"
stop_berthd "$WORK"
links=$(ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1)
grep -qx "$bridge" <<<"$links" && fail "bridge $bridge left"
grep -qx "$user_bridge" <<<"$links" && fail "bridge $user_bridge left"
nft list table ip "berth_$bridge" >/dev/null 2>&1 && fail "nft table berth_$bridge left"
left=$(find "$WORK/berth-data/netns" -mindepth 1 2>/dev/null | wc -l)
((left == 0)) || fail "$left namespace files left"
log "networking through docker, docker-py and docker-compose: all passed"
