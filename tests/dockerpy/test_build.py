"""docker-py against berthd (DOCKER_HOST): images.build over the classic builder's
/build protocol — a directory context with build args and a .dockerignore, a Dockerfile
as a file object, the layer cache, a target stage, and a failing RUN raising BuildError
with its output. Run by tests/interop-dockerpy.sh."""

import io
import os
import tempfile
import unittest

import docker
from docker import errors

BUSYBOX = os.path.join(os.environ["BERTH_TEST_IMAGES"], "busybox-1.35.docker.tar")

DOCKERFILE = """FROM busybox:1.35 AS base
ARG WHO=nobody
RUN echo "hello $WHO" > /hello
FROM base
COPY . /ctx/
CMD ["cat", "/hello"]
"""


def streams(logs):
    return "".join(chunk.get("stream", "") for chunk in logs)


class Build(unittest.TestCase):
    def setUp(self):
        self.c = docker.from_env(version="auto", timeout=120)
        with open(BUSYBOX, "rb") as f:
            self.c.images.load(f.read())

    def test_build_a_directory(self):
        with tempfile.TemporaryDirectory(dir="/var/tmp") as ctx:
            for name, text in [("Dockerfile", DOCKERFILE), (".dockerignore", "*.secret\n"),
                               ("a.txt", "a\n"), ("x.secret", "s\n")]:
                with open(os.path.join(ctx, name), "w") as f:
                    f.write(text)
            image, logs = self.c.images.build(path=ctx, tag="pybuild:1", buildargs={"WHO": "py"},
                                              rm=True)
            text = streams(logs)
            self.assertIn("Successfully built", text)
            self.assertIn("pybuild:1", image.tags)
            out = self.c.containers.run("pybuild:1", remove=True)
            self.assertEqual(out, b"hello py\n")
            out = self.c.containers.run("pybuild:1", ["ls", "/ctx"], remove=True)
            self.assertEqual(out, b"Dockerfile\na.txt\n")
            again, logs = self.c.images.build(path=ctx, tag="pybuild:1", buildargs={"WHO": "py"})
            self.assertEqual(again.id, image.id)
            self.assertIn("Using cache", streams(logs))
            base, _ = self.c.images.build(path=ctx, target="base", buildargs={"WHO": "py"})
            self.assertNotEqual(base.id, image.id)
            self.assertEqual(self.c.containers.run(base.id, ["cat", "/hello"], remove=True),
                             b"hello py\n")

    def test_build_a_file_object_and_a_failure(self):
        df = io.BytesIO(b"FROM busybox:1.35\nLABEL from=fileobj\n")
        image, _ = self.c.images.build(fileobj=df, tag="pyfileobj")
        self.assertEqual(image.labels, {"from": "fileobj"})
        before = {i.id for i in self.c.images.list(all=True)}
        bad = io.BytesIO(b"FROM busybox:1.35\nENV A=1\nRUN echo failing-output; exit 5\n")
        with self.assertRaises(errors.BuildError) as e:
            self.c.images.build(fileobj=bad, rm=True)
        self.assertIn("returned a non-zero code: 5", e.exception.msg)
        self.assertIn("failing-output", streams(e.exception.build_log))
        self.assertEqual({i.id for i in self.c.images.list(all=True)}, before)
        self.assertEqual(self.c.containers.list(all=True), [])


if __name__ == "__main__":
    unittest.main()
