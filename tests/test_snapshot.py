"""Snapshots as ELF cores: GNU readelf (an oracle nobody here wrote) reads what physcall writes, and
the firmware tables are found the way the SMBIOS and ACPI specifications place them."""

import json
import struct
import subprocess

import pytest

import physcall
from physcall import snapshot
from physcall.emulator import firmware


def _readelf(*args):
    return subprocess.run(["readelf", *args], capture_output=True, text=True, check=True).stdout


def test_readelf_sees_a_core_with_physical_loads_and_the_note(tmp_path):
    path = str(tmp_path / "s.elf")
    snapshot.write_core(path, [(0, b"\x01" * 4096), (0x7FF0000, b"TABLE")], {"kernel": {"release": "x"}})
    header = _readelf("-h", path)
    assert "CORE (Core file)" in header and "X86-64" in header
    loads = [line.split() for line in _readelf("-lW", path).splitlines() if line.strip().startswith("LOAD")]
    # LOAD Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align
    assert [(int(l[3], 16), int(l[4], 16)) for l in loads] == [(0, 4096), (0x7FF0000, 5)]
    notes = _readelf("-nW", path)
    assert "PHYSCALL" in notes and "0x50430001" in notes.lower().replace("unknown note type: (", "")


def _fake_machine(tmp_path):
    """A 2 MiB 'physical memory' with an SMBIOS 2.x entry point and an ACPI RSDP in the first MiB."""
    mem = bytearray(2 << 20)
    mem[0x40E:0x410] = struct.pack("<H", 0x9FC0)                     # EBDA segment (no RSDP there)
    smbios = b"\x00\x18\x00\x00" + b"SMBIOS-TABLE"
    mem[0x180000:0x180000 + len(smbios)] = smbios
    mem[0xF5A00:0xF5A20] = b"_SM_" + bytes(0x12) + struct.pack("<HI", len(smbios), 0x180000) + bytes(2)
    fadt = b"FACP" + struct.pack("<I", 116) + bytes(108)
    mem[0x1F2000:0x1F2000 + len(fadt)] = fadt
    rsdt = b"RSDT" + struct.pack("<I", 44) + bytes(28) + struct.pack("<II", 0x1F1000, 0x1F2000)
    mem[0x1F0000:0x1F0000 + len(rsdt)] = rsdt
    mem[0x1F1000:0x1F1004] = b"APIC"
    mem[0xE0410:0xE0424] = b"RSD PTR " + bytes(7) + b"\x00" + struct.pack("<I", 0x1F0000)
    path = tmp_path / "mem"
    path.write_bytes(bytes(mem))
    memmap = tmp_path / "root" / "sys" / "firmware" / "memmap"
    for i, (start, end, kind) in enumerate([(0, 0x9FBFF, "System RAM"), (0x9FC00, 0x9FFFF, "Reserved"),
                                            (0xF0000, 0xFFFFF, "Reserved"),
                                            (0x100000, 0x1EFFFFF, "System RAM")]):
        entry = memmap / str(i)
        entry.mkdir(parents=True)
        entry.joinpath("start").write_text("%#x\n" % start)
        entry.joinpath("end").write_text("%#x\n" % end)
        entry.joinpath("type").write_text(kind + "\n")
    pci = tmp_path / "root" / "sys" / "bus" / "pci" / "devices" / "0000:00:01.0"
    pci.mkdir(parents=True)
    pci.joinpath("config").write_bytes(bytes.fromhex("8680007000") + bytes(251))
    return str(path), str(tmp_path / "root"), bytes(mem)


def test_take_finds_smbios_rsdt_and_fadt_above_1mib(tmp_path):
    mem, root, image = _fake_machine(tmp_path)
    ranges, meta = snapshot.take(mem, root)
    names = {t["name"]: (t["phys"], t["size"]) for t in meta["tables"]}
    assert names == {"SMBIOS structure table": (0x180000, 16), "ACPI RSDT": (0x1F0000, 44),
                     "ACPI FADT": (0x1F2000, 116)}
    assert ranges[0] == (0, image[:0x100000])
    assert all(image[phys:phys + len(data)] == data for phys, data in ranges)
    assert meta["e820"][0] == {"start": 0, "end": 0x9FC00, "type": "System RAM"}
    assert meta["pci"]["00:01.0"].startswith("8680007000")


def test_a_snapshot_file_is_a_firmware_source_for_invoke_and_cli(tmp_path):
    """The stub BIOS's own low memory written as a snapshot answers as the stub does."""
    stub = firmware.resolve("stub")
    path = str(tmp_path / "stub.elf")
    snapshot.write_core(path, [(0, stub.low)], {"e820": []})
    on_file = physcall.invoke(physcall.interrupt(0x12), firmware=path)
    assert on_file.regs.ax == 639 and on_file.report.firmware == "snapshot %s" % path
    assert physcall.invoke(physcall.interrupt(0x12), firmware="stub").report.firmware == stub.name
    from physcall.cli import main
    import contextlib, io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["int", "0x12", "--firmware", path, "--json"]) == 0
    assert json.loads(out.getvalue())["results"][0]["report"]["firmware"] == "snapshot %s" % path


def test_unknown_firmware_names_the_choices(tmp_path):
    with pytest.raises(physcall.PhyscallError, match="stub, devmem"):
        physcall.invoke(physcall.interrupt(0x12), firmware=str(tmp_path / "missing.elf"))


def test_build_checks_the_image_on_the_named_firmware(tmp_path, seabios_snapshot, capsys):
    """`physcall build --firmware`: an image is refused when its dry run is, and lists its hazards."""
    from physcall.cli import main
    bad, risky = tmp_path / "ivt.s", tmp_path / "kbd.s"
    bad.write_text("push ds\nxor ax, ax\nmov ds, ax\nmov word ptr [0x40], 1\npop ds\nret\n")
    risky.write_text("mov ah, 2\nint 0x16\nret\n")
    assert main(["build", str(bad), "-o", str(tmp_path / "bad.elf"), "--firmware", seabios_snapshot]) == 1
    assert not (tmp_path / "bad.elf").exists()
    capsys.readouterr()
    assert main(["build", str(risky), "-o", str(tmp_path / "kbd.elf"), "--firmware", seabios_snapshot,
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [h["kind"] for h in doc["hazards"]] == ["sti"]
