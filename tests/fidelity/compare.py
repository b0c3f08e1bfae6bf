"""Same requests to dockerd and berthd, same image and containers: the JSON answers must
carry the same keys at every level, with the same types (null where dockerd sends null).
Values differ (ids, times, paths) and are not compared. Used by tests/interop-fidelity.sh.

Usage: compare.py DOCKER_SOCKET BERTH_SOCKET BUSYBOX_TAR
"""

import http.client
import json
import socket
import sys
import time


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def call(sock, method, url, body=None, raw=None):
    c = UnixHTTP(sock)
    headers = {}
    data = raw
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    c.request(method, "/v1.41" + url, body=data, headers=headers)
    r = c.getresponse()
    out = r.read()
    c.close()
    if r.status >= 400:
        raise RuntimeError(f"{method} {url}: {r.status} {out[:300]!r}")
    return out


def kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


# Maps whose keys are data (names, paths, label keys), not fields: only their type counts.
FREE_KEYS = {"Labels", "Config.Labels", "Volumes", "Config.Volumes", "Options", "Networks",
             "NetworkSettings.Networks", "Ports", "NetworkSettings.Ports", "Attributes",
             "Actor.Attributes", "ExposedPorts", "Config.ExposedPorts", "stats", "LogConfig.Config",
             "HostConfig.LogConfig.Config", "memory_stats.stats", "Data", "GraphDriver.Data",
             "Driver", "Tmpfs", "HostConfig.Tmpfs", "Runtimes", "IndexConfigs",
             "RegistryConfig.IndexConfigs"}


# Lists dockerd itself sends as null or as an array depending on the moment: ExecIDs is
# null unless an exec (a health probe counts, on dockerd) runs right then.
MOMENTARY_LISTS = {"ExecIDs"}


def compare(path, d, b, out):
    kd, kb = kind(d), kind(b)
    if path in MOMENTARY_LISTS and {kd, kb} <= {"null", "array"}:
        return
    if kd != kb:
        # dockerd sends null for an empty list or map in places; berth may too.
        out.append(f"{path or '.'}: dockerd {kd}, berthd {kb}")
        return
    if kd == "object":
        short = path.split(".", 1)[-1] if "." in path else path
        if path in FREE_KEYS or short in FREE_KEYS or path.split(".")[-1] in FREE_KEYS:
            return
        for k in sorted(set(d) | set(b)):
            sub = f"{path}.{k}" if path else k
            if k not in b:
                out.append(f"{sub}: missing in berthd")
            elif k not in d:
                out.append(f"{sub}: not in dockerd")
            else:
                compare(sub, d[k], b[k], out)
    elif kd == "array" and d and b:
        compare(path + "[]", d[0], b[0], out)


def setup(sock, tar):
    call(sock, "POST", "/images/load?quiet=1", raw=open(tar, "rb").read())
    # The container writes a file: dockerd leaves a container's size out when it is 0.
    cfg = {"Image": "busybox:1.35", "Cmd": ["sh", "-c", "echo x > /f; sleep 100"], "Labels": {"l": "v"},
           "HostConfig": {"NetworkMode": "none", "Binds": ["fidvol:/data"]},
           "Healthcheck": {"Test": ["CMD-SHELL", "echo probed"], "Interval": 200000000}}
    cid = json.loads(call(sock, "POST", "/containers/create?name=fid", cfg))["Id"]
    call(sock, "POST", f"/containers/{cid}/start")
    ex = json.loads(call(sock, "POST", f"/containers/{cid}/exec", {"Cmd": ["true"]}))["Id"]
    call(sock, "POST", f"/exec/{ex}/start", {"Detach": True})
    time.sleep(0.8)
    return cid, ex


ENDPOINTS = [
    ("version", "/version"),
    ("info", "/info"),
    ("container list", "/containers/json?all=1"),
    ("container inspect", "/containers/fid/json"),
    ("image list", "/images/json"),
    ("image inspect", "/images/busybox:1.35/json"),
    ("volume list", "/volumes"),
    ("volume inspect", "/volumes/fidvol"),
    ("system df", "/system/df"),
]


def main():
    dsock, bsock, tar = sys.argv[1:4]
    ids = {s: setup(s, tar) for s in (dsock, bsock)}
    docs = []
    for name, url in ENDPOINTS:
        docs.append((name, json.loads(call(dsock, "GET", url)), json.loads(call(bsock, "GET", url))))
    docs.append(("exec inspect", json.loads(call(dsock, "GET", f"/exec/{ids[dsock][1]}/json")),
                 json.loads(call(bsock, "GET", f"/exec/{ids[bsock][1]}/json"))))
    now = int(time.time())
    ev = lambda s: [json.loads(l) for l in call(s, "GET", f"/events?since={now - 60}&until={now}").splitlines() if l.strip()]
    de, be = ev(dsock), ev(bsock)
    pick = lambda evs, t, a: next((e for e in evs if e.get("Type") == t and e.get("Action") == a), None)
    for t, a in (("container", "create"), ("container", "start"), ("volume", "create")):
        if pick(de, t, a) is not None:
            docs.append((f"event {t} {a}", pick(de, t, a), pick(be, t, a) or {}))
    failed = 0
    for name, d, b in docs:
        out = []
        compare("", d, b, out)
        print(f"== {name}: {'ok' if not out else str(len(out)) + ' differences'}")
        for line in out:
            print("   " + line)
        failed += len(out)
    for s in (dsock, bsock):
        call(s, "DELETE", "/containers/fid?force=1&v=1")
        call(s, "DELETE", "/volumes/fidvol")
    print(f"{failed} differences")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
