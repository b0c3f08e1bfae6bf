#!/usr/bin/env python3
"""Storage benchmarks, berth against real docker in the same run:

- load: one generated `docker save` archive (uncompressed layers, as docker writes them:
  several layers of many small files and one of a few large files, about --size-mb in
  all), `berth load -i` (through a berthd) versus `docker load -i`;
- commit: the same files (about --size-mb) written into a busybox container's writable
  layer, `berth commit` versus `docker commit`;
- root: preparing a container root (writable snapshot + overlay mount) over a generated
  6-layer image, berth's engine path (crates/image/examples/rootfs_bench.rs), with the bare
  mount(2) of the same overlay for reference.

Every round of every tool runs on a fresh ext4 file system (a loop device made for it, and
a fresh dockerd on it), so no round inherits another's deleted inodes or dirty pages.
Results go to docs/bench-images.{md,png,json}. Run it through bench/images.sh, which
builds berth and starts the containerd that dockerd uses.
"""

import argparse
import datetime
import hashlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--root-rounds", type=int, default=300)
    p.add_argument("--size-mb", type=int, default=1024, help="approximate archive size")
    p.add_argument("--berth", default=str(REPO / "target/x86_64-unknown-linux-gnu/release/berth"))
    p.add_argument("--berthd", default=str(REPO / "target/release/berthd"))
    p.add_argument("--rootfs-bench", default=str(REPO / "target/release/examples/rootfs_bench"))
    p.add_argument("--work", required=True)
    p.add_argument("--containerd", required=True, help="containerd socket for dockerd")
    p.add_argument("--images", required=True, help="directory with busybox-1.35.docker.tar")
    p.add_argument("--out", default=str(REPO / "docs"))
    return p.parse_args()


