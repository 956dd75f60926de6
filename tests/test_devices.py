"""Device models against what the snapshot recorded (bus 0's config spaces from Linux's sysfs, the date)
and the data sheets' protocols; SeaBIOS's own PCI BIOS and RTC services read them on the real snapshot."""

import datetime

import pytest

import physcall
from physcall.emulator import firmware
from physcall.emulator.devices import Pic, Pit, Ps2, Vga, default_devices


@pytest.fixture(scope="module")
def seabios(seabios_snapshot):
    return firmware.resolve(seabios_snapshot)


def test_pci_bios_reads_the_recorded_config_spaces(seabios_snapshot, seabios):
    """int 1Ah AX=B10Ah (read config dword) runs SeaBIOS's PCI BIOS over mechanism #1."""
    for name, text in sorted(seabios.meta["pci"].items()):
        dev, fn = name.split(":")[1].split(".")
        bx = int(dev, 16) << 3 | int(fn)
        out = physcall.invoke(physcall.interrupt(0x1A, ax=0xB10A, bx=bx, di=0), firmware=seabios_snapshot)
        assert out.regs.ecx == int.from_bytes(bytes.fromhex(text)[:4], "little") and not out.regs.cf
    absent = physcall.invoke(physcall.interrupt(0x1A, ax=0xB10A, bx=0x1F << 3, di=0), firmware=seabios_snapshot)
    assert absent.regs.ecx == 0xFFFFFFFF


def test_pci_find_device_finds_what_was_recorded_and_only_that(seabios_snapshot, seabios):
    vga = next(t for t in seabios.meta["pci"].values() if bytes.fromhex(t)[0x0B] == 0x03)
    vendor, device = int(vga[0:4][2:] + vga[0:2], 16), int(vga[6:8] + vga[4:6], 16)
    found = physcall.invoke(physcall.interrupt(0x1A, ax=0xB102, cx=device, dx=vendor, si=0),
                            firmware=seabios_snapshot)
    assert not found.regs.cf and found.regs.ah == 0
    missing = physcall.invoke(physcall.interrupt(0x1A, ax=0xB102, cx=0xBEEF, dx=0xDEAD, si=0),
                              firmware=seabios_snapshot)
    assert missing.regs.cf and missing.regs.ah == 0x86                  # DEVICE_NOT_FOUND


def test_rtc_date_is_the_snapshots(seabios_snapshot, seabios):
    out = physcall.invoke(physcall.interrupt(0x1A, ah=0x04), firmware=seabios_snapshot)
    when = datetime.datetime.fromisoformat(seabios.meta["date"])
    assert (out.regs.ch, out.regs.cl, out.regs.dh, out.regs.dl) == tuple(
        int(str(v), 16) for v in (when.year // 100, when.year % 100, when.month, when.day))


def test_a20_status_reads_port_92h(seabios_snapshot):
    out = physcall.invoke(physcall.interrupt(0x15, ax=0x2402), firmware=seabios_snapshot)
    assert not out.regs.cf and out.regs.al == 1
    assert not [h for h in out.report.hazards if h["kind"] == "unknown-read"]


def test_pit_latch_and_access_modes():
    pit = Pit()
    pit.write(0x43, 1, 0x34)                     # counter 0, LSB then MSB, mode 2
    pit.write(0x40, 1, 0x34), pit.write(0x40, 1, 0x12)
    pit.write(0x43, 1, 0x00)                     # latch counter 0: time has passed since it was set
    pit.write(0x43, 1, 0x00)                     # a second latch before the read-out is ignored
    assert pit.read(0x40, 1) | pit.read(0x40, 1) << 8 == 0x1234 - Pit.STEP
    pit.write(0x43, 1, 0x00)                     # the next latch sees the count move on
    assert pit.read(0x40, 1) | pit.read(0x40, 1) << 8 == 0x1234 - 2 * Pit.STEP
    pit.write(0x43, 1, 0x10)                     # LSB only
    assert pit.read(0x40, 1) == (0x1234 - 3 * Pit.STEP) & 0xFF


def test_pit_read_back_gives_the_status_then_the_count():
    """Intel 8254 data sheet, "Read-Back Command": a latched status byte is read before a latched count;
    the status is OUTPUT (bit 7), NULL COUNT (bit 6), then the control word's access, mode and BCD."""
    pit = Pit()
    pit.write(0x43, 1, 0xE2)                     # read-back: status only, counter 0
    assert pit.read(0x40, 1) == 0xB4             # mode 2, LSB then MSB, binary: SeaBIOS's pit_setup()
    assert pit.read(0x40, 1) == (0xFFFF - Pit.STEP) & 0xFF   # once: then the running count's LSB
    pit.write(0x43, 1, 0xB6)                     # counter 2, LSB then MSB, mode 3 (the speaker's)
    pit.write(0x42, 1, 0x00), pit.write(0x42, 1, 0x10)
    pit.write(0x43, 1, 0xC8)                     # read-back: count and status, counter 2
    assert pit.read(0x42, 1) == 0xB6             # OUT high, count loaded, 36h
    assert pit.read(0x42, 1) | pit.read(0x42, 1) << 8 == 0x1000 - Pit.STEP
    pit.write(0x43, 1, 0xD8)                     # read-back: count only, counter 2 (bit 4 set)
    assert pit.read(0x42, 1) | pit.read(0x42, 1) << 8 == 0x1000 - 2 * Pit.STEP


def test_pic_takes_the_init_words_then_masks():
    pic = Pic()
    for port, value in ((0x20, 0x11), (0x21, 0x30), (0x21, 0x04), (0x21, 0x01), (0x21, 0xFE)):
        pic.write(port, 1, value)
    assert pic.read(0x21, 1) == 0xFE and pic.read(0xA1, 1) == 0xFF


def test_ps2_answers_controller_commands():
    kbc = Ps2()
    assert kbc.read(0x64, 1) & 1 == 0
    kbc.write(0x64, 1, 0x20)
    assert kbc.read(0x64, 1) & 1 and kbc.read(0x60, 1) == 0x47
    kbc.write(0x64, 1, 0x60), kbc.write(0x60, 1, 0x65), kbc.write(0x64, 1, 0x20)
    assert kbc.read(0x60, 1) == 0x65
    kbc.write(0x60, 1, 0xF2)                      # identify keyboard: ACK, AB 83 (MF2)
    assert [kbc.read(0x60, 1) for _ in range(3)] == [0xFA, 0xAB, 0x83]


def test_vga_attribute_flip_flop_and_retrace():
    vga = Vga()
    vga.read(0x3DA, 1)
    vga.write(0x3C0, 1, 0x10), vga.write(0x3C0, 1, 0x0C)
    vga.write(0x3C0, 1, 0x10)                     # the flip-flop is back at "index"
    assert vga.read(0x3C1, 1) == 0x0C
    assert vga.read(0x3DA, 1) & 0x08 != vga.read(0x3DA, 1) & 0x08


def test_an_unmodelled_port_reads_all_ones_and_is_listed(seabios_snapshot):
    """A routine reading the IDE status port (no model: tests/test_hazards.py has the firmware case)."""
    assert 0x1F7 not in default_devices()
    out = physcall.invoke(physcall.Routine("mov dx, 0x1f7\nin al, dx\nret"), firmware=seabios_snapshot)
    assert out.regs.al == 0xFF
    assert [h["text"] for h in out.report.hazards if h["kind"] == "unknown-read"] == [
        "in from port 01f7h: no device model, read as all-ones"]
