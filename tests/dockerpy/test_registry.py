"""docker-py against berthd (DOCKER_HOST): push to and pull from a registry (berth's own,
`berth-registry serve`, started here on a free loopback port), distribution inspect, and
login to one behind htpasswd. Run by tests/interop-dockerpy.sh."""

import os
import subprocess
import tempfile
import unittest

import docker
from docker import errors

BUSYBOX = os.path.join(os.environ["BERTH_TEST_IMAGES"], "busybox-1.35.docker.tar")
BUSYBOX_ID = "sha256:0ebe78266dec858d1daf51807eac28e2d90220e2f14088001a597919ab02955b"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REGISTRY = os.environ.get("BERTH_REGISTRY", os.path.join(REPO, "target", "debug", "berth-registry"))


def start_registry(root, *args):
    """A berth-registry on a free port: (process, host:port)."""
    proc = subprocess.Popen([REGISTRY, "serve", "--root", root, "--addr", "127.0.0.1:0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"berth-registry did not start: {line!r}")
    return proc, line.split()[-1]


class Registry(unittest.TestCase):
    def setUp(self):
        self.c = docker.from_env(version="auto", timeout=120)
        with open(BUSYBOX, "rb") as f:
            self.c.images.load(f.read())
        self.tmp = tempfile.TemporaryDirectory()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.terminate()
            p.wait()
            p.stdout.close()
        self.tmp.cleanup()

    def registry(self, name, *args):
        proc, addr = start_registry(os.path.join(self.tmp.name, name), *args)
        self.procs.append(proc)
        return addr

    def test_push_pull_inspect_distribution(self):
        reg = self.registry("open")
        repo = f"{reg}/py/busybox"
        self.c.images.get("busybox:1.35").tag(repo, "1")
        lines = list(self.c.api.push(repo, tag="1", stream=True, decode=True))
        self.assertFalse([l for l in lines if "error" in l], lines)
        aux = [l["aux"] for l in lines if "aux" in l]
        self.assertEqual(aux[0]["Tag"], "1")
        digest = aux[0]["Digest"]
        dist = self.c.api.inspect_distribution(f"{repo}:1")
        self.assertEqual(dist["Descriptor"]["digest"], digest)
        self.assertEqual(dist["Platforms"][0]["os"], "linux")
        self.c.images.remove(f"{repo}:1")
        img = self.c.images.pull(repo, tag="1")
        self.assertEqual(img.id, BUSYBOX_ID)
        self.assertIn(f"{repo}@{digest}", img.attrs["RepoDigests"])
        out = self.c.containers.run(f"{repo}:1", ["echo", "pulled"], remove=True)
        self.assertEqual(out, b"pulled\n")
        with self.assertRaises(errors.NotFound):
            self.c.images.pull(repo, tag="missing")

    def test_login(self):
        htpasswd = os.path.join(self.tmp.name, "htpasswd")
        line = subprocess.run([REGISTRY, "htpasswd", "alice"], input="s3cret\n", text=True,
                              capture_output=True, check=True).stdout
        with open(htpasswd, "w") as f:
            f.write(line)
        reg = self.registry("locked", "--htpasswd", htpasswd)
        with self.assertRaises(errors.APIError) as e:
            self.c.login("alice", "wrong", registry=reg, reauth=True)
        self.assertEqual(e.exception.status_code, 401)
        self.assertEqual(self.c.login("alice", "s3cret", registry=reg, reauth=True)["Status"],
                         "Login Succeeded")
        repo = f"{reg}/private/busybox"
        self.c.images.get("busybox:1.35").tag(repo, "1")
        auth = {"username": "alice", "password": "s3cret"}
        lines = list(self.c.api.push(repo, tag="1", stream=True, decode=True, auth_config=auth))
        self.assertFalse([l for l in lines if "error" in l], lines)
        self.c.images.remove(f"{repo}:1")
        self.assertEqual(self.c.images.pull(repo, tag="1", auth_config=auth).id, BUSYBOX_ID)


if __name__ == "__main__":
    unittest.main()
