"""docker-py against berthd (DOCKER_HOST): system, images and container records, and the
exceptions docker-py raises for berthd's errors. Run by tests/interop-dockerpy.sh."""

import io
import os
import tarfile
import unittest

import docker
from docker import errors

BUSYBOX = os.path.join(os.environ["BERTH_TEST_IMAGES"], "busybox-1.35.docker.tar")


def client():
    return docker.from_env(version="auto", timeout=120)


def load_busybox(c):
    with open(BUSYBOX, "rb") as f:
        images = c.images.load(f.read())
    return images[0]


class System(unittest.TestCase):
    def test_ping_version_info(self):
        c = client()
        self.assertTrue(c.ping())
        v = c.version()
        self.assertEqual(v["ApiVersion"], "1.47")
        self.assertEqual(v["MinAPIVersion"], "1.24")
        self.assertEqual(c.api.api_version, "1.47")
        info = c.info()
        for key in ("Containers", "Images", "Driver", "DockerRootDir", "NCPU", "MemTotal", "ServerVersion"):
            self.assertIn(key, info)
        self.assertEqual(info["CgroupDriver"], "cgroupfs")


class Images(unittest.TestCase):
    def setUp(self):
        self.c = client()
        self.image = load_busybox(self.c)

    def test_load_list_get_tag_remove(self):
        self.assertIn("busybox:1.35", self.image.tags)
        listed = [i.id for i in self.c.images.list()]
        self.assertIn(self.image.id, listed)
        got = self.c.images.get("busybox:1.35")
        self.assertEqual(got.id, self.image.id)
        self.assertEqual(got.attrs["Os"], "linux")
        self.assertTrue(got.tag("pytest/box", "t1"))
        self.assertIn("pytest/box:t1", self.c.images.get(self.image.id).tags)
        self.assertEqual(len(self.c.images.list(name="pytest/box")), 1)
        history = got.history()
        self.assertEqual(history[0]["Id"], self.image.id)
        self.c.images.remove("pytest/box:t1")
        self.assertNotIn("pytest/box:t1", self.c.images.get(self.image.id).tags)

    def test_save_round_trip(self):
        data = b"".join(self.c.images.get("busybox:1.35").save())
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            self.assertIn("manifest.json", t.getnames())
        self.c.images.remove("busybox:1.35")
        again = self.c.images.load(data)
        self.assertEqual(again[0].id, self.image.id)

    def test_missing_images_raise_not_found(self):
        with self.assertRaises(errors.ImageNotFound):
            self.c.images.get("nothere:1")
        with self.assertRaises(errors.ImageNotFound):
            self.c.images.remove("nothere:1")
        with self.assertRaises(errors.NotFound) as e:
            self.c.api.inspect_image("nothere")
        self.assertEqual(e.exception.status_code, 404)
        self.assertIn("No such image", str(e.exception))


class Containers(unittest.TestCase):
    def setUp(self):
        self.c = client()
        load_busybox(self.c)
        for ctr in self.c.containers.list(all=True):
            ctr.remove(force=True)

    def test_create_list_get_rename_remove(self):
        ctr = self.c.containers.create("busybox:1.35", ["echo", "hi"], name="pyweb",
                                       labels={"suite": "dockerpy"}, environment=["A=1"])
        self.assertEqual(ctr.name, "pyweb")
        self.assertEqual(ctr.status, "created")
        self.assertIn("A=1", ctr.attrs["Config"]["Env"])
        listed = self.c.containers.list(all=True, filters={"label": "suite=dockerpy"})
        self.assertEqual([x.id for x in listed], [ctr.id])
        self.assertEqual(self.c.containers.list(), [])
        self.assertEqual(self.c.containers.get(ctr.id[:12]).id, ctr.id)
        ctr.rename("pyapi")
        ctr.reload()
        self.assertEqual(ctr.name, "pyapi")
        with self.assertRaises(errors.APIError) as e:
            self.c.containers.create("busybox:1.35", name="pyapi")
        self.assertEqual(e.exception.status_code, 409)
        ctr.remove()
        with self.assertRaises(errors.NotFound):
            self.c.containers.get("pyapi")

    def test_errors_carry_status_codes(self):
        with self.assertRaises(errors.NotFound) as e:
            self.c.containers.get("nothere")
        self.assertEqual(e.exception.status_code, 404)
        self.assertIn("No such container: nothere", str(e.exception))
        with self.assertRaises(errors.ImageNotFound):
            self.c.api.create_container("nothere:1")
        with self.assertRaises(errors.APIError) as e:
            self.c.api.containers(filters={"bogus": "x"})
        self.assertEqual(e.exception.status_code, 400)
        ctr = self.c.containers.create("busybox:1.35", name="pyused")
        with self.assertRaises(errors.APIError) as e:
            self.c.images.remove("busybox:1.35")
        self.assertEqual(e.exception.status_code, 409)
        ctr.remove()


if __name__ == "__main__":
    unittest.main()
