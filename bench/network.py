#!/usr/bin/env python3
"""Networking benchmark (issue 7), berthd against dockerd in one run:

- run: `run --rm busybox:1.35 true`, end to end (client start to exit), --runs times for
  each of berth on its default bridge, berth `--network none`, docker on its default bridge
  and docker `--network none`, in rotating order (after one untimed warm-up run each);
- c2c: TCP throughput between two containers on one user-defined network (`network
  create --subnet`): a tcpbench server in one, a tcpbench client in a new container each
  run, by the server's IP and by its name, --bytes per run, --tcp-runs runs, median;
- published: a tcpbench server on the default bridge published
  `-p 127.0.0.1:PORT:5201 -p GATEWAY:PORT2:5201`; the same tcpbench binary on the host
  sends to 127.0.0.1:PORT, to the bridge gateway's GATEWAY:PORT2, and straight to the
  container's IP (no publishing: the routed baseline); --tcp-runs runs, median. Which
  process listens on the published port (docker-proxy or nothing: kernel NAT) is recorded.

The tool is bench/tools/tcpbench.c, built static by bench/network.sh; this script puts it
into a one-layer image (busybox's layer plus /tcpbench) and imports that into both engines,
so both run the same binary. berthd runs on its own data root with the binaries given;
dockerd is the private instance bench/network.sh starts. Results go to
docs/bench-network.{md,png,json}.
"""

import argparse
import datetime
import io
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import tarfile
import time
from pathlib import Path

from benchlib import Berthd, common_args, timed, version

IMAGE = "busybox:1.35"
TOOL_IMAGE = "berth-netbench:1"
PORT = 5201
SUFFIX = f"nb{os.getpid()}"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=20, help="`run --rm` runs per variant")
    p.add_argument("--tcp-runs", type=int, default=5, help="transfers per TCP path and engine")
    p.add_argument("--bytes", type=int, default=1 << 30, help="bytes per transfer")
    p.add_argument("--sections", default="run,c2c,published",
                   help="which parts to run (comma separated; a partial run is for trying, not for docs/)")
    common_args(p)
    p.add_argument("--images", required=True)
    p.add_argument("--tcpbench", required=True, help="the static tcpbench binary")
    p.add_argument("--berth-bip", required=True, help="berthd's default bridge address/prefix")
    p.add_argument("--docker-gateway", required=True, help="dockerd's default bridge address")
    p.add_argument("--berth-subnet", required=True, help="subnet of berth's user network")
    p.add_argument("--docker-subnet", required=True, help="subnet of docker's user network")
    return p.parse_args()


class NetBerthd(Berthd):
    """benchlib's berthd with its default bridge on `--berth-bip`; leaving also removes
    this run's networks."""

    def __init__(self, args, work):
        super().__init__(args, work, extra=("--bip", args.berth_bip))

    def cli(self, *a, check=True):
        """Runs berth with `a` (see `run`)."""
        return run(self.argv(*a), check=check)

    def __exit__(self, *exc):
        ids = self.cli("ps", "-aq", check=False).stdout.split()
        if ids:
            self.cli("rm", "-f", *ids, check=False)
        nets = self.cli("network", "ls", "-q", "--filter", f"name={SUFFIX}", check=False).stdout.split()
        if nets:
            self.cli("network", "rm", *nets, check=False)
        super().__exit__(*exc)


class Docker:
    """The docker CLI on the private dockerd."""

    def __init__(self, docker_host):
        self.env = dict(os.environ, DOCKER_HOST=docker_host)

    def argv(self, *a):
        return ["docker", *a]

    def cli(self, *a, check=True):
        """Runs docker with `a` (see `run`)."""
        return run(self.argv(*a), check=check, env=self.env)

    def cleanup(self):
        ids = self.cli("ps", "-aq", "--filter", f"name={SUFFIX}", check=False).stdout.split()
        if ids:
            self.cli("rm", "-f", *ids, check=False)
        nets = self.cli("network", "ls", "-q", "--filter", f"name={SUFFIX}", check=False).stdout.split()
        if nets:
            self.cli("network", "rm", *nets, check=False)


def run(argv, check=True, env=None):
    """Runs `argv` (at most 5 minutes: a transfer that stalls fails the run instead of hanging it)."""
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def tool_image_tar(images, tcpbench, dest):
    """Writes `dest`: a one-layer root filesystem tar, busybox's layer plus /tcpbench."""
    with tarfile.open(Path(images) / "busybox-1.35.docker.tar") as outer:
        layer = json.load(outer.extractfile("manifest.json"))[0]["Layers"][0]
        data = outer.extractfile(layer).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(dest, "w") as out:
        for m in src.getmembers():
            out.addfile(m, src.extractfile(m) if m.isfile() else None)
        info = out.gettarinfo(tcpbench, arcname="tcpbench")
        info.mode, info.uid, info.gid, info.uname, info.gname = 0o755, 0, 0, "root", "root"
        with open(tcpbench, "rb") as f:
            out.addfile(info, f)


