"""What the stub BIOS answers: a ``Profile`` of one PC (memory map, video, EDID, disks, clock, keyboard).

``Profile.default()`` is physcall's own VM: ``qemu-system-x86_64 -machine pc -m 256M -nodefaults
-vga std`` with SeaBIOS 1.16 and its Bochs/QEMU std VGA BIOS.  Every default value was read from that
machine by ``tests/data/seabios_oracle.py`` (a boot-protocol image that asks SeaBIOS and prints the
answers; recorded in ``tests/data/seabios-qemu-256M.json``) and cross-checked with SeaBIOS's sources
(named where used).  ``Profile.from_dict``/``to_dict`` round-trip through JSON for a user's own machine.

>>> p = Profile.default()
>>> p.base_memory_kib, hex(p.memory_map[3][1]), len(p.edid)
(639, '0xfee0000', 256)
>>> Profile.from_dict(p.to_dict()) == p
True
"""

from dataclasses import asdict, dataclass, field, fields, replace

from ..errors import ModelError

# E820 types (ACPI 6.x section 15, "System Address Map Interfaces")
USABLE, RESERVED, ACPI, NVS, UNUSABLE = 1, 2, 3, 4, 5
# VBE 3.0 section 4.4, MemoryModel
MM_TEXT, MM_CGA, MM_PLANAR, MM_PACKED, MM_DIRECT = 0, 1, 3, 4, 6


@dataclass(frozen=True)
class VideoMode:
    """One VBE mode as 4F01h describes it (VBE 3.0 section 4.4, ModeInfoBlock)."""
    number: int
    width: int
    height: int
    bpp: int
    attributes: int
    pitch: int                       # BytesPerScanLine
    lfb: int = 0                     # PhysBasePtr; 0 = no linear frame buffer
    memory_model: int = MM_DIRECT
    pages: int = 0                   # NumberOfImagePages (count - 1)
    char: tuple = (8, 16)            # XCharSize, YCharSize
    window: int = 0xA000             # WinASegment
    planes: int = 1
    banks: int = 1
    bank_size: int = 0


@dataclass(frozen=True)
class Disk:
    """One BIOS drive for int 13h 08h/41h/48h; the EDD 3.0 fields describe where it hangs."""
    drive: int                       # DL: 00h.. floppies, 80h.. hard disks
    cylinders: int                   # logical (int 13h 08h) geometry
    heads: int
    sectors: int
    total_sectors: int
    bytes_per_sector: int = 512
    host_bus: str = "PCI"            # EDD 3.0 section 8.2: "PCI" or "ISA"
    interface: str = "ATA"           # "ATA", "SCSI", ...
    pci: tuple = (0, 1, 1, 0)        # bus, device, function, channel (PIIX3 IDE on i440fx)
    io_base: int = 0x1F0
    control: int = 0x3F6
    irq: int = 14
    slave: int = 0
    edd_version: int = 0x30          # int 13h 41h AH
    edd_support: int = 0x0007        # int 13h 41h CX: extended access, removable, EDD


