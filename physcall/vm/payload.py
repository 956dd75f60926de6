"""The host files the guest runs with, packed into an uncompressed cpio that follows the initramfs.

Why not a live share of the host's ``/``: a preserve-context kexec jump (like hibernation) freezes and
restores every device; ``virtio_device_restore`` resets a virtio device and 9pnet_virtio has no
``.restore`` to set its queues up again, so a virtio-9p mount hangs forever after the first jump
(measured: with ``/sys/power/pm_test=devices`` the next exec from the share never returned). The guest's
files therefore live in its RAM: this interpreter (stdlib without tests/tk/idle), the site-packages of
physcall's dependencies, kexec-tools/hwinfo/vbetool, the shared libraries they all load (``ldd``) and
this checkout — each at its host path, so ``guest.python`` is ``sys.executable`` and the checkout is where
it is on the host. The checkout is a snapshot taken when the guest boots.

Example::

    >>> from physcall.vm import payload
    >>> files, links = payload.collect()                  # doctest: +SKIP
    >>> payload.build_payload().name                      # doctest: +SKIP
    'payload.cpio'
"""

import hashlib
import importlib.metadata
import logging
import os
import pathlib
import re
import stat
import subprocess
import sys
import sysconfig
import tempfile

from physcall import resources
from physcall.vm import host

log = logging.getLogger("physcall.vm")
DISTRIBUTIONS = ["cffi", "keystone-engine", "unicorn", "pyelftools", "capstone"]  # pyproject + their deps
TOOLS = ["/usr/sbin/kexec", "/usr/sbin/hwinfo", "/usr/sbin/vbetool"]
DATA = ["/etc/ld.so.cache"]
STDLIB_SKIP = {"test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages",
               "pydoc_data", "__phello__", "distutils", "venv", "sqlite3", "dbm", "curses"}
SKIP_SUFFIXES = (".a", ".opt-1.pyc", ".opt-2.pyc", ".exe")
# extension modules the guest never needs, and whose libraries (Tk/X11, OpenSSL, sqlite) would cost RAM
SKIP_MODULES = re.compile(r"/lib-dynload/(_tkinter|_ssl|_hashlib|_sqlite3|_dbm|_gdbm|_curses|_test|xx|"
                          r"_ctypes_test|_xxtestfuzz|_lzma|_bz2|nis|readline)[^/]*\.so$")
FORMAT = b"physcall-payload-2"


class Collector:
    """Files (by canonical path) and the symlinks on the way to them, like the host has them."""

    def __init__(self):
        self.files, self.links = set(), {}

    def add(self, path):
        """Add ``path``; every symlink along it (``/lib -> usr/lib``) is added and followed."""
        parts = pathlib.PurePosixPath(os.path.abspath(path)).parts
        cur = "/"
        for i, part in enumerate(parts[1:], 2):
            cur = os.path.join(cur, part)
            if os.path.islink(cur):
                self.links[cur] = os.readlink(cur)
                target = os.path.normpath(os.path.join(os.path.dirname(cur), self.links[cur]))
                return self.add(os.path.join(target, *parts[i:]))
        if os.path.isfile(cur) and not cur.endswith(SKIP_SUFFIXES) and not SKIP_MODULES.search(cur):
            self.files.add(cur)

    def add_tree(self, top, skip=()):
        for root, dirs, names in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d not in skip and not d.startswith(".git"))
            for name in names:
                self.add(os.path.join(root, name))


def _distribution_files(names):
    """Every file of the named distributions and of what they require (cffi -> pycparser)."""
    seen, todo, out = set(), list(names), []
    while todo:
        try:
            dist = importlib.metadata.distribution(todo.pop())
        except importlib.metadata.PackageNotFoundError:  # a requirement for another Python version
            continue
        if dist.metadata["Name"].lower() in seen:
            continue
        seen.add(dist.metadata["Name"].lower())
        out += [str(dist.locate_file(f)) for f in dist.files or ()]
        for req in dist.requires or ():
            if "extra ==" not in req:
                todo.append(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0])
    return out