def run_bench(args, b, d):
    """`run --rm busybox true` times (ms) for the four variants, rotating order."""
    tools = {
        "berth, default bridge": (b.argv("run", "--rm", IMAGE, "true"), None),
        "berth, --network none": (b.argv("run", "--rm", "--network", "none", IMAGE, "true"), None),
        "docker, default bridge": (d.argv("run", "--rm", IMAGE, "true"), d.env),
        "docker, --network none": (d.argv("run", "--rm", "--network", "none", IMAGE, "true"), d.env),
    }
    for argv, env in tools.values():
        timed(argv, env)
    samples = {n: [] for n in tools}
    names = list(tools)
    for i in range(args.runs):
        for n in names[i % len(names):] + names[:i % len(names)]:
            samples[n].append(timed(*tools[n]) * 1e3)
    return samples


GBIT = re.compile(r"gbit_s=([0-9.]+)")


def gbits(output, what):
    m = GBIT.search(output)
    if not m:
        raise RuntimeError(f"{what}: no gbit_s in tcpbench's output: {output!r}")
    return float(m.group(1))


def container_ip(e, name):
    fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
    ips = e.cli("inspect", "-f", fmt, name).stdout.split()
    if not ips:
        raise RuntimeError(f"{name}: no IP address in inspect")
    return ips[0]


def wait_listening(e, name):
    """Waits until the server container has printed its `listening` line."""
    for _ in range(100):
        if "listening" in e.cli("logs", name, check=False).stderr:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name}: tcpbench server did not start: {e.cli('logs', name, check=False).stderr}")


def c2c_setup(e, subnet):
    """A user network on `subnet` with a tcpbench server; the targets (IP, name)."""
    net, srv = f"net-{SUFFIX}", f"srv-{SUFFIX}"
    e.cli("network", "create", "--subnet", subnet, net)
    e.cli("run", "-d", "--name", srv, "--network", net, TOOL_IMAGE, "/tcpbench", "server", str(PORT))
    wait_listening(e, srv)
    return net, {"by IP": container_ip(e, srv), "by name": srv}


def c2c_bench(args, engines):
    """Gbit/s per engine and target, a new client container per transfer."""
    setup = {n: c2c_setup(e, subnet) for n, (e, subnet) in engines.items()}
    res = {n: {t: [] for t in setup[n][1]} for n in engines}
    names = list(engines)
    for i in range(args.tcp_runs):
        for n in (names if i % 2 == 0 else names[::-1]):
            e, net, targets = engines[n][0], *setup[n]
            for t, host in targets.items():
                out = e.cli("run", "--rm", "--network", net, TOOL_IMAGE, "/tcpbench", "client", host, str(PORT), str(args.bytes))
                res[n][t].append(gbits(out.stdout, f"{n} c2c {t}"))
    for n, (e, _) in engines.items():
        e.cli("rm", "-f", f"srv-{SUFFIX}")
        e.cli("network", "rm", setup[n][0])
    return res


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listener(port):
    """The processes listening on TCP `port` of the host: (names, pids); none for kernel NAT."""
    out = run(["ss", "-Hltnp", f"sport = :{port}"], check=False).stdout
    names = sorted(set(re.findall(r'\("([^"]+)"', out)))
    pids = sorted({int(p) for p in re.findall(r"pid=([0-9]+)", out)})
    return ", ".join(names) if names else "none", pids


