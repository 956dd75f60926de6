"""Who owns each byte of memory, derived from a snapshot's E820 map and /proc/iomem, not listed by hand.

The ruling (issue 10, kept here): a BIOS service may write what the *firmware* owns, and the dry run lists
those writes; it must not write what the *kernel* owns (RAM the E820 map gives the OS, outside the batch
window; the IVT, whose vectors the kernel relies on when it resumes), which refuses the routine on every
backend.

Firmware-owned: the BDA (400h-4FFh), the EBDA (its segment is BDA word 40Eh, its size in KiB its first
byte: Ralf Brown's MEMORY.LST), VGA RAM (A0000h-BFFFFh), what E820 reserves below 1 MiB, and the
shadowed RAM between C0000h and FFFFFh that E820 does not give the OS: SeaBIOS keeps its variables and
an extra stack there (src/malloc.c, "ZoneHigh"/"ZoneLow" in the f-segment).

>>> own = owners(bytes(0x100000), {"e820": [{"start": 0, "end": 0x9FC00, "type": "System RAM"}],
...                                "iomem": ""})
>>> own.owner(0x10), own.owner(0x8000), own.owner(0xE94C4)
('the IVT', "the kernel's RAM (E820 System RAM 0x0-0x9fc00)", 'the firmware (shadowed RAM c0000h-fffffh)')
>>> own.firmware_ranges()[:2]
[(1024, 1280, 'the firmware (BDA)'), (655360, 786432, 'the firmware (VGA RAM)')]
"""

import re
from dataclasses import dataclass, field

from .. import bda
from ..ranges import complement, merge

LOW_SIZE = 0x100000
IVT = (0x0, 0x400, "the IVT")          # the kernel resumes through its vectors
USABLE = ("System RAM", "usable", "1")        # /sys/firmware/memmap spells it "System RAM"
_IOMEM = re.compile(r"^(\s*)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.+)$")


@dataclass
class Owners:
    """``entries``: (start, end, owner, kind) with kind "firmware" or "kernel", first match wins."""
    entries: list = field(default_factory=list)
    iomem: list = field(default_factory=list)        # (start, end, name) of /proc/iomem's children

    def find(self, address):
        """(start, end, owner, kind) holding ``address``, or None."""
        return next((e for e in self.entries if e[0] <= address < e[1]), None)

    def owner(self, address):
        """Who owns ``address``, as text for a message."""
        entry = self.find(address)
        if entry is None:
            return _fallback(address)
        inside = [n for a, b, n in self.iomem if a <= address < b]
        if inside and entry[3] == "kernel":
            return entry[2][:-1] + "; iomem: %s)" % inside[-1]
        return entry[2]

    def device_ranges(self):
        """(start, end, who) of memory-mapped devices above 1 MiB (a PCI BAR, the IO-APIC)."""
        return sorted((lo, hi, who) for lo, hi, who, kind in self.entries if kind == "device")

    def firmware_ranges(self):
        """(start, end, why) of what the firmware owns: the writable areas of a snapshot."""
        return sorted((lo, hi, who) for lo, hi, who, kind in self.entries if kind == "firmware")


def owners(low, meta):
    """The ownership map of a snapshot whose first MiB is ``low`` and whose note is ``meta``."""
    e820 = [(e["start"], e["end"], str(e["type"])) for e in meta.get("e820") or []]
    usable = [(lo, hi, kind) for lo, hi, kind in e820 if kind in USABLE]
    firmware = [(bda.BDA, bda.BDA_END, "BDA")]
    ebda = bda.ebda_range(low)
    if ebda:
        firmware.append((ebda[0], ebda[1], "EBDA at %#07x" % ebda[0]))
    firmware += [(lo, min(hi, bda.LOW_LIMIT), "E820 %s" % kind) for lo, hi, kind in e820
                 if kind not in USABLE and lo < bda.LOW_LIMIT]
    firmware.append(bda.VGA_RAM + ("VGA RAM",))
    firmware += [(lo, hi, "shadowed RAM %05xh-%05xh" % (lo, hi - 1))
                 for lo, hi in _minus((0xC0000, LOW_SIZE), usable)]
    entries = [(IVT[0], IVT[1], IVT[2], "kernel")]
    entries += [(lo, hi, "the firmware (%s)" % why, "firmware") for lo, hi, why in firmware]
    entries += [(lo, hi, "the kernel's RAM (E820 %s %#x-%#x)" % (kind, lo, hi), "kernel")
                for lo, hi, kind in usable]
    entries += [(lo, hi, "a device (iomem: %s)" % name, "device")
                for lo, hi, name in _iomem_devices(meta.get("iomem") or "")]
    return Owners(entries, _iomem_children(meta.get("iomem") or ""))


def default_owners(low):
    """For firmware without an E820 map (the stub BIOS, a raw image): the same ruling with the PC's
    fixed layout: conventional memory is the kernel's, A0000h-FFFFFh is never RAM the OS gets."""
    ebda = bda.ebda_range(low)
    return owners(low, {"e820": [{"start": 0, "end": 0x80000 if ebda else bda.DEFAULT_EBDA,
                                  "type": "System RAM"}]})


def _minus(span, ranges):
    """The parts of ``span`` not covered by ``ranges``."""
    lo, hi = span
    gaps = complement(merge((a, b) for a, b, *_ in ranges), hi)
    return [(max(a, lo), b) for a, b in gaps if b > lo]


def _iomem_children(text):
    """(start, end, name) of the indented /proc/iomem lines ("Kernel code"), for messages."""
    out = []
    for line in text.splitlines():
        m = _IOMEM.match(line)
        if m and m.group(1):
            out.append((int(m.group(2), 16), int(m.group(3), 16) + 1, m.group(4).strip()))
    return out


# Top-level /proc/iomem names that are memory, not a device's registers
_NOT_DEVICES = ("System RAM", "Reserved", "reserved", "ACPI Tables", "ACPI Non-volatile Storage",
                "System ROM", "Video ROM", "Adapter ROM", "Persistent Memory", "Unknown E820 type",
                "PCI Bus", "PCI MMCONFIG")


def _iomem_devices(text):
    """(start, end, name) of top-level /proc/iomem ranges above 1 MiB that a device decodes (its
    registers or its frame buffer): the dry run has no model of them.  Root reads real addresses;
    others see zeros, which give no ranges."""
    out = []
    for line in text.splitlines():
        m = _IOMEM.match(line)
        if m and not m.group(1):
            lo, hi, name = int(m.group(2), 16), int(m.group(3), 16) + 1, m.group(4).strip()
            if lo >= LOW_SIZE and hi > lo + 1 and not name.startswith(_NOT_DEVICES):
                out.append((lo, hi, name))
    return out


def _fallback(address):
    from .hooks import area
    return area(address)
