"""The dry run verifies the firmware that will really run (issue 10's must-show).

`physcall vm snapshot -o s.elf` takes the guest's firmware; then, through one Session, a matrix of BIOS
services runs twice: offline on the snapshot (``invoke(firmware=s.elf)``) and for real in the guest
(``session.invoke``, a kexec jump into SeaBIOS).  The oracle is the real firmware's own answer: both must
give the same registers (FLAGS: CF) and the same buffers.

Calls that cannot agree, and why:
- int 1Ah AH=02h (RTC time) and AH=00h (timer ticks since midnight): the guest's clock runs, the
  snapshot's stands still: CF and AH only.
- Calls whose dry run reports an ``sti`` or ``hlt`` hazard (SeaBIOS's int 16h handlers and int 1Ah
  AH=00h run check_irqs: sti; nop; pause; cli) stay on the offline side until the trampoline declares
  those kinds handled (PC_HANDLED_HAZARDS, the interrupt-safety issue): a real jump there leaves the
  guest dead (docs/DESIGN.md, "Interrupts").  They are still dry-run, and must not be refused.
"""

import json
import subprocess
import sys

import pytest

import physcall
from physcall import Buffer, abi
from physcall import interrupt as I
from physcall.emulator import hazards
from physcall.vmbackend import Session

pytestmark = pytest.mark.guest

REGS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "ds", "es")
CF_AND_AH = {"int 1ah ax=0200h", "int 1ah ax=0000h"}


def matrix(e820_count):
    """(name, call): deterministic services of SeaBIOS 1.16 and SeaVGABIOS in physcall's guest."""
    calls = [
        ("10/0F video mode", I(0x10, ah=0x0F)), ("10/03 cursor", I(0x10, ah=0x03, bh=0)),
        ("10/1A00 display combination", I(0x10, ax=0x1A00)), ("10/12 BL=10 EGA info", I(0x10, ah=0x12, bl=0x10)),
        ("10/1130 font info", I(0x10, ax=0x1130, bh=0x06)),
        ("10/4F00 VBE info", I(0x10, ax=0x4F00, es_di=Buffer(512, data=b"VBE2"))),
        ("10/4F03 VBE mode", I(0x10, ax=0x4F03)), ("10/4F15 DDC caps", I(0x10, ax=0x4F15, bx=0)),
        ("10/4F15 EDID", I(0x10, ax=0x4F15, bx=1, cx=0, dx=0, es_di=Buffer(128))),
    ]
    calls += [("10/4F01 mode %03xh" % m, I(0x10, ax=0x4F01, cx=m, es_di=Buffer(256)))
              for m in (0x100, 0x101, 0x103, 0x111, 0x112, 0x114, 0x115, 0x117, 0x118, 0x144)]
    calls += [("11 equipment", I(0x11)), ("12 memory size", I(0x12)),
              ("13/08 hd0 params", I(0x13, ah=0x08, dl=0x80)), ("13/15 hd0 type", I(0x13, ah=0x15, dl=0x80)),
              ("13/41 EDD check", I(0x13, ah=0x41, bx=0x55AA, dl=0x80)),
              ("13/08 fd0 params", I(0x13, ah=0x08, dl=0x00)), ("13/01 hd0 status", I(0x13, ah=0x01, dl=0x80))]
    calls += [("15/E820 entry %d" % i, I(0x15, eax=0xE820, ebx=i, ecx=24, edx=0x534D4150, es_di=Buffer(24)))
              for i in range(e820_count)]
    calls += [("15/E801", I(0x15, ax=0xE801)), ("15/88 extended memory", I(0x15, ah=0x88)),
              ("15/C0 config table", I(0x15, ah=0xC0)), ("15/5300 APM check", I(0x15, ax=0x5300, bx=0)),
              ("15/C1 EBDA segment", I(0x15, ah=0xC1)), ("15/2402 A20 status", I(0x15, ax=0x2402)),
              ("15/2403 A20 support", I(0x15, ax=0x2403)), ("15/E980 unsupported", I(0x15, ax=0xE980)),
              ("15/41 unsupported", I(0x15, ah=0x41)),
              ("16/01 key ready", I(0x16, ah=0x01)), ("16/02 shift flags", I(0x16, ah=0x02)),
              ("16/12 ext shift flags", I(0x16, ah=0x12)), ("16/09 capabilities", I(0x16, ah=0x09)),
              ("1A/00 ticks", I(0x1A, ah=0x00)), ("1A/02 RTC time", I(0x1A, ah=0x02)),
              ("1A/04 RTC date", I(0x1A, ah=0x04)),
              ("1A/B101 PCI BIOS", I(0x1A, ax=0xB101, edi=0)),
              ("1A/B102 find 8086:1237", I(0x1A, ax=0xB102, cx=0x1237, dx=0x8086, si=0)),
              ("1A/B102 find absent", I(0x1A, ax=0xB102, cx=0xBEEF, dx=0xDEAD, si=0)),
              ("1A/B103 find VGA class", I(0x1A, ax=0xB103, ecx=0x030000, si=0)),
              ("1A/B108 read byte", I(0x1A, ax=0xB108, bx=0x0000, di=0x08)),
              ("1A/B109 read word", I(0x1A, ax=0xB109, bx=0x0008, di=0x02)),
              ("1A/B10A read dword", I(0x1A, ax=0xB10A, bx=0x0010, di=0x00))]
    return calls


