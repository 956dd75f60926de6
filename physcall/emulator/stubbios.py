"""The stub BIOS: ``build(profile) -> Firmware``, a first MiB the emulator can run BIOS calls against.

The handlers are real16 assembly in ``stubs/`` (one file per service family), assembled here with the
addresses of the tables ``stubtables`` generates from the profile.  Memory map of the result:

- 0x00000 IVT (all 256 vectors), 0x00400 BDA (SeaBIOS's, then the profile's fields), EBDA below 640 KiB
- 0xC0000 video option ROM (55AAh header): int 10h, VBE info/mode blocks, EDID
- 0xF0000 system ROM: tables at F000:0100, handlers from F000:4000, and a 3-byte JMP at each entry
  point SeaBIOS keeps at the IBM-compatible address (src/romlayout.S: int 12h at F000:F841, ...), so
  the IVT holds the same values as in physcall's VM; the int 15h C0h table at F000:E6F5.

>>> fw = build()
>>> fw.vector(0x12), fw.low[0x413:0x415]
((61440, 63553), b'\\x7f\\x02')
"""

import functools
import logging
import os
import struct

from .. import bda, resources
from ..asm import asm
from ..errors import PhyscallError
from . import stubtables as tables
from .firmware import LOW_SIZE, Firmware
from .profile import Profile

log = logging.getLogger("physcall.emulator")

STUBS = str(resources.STUBS)
F_DATA, F_CODE, F_CODE_END = 0x0100, 0x4000, 0xD000
C_STRINGS, C_CODE, C_DATA = 0x0020, 0x0100, 0x0800
IRET = 0xFF53                          # SeaBIOS's default handler (an IRET)
F_FAMILIES = ("common", "int11", "int12", "int13", "int15", "int16", "int1a")
# vector -> (SeaBIOS 1.16 entry offset in F000, handler label); measured IVT (tests/data)
FIXED = {0x11: (0xF84D, "int11_entry"), 0x12: (0xF841, "int12_entry"), 0x13: (0xE3FE, "int13_entry"),
         0x14: (0xE739, "unknown_14"), 0x15: (0xF859, "int15_entry"), 0x16: (0xE82E, "int16_entry"),
         0x17: (0xEFD2, "unknown_17"), 0x18: (0xD453, "unknown_18"), 0x19: (0xE6F2, "unknown_19"),
         0x1A: (0xFE6E, "int1a_entry")}
CONFIG_TABLE, BIOS_DATE = 0xE6F5, 0xFFF5
# The BDA SeaBIOS 1.16.2 leaves in the VM (0x400-0x4FF, recorded by tests/data/seabios_oracle.py):
# COM1 at 3F8h, keyboard ring 1Eh-3Eh, 80x25 colour text, CRTC 3D4h, ... ; build() then writes the
# profile's own fields over it.
SEABIOS_BDA = bytes.fromhex(
    "f803000000000000000000000000c09f2602007f0200000000001e001e00000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000350000010000000020000000000000000000000000000"
    "070600d40300000000000000b58e1500000000000000c000000000000a0000001e003e0018100060f951080000000000"
    "000000000000100000000000000000000000000000000000206800c000000000000000000000000000400300c6680000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000")


def build(profile=None):
    """A Firmware for ``profile`` (default: physcall's QEMU/SeaBIOS VM), built once per profile.

    >>> build().name
    'stub BIOS (profile qemu-256M)'
    """
    low, writable = _build(profile or Profile.default())
    return Firmware("stub BIOS (profile %s)" % (profile or Profile.default()).name, low, list(writable))


@functools.lru_cache(maxsize=16)
def _build(profile):
    low = bytearray(LOW_SIZE)
    entries = _system_rom(low, profile)
    entries[0x10] = _video_rom(low, profile, entries["unknown_leaf"])
    _ivt(low, entries)
    _bda(low, profile)
    ebda = profile.ebda_segment << 4
    low[ebda] = profile.ebda_kib            # EBDA byte 0: its size in KiB (RBIL MEMORY.LST)
    writable = ((bda.BDA, bda.BDA_END, "BDA"), (ebda, ebda + profile.ebda_kib * 1024, "EBDA"),
                bda.VGA_RAM + ("VGA RAM",))
    return bytes(low), writable


