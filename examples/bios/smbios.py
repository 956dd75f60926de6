#!/usr/bin/env python3
"""Copy the SMBIOS entry point out of the F-segment in flat 32-bit mode (paging off).

    python3 examples/bios/smbios.py --backend vm
    # compare: xxd /sys/firmware/dmi/tables/smbios_entry_point
"""

import argparse

from physcall.services import smbios_entry_point


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="emulator")
    args = ap.parse_args()
    data = smbios_entry_point(backend=args.backend)
    if not data:
        print("no SMBIOS entry point in 0xF0000-0xFFFFF")
        return
    print("%s, %d bytes: %s" % (data[:5].decode(errors="replace"), len(data), data.hex(" ")))


if __name__ == "__main__":
    main()
