#!/usr/bin/env bash
# The same Dockerfile and context built by real docker (a private dockerd 20.10, classic
# builder) and by berthd, with the docker CLI against each: the images' configs (Env, Cmd,
# Entrypoint, WorkingDir, User, ExposedPorts, Labels, Volumes, Healthcheck, StopSignal,
# Shell, OnBuild) and filesystems (every path's type, mode, owner, size, link target and
# content; not times) must match.
# Usage: tests/interop-build.sh   (berthd from target/debug, or $BERTHD)
set -euo pipefail
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

command -v dockerd >/dev/null || fail "dockerd not installed (apt-get install docker.io)"
command -v docker >/dev/null || fail "docker CLI not installed"
WORK=$(mktemp -d /tmp/berth-bld.XXXXXX)

cleanup() {
    local rc=$?
    stop_berthd "$WORK" "$rc"
    stop_dockerd "$WORK" "$rc"
    unmount_under "$WORK"
    rm -rf "$WORK"
    if ((rc == 0)); then echo "PASS: interop-build"; else echo "FAIL: interop-build" >&2; fi
    exit "$rc"
}
trap cleanup EXIT

log "starting dockerd and berthd in $WORK"
start_dockerd "$WORK"
DOCKERD_HOST=$DOCKER_HOST
start_berthd "$WORK"
BUSYBOX=$(images_dir)/busybox-1.35.docker.tar
docker -H "$DOCKERD_HOST" load -q -i "$BUSYBOX" >/dev/null
docker -H "$BERTH_HOST" load -q -i "$BUSYBOX" >/dev/null

CTX=$WORK/ctx
mkdir -p "$CTX/files/sub" "$CTX/ignored"
echo a >"$CTX/files/a.txt"
echo b >"$CTX/files/sub/b.txt"
chmod 0755 "$CTX/files/a.txt"
ln -s a.txt "$CTX/files/link"
echo secret >"$CTX/ignored/s"
echo one >"$CTX/one.txt"
printf 'ignored\n*.log\n' >"$CTX/.dockerignore"
echo log >"$CTX/x.log"
mkdir -p "$WORK/bundle"
echo inside >"$WORK/bundle/in.txt"
tar -C "$WORK/bundle" -czf "$CTX/bundle.tar.gz" in.txt
cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox:1.35
ARG GREETING=hello
ENV APP=/app WHO=world
ENV MSG="$GREETING $WHO"
ENV PATH=/app/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.example.name="compare" version=1
RUN mkdir -p /data/made && echo "$MSG" > /data/made/msg && echo app:x:1234:1234::/:/bin/sh >> /etc/passwd && echo app:x:1234: >> /etc/group
COPY files/ $APP/files/
COPY --chown=app:app one.txt /owned/
COPY --chown=app:app files/ /owned-dir/
ADD bundle.tar.gz /opt/bundle/
COPY . /ctx/
WORKDIR $APP/work
RUN echo in-workdir > here.txt
EXPOSE 8080 53/udp
VOLUME ["/data"]
USER app
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD true
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo child
ENTRYPOINT ["/bin/echo"]
CMD ["built"]
EOF

build() {
    DOCKER_BUILDKIT=0 timeout 120 docker -H "$1" build -q --network none -t cmp:1 "$CTX" 2>"$WORK/build.err" ||
        fail "build against $1 failed: $(cat "$WORK/build.err")"
}
log "building with dockerd (classic builder)"
build "$DOCKERD_HOST" >/dev/null
log "building with berthd"
build "$BERTH_HOST" >/dev/null

describe() {
    local host=$1 out=$2 cid
    docker -H "$host" image inspect -f '{{json .Config}}' cmp:1 >"$out.config"
    cid=$(docker -H "$host" create cmp:1)
    docker -H "$host" export "$cid" >"$out.tar"
    docker -H "$host" rm "$cid" >/dev/null
}
describe "$DOCKERD_HOST" "$WORK/docker"
describe "$BERTH_HOST" "$WORK/berth"

log "comparing configs and filesystems"
python3 - "$WORK/docker" "$WORK/berth" <<'EOF'
import hashlib, json, sys, tarfile

FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Labels",
          "Volumes", "Healthcheck", "StopSignal", "Shell", "OnBuild"]
# Mount points and files the engine writes into every container's root.
SKIP = (".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab",
        "dev", "proc", "sys")

def config(prefix):
    c = json.load(open(prefix + ".config"))
    return {k: c.get(k) or None for k in FIELDS}

def tree(prefix):
    out = {}
    with tarfile.open(prefix + ".tar") as t:
        for m in t:
            name = m.name.removeprefix("./").rstrip("/")
            if not name or name.split("/")[0] in SKIP or name in SKIP:
                continue
            data = t.extractfile(m).read() if m.isfile() else b""
            out[name] = (m.type, oct(m.mode), m.uid, m.gid, m.size, m.linkname,
                         hashlib.sha256(data).hexdigest()[:16])
    return out

bad = False
a, b = config(sys.argv[1]), config(sys.argv[2])
for k in FIELDS:
    if a[k] != b[k]:
        print(f"config {k}: docker {a[k]!r} berth {b[k]!r}")
        bad = True
ta, tb = tree(sys.argv[1]), tree(sys.argv[2])
for name in sorted(set(ta) | set(tb)):
    if ta.get(name) != tb.get(name):
        print(f"path {name}: docker {ta.get(name)} berth {tb.get(name)}")
        bad = True
print(f"{len(ta)} paths compared")
sys.exit(1 if bad else 0)
EOF
