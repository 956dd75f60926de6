"""``physcall explore`` in the emulator, held against the stub BIOS's profile, default and different.

The guest tests (tests/guest/test_explore_guest.py) hold the real jump against the guest kernel's
boot log, hwinfo and sysfs; here the oracle is the profile the stub BIOS was built from, and a profile
that differs from the default in every item the survey reads, so that an answer baked into the
decoder cannot pass.
"""

import json

import pytest

from physcall.cli import main
from physcall.emulator import stubbios
from physcall.emulator.profile import RESERVED, USABLE, Disk, Profile
from physcall.explore import explore, survey_calls
from physcall.explore_table import render

OTHER = Profile.default().replace(
    name="other", base_memory_kib=630, equipment=0x4421,
    memory_map=((0, 0x9D800, USABLE, 1), (0x9D800, 0x2800, RESERVED, 1), (0x100000, 0x7F00000, USABLE, 1)),
    video_modes=Profile.default().video_modes[3:9], pci_version=0x0300, pci_last_bus=2,
    disks=(Disk(0x80, cylinders=1024, heads=16, sectors=63, total_sectors=2097152),),
    model=(0xF8, 0x01, 0x02, 0x70, 0x00, 0, 0, 0))


@pytest.mark.parametrize("profile", [Profile.default(), OTHER], ids=["default", "other"])
def test_survey_equals_the_profile(profile):
    s = explore(firmware=stubbios.build(profile))
    assert s["jumps"] == 0 and s["backend"] == "emulator"
    assert s["memory"]["int12_kib"] == profile.base_memory_kib
    assert s["memory"]["int11_equipment"] == profile.equipment
    assert [(e["base"], e["length"], e["type"]) for e in s["e820"]] == [m[:3] for m in profile.memory_map]
    assert s["e820_totals"]["usable"] == sum(m[1] for m in profile.memory_map if m[2] == USABLE)
    assert [(m["mode"], m["width"], m["height"], m["bpp"], m["memory_model"], m["lfb"])
            for m in s["vbe"]["modes"]] == [(v.number, v.width, v.height, v.bpp, v.memory_model, v.lfb)
                                             for v in profile.video_modes]
    assert bytes.fromhex(s["edid"]["hex"]) == profile.edid[:128]
    assert s["edid"]["header_ok"] and s["edid"]["checksum_ok"]
    assert s["pci_bios"]["version"] == "%x.%02x" % (profile.pci_version >> 8, profile.pci_version & 0xFF)
    assert s["pci_bios"]["last_bus"] == profile.pci_last_bus
    assert (s["config_table"]["model"], s["config_table"]["submodel"]) == profile.model[:2]
    disks = [d for d in profile.disks if d.drive >= 0x80]
    assert [(d["drive"], d["params"]["sectors"]) for d in s["edd"]["drives"]] == \
        [(d.drive, d.total_sectors) for d in disks]
    assert not s["apm"]["present"] and not s["smbios"]["present"]     # the stub models neither


def test_every_item_names_its_call():
    s = explore()
    assert s["e820"][0]["call"].startswith("int 15h ax=e820h") and s["memory"]["int12_call"] == "int 12h"
    assert s["apm"]["call"] == "int 15h ax=5300h bx=0" and s["pci_bios"]["call"] == "int 1ah ax=b101h"
    for key in ("bios", "config_table", "vbe", "edid", "smbios", "tables"):
        assert s[key]["call"], key


def test_the_survey_is_two_calls_of_one_batch():
    """One batch (one jump); two calls, since each call costs a trip to real mode and back."""
    assert [call.mode for _, call in survey_calls()] == ["real16", "flat32"]


