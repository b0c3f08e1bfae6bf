#!/usr/bin/env python3
"""Writes an OCI image layout (tag "m") of busybox plus two layers: a gzipped one that
adds /data/a, /data/b and /data/dir/x, and a plain one that deletes /data/b (a
whiteout) and replaces /data/dir (an opaque directory) with just /data/dir/y.
Usage: make-multi-layer.py BUSYBOX_OCI_TAR OUT_DIR"""
import gzip, hashlib, io, json, os, sys, tarfile

src, out = sys.argv[1], sys.argv[2]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)


def put(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest


def layer(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, content in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            else:
                data = content.encode()
                info.size, info.mode = len(data), 0o644
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


with tarfile.open(src) as t:
    read = lambda name: t.extractfile(name).read()
    index = json.loads(read("index.json"))
    manifest = json.loads(read("blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]))
    config = json.loads(read("blobs/sha256/" + manifest["config"]["digest"].split(":")[1]))
    base = manifest["layers"][0]
    put(read("blobs/sha256/" + base["digest"].split(":")[1]))

adds = layer([("data", "dir", ""), ("data/a", "file", "a\n"), ("data/b", "file", "b\n"),
              ("data/dir", "dir", ""), ("data/dir/x", "file", "x\n")])
dels = layer([("data", "dir", ""), ("data/.wh.b", "file", ""), ("data/dir", "dir", ""),
              ("data/dir/.wh..wh..opq", "file", ""), ("data/dir/y", "file", "y\n")])
adds_gz = gzip.compress(adds, mtime=0)
layers = [base,
          {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(adds_gz), "size": len(adds_gz)},
          {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(dels), "size": len(dels)}]
config["rootfs"]["diff_ids"] += ["sha256:" + hashlib.sha256(b).hexdigest() for b in (adds, dels)]
config["history"] = config.get("history", []) + [{"created": "2023-11-14T22:13:20Z", "created_by": "test"}] * 2
config_bytes = json.dumps(config).encode()
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": put(config_bytes), "size": len(config_bytes)},
            "layers": layers}
manifest_bytes = json.dumps(manifest).encode()
index = {"schemaVersion": 2, "manifests": [{
    "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(manifest_bytes),
    "size": len(manifest_bytes), "annotations": {"org.opencontainers.image.ref.name": "m"}}]}
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
print("sha256:" + hashlib.sha256(config_bytes).hexdigest())
