"""docker-py against berthd (DOCKER_HOST): the rest of a container's life — files in and
out (put_archive/get_archive), stats, update, restart policies, events, container prune
and system df. Run by tests/interop-dockerpy.sh."""

import io
import os
import tarfile
import time
import unittest

import docker

BUSYBOX = os.path.join(os.environ["BERTH_TEST_IMAGES"], "busybox-1.35.docker.tar")


def client():
    return docker.from_env(version="auto", timeout=120)


def one_file_tar(name, data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Life(unittest.TestCase):
    def setUp(self):
        self.c = client()
        with open(BUSYBOX, "rb") as f:
            self.c.images.load(f.read())
        for ctr in self.c.containers.list(all=True):
            ctr.remove(force=True)

    def test_archive_both_ways(self):
        ctr = self.c.containers.run("busybox:1.35", ["sleep", "100"], detach=True)
        self.assertTrue(ctr.put_archive("/tmp", one_file_tar("in.txt", b"hello\n")))
        self.assertEqual(ctr.exec_run(["cat", "/tmp/in.txt"]).output, b"hello\n")
        stream, stat = ctr.get_archive("/tmp/in.txt")
        self.assertEqual(stat["name"], "in.txt")
        self.assertEqual(stat["size"], 6)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
            self.assertEqual(t.extractfile("in.txt").read(), b"hello\n")
        ctr.remove(force=True)

    def test_stats_and_update(self):
        ctr = self.c.containers.run("busybox:1.35", ["sleep", "100"], detach=True)
        s = ctr.stats(stream=False)
        self.assertEqual(s["id"], ctr.id)
        self.assertIn("total_usage", s["cpu_stats"]["cpu_usage"])
        self.assertGreater(s["memory_stats"]["usage"], 0)
        self.assertEqual(s["pids_stats"]["current"], 1)
        ctr.update(mem_limit="64m", memswap_limit="-1")
        ctr.reload()
        self.assertEqual(ctr.attrs["HostConfig"]["Memory"], 64 << 20)
        self.assertEqual(ctr.stats(stream=False)["memory_stats"]["limit"], 64 << 20)
        ctr.remove(force=True)

    def test_restart_policy_and_events(self):
        since = int(time.time()) - 1
        ctr = self.c.containers.run("busybox:1.35", ["sh", "-c", "exit 3"], detach=True,
                                    restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
        deadline = time.time() + 15
        while True:
            ctr.reload()
            if ctr.attrs["RestartCount"] == 2 and ctr.status == "exited":
                break
            self.assertLess(time.time(), deadline, ctr.attrs["State"])
            time.sleep(0.2)
        self.assertEqual(ctr.attrs["State"]["ExitCode"], 3)
        events = list(self.c.events(since=since, until=int(time.time()) + 1, decode=True,
                                    filters={"container": ctr.id, "event": "start"}))
        self.assertEqual(len(events), 3, events)
        self.assertTrue(all(e["Action"] == "start" for e in events))
        ctr.remove()

    def test_prune_and_df(self):
        stopped = self.c.containers.run("busybox:1.35", ["true"], detach=True)
        stopped.wait()
        running = self.c.containers.run("busybox:1.35", ["sleep", "100"], detach=True)
        df = self.c.df()
        self.assertEqual(len(df["Containers"]), 2)
        self.assertTrue(any(i["RepoTags"] == ["busybox:1.35"] for i in df["Images"]))
        pruned = self.c.containers.prune()
        self.assertEqual(pruned["ContainersDeleted"], [stopped.id])
        self.assertEqual([c.id for c in self.c.containers.list(all=True)], [running.id])
        running.remove(force=True)


if __name__ == "__main__":
    unittest.main()
