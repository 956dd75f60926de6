"""Host-side facts for the test machine: cache directory, required packages, Debian archive URI.

Example::

    >>> from physcall.vm import host
    >>> host.cache_dir("kernel").name
    'kernel'
"""

import os
import pathlib
import re
import shutil

from physcall.cache import cache_dir  # noqa: F401  (the one owner of the cache; re-exported for vm)
from physcall.vm.errors import SetupError

# package -> a file it installs that we rely on; checked before any download or boot.
REQUIRED = {
    "qemu-system-x86": "/usr/bin/qemu-system-x86_64",
    "busybox-static": "/bin/busybox",
    "kexec-tools": "/usr/sbin/kexec",
    "hwinfo": "/usr/sbin/hwinfo",
    "vbetool": "/usr/sbin/vbetool",
    "debian-archive-keyring": "/usr/share/keyrings/debian-archive-keyring.gpg",
}
# The kernel build (tinyconfig + kernel.fragment): objtool needs libelf; no module signing or trusted
# keyring, so no openssl; no BTF, so no pahole; the initramfs is written in Python, so no cpio.
BUILD_REQUIRED = {
    "build-essential": "/usr/bin/gcc",
    "make": "/usr/bin/make",
    "bc": "/usr/bin/bc",
    "bison": "/usr/bin/bison",
    "flex": "/usr/bin/flex",
    "libelf-dev": "/usr/include/libelf.h",
    "xz-utils": "/usr/bin/xz",
}
DEB_SOURCES = pathlib.Path("/etc/apt/sources.list.d/debian.sources")
SOURCES_LIST = pathlib.Path("/etc/apt/sources.list")


def require_packages(build=False):
    """Raise one SetupError listing every missing package and the exact command that installs them."""
    wanted = dict(REQUIRED, **(BUILD_REQUIRED if build else {}))
    missing = sorted({pkg for pkg, probe in wanted.items() if not os.path.exists(probe)})
    if missing:
        raise SetupError(
            "physcall vm: missing host packages: %s\n  fix: apt-get install -y %s"
            % (", ".join(missing), " ".join(missing))
        )


def debian_archive_uri():
    """The host's own Debian archive URI (the one serving ``.../debian``), never a literal mirror name."""
    if os.environ.get("PHYSCALL_DEBIAN_URI"):
        return os.environ["PHYSCALL_DEBIAN_URI"].rstrip("/")
    for text in _source_texts():
        for uri in re.findall(r"(?:URIs:|^deb(?:\s+\[[^\]]*\])?)\s+(\S+)", text, re.M):
            for candidate in _expand_mirror(uri):
                if candidate.rstrip("/").endswith("/debian"):
                    return candidate.rstrip("/")
    raise SetupError(
        "physcall vm: no Debian archive URI found in %s or %s\n"
        "  fix: add the Debian archive (a URI ending in /debian) to the host's apt sources, or set "
        "PHYSCALL_DEBIAN_URI"
        % (DEB_SOURCES, SOURCES_LIST)
    )


def _expand_mirror(uri):
    """``mirror+file:/etc/apt/mirrors/debian.list`` (Debian's cloud images) names a file of URIs."""
    if not uri.startswith("mirror+file:"):
        return [uri]
    try:
        lines = pathlib.Path(uri[len("mirror+file:"):]).read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]


def _source_texts():
    for path in (DEB_SOURCES, SOURCES_LIST, *sorted(SOURCES_LIST.parent.glob("sources.list.d/*.list"))):
        if path.is_file():
            yield path.read_text(errors="replace")


def which(name):
    """Absolute path of a host program, or SetupError saying which package provides it."""
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if path is None:
        raise SetupError("physcall vm: %r not found on PATH; see .ci/vm-deps.txt for the packages" % name)
    return path
