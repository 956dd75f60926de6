"""The guest's initramfs: static busybox, ``init.sh`` as /init, and the command agent.

This small gzip archive is followed (in the same ``-initrd`` file; the kernel unpacks concatenated
archives) by the uncompressed payload of host files from :mod:`physcall.vm.payload`. Measured: the
first design shared the host's ``/`` over virtio-9p (boot-to-ready 3.9 s, first ``import physcall``
1.8 s under TCG), but a virtio-9p mount does not survive the device freeze/restore of a kexec jump.

The archive is written here (cpio "newc") rather than with cpio(1), so /dev/console can be a device
node without mknod and the bytes are reproducible (mtime 0, uid 0).

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
import shutil
import stat
import tempfile

from physcall.vm import host

log = logging.getLogger("physcall.vm")
HERE = pathlib.Path(__file__).parent
BUSYBOX = "/bin/busybox"
FORMAT = b"physcall-initramfs-3"  # bump when the layout below changes: it is part of the cache key
DIRS = ["bin", "dev", "proc", "sys", "tmp"]


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


def _newc_header(out, ino, name, mode, size, rdev=(0, 0), mtime=0):
    """One cpio "newc" header + name (Documentation/driver-api/early-userspace/buffer-format.rst)."""
    name_b = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, mtime, size, 0, 0, rdev[0], rdev[1], len(name_b), 0)
    out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + name_b)
    out.write(b"\0" * (-(110 + len(name_b)) % 4))


def write_newc(out, entries):
    """Write ``(name, mode, data[, rdev])`` entries and the trailer; ``data`` is bytes or a file path.

    A file keeps its mtime (the kernel restores it): CPython trusts a ``.pyc`` only if the source's
    mtime matches, and recompiling the stdlib under TCG costs seconds.
    """
    for ino, entry in enumerate(entries, 1):
        name, mode, data = entry[:3]
        size = os.path.getsize(data) if isinstance(data, str) else len(data)
        mtime = int(os.stat(data).st_mtime) if isinstance(data, str) else 0
        _newc_header(out, ino, name, mode, size, *(entry[3:] or [(0, 0)]), mtime=mtime)
        if isinstance(data, str):
            with open(data, "rb") as f:
                shutil.copyfileobj(f, out)
        else:
            out.write(data)
        out.write(b"\0" * (-size % 4))
    _newc_header(out, 0, "TRAILER!!!", 0, 0)


def archive(files):
    """The gzip-compressed newc archive of DIRS, /dev/console and ``files``."""
    entries = [(d, stat.S_IFDIR | 0o755, b"") for d in DIRS]
    entries.append(("dev/console", stat.S_IFCHR | 0o600, b"", (5, 1)))  # opened before /init runs
    entries += [(n, stat.S_IFREG | files[n][0], files[n][1]) for n in sorted(files)]
    raw = io.BytesIO()
    write_newc(raw, entries)
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