def cpu_seconds(pids):
    """utime + stime summed over the live processes in `pids`, in seconds."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def published_setup(e, gateway):
    """A tcpbench server on the default bridge published on 127.0.0.1 and on `gateway`;
    its name, the targets (name: (host, port, listener pids)) and who listens where."""
    srv, lo_port, gw_port = f"pub-{SUFFIX}", free_port(), free_port()
    e.cli("run", "-d", "--name", srv, "-p", f"127.0.0.1:{lo_port}:{PORT}", "-p", f"{gateway}:{gw_port}:{PORT}",
          TOOL_IMAGE, "/tcpbench", "server", str(PORT))
    wait_listening(e, srv)
    (lo_who, lo_pids), (gw_who, gw_pids) = listener(lo_port), listener(gw_port)
    targets = {"127.0.0.1 (published)": ("127.0.0.1", lo_port, lo_pids),
               "bridge gateway (published)": (gateway, gw_port, gw_pids),
               "container IP (direct)": (container_ip(e, srv), PORT, [])}
    return srv, targets, {"127.0.0.1": lo_who, gateway: gw_who}


def published_bench(args, engines):
    """Gbit/s per engine and target, the host's tcpbench as the client; and the CPU seconds
    the processes listening on the published port (a userland proxy) spent per transfer."""
    setup = {n: published_setup(e, gw) for n, (e, gw) in engines.items()}
    res = {n: {t: [] for t in setup[n][1]} for n in engines}
    proxy_cpu = {n: {t: [] for t in setup[n][1]} for n in engines}
    names = list(engines)
    for i in range(args.tcp_runs):
        for n in (names if i % 2 == 0 else names[::-1]):
            for t, (host, port, pids) in setup[n][1].items():
                before = cpu_seconds(pids)
                out = run([args.tcpbench, "client", host, str(port), str(args.bytes)])
                proxy_cpu[n][t].append(cpu_seconds(pids) - before)
                res[n][t].append(gbits(out.stdout, f"{n} published {t}"))
    for n, (e, _) in engines.items():
        e.cli("rm", "-f", setup[n][0])
    return res, proxy_cpu, {n: setup[n][2] for n in engines}


def plot(samples, c2c, published, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    if samples:
        names = list(samples)
        axes[0].boxplot([samples[n] for n in names], tick_labels=[n.replace(", ", "\n") for n in names])
        axes[0].set_yscale("log")
        axes[0].set_ylabel("ms, log scale (lower is better)")
        axes[0].set_title("run --rm busybox true, end to end")
    for ax, res, title in ((axes[1], c2c, "container to container (user network)"),
                           (axes[2], published, "host to container")):
        if not res:
            ax.set_visible(False)
            continue
        engines = list(res)
        targets = list(res[engines[0]])
        width = 0.8 / len(engines)
        for k, n in enumerate(engines):
            xs = [i + k * width for i in range(len(targets))]
            ax.bar(xs, [statistics.median(res[n][t]) for t in targets], width, label=n)
        ax.set_xticks([i + width * (len(engines) - 1) / 2 for i in range(len(targets))],
                      [t.replace(" (", "\n(") for t in targets])
        ax.set_ylabel("Gbit/s, median (higher is better)")
        ax.set_title(title)
        ax.legend(loc="lower right", framealpha=0.9)
    fig.tight_layout()
    fig.savefig(out / "bench-network.png", dpi=110)


def run_table(args, samples):
    med = {n: statistics.median(v) for n, v in samples.items()}
    lines = ["## `run --rm busybox:1.35 true`, end to end (milliseconds)", "",
             f"{args.runs} runs each after one untimed warm-up, in rotating order; wall clock from the client's start to its exit.", "",
             "| engine, network | median | p90 | docker bridge / this |", "|---|---|---|---|"]
    for n, v in samples.items():
        p90 = statistics.quantiles(v, n=10)[-1]
        lines.append(f"| {n} | {med[n]:.1f} | {p90:.1f} | {med['docker, default bridge'] / med[n]:.1f}x |")
    ratio = med["docker, default bridge"] / med["berth, default bridge"]
    lines += ["", f"Default bridge: docker / berth = **{ratio:.1f}x** (goal: at least 20x). "
              f"berth's bridge costs {med['berth, default bridge'] - med['berth, --network none']:+.1f} ms over its `--network none`; "
              f"docker's {med['docker, default bridge'] - med['docker, --network none']:+.1f} ms.", ""]
    return lines


def tcp_table(args, title, intro, res):
    lines = [f"## {title} (Gbit/s)", "", intro, "",
             "| path | berth median | docker median | berth / docker | berth runs | docker runs |", "|---|---|---|---|---|---|"]
    for t in res["berth"]:
        b, d = statistics.median(res["berth"][t]), statistics.median(res["docker"][t])
        runs = [" ".join(f"{x:.2f}" for x in res[n][t]) for n in ("berth", "docker")]
        lines.append(f"| {t} | {b:.2f} | {d:.2f} | {b / d:.2f} | {runs[0]} | {runs[1]} |")
    return lines + [""]


def bridge_nf():
    """Whether bridged IPv4 traffic passes the host's netfilter hooks (br_netfilter)."""
    try:
        on = Path("/proc/sys/net/bridge/bridge-nf-call-iptables").read_text().strip() == "1"
    except OSError:
        return "br_netfilter not loaded: bridged traffic skips the host's netfilter hooks"
    return ("br_netfilter on: traffic between two containers on one bridge passes the host's netfilter hooks (every "
            "nft table there, both engines alike)" if on else "br_netfilter loaded, bridge-nf-call-iptables off")


