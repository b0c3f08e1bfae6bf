#!/usr/bin/env python3
"""Image load benchmark: `berth load` against real `docker load`, same archive, same run.

The archive is generated once (a `docker save` form with uncompressed layers, as docker
writes them): several layers of many small files and one of a few large files, about
--size-mb in all. Each round loads it into an empty berth data root and into a private
dockerd (image removed and pruned between rounds), in alternating order. Results go to
docs/bench-images.{md,png,json}. Run it through bench/images.sh, which starts dockerd.
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
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--size-mb", type=int, default=1024, help="approximate archive size")
    p.add_argument("--berth", default=str(REPO / "target/release/berth"))
    p.add_argument("--work", default="/var/tmp/berth-bench-images")
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


def berth_round(berth, archive, work):
    root = work / "berth-root"
    if root.exists():
        subprocess.run(["umount", "-R", str(root)], stderr=subprocess.DEVNULL)
        shutil.rmtree(root)
    subprocess.run(["sync"], check=True)
    return time_cmd([berth, "--data-root", str(root), "load", "-i", str(archive)])


def docker_round(archive):
    subprocess.run(["docker", "rmi", "-f", "bench/image:1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["docker", "image", "prune", "-af"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["sync"], check=True)
    return time_cmd(["docker", "load", "-i", str(archive)])


def version(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def plot(samples, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    names = list(samples)
    ax.boxplot([samples[n] for n in names], tick_labels=names)
    ax.set_ylabel("seconds to load (lower is better)")
    ax.set_title("Load of a generated multi-layer image")
    fig.tight_layout()
    fig.savefig(out / "bench-images.png", dpi=110)


def report(args, samples, archive, files, layers, out):
    med = {n: statistics.median(v) for n, v in samples.items()}
    size = archive.stat().st_size
    lines = [
        "# Image load benchmark",
        "",
        f"Generated by `bench/images.sh` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {args.rounds} rounds.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}.",
        "",
        "## Method",
        "",
        f"One generated `docker save` archive of {size / 1e6:.0f} MB: {layers} uncompressed layers, {files} small files",
        "(1-32 KiB) in four layers and four large files in the fifth. Each round loads it into an",
        "empty berth data root (`berth load -i`) and into a private dockerd 20.10 (`docker load -i`,",
        "overlay2; the image is removed and pruned between rounds). Times are wall clock of the",
        "whole command, page cache warm (the archive is read each round).",
        "",
        "Caveat: every round deletes the previous round's files on the same ext4 file system, and",
        "ext4 then avoids reusing the freed inodes for minutes (perf shows `recently_deleted` in",
        "inode allocation dominating), so later rounds of both tools get slower and noisier. A",
        "fresh file system per round (next change to this benchmark) would remove that effect.",
        "",
        "## Results (seconds)",
        "",
        "| tool | median | min | max | ratio to berth |",
        "|---|---|---|---|---|",
    ]
    for n, v in samples.items():
        lines.append(f"| {n} | {med[n]:.2f} | {min(v):.2f} | {max(v):.2f} | {med[n] / med['berth']:.2f}x |")
    lines += ["", "![load times](bench-images.png)", "", "Versions: " + ", ".join(f"{k}: {version(c)}" for k, c in (("berth", [args.berth, "--version"]), ("docker", ["dockerd", "--version"]))), ""]
    (out / "bench-images.md").write_text("\n".join(lines))
    (out / "bench-images.json").write_text(json.dumps({"samples": samples, "archive_bytes": size, "files": files, "layers": layers}, indent=1))
    for n in samples:
        print(f"{n:8} median {med[n]:.2f} s")


def main():
    args = parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"generating a ~{args.size_mb} MB archive in {work}")
    archive, files, layers = make_archive(work, args.size_mb)
    samples = {"berth": [], "docker": []}
    for i in range(args.rounds):
        order = ["berth", "docker"] if i % 2 == 0 else ["docker", "berth"]
        for name in order:
            t = berth_round(args.berth, archive, work) if name == "berth" else docker_round(archive)
            samples[name].append(t)
            print(f"round {i + 1}: {name} {t:.2f} s")
    report(args, samples, archive, files, layers, out)
    plot(samples, out)
    root = work / "berth-root"
    subprocess.run(["umount", "-R", str(root)], stderr=subprocess.DEVNULL)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