@pytest.fixture(scope="module")
def snap(jump_guest, tmp_path_factory):
    """`physcall vm snapshot -o s.elf` (its own guest, the session guest's size: the same machine)."""
    path = str(tmp_path_factory.mktemp("snap") / "s.elf")
    proc = subprocess.run([sys.executable, "-m", "physcall", "vm", "snapshot", "-o", path, "--memory",
                           jump_guest.memory, "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["ranges"][0] == [0, 0x100000] and {t["name"] for t in summary["tables"]} >= {"ACPI FADT"}
    return path


@pytest.fixture(scope="module")
def vm(jump_guest):
    return Session(guest=jump_guest)


def _walk_count(snap):
    ebx, count = 0, 0
    while True:
        out = physcall.invoke(I(0x15, eax=0xE820, ebx=ebx, ecx=24, edx=0x534D4150, es_di=Buffer(24)),
                              firmware=snap)
        count += 1
        ebx = out.regs.ebx
        if out.regs.cf or ebx == 0 or count > 64:
            return count


def _key(call):
    return "int %02xh ax=%04xh" % (call.vector, call.regs.ax)


def test_the_snapshot_is_the_guests_firmware(snap, vm):
    """The CLI's snapshot and the Session's own hold the same system BIOS (F0000h-FFFFFh) and E820."""
    from physcall.emulator import firmware
    mine, theirs = firmware.resolve(snap), vm.firmware()
    assert mine.low[0xF0000:] == theirs.low[0xF0000:]
    assert mine.meta["e820"] == theirs.meta["e820"]


def test_dry_run_on_the_snapshot_equals_the_real_run(snap, vm):
    calls = matrix(_walk_count(snap))
    dry = [physcall.invoke(call, firmware=snap) for _, call in calls]
    assert not [name for (name, _), d in zip(calls, dry) if d.report.verdict != "ok"]     # none refused
    handled = abi.HANDLED_HAZARDS
    real_side = [(name, call, d) for (name, call), d in zip(calls, dry)
                 if not hazards.refused_kinds([h for h in d.report.hazards if h["kind"] in ("sti", "hlt")],
                                              handled=handled)]
    offline = sorted(set(name for name, _ in calls) - set(name for name, _, _ in real_side))
    if handled & abi.PC_HAZARD_STI and handled & abi.PC_HAZARD_HLT:
        assert not offline                # the trampoline owns interrupts: every call runs for real
    else:
        assert {"16/02 shift flags", "1A/00 ticks"} <= set(offline)
    assert len(real_side) >= 40, offline
    batch = [call for _, call, _ in real_side]
    # one batch on both sides: the same layout, so buffer addresses (ES) and call order agree
    offline_batch = physcall.invoke(batch, firmware=snap)
    real = vm.invoke(batch)
    assert all(r.report.firmware.startswith("snapshot of the vm guest") for r in real)
    differ = []
    for (name, call, _), d, r in zip(real_side, offline_batch, real):
        fields = ("cf", "ah") if _key(call) in CF_AND_AH else REGS + ("cf",)
        got = {f: getattr(d.regs, f) for f in fields}
        want = {f: getattr(r.regs, f) for f in fields}
        if got != want or (fields != ("cf", "ah") and d.buffers != r.buffers):
            differ.append("%s: dry %s real %s%s" % (name, _hex(got), _hex(want),
                                                    "" if d.buffers == r.buffers else " (buffers differ)"))
    assert not differ, "\n".join(differ)


def test_int16_ah02_on_the_snapshot_reports_sti_with_its_cs_ip(snap):
    out = physcall.invoke(I(0x16, ah=0x02), firmware=snap)
    sti = [h for h in out.report.hazards if h["kind"] == "sti"]
    assert sti and sti[0]["at"].startswith("cs:ip f000:") and out.report.verdict == "ok"


def test_the_cli_agrees_with_itself_across_backends(snap):
    """Two CLI calls as a smoke test: the dry run on the file and a real call in a fresh guest."""
    def run(*args):
        proc = subprocess.run([sys.executable, "-m", "physcall", "int", "0x1a", "ax=0xb101", "edi=0",
                               "--json", *args], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["results"][0]
    offline, real = run("--firmware", snap), run("--backend", "vm")
    assert offline["report"]["firmware"] == "snapshot %s" % snap
    assert real["report"]["firmware"].startswith("snapshot of the vm guest")
    assert {k: offline["regs"][k] for k in REGS} == {k: real["regs"][k] for k in REGS}
    assert offline["regs"]["eflags"] & 1 == real["regs"]["eflags"] & 1


def test_a_routine_writing_the_ivt_is_still_refused_on_the_snapshot(snap):
    with pytest.raises(physcall.VerificationError, match="the IVT"):
        physcall.invoke(physcall.Routine("push ds\nxor ax, ax\nmov ds, ax\nmov word ptr [0x48], 0\npop ds\nret"),
                        firmware=snap)


def _hex(d):
    return "{%s}" % ", ".join("%s=%x" % kv for kv in d.items())


KEXEC_IN_GUEST = r"""
import json, physcall
out = physcall.invoke(physcall.interrupt(0x12), backend="kexec", confirm=True)
result = {"ax": out.regs.ax, "firmware": out.report.firmware}
try:
    physcall.invoke(physcall.interrupt(0x16, ah=0x02), backend="kexec", confirm=True)
    result["refused"] = None
except physcall.errors.HazardRefused as exc:
    result["refused"] = str(exc)
print(json.dumps(result))
"""


def test_the_kexec_backend_dry_runs_on_a_fresh_snapshot_and_refuses_hazards(jump_guest):
    """Inside the guest, the kexec backend is "this machine": its dry run reads /dev/mem just before
    the jump, and a call whose dry run saw sti is refused before any jump (unless handled)."""
    rc, out, err = jump_guest.run([jump_guest.python, "-c", KEXEC_IN_GUEST], timeout=300)
    assert rc == 0, err.decode(errors="replace")[-3000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["ax"] == 0x27F and result["firmware"] == "snapshot of this machine (/dev/mem)"
    if not abi.HANDLED_HAZARDS & abi.PC_HAZARD_STI:
        assert result["refused"] and "sti at cs:ip f000:" in result["refused"] and "--allow sti" in result["refused"]
    assert jump_guest.read_file("/sys/kernel/kexec_loaded").strip() == b"0"
