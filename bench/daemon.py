#!/usr/bin/env python3
"""Engine benchmark, berthd against dockerd (and podman where it runs), in one run:

- run: `run --rm busybox true`, end to end (client start to exit), --runs times for each of
  the berth CLI on berthd, the docker CLI on berthd, the docker CLI on dockerd
  (`--network none`) and podman (`--network none`), in rotating order;
- many: --many `sleep` containers started detached one after the other and left running:
  the total time, the private memory (Private_Clean + Private_Dirty of smaps_rollup) of each
  per-container monitor (berth-shim, containerd-shim-runc-v2) as a median, the time of
  `ps` with all of them running, and of `stats --no-stream` for --stats of them;
- busy ps: the latency of the container list API (`GET /containers/json?all=1`, what `ps -a`
  asks) while --clients clients create and remove containers as fast as they can, for
  --busy-seconds; median and p99;
- logs: a container writing --log-mb MiB of lines to stdout, json-file log: time, throughput,
  the engine's CPU time, and whether every line reached the log.

berthd runs on its own data root with the release binaries; dockerd is the private
instance bench/daemon.sh starts. Results go to docs/bench-daemon.{md,png,json}.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import http.client
import socket
import subprocess
import threading
import time
from pathlib import Path

from benchlib import Berthd, common_args, timed, version

REPO = Path(__file__).resolve().parent.parent
IMAGE = "busybox:1.35"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--many", type=int, default=500)
    p.add_argument("--ps-runs", type=int, default=20)
    p.add_argument("--stats", type=int, default=100)
    p.add_argument("--stats-runs", type=int, default=5)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--busy-seconds", type=float, default=20)
    p.add_argument("--log-mb", type=int, default=1024)
    p.add_argument("--log-runs", type=int, default=3)
    p.add_argument("--sections", default="run,many,busy,logs",
                   help="which parts to run (comma separated; a partial run is for trying, not for docs/)")
    p.add_argument("--images", required=True)
    common_args(p)
    return p.parse_args()


def podman_base(work):
    # env -u: DOCKER_CONFIG (set for the private dockerd's CLI) would be podman's auth file.
    return ["env", "-u", "DOCKER_CONFIG", "podman", "--root", str(work / "podman"), "--runroot", str(work / "podman-run"),
            "--cgroup-manager", "cgroupfs", "--events-backend", "none"]


def podman_ready(work, images):
    """Loads busybox into a private podman store; the reason if podman cannot run here."""
    if not shutil.which("podman"):  # noqa: the env wrapper needs podman itself
        return "podman is not installed"
    base = podman_base(work)
    r = subprocess.run(base + ["load", "-i", str(Path(images) / "busybox-1.35.docker.tar")], capture_output=True, text=True)
    if r.returncode != 0:
        return r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "podman load failed"
    r = subprocess.run(base + ["run", "--rm", "--network", "none", IMAGE, "true"], capture_output=True, text=True)
    if r.returncode != 0:
        return (r.stderr.strip().splitlines() or ["podman run failed"])[-1]
    return None


def private_kib(pid):
    total = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    except OSError:
        return None
    return total


def pids_named(name):
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if Path(p, "comm").read_text().strip() == name[:15]:
                    out.append(int(p.name))
            except OSError:
                pass
    return out


def run_bench(args, work, b, docker_env):
    tools = {
        "berth": [args.berth, "-H", b.host, "run", "--rm", IMAGE, "true"],
        "berth --network none": [args.berth, "-H", b.host, "run", "--rm", "--network", "none", IMAGE, "true"],
        "docker CLI on berthd": ["docker", "-H", b.host, "run", "--rm", IMAGE, "true"],
        "docker": ["docker", "run", "--rm", "--network", "none", IMAGE, "true"],
    }
    skipped = {}
    why = podman_ready(work, args.images)
    if why is None:
        tools["podman"] = podman_base(work) + ["run", "--rm", "--network", "none", IMAGE, "true"]
    else:
        skipped["podman"] = why
    samples = {n: [] for n in tools}
    names = list(tools)
    for i in range(args.runs):
        for n in names[i % len(names):] + names[:i % len(names)]:
            env = docker_env if n == "docker" else None
            samples[n].append(timed(tools[n], env) * 1e3)
    return samples, skipped


class UnixHTTP(http.client.HTTPConnection):
    """HTTP over a unix socket (the engines' API)."""

    def __init__(self, path):
        super().__init__("localhost", timeout=120)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def api(path, method, url, body=None):
    c = UnixHTTP(path)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, url, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def busy_ps(sock, seconds, clients):
    """List latencies (ms) while `clients` threads create and remove containers."""
    stop = time.monotonic() + seconds
    churned = [0]

    def churn():
        while time.monotonic() < stop:
            st, data = api(sock, "POST", "/v1.41/containers/create", {"Image": IMAGE, "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}})
            if st == 201:
                cid = json.loads(data)["Id"]
                api(sock, "DELETE", f"/v1.41/containers/{cid}?force=1")
                churned[0] += 1

    threads = [threading.Thread(target=churn) for _ in range(clients)]
    for t in threads:
        t.start()
    lat = []
    while time.monotonic() < stop:
        t0 = time.perf_counter()
        api(sock, "GET", "/v1.41/containers/json?all=1")
        lat.append((time.perf_counter() - t0) * 1e3)
        time.sleep(0.05)
    for t in threads:
        t.join()
    return {"ps_ms": lat, "churned": churned[0]}


LINE = b"0123456789" * 9 + b"abcdefgh\n"  # 99 bytes


def cpu_seconds(pids):
    """utime + stime of each live pid in `pids`, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(f[11]) + int(f[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return out


def log_run(sock, mb, daemons):
    """One container writing `mb` MiB of 99-byte lines to stdout with a json-file log.
    Returns seconds from start to the end of its wait, the CPU seconds of the engine's
    processes over that time (`daemons` names; a process's last sample counts, taken
    every 50 ms), and the lines in the log."""
    per_block = 1024 * 1024 // len(LINE)
    lines = mb * per_block
    text = LINE.decode().rstrip("\n")
    # A 1 MiB block of lines written `mb` times by cat: the writer is not the bottleneck.
    script = (f"yes {text} | head -c {per_block * len(LINE)} > /tmp/block; i=0; "
              f"while [ $i -lt {mb} ]; do cat /tmp/block; i=$((i+1)); done")
    body = {"Image": IMAGE, "Cmd": ["sh", "-c", script],
            "HostConfig": {"NetworkMode": "none", "LogConfig": {"Type": "json-file", "Config": {"max-size": "16g"}}}}
    st, data = api(sock, "POST", "/v1.41/containers/create", body)
    assert st == 201, data
    cid = json.loads(data)["Id"]
    seen, done = {}, threading.Event()

    def sample():
        while not done.is_set():
            pids = [p for n in daemons for p in pids_named(n)]
            for pid, c in cpu_seconds(pids).items():
                seen[pid] = c
            time.sleep(0.05)

    before = cpu_seconds([p for n in daemons for p in pids_named(n)])
    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.perf_counter()
    api(sock, "POST", f"/v1.41/containers/{cid}/start")
    api(sock, "POST", f"/v1.41/containers/{cid}/wait")
    elapsed = time.perf_counter() - t0
    done.set()
    sampler.join()
    cpu = sum(c - before.get(pid, 0) for pid, c in seen.items())
    _, data = api(sock, "GET", f"/v1.41/containers/{cid}/json")
    path = json.loads(data)["LogPath"]
    got = int(subprocess.run(["wc", "-l", path], capture_output=True, text=True, check=True).stdout.split()[0])
    api(sock, "DELETE", f"/v1.41/containers/{cid}?force=1")
    return {"s": elapsed, "cpu_s": cpu, "lines": got, "want": lines}


def log_bench(args, b, docker_sock):
    engines = {"berth": (str(b.sock), ["berthd", "berth-shim"]),
               "docker": (docker_sock, ["dockerd", "containerd", "containerd-shim-runc-v2"])}
    res = {n: [] for n in engines}
    for i in range(args.log_runs):
        for n in (list(engines) if i % 2 == 0 else list(engines)[::-1]):
            sock, daemons = engines[n]
            res[n].append(log_run(sock, args.log_mb, daemons))
    return res


def p99(v):
    return statistics.quantiles(v, n=100)[-1] if len(v) >= 2 else (v[0] if v else float("nan"))


def many_bench(args, b, docker_env):
    res = {}
    start = time.perf_counter()
    for _ in range(args.many):
        b.berth("run", "-d", IMAGE, "sleep", "100000")
    res["berth"] = {"start_all_s": time.perf_counter() - start}
    time.sleep(3)  # monitors of earlier, finished runs linger up to 2 s for their clients
    mem = [m for m in (private_kib(p) for p in pids_named("berth-shim")) if m is not None]
    res["berth"]["monitor_private_kib"] = statistics.median(mem) if mem else None
    res["berth"]["monitors"] = len(mem)
    res["berth"]["ps_ms"] = [timed([args.berth, "-H", b.host, "ps"]) * 1e3 for _ in range(args.ps_runs)]
    ids = b.berth("ps", "-q").stdout.split()
    some = ids[: args.stats]
    res["berth"]["stats_ms"] = [timed([args.berth, "-H", b.host, "stats", "--no-stream", *some]) * 1e3 for _ in range(args.stats_runs)]
    b.berth("rm", "-f", *ids, check=False)

    start = time.perf_counter()
    for _ in range(args.many):
        subprocess.run(["docker", "run", "-d", "--network", "none", IMAGE, "sleep", "100000"], env=docker_env, check=True, capture_output=True)
    res["docker"] = {"start_all_s": time.perf_counter() - start}
    mem = [m for m in (private_kib(p) for p in pids_named("containerd-shim-runc-v2")) if m is not None]
    res["docker"]["monitor_private_kib"] = statistics.median(mem) if mem else None
    res["docker"]["monitors"] = len(mem)
    res["docker"]["ps_ms"] = [timed(["docker", "ps"], docker_env) * 1e3 for _ in range(args.ps_runs)]
    ids = subprocess.run(["docker", "ps", "-q"], env=docker_env, capture_output=True, text=True).stdout.split()
    some = ids[: args.stats]
    res["docker"]["stats_ms"] = [timed(["docker", "stats", "--no-stream", *some], docker_env) * 1e3 for _ in range(args.stats_runs)]
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], env=docker_env, capture_output=True)
    return res


def plot(samples, many, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    names = list(samples)
    axes[0].boxplot([samples[n] for n in names], tick_labels=[n.replace(" on ", "\non ") for n in names])
    axes[0].set_yscale("log")
    axes[0].set_ylabel("ms, log scale (lower is better)")
    axes[0].set_title("run --rm busybox true, end to end")
    tools = list(many)
    axes[1].bar(tools, [many[t]["monitor_private_kib"] or 0 for t in tools])
    axes[1].set_ylabel("KiB private per container monitor")
    axes[1].set_title(f"{list(many.values())[0].get('count', '')} running containers")
    fig.tight_layout()
    fig.savefig(out / "bench-daemon.png", dpi=110)


def report(args, samples, skipped, many, busy, logs, out):
    med = {n: statistics.median(v) for n, v in samples.items()}
    lines = [
        "# Engine benchmark: run end to end, many containers",
        "",
        f"Generated by `bench/daemon.sh` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}. Peers: Debian's dockerd 20.10 with containerd and runc; podman where it runs.",
        "",
        "## `run --rm busybox true`, end to end (milliseconds)",
        "",
        f"{args.runs} runs each, in rotating order; wall clock from the client's start to its exit. "
        "docker runs with `--network none` (no bridge, as the engine issue asks); berth's first row "
        "is on its default bridge (a veth, an address and NAT per container), the `--network none` "
        "row is the like-for-like comparison.",
        "",
        "| client → engine | median | p90 | docker / this |",
        "|---|---|---|---|",
    ]
    for n, v in samples.items():
        p90 = statistics.quantiles(v, n=10)[-1]
        lines.append(f"| {n} | {med[n]:.1f} | {p90:.1f} | {med['docker'] / med[n]:.1f}x |")
    for n, why in skipped.items():
        lines.append(f"| {n} | did not run: {why} | | |")
    lines += ["", f"## {args.many} running `sleep` containers", "",
              f"`stats --no-stream` names {args.stats} of them ({args.stats_runs} runs, median).", "",
              "| engine | start all (s) | monitor private memory, median (KiB) | monitors | `ps` median (ms) | `stats --no-stream` (ms) |",
              "|---|---|---|---|---|---|"]
    for n, r in many.items():
        lines.append(f"| {n} | {r['start_all_s']:.1f} | {r['monitor_private_kib']} | {r['monitors']} | {statistics.median(r['ps_ms']):.1f} | {statistics.median(r['stats_ms']):.1f} |")
    if "berth" in many and "docker" in many:
        ratio = statistics.median(many["docker"]["stats_ms"]) / statistics.median(many["berth"]["stats_ms"])
        lines += ["", f"`stats --no-stream`: docker / berth = {ratio:.1f}x."]
    if busy:
        lines += ["", f"## The container list while {args.clients} clients create and remove containers", "",
                  f"`GET /containers/json?all=1` every 50 ms for {args.busy_seconds:.0f} s while {args.clients} threads loop create + remove (force) through the API.", "",
                  "| engine | list median (ms) | list p99 (ms) | lists | containers churned |", "|---|---|---|---|---|"]
        for n, r in busy.items():
            lines.append(f"| {n} | {statistics.median(r['ps_ms']):.1f} | {p99(r['ps_ms']):.1f} | {len(r['ps_ms'])} | {r['churned']} |")
    if logs:
        lines += ["", f"## Log throughput: {args.log_mb} MiB of 99-byte lines to stdout", "",
                  f"A container writes a 1 MiB block of 99-byte lines (`yes` into a file) N times with `cat` with the json-file log driver (max-size 16g, so nothing rotates); "
                  f"time from start to the end of `wait`, and the CPU time of the engine's processes over it "
                  f"(berth: berthd and the container's berth-shim, which writes the log; docker: dockerd, containerd and the "
                  f"containerd shim), sampled every 50 ms. {args.log_runs} runs each, alternating, median. "
                  f"Every line must reach the log: the lines column counts them.", "",
                  "| engine | time (s) | MiB/s | engine CPU (s) | lines in the log / written |", "|---|---|---|---|---|"]
        med = {}
        for n, runs in logs.items():
            t = statistics.median(r["s"] for r in runs)
            med[n] = t
            cpu = statistics.median(r["cpu_s"] for r in runs)
            kept = min(r["lines"] / r["want"] for r in runs)
            lines.append(f"| {n} | {t:.2f} | {args.log_mb / t:.0f} | {cpu:.2f} | {kept:.4f} |")
        if "berth" in med and "docker" in med:
            lines += ["", f"Log throughput: berth / docker = {med['docker'] / med['berth']:.1f}x."]
    lines += ["", "![results](bench-daemon.png)", "",
              "Versions: " + ", ".join(f"{k}: {version(c)}" for k, c in (("berth", [args.berth, "--version"]), ("docker", ["dockerd", "--version"]), ("podman", ["podman", "--version"]))), ""]
    (out / "bench-daemon.md").write_text("\n".join(lines))
    (out / "bench-daemon.json").write_text(json.dumps({"run_ms": samples, "skipped": skipped, "many": many, "busy": busy, "logs": logs}, indent=1))
    print("\n".join(lines))


def main():
    args = parse_args()
    work = Path(args.work)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    docker_env = dict(os.environ, DOCKER_HOST=args.docker_host)
    busybox = str(Path(args.images) / "busybox-1.35.docker.tar")
    subprocess.run(["docker", "load", "-i", busybox], env=docker_env, check=True, capture_output=True)
    sections = set(args.sections.split(","))
    docker_sock = args.docker_host.removeprefix("unix://")
    samples, skipped, many, busy, logs = {}, {}, {}, {}, {}
    with Berthd(args, work) as b:
        b.berth("load", "-i", busybox)
        if "run" in sections:
            samples, skipped = run_bench(args, work, b, docker_env)
        if "many" in sections:
            many = many_bench(args, b, docker_env)
        if "busy" in sections and args.busy_seconds > 0:
            busy["berth"] = busy_ps(str(b.sock), args.busy_seconds, args.clients)
            busy["docker"] = busy_ps(docker_sock, args.busy_seconds, args.clients)
        if "logs" in sections:
            logs = log_bench(args, b, docker_sock)
    for r in many.values():
        r["count"] = args.many
    if sections != {"run", "many", "busy", "logs"}:
        print(json.dumps({"run_ms": {n: statistics.median(v) for n, v in samples.items()}, "many": many,
                          "busy": {n: {"median": statistics.median(r["ps_ms"]), "p99": p99(r["ps_ms"])} for n, r in busy.items()},
                          "logs": logs}, indent=1))
        return
    report(args, samples, skipped, many, busy, logs, out)
    plot(samples, many, out)


if __name__ == "__main__":
    main()
