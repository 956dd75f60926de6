"""The data tables the stub BIOS answers from, generated from a Profile (one builder per record).

Each function returns bytes laid out as the spec named in its comment; the assembly in ``stubs/``
only finds and copies them.

>>> from physcall.emulator.profile import Profile
>>> len(e820_table(Profile.default())), edd_blocks(DEMO_DISK, 0xF000, 0x100)[0][30:32].hex()
(168, 'ddbe')
"""

import struct

from .profile import Disk, MM_TEXT

DEMO_DISK = Disk(0x80, cylinders=1024, heads=16, sectors=63, total_sectors=1024 * 16 * 63)

# VBE 3.0 section 4.4: RedMaskSize..RsvdFieldPosition and DirectColorModeInfo by depth, as SeaBIOS's
# vgasrc/vbe.c vbe_104f01 sets them (32 bpp: the reserved bits are usable, DirectColorModeInfo bit 1).
COLOURS = {15: (5, 10, 5, 5, 5, 0, 1, 15, 0), 16: (5, 11, 6, 5, 5, 0, 0, 0, 0),
           24: (8, 16, 8, 8, 8, 0, 0, 0, 0), 32: (8, 16, 8, 8, 8, 0, 8, 24, 2)}


def e820_table(profile):
    """24-byte entries: base, length, type, ACPI 3.0 extended attributes (ACPI 6.x table 15.4)."""
    return b"".join(struct.pack("<QQII", b, n, t, a) for b, n, t, a in profile.memory_map)


def e801_answers(profile):
    """(E801 AX/CX KiB 1-16 MiB, E801 BX/DX 64 KiB blocks above 16 MiB, 88h AX), as SeaBIOS's
    src/system.c derives them from LegacyRamSize."""
    rs = profile.legacy_ram_size
    if rs > 16 << 20:
        low, high = 15 * 1024, (rs - (16 << 20)) // 0x10000
    else:
        low, high = (rs - (1 << 20)) // 1024, 0
    ext = profile.extended_memory_kib
    if ext is None:
        ext = 63 * 1024 if rs > 64 << 20 else (rs - (1 << 20)) // 1024
    return low, high, min(ext, 0xFFFF)


def config_table(profile):
    """RBIL INT 15/AH=C0h: size word, model, submodel, BIOS revision, feature bytes 1-5."""
    return struct.pack("<H", len(profile.model)) + bytes(profile.model)


