#!/usr/bin/env bash
# Registry interop with real tools: Debian's docker-registry (distribution 2.8), skopeo,
# a private dockerd (20.10) and berth's own registry (`berth-registry serve`), all on
# loopback ports of their own:
#  1. berth pushes busybox to distribution; skopeo and docker pull it back with the same
#     manifest digest and image ID.
#  2. a multi-layer image with whiteouts and an opaque directory (gzip and plain layers),
#     pushed by skopeo; berth pulls it with docker's image ID and the files a container
#     sees are right.
#  3. docker pushes, berth pulls (same ID) and runs it.
#  4. through berth-registry: docker and skopeo push and pull; berth pulls what they
#     pushed and docker pulls what berth pushed; all tags pushed and pulled (-a); berth
#     searches it.
#  5. auth: distribution behind htpasswd: `berth login` with a wrong password fails with
#     docker's words, the right one works, push and pull need it; docker logs in to a
#     berth-registry behind htpasswd.
# Usage: tests/interop-registry.sh   (needs root, docker-registry, dockerd, docker, skopeo,
#        target/debug/{berth,berthd,berth-registry})
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

BERTH=${BERTH:-$REPO_ROOT/target/debug/berth}
REGISTRY=${BERTH_REGISTRY:-$REPO_ROOT/target/debug/berth-registry}
[[ -x $BERTH ]] || fail "berth binary not found at $BERTH (cargo build -p berth-cli)"
[[ -x $REGISTRY ]] || fail "berth-registry not found at $REGISTRY (cargo build -p berth-registry)"
command -v docker-registry >/dev/null || fail "docker-registry not installed (apt-get install docker-registry)"
command -v dockerd >/dev/null || fail "dockerd not installed (apt-get install docker.io)"
command -v skopeo >/dev/null || fail "skopeo not installed (apt-get install skopeo)"
WORK=$(mktemp -d /tmp/berth-reg.XXXXXX)
CGROUP_PARENT=berth-interop-reg-$$
BUSYBOX_ID=sha256:0ebe78266dec858d1daf51807eac28e2d90220e2f14088001a597919ab02955b
PIDS=()