@dataclass(frozen=True)
class Profile:
    """A PC as its BIOS describes it.  ``memory_map``: ``(base, length, type, attributes)`` tuples."""
    name: str
    memory_map: tuple
    base_memory_kib: int = 639
    equipment: int = 0x0226
    ebda_segment: int = 0x9FC0
    ebda_kib: int = 1
    e820_entry_size: int = 20        # SeaBIOS answers 20-byte entries even when asked for 24
    extended_memory_kib: int = None  # int 15h 88h; None: from the map, as SeaBIOS does
    video_mode: int = 0x03
    video_modes: tuple = ()
    vbe_version: int = 0x0300
    vbe_oem: str = "SeaBIOS VBE(C) 2011"
    vbe_vendor: str = "SeaBIOS Developers"
    vbe_product: str = "SeaBIOS VBE Adapter"
    vbe_revision: str = "Rev. 1"
    vbe_capabilities: int = 0x00000001       # VBE_CAPABILITY_8BIT_DAC (vgasrc/bochsvga.c)
    vbe_total_memory: int = 16 << 20
    edid: bytes = b""
    ddc_capabilities: int = 0x0103           # 4F15h BL=00h answer (vgasrc/vbe.c)
    disks: tuple = ()
    clock: tuple = (2024, 1, 1, 0, 0, 0)     # date and time int 1Ah 02h/04h report
    ticks: int = 0                           # BDA 46Ch
    keyboard: tuple = ()                     # queued (scan << 8 | ascii) words
    shift_flags: int = 0
    pci_last_bus: int = 0
    pci_mechanism: int = 0x01                # int 1Ah B101h AL: configuration mechanism #1
    pci_version: int = 0x0210
    model: tuple = (0xFC, 0x00, 0x01, 0x74, 0x40, 0, 0, 0)   # int 15h C0h table (src/misc.c)

    def __post_init__(self):
        check(self)

    @classmethod
    def default(cls):
        """physcall's QEMU guest (module docstring)."""
        return cls(name="qemu-256M", memory_map=QEMU_256M_E820,
                   video_modes=seabios_modes(16 << 20, 0xFD000000), edid=QEMU_EDID)

    def replace(self, **changes):
        """A copy with some fields changed: ``Profile.default().replace(disks=(Disk(0x80, ...),))``."""
        return replace(self, **changes)

    @property
    def legacy_ram_size(self):
        """End of the usable RAM that starts at 1 MiB (SeaBIOS's LegacyRamSize, src/memmap.c)."""
        for base, length, kind, *_ in self.memory_map:
            if kind == USABLE and base <= 0x100000 < base + length:
                return base + length
        return 0x100000

    def to_dict(self):
        """Plain JSON-able data (bytes as hex)."""
        out = asdict(self)
        out["edid"] = self.edid.hex()
        return out

    @classmethod
    def from_dict(cls, data):
        """A Profile from ``to_dict()`` output or a user's JSON; unknown keys are refused."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ModelError("profile: unknown field(s) %s: valid fields are %s"
                                % (", ".join(sorted(unknown)), ", ".join(sorted(names))))
        d = dict(data)
        d["memory_map"] = tuple(tuple(e) + (1,) * (4 - len(e)) for e in d.get("memory_map", ()))
        d["video_modes"] = tuple(_record(VideoMode, m) for m in d.get("video_modes", ()))
        d["disks"] = tuple(_record(Disk, m) for m in d.get("disks", ()))
        d["edid"] = bytes.fromhex(d["edid"]) if isinstance(d.get("edid"), str) else bytes(d.get("edid", b""))
        for key in ("clock", "keyboard", "model"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def _record(kind, value):
    if isinstance(value, kind):
        return value
    value = dict(value)
    for key in ("char", "pci"):
        if key in value:
            value[key] = tuple(value[key])
    return kind(**value)


def check(p):
    """Refuse a profile the stub BIOS cannot answer from, naming the field."""
    if p.e820_entry_size not in (20, 24):
        raise ModelError("profile %s: e820_entry_size must be 20 or 24" % p.name)
    if not 1 <= len(p.memory_map) <= 128:
        raise ModelError("profile %s: the memory map needs 1..128 entries" % p.name)
    if len(p.video_modes) > 110:
        raise ModelError("profile %s: at most 110 video modes fit the VBE info block's reserved "
                            "area (VBE 3.0 section 4.3)" % p.name)
    if len(p.edid) % 128 or len(p.edid) > 256:
        raise ModelError("profile %s: EDID must be 0, 128 or 256 bytes" % p.name)
    if len(p.keyboard) > 15:
        raise ModelError("profile %s: the BDA keyboard buffer holds 15 keys" % p.name)
    if len({d.drive for d in p.disks}) != len(p.disks):
        raise ModelError("profile %s: two disks share a drive number" % p.name)


# SeaBIOS 1.16.2 / QEMU 7.2, -m 256M, as int 15h E820h walked it (tests/data/seabios-qemu-256M.json).
# 9FC00: the 1 KiB EBDA; F0000: the BIOS; FFE0000: SeaBIOS's high zone (src/malloc.c); FFFC0000: the
# flash; FD00000000: QEMU's reserved HyperTransport window (hw/i386/pc.c, since QEMU 7.1).
QEMU_256M_E820 = (
    (0x00000000, 0x0009FC00, USABLE, 1),
    (0x0009FC00, 0x00000400, RESERVED, 1),
    (0x000F0000, 0x00010000, RESERVED, 1),
    (0x00100000, 0x0FEE0000, USABLE, 1),
    (0x0FFE0000, 0x00020000, RESERVED, 1),
    (0xFFFC0000, 0x00040000, RESERVED, 1),
    (0xFD00000000, 0x300000000, RESERVED, 1),
)

# vgasrc/svgamodes.c (bochs VBE modes) then vgasrc/stdvgamodes.c (VGA modes), in the order 4F00h lists
# them: (mode, memory model, width, height, depth, char width, char height, window segment).
_P, _D = MM_PACKED, MM_DIRECT
_SVGA = [(0x100, _P, 640, 400, 8), (0x101, _P, 640, 480, 8), (0x102, MM_PLANAR, 800, 600, 4),
         (0x103, _P, 800, 600, 8), (0x104, MM_PLANAR, 1024, 768, 4), (0x105, _P, 1024, 768, 8),
         (0x106, MM_PLANAR, 1280, 1024, 4), (0x107, _P, 1280, 1024, 8)]
_SVGA += [(n, _D, w, h, d) for n, (w, h) in zip(range(0x10D, 0x11C, 3), [(320, 200), (640, 480), (800, 600),
                                                                       (1024, 768), (1280, 1024)])
          for n, d in ((n, 15), (n + 1, 16), (n + 2, 24))]
_SVGA += [(0x11C, _P, 1600, 1200, 8), (0x11D, _D, 1600, 1200, 15), (0x11E, _D, 1600, 1200, 16),
          (0x11F, _D, 1600, 1200, 24), (0x140, _D, 320, 200, 32), (0x141, _D, 640, 400, 32),
          (0x142, _D, 640, 480, 32), (0x143, _D, 800, 600, 32), (0x144, _D, 1024, 768, 32),
          (0x145, _D, 1280, 1024, 32), (0x146, _P, 320, 200, 8), (0x147, _D, 1600, 1200, 32),
          (0x148, _P, 1152, 864, 8), (0x149, _D, 1152, 864, 15), (0x14A, _D, 1152, 864, 16),
          (0x14B, _D, 1152, 864, 24), (0x14C, _D, 1152, 864, 32)]
_WIDE = [(1280, 768), (1280, 800), (1280, 960), (1440, 900), (1400, 1050), (1680, 1050), (1920, 1200),
         (2560, 1600), (1280, 720), (1920, 1080), (1600, 900), (2560, 1440)]
_SVGA += [(0x175 + 3 * i + j, _D, w, h, d) for i, (w, h) in enumerate(_WIDE) for j, d in enumerate((16, 24, 32))]
_SVGA += [(0x199, _D, 3840, 2160, 16), (0x19A, _D, 3840, 2160, 32), (0x19B, _D, 4096, 2160, 16),
          (0x19C, _D, 4096, 2160, 32), (0x19D, _D, 5120, 2160, 16), (0x19E, _D, 5120, 2160, 32)]
_VGA = [(0x00, MM_TEXT, 40, 25, 4, 9, 16, 0xB800), (0x01, MM_TEXT, 40, 25, 4, 9, 16, 0xB800),
        (0x02, MM_TEXT, 80, 25, 4, 9, 16, 0xB800), (0x03, MM_TEXT, 80, 25, 4, 9, 16, 0xB800),
        (0x04, MM_CGA, 320, 200, 2, 8, 8, 0xB800), (0x05, MM_CGA, 320, 200, 2, 8, 8, 0xB800),
        (0x06, MM_CGA, 640, 200, 1, 8, 8, 0xB800), (0x07, MM_TEXT, 80, 25, 4, 9, 16, 0xB000),
        (0x0D, MM_PLANAR, 320, 200, 4, 8, 8, 0xA000), (0x0E, MM_PLANAR, 640, 200, 4, 8, 8, 0xA000),
        (0x0F, MM_PLANAR, 640, 350, 1, 8, 14, 0xA000), (0x10, MM_PLANAR, 640, 350, 4, 8, 14, 0xA000),
        (0x11, MM_PLANAR, 640, 480, 1, 8, 16, 0xA000), (0x12, MM_PLANAR, 640, 480, 4, 8, 16, 0xA000),
        (0x13, MM_PACKED, 320, 200, 8, 8, 8, 0xA000), (0x6A, MM_PLANAR, 800, 600, 4, 8, 16, 0xA000)]


def seabios_modes(total_memory, lfb):
    """The modes SeaBIOS's VGA BIOS lists and describes, computed as vgasrc/vbe.c (vbe_104f01) and
    vgasrc/bochsvga.c (bochsvga_setup drops modes that don't fit the video memory) do."""
    out = []
    for number, model, w, h, depth in _SVGA:
        mode = _seabios_mode(number, model, w, h, depth, (8, 16), 0xA000, total_memory, lfb)
        if h * mode.pitch * (4 if model == MM_PLANAR else 1) <= total_memory:
            out.append(mode)
    out += [_seabios_mode(n, m, w, h, d, (cw, ch), seg, total_memory, lfb) for n, m, w, h, d, cw, ch, seg in _VGA]
    return tuple(out)


def _seabios_mode(number, model, w, h, depth, char, seg, total_memory, lfb):
    pitch = {MM_TEXT: w * 2, MM_CGA: w * depth // 8, MM_PLANAR: w // 8}.get(model, w * ((depth + 7) // 8))
    pages = total_memory // -(-h * pitch // 0x10000 * 0x10000)
    attributes, planes, banks, bank_size = 0x3B, 1, 1, 0   # supported|extended|colour|graphics|not VGA
    if model == MM_TEXT:
        attributes = (attributes & ~0x10 | 0x04) & (~0x08 if seg == 0xB000 else ~0)
        pages = 1
    elif model == MM_CGA:
        pages, banks, bank_size = 1, 2, 8
    elif model == MM_PLANAR:
        planes, pages = 4, pages // 4
    else:
        attributes |= 0x80                                 # linear frame buffer
    pages = min(pages, 128)
    pages += pages < 2
    return VideoMode(number, w, h, depth, attributes, pitch, lfb if attributes & 0x80 else 0, model,
                     pages - 1, char, seg, planes, banks, bank_size)


# QEMU's std VGA EDID (hw/display/edid-generate.c, read by SeaBIOS from BAR2 into VBE_edid): block 0
# ("QEMU Monitor", EDID 1.4 header) and a CTA-861 extension, as 4F15h BL=01h returned them.
QEMU_EDID = bytes.fromhex(
    "00FFFFFFFFFFFF0049143412000000002A180104A520147806EE91A3544C99260F5054210800E1C0D1C0D100A940B300"
    "950081808140EA2900C051201C304026444045CB10000018000000F7000A004082002820000000000000000000FD0032"
    "7D1EA0FF010A202020202020000000FC0051454D55204D6F6E69746F720A013A02030B00467D6560591F610000001000"
    "000000000000000000000000000000001000000000000000000000000000000000001000000000000000000000000000"
    "000000001000000000000000000000000000000000001000000000000000000000000000000000001000000000000000"
    "0000000000000000000000000000002F")