@functools.lru_cache(maxsize=None)
def source(family):
    """The text of ``stubs/<family>.asm``."""
    with open(os.path.join(STUBS, family + ".asm")) as f:
        return f.read()


def _place(low, at, data, limit, what):
    if at + len(data) > limit:
        raise PhyscallError("stub BIOS: %s needs %d bytes at %#07x but only %d fit below %#07x: use a "
                            "smaller profile (fewer modes, disks or map entries)"
                            % (what, len(data), at, limit - at, limit))
    low[at:at + len(data)] = data


def _system_rom(low, profile):
    """Tables, then the handlers, into F000; returns the entry points by label (offsets in F000)."""
    data, defines = _system_tables(profile)
    _place(low, 0xF0000 + F_DATA, data, 0xF0000 + F_CODE, "the system tables")
    # One assembly for the whole F-segment: the families jump to common.asm's exits, and a label
    # passed in through ``defines`` would not do as a near-jump target (see the module notes).
    text = "\n".join("; ---- stubs/%s.asm\n%s" % (family, source(family)) for family in F_FAMILIES)
    code = asm(text, origin=F_CODE, defines=defines)
    _place(low, 0xF0000 + F_CODE, code.code, 0xF0000 + F_CODE_END, "stubs/*.asm")
    symbols = code.symbols
    for vector, (entry, label) in FIXED.items():
        low[0xF0000 + entry:0xF0000 + entry + 3] = _jmp(entry, symbols[label])
    low[0xF0000 + IRET] = 0xCF
    low[0xF0000 + CONFIG_TABLE:0xF0000 + CONFIG_TABLE + 2 + len(profile.model)] = tables.config_table(profile)
    low[0xFFFF0:0x100000] = b"\xea\x5b\xe0\x00\xf0" + b"06/23/99\0" + bytes((profile.model[0], 0))
    return dict(symbols, FDPT=defines["FDPT"])


def _system_tables(profile):
    """The F000 data block and the defines that tell the handlers where each table is."""
    blob = bytearray()

    def add(data):
        at = F_DATA + len(blob)
        blob.extend(data + bytes(-len(data) % 16))
        return at

    low_kib, high_blocks, ext = tables.e801_answers(profile)
    time_cx, time_dx, date_cx, date_dx = tables.rtc_answers(profile)
    defines = dict(E820_TABLE=add(tables.e820_table(profile)), E820_COUNT=len(profile.memory_map),
                   E820_SIZE=profile.e820_entry_size, E801_LOW=low_kib, E801_HIGH=high_blocks, EXT88=ext,
                   CONFIG_TABLE=CONFIG_TABLE, FDPT=add(tables.fdpt()), DISK_RECORD=tables.DISK_RECORD,
                   DISK_COUNT=len(profile.disks), RTC_TIME_CX=time_cx, RTC_TIME_DX=time_dx,
                   RTC_DATE_CX=date_cx, RTC_DATE_DX=date_dx, PCI_VERSION=profile.pci_version,
                   PCI_LAST_BUS=profile.pci_last_bus, PCI_MECHANISM=profile.pci_mechanism & 0xFF)
    defines["DISK_TABLE"] = F_DATA + len(blob)
    for disk in profile.disks:
        blob.extend(tables.disk_record(disk, profile, 0xF000, F_DATA + len(blob)))
    return bytes(blob), defines


