"""physcall's test machine: a QEMU guest with SeaBIOS and a KEXEC_JUMP kernel, driven from Python.

Example::

    >>> import physcall.vm
    >>> info = physcall.vm.setup()          # minutes once, then seconds; doctest: +SKIP
    >>> with physcall.vm.Guest() as g:      # doctest: +SKIP
    ...     print(g.run(["uname", "-r"]).text)
    6.12.117
"""

import logging
import time

from physcall.vm import host, initramfs, kernel, payload
from physcall.vm.errors import GuestError, GuestTimeout, SetupError
from physcall.vm.guest import Guest, Result, find_artifacts

__all__ = ["Guest", "GuestError", "GuestTimeout", "Result", "SetupError", "find_artifacts", "setup"]
log = logging.getLogger("physcall.vm")


def setup(progress=log.info, refresh=False):
    """Fetch + build (or find in the cache) the guest kernel and initramfs; returns a dict of facts.

    Keys: ``bzImage``, ``initramfs``, ``payload`` (host files for the guest), ``kernel_release``, ``source`` (deb name and version),
    ``cache`` and ``seconds``. ``refresh=True`` re-runs the private ``apt-get update``/``download``.
    """
    start = time.monotonic()
    host.require_packages(build=True)
    kdir = kernel.build_kernel(progress, refresh)
    initrd = initramfs.build_initramfs(progress)
    packed = payload.build_payload(progress)
    return {
        "bzImage": str(kdir / "bzImage"),
        "initramfs": str(initrd),
        "payload": str(packed),
        "payload_mb": round(packed.stat().st_size / 1e6, 1),
        "kernel_release": (kdir / "release").read_text().strip(),
        "source": (kdir / "source").read_text().strip(),
        "config": str(kdir / "config"),
        "cache": str(host.cache_dir()),
        "seconds": round(time.monotonic() - start, 2),
    }
