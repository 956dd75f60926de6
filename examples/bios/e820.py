#!/usr/bin/env python3
"""Print the BIOS E820 memory map, as the kernel's boot code reads it (one batch, one jump).

    python3 examples/bios/e820.py                 # the emulator and its stub BIOS
    python3 examples/bios/e820.py --backend vm    # SeaBIOS in physcall's QEMU guest, for real
"""

import _common
from physcall.services import E820_TYPES, e820


def show(**options):
    for base, length, kind in e820(**options):
        print("BIOS-e820: [mem %#018x-%#018x] %s" % (base, base + length - 1, E820_TYPES.get(kind, kind)))


if __name__ == "__main__":
    _common.run(show, __doc__)
