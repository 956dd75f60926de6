#!/usr/bin/env python3
"""Every example in this directory, in one run: with --backend vm, one guest boots once for all of them.

    python3 examples/bios/all.py --backend vm
"""

import _common
import e820
import edd
import pcibios
import smbios
import vbe

EXAMPLES = (("E820", e820.show), ("EDD", edd.show), ("PCI BIOS", pcibios.show), ("SMBIOS", smbios.show),
            ("VBE", vbe.show))


def show(**options):
    for title, example in EXAMPLES:
        print("== %s" % title)
        example(**options)


if __name__ == "__main__":
    _common.run(show, __doc__)
