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
