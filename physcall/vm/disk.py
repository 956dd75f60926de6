"""The guest's test disk: a 4 MiB raw image that SeaBIOS drives as hard disk 80h (IDE).

Sector ``n`` (512 bytes) is ``sha256(b"physcall-disk sector %d" % n).digest()`` repeated 16 times, so
any reader can check any sector it got back without a copy of the image.  The image is made once and
cached (``~/.cache/physcall/disk/``); QEMU opens it with ``snapshot=on``, so guests never write it
and several can share it.

>>> sector(0)[:4].hex(), len(sector(0))
('bd3beaa0', 512)
"""

import hashlib
import os

from physcall import cache
from physcall.vm import host

SECTOR_SIZE = 512
SECTORS = 8192                      # 4 MiB
# The geometry QEMU reports to the BIOS (ide-hd cyls/heads/secs): 8 * 16 * 63 = 8064 sectors reachable
# by CHS, all 8192 by LBA (int 13h extensions).
CYLINDERS, HEADS, SECTORS_PER_TRACK = 8, 16, 63


def sector(n):
    """The 512 bytes sector ``n`` holds."""
    return hashlib.sha256(b"physcall-disk sector %d" % n).digest() * (SECTOR_SIZE // 32)


def chs_to_lba(cylinder, head, sector_number):
    """LBA of a CHS address in this geometry (sectors count from 1)."""
    return (cylinder * HEADS + head) * SECTORS_PER_TRACK + sector_number - 1


def build_disk():
    """Path of the cached pattern image (written on first use, atomically)."""
    path = host.cache_dir("disk") / ("pattern-%d.img" % SECTORS)
    if os.path.lexists(path) and cache.trusted_file(path, "guest disk image").stat().st_size == SECTORS * SECTOR_SIZE:
        return path
    tmp = path.with_name(path.name + ".%d.tmp" % os.getpid())
    with open(tmp, "wb") as out:
        for n in range(SECTORS):
            out.write(sector(n))
    os.replace(tmp, path)
    return path


def qemu_args(path):
    """The QEMU arguments that attach the image as the first IDE disk with the geometry above."""
    return ["-drive", "file=%s,format=raw,if=none,id=pcdisk,snapshot=on" % path,
            "-device", "ide-hd,drive=pcdisk,bus=ide.0,unit=0,cyls=%d,heads=%d,secs=%d"
            % (CYLINDERS, HEADS, SECTORS_PER_TRACK)]
