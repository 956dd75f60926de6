"""The public path for real: physcall.invoke(..., backend="vm") and the CLI's main job, in the guest.

Oracles: the BDA through /dev/mem, the guest kernel's BIOS-e820 boot lines, and Debian's hwinfo, whose
libx86emu emulates the same VGA BIOS that physcall runs natively.
"""

import json
import re
import subprocess
import sys

import pytest

import physcall
from physcall.services import E820_TYPES, e820, vbe_info
from physcall.vmbackend import Session

from conftest import guest_word

pytestmark = pytest.mark.guest
E820_LINE = re.compile(r"BIOS-e820: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\] (.+)$", re.M)


@pytest.fixture(scope="module")
def vm(jump_guest):
    return Session(guest=jump_guest)


def test_int12_through_invoke_equals_bda(vm, jump_guest):
    out = physcall.invoke(physcall.interrupt(0x12), backend="vm", session=vm)
    assert out.backend == "vm" and out.report.verdict == "ok"      # the dry run preceded the jump
    assert out.regs.ax == guest_word(jump_guest, 0x413)
    assert type(out) is physcall.Outcome and out.status == "returned"
    # The guest kernel's own TSC calibration, when it succeeded (under TCG it sometimes does not).
    detected = re.search(r"tsc: Detected ([0-9.]+) MHz", jump_guest.dmesg())
    assert out.timing["tsc_mhz"] > 0
    if detected:
        assert abs(out.timing["tsc_mhz"] / float(detected.group(1)) - 1) < 0.1
    assert out.timing["call"] > 0 and out.timing["round_trip"] > out.timing["image"] > out.timing["call"]


def test_e820_service_equals_boot_log(vm, jump_guest):
    walked = [(base, base + length, E820_TYPES.get(kind, kind))
              for base, length, kind in e820(backend="vm", session=vm)]
    boot_log = [(int(a, 16), int(b, 16) + 1, t.strip()) for a, b, t in E820_LINE.findall(jump_guest.dmesg())]
    assert boot_log and walked == boot_log


def hwinfo_vbe(guest):
    rc, _, err = guest.run(["hwinfo", "--vbe", "--log", "/tmp/hwinfo.log"], timeout=120)
    assert rc == 0, err
    log = guest.read_file("/tmp/hwinfo.log").decode(errors="replace")
    version = re.search(r"^version = (\d+)\.(\d+)", log, re.M)
    return {"ok": "vbe get info: ok" in log,
            "version": (int(version.group(1)) << 8) | int(version.group(2)),
            "memory_kib": int(re.search(r"^memory = (\d+)k", log, re.M).group(1)),
            "oem": re.search(r'^oem name \[0x[0-9a-f]+\] = "(.*)"', log, re.M).group(1).encode(),
            "modes": [int(m, 16) for m in re.findall(r"^=== vbe mode info \[(0x[0-9a-f]+)\]", log, re.M)]}


def test_vbe_info_equals_hwinfo(vm, jump_guest):
    ours = vbe_info(backend="vm", session=vm)
    theirs = hwinfo_vbe(jump_guest)
    assert ours["status"] == 0x004F and theirs["ok"]
    assert ours["signature"] == b"VESA"
    assert ours["version"] == theirs["version"] == 0x0300
    assert ours["oem"] == theirs["oem"]
    assert ours["total_memory_kib"] == theirs["memory_kib"]
    assert ours["modes"] == theirs["modes"] and len(ours["modes"]) > 10


def test_batch_mixes_real16_and_flat32(vm, jump_guest):
    outs = physcall.invoke([physcall.interrupt(0x12),
                            physcall.Routine("mov eax, [0x413]\nret", mode="flat32"),
                            physcall.interrupt(0x11)], backend="vm", session=vm)
    assert outs[0].regs.ax == outs[1].regs.eax & 0xFFFF == guest_word(jump_guest, 0x413)
    assert outs[2].regs.ax == guest_word(jump_guest, 0x410)


def test_readme_main_job_cli():
    """`physcall int 0x12 --backend vm --json`: boots its own guest, one real call, JSON only."""
    proc = subprocess.run([sys.executable, "-m", "physcall", "int", "0x12", "--backend", "vm", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["backend"] == "vm" and doc["results"][0]["regs"]["eax"] & 0xFFFF == 639
    assert doc["results"][0]["timing"]


@pytest.mark.parametrize("source, reason", [
    ("l: jmp l", "no return"), ("mov eax, cr0\nmov cr0, eax\nret", "cr0"),
    ("mov al, 0xfe\nout 0x64, al\nret", "reset"),
    # issue 11, on the guest's own SeaBIOS snapshot: PM1a from its FADT (604h here), its IVT's handlers
    ("mov dx, 0x604\nmov ax, 0x2000\nout dx, ax\nret", "pm1 control 0604h"),
    ("mov dx, 0xb004\nmov ax, 0x2000\nout dx, ax\nret", "pm1 control b004h"),
    ("xor ax, ax\nmov es, ax\npushf\ncall far es:[0x64]\nret", "int 19h handler"),
    ("mov bx, 0x5307\nxor ax, ax\nmov es, ax\nmov ax, bx\npushf\ncall far es:[0x54]\nret", "5307h"),
    ("in al, 0x92\nand al, 0xfd\nout 0x92, al\nret", "a20 off"),
    ("mov ax, 0x0301\nmov cx, 1\nmov dx, 0x80\nxor bx, bx\nint 0x13\nret", "write sectors"),
])
def test_hostile_routine_never_reaches_the_guest_kernel(vm, jump_guest, source, reason):
    with pytest.raises(physcall.VerificationError) as err:
        physcall.invoke(physcall.Routine(source), backend="vm", session=vm, budget=100_000)
    assert reason in "; ".join(err.value.report.reasons).lower()
    assert jump_guest.read_file("/sys/kernel/kexec_loaded").strip() == b"0"


def test_smbios_service_equals_sysfs(vm, jump_guest):
    from physcall.services import smbios_entry_point
    oracle = jump_guest.read_file("/sys/firmware/dmi/tables/smbios_entry_point")
    assert oracle[:4] in (b"_SM_", b"_SM3") and smbios_entry_point(backend="vm", session=vm) == oracle
