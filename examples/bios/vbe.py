#!/usr/bin/env python3
"""Print the VBE controller information and every mode's ModeInfo, as `hwinfo --vbe` lists them
(VBE 3.0 sections 4.3 and 4.4; one call: 4F00h, then 4F01h for each listed mode).

    python3 examples/bios/vbe.py --backend vm     # SeaBIOS's VGA BIOS in the guest, for real
"""

import _common
from physcall.explore import vbe


def show(**options):
    info = vbe(**options)
    if not info["present"]:
        print("no VBE (4F00h answered %04xh)" % info["status"])
        return
    print("VBE %s, OEM %s, %d KiB video memory, %d modes" % (
        info["version_text"], info["oem"], info["total_memory_kib"], len(info["modes"])))
    for m in info["modes"]:
        if m["memory_model"] == 0:
            print("  0x%04x[%02x]: %ux%u, text" % (m["mode"], m["attributes"] & 0xFF, m["width"], m["height"]))
            continue
        print("  0x%04x[%02x]: %ux%u, %u bpp, %s%s" % (
            m["mode"], m["attributes"] & 0xFF, m["width"], m["height"], m["bpp"], m["memory_model_name"],
            ", fb: 0x%08x" % m["lfb"] if m["lfb"] else ""))


if __name__ == "__main__":
    _common.run(show, __doc__)