cleanup() {
    local rc=$? pid
    stop_berthd "$WORK" "$rc"
    stop_dockerd "$WORK" "$rc"
    for pid in "${PIDS[@]}"; do stop_pid "$pid" 10; done
    if ((rc != 0)); then
        for f in "$WORK"/*.reg.log; do [[ -f $f ]] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
    fi
    remove_cgroup_dirs "$CGROUP_PARENT"
    unmount_under "$WORK"
    rm -rf "$WORK"
    if ((rc == 0)); then echo "PASS: interop-registry"; else echo "FAIL: interop-registry" >&2; fi
    exit "$rc"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_distribution NAME [HTPASSWD]: distribution 2.8 on a free port; prints host:port.
start_distribution() {
    local name=$1 htpasswd=${2:-} port
    port=$(free_port)
    {
        printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n' "$WORK/$name"
        printf 'http:\n  addr: 127.0.0.1:%s\n' "$port"
        [[ -z $htpasswd ]] || printf 'auth:\n  htpasswd:\n    realm: test\n    path: %s\n' "$htpasswd"
    } >"$WORK/$name.yml"
    docker-registry serve "$WORK/$name.yml" >"$WORK/$name.reg.log" 2>&1 &
    PIDS+=($!)
    wait_for "distribution $name on $port" 20 curl -s -o /dev/null "http://127.0.0.1:$port/v2/"
    echo "127.0.0.1:$port"
}

# start_berth_registry NAME [ARGS...]: berth-registry on a free port; prints host:port.
start_berth_registry() {
    local name=$1 port
    shift
    port=$(free_port)
    "$REGISTRY" serve --root "$WORK/$name" --addr "127.0.0.1:$port" "$@" >"$WORK/$name.reg.log" 2>&1 &
    PIDS+=($!)
    wait_for "berth-registry $name on $port" 20 curl -s -o /dev/null "http://127.0.0.1:$port/v2/"
    echo "127.0.0.1:$port"
}

# image_id NAME: the image ID berth has for NAME.
berth_id() { "$BERTH" image inspect -f '{{.Id}}' "$1"; }
docker_id() { docker image inspect -f '{{.Id}}' "$1"; }
skopeo_digest() { skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$1"; }

echo s3cret | "$REGISTRY" htpasswd alice >"$WORK/htpasswd"
DIST=$(start_distribution dist)
DIST_AUTH=$(start_distribution dist-auth "$WORK/htpasswd")
BREG=$(start_berth_registry breg)
BREG_AUTH=$(start_berth_registry breg-auth --htpasswd "$WORK/htpasswd")
log "distribution at $DIST and $DIST_AUTH (htpasswd), berth-registry at $BREG and $BREG_AUTH"

start_dockerd "$WORK" --cgroup-parent "/$CGROUP_PARENT"
start_berthd "$WORK"
export DOCKER_CONFIG=$WORK/cli
docker load -q -i "$(images_dir)/busybox-1.35.docker.tar" >/dev/null
"$BERTH" load -q -i "$(images_dir)/busybox-1.35.docker.tar" >/dev/null
python3 "$REPO_ROOT/tests/registry/make-multi-layer.py" "$(images_dir)/busybox-1.35.oci.tar" "$WORK/multi" >"$WORK/multi.id"
MULTI_ID=$(cat "$WORK/multi.id")

log "1. berth push to distribution; skopeo and docker pull it back"
"$BERTH" tag busybox:1.35 "$DIST/berth/busybox:1"
"$BERTH" push "$DIST/berth/busybox:1" >"$WORK/push1.out"
pushed=$(awk '/digest: sha256:/ { print $3 }' "$WORK/push1.out")
[[ $pushed == sha256:* ]] || fail "berth push printed no digest: $(cat "$WORK/push1.out")"
[[ $(skopeo_digest "$DIST/berth/busybox:1") == "$pushed" ]] || fail "skopeo sees another digest than $pushed"
skopeo copy -q --preserve-digests --src-tls-verify=false "docker://$DIST/berth/busybox:1" "oci:$WORK/copied:bb"
grep -q "$pushed" "$WORK/copied/index.json" || fail "skopeo's copy has another manifest than $pushed"
docker pull -q "$DIST/berth/busybox:1" >/dev/null
[[ $(docker_id "$DIST/berth/busybox:1") == "$BUSYBOX_ID" ]] || fail "docker pulled $(docker_id "$DIST/berth/busybox:1")"
docker image inspect -f '{{join .RepoDigests " "}}' "$DIST/berth/busybox:1" | grep -q "$pushed" ||
    fail "docker's repo digest is not $pushed"

log "2. skopeo pushes a multi-layer image with whiteouts; berth pulls and runs it"
skopeo copy -q --dest-tls-verify=false "oci:$WORK/multi:m" "docker://$DIST/multi:1"
"$BERTH" pull "$DIST/multi:1" >"$WORK/pull2.out"
grep -q "Pull complete" "$WORK/pull2.out" || fail "berth pull output: $(cat "$WORK/pull2.out")"
[[ $(berth_id "$DIST/multi:1") == "$MULTI_ID" ]] || fail "berth pulled $(berth_id "$DIST/multi:1"), not $MULTI_ID"
out=$("$BERTH" run --rm "$DIST/multi:1" sh -c 'ls /data; echo --; ls /data/dir')
[[ $out == $'a\ndir\n--\ny' ]] || fail "the multi-layer image's files: $out"
docker pull -q "$DIST/multi:1" >/dev/null
[[ $(docker_id "$DIST/multi:1") == "$MULTI_ID" ]] || fail "docker pulled another multi-layer image"

log "3. docker pushes; berth pulls the same image and runs it"
docker tag busybox:1.35 "$DIST/docker/busybox:2"
docker push -q "$DIST/docker/busybox:2" >/dev/null
"$BERTH" pull -q "$DIST/docker/busybox:2" >/dev/null
[[ $(berth_id "$DIST/docker/busybox:2") == "$BUSYBOX_ID" ]] || fail "berth pulled another image than docker pushed"
[[ $("$BERTH" run --rm "$DIST/docker/busybox:2" echo ran) == ran ]] || fail "the pulled image does not run"

log "4. berth-registry: docker and skopeo push and pull, berth pulls and pushes"
docker tag busybox:1.35 "$BREG/docker/busybox:3"
docker push -q "$BREG/docker/busybox:3" >/dev/null
digest=$(skopeo_digest "$BREG/docker/busybox:3")
skopeo copy -q --dest-tls-verify=false "oci:$WORK/multi:m" "docker://$BREG/multi:1"
skopeo copy -q --src-tls-verify=false "docker://$BREG/multi:1" "oci:$WORK/back:m"
"$BERTH" pull -q "$BREG/docker/busybox:3" >/dev/null
[[ $(berth_id "$BREG/docker/busybox:3") == "$BUSYBOX_ID" ]] || fail "berth pulled another image from berth-registry"
"$BERTH" image inspect -f '{{join .RepoDigests " "}}' "$BREG/docker/busybox:3" | grep -q "$digest" ||
    fail "berth's repo digest is not $digest"
DOCKER_HOST=$BERTH_HOST docker pull -q "$BREG/docker/busybox@$digest" >/dev/null ||
    fail "docker CLI through berthd cannot pull by digest"
"$BERTH" pull -q "$BREG/multi:1" >/dev/null
[[ $(berth_id "$BREG/multi:1") == "$MULTI_ID" ]] || fail "berth pulled another multi-layer image from berth-registry"
"$BERTH" tag "$DIST/multi:1" "$BREG/berth/multi:2"
"$BERTH" push "$BREG/berth/multi:2" >"$WORK/push4.out"
grep -q "Mounted from multi" "$WORK/push4.out" || fail "no cross-repository mount: $(cat "$WORK/push4.out")"
docker pull -q "$BREG/berth/multi:2" >/dev/null
[[ $(docker_id "$BREG/berth/multi:2") == "$MULTI_ID" ]] || fail "docker pulled another image from berth-registry"
[[ $(docker run --rm "$BREG/berth/multi:2" cat /data/dir/y) == y ]] || fail "docker cannot run what berth pushed"
for t in a b; do "$BERTH" tag busybox:1.35 "$BREG/tags/busybox:$t"; done
"$BERTH" push -q -a "$BREG/tags/busybox" >/dev/null
"$BERTH" rmi "$BREG/tags/busybox:a" "$BREG/tags/busybox:b" >/dev/null
DOCKER_HOST=$BERTH_HOST docker pull -q -a "$BREG/tags/busybox" >/dev/null
[[ $("$BERTH" images --format '{{.Tag}}' "$BREG/tags/busybox" | sort | xargs) == "a b" ]] ||
    fail "push -a / pull -a: $("$BERTH" images "$BREG/tags/busybox")"
[[ $("$BERTH" search --format '{{.Name}}' "$BREG/multi") == $'berth/multi\nmulti' ]] ||
    fail "berth search of berth-registry: $("$BERTH" search "$BREG/multi")"

log "5. auth: berth login to distribution behind htpasswd; docker login to berth-registry"
if "$BERTH" login -u alice -p wrong "$DIST_AUTH" >"$WORK/login.out" 2>&1; then
    fail "login with a wrong password succeeded"
fi
grep -q "login attempt to http://$DIST_AUTH/v2/ failed with status: 401 Unauthorized" "$WORK/login.out" ||
    fail "wrong login said: $(cat "$WORK/login.out")"
"$BERTH" tag busybox:1.35 "$DIST_AUTH/private/busybox:1"
if "$BERTH" push "$DIST_AUTH/private/busybox:1" >/dev/null 2>&1; then fail "push without login succeeded"; fi
echo s3cret | "$BERTH" login -u alice --password-stdin "$DIST_AUTH" | grep -q "Login Succeeded"
"$BERTH" push -q "$DIST_AUTH/private/busybox:1" >/dev/null
"$BERTH" rmi "$DIST_AUTH/private/busybox:1" >/dev/null
"$BERTH" pull -q "$DIST_AUTH/private/busybox:1" >/dev/null
"$BERTH" logout "$DIST_AUTH" | grep -q "Removing login credentials for $DIST_AUTH"
if "$BERTH" pull "$DIST_AUTH/private/busybox:1" >"$WORK/denied.out" 2>&1; then fail "pull after logout succeeded"; fi
grep -q "pull access denied" "$WORK/denied.out" || fail "pull after logout said: $(cat "$WORK/denied.out")"
if docker login -u alice -p wrong "$BREG_AUTH" >/dev/null 2>&1; then fail "docker login with a wrong password succeeded"; fi
docker login -u alice -p s3cret "$BREG_AUTH" 2>/dev/null | grep -q "Login Succeeded"
docker tag busybox:1.35 "$BREG_AUTH/secret/busybox:1"
docker push -q "$BREG_AUTH/secret/busybox:1" >/dev/null