def _video_rom(low, profile, unknown_leaf):
    """The C000 option ROM: header, strings, int 10h code, VBE and EDID tables; returns the entry."""
    strings, pointers = tables.strings_blob(profile, C_STRINGS)
    _place(low, 0xC0000 + C_STRINGS, strings, 0xC0000 + C_CODE, "the VBE strings")
    info = tables.vbe_info(profile, pointers)
    edid_at, table_at = C_DATA + len(info), C_DATA + len(info) + 256
    modes_at = (table_at + 2 * len(profile.video_modes) + 0xFF) & ~0xFF
    code = asm(source("int10"), origin=C_CODE, defines=dict(
        VBE_INFO=C_DATA, EDID=edid_at, EDID_BLOCKS=len(profile.edid) // 128, DDC_CAPS=profile.ddc_capabilities,
        MODE_TABLE=table_at, MODE_COUNT=len(profile.video_modes), MODE_INFO=modes_at,
        UNKNOWN_LEAF=unknown_leaf))
    _place(low, 0xC0000 + C_CODE, code.code, 0xC0000 + C_DATA, "stubs/int10.asm")
    window = 0xC000 << 16 | code.symbols["vbe_window"]
    blocks = b"".join(tables.mode_info(m, window) for m in profile.video_modes)
    low[0xC0000 + C_DATA:0xC0000 + C_DATA + len(info)] = info
    low[0xC0000 + edid_at:0xC0000 + edid_at + len(profile.edid)] = profile.edid
    numbers = b"".join(struct.pack("<H", m.number) for m in profile.video_modes)
    low[0xC0000 + table_at:0xC0000 + table_at + len(numbers)] = numbers
    _place(low, 0xC0000 + modes_at, blocks, 0xE0000, "the VBE mode blocks")
    _option_rom_header(low, modes_at + len(blocks))
    return code.symbols["int10_entry"]


def _option_rom_header(low, size):
    """55AAh, length in 512-byte units, an init entry that returns, and a checksum byte that makes the
    image sum to 0 (PCI Firmware 3.0 section 5.1.1, the legacy option ROM header)."""
    units = (size + 1 + 511) // 512
    low[0xC0000:0xC0004] = bytes((0x55, 0xAA, units, 0xCB))       # +3: init entry, a RETF
    end = 0xC0000 + units * 512 - 1
    low[end] = (-sum(low[0xC0000:end])) & 0xFF


def _jmp(at, target):
    """A near JMP from F000:at to F000:target."""
    return b"\xe9" + struct.pack("<h", (target - (at + 3) + 0x8000) % 0x10000 - 0x8000)


def _ivt(low, entries):
    """Every vector to the IRET at F000:FF53, the services to their entry points, 1Eh to the FDPT."""
    for n in range(256):
        struct.pack_into("<HH", low, 4 * n, IRET, 0xF000)
    for vector, (entry, _) in FIXED.items():
        struct.pack_into("<HH", low, 4 * vector, entry, 0xF000)
    struct.pack_into("<HH", low, 4 * 0x10, entries[0x10], 0xC000)
    struct.pack_into("<HH", low, 4 * 0x1E, entries["FDPT"], 0xF000)


def _bda(low, profile):
    """SeaBIOS's BDA with the profile's equipment, memory, EBDA, clock, video mode and keys."""
    low[0x400:0x500] = SEABIOS_BDA
    struct.pack_into("<HH", low, 0x40E, profile.ebda_segment, profile.equipment)
    struct.pack_into("<H", low, 0x413, profile.base_memory_kib)
    low[0x417] = profile.shift_flags & 0xFF
    low[0x418] = profile.shift_flags >> 8 & 0xFF
    keys = b"".join(struct.pack("<H", k) for k in profile.keyboard)
    struct.pack_into("<HH", low, 0x41A, 0x1E, 0x1E + len(keys))
    low[0x41E:0x43E] = bytes(32)
    low[0x41E:0x41E + len(keys)] = keys
    struct.pack_into("<IB", low, 0x46C, profile.ticks, 0)
    low[0x449] = profile.video_mode if profile.video_mode < 0x100 else 0xFF
    struct.pack_into("<H", low, 0x4BA, profile.video_mode)
    # RBIL MEMORY.LST 40:75, the number of hard disks (SeaBIOS: SET_BDA(hdcount, ...) in src/block.c)
    low[0x475] = sum(1 for disk in profile.disks if disk.drive >= 0x80)
