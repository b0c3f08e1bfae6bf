#!/usr/bin/env bash
# Image interop with real tools, through a private dockerd (Debian's docker.io, 20.10) on
# its own containerd, data root and socket:
#  1. `berth save` output loads in `docker load` with the same image ID, and
#     `skopeo inspect docker-archive:` reads it; docker's and berth's inspect agree.
#  2. docker builds a multi-layer image whose later layers delete files, replace a
#     directory (an opaque dir), and add hardlinks and symlinks; `docker save` it,
#     `berth load` it, and the file listings (path, type, mode, owner, size, link target,
#     hardlink group) of `docker export` and `berth export` of a container are identical.
#  3. An image `berth commit` made (its layer kept only unpacked) saves, loads in docker with
#     the same ID, and runs there with the container's changes.
# berth goes through a berthd of its own on a temporary data root.
# Usage: tests/interop-images.sh   (needs root, dockerd, docker, skopeo, target/debug/{berth,berthd})
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

BERTH=${BERTH:-$REPO_ROOT/target/debug/berth}
[[ -x $BERTH ]] || fail "berth binary not found at $BERTH (cargo build -p berth-cli)"
command -v dockerd >/dev/null || fail "dockerd not installed (apt-get install docker.io)"
command -v docker >/dev/null || fail "docker CLI not installed"
command -v skopeo >/dev/null || fail "skopeo not installed (apt-get install skopeo)"
WORK=$(mktemp -d /tmp/berth-img.XXXXXX)
CGROUP_PARENT=berth-interop-img-$$
BUSYBOX_ID=sha256:0ebe78266dec858d1daf51807eac28e2d90220e2f14088001a597919ab02955b

cleanup() {
    local rc=$?
    stop_berthd "$WORK" "$rc"
    stop_dockerd "$WORK" "$rc"
    remove_cgroup_dirs "$CGROUP_PARENT"
    unmount_under "$WORK"
    rm -rf "$WORK"
    if ((rc == 0)); then echo "PASS: interop-images"; else echo "FAIL: interop-images" >&2; fi
    exit "$rc"
}
trap cleanup EXIT

log "starting containerd and dockerd in $WORK"
start_dockerd "$WORK" --cgroup-parent "/$CGROUP_PARENT"
start_berthd "$WORK"

log "1. berth save -> docker load, skopeo inspect"
"$BERTH" load -q -i "$(images_dir)/busybox-1.35.oci.tar" >/dev/null
"$BERTH" save busybox:1.35 -o "$WORK/x.tar"
docker load -i "$WORK/x.tar" >/dev/null
[[ $(docker image inspect -f '{{.Id}}' busybox:1.35) == "$BUSYBOX_ID" ]] ||
    fail "docker load of berth's archive gave $(docker image inspect -f '{{.Id}}' busybox:1.35)"
skopeo inspect "docker-archive:$WORK/x.tar" >"$WORK/skopeo.json"
python3 - "$WORK/skopeo.json" <<'PY' || fail "skopeo inspect output: $(cat "$WORK/skopeo.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["Os"] == "linux" and d["Architecture"] == "amd64", d
assert len(d["Layers"]) == 1, d
PY

log "1b. docker's and berth's image inspect agree"
docker image inspect busybox:1.35 >"$WORK/docker-inspect.json"
# berthd's JSON at the API version the docker CLI asks dockerd for (DOCKER_API_VERSION).
DOCKER_HOST=$BERTH_HOST docker image inspect busybox:1.35 >"$WORK/berth-inspect.json"
python3 - "$WORK/docker-inspect.json" "$WORK/berth-inspect.json" <<'PY'
import json, sys
d, b = (json.load(open(p))[0] for p in sys.argv[1:3])
assert list(d) == list(b), f"top-level keys differ:\n docker {list(d)}\n berth  {list(b)}"
for k in ["Id", "RepoTags", "Comment", "Created", "DockerVersion", "Config", "ContainerConfig",
          "Architecture", "Os", "RootFS", "Size", "VirtualSize"]:
    assert d[k] == b[k], f"{k}: docker {d[k]!r} berth {b[k]!r}"
assert list(d["Config"]) == list(b["Config"]), "Config key order differs"
PY

log "2. docker build a multi-layer image with whiteouts, an opaque dir, links"
mkdir -p "$WORK/ctx"
cat >"$WORK/ctx/Dockerfile" <<'DOCKERFILE'
FROM busybox:1.35
RUN mkdir -p /d/sub /keep /gone-dir && echo a >/d/old && echo b >/d/sub/x && \
    echo keep >/keep/f && echo gone >/gone && touch /gone-dir/x && \
    ln -s /keep/f /keep/abs && ln -s ../keep/f /relink && ln /keep/f /keep/hard && \
    chmod 0640 /keep/f && chown 1000:1001 /keep/f && mkfifo /fifo && chmod 1777 /d
RUN rm /gone /bin/vi && rm -rf /gone-dir /d && mkdir /d && touch /d/new && \
    ln /d/new /d/new-hard && ln /keep/f /keep/hard2 && ln -s /nowhere /dangling
