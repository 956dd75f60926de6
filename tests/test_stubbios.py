"""The stub BIOS answers what its profile says, through the public path (physcall.invoke, emulator).

Two oracles nobody here wrote: SeaBIOS 1.16.2 in QEMU 7.2 (``tests/data/seabios-qemu-256M.json``,
recorded by ``tests/data/seabios_oracle.py``) for the default profile, and the specs' own checks
(EDID and EDD checksums, VBE/E820 layouts).  A second, unlike profile (1 GiB, 24-byte E820 entries,
two disks, keys, another clock) proves the answers come from the profile, not from constants.
"""

import json
import os
import struct

import pytest

import physcall
from physcall.layout import lay_out
from physcall import Buffer, interrupt
from physcall.emulator import stubbios
from physcall.emulator.profile import Disk, Profile, VideoMode
from physcall.errors import PhyscallError

ORACLE = json.load(open(os.path.join(os.path.dirname(__file__), "data", "seabios-qemu-256M.json")))["answers"]
SMAP = 0x534D4150
GIB = Profile.default().replace(
    name="test-1G", memory_map=((0, 0x9F000, 1, 1), (0x9F000, 0x1000, 2, 1), (0xE0000, 0x20000, 2, 1),
                                (0x100000, 0x3FEF0000, 1, 1), (0x3FFF0000, 0x10000, 3, 1),
                                (0xFEC00000, 0x1000, 2, 0), (0x100000000, 0x40000000, 1, 3)),
    e820_entry_size=24, base_memory_kib=636, ebda_segment=0x9F00, ebda_kib=4, equipment=0x4427,
    disks=(Disk(0x00, 80, 2, 18, 2880), Disk(0x80, 2048, 16, 63, 4194304, slave=1, pci=(0, 7, 1, 1)),
           Disk(0x81, 16383, 16, 63, 1 << 31, host_bus="ISA", interface="ATA", io_base=0x170)),
    keyboard=(0x1E61, 0x3062), shift_flags=0x03, clock=(1999, 12, 31, 23, 59, 58), ticks=0x1234,
    pci_last_bus=3, video_modes=(VideoMode(0x120, 800, 600, 32, 0xBB, 3200, 0xE0000000),), edid=b"")


def oracle(tag, i=0):
    es, edi, esi, ebp, esp, ebx, edx, ecx, eax, flags = struct.unpack("<H8II", bytes.fromhex(ORACLE[tag][i]))
    return dict(es=es, edi=edi, esi=esi, ebx=ebx, edx=edx, ecx=ecx, eax=eax, cf=flags & 1)


def run(call, profile=None):
    return physcall.invoke(call, firmware=stubbios.build(profile))


def e820_walk(profile, ecx=24):
    out, ebx = [], 0
    for _ in range(len(profile.memory_map)):
        r = run(interrupt(0x15, eax=0xE820, ebx=ebx, ecx=ecx, edx=SMAP, es_di=Buffer(24, b"\xee" * 24)), profile)
        assert not r.regs.cf and r.regs.eax == SMAP
        out.append(r.buffers["es_di"][:r.regs.ecx])
        ebx = r.regs.ebx
    assert ebx == 0, "the last entry must return EBX=0"
    return out


@pytest.mark.parametrize("profile", [None, GIB], ids=["default", "1G"])
def test_e820_walk_returns_the_profiles_map(profile):
    p = profile or Profile.default()
    entries = e820_walk(p)
    size = p.e820_entry_size
    assert [len(e) for e in entries] == [size] * len(p.memory_map)
    assert [struct.unpack_from("<QQI", e) for e in entries] == [m[:3] for m in p.memory_map]
    if size == 24:
        assert [struct.unpack_from("<I", e, 20)[0] for e in entries] == [m[3] for m in p.memory_map]


