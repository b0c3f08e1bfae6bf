"""What the benchmarks share: a berthd on its own data root, and timing a command."""

import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def common_args(p):
    """Adds the options every engine benchmark takes to argparse parser `p`."""
    p.add_argument("--work", required=True)
    p.add_argument("--docker-host", required=True)
    p.add_argument("--berth", default=str(REPO / "target/x86_64-unknown-linux-gnu/release/berth"))
    p.add_argument("--berthd", default=str(REPO / "target/release/berthd"))
    p.add_argument("--shim", default=str(REPO / "target/x86_64-unknown-linux-gnu/runtime/berth-shim"))
    p.add_argument("--out", default=str(REPO / "docs"))


class Berthd:
    """berthd with the release binaries on `work`'s own data root, exec root and socket;
    `args` names the binaries (`berth`, `berthd`, `shim`); `extra`: more berthd options.
    It runs in a session of its own, so a Ctrl-C reaches the benchmark, which removes the
    containers through it on the way out. Leaving removes every container."""

    def __init__(self, args, work, extra=()):
        self.args, self.work, self.extra = args, work, list(extra)
        self.sock = work / "berth.sock"
        self.host = f"unix://{self.sock}"

    def __enter__(self):
        (self.work / "berthd.json").write_text("{}")
        env = dict(os.environ, BERTH_SHIM=self.args.shim)
        self.log = open(self.work / "berthd.log", "ab")
        self.proc = subprocess.Popen([self.args.berthd, "--data-root", str(self.work / "berth-data"),
                                      "--exec-root", str(self.work / "berth-exec"), "--config-file",
                                      str(self.work / "berthd.json"), "-H", self.host, *self.extra],
                                     stdout=self.log, stderr=self.log, env=env, start_new_session=True)
        for _ in range(200):
            if self.sock.exists() and self.berth("version", check=False).returncode == 0:
                return self
            time.sleep(0.05)
        raise RuntimeError("berthd did not start; see berthd.log")

    def argv(self, *a):
        """The berth command line for `a` against this daemon."""
        return [self.args.berth, "-H", self.host, *a]

    def berth(self, *a, check=True, **kw):
        """Runs berth with `a`, capturing its output."""
        return subprocess.run(self.argv(*a), check=check, capture_output=True, text=True, **kw)

    def __exit__(self, *exc):
        ids = self.berth("ps", "-aq", check=False).stdout.split()
        if ids:
            self.berth("rm", "-f", *ids, check=False)
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def timed(argv, env=None):
    """Seconds `argv` took; an error (with its stderr) if it failed."""
    start = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.decode(errors='replace').strip()}")
    return elapsed


def version(argv, env=None):
    """The first line `argv` prints, or "unknown"."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, env=env).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"