RUN echo changed >/keep/f2 && chmod 4755 /bin/busybox && rm /keep/abs && \
    ln -s /d/new /keep/abs && mkdir -p /d/sub2 && echo y >/d/sub2/y
DOCKERFILE
DOCKER_BUILDKIT=0 docker build -q --network none -t berth-interop:multi "$WORK/ctx" >/dev/null
docker save berth-interop:multi -o "$WORK/multi.tar"
"$BERTH" load -i "$WORK/multi.tar" >/dev/null
[[ $("$BERTH" image inspect -f '{{.Id}}' berth-interop:multi) == \
   $(docker image inspect -f '{{.Id}}' berth-interop:multi) ]] || fail "image IDs differ"
fmt='{{.CreatedBy}} {{.Size}}'
[[ $("$BERTH" history --no-trunc -H=false --format "$fmt" berth-interop:multi) == \
   $(docker history --no-trunc -H=false --format "$fmt" berth-interop:multi) ]] ||
    fail "history differs: $("$BERTH" history berth-interop:multi) vs $(docker history berth-interop:multi)"
cid=$(docker create berth-interop:multi)
docker export "$cid" -o "$WORK/docker-fs.tar"
bcid=$("$BERTH" create berth-interop:multi)
"$BERTH" export "$bcid" -o "$WORK/berth-fs.tar"

cat >"$WORK/listing.py" <<'PY'
"""Lists a file system tar: path, type, mode, uid, gid, size, link target, hardlink group.
Skips what docker's init layer adds to a container (not part of the image)."""
import sys, tarfile
INIT = {".dockerenv", "dev", "proc", "sys", "etc/hostname", "etc/hosts", "etc/mtab",
        "etc/resolv.conf"}
def skip(p):
    return p in INIT or p.split("/")[0] in ("dev", "proc", "sys")
entries, parent = {}, {}
def clean(p):
    p = p[2:] if p.startswith("./") else p
    return p.strip("/")
def find(p):
    while parent.get(p, p) != p:
        p = parent[p]
    return p
with tarfile.open(sys.argv[1]) as t:
    for m in t.getmembers():
        p = clean(m.name)
        if not p or skip(p):
            continue
        if m.islnk():
            target = clean(m.linkname)
            parent[find(p)] = find(target)
            m = entries[target][1]
        entries[p] = (p, m)
groups = {}
for p in entries:
    groups.setdefault(find(p), []).append(p)
for p, m in sorted(entries.values(), key=lambda e: e[0]):
    kind = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
            tarfile.SYMTYPE: "symlink", tarfile.FIFOTYPE: "fifo", tarfile.CHRTYPE: "char",
            tarfile.BLKTYPE: "block"}.get(m.type, m.type)
    group = sorted(groups[find(p)])
    links = ",".join(group) if len(group) > 1 else ""
    size = m.size if kind == "file" else 0
    target = m.linkname if kind == "symlink" else ""
    print(f"{p} {kind} {m.mode & 0o7777:o} {m.uid}:{m.gid} {size} {target} {links}")
PY
python3 "$WORK/listing.py" "$WORK/docker-fs.tar" >"$WORK/docker.list"
python3 "$WORK/listing.py" "$WORK/berth-fs.tar" >"$WORK/berth.list"
if ! diff -u "$WORK/docker.list" "$WORK/berth.list" >"$WORK/diff.txt"; then
    head -n 60 "$WORK/diff.txt" >&2
    fail "berth's files differ from docker's"
fi
# `ln /keep/f /keep/hard2` in a later layer copies /keep/f up first, so /keep/hard (in the
# lower layer) is no longer the same file: docker and berth agree on that.
for want in '^d/new file ' '^keep/abs symlink 777 0:0 0 /d/new ' '^keep/f file 640 1000:1001 5  keep/f,keep/hard2$' \
    '^bin/busybox file 4755 ' '^fifo fifo '; do
    grep -Eq "$want" "$WORK/berth.list" || fail "listing lacks /$want/"
done
for gone in '^gone ' '^gone-dir' '^d/old ' '^d/sub/' '^bin/vi '; do
    if grep -Eq "$gone" "$WORK/berth.list"; then fail "deleted path present: /$gone/"; fi
done
log "listings identical ($(wc -l <"$WORK/berth.list") entries)"

log "3. berth commit -> berth save -> docker load: same ID, the changes run in docker"
"$BERTH" run --name committed busybox:1.35 sh -c 'echo made > /made; rm /bin/vi; mkdir -p /d/e' >/dev/null
"$BERTH" commit committed berth-interop:committed >/dev/null
"$BERTH" save berth-interop:committed -o "$WORK/committed.tar"
docker load -i "$WORK/committed.tar" >/dev/null
[[ $(docker image inspect -f '{{.Id}}' berth-interop:committed) == \
   $("$BERTH" image inspect -f '{{.Id}}' berth-interop:committed) ]] || fail "committed image IDs differ"
out=$(docker run --rm --network none berth-interop:committed sh -c 'cat /made; test -e /bin/vi || echo no-vi; test -d /d/e && echo dir')
[[ $out == $'made\nno-vi\ndir' ]] || fail "docker ran the committed image and saw: $out"
log "committed image identical in docker"
