#!/usr/bin/env python3
"""Registry benchmark: pull and push of a generated ~1 GB, 8-layer image over loopback
against Debian's docker-registry (distribution 2.8), in one run:

- pull: `berth pull` (the CLI, through a berthd on its own data root) versus `docker pull`
  (a private dockerd 20.10) versus `skopeo copy docker://... dir:...` (blobs to a
  directory, no unpacking);
- push: `berth push` versus `docker push` of the same image (same image ID); and, as a
  third row outside the ratio, `berth push` of the image loaded from an archive with plain
  (uncompressed) layer tars, as `docker save` writes them.

The image is generated once per run: 8 layers of 4 MiB files, about 3/8 random bytes and
5/8 log-like text lines carrying random hex IDs, so gzip does real work (about 2:1), stored
as a `docker save` archive with gzip layers. Setup (untimed): berth loads it and pushes
it to the pull registry, which then serves the same gzip blobs to every puller.

Every round runs each tool once, the order rotating from round to round. Before each
timed operation: the image is removed from the engine that is about to pull (with its
layers and blobs; skopeo's directory is deleted), and, unless --no-drop-caches,
`sync; echo 3 > /proc/sys/vm/drop_caches`. Pushes go to a second registry that is
restarted empty (a fresh storage directory, same port) before every push, and to a fresh
repository name each round, so nothing is skipped by a HEAD check or mounted from another
repository; before each push the engine removes the image and loads the archive again
(untimed), so nothing it computed in an earlier round (a compressed blob) is reused.

Results go to docs/bench-registry.{md,png,json}. Run it through bench/registry.sh, which
builds berth and starts the private dockerd.
"""

import argparse
import datetime
import gzip
import hashlib
import io
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

from benchlib import Berthd, common_args, timed, version

REPO = Path(__file__).resolve().parent.parent
LAYERS = 8
FILE_MIB = 4
REF = "bench/big"
# The extra push row: berth pushing the image loaded from the plain-layer archive.
PLAIN = "berth, plain layers"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--size-mb", type=int, default=1024, help="uncompressed image size (MiB), over 8 layers")
    p.add_argument("--no-drop-caches", action="store_true", help="do not drop the page cache before each timed step")
    common_args(p)
    return p.parse_args()


# ---- the image ------------------------------------------------------------------------

