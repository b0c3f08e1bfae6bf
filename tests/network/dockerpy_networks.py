"""docker-py against berthd (DOCKER_HOST): networks — create with an IPAM pool and
labels, list, get, connect with aliases and an address, a container's NetworkSettings,
published ports, disconnect, remove, prune, and docker's status codes for bad input.
Run by tests/interop-network.sh (busybox:1.35 loaded already)."""

import socket
import unittest
import urllib.request

import docker
from docker import errors
from docker.types import IPAMConfig, IPAMPool


class Networks(unittest.TestCase):
    def setUp(self):
        self.c = docker.from_env(version="auto", timeout=120)
        self.made = []

    def tearDown(self):
        for ctr in self.made:
            try:
                ctr.remove(force=True)
            except errors.NotFound:
                pass
        for n in self.c.networks.list(names=["pynet", "pyother"]):
            n.remove()

    def run_detached(self, **kw):
        ctr = self.c.containers.run("busybox:1.35", ["sleep", "60"], detach=True, **kw)
        self.made.append(ctr)
        return ctr

    def test_network_lifecycle(self):
        ipam = IPAMConfig(pool_configs=[IPAMPool(subnet="10.215.9.0/24", gateway="10.215.9.254")])
        net = self.c.networks.create("pynet", driver="bridge", ipam=ipam, labels={"k": "v"})
        self.assertEqual(net.attrs["IPAM"]["Config"][0]["Subnet"], "10.215.9.0/24")
        self.assertEqual(net.attrs["IPAM"]["Config"][0]["Gateway"], "10.215.9.254")
        self.assertEqual(self.c.networks.get("pynet").attrs["Labels"], {"k": "v"})
        self.assertEqual([n.name for n in self.c.networks.list(names=["pynet"])], ["pynet"])
        with self.assertRaises(errors.APIError) as e:
            self.c.networks.create("pyother", ipam=IPAMConfig(pool_configs=[IPAMPool(subnet="10.215.9.0/25")]))
        self.assertIn("overlaps", str(e.exception))
        ctr = self.run_detached(name="pyone")
        net.connect(ctr, aliases=["one"], ipv4_address="10.215.9.7")
        ctr.reload()
        nets = ctr.attrs["NetworkSettings"]["Networks"]
        self.assertEqual(nets["pynet"]["IPAddress"], "10.215.9.7")
        self.assertEqual(nets["pynet"]["Gateway"], "10.215.9.254")
        self.assertIn("bridge", nets)
        net.reload()
        self.assertEqual([c.name for c in net.containers], ["pyone"])
        out = self.c.containers.run("busybox:1.35", ["nslookup", "one"], network="pynet", remove=True)
        self.assertIn(b"10.215.9.7", out)
        with self.assertRaises(errors.APIError) as e:
            net.remove()
        self.assertEqual(e.exception.status_code, 403)
        net.disconnect(ctr)
        net.reload()
        self.assertEqual(net.containers, [])
        net.remove()
        with self.assertRaises(errors.NotFound):
            self.c.networks.get("pynet")

    def test_published_ports_and_settings(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        ctr = self.c.containers.run(
            "busybox:1.35", ["sh", "-c", "echo py > /tmp/index.html; exec httpd -f -p 80 -h /tmp"],
            detach=True, ports={"80/tcp": port})
        self.made.append(ctr)
        ctr.reload()
        settings = ctr.attrs["NetworkSettings"]
        self.assertEqual(settings["Ports"]["80/tcp"], [{"HostIp": "0.0.0.0", "HostPort": str(port)}])
        self.assertTrue(settings["IPAddress"])
        self.assertEqual(settings["Networks"]["bridge"]["IPAddress"], settings["IPAddress"])
        for _ in range(50):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2).read()
                break
            except OSError:
                import time
                time.sleep(0.1)
        self.assertEqual(body, b"py\n")
        self.assertEqual(ctr.ports, {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]})

    def test_prune_and_errors(self):
        self.c.networks.create("pyother")
        with self.assertRaises(errors.NotFound):
            self.c.networks.get("nosuch")
        with self.assertRaises(errors.APIError) as e:
            self.c.networks.get("bridge").remove()
        self.assertEqual(e.exception.status_code, 403)
        pruned = self.c.networks.prune()
        self.assertIn("pyother", pruned["NetworksDeleted"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
