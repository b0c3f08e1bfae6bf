"""docker-py against berthd (DOCKER_HOST): containers' lives — run (attached and
detached), logs, exec_run, wait, stop, kill, restart, pause, top, remove. Run by
tests/interop-dockerpy.sh."""

import os
import time
import unittest

import docker
from docker import errors

BUSYBOX = os.path.join(os.environ["BERTH_TEST_IMAGES"], "busybox-1.35.docker.tar")


def client():
    return docker.from_env(version="auto", timeout=120)


class Lives(unittest.TestCase):
    def setUp(self):
        self.c = client()
        with open(BUSYBOX, "rb") as f:
            self.c.images.load(f.read())
        for ctr in self.c.containers.list(all=True):
            ctr.remove(force=True)

    def test_run_attached_and_removed(self):
        out = self.c.containers.run("busybox:1.35", ["sh", "-c", "echo hi; echo err >&2"],
                                    remove=True, stderr=True)
        self.assertEqual(out, b"hi\nerr\n")
        self.assertEqual(self.c.containers.list(all=True), [])
        with self.assertRaises(errors.ContainerError) as e:
            self.c.containers.run("busybox:1.35", ["sh", "-c", "echo bad >&2; exit 3"])
        self.assertEqual(e.exception.exit_status, 3)
        self.assertIn(b"bad", e.exception.stderr)

    def test_detached_logs_exec_wait_stop(self):
        ctr = self.c.containers.run(
            "busybox:1.35",
            ["sh", "-c", "for i in 1 2 3; do echo l$i; done; sleep 100"],
            detach=True, name="pybg")
        deadline = time.time() + 10
        while b"l3" not in ctr.logs() and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(ctr.logs(), b"l1\nl2\nl3\n")
        self.assertEqual(ctr.logs(tail=1), b"l3\n")
        ctr.reload()
        self.assertEqual(ctr.status, "running")
        res = ctr.exec_run(["sh", "-c", "echo in-exec; exit 5"])
        self.assertEqual((res.exit_code, res.output), (5, b"in-exec\n"))
        res = ctr.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
        self.assertEqual(res.output, (b"out\n", b"err\n"))
        top = ctr.top()
        self.assertIn("PID", top["Titles"])
        ctr.pause()
        ctr.reload()
        self.assertEqual(ctr.status, "paused")
        ctr.unpause()
        stream = ctr.logs(stream=True, follow=True)
        ctr.stop(timeout=1)
        self.assertEqual(b"".join(stream), b"l1\nl2\nl3\n")
        self.assertEqual(ctr.wait()["StatusCode"], 137)
        ctr.reload()
        self.assertEqual(ctr.attrs["State"]["ExitCode"], 137)
        ctr.remove()

    def test_kill_restart_and_remove_force(self):
        ctr = self.c.containers.run("busybox:1.35", ["sleep", "100"], detach=True)
        ctr.kill(signal="SIGKILL")
        self.assertEqual(ctr.wait()["StatusCode"], 137)
        with self.assertRaises(errors.APIError) as e:
            ctr.kill()
        self.assertEqual(e.exception.status_code, 409)
        ctr.restart(timeout=1)
        ctr.reload()
        self.assertEqual(ctr.status, "running")
        with self.assertRaises(errors.APIError) as e:
            ctr.remove()
        self.assertEqual(e.exception.status_code, 409)
        ctr.remove(force=True)
        with self.assertRaises(errors.NotFound):
            self.c.containers.get(ctr.id)


    def test_healthcheck(self):
        ctr = self.c.containers.run(
            "busybox:1.35", ["sleep", "100"], detach=True,
            healthcheck={"test": ["CMD-SHELL", "test -f /tmp/up"], "interval": 200_000_000,
                         "retries": 1})
        deadline = time.time() + 10
        while ctr.attrs["State"].get("Health", {}).get("Status") != "unhealthy":
            self.assertLess(time.time(), deadline, ctr.attrs["State"])
            time.sleep(0.1)
            ctr.reload()
        ctr.exec_run(["touch", "/tmp/up"])
        while ctr.attrs["State"]["Health"]["Status"] != "healthy":
            self.assertLess(time.time(), deadline, ctr.attrs["State"])
            time.sleep(0.1)
            ctr.reload()
        self.assertEqual(ctr.attrs["State"]["Health"]["FailingStreak"], 0)
        self.assertEqual(ctr.attrs["Config"]["Healthcheck"]["Test"], ["CMD-SHELL", "test -f /tmp/up"])
        self.assertEqual([x.id for x in self.c.containers.list(filters={"health": "healthy"})], [ctr.id])
        ctr.remove(force=True)


if __name__ == "__main__":
    unittest.main()
