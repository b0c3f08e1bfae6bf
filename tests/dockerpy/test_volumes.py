"""docker-py against berthd (DOCKER_HOST): volumes — create, list, get, remove, prune,
and containers that mount them (named, bind, tmpfs). Run by tests/interop-dockerpy.sh."""

import os
import tempfile
import unittest

import docker
from docker import errors

BUSYBOX = os.path.join(os.environ["BERTH_TEST_IMAGES"], "busybox-1.35.docker.tar")


class Volumes(unittest.TestCase):
    def setUp(self):
        self.c = docker.from_env(version="auto", timeout=120)
        with open(BUSYBOX, "rb") as f:
            self.c.images.load(f.read())
        for ctr in self.c.containers.list(all=True):
            ctr.remove(force=True)
        for v in self.c.volumes.list():
            v.remove(force=True)

    def test_volume_lifecycle_and_mounts(self):
        v = self.c.volumes.create(name="pyvol", labels={"team": "a"})
        self.assertEqual(v.name, "pyvol")
        self.assertEqual(v.attrs["Driver"], "local")
        self.assertEqual(self.c.volumes.get("pyvol").attrs["Labels"], {"team": "a"})
        self.assertEqual([x.name for x in self.c.volumes.list(filters={"label": "team=a"})], ["pyvol"])
        out = self.c.containers.run("busybox:1.35", ["sh", "-c", "echo x > /d/f; cat /d/f"],
                                    volumes={"pyvol": {"bind": "/d", "mode": "rw"}}, remove=True)
        self.assertEqual(out, b"x\n")
        with tempfile.TemporaryDirectory(dir="/var/tmp") as host:
            with open(os.path.join(host, "in"), "w") as f:
                f.write("host\n")
            out = self.c.containers.run("busybox:1.35", ["cat", "/h/in"],
                                        volumes={host: {"bind": "/h", "mode": "ro"}}, remove=True)
            self.assertEqual(out, b"host\n")
        out = self.c.containers.run("busybox:1.35", ["sh", "-c", "grep -c ' /t tmpfs' /proc/mounts"],
                                    tmpfs={"/t": "size=1m"}, remove=True)
        self.assertEqual(out, b"1\n")
        ctr = self.c.containers.create("busybox:1.35", ["true"], volumes=["/anon"])
        mounts = ctr.attrs["Mounts"]
        self.assertEqual(len(mounts), 1)
        self.assertEqual(mounts[0]["Destination"], "/anon")
        with self.assertRaises(errors.APIError) as e:
            self.c.volumes.get(mounts[0]["Name"]).remove()
        self.assertEqual(e.exception.status_code, 409)
        ctr.remove(v=True)
        self.assertEqual([x.name for x in self.c.volumes.list()], ["pyvol"])
        pruned = self.c.volumes.prune(filters={"all": "true"})
        self.assertEqual(pruned["VolumesDeleted"], ["pyvol"])
        with self.assertRaises(errors.NotFound):
            self.c.volumes.get("pyvol")
        with self.assertRaises(errors.APIError) as e:
            self.c.volumes.create(name="bad/name")
        self.assertEqual(e.exception.status_code, 400)


if __name__ == "__main__":
    unittest.main()
