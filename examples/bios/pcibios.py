#!/usr/bin/env python3
"""PCI BIOS installation check (int 1Ah, AX=B101h; Ralf Brown's Interrupt List, INT 1A B101).

    python3 examples/bios/pcibios.py --backend vm
"""

import _common
import physcall


def show(**options):
    r = physcall.invoke(physcall.interrupt(0x1A, ax=0xB101, edi=0), **options).regs
    if r.cf or r.ah != 0 or r.edx != 0x20494350:
        print("no PCI BIOS (CF=%d AH=%02xh EDX=%08xh)" % (r.cf, r.ah, r.edx))
        return
    print("PCI BIOS %x.%02x, mechanisms %s, last bus %d" % (
        r.bh, r.bl, "+".join(n for n, bit in (("#1", 1), ("#2", 2)) if r.al & bit) or "none", r.cl))


if __name__ == "__main__":
    _common.run(show, __doc__)