def text_file(size):
    """`size` bytes of log-like lines, each with a random 32-hex-digit request ID."""
    ids = os.urandom(size // 80 * 16 + 16).hex().encode()
    out, n = [], 0
    for i in range(0, len(ids) - 32, 32):
        line = b"2026-11-22T10:00:00Z INFO http: served request id=" + ids[i:i + 32] + b" status=200\n"
        out.append(line)
        n += len(line)
        if n >= size:
            break
    return b"".join(out)[:size]


def make_layer(args):
    """Layer `index` with `files` files of FILE_MIB MiB: (diff ID, gzip bytes, tar bytes)."""
    index, files = args
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo(f"data{index}")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1700000000
        tar.addfile(d)
        for f in range(files):
            size = FILE_MIB << 20
            data = os.urandom(size) if f % 8 < 3 else text_file(size)
            info = tarfile.TarInfo(f"data{index}/f{f:03d}.{'bin' if f % 8 < 3 else 'log'}")
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    return diff_id, gzip.compress(tar_bytes, compresslevel=6, mtime=0), tar_bytes


def add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
    tar.addfile(info, io.BytesIO(data))


def make_archives(gz_path, plain_path, size_mb):
    """Writes the docker-save archive twice, with gzip layers and with plain layer tars
    (as `docker save` writes them); returns the image ID and the layers' sizes."""
    files = max(1, size_mb // LAYERS // FILE_MIB)
    with multiprocessing.Pool(min(2, os.cpu_count() or 1)) as pool:
        layers = pool.map(make_layer, [(i, files) for i in range(LAYERS)])
    config = {
        "architecture": "amd64", "os": "linux", "created": "2026-11-22T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [d for d, _, _ in layers]},
        "history": [{"created": "2026-11-22T00:00:00Z", "created_by": f"bench layer {i}"} for i in range(LAYERS)],
    }
    cfg = json.dumps(config, separators=(",", ":")).encode()
    image_id = hashlib.sha256(cfg).hexdigest()
    names = [f"{d.removeprefix('sha256:')}/layer.tar" for d, _, _ in layers]
    manifest = [{"Config": f"{image_id}.json", "RepoTags": [f"{REF}:1"], "Layers": names}]
    for path, which in ((gz_path, 1), (plain_path, 2)):
        with tarfile.open(path, "w") as tar:
            add_bytes(tar, f"{image_id}.json", cfg)
            for name, layer in zip(names, layers):
                add_bytes(tar, name, layer[which])
            add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    return "sha256:" + image_id, [len(gz) for _, gz, _ in layers], [len(t) for _, _, t in layers]


# ---- the processes ----------------------------------------------------------------------

class Distribution:
    """docker-registry (distribution 2.8) on 127.0.0.1:port, storage under `root`."""

    def __init__(self, work, name, port):
        self.work, self.name, self.port = work, name, port
        self.root = work / name
        self.addr = f"127.0.0.1:{port}"
        self.proc = None

    def start(self):
        conf = self.work / f"{self.name}.yml"
        conf.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {self.root}\n"
                        f"http:\n  addr: {self.addr}\nlog:\n  level: warn\n")
        self.log = open(self.work / f"{self.name}.log", "ab")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(conf)], stdout=self.log, stderr=self.log)
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"distribution {self.name} did not start; see {self.name}.log")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.log.close()
            self.proc = None

    def restart_empty(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        self.start()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quiet(argv, env=None, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def drop_caches(args):
    if not args.no_drop_caches:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


# ---- the measurements -------------------------------------------------------------------

class Bench:
    def __init__(self, args, work, b, docker_env, image_id, archives, pull_reg, push_reg):
        self.args, self.work, self.b, self.denv = args, work, b, docker_env
        self.image_id, self.archive, self.plain_archive = image_id, *archives
        self.pull_reg, self.push_reg = pull_reg, push_reg
        self.pushed_bytes = {}

    def berth_clean(self):
        quiet(self.b.argv("rmi", "-f", self.image_id), check=False)
        left = quiet(self.b.argv("images", "-q")).stdout.split()
        assert not left, f"berth still has images: {left}"

    def docker_clean(self):
        quiet(["docker", "rmi", "-f", self.image_id], env=self.denv, check=False)
        left = quiet(["docker", "images", "-q"], env=self.denv).stdout.split()
        assert not left, f"docker still has images: {left}"

    def pull(self, tool, rnd):
        src = f"{self.pull_reg.addr}/{REF}:1"
        if tool == "berth":
            self.berth_clean()
            drop_caches(self.args)
            t = timed(self.b.argv("pull", "-q", src))
            got = quiet(self.b.argv("image", "inspect", "-f", "{{.Id}}", src)).stdout.strip()
            self.berth_clean()
        elif tool == "docker":
            self.docker_clean()
            drop_caches(self.args)
            t = timed(["docker", "pull", "-q", src], self.denv)
            got = quiet(["docker", "image", "inspect", "-f", "{{.Id}}", src], env=self.denv).stdout.strip()
            self.docker_clean()
        else:
            dest = self.work / f"skopeo-{rnd}"
            drop_caches(self.args)
            t = timed(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{src}", f"dir:{dest}"])
            got = "sha256:" + hashlib.sha256((dest / self.image_id.removeprefix("sha256:")).read_bytes()).hexdigest()
            shutil.rmtree(dest)
        if got != self.image_id:
            raise RuntimeError(f"{tool} pulled {got}, not {self.image_id}")
        return t

    def push(self, tool, rnd):
        dest = f"{self.push_reg.addr}/bench/{tool.replace(', ', '-').replace(' ', '-')}-round{rnd}:1"
        if tool.startswith("berth"):
            self.berth_clean()
            archive = self.plain_archive if tool == PLAIN else self.archive
            quiet(self.b.argv("load", "-q", "-i", str(archive)))
            quiet(self.b.argv("tag", self.image_id, dest))
            argv, env = self.b.argv("push", "-q", dest), None
        else:
            self.docker_clean()
            quiet(["docker", "load", "-q", "-i", str(self.archive)], env=self.denv)
            quiet(["docker", "tag", self.image_id, dest], env=self.denv)
            argv, env = ["docker", "push", "-q", dest], self.denv
        self.push_reg.restart_empty()
        drop_caches(self.args)
        t = timed(argv, env)
        doc = json.loads(urllib.request.urlopen(self.manifest_request(dest)).read())
        if doc["config"]["digest"] != self.image_id:
            raise RuntimeError(f"{tool} pushed config {doc['config']['digest']}, not {self.image_id}")
        self.pushed_bytes[tool] = sum(layer["size"] for layer in doc["layers"])
        (self.berth_clean if tool.startswith("berth") else self.docker_clean)()
        return t

    def manifest_request(self, dest):
        host, _, rest = dest.partition("/")
        name, _, tag = rest.rpartition(":")
        accept = ", ".join(["application/vnd.docker.distribution.manifest.v2+json",
                            "application/vnd.oci.image.manifest.v1+json"])
        return urllib.request.Request(f"http://{host}/v2/{name}/manifests/{tag}", headers={"Accept": accept})


def rotate(names, i):
    k = i % len(names)
    return names[k:] + names[:k]


def measure(bench, rounds):
    pulls = {n: [] for n in ("berth", "docker", "skopeo")}
    pushes = {n: [] for n in ("berth", "docker", PLAIN)}
    for i in range(rounds):
        for n in rotate(list(pulls), i):
            pulls[n].append(bench.pull(n, i))
            print(f"round {i + 1}: {n} pull {pulls[n][-1]:.2f} s", flush=True)
        for n in rotate(list(pushes), i):
            pushes[n].append(bench.push(n, i))
            print(f"round {i + 1}: {n} push {pushes[n][-1]:.2f} s", flush=True)
    return pulls, pushes


# ---- the report -------------------------------------------------------------------------

def table(title, samples, ref, mb, goal):
    """A markdown table of `samples` (seconds); `mb`: the MB each tool moved."""
    med = {n: statistics.median(v) for n, v in samples.items()}
    lines = [f"## {title}", "", "| tool | median (s) | min (s) | max (s) | MB moved | MB/s (median) | docker / this |",
             "|---|---|---|---|---|---|---|"]
    for n, v in samples.items():
        lines.append(f"| {n} | {med[n]:.2f} | {min(v):.2f} | {max(v):.2f} | {mb[n]:.0f} | {mb[n] / med[n]:.0f} "
                     f"| {med[ref] / med[n]:.2f}x |")
    ratio = med[ref] / med["berth"]
    lines += ["", f"docker / berth = **{ratio:.2f}x** (the `berth` row); goal ≥ {goal}x: "
              f"**{'met' if ratio >= goal else 'not met'}**.", ""]
    return lines, ratio


def report(args, meta, pulls, pushes, out):
    mb = meta["compressed_bytes"] / 1e6
    head = [
        "# Registry benchmark: pull and push of a ~1 GB, 8-layer image",
        "",
        f"Generated by `bench/registry.sh` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}; load average at the start: {meta['load']}. "
        "Registry: Debian's docker-registry (distribution 2.8) on 127.0.0.1 (plain HTTP, filesystem storage "
        "on the same disk). Peers: Debian's dockerd 20.10 (private instance, docker CLI "
        f"{meta['docker_cli']}), skopeo.",
        "",
        f"Image: {LAYERS} layers, {meta['tar_bytes'] / 1e6:.0f} MB of layer tars, {mb:.0f} MB gzipped "
        "(4 MiB files, 3/8 random bytes, 5/8 log-like text lines with random hex IDs), image ID "
        f"`{meta['image_id'][:19]}`. MB moved: the layer bytes a tool downloaded (the gzip blobs) or uploaded "
        "(as the registry's manifest lists them); MB/s: that over the median time.",
        "",
        f"Method: {args.rounds} rounds, each tool once per round, the order rotating from round to round. "
        "Before every timed step the engine that is about to act has no image (removed with its layers "
        "and blobs; skopeo's directory deleted) and "
        + ("the page cache is dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`)." if not args.no_drop_caches
           else "the page cache is left as it is (--no-drop-caches).")
        + " Pull: `berth pull -q` (CLI through berthd), `docker pull -q`, `skopeo copy docker://… dir:…` "
        "(blobs to a directory, no unpacking), all from the same repository; the pulled image ID is checked. "
        "Push: the engine loads the archive (untimed), then `berth push -q` / `docker push -q` to a second "
        "registry restarted empty before every push, under a fresh repository name each round, so no blob "
        "is skipped by a HEAD check or mounted from another repository; the pushed manifest's config "
        "digest is checked.",
        "",
        "What differs in the push: berth keeps a loaded or pulled layer as the blob it got (here the gzip "
        "layers of the archive) and uploads those bytes as they are; docker keeps layers unpacked and "
        "gzips each one again while it pushes. berth never compresses on push: loaded from an archive with "
        "plain layer tars (what `docker save` writes; the row \"berth, plain layers\"), the image goes to the "
        "registry with uncompressed layers (the MB moved column).",
        "",
    ]
    pull_lines, pull_ratio = table("Pull", pulls, "docker", {n: mb for n in pulls}, 2)
    push_mb = {n: v / 1e6 for n, v in meta["pushed_bytes"].items()}
    push_lines, push_ratio = table("Push", pushes, "docker", push_mb, 2)
    tail = ["![results](bench-registry.png)", "",
            "Versions: " + ", ".join(f"{k}: {v}" for k, v in meta["versions"].items()), ""]
    lines = head + pull_lines + push_lines + tail
    (out / "bench-registry.md").write_text("\n".join(lines))
    (out / "bench-registry.json").write_text(json.dumps(
        {"meta": meta, "pull_s": pulls, "push_s": pushes,
         "ratio_docker_over_berth": {"pull": pull_ratio, "push": push_ratio}}, indent=1))
    print("\n".join(lines))


def plot(pulls, pushes, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (title, s) in zip(axes, (("pull ~1 GB, 8 layers", pulls), ("push ~1 GB, 8 layers", pushes))):
        names = list(s)
        ax.bar([n.replace(", ", "\n") for n in names], [statistics.median(s[n]) for n in names],
               color=["tab:green", "tab:blue", "tab:gray"][:len(names)])
        for x, n in enumerate(names):
            ax.plot([x] * len(s[n]), s[n], "k.", markersize=5)
        ax.set_ylabel("seconds (median bar, dots: rounds; lower is better)")
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out / "bench-registry.png", dpi=110)


def main():
    args = parse_args()
    work = Path(args.work)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    docker_env = dict(os.environ, DOCKER_HOST=args.docker_host)
    load = Path("/proc/loadavg").read_text().split()[:3]
    archives = (work / "big.tar", work / "big-plain.tar")
    t0 = time.perf_counter()
    image_id, gz_sizes, tar_sizes = make_archives(*archives, args.size_mb)
    print(f"image {image_id[:19]}: {sum(tar_sizes) / 1e6:.0f} MB tar, {sum(gz_sizes) / 1e6:.0f} MB gzip, "
          f"generated in {time.perf_counter() - t0:.0f} s", flush=True)
    meta = {"load": " ".join(load), "image_id": image_id, "layers": LAYERS, "compressed_bytes": sum(gz_sizes),
            "tar_bytes": sum(tar_sizes), "layer_gzip_bytes": gz_sizes, "rounds": args.rounds,
            "drop_caches": not args.no_drop_caches, "docker_cli": version(["docker", "--version"]),
            "versions": {"berth": version([args.berth, "--version"]), "dockerd": version(["dockerd", "--version"]),
                         "skopeo": version(["skopeo", "--version"]),
                         "distribution": version(["docker-registry", "--version"])}}
    pull_reg = Distribution(work, "pull-registry", free_port()).start()
    push_reg = Distribution(work, "push-registry", free_port()).start()
    try:
        with Berthd(args, work) as b:
            b.berth("load", "-q", "-i", str(archives[0]))
            b.berth("tag", image_id, f"{pull_reg.addr}/{REF}:1")
            b.berth("push", "-q", f"{pull_reg.addr}/{REF}:1")
            b.berth("rmi", "-f", image_id)
            bench = Bench(args, work, b, docker_env, image_id, archives, pull_reg, push_reg)
            pulls, pushes = measure(bench, args.rounds)
            meta["pushed_bytes"] = bench.pushed_bytes
    finally:
        pull_reg.stop()
        push_reg.stop()
    report(args, meta, pulls, pushes, out)
    plot(pulls, pushes, out)


if __name__ == "__main__":
    main()