def _needed_libraries(elf_files):
    """Shared libraries (and the loader) that ``ldd`` says the given ELF files load."""
    libs = set()
    for path in elf_files:
        out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        libs.update(re.findall(r"(?:=>\s*|^\s*)(/\S+)\s+\(0x", out, re.M))
    return libs


def _is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def collect():
    """``(files, links)``: what the guest needs, as sets/dicts of host paths."""
    c = Collector()
    stdlib = sysconfig.get_paths()["stdlib"]
    bindir = os.path.dirname(os.path.realpath(sys.executable))
    for name in ("python3", "python", os.path.basename(os.path.realpath(sys.executable))):
        c.add(os.path.join(bindir, name))  # python3 -> python3.11 links: `python3` works in the guest
    libpl = os.path.basename(sysconfig.get_config_var("LIBPL") or "")  # config-3.11-...: libpython.a
    c.add_tree(stdlib, skip=STDLIB_SKIP | {libpl})
    for path in _distribution_files(DISTRIBUTIONS) + TOOLS + DATA:
        c.add(path)
    # the checkout (tests and examples run in the guest too), or an installed physcall's own package:
    # never the whole site-packages it sits in
    c.add_tree(str(resources.CHECKOUT or resources.PACKAGE), skip={".pytest_cache", ".hypothesis", ".venv"})
    from physcall import toolchain        # the guest has no gcc: it takes the host's build directory
    c.add_tree(str(toolchain.build_trampoline().parent))
    for lib in _needed_libraries(sorted(f for f in c.files if _is_elf(f))):
        c.add(lib)
    return c.files, c.links


def cache_key(files, links):
    """sha256 over path, size and mtime of every file and over every link: any change repacks."""
    digest = hashlib.sha256(FORMAT)
    for path in sorted(files):
        st = os.stat(path)
        digest.update(b"%s\0%d\0%d\0" % (path.encode(), st.st_size, st.st_mtime_ns))
    for path in sorted(links):
        digest.update(b"L%s\0%s\0" % (path.encode(), links[path].encode()))
    return digest.hexdigest()[:16]


def entries(files, links):
    """``(name, mode, data_or_path)`` in an order the kernel can unpack: parents before children."""
    dirs = set()
    for path in list(files) + list(links):
        parent = os.path.dirname(path)
        while parent not in ("/", "") and parent not in dirs:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    out = [(d, stat.S_IFDIR | 0o755, b"") for d in sorted(dirs) if d not in links]
    out += [(l, stat.S_IFLNK | 0o777, links[l].encode()) for l in sorted(links)]
    out += [(f, stat.S_IFREG | (os.stat(f).st_mode & 0o7777), f) for f in sorted(files)]
    return out


def build_payload(progress=log.info):
    """Path of the cached uncompressed payload cpio for the current host files (packed if absent)."""
    from physcall.vm.initramfs import write_newc  # one cpio writer for both archives
    files, links = collect()
    final = host.cache_dir("payload", cache_key(files, links)) / "payload.cpio"
    if final.is_file():
        return final
    progress("packing %d host files for the guest into %s" % (len(files), final))
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as out, tempfile.TemporaryDirectory() as scratch:
        write_newc(out, [(n.lstrip("/"), m, _stripped(d, scratch)) for n, m, d in entries(files, links)])
    os.rename(tmp, final)
    _prune(final.parent.parent, keep=final.parent)
    return final


def _stripped(data, scratch, threshold=1 << 20):
    """A big ELF file without its symbol tables (libpython: 23 -> 6 MB of guest RAM), else ``data``."""
    if not isinstance(data, str) or os.path.getsize(data) < threshold or not _is_elf(data):
        return data
    out = os.path.join(scratch, "%d-%s" % (len(os.listdir(scratch)), os.path.basename(data)))
    done = subprocess.run(["strip", "--strip-unneeded", "-o", out, data], capture_output=True)
    return out if done.returncode == 0 else data


def _prune(root, keep, count=2):
    """Keep the newest few payloads (each ~100 MB): the checkout changes all the time."""
    old = sorted((p for p in root.iterdir() if p.is_dir() and p != keep), key=lambda p: p.stat().st_mtime)
    for path in old[:-count] if count else old:
        for f in path.iterdir():
            f.unlink()
        path.rmdir()