def report(args, samples, c2c, published, proxy_cpu, listeners, out):
    gib = args.bytes / (1 << 30)
    lines = [
        "# Networking benchmark: run on a bridge, TCP throughput", "",
        f"Generated by `bench/network.sh` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.", "",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}, load average {args.load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
        "(other work on the machine makes the throughput numbers noisy: compare the per-run columns). "
        "Peer: Debian's dockerd 20.10 with containerd and runc, its default bridge under a private name, "
        "`--iptables=false` (the host's firewall untouched), userland proxy on (its default). "
        f"{bridge_nf()}.", "",
    ]
    if samples:
        lines += run_table(args, samples)
    if c2c:
        lines += tcp_table(args, "Container to container on a user network", (
            f"`network create --subnet` on each engine; `tcpbench server` in one container, and per transfer a new container "
            f"running `tcpbench client` to the server's IP or its name (the engine's DNS), {gib:g} GiB in 128 KiB writes, "
            f"timed inside the client from connect to the server's close after EOF. {args.tcp_runs} transfers per path, engines alternating."), c2c)
    if published:
        lines += tcp_table(args, "Host to container", (
            f"`tcpbench server` on the default bridge, `-p 127.0.0.1:PORT:5201 -p GATEWAY:PORT2:5201`; the same static "
            f"binary on the host sends {gib:g} GiB to each published address, and to the container's IP straight (routed, "
            f"no publishing: the baseline). {args.tcp_runs} transfers per path, engines alternating."), published)
        lines += ["Who listens on the published host ports (`ss -ltnp`): " + "; ".join(
            f"{n}: " + ", ".join(f"{addr} → {who}" for addr, who in ls.items()) for n, ls in listeners.items()) + ".", "",
            f"CPU seconds that listening process (the userland proxy) spends per {gib:g} GiB transfer, median "
            "(0 where the kernel forwards: no process on the path): " + "; ".join(
                f"{n}: " + ", ".join(f"{t.split(' (')[0]} {statistics.median(v):.2f} s" for t, v in per.items() if "published" in t)
                for n, per in proxy_cpu.items()) + ".", ""]
    lines += ["![results](bench-network.png)", "",
              "Versions: " + ", ".join(f"{k}: {version(c)}" for k, c in (("berth", [args.berth, "--version"]), ("docker", ["dockerd", "--version"]))), ""]
    (out / "bench-network.md").write_text("\n".join(lines))
    (out / "bench-network.json").write_text(json.dumps({"run_ms": samples, "c2c_gbit_s": c2c, "published_gbit_s": published,
                                                        "proxy_cpu_s": proxy_cpu, "listeners": listeners, "bytes": args.bytes}, indent=1))
    print("\n".join(lines))


def main():
    args = parse_args()
    args.load_start = os.getloadavg()[0]
    work, out = Path(args.work), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    d = Docker(args.docker_host)
    busybox = str(Path(args.images) / "busybox-1.35.docker.tar")
    tool_tar = work / "tcpbench-image.tar"
    tool_image_tar(args.images, args.tcpbench, tool_tar)
    d.cli("load", "-i", busybox)
    d.cli("import", str(tool_tar), TOOL_IMAGE)
    sections = set(args.sections.split(","))
    samples, c2c, published, proxy_cpu, listeners = {}, {}, {}, {}, {}
    try:
        with NetBerthd(args, work) as b:
            b.cli("load", "-i", busybox)
            b.cli("import", str(tool_tar), TOOL_IMAGE)
            if "run" in sections:
                samples = run_bench(args, b, d)
            if "c2c" in sections:
                c2c = c2c_bench(args, {"berth": (b, args.berth_subnet), "docker": (d, args.docker_subnet)})
            if "published" in sections:
                gw = args.berth_bip.split("/")[0]
                published, proxy_cpu, listeners = published_bench(args, {"berth": (b, gw), "docker": (d, args.docker_gateway)})
    finally:
        d.cleanup()
    if sections != {"run", "c2c", "published"}:
        print(json.dumps({"run_ms": {n: statistics.median(v) for n, v in samples.items()}, "c2c": c2c,
                          "published": published, "proxy_cpu_s": proxy_cpu, "listeners": listeners}, indent=1))
        return
    report(args, samples, c2c, published, proxy_cpu, listeners, out)
    plot(samples, c2c, published, out)

if __name__ == "__main__":
    main()