def add_bytes(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 1700000000
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar, name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = 1700000000
    tar.addfile(info)


def small_files_layer(path, index, total_bytes, rng):
    """A layer of files of 1-32 KiB in nested directories."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        written, n = 0, 0
        while written < total_bytes:
            d = f"data{index}/d{n // 200:04d}"
            if n % 200 == 0:
                if n == 0:
                    add_dir(tar, f"data{index}")
                add_dir(tar, d)
            size = 1024 + (rng.randrange(31 * 1024))
            add_bytes(tar, f"{d}/f{n:06d}.bin", rng.randbytes(size))
            written += size
            n += 1
    return n


def large_files_layer(path, total_bytes, rng, count=4):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        add_dir(tar, "big")
        for i in range(count):
            add_bytes(tar, f"big/blob{i}.bin", rng.randbytes(total_bytes // count))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def make_archive(work, size_mb):
    """Writes work/image.tar in docker save form; returns (path, file count, layer count)."""
    import random

    rng = random.Random(42)
    layers_dir = work / "layers"
    layers_dir.mkdir(parents=True, exist_ok=True)
    total = size_mb * 1024 * 1024
    small_total = total * 2 // 5
    paths, files = [], 0
    for i in range(4):
        p = layers_dir / f"small{i}.tar"
        files += small_files_layer(p, i, small_total // 4, rng)
        paths.append(p)
    big = layers_dir / "big.tar"
    large_files_layer(big, total - small_total, rng)
    paths.append(big)
    diff_ids = [sha256_file(p) for p in paths]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/bin:/bin"]},
        "created": "2026-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in diff_ids]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(paths))],
    }
    config_bytes = json.dumps(config).encode()
    config_id = hashlib.sha256(config_bytes).hexdigest()
    out = work / "image.tar"
    with tarfile.open(out, "w") as tar:
        add_bytes(tar, f"{config_id}.json", config_bytes)
        for d, p in zip(diff_ids, paths):
            add_dir(tar, d)
            tar.add(p, arcname=f"{d}/layer.tar")
        manifest = [{"Config": f"{config_id}.json", "RepoTags": ["bench/image:1"], "Layers": [f"{d}/layer.tar" for d in diff_ids]}]
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    shutil.rmtree(layers_dir)
    return out, files, len(paths)


def time_cmd(argv, env=None):
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def run(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


class FreshFs:
    """A new ext4 file system on a loop device, mounted at `mnt` for one round."""

    def __init__(self, work, name):
        self.img = work / "fs.img"
        self.mnt = work / name

    def __enter__(self):
        self.mnt.mkdir(parents=True, exist_ok=True)
        self.img.unlink(missing_ok=True)
        run(["truncate", "-s", "16G", str(self.img)])
        run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", str(self.img)])
        run(["mount", "-o", "loop", str(self.img), str(self.mnt)])
        run(["sync"])
        return self.mnt

    def __exit__(self, *exc):
        subprocess.run(["umount", "-R", str(self.mnt)], stderr=subprocess.DEVNULL)
        subprocess.run(["umount", "-l", str(self.mnt)], stderr=subprocess.DEVNULL)
        self.img.unlink(missing_ok=True)


class Dockerd:
    """A private dockerd with its data root on `root` (a fresh file system)."""

    def __init__(self, work, root, containerd):
        self.work, self.root, self.containerd = work, root, containerd
        sock = work / "docker.sock"
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", DOCKER_API_VERSION="1.41", DOCKER_CONFIG=str(work / "cli"))

    def __enter__(self):
        (self.work / "daemon.json").write_text("{}")
        argv = ["dockerd", "--config-file", str(self.work / "daemon.json"), "--data-root", str(self.root / "data"),
                "--exec-root", str(self.work / "dexec"), "-H", self.env["DOCKER_HOST"], "--pidfile", str(self.work / "dockerd.pid"),
                "--containerd", self.containerd, "--iptables=false", "--ip6tables=false", "--ip-forward=false",
                "--ip-masq=false", "--bridge=none"]
        self.log = open(self.work / "dockerd.log", "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        for _ in range(300):
            if subprocess.run(["docker", "version"], env=self.env, capture_output=True).returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError("dockerd did not start; see dockerd.log")

    def docker(self, *args, **kw):
        return subprocess.run(["docker", *args], env=self.env, check=True, **kw)

    def time(self, *args):
        return time_cmd(["docker", *args], env=self.env)

    def __exit__(self, *exc):
        subprocess.run(["docker", "rm", "-f", "bench"], env=self.env, capture_output=True)
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def extract_changes(archive, dest):
    """The files of the generated archive's layers, as one tree (what a commit captures)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as outer:
        for m in outer.getmembers():
            if m.name.endswith("layer.tar"):
                with tarfile.open(fileobj=outer.extractfile(m)) as layer:
                    layer.extractall(dest, filter="fully_trusted")


def copy_tree(src, dst):
    run(["cp", "-a", f"{src}/.", str(dst)])
    run(["sync"])


class Berthd:
    """A berthd with its data root on `root` (a fresh file system); `cli` is berth's argv."""

    def __init__(self, args, work, root):
        self.args, self.work, self.root = args, work, root
        self.sock = work / "berth.sock"
        self.cli = [args.berth, "-H", f"unix://{self.sock}"]

    def __enter__(self):
        (self.work / "berthd.json").write_text("{}")
        self.log = open(self.work / "berthd.log", "ab")
        self.proc = subprocess.Popen([self.args.berthd, "--data-root", str(self.root), "--exec-root",
                                      str(self.work / "berth-exec"), "--config-file", str(self.work / "berthd.json"),
                                      "-H", f"unix://{self.sock}"], stdout=self.log, stderr=self.log)
        for _ in range(200):
            if self.sock.exists() and subprocess.run(self.cli + ["version"], capture_output=True).returncode == 0:
                return self
            time.sleep(0.05)
        raise RuntimeError("berthd did not start; see berthd.log")

    def __exit__(self, *exc):
        ids = subprocess.run(self.cli + ["ps", "-aq"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(self.cli + ["rm", "-f", *ids], capture_output=True)
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def berth_load(args, work, archive):
    with FreshFs(work, "fs") as mnt, Berthd(args, work, mnt / "berth") as b:
        return time_cmd(b.cli + ["load", "-i", str(archive)])


def docker_load(args, work, archive):
    with FreshFs(work, "fs") as mnt, Dockerd(work, mnt, args.containerd) as d:
        return d.time("load", "-i", str(archive))


def berth_commit(args, work, changes):
    with FreshFs(work, "fs") as mnt, Berthd(args, work, mnt / "berth") as d:
        b = d.cli
        run(b + ["load", "-i", str(Path(args.images) / "busybox-1.35.docker.tar")], stdout=subprocess.DEVNULL)
        cid = run(b + ["create", "--name", "bench", "busybox:1.35", "true"], capture_output=True, text=True).stdout.strip()
        upper = mnt / "berth/snapshots/overlay/snapshots" / cid / "fs"
        copy_tree(changes, upper)
        t = time_cmd(b + ["commit", "bench", "bench/commit:1"])
        run(b + ["rm", "bench"], stdout=subprocess.DEVNULL)
        return t


def docker_commit(args, work, changes):
    with FreshFs(work, "fs") as mnt, Dockerd(work, mnt, args.containerd) as d:
        d.docker("load", "-i", str(Path(args.images) / "busybox-1.35.docker.tar"), stdout=subprocess.DEVNULL)
        d.docker("create", "--name", "bench", "--network", "none", "busybox:1.35", "true", stdout=subprocess.DEVNULL)
        upper = d.docker("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "bench", capture_output=True, text=True).stdout.strip()
        copy_tree(changes, upper)
        return d.time("commit", "bench", "bench/commit:1")


def six_layer_archive(work):
    """A small image of six layers of small files, for the root preparation benchmark."""
    import random

    rng = random.Random(6)
    d = work / "six"
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(6):
        p = d / f"l{i}.tar"
        small_files_layer(p, i, 2 << 20, rng)
        paths.append(p)
    diff_ids = [sha256_file(p) for p in paths]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                      "rootfs": {"type": "layers", "diff_ids": [f"sha256:{x}" for x in diff_ids]}}).encode()
    cid = hashlib.sha256(cfg).hexdigest()
    out = d / "six.tar"
    with tarfile.open(out, "w") as tar:
        add_bytes(tar, f"{cid}.json", cfg)
        for x, p in zip(diff_ids, paths):
            tar.add(p, arcname=f"{x}/layer.tar")
        add_bytes(tar, "manifest.json", json.dumps([{"Config": f"{cid}.json", "RepoTags": ["bench/six:1"], "Layers": [f"{x}/layer.tar" for x in diff_ids]}]).encode())
    return out


def root_prep(args, work):
    archive = six_layer_archive(work)
    with FreshFs(work, "fs") as mnt:
        root = mnt / "berth"
        with Berthd(args, work, root) as b:
            run(b.cli + ["load", "-i", str(archive)], stdout=subprocess.DEVNULL)
        out = run([args.rootfs_bench, str(root), "bench/six:1", str(args.root_rounds)], capture_output=True, text=True).stdout
    return json.loads(out)


def version(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def plot(res, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, key, title in ((axes[0], "load", "load ~1 GB image"), (axes[1], "commit", "commit ~1 GB of changes")):
        names = list(res[key])
        ax.boxplot([res[key][n] for n in names], tick_labels=names)
        ax.set_ylabel("seconds (lower is better)")
        ax.set_title(title)
    root = res["root"]
    axes[2].boxplot([root["prepare_mount_ms"], root["mount_ms"]], tick_labels=["prepare+mount", "mount(2) only"])
    axes[2].axhline(1.0, color="red", linestyle="--", linewidth=0.8, label="goal 1 ms")
    axes[2].set_ylabel("milliseconds")
    axes[2].set_title("container root, 6-layer image")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(out / "bench-images.png", dpi=110)


def table(samples):
    med = {n: statistics.median(v) for n, v in samples.items()}
    rows = ["| tool | median | min | max | ratio to berth |", "|---|---|---|---|---|"]
    for n, v in samples.items():
        rows.append(f"| {n} | {med[n]:.2f} | {min(v):.2f} | {max(v):.2f} | {med[n] / med['berth']:.2f}x |")
    return rows


def report(args, res, archive, files, layers, out):
    size = archive.stat().st_size
    root = res["root"]
    pm, mo = statistics.median(root["prepare_mount_ms"]), statistics.median(root["mount_ms"])
    lines = [
        "# Storage benchmarks: load, commit, container root",
        "",
        f"Generated by `bench/images.sh` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {args.rounds} rounds each for load and commit.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}. Peer: Debian's dockerd 20.10 (overlay2).",
        "",
        "## Method",
        "",
        f"Load: one generated `docker save` archive of {size / 1e6:.0f} MB, {layers} uncompressed layers, {files} small files",
        "(1-32 KiB) in four layers and four large files in the fifth; `berth load -i` versus `docker load -i`.",
        "Commit: the same files copied (untimed) into the writable layer of a created busybox container,",
        "then `berth commit` versus `docker commit` (docker keeps the committed layer uncompressed, and so",
        "does berth; both leave compression to push).",
        "Every round of every tool starts on a fresh ext4 file system on a loop device (and, for docker,",
        "a fresh dockerd on it), so no round pays for another's deleted inodes or dirty pages. Times are",
        "wall clock of the whole command; the page cache holds the archive.",
        "",
        f"Container root: {root['layers']}-layer image, {len(root['prepare_mount_ms'])} rounds of the engine's path (writable",
        "snapshot prepared over the top layer, its overlay mounted; crates/image/examples/rootfs_bench.rs),",
        "with the bare mount(2) of the same overlay timed in the same rounds for reference. Docker has no",
        "separate command for this step.",
        "",
        "## Load (seconds)",
        "",
        *table(res["load"]),
        "",
        "## Commit (seconds)",
        "",
        *table(res["commit"]),
        "",
        "## Container root (milliseconds)",
        "",
        "| step | median | p90 | goal |",
        "|---|---|---|---|",
        f"| prepare + mount | {pm:.3f} | {statistics.quantiles(root['prepare_mount_ms'], n=10)[-1]:.3f} | < 1 ms |",
        f"| mount(2) alone | {mo:.3f} | {statistics.quantiles(root['mount_ms'], n=10)[-1]:.3f} | |",
        "",
        "![results](bench-images.png)",
        "",
        "Versions: " + ", ".join(f"{k}: {version(c)}" for k, c in (("berth", [args.berth, "--version"]), ("docker", ["dockerd", "--version"]))),
        "",
    ]
    (out / "bench-images.md").write_text("\n".join(lines))
    (out / "bench-images.json").write_text(json.dumps({**res, "archive_bytes": size, "files": files, "layers": layers}, indent=1))
    for key in ("load", "commit"):
        for n, v in res[key].items():
            print(f"{key:6} {n:8} median {statistics.median(v):.2f} s")
    print(f"root   prepare+mount median {pm:.3f} ms, mount alone {mo:.3f} ms")


def main():
    args = parse_args()
    work = Path(args.work)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"generating a ~{args.size_mb} MB archive in {work}")
    archive, files, layers = make_archive(work, args.size_mb)
    changes = work / "changes"
    extract_changes(archive, changes)
    # Warm the page cache with the inputs, so the first round does not pay for it alone.
    run(["cat", str(archive)], stdout=subprocess.DEVNULL)
    run(["tar", "-cf", "/dev/null", "-C", str(changes), "."])
    res = {"load": {"berth": [], "docker": []}, "commit": {"berth": [], "docker": []}}
    benches = {"load": (berth_load, docker_load, archive), "commit": (berth_commit, docker_commit, changes)}
    for key, (b, d, data) in benches.items():
        for i in range(args.rounds):
            order = [("berth", b), ("docker", d)] if i % 2 == 0 else [("docker", d), ("berth", b)]
            for name, fn in order:
                t = fn(args, work, data)
                res[key][name].append(t)
                print(f"{key} round {i + 1}: {name} {t:.2f} s", flush=True)
    res["root"] = root_prep(args, work)
    report(args, res, archive, files, layers, out)
    plot(res, out)


if __name__ == "__main__":
    main()
