#!/usr/bin/env python3
"""EDD disk parameters: int 13h AH=41h (extensions present?) and AH=48h (EDD 3.0 result buffer).

    python3 examples/bios/edd.py --backend vm --drive 0x80
"""

import struct

import _common
import physcall
from physcall import Buffer, interrupt


def show(drive=0x80, **options):
    # EDD 3.0 section 7.1: the caller sets the buffer size word; 0x42 bytes asks for the 3.0 layout.
    check, params = physcall.invoke([
        interrupt(0x13, ah=0x41, bx=0x55AA, dl=drive),
        interrupt(0x13, ah=0x48, dl=drive, ds_si=Buffer(0x42, data=struct.pack("<H", 0x42))),
    ], **options)
    if check.regs.cf or check.regs.bx != 0xAA55:
        print("drive %02xh: no EDD extensions (CF=%d AH=%02xh)" % (drive, check.regs.cf, check.regs.ah))
        return
    print("drive %02xh: EDD version %02xh, support bits %04xh" % (drive, check.regs.ah, check.regs.cx))
    raw = params.buffers["ds_si"]
    size, flags, cyl, heads, spt, sectors, bps = struct.unpack_from("<HHIIIQH", raw)
    print("  %d sectors of %d bytes (%d MiB), CHS %d/%d/%d, flags %04xh" % (
        sectors, bps, sectors * bps >> 20, cyl, heads, spt, flags))


def main():
    ap = _common.parser(__doc__)
    ap.add_argument("--drive", type=lambda s: int(s, 0), default=0x80)
    args = ap.parse_args()
    with _common.backend(args) as options:
        show(drive=args.drive, **options)


if __name__ == "__main__":
    main()
