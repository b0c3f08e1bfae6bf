"""Network JSON on dockerd and berthd: the same user network (a subnet, a gateway, a
label) and a container on it with an alias and a published port; network list and
inspect, container inspect and list must carry dockerd's keys with the same types
(tests/fidelity/compare.py's rules). Used by tests/interop-network.sh.

Usage: compare_networks.py DOCKER_SOCKET BERTH_SOCKET BUSYBOX_TAR
"""

import json
import os
import sys
import time
from urllib.parse import quote

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fidelity"))
from compare import call, compare  # noqa: E402


def setup(sock, tar):
    call(sock, "POST", "/images/load?quiet=1", raw=open(tar, "rb").read())
    net = {"Name": "fidnet", "Driver": "bridge", "Labels": {"k": "v"},
           "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.216.5.0/24", "Gateway": "10.216.5.1"}]}}
    nid = json.loads(call(sock, "POST", "/networks/create", net))["Id"]
    cfg = {"Image": "busybox:1.35", "Cmd": ["sleep", "100"], "ExposedPorts": {"80/tcp": {}},
           "HostConfig": {"NetworkMode": "fidnet", "PortBindings": {"80/tcp": [{"HostPort": ""}]}},
           "NetworkingConfig": {"EndpointsConfig": {"fidnet": {"Aliases": ["fa"]}}}}
    cid = json.loads(call(sock, "POST", "/containers/create?name=fidctr", cfg))["Id"]
    call(sock, "POST", f"/containers/{cid}/start")
    time.sleep(0.3)
    return nid, cid


def main():
    dsock, bsock, tar = sys.argv[1:4]
    try:
        failed = run(dsock, bsock, tar)
    finally:
        for s in (dsock, bsock):
            for url in ("/containers/fidctr?force=1", "/networks/fidnet"):
                try:
                    call(s, "DELETE", url)
                except RuntimeError:
                    pass
    print(f"{failed} differences")
    sys.exit(1 if failed else 0)


def run(dsock, bsock, tar):
    for s in (dsock, bsock):
        setup(s, tar)
    urls = [("network list", "/networks?filters=" + quote('{"name":["fidnet"]}')),
            ("network inspect", "/networks/fidnet"),
            ("container inspect", "/containers/fidctr/json"),
            ("container list", "/containers/json")]
    failed = 0
    for name, url in urls:
        d, b = json.loads(call(dsock, "GET", url)), json.loads(call(bsock, "GET", url))
        out = []
        if name == "network inspect":
            compare("", {**d, "Containers": {}}, {**b, "Containers": {}}, out)
        else:
            compare("", d, b, out)
        # The endpoint maps are data keyed by names: compare one entry of each.
        if name == "container inspect":
            compare("Networks.fidnet", d["NetworkSettings"]["Networks"]["fidnet"],
                    b["NetworkSettings"]["Networks"]["fidnet"], out)
            compare("Ports", d["NetworkSettings"]["Ports"], b["NetworkSettings"]["Ports"], out)
        if name == "network inspect":
            compare("Containers[]", next(iter(d["Containers"].values())),
                    next(iter(b["Containers"].values())), out)
        # API 1.44 added DNSNames; the dockerd compared with speaks 1.41.
        out = [o for o in out if not o.startswith("Networks.fidnet.DNSNames")]
        print(f"== {name}: {'ok' if not out else str(len(out)) + ' differences'}")
        for line in out:
            print("   " + line)
        failed += len(out)
    return failed


if __name__ == "__main__":
    main()
