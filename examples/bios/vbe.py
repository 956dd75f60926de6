#!/usr/bin/env python3
"""Print the VBE controller information: signature, version, OEM string, memory, mode list.

    python3 examples/bios/vbe.py --backend vm     # SeaBIOS's VGA BIOS in the guest, for real
"""

import argparse

from physcall.services import vbe_info


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="emulator")
    args = ap.parse_args()
    info = vbe_info(backend=args.backend)
    print("status    %04xh" % info["status"])
    print("signature %s" % info["signature"].decode(errors="replace"))
    print("version   %d.%d" % (info["version"] >> 8, info["version"] & 0xFF))
    print("OEM       %s" % info["oem"].decode(errors="replace"))
    print("memory    %d KiB" % info["total_memory_kib"])
    print("modes     %s" % " ".join("%03x" % m for m in info["modes"]))


if __name__ == "__main__":
    main()
