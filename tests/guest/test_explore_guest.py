"""``physcall explore`` for real in the guest, one jump, held against oracles nobody here wrote:
the guest kernel's ``BIOS-e820:`` boot lines, Debian's hwinfo (libx86emu runs the same VGA BIOS),
and the kernel's own copies of the SMBIOS entry point and table in /sys/firmware/dmi/tables.
"""

import json
import re
import subprocess
import sys

import pytest

from physcall.explore import explore
from physcall.vmbackend import Session

pytestmark = pytest.mark.guest
E820_LINE = re.compile(r"BIOS-e820: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\] (.+)$", re.M)
# hwinfo --vbe log: "  0x0112[bb]: 640x480+1920, 24 bpp, fb: ..." or "  0x0003[2f]: 80x25, text"
HWINFO_MODE = re.compile(r"^  0x([0-9a-f]{4})\[([0-9a-f]{2})\]: (\d+)x(\d+)(?:\+\d+)?, (?:(\d+)(?:\+(\d+))? bpp|text)",
                         re.M)


@pytest.fixture(scope="module")
def survey(jump_guest):
    return explore(backend="vm", session=Session(guest=jump_guest))


def test_one_jump(survey):
    assert survey["backend"] == "vm" and survey["jumps"] == 1


def test_e820_equals_boot_log(survey, jump_guest):
    boot_log = [(int(a, 16), int(b, 16) + 1, t.strip()) for a, b, t in E820_LINE.findall(jump_guest.dmesg())]
    assert boot_log and [(e["base"], e["base"] + e["length"], e["type_name"]) for e in survey["e820"]] == boot_log


def hwinfo_modes(guest):
    rc, _, err = guest.run(["hwinfo", "--vbe", "--log", "/tmp/hwinfo.log"], timeout=180)
    assert rc == 0, err
    log = guest.read_file("/tmp/hwinfo.log").decode(errors="replace")
    return {int(m, 16): (int(attr, 16), int(w), int(h), int(bpp) + int(pad or 0) if bpp else None)
            for m, attr, w, h, bpp, pad in HWINFO_MODE.findall(log)}


# hwinfo's hd/vbe.c prints BitsPerPixel only for direct color (as color bits "+" the rest); for the
# other memory models it prints a depth of its own, by model: CGA 2, Hercules 1, planar 4, packed 8,
# text none.  So those modes are held to hwinfo through their memory model.
HWINFO_DEPTH = {0: None, 1: 2, 2: 1, 3: 4, 4: 8}


def test_every_vbe_mode_equals_hwinfo(survey, jump_guest):
    theirs = hwinfo_modes(jump_guest)
    ours = {m["mode"]: (m["attributes"] & 0xFF, m["width"], m["height"],
                        HWINFO_DEPTH.get(m["memory_model"], m["bpp"])) for m in survey["vbe"]["modes"]}
    assert len(ours) > 10 and ours == theirs
    direct = [m for m in survey["vbe"]["modes"] if m["memory_model"] == 6]
    assert direct and all(theirs[m["mode"]][3] == m["bpp"] for m in direct)


def test_edid_is_valid(survey):
    edid = bytes.fromhex(survey["edid"]["hex"])
    assert edid[:8] == b"\x00\xff\xff\xff\xff\xff\xff\x00" and sum(edid) % 256 == 0
    assert survey["edid"]["header_ok"] and survey["edid"]["checksum_ok"]


def test_smbios_equals_sysfs(survey, jump_guest):
    entry = jump_guest.read_file("/sys/firmware/dmi/tables/smbios_entry_point")
    table = jump_guest.read_file("/sys/firmware/dmi/tables/DMI")
    s = survey["smbios"]
    assert bytes.fromhex(s["entry_point"]) == entry and s["table_length"] == len(table)
    assert s["bios"]["vendor"] == "SeaBIOS" and s["structures"] > 3


def test_smbios_structures_equal_the_kernels_table(survey, jump_guest):
    """The jump keeps types 0-4/17 of the table and the type of every structure; the kernel's own
    copy of the whole table (/sys/firmware/dmi/tables/DMI) must say the same."""
    from physcall.smbios_decode import summary
    entry = jump_guest.read_file("/sys/firmware/dmi/tables/smbios_entry_point")
    whole = summary(entry, jump_guest.read_file("/sys/firmware/dmi/tables/DMI"))
    for key in ("structures", "types", "bios", "system", "baseboard", "processors", "memory_devices"):
        assert survey["smbios"][key] == whole[key], key


def test_bios_strings_and_date_equal_devmem(survey, jump_guest):
    """The flat routine finds the strings that name the BIOS in the F segment (a run of 6+ printable
    bytes with "bios", "version", "copyright" or "(c)", no "%"); the same rule over the F segment as
    Linux reads it through /dev/mem must find the same, and the date at FFFF5h."""
    fseg = devmem(jump_guest, 0xF0000, 0x10000)
    runs = [r.decode() for r in re.findall(rb"[\x20-\x7e]{6,}", fseg)]
    named = [r for r in runs if re.search(r"bios|version|copyright|\(c\)", r, re.I) and "%" not in r]
    assert "SeaBIOS" in named and survey["bios"]["strings"] == named[:8]
    assert survey["bios"]["date"] == fseg[0xFFF5:0xFFFD].decode()


def test_tables_have_good_checksums(survey, jump_guest):
    tables = {k: v for k, v in survey["tables"].items() if k != "call"}
    assert {"rsdp", "mp", "pir", "bios32", "pnp"} <= set(tables)
    assert all(t["checksum_ok"] for t in tables.values())
    anchors = {"rsdp": b"RSD PTR ", "mp": b"_MP_", "pir": b"$PIR", "bios32": b"_32_", "pnp": b"$PnP"}
    for name, anchor in anchors.items():             # the same bytes where Linux sees them
        assert devmem(jump_guest, tables[name]["address"], len(anchor)) == anchor, name


def devmem(guest, addr, size):
    code = "f=open('/dev/mem','rb',buffering=0); f.seek(%d); print(f.read(%d).hex())" % (addr, size)
    rc, out, err = guest.run([guest.python, "-c", code])
    assert rc == 0, err
    return bytes.fromhex(out.decode().strip())


def test_cli_explore_vm_json():
    """`physcall explore --backend vm --json`: its own guest, one jump, JSON only."""
    proc = subprocess.run([sys.executable, "-m", "physcall", "explore", "--backend", "vm", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["jumps"] == 1 and doc["memory"]["int12_kib"] == 639 and doc["vbe"]["modes"]
