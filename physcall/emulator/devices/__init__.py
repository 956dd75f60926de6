"""Port device models: enough of a PC's I/O space for a real BIOS's paths (SeaBIOS, SeaVGABIOS).

A device has ``read(port, size) -> int``, ``write(port, size, value)`` and ``reset()``;
``default_devices(meta)`` maps each port to one, with what a snapshot recorded (its date for the RTC,
bus 0's PCI configuration spaces).  A port nobody models reads all-ones, as an ISA bus with nothing
on it answers; the dry run lists such reads as ``unknown-read`` hazards.  Writes that reprogram what the
kernel owns (PIC, PIT, PS/2 controller, CMOS, PCI configuration) are ``device`` hazards; the models
still follow them, so that the firmware reads back what it wrote.

>>> d = default_devices({"date": "2026-11-30T02:01:07+00:00"})
>>> d[0x70].write(0x70, 1, 0x09); hex(d[0x71].read(0x71, 1))          # RTC year, BCD
'0x26'
>>> d[0xCF8].write(0xCF8, 4, 0x80000000); hex(d[0xCFC].read(0xCFC, 4))   # PCI 00:00.0: nothing
'0xffffffff'
"""

import datetime

from .base import Device, ones
from .pci import PciConfig
from .pic import Pic
from .ps2 import Ps2
from .system import Apm, DebugLog, Port92
from .timers import Cmos, Pit, SystemPort
from .video import BochsVbe, Vga

__all__ = ["Apm", "BochsVbe", "Cmos", "DebugLog", "Device", "PciConfig", "Pic", "Pit", "Port92", "Ps2",
           "SystemPort", "Vga", "default_devices", "ones"]


def default_devices(meta=None):
    """A fresh port -> device map with every model above, fed by a snapshot's ``meta`` when given."""
    meta = meta or {}
    devices = [Cmos(_when(meta.get("date"))), Pit(), Pic(), Ps2(), SystemPort(), Port92(), Apm(),
               PciConfig(meta.get("pci")), DebugLog(), Vga(), BochsVbe()]
    out = {}
    for dev in devices:
        for port in dev.ports:
            out[port] = dev
    return out


def _when(text):
    try:
        return datetime.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
