#!/usr/bin/env python3
"""Container lifecycle benchmark: berth-runtime against crun and runc.

Each iteration runs, for every runtime in turn (the order rotates each iteration):
  1. a lifecycle of /bin/true: `create`, `start`, wait for the container's exit, `delete`,
     each step timed on its own, plus the peak RSS of the `create` process;
  2. the same lifecycle as one `run` command.
All runtimes use one busybox bundle and their own --root. Results go to
docs/bench-runtime.{md,png,json}. Run it through bench/runtime.sh.
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PR_SET_CHILD_SUBREAPER = 36
PHASES = ("create", "start", "wait", "delete")
GNU_TIME = "/usr/bin/time"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rss-samples", type=int, default=20, help="extra, untimed creates measured for peak RSS")
    p.add_argument("--berth", default=str(REPO / "target/x86_64-unknown-linux-gnu/runtime/berth-runtime"))
    p.add_argument("--crun", default="/usr/bin/crun")
    p.add_argument("--runc", default="/usr/sbin/runc")
    p.add_argument("--images", default=os.environ.get("BERTH_TEST_IMAGES"))
    p.add_argument("--out", default=str(REPO / "docs"), help="directory for bench-runtime.*")
    return p.parse_args()


def images_dir(explicit):
    if explicit:
        return Path(explicit)
    for parent in REPO.parents:
        if (parent / "shared/images/busybox-1.35.docker.tar").is_file():
            return parent / "shared/images"
    sys.exit("busybox image not found beside the repository; pass --images")


def make_bundle(dest, images):
    """Unpacks busybox into dest/rootfs and writes a /bin/true spec (runc's default spec)."""
    archive = images / "busybox-1.35.docker.tar"
    manifest = json.loads(subprocess.check_output(["tar", "-xOf", archive, "manifest.json"]))
    rootfs = dest / "rootfs"
    rootfs.mkdir()
    layer = subprocess.Popen(["tar", "-xOf", archive, manifest[0]["Layers"][0]], stdout=subprocess.PIPE)
    subprocess.check_call(["tar", "-x", "-C", rootfs], stdin=layer.stdout)
    if layer.wait() != 0:
        sys.exit("extracting the busybox layer failed")
    subprocess.check_call(["runc", "spec", "--bundle", dest])
    spec = json.loads((dest / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    (dest / "config.json").write_text(json.dumps(spec, indent=2))


def become_subreaper():
    """Makes orphaned container inits our children, so their exit can be waited for."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_CHILD_SUBREAPER): errno {ctypes.get_errno()}")


FAKE_UNIFIED = Path("/sys/fs/cgroup/unified")


def unified_is_stand_in():
    """True when bench/runtime.sh put a tmpfs in place of the cgroup v2 mount."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == str(FAKE_UNIFIED):
            return fields[fields.index("-") + 1] == "tmpfs"
    return False


def clear_stand_in():
    """Empties the stand-in tmpfs: crun creates cgroup-like directories there that it
    cannot remove (they hold regular files), and they would fill it up."""
    for entry in FAKE_UNIFIED.iterdir():
        shutil.rmtree(entry, ignore_errors=True)


def reap_strays():
    """Reaps exited children we did not wait for (intermediate runtime processes)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Runtime:
    """One runtime binary with its own state directory."""

    def __init__(self, name, binary, workdir):
        self.name, self.bin = name, binary
        self.root = workdir / f"root-{name}"
        self.root.mkdir()
        self.err = workdir / f"stderr-{name}"
        self.samples = {k: [] for k in (*PHASES, "total", "run", "rss_kib")}

    def cmd(self, *args):
        return [self.bin, "--root", str(self.root), *args]

    def call(self, *args):
        with open(self.err, "w") as err:
            rc = subprocess.call(self.cmd(*args), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        if rc != 0:
            raise RuntimeError(f"{self.name} {args[0]} exited {rc}: {self.err.read_text().strip()[:300]}")

    def create(self, bundle, cid, pidfile, wrapper=()):
        args = ("create", "--bundle", str(bundle), "--pid-file", str(pidfile), cid)
        with open(self.err, "w") as err:
            rc = subprocess.call([*wrapper, *self.cmd(*args)], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=err)
        if rc != 0:
            raise RuntimeError(f"{self.name} create exited {rc}: {self.err.read_text().strip()[:300]}")

    def create_rss(self, bundle, cid):
        """Peak RSS (KiB) of one `create`, by GNU time (untimed: the wrapper costs an exec).
        A forking parent's RSS counts towards its child's peak, hence a small wrapper
        rather than wait4 from this (large) Python process."""
        pidfile, rssfile = self.root / f"{cid}.pid", self.root / f"{cid}.rss"
        self.create(bundle, cid, pidfile, wrapper=(GNU_TIME, "-f", "%M", "-o", str(rssfile)))
        self.call("start", cid)
        wait_exit(int(pidfile.read_text()))
        self.call("delete", cid)
        reap_strays()
        self.samples["rss_kib"].append(int(rssfile.read_text().split()[-1]))

    def lifecycle(self, bundle, cid):
        pidfile = self.root / f"{cid}.pid"
        t0 = time.perf_counter()
        self.create(bundle, cid, pidfile)
        t1 = time.perf_counter()
        pid = int(pidfile.read_text())
        self.call("start", cid)
        t2 = time.perf_counter()
        wait_exit(pid)
        t3 = time.perf_counter()
        self.call("delete", cid)
        t4 = time.perf_counter()
        pidfile.unlink()
        return {"create": t1 - t0, "start": t2 - t1, "wait": t3 - t2, "delete": t4 - t3, "total": t4 - t0}

    def run(self, bundle, cid):
        t0 = time.perf_counter()
        self.call("run", "--bundle", str(bundle), cid)
        return time.perf_counter() - t0

    def iteration(self, bundle, cid, record):
        cycle = self.lifecycle(bundle, cid + "-c")
        run = self.run(bundle, cid + "-r")
        reap_strays()
        if record:
            for key, value in cycle.items():
                self.samples[key].append(value)
            self.samples["run"].append(run)


def wait_exit(pid):
    """Waits for the container init to exit: as its subreaper we can wait for it; if the
    runtime keeps it as its own child instead, poll until it is gone or a zombie."""
    try:
        os.waitpid(pid, 0)
        return
    except ChildProcessError:
        pass
    stat = Path(f"/proc/{pid}/stat")
    while True:
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except (FileNotFoundError, ProcessLookupError):
            return
        time.sleep(0.0005)


def version(binary):
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except OSError as e:
        return f"unavailable ({e.strerror})"
    return out.splitlines()[0].strip() if out.strip() else "unknown"


def pick_runtimes(args, workdir, bundle):
    """The runtimes to measure; one that is missing or cannot run /bin/true is skipped."""
    chosen, skipped = [], {}
    for name, binary in (("berth-runtime", args.berth), ("crun", args.crun), ("runc", args.runc)):
        path = shutil.which(binary)
        if path is None:
            shown = os.path.relpath(binary, REPO) if binary.startswith(str(REPO)) else binary
            skipped[name] = f"`{shown}` not found"
            continue
        rt = Runtime(name, path, workdir)
        try:
            rt.iteration(bundle, f"probe-{name}", record=False)
        except (RuntimeError, OSError, ValueError) as e:
            skipped[name] = f"smoke run failed: {e}"
            continue
        chosen.append(rt)
    return chosen, skipped


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarize(runtimes):
    out = {}
    for rt in runtimes:
        s = rt.samples
        out[rt.name] = {
            **{f"{k}_median_ms": statistics.median(s[k]) * 1e3 for k in (*PHASES, "total", "run")},
            "total_p90_ms": percentile(s["total"], 0.9) * 1e3,
            "run_p90_ms": percentile(s["run"], 0.9) * 1e3,
            "create_rss_median_kib": statistics.median(s["rss_kib"]),
            "create_rss_max_kib": max(s["rss_kib"]),
        }
    return out


def machine_info():
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.machine())
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    load = Path("/proc/loadavg").read_text().split()[0]
    return {"load_1min_at_end": load, "kernel": platform.release(), "cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kib / 2**20, 1),
            "os": platform.freedesktop_os_release().get("PRETTY_NAME", "linux")}


def plot(runtimes, summary, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [rt.name for rt in runtimes]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 5), gridspec_kw={"width_ratios": [3, 2, 1.4]})
    data, labels = [], []
    for rt in runtimes:
        data += [[v * 1e3 for v in rt.samples["total"]], [v * 1e3 for v in rt.samples["run"]]]
        labels += [f"{rt.name}\ncreate→delete", f"{rt.name}\nrun"]
    ax1.boxplot(data, showfliers=False)
    ax1.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
    ax1.set_ylabel("ms per container (lower is better)")
    ax1.set_title("Wall time per /bin/true container")
    bottom = [0.0] * len(names)
    for phase in PHASES:
        vals = [summary[n][f"{phase}_median_ms"] for n in names]
        ax2.bar(names, vals, bottom=bottom, label=phase)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax2.set_ylabel("median ms")
    ax2.set_title("Median time per step")
    ax2.legend(fontsize=8)
    ax3.bar(names, [summary[n]["create_rss_median_kib"] / 1024 for n in names], color="tab:gray")
    ax3.set_ylabel("MiB")
    ax3.set_title("Peak RSS of `create`")
    for ax in (ax2, ax3):
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def ratio(summary, name, key):
    base = summary.get("berth-runtime")
    if not base:
        return "—"
    return f"{summary[name][key] / base[key]:.2f}×"


def write_markdown(path, meta, runtimes, summary, skipped):
    lines = [
        "# Runtime lifecycle benchmark",
        "",
        f"Generated by `bench/runtime.sh` on {meta['date']}, {meta['iterations']} iterations per runtime "
        f"({meta['warmup']} warm-up iterations not counted).",
        "",
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, {meta['machine']['mem_gib']} GiB, "
        f"{meta['machine']['os']}, kernel {meta['machine']['kernel']}; 1-minute load average "
        f"{meta['machine']['load_1min_at_end']} when it finished (other work on the machine widens the spread).",
        "",
        "| runtime | version |",
        "|---|---|",
        *[f"| {n} | {v} |" for n, v in meta["versions"].items()],
        "",
        "## Method",
        "",
        "One busybox bundle whose process is `/bin/true`; each runtime has its own `--root`. In every",
        "iteration each runtime (in rotating order) does two things:",
        "",
        "- **create→delete**: `create --pid-file`, `start`, wait for the container to exit, `delete`,",
        "  each step timed on its own. The benchmark is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so",
        "  once `create` returns the container's init is its child and the wait is a plain `waitpid`",
        "  on the pid from `--pid-file`: no polling of `state`, identical for every runtime.",
        "- **run**: the same lifecycle as one foreground `run` command.",
        "",
        f"Peak RSS is the median over {meta['rss_samples']} further, untimed `create`s of GNU time's `%M`",
        "(the `create` process itself; its children, such as `runc init`, are not included; GNU time",
        "measures about 1 MiB for `/bin/true`, the floor of this method).",
        "",
        "Ratios divide a runtime's median by berth-runtime's (above 1 means berth-runtime is faster);",
        "they are blank when berth-runtime was skipped.",
        "",
        "All runtimes run in one private mount namespace in which the cgroup v2 mount",
        "(`/sys/fs/cgroup/unified`) is hidden behind an empty tmpfs: crun 1.8 refuses this machine's",
        "hybrid layout because its v2 hierarchy holds the hugetlb controller. Every runtime therefore",
        "sees the same plain cgroup v1 setup.",
        "",
        "## Results (milliseconds; RSS in MiB)",
        "",
        "| runtime | create→delete median | p90 | ratio | run median | p90 | ratio | create | start | wait | delete | create peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rt in runtimes:
        s = summary[rt.name]
        lines.append(
            f"| {rt.name} | {s['total_median_ms']:.1f} | {s['total_p90_ms']:.1f} | {ratio(summary, rt.name, 'total_median_ms')} "
            f"| {s['run_median_ms']:.1f} | {s['run_p90_ms']:.1f} | {ratio(summary, rt.name, 'run_median_ms')} "
            + " ".join(f"| {s[f'{p}_median_ms']:.1f}" for p in PHASES)
            + f" | {s['create_rss_median_kib'] / 1024:.1f} |")
    for name, why in skipped.items():
        lines.append(f"| {name} | skipped: {why.replace('|', '/')} |" + " |" * 11)
    lines += ["", "![box plot of per-container wall times](bench-runtime.png)", "",
              "Raw per-iteration samples: `bench-runtime.json`.", ""]
    path.write_text("\n".join(lines))


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (through bench/runtime.sh)")
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit(f"{GNU_TIME} missing (apt-get install time)")
    become_subreaper()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as tmp:
        workdir = Path(tmp)
        bundle = workdir / "bundle"
        bundle.mkdir()
        make_bundle(bundle, images_dir(args.images))
        runtimes, skipped = pick_runtimes(args, workdir, bundle)
        if not runtimes:
            sys.exit(f"no runtime could run: {skipped}")
        for name, why in skipped.items():
            print(f"skipping {name}: {why}", file=sys.stderr)
        tag, stand_in = os.getpid(), unified_is_stand_in()
        for i in range(args.warmup + args.iterations):
            shift = i % len(runtimes)
            for rt in runtimes[shift:] + runtimes[:shift]:
                rt.iteration(bundle, f"b{tag}-{rt.name}-{i}", record=i >= args.warmup)
            if stand_in:
                clear_stand_in()
        for i in range(args.rss_samples):
            for rt in runtimes:
                rt.create_rss(bundle, f"m{tag}-{rt.name}-{i}")
    summary = summarize(runtimes)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "iterations": args.iterations, "warmup": args.warmup, "rss_samples": args.rss_samples, "machine": machine_info(),
        "versions": {n: version(b) for n, b in (("berth-runtime", args.berth), ("crun", args.crun), ("runc", args.runc))},
    }
    (out / "bench-runtime.json").write_text(json.dumps(
        {"meta": meta, "skipped": skipped, "summary": summary,
         "samples": {rt.name: rt.samples for rt in runtimes}}, indent=1))
    plot(runtimes, summary, out / "bench-runtime.png")
    write_markdown(out / "bench-runtime.md", meta, runtimes, summary, skipped)
    for name, s in summary.items():
        print(f"{name:14} create→delete {s['total_median_ms']:6.1f} ms (p90 {s['total_p90_ms']:6.1f})  "
              f"run {s['run_median_ms']:6.1f} ms  create RSS {s['create_rss_median_kib'] / 1024:5.1f} MiB")
    print(f"wrote {out}/bench-runtime.md, .png, .json")


if __name__ == "__main__":
    main()