def test_cli_json_and_table(capsys):
    assert main(["explore", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"e820", "vbe", "edid", "smbios", "pci_bios", "apm", "edd", "memory", "config_table", "bios",
            "tables", "jumps"} <= set(doc)
    assert main(["explore"]) == 0
    table = capsys.readouterr().out
    assert "VBE         3.0, SeaBIOS VBE(C) 2011" in table and "1600x1200" in table


def test_render_has_totals():
    assert "total usable" in render(explore())


def _phys(ranges, address, size):
    for phys, data in ranges:
        if phys <= address and address + size <= phys + len(data):
            return data[address - phys:address - phys + size]
    raise AssertionError("%#x+%d is not in the snapshot" % (address, size))


def test_on_seabios_the_routine_finds_what_a_scan_of_its_memory_finds(seabios_snapshot):
    """The survey keeps only what it reads of the F segment and the SMBIOS table (the bytes cost jump
    time); on a snapshot of the real SeaBIOS, what it keeps must equal what a plain scan of the same
    memory finds: the vendor strings (printable runs naming the BIOS, no printf formats), the date, each
    table header's first address on a 16-byte boundary, and SMBIOS types 0-4/17 from the whole table."""
    import re

    from physcall.snapshot import read_core
    from physcall.smbios_decode import summary
    ranges, _ = read_core(seabios_snapshot)
    fseg = _phys(ranges, 0xF0000, 0x10000)
    s = explore(firmware=seabios_snapshot)
    runs = [r.decode() for r in re.findall(rb"[\x20-\x7e]{6,}", fseg)]
    named = [r for r in runs if re.search(r"bios|version|copyright|\(c\)", r, re.I) and "%" not in r]
    assert "SeaBIOS" in named and s["bios"]["strings"] == [r[:124] for r in named[:8]]
    assert all(fseg[p["offset"] - 0xF0000:][:p["length"]].decode() == named[i]
               for i, p in enumerate(s["bios"]["string_places"]))
    assert s["bios"]["date"] == fseg[0xFFF5:0xFFFD].decode() and s["bios"]["model"] == fseg[0xFFFE]
    anchors = {"rsdp": b"RSD PTR ", "mp": b"_MP_", "pir": b"$PIR", "bios32": b"_32_", "pnp": b"$PnP"}
    for name, anchor in anchors.items():
        at = next(off for off in range(0, 0x10000, 16) if fseg[off:off + len(anchor)] == anchor)
        assert s["tables"][name]["address"] == 0xF0000 + at and s["tables"][name]["checksum_ok"], name
    sm = s["smbios"]
    whole = summary(bytes.fromhex(sm["entry_point"]), _phys(ranges, sm["table_address"], sm["table_length"]))
    assert whole["structures"] > 5 and len(whole["types"]) > 5
    for key in ("structures", "types", "bios", "system", "baseboard", "processors", "memory_devices"):
        assert sm[key] == whole[key], key


def test_edd_asks_only_for_the_disks_the_bda_counts():
    """Int 13h is dear in a jump; drives past the BDA's count (0040:0075) are not asked at all."""
    import physcall
    two = Profile.default().replace(disks=(Disk(0x80, cylinders=1024, heads=16, sectors=63, total_sectors=2097152),
                                           Disk(0x81, cylinders=512, heads=16, sectors=63, total_sectors=516096)))
    for profile, asked in ((OTHER, 2), (two, 4)):
        real, _ = physcall.invoke([call for _, call in survey_calls()], firmware=stubbios.build(profile))
        edd = [i for i in real.report.interrupts if i["vector"] == 0x13 and i["ax"] >> 8 in (0x41, 0x48)]
        assert len(edd) == asked, edd
        assert [d["drive"] for d in explore(firmware=stubbios.build(profile))["edd"]["drives"]] == \
            [d.drive for d in profile.disks if d.drive >= 0x80]


def test_string_scan_finds_every_run_whatever_its_alignment():
    """The routine tests the F segment a dword at a time; runs of exactly 6 bytes at each offset mod 4,
    keywords in any case, runs with '%', runs too short, and a run that ends the segment: what it keeps
    must be what a byte-by-byte regex keeps (the oracle is Python's re over the same bytes)."""
    import dataclasses
    import re
    fw = stubbios.build()
    low = bytearray(fw.low)
    texts = [b"xbios!", b"(C)abc", b"ab(c)d", b"VERSION", b"BiOs 1.0 %d", b"bios", b"Copyright 2026",
             b"copyrigh", b"zzBIOSz", b"my version 2", b"AwardBIOS v6", b"(c)(c)", b"\x7ebios\x7e"]
    at = 0xF4300
    for i, text in enumerate(texts):
        at += 5 + (i % 4)                        # every start offset mod 4
        low[at:at + len(text)] = text
        at += len(text)
    low[0xFFFFA - 12:0xFFFFA] = b"Phoenix BIOS"    # runs into the date's last bytes
    fw = dataclasses.replace(fw, low=bytes(low))
    fseg = bytes(low[0xF0000:0x100000])
    runs = [r.decode() for r in re.findall(rb"[\x20-\x7e]{6,}", fseg)]
    named = [r for r in runs if re.search(r"bios|version|copyright|\(c\)", r, re.I) and "%" not in r]
    assert len(named) > 8
    s = explore(firmware=fw)
    assert s["bios"]["strings"] == named[:8]
    assert {"xbios!", "(C)abc", "ab(c)d", "VERSION"} <= set(s["bios"]["strings"])
    low[0xF4300:0xF4400] = bytes(0x100)                      # only the run that ends at the date is left
    s = explore(firmware=dataclasses.replace(fw, low=bytes(low)))
    tail = [r for r in re.findall(rb"[\x20-\x7e]{6,}", bytes(low[0xF0000:])) if b"BIOS" in r]
    assert tail and s["bios"]["strings"][-1] == tail[-1].decode()


def test_table_headers_are_found_inside_printable_runs_and_past_the_kept_strings():
    """A table header is found wherever it sits on a 16-byte boundary of the F segment, however the
    string scan sees the bytes around it: in the middle of a longer run of text, right after printable
    bytes, alone, past more BIOS-naming strings than the survey keeps; and the EBDA is searched first.
    (A faster scan that looked for headers only inside the string scan's runs was tried and measured
    slower; this pins the behaviour any such change must keep.)"""
    import dataclasses
    fw = stubbios.build()
    low = bytearray(fw.low)
    ebda = int.from_bytes(low[0x40E:0x410], "little") << 4
    signatures = {"mp": b"_MP_", "pnp": b"$PnP", "bios32": b"_32_", "pir": b"$PIR"}
    for sig in signatures.values():                          # no header of the stub's own is left
        for off in range(0xF0000, 0x100000, 16):
            if low[off:off + 4] == sig:
                low[off:off + 4] = b"\0\0\0\0"
    at = 0xF4300
    for i in range(12):                                      # more than the 8 strings the survey keeps
        text = b"BIOS string %02d" % i
        low[at:at + len(text)] = text
        at += len(text) + 5
    at = (at + 0x3F) & ~0xF
    text = b"leading_MP_ and trailing"                          # _MP_ at a boundary inside a run
    low[at - 7:at - 7 + len(text)] = text
    placed = {"mp": at}
    at += 0x40
    low[at - 2:at + 4] = b"zz$PnP"                              # right after printable bytes
    placed["pnp"] = at
    at += 0x40
    low[at:at + 4] = b"_32_"                                    # a run of its own
    placed["bios32"] = at
    low[ebda + 0x20:ebda + 0x24] = b"$PIR"                      # the EBDA is searched first
    low[at + 0x40:at + 0x44] = b"$PIR"
    placed["pir"] = ebda + 0x20
    s = explore(firmware=dataclasses.replace(fw, low=bytes(low)))
    assert len(s["bios"]["strings"]) == 8
    for name, where in placed.items():
        assert s["tables"][name]["address"] == where, name


def _random_fseg(r, keyword_rate):
    """64 KiB that look like a firmware image to the scan: fill (00h, FFh, NOPs), random bytes, bytes at
    the edges of printable (1Fh, 20h, 7Eh, 7Fh, 80h), and text with the keywords in any case, near
    misses and "%"."""
    keywords = [b"bios", b"BIOS", b"BiOs", b"version", b"VERSION", b"copyright", b"Copyright", b"(c)", b"(C)",
                b"copyrigh", b"versio", b"bio", b"(c"]
    out = bytearray()
    while len(out) < 0x10000:
        k = r.random()
        if k < 0.25:
            out += bytes([r.choice([0, 0xFF, 0x90])]) * r.randint(1, 300)
        elif k < 0.45:
            out += bytes(r.randrange(256) for _ in range(r.randint(1, 200)))
        elif k < 0.55:
            out += bytes(r.choice([0x7F, 0x1F, 0x20, 0x7E, 0x80, 0x41]) for _ in range(r.randint(1, 20)))
        else:
            for _ in range(r.randint(1, 6)):
                c = r.random()
                out += (r.choice(keywords) if c < keyword_rate else b"%" if c < keyword_rate + 0.1 else
                        bytes(r.randrange(0x20, 0x7F) for _ in range(r.randint(1, 12))))
    return out[:0x10000]


def test_the_flat_routine_finds_what_python_finds_in_random_segments():
    """The flat routine's string scan and header scan, on 60 random F segments and EBDAs (headers
    planted on paragraph boundaries of both, runs that start the segment and end it): its strings,
    their places and the table headers' addresses and copied sizes must be what Python's re and a
    paragraph loop find in the same bytes.  The routine works a dword at a time with borrow and carry
    tricks; the oracle works a byte at a time."""
    import dataclasses
    import random
    import re
    import struct

    import physcall
    from physcall import explore as ex
    from physcall.explore_decode import bios, tables
    signatures = {"rsdp": b"RSD PTR ", "mp": b"_MP_", "pnp": b"$PnP", "bios32": b"_32_", "pir": b"$PIR"}
    decoys = [b"RSD PTX", b"_SM3x", b"$", b"R", b"_"]
    base = stubbios.build()
    r = random.Random(20261130)
    for trial in range(60):
        low = bytearray(base.low)
        fseg = _random_fseg(r, r.choice([0.3, 0.02, 0.005, 0.0]))
        if trial % 3 == 0:
            fseg[:14] = b"Version 1 BIOS"
        if trial % 4 == 0:
            fseg[-20:] = b"xx (c) copyright end"
        low[0xF0000:0x100000] = fseg
        ebda = int.from_bytes(low[0x40E:0x410], "little") << 4
        for _ in range(r.randint(0, 8)):
            at = r.choice([ebda + r.randrange(0, 1024, 16), 0xF0000 + r.randrange(0, 0x10000, 16)])
            sig = r.choice(list(signatures.values()) + decoys + [b"_SM_", b"_SM3_"])
            low[at:at + len(sig)] = sig
        fw = dataclasses.replace(base, low=bytes(low))
        flat = physcall.invoke(survey_calls()[1][1], firmware=fw)
        assert flat.status == "returned", (trial, flat.status)
        copies = flat.buffers["edi"]
        fseg = bytes(low[0xF0000:0x100000])
        runs = [m for m in re.finditer(rb"[\x20-\x7e]{6,}", fseg)
                if re.search(rb"bios|version|copyright|\(c\)", m.group(), re.I) and b"%" not in m.group()]
        want = [{"offset": 0xF0000 + m.start(), "length": len(m.group()),
                 "text": m.group()[:ex.STRING_SLOT - 4].decode()} for m in runs[:ex.STRINGS]]
        assert bios(copies)["string_places"] == want, trial
        paragraphs = [(a, 1024 + ebda) for a in range(ebda, ebda + 1024, 16)] + \
                     [(a, 0x100000) for a in range(0xF0000, 0x100000, 16)]
        found = tables(copies)
        for i, (name, sig) in enumerate(signatures.items()):
            first = next(((a, end) for a, end in paragraphs if low[a:a + len(sig)] == sig), None)
            address, copied = struct.unpack_from("<II", copies, ex.FLAT_ANCHORS + 8 * i)
            if first is None:
                assert name not in found and address == 0, (trial, name)
            else:
                size = ex.PIR_SLOT if name == "pir" else ex.ANCHOR_SLOT
                assert (address, copied) == (first[0], min(first[1] - first[0], size)), (trial, name)
                start = ex.FLAT_ANCHOR_DATA + ex.ANCHOR_SLOT * i
                assert copies[start:start + copied] == low[first[0]:first[0] + copied], (trial, name)
        sm = next((a for a, _ in paragraphs[64:] if low[a:a + 4] == b"_SM_" or low[a:a + 5] == b"_SM3_"), 0)
        assert struct.unpack_from("<I", copies, ex.FLAT_ANCHORS + 8 * ex.SMBIOS_SLOT)[0] == sm, trial


def _smbios_table(r, count):
    """``count`` random structures (SMBIOS 3.x section 6.1: type, length, handle, formatted area, then
    strings ending in a double NUL), types the survey decodes and others, 127 now and then."""
    types = [0, 1, 2, 3, 4, 17, 17, 17, 7, 9, 16, 19, 32] + ([127] if count < 200 else [])
    out = bytearray()
    for handle in range(count):
        kind = r.choice(types)
        formatted = r.randint(4, 40) if count >= 200 or r.random() < 0.97 else r.randint(0, 3)
        out += bytes([kind, formatted]) + handle.to_bytes(2, "little")
        out += bytes(r.randrange(256) for _ in range(max(0, formatted - 4)))
        strings = [bytes(r.randrange(0x20, 0x7F) for _ in range(r.randint(1, 30))) for _ in range(r.randint(0, 3))]
        out += b"".join(s + b"\0" for s in strings) + b"\0" if strings else b"\0\0"
        if kind == 127 and r.random() < 0.7:
            break
    return bytes(out)


def _drop_smbios_entry_points(low):
    """Blank the stub's own _SM_/_SM3_ headers in the F segment of ``low``, so that a test's is the one."""
    for off in range(0xF0000, 0x100000, 16):
        if low[off:off + 4] in (b"_SM_", b"_SM3"):
            low[off:off + 4] = bytes(4)


def _walk(table, length):
    """The structure table walked in Python: [(type, bytes)] up to ``length`` bytes, the end-of-table
    structure (127) or a structure that does not fit (``table``: the memory from its start, past
    ``length``)."""
    out, at = [], 0
    while at + 4 <= length and table[at + 1] >= 4:
        end = table.find(b"\0\0", at + table[at + 1])
        if end < 0 or end + 2 > length:
            break
        out.append((table[at], table[at:end + 2]))
        at = end + 2
        if out[-1][0] == 127:
            break
    return out


def test_the_smbios_walk_matches_python_on_random_tables():
    """Random structure tables behind _SM_ and _SM3_ entry points (a few structures to 600, lengths that
    cut a structure, formatted areas too short to be one, _SM3_ tables above 4 GiB): a table of up to
    SMBIOS_WHOLE bytes comes back whole, byte for byte, and the survey decodes from it what a Python walk
    of the same bytes gives; of a longer one the count of structures walked, the type of each (the first
    SMBIOS_TYPES) and the structures of the decoded types kept (while they fit SMBIOS_KEPT) must be what
    the Python walk gives."""
    import dataclasses
    import random
    import struct

    import physcall
    from physcall import explore as ex
    from physcall import explore_decode
    base = stubbios.build()
    r = random.Random(1130)
    whole_tables = 0
    for trial in range(40):
        low = bytearray(base.low)
        _drop_smbios_entry_points(low)
        table = _smbios_table(r, r.choice([1, 5, 30, 200, 600]))[:0xF000]
        at = 0x90000
        low[at:at + len(table)] = table
        length = len(table) if r.random() < 0.8 else r.randrange(0, len(table) + 50)
        high = trial % 10 == 9
        ep = bytearray(31)
        if trial % 2:
            ep[0:4], ep[5] = b"_SM_", 31
            struct.pack_into("<HI", ep, 0x16, min(length, 0xFFFF), at)
            length = min(length, 0xFFFF)
        else:
            ep[0:5], ep[6] = b"_SM3_", 24
            struct.pack_into("<IQ", ep, 0x0C, length, at | (1 << 32 if high else 0))
        ep_at = 0xF0000 + 16 * r.randrange(0x100, 0xF00)
        low[ep_at:ep_at + len(ep)] = ep
        flat = physcall.invoke(survey_calls()[1][1], firmware=dataclasses.replace(base, low=bytes(low)))
        assert flat.status == "returned", (trial, flat.status)
        unread = high and not trial % 2                 # an _SM3_ table above 4 GiB
        walked = [] if unread else _walk(bytes(low[at:at + length + 64]), length)
        area = flat.buffers["ebp"]
        if not unread and 0 < length <= ex.SMBIOS_WHOLE:
            whole_tables += 1
            assert (flat.regs.ecx, flat.regs.ebx) == (ex.SMBIOS_COPIED, length), trial
            assert area[:length] == low[at:at + length], trial
            survey = explore_decode.smbios(flat)
            assert survey["structures"] == len(walked), trial
            assert survey["types"] == sorted({k for k, _ in walked}), trial
            continue
        kept, size = b"", 0
        for kind, data in walked:
            if kind in ex.SMBIOS_DECODED and size + len(data) <= ex.SMBIOS_KEPT:
                kept, size = kept + data, size + len(data)
        assert (flat.regs.ecx, flat.regs.ebx) == (len(walked), size), trial
        assert area[8:8 + min(len(walked), ex.SMBIOS_TYPES)] == bytes(k for k, _ in walked[:ex.SMBIOS_TYPES]), trial
        assert area[ex.SMBIOS_AT:ex.SMBIOS_AT + size] == kept, trial
    assert 5 < whole_tables < 35, whole_tables          # both ways were taken


def test_the_smbios_walk_reads_nothing_past_the_table():
    """A table the walk must not touch: behind an _SM3_ entry point its address is above 4 GiB (the low
    dword names a device's range), behind an _SM_ one its length is 0 (the address is the I/O APIC's) or
    it would run past 4 GiB and wrap to the IVT.  In a jump that read would reach a device or the wrong
    memory; in the dry run it is an unknown read.  None may happen."""
    import dataclasses
    import struct

    import physcall
    base = stubbios.build()
    for sig, length, address in ((b"_SM3_", 0x1000, 0x1_7FFE0000), (b"_SM_", 0, 0xFEC00000),
                                 (b"_SM_", 0x200, 0xFFFFFF00)):
        low = bytearray(base.low)
        _drop_smbios_entry_points(low)
        ep = bytearray(31)
        ep[0:len(sig)] = sig
        if sig == b"_SM3_":
            ep[6] = 24
            struct.pack_into("<IQ", ep, 0x0C, length, address)
        else:
            ep[5] = 31
            struct.pack_into("<HI", ep, 0x16, length, address)
        low[0xF8000:0xF8000 + len(ep)] = ep
        flat = physcall.invoke(survey_calls()[1][1], firmware=dataclasses.replace(base, low=bytes(low)))
        assert flat.status == "returned" and flat.report.hazards == [], (sig, flat.report.hazards)
        assert (flat.regs.ecx, flat.regs.ebx) == (0, 0), sig
