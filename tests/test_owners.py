"""Who owns memory, derived from a real snapshot's E820 map and iomem (physcall's QEMU guest, taken by
`physcall vm snapshot`): the firmware's writes are allowed and listed, the kernel's RAM and the IVT are
refused with the owner named."""

import pytest

import physcall
from physcall.layout import lay_out
from physcall.emulator import firmware


def test_ownership_follows_the_snapshots_e820(seabios_snapshot):
    fw = firmware.resolve(seabios_snapshot)
    e820 = {(e["start"], e["end"]): e["type"] for e in fw.meta["e820"]}
    assert e820[(0x9FC00, 0xA0000)] == "Reserved" and e820[(0, 0x9FC00)] == "System RAM"
    ranges = [(lo, hi) for lo, hi, _ in fw.writable]
    assert (0x9FC00, 0xA0000) in ranges and (0xC0000, 0x100000) in ranges and (0x400, 0x500) in ranges
    assert not any(lo < 0x9FC00 and hi > 0x500 for lo, hi in ranges)      # conventional RAM: the kernel's
    assert "Kernel code" in fw.owners.owner(0x1000000)


def test_real_seabios_answers_from_its_snapshot(seabios_snapshot):
    """SeaBIOS writes its own variables in shadowed RAM; the dry run allows and lists that, and the
    answer is the one the BDA holds (int 12h reads BDA word 413h: RBIL INT 12)."""
    fw = firmware.resolve(seabios_snapshot)
    out = physcall.invoke(physcall.interrupt(0x12), firmware=seabios_snapshot)
    assert out.regs.ax == int.from_bytes(fw.low[0x413:0x415], "little") == 0x27F
    assert out.report.verdict == "ok" and out.report.firmware == "snapshot %s" % seabios_snapshot
    owners = {w["owner"] for w in out.report.firmware_writes}
    assert owners == {"the firmware (shadowed RAM c0000h-fffffh)"}
    assert physcall.invoke(physcall.interrupt(0x11), firmware=seabios_snapshot).regs.ax == \
        int.from_bytes(fw.low[0x410:0x412], "little")


@pytest.mark.parametrize("source, mode, owner", [
    ("push ds\nxor ax, ax\nmov ds, ax\nmov word ptr [0x48], 1\npop ds\nret", "real16", "the IVT"),
    ("push ds\nmov ax, 0x800\nmov ds, ax\nmov word ptr [0], 1\npop ds\nret", "real16",
     "the kernel's RAM (E820 System RAM 0x0-0x9fc00)"),
    ("mov edi, 0x1000000\nmov dword ptr [edi], 1\nret", "flat32",
     "the kernel's RAM (E820 System RAM 0x100000-0xffe0000; iomem: Kernel code)"),
])
def test_writes_to_the_kernels_memory_are_refused_with_the_owner(seabios_snapshot, source, mode, owner):
    with pytest.raises(physcall.VerificationError) as info:
        physcall.invoke(physcall.Routine(source, mode=mode), firmware=seabios_snapshot)
    assert owner in str(info.value)


@pytest.mark.parametrize("source, what, owner", [
    ("mov eax, [0xfec00000]\nret", "reads", "IOAPIC 0"),
    ("mov dword ptr [0xfd000000], 0x00ffffff\nret", "writes", "0000:00:02.0"),
])
def test_a_devices_memory_is_a_hazard_not_ram(seabios_snapshot, source, what, owner):
    """/proc/iomem names the IO-APIC and the VGA's frame buffer: no model answers them, so touching
    one ends the dry run there, unverified, instead of reading zeros as if it were RAM."""
    out = physcall.invoke(physcall.Routine(source, mode="flat32"), firmware=seabios_snapshot)
    device = [h for h in out.report.hazards if h["kind"] == "device"]
    assert out.report.verdict == "ok" and not out.report.returned
    assert device and what in device[0]["text"] and "(iomem: %s)" % owner in device[0]["text"]
    entry = lay_out(physcall.Routine(source, mode="flat32")).calls[0].eip
    assert out.report.unverified.startswith("device at eip %08x" % entry)
