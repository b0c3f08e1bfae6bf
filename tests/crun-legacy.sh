#!/bin/sh
# Runs crun in a private mount namespace in which /sys/fs/cgroup/unified is an empty
# tmpfs. crun 1.8 refuses this machine's hybrid cgroup layout (v1 controllers plus a v2
# hierarchy that holds hugetlb); hiding the v2 mount makes it use plain cgroup v1. What
# crun writes into the stand-in tmpfs vanishes with the namespace.
# Usage: tests/crun-legacy.sh <crun arguments...>  (e.g. as BERTH_TEST_RUNTIME)
# shellcheck disable=SC2016 # expanded by the inner shell
exec unshare -m --propagation private sh -c '
    umount /sys/fs/cgroup/unified 2>/dev/null && mount -t tmpfs -o size=1m none /sys/fs/cgroup/unified
    exec "${CRUN:-/usr/bin/crun}" "$@"' crun-legacy "$@"
