"""The guest's initramfs: static busybox, ``init.sh`` as /init, and the command agent.

Why this shape (measured, see the report in ``bench/bench_vm.py``): the guest uses the *host's* Python,
libraries and tools over a read-only virtio-9p share of ``/`` instead of packing CPython and its
site-packages into the initramfs. The initramfs stays ~1 MiB (a packed Python + unicorn/keystone would
be tens of MiB to copy and unpack on every TCG boot), nothing needs rebuilding when the host's packages
change, and the checkout is visible at the same absolute path.

The archive is written here (cpio "newc", gzip) rather than with cpio(1), so /dev/console can be a
device node without mknod and the bytes are reproducible (mtime 0, uid 0).

Example::

    >>> from physcall.vm import initramfs
    >>> initramfs.build_initramfs().name                 # doctest: +SKIP
    'initramfs.cpio.gz'
"""

import gzip
import hashlib
import io
import logging
import os
import pathlib
import stat
import tempfile

from physcall.vm import host

log = logging.getLogger("physcall.vm")
HERE = pathlib.Path(__file__).parent
BUSYBOX = "/bin/busybox"
FORMAT = b"physcall-initramfs-1"  # bump when the layout below changes: it is part of the cache key
DIRS = ["bin", "dev", "proc", "sys", "host", "tmp"]


def inputs(busybox=BUSYBOX):
    """``{archive path: (mode, bytes)}`` of the regular files that go into the archive."""
    return {
        "init": (0o755, (HERE / "init.sh").read_bytes()),
        "agent.py": (0o644, (HERE / "agent.py").read_bytes()),
        "bin/busybox": (0o755, pathlib.Path(busybox).read_bytes()),
    }


def cache_key(files):
    """sha256 over the format tag and every input file: any change gives a new archive."""
    digest = hashlib.sha256(FORMAT)
    for name in sorted(files):
        mode, data = files[name]
        digest.update(b"%s\0%o\0%d\0" % (name.encode(), mode, len(data)) + data)
    return digest.hexdigest()[:16]


def _newc(out, ino, name, mode, data=b"", rdev=(0, 0)):
    """One cpio "newc" record (linux/Documentation/driver-api/early-userspace/buffer-format.rst)."""
    name_b = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0)
    out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + name_b)
    out.write(b"\0" * (-(110 + len(name_b)) % 4) + data + b"\0" * (-len(data) % 4))


def archive(files):
    """The gzip-compressed newc archive of DIRS, /dev/console and ``files``."""
    entries = [(d, stat.S_IFDIR | 0o755, b"", (0, 0)) for d in DIRS]
    entries.append(("dev/console", stat.S_IFCHR | 0o600, b"", (5, 1)))  # opened before /init runs
    entries += [(n, stat.S_IFREG | files[n][0], files[n][1], (0, 0)) for n in sorted(files)]
    raw = io.BytesIO()
    for ino, (name, mode, data, rdev) in enumerate(entries, 1):
        _newc(raw, ino, name, mode, data, rdev)
    _newc(raw, 0, "TRAILER!!!", 0)
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


def build_initramfs(progress=log.info):
    """Path of the cached initramfs for the current inputs, written atomically if absent."""
    files = inputs()
    final = host.cache_dir("initramfs", cache_key(files)) / "initramfs.cpio.gz"
    if final.is_file():
        return final
    progress("writing initramfs %s" % final)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(archive(files))
    os.rename(tmp, final)
    return final