def rtc_answers(profile):
    """BCD (time CX, time DX, date CX, date DX) for int 1Ah 02h/04h."""
    y, mo, d, h, mi, s = profile.clock
    bcd = lambda v: (v // 10) << 4 | v % 10
    return (bcd(h) << 8 | bcd(mi), bcd(s) << 8, bcd(y // 100) << 8 | bcd(y % 100), bcd(mo) << 8 | bcd(d))


def fdpt():
    """The 1.44 MB diskette parameter table (RBIL INT 1E, MEMORY.LST "Diskette Parameters")."""
    return bytes((0xAF, 0x02, 0x25, 0x02, 0x12, 0x1B, 0xFF, 0x6C, 0xF6, 0x0F, 0x08))


# ---- int 13h -------------------------------------------------------------------------------------

DISK_RECORD = 192          # header 16, EDD 3.0 at +16 (66), T13 EDD-3 at +96 (74), DPTE at +176 (16)


def disk_record(disk, profile, segment, at):
    """One int 13h record (stubs/int13.asm) for ``disk``, placed at segment:at."""
    floppy = disk.drive < 0x80
    same = sum((d.drive < 0x80) == floppy for d in profile.disks)
    # RBIL INT 13/AH=08h; SeaBIOS src/disk.c disk_1308 reports one cylinder less for hard disks
    # ("last sector reserved") on top of last = count - 1.
    last = min(disk.cylinders - (1 if floppy else 2), 1023)
    head = bytes((disk.drive, last & 0xFF, (last >> 2) & 0xC0 | disk.sectors & 0x3F, disk.heads - 1,
                  same, 4 if floppy else 0, disk.edd_version, 0))
    head += struct.pack("<H", disk.edd_support) + bytes(6)
    phoenix, t13 = edd_blocks(disk, segment, at + 176)
    return head + phoenix + bytes(14) + t13 + bytes(6) + dpte(disk)


def edd_blocks(disk, segment, dpte_at):
    """(66-byte EDD 3.0 result, 74-byte T13 EDD-3 result) of int 13h 48h, laid out as EDD 3.0
    section 7.8 table 8 and SeaBIOS's src/block.c fill_generic_edd fill them."""
    lba, chs = disk.total_sectors, disk.sectors * disk.heads
    valid = lba <= chs * 0x3FFF
    base = struct.pack("<HHIIIQH", 0, 0x02 if valid else 0x00, disk.cylinders if valid else 0x3FFF,
                       disk.heads, disk.sectors, lba, disk.bytes_per_sector)
    base += struct.pack("<HH", dpte_at, segment)
    pci = disk.host_bus.upper() == "PCI"
    bus, dev, fn, channel = disk.pci
    path = (bus | dev << 8 | fn << 16) if pci else disk.io_base
    out = []
    for t13, length in ((False, 36), (True, 44)):
        p = path | (channel << 24 if pci and t13 else 0)
        dpi = struct.pack("<HBBH4s8sQ", 0xBEDD, length, 0, 0, disk.host_bus.upper().ljust(4).encode(),
                          disk.interface.upper().ljust(8).encode(), p)
        dpi += struct.pack("<QQB", disk.slave, 0, 0) if t13 else struct.pack("<QB", disk.slave, 0)
        out.append(base + dpi + bytes(((-sum(dpi)) & 0xFF,)))
    return tuple(out)


def dpte(disk):
    """EDD 3.0 section 7.9 "Device Parameter Table Extension", as src/block.c fill_ata_edd fills it."""
    options = 0x0010 | (0x0208 if disk.total_sectors > 1024 * 16 * 63 else 0)   # LBA; LBA-assisted CHS
    head = struct.pack("<HHBBBBBBHHB", disk.io_base, disk.control, 0xA0 | disk.slave << 4 | 0x40, 0xCB,
                       disk.irq, 1, 0, 0, options, 0, 0x11)
    return head + bytes(((-sum(head)) & 0xFF,))


# ---- int 10h -------------------------------------------------------------------------------------

def vbe_info(profile, strings):
    """The 512-byte VbeInfoBlock (VBE 3.0 section 4.3) with the mode list at +22h, as SeaBIOS builds
    it (vgasrc/vbe.c vbe_104f00); ``strings`` maps oem/vendor/product/revision to far pointers."""
    block = bytearray(512)
    struct.pack_into("<4sHIIIHHIII", block, 0, b"VESA", profile.vbe_version, strings["oem"],
                     profile.vbe_capabilities, 0, profile.vbe_total_memory >> 16, 0,
                     strings["vendor"], strings["product"], strings["revision"])
    modes = [m.number for m in profile.video_modes] + [0xFFFF]
    struct.pack_into("<%dH" % len(modes), block, 0x22, *modes)
    return bytes(block)


def mode_info(mode, window_function):
    """One 256-byte ModeInfoBlock (VBE 3.0 section 4.4) as vgasrc/vbe.c vbe_104f01 fills it."""
    block = bytearray(256)
    struct.pack_into("<HBBHHHHIHHHBBBBBBBBB", block, 0, mode.attributes, 0x07, 0, 64, 64, mode.window, 0,
                     window_function, mode.pitch, mode.width, mode.height, mode.char[0], mode.char[1],
                     mode.planes, mode.bpp, mode.banks, mode.memory_model, mode.bank_size, mode.pages, 1)
    colours = COLOURS.get(mode.bpp, (0,) * 9) if mode.memory_model != MM_TEXT else (0,) * 9
    block[31:40] = bytes(colours)
    if mode.lfb:
        struct.pack_into("<IIHHBB", block, 40, mode.lfb, 0, 0, mode.pitch, 0, 0)
        block[54:62] = bytes(colours[:8])
    return bytes(block)


def strings_blob(profile, origin):
    """The zero-terminated OEM strings and their far pointers (segment C000h)."""
    blob, where = bytearray(), {}
    for key in ("oem", "vendor", "product", "revision"):
        where[key] = 0xC000 << 16 | (origin + len(blob))
        blob += getattr(profile, "vbe_" + key).encode("latin-1") + b"\0"
    return bytes(blob), where
