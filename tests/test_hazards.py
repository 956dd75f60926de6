"""Hazards on the real SeaBIOS snapshot (tests/data, from physcall's QEMU guest): what the firmware does
that a real machine may not survive is reported with its cs:ip, and refuses only a kexec jump."""

import json

import pytest

import physcall
from physcall import abi
from physcall.emulator import hazards


def kinds(result):
    return [h["kind"] for h in result.report.hazards]


def test_int16_ah02_enables_interrupts_on_seabios_not_on_the_stub(seabios_snapshot):
    """SeaBIOS's int 16h handlers call check_irqs (src/stacks.c: sti; nop; pause; cli)."""
    real = physcall.invoke(physcall.interrupt(0x16, ah=0x02), firmware=seabios_snapshot)
    sti = [h for h in real.report.hazards if h["kind"] == "sti"]
    assert sti and sti[0]["at"].startswith("cs:ip f000:")
    seg, off = (int(x, 16) for x in sti[0]["at"].split()[-1].split(":"))
    assert sti[0]["linear"] == (seg << 4) + off
    from physcall.emulator import firmware
    assert firmware.resolve(seabios_snapshot).low[sti[0]["linear"]] == 0xFB          # the byte is sti
    assert real.report.verdict == "ok" and real.report.returned


def test_hlt_in_the_firmware_is_a_hazard_that_ends_the_dry_run(seabios_snapshot):
    """int 15h AH=86h (wait) on SeaBIOS: sti; hlt until the RTC interrupt (RBIL INT 15/AH=86h)."""
    out = physcall.invoke(physcall.interrupt(0x15, ah=0x86, cx=0, dx=1000), firmware=seabios_snapshot)
    assert "hlt" in kinds(out) and "sti" in kinds(out)
    assert out.report.verdict == "ok" and not out.report.returned
    assert out.report.unverified.startswith("hlt at cs:ip f000:")
    hlt = next(h for h in out.report.hazards if h["kind"] == "hlt")
    assert "unverified past this point" in hlt["text"]


def test_hlt_in_the_users_routine_is_still_refused():
    with pytest.raises(physcall.VerificationError, match="hlt"):
        physcall.invoke(physcall.Routine("hlt\nret"))


def test_the_routines_own_endless_loop_is_still_refused():
    with pytest.raises(physcall.VerificationError, match="no return"):
        physcall.invoke(physcall.Routine("l: jmp l"), budget=100_000)


def test_a_firmware_loop_polling_an_unmodelled_port_is_a_device_hazard():
    """Firmware (here at f000) that waits on a device nobody models: unverified, not refused."""
    from physcall.emulator import Firmware
    from physcall.emulator.firmware import LOW_SIZE
    from physcall.asm import asm
    low = bytearray(LOW_SIZE)
    code = asm("mov dx, 0x1f7\nw: in al, dx\n test al, 0x80\n jnz w\n iret", "real16", origin=0x100).code
    low[0xF0100:0xF0100 + len(code)] = code
    low[0x13 * 4:0x13 * 4 + 4] = bytes.fromhex("0001 00f0")
    out = physcall.invoke(physcall.interrupt(0x13), firmware=Firmware("disk-wait", bytes(low), []),
                          budget=200_000)
    assert out.report.verdict == "ok" and out.report.unverified.startswith("device at cs:ip f000:010")
    assert "01f7h" in out.report.unverified and "unknown-read" in kinds(out)


def test_the_cli_prints_hazards_as_a_line_and_json_carries_them(seabios_snapshot, capsys):
    from physcall.cli import main
    assert main(["int", "0x16", "ah=2", "--firmware", seabios_snapshot]) == 0
    assert any(line.strip().startswith("hazards") and "sti at cs:ip f000:" in line
               for line in capsys.readouterr().out.splitlines())
    assert main(["int", "0x16", "ah=2", "--firmware", seabios_snapshot, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["results"][0]["report"]
    assert report["hazards"][0]["kind"] == "sti" and set(report["hazards"][0]) == {"kind", "at", "linear",
                                                                                   "text"}


@pytest.fixture
def no_real_jump(monkeypatch):
    """These tests must never reach a real jump on this machine: the backend is replaced."""
    import sys
    inv = sys.modules["physcall.invoke"]

    def refuse(*args, **kwargs):
        raise AssertionError("a real jump was attempted")
    monkeypatch.setattr(inv, "_real", refuse)


def test_kexec_refuses_a_hazard_unless_allowed_by_name(seabios_snapshot, no_real_jump, monkeypatch):
    monkeypatch.setattr(abi, "HANDLED_HAZARDS", 0)      # a trampoline that handles no kind
    call = physcall.interrupt(0x16, ah=0x02)
    with pytest.raises(physcall.errors.HazardRefused, match="--allow sti") as info:
        physcall.invoke(call, backend="kexec", confirm=True, firmware=seabios_snapshot)
    assert "sti at cs:ip f000:" in str(info.value) and info.value.report.hazards
    with pytest.raises(AssertionError, match="a real jump was attempted"):
        physcall.invoke(call, backend="kexec", confirm=True, firmware=seabios_snapshot, allow=["sti"])


def test_this_trampoline_handles_sti_and_hlt(seabios_snapshot, no_real_jump):
    """csrc/physcall.h declares STI|HLT handled (the interrupt environment of trampoline.S): int 16h
    AH=02h's `sti` on the real SeaBIOS goes to the jump without an allow=, other kinds still refuse."""
    assert abi.HANDLED_HAZARDS == abi.PC_HAZARD_STI | abi.PC_HAZARD_HLT
    with pytest.raises(AssertionError, match="a real jump was attempted"):
        physcall.invoke(physcall.interrupt(0x16, ah=0x02), backend="kexec", confirm=True,
                        firmware=seabios_snapshot)
    assert hazards.refused_kinds([{"kind": "sti"}, {"kind": "hlt"}, {"kind": "smi"}]) == ["smi"]


def test_the_trampoline_can_declare_a_kind_handled(monkeypatch):
    assert hazards.KINDS["sti"] == abi.PC_HAZARD_STI and abi.HANDLED_HAZARDS == abi.PC_HANDLED_HAZARDS
    monkeypatch.setattr(abi, "HANDLED_HAZARDS", abi.PC_HAZARD_STI | abi.PC_HAZARD_HLT)
    assert hazards.refused_kinds([{"kind": "sti"}, {"kind": "hlt"}, {"kind": "smi"}]) == ["smi"]


def test_an_unknown_allowed_kind_names_the_kinds():
    with pytest.raises(physcall.PhyscallError, match="sti, hlt, smi"):
        physcall.invoke(physcall.interrupt(0x12), allow=["interrupts"])


def test_a_port_hazard_points_at_the_port_instruction(seabios_snapshot):
    """SeaBIOS's int 15h AH=86h programs the RTC's periodic interrupt (out to 71h) before it halts."""
    from physcall.emulator import firmware
    low = firmware.resolve(seabios_snapshot).low
    out = physcall.invoke(physcall.interrupt(0x15, ah=0x86, cx=0, dx=1000), firmware=seabios_snapshot)
    device = [h for h in out.report.hazards if h["kind"] == "device"]
    assert device and "0071h (CMOS/RTC data)" in device[0]["text"]
    assert low[device[0]["linear"]] in (0xE6, 0xE7, 0xEE, 0xEF)           # out imm8 / out dx