def test_e820_default_is_what_seabios_answers():
    assert [bytes.fromhex(h)[:20] for h in ORACLE["E820B"]] == e820_walk(Profile.default())
    assert [oracle("E820", i)["ebx"] for i in range(7)] == [1, 2, 3, 4, 5, 6, 0]


def test_e820_refuses_a_bad_call():
    for regs in (dict(edx=0), dict(ebx=99), dict(ecx=16)):
        call = {**dict(eax=0xE820, ebx=0, ecx=24, edx=SMAP, es_di=Buffer(24)), **regs}
        r = run(interrupt(0x15, **call))
        assert r.regs.cf and r.regs.ah == 0x86


def test_memory_size_services_default_match_seabios():
    assert run(interrupt(0x12)).regs.ax == oracle("I12")["eax"] & 0xFFFF == 639
    assert run(interrupt(0x11)).regs.ax == oracle("I11")["eax"] & 0xFFFF
    # SeaBIOS's handle_11/handle_12 never touch CF: the preset CF=1 survives (oracle: stc; int 12h)
    assert run(interrupt(0x12)).regs.cf == bool(oracle("I12")["cf"]) == run(interrupt(0x11)).regs.cf is True
    r, o = run(interrupt(0x15, ax=0xE801)), oracle("E801")
    assert (r.regs.ax, r.regs.bx, r.regs.cx, r.regs.dx, r.regs.cf) == (
        o["eax"] & 0xFFFF, o["ebx"] & 0xFFFF, o["ecx"] & 0xFFFF, o["edx"] & 0xFFFF, 0)
    assert run(interrupt(0x15, ax=0x8800)).regs.ax == oracle("I1588")["eax"] & 0xFFFF


