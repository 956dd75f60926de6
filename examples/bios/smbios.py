#!/usr/bin/env python3
"""Copy the SMBIOS entry point out of the F-segment in flat 32-bit mode (paging off).

    python3 examples/bios/smbios.py --backend vm
    # compare: xxd /sys/firmware/dmi/tables/smbios_entry_point
"""

import _common
from physcall.services import smbios_entry_point


def show(**options):
    data = smbios_entry_point(**options)
    if not data:
        print("no SMBIOS entry point in 0xF0000-0xFFFFF")
        return
    print("%s, %d bytes: %s" % (data[:5].decode(errors="replace"), len(data), data.hex(" ")))


if __name__ == "__main__":
    _common.run(show, __doc__)