def test_memory_size_services_follow_the_profile():
    assert run(interrupt(0x12), GIB).regs.ax == 636
    assert run(interrupt(0x11), GIB).regs.ax == 0x4427
    r = run(interrupt(0x15, ax=0xE801), GIB)
    assert (r.regs.ax, r.regs.bx) == (15 * 1024, (0x3FFF0000 - 0x1000000) // 0x10000)


def test_system_configuration_table():
    r = run(interrupt(0x15, ax=0xC000))
    fw = stubbios.build()
    at = (r.regs.es << 4) + r.regs.bx
    assert (r.regs.es, r.regs.bx, r.regs.ah, r.regs.cf) == (0xF000, 0xE6F5, 0, False)
    assert oracle("C0")["ebx"] & 0xFFFF == r.regs.bx and oracle("C0")["es"] == r.regs.es
    # The recorder kept registers only, not the table's bytes: these are SeaBIOS's bios_config_table
    # (src/misc.c: size 8, model FCh, submodel 0, revision 1, feature bytes 74h 40h 0 0 0).
    assert fw.low[at:at + 10] == bytes.fromhex("0800fc00017440000000")


def test_unknown_leaf_sets_cf_ah86_and_is_reported():
    """The stub's answer to a leaf it does not model; the dry run refuses the call (leaves.py)."""
    from physcall.emulator import machine
    for vector, ax in ((0x15, 0xE8FF), (0x10, 0x4F3F), (0x13, 0x5500), (0x16, 0x7700), (0x1A, 0x0F00), (0x14, 0)):
        [r] = machine.run(lay_out(interrupt(vector, ax=ax, ebx=0x1234, ecx=0x5678)), firmware=stubbios.build())
        assert r.regs.cf and r.regs.ah == 0x86 and (r.regs.bx, r.regs.cx) == (0x1234, 0x5678)
        assert "unknown leaf int %02xh" % vector in str(r.report) and r.report.verdict == "refused"
    assert oracle("E8FF")["cf"] and oracle("E8FF")["eax"] >> 8 & 0xFF == 0x86


def vbe_info(profile=None, data=b"VBE2"):
    r = run(interrupt(0x10, ax=0x4F00, es_di=Buffer(512, data.ljust(512, b"\xaa"))), profile)
    return r, r.buffers["es_di"]


def test_vbe_info_block_and_mode_list():
    r, block = vbe_info()
    assert r.regs.ax == 0x004F and block[:4] == b"VESA"
    off, seg = struct.unpack_from("<HH", block, 14)
    at = (seg << 4) + off - ((r.regs.es << 4) + r.regs.di)          # the list lives in the block
    words = struct.unpack_from("<%dH" % ((512 - at) // 2), block, at)
    modes = list(words[:words.index(0xFFFF)])
    assert modes == [m.number for m in Profile.default().video_modes]
    real = bytes.fromhex(ORACLE["V4F00B"][0])
    assert block[4:6] == real[4:6] and block[10:14] == real[10:14] and block[18:22] == real[18:22]
    assert block[0x22:0x100] == real[0x22:0x100]


def test_vbe_info_strings_and_256_byte_callers():
    r, block = vbe_info(data=b"VESA")
    assert block[256:] == b"\xaa" * 256, "a caller without 'VBE2' gets 256 bytes only (VBE 3.0 4.3)"
    low = stubbios.build().low
    for at, text in ((6, b"SeaBIOS VBE(C) 2011"), (22, b"SeaBIOS Developers"), (26, b"SeaBIOS VBE Adapter")):
        off, seg = struct.unpack_from("<HH", block, at)
        assert low[(seg << 4) + off:].split(b"\0")[0] == text


def test_vbe_mode_info_matches_seabios_for_every_mode():
    calls = [interrupt(0x10, ax=0x4F01, cx=m.number, es_di=Buffer(256)) for m in Profile.default().video_modes]
    results = physcall.invoke(calls, firmware=stubbios.build())
    for r, real in zip(results, ORACLE["MODEB"]):
        got, real = r.buffers["es_di"], bytes.fromhex(real)
        assert r.regs.ax == 0x004F
        assert got[:12] + got[16:] == real[:12] + real[16:]          # all but WinFuncPtr's address
    assert run(interrupt(0x10, ax=0x4F01, cx=0x1FF, es_di=Buffer(256))).regs.ax == 0x014F


def test_vbe_modes_follow_the_profile():
    r, block = vbe_info(GIB)
    assert struct.unpack_from("<HH", block, 0x22) == (0x120, 0xFFFF)
    info = run(interrupt(0x10, ax=0x4F01, cx=0x4120, es_di=Buffer(256)), GIB).buffers["es_di"]
    assert struct.unpack_from("<HHH", info, 16) == (3200, 800, 600) and struct.unpack_from("<I", info, 40)[0] == 0xE0000000


def test_vbe_set_and_get_mode_and_vga_mode():
    out = physcall.invoke([interrupt(0x10, ax=0x4F02, bx=0x4118), interrupt(0x10, ax=0x4F03),
                           interrupt(0x10, ax=0x0F00), interrupt(0x10, ax=0x0013), interrupt(0x10, ax=0x0F00),
                           interrupt(0x10, ax=0x4F02, bx=0x1FF)], firmware=stubbios.build())
    assert out[0].regs.ax == 0x004F and out[1].regs.bx == 0x4118 and out[2].regs.al == 0xFF
    assert out[3].regs.al == 0x20 and (out[4].regs.al, out[4].regs.ah) == (0x13, 40)
    assert out[5].regs.ax == 0x014F
    assert run(interrupt(0x10, ax=0x0F00)).regs.ax == 0x5003 == oracle("V0F")["eax"] & 0xFFFF


def test_ddc_returns_the_profiles_edid_with_valid_checksums():
    caps = run(interrupt(0x10, ax=0x4F15, bx=0))
    assert (caps.regs.ax, caps.regs.bx) == (0x004F, 0x0103)
    edid = b""
    for block in (0, 1):
        r = run(interrupt(0x10, ax=0x4F15, bx=1, dx=block, es_di=Buffer(128)))
        assert r.regs.ax == 0x004F
        edid += r.buffers["es_di"]
    assert edid == Profile.default().edid == bytes.fromhex(ORACLE["EDID0B"][0] + ORACLE["EDID1B"][0])
    assert edid[:8] == bytes.fromhex("00ffffffffffff00") and sum(edid[:128]) % 256 == 0
    assert run(interrupt(0x10, ax=0x4F15, bx=1, dx=2, es_di=Buffer(128))).regs.ax == 0x014F
    assert run(interrupt(0x10, ax=0x4F15, bx=0), GIB).regs.ax == 0x014F       # no EDID in GIB


def test_disk_parameters_follow_the_profile():
    assert run(interrupt(0x13, ax=0x0800, dx=0x80)).regs.ah == 0x01            # the VM has no disk
    hd = run(interrupt(0x13, ax=0x0800, dx=0x81), GIB).regs
    last = 1023                                                              # capped to 10 bits
    assert (hd.ch, hd.cl, hd.dh, hd.dl, hd.ax, hd.cf) == (last & 0xFF, (last >> 2) & 0xC0 | 63, 15, 2, 0, False)
    fd = run(interrupt(0x13, ax=0x0800, dx=0x00), GIB).regs
    assert (fd.ch, fd.cl, fd.dh, fd.dl, fd.bx) == (79, 18, 1, 1, 4)
    ext = run(interrupt(0x13, ax=0x4100, bx=0x55AA, dx=0x80), GIB).regs
    assert (ext.bx, ext.cx, ext.ah, ext.cf) == (0xAA55, 0x0007, 0x30, False)


@pytest.mark.parametrize("offered, length", [(26, 26), (29, 26), (30, 30), (65, 30), (66, 66), (512, 66), (74, 74)])
def test_edd_parameters_honour_the_buffer_size(offered, length):
    r = run(interrupt(0x13, ax=0x4800, dx=0x80, ds_si=Buffer(offered, struct.pack("<H", offered) + b"\xcc" * (offered - 2))), GIB)
    buf = r.buffers["ds_si"]
    assert not r.regs.cf and r.regs.ah == 0
    size, flags, cyl, heads, spt, total, bps = struct.unpack_from("<HHIIIQH", buf)
    assert (size, cyl, heads, spt, total, bps) == (length, 2048, 16, 63, 4194304, 512)
    assert buf[length:] == b"\xcc" * (offered - length)
    if length >= 30:
        off, seg = struct.unpack_from("<HH", buf, 26)
        dpte = stubbios.build(GIB).low[(seg << 4) + off:][:16]
        assert sum(dpte) % 256 == 0 and struct.unpack_from("<HH", dpte) == (0x1F0, 0x3F6) and dpte[4] == 0xF0
    if length >= 66:
        assert struct.unpack_from("<H", buf, 30)[0] == 0xBEDD and buf[36:40] == b"PCI " and buf[40:48] == b"ATA     "
        assert sum(buf[30:length]) % 256 == 0, "EDD 3.0 device path checksum"
        assert buf[48:51] == bytes((0, 7, 1)) and buf[56] == 1                 # 00:07.1, slave
        assert buf[51] == (1 if length == 74 else 0)                           # T13 adds the channel


def test_edd_refuses_a_small_buffer_and_a_missing_drive():
    r = run(interrupt(0x13, ax=0x4800, dx=0x80, ds_si=Buffer(24, struct.pack("<H", 24))), GIB)
    assert r.regs.cf and r.regs.ah == 0x01
    r = run(interrupt(0x13, ax=0x4800, dx=0x82, ds_si=Buffer(66, struct.pack("<H", 66))), GIB)
    assert r.regs.cf and r.regs.ah == 0x01
    isa = run(interrupt(0x13, ax=0x4800, dx=0x81, ds_si=Buffer(66, struct.pack("<H", 66))), GIB).buffers["ds_si"]
    assert isa[36:40] == b"ISA " and struct.unpack_from("<H", isa, 48)[0] == 0x170 and isa[2] == 0


def test_keyboard_from_the_bda():
    assert run(interrupt(0x16, ax=0x0100), None).regs.zf
    out = physcall.invoke([interrupt(0x16, ax=0x0100), interrupt(0x16, ax=0x0000), interrupt(0x16, ax=0x1000),
                           interrupt(0x16, ax=0x0100), interrupt(0x16, ax=0x0200)], firmware=stubbios.build(GIB))
    assert not out[0].regs.zf and out[0].regs.ax == 0x1E61
    assert [o.regs.ax for o in out[1:3]] == [0x1E61, 0x3062] and out[3].regs.zf and out[4].regs.al == 0x03


def test_clock_and_pci_bios():
    t = run(interrupt(0x1A, ax=0x0200), GIB).regs
    d = run(interrupt(0x1A, ax=0x0400), GIB).regs
    assert (t.cx, t.dh, d.cx, d.dx, t.cf) == (0x2359, 0x58, 0x1999, 0x1231, False)
    ticks = run(interrupt(0x1A, ax=0x0000), GIB).regs
    assert (ticks.cx, ticks.dx, ticks.al) == (0, 0x1234, 0)
    p, o = run(interrupt(0x1A, ax=0xB101)).regs, oracle("PCI")
    assert (p.edx, p.bx, p.ah, p.al, p.cl, p.cf) == (o["edx"], o["ebx"] & 0xFFFF, 0, 1, o["ecx"] & 0xFF, False)
    assert run(interrupt(0x1A, ax=0xB101), GIB).regs.cl == 3


def test_firmware_layout():
    fw = stubbios.build()
    assert fw.vector(0x12) == (0xF000, 0xF841) and fw.vector(0x15) == (0xF000, 0xF859)
    assert all(fw.vector(n) != (0, 0) for n in range(256))
    rom = fw.low[0xC0000:0xC0000 + fw.low[0xC0002] * 512]
    assert rom[:2] == b"\x55\xaa" and sum(rom) % 256 == 0
    assert fw.vector(0x10)[0] == 0xC000
    assert fw.is_writable(0x413, 2) and fw.is_writable(0x9FC00, 1024) and not fw.is_writable(0xF0000, 1)
    assert fw.low[0x9FC00] == 1 and struct.unpack_from("<H", fw.low, 0x40E)[0] == 0x9FC0
    assert stubbios.build() is not fw and stubbios.build().low == fw.low


def test_profile_round_trip_and_errors():
    for p in (Profile.default(), GIB):
        assert Profile.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(PhyscallError, match="unknown field"):
        Profile.from_dict({"name": "x", "memory_map": [[0, 1, 1]], "colour": 1})
    with pytest.raises(PhyscallError, match="EDID"):
        Profile.default().replace(edid=b"\0" * 100)


def test_default_modes_are_seabios_modes():
    real = bytes.fromhex(ORACLE["V4F00B"][0])
    words = struct.unpack_from("<111H", real, 0x22)
    assert [m.number for m in Profile.default().video_modes] == list(words[:words.index(0xFFFF)])


@pytest.mark.parametrize("segment, offset, size", [(0xF000, 0, 0x10000), (0xE000, 0x10, 0x18000),
                                                  (0x40, 0x13, 2), (0xFFFF, 0x0, 0x10)])
def test_read_far_copies_any_size_byte_for_byte(segment, offset, size):
    """64 KiB and more used to come back as zeros (rep movsb counts with CX); the oracle is the
    firmware image the dry run ran on."""
    from physcall.services import read_far
    low = stubbios.build().low + bytes(0x10000)           # FFFF:xxxx reaches the HMA (zeros here)
    at = (segment << 4) + offset
    assert read_far(segment, offset, size) == low[at:at + size]
