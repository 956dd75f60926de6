"""from_elf_core on a real QEMU ``dump-guest-memory`` file: SeaBIOS's own code answers in the dry run.

The fixture is QEMU's, not physcall's: a `-machine pc -m 64M` machine with no disk, left to finish
SeaBIOS's POST, dumped by QEMU's monitor.  The oracle is the RAM size QEMU was given: SeaBIOS's
int 12h, int 15h E801h and 88h, run from the dump in the emulator, must describe those 64 MiB.
"""

import shutil
import subprocess
import time

import pytest

import physcall
from physcall.emulator.firmware import from_elf_core

pytestmark = [pytest.mark.guest,
              pytest.mark.skipif(not shutil.which("qemu-system-x86_64"), reason="needs qemu-system-x86_64")]
MIB = 1 << 20


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    path = tmp_path_factory.mktemp("core") / "seabios-64M.elf"
    proc = subprocess.Popen(["qemu-system-x86_64", "-machine", "pc", "-m", "64M", "-display", "none",
                             "-nodefaults", "-serial", "none", "-monitor", "stdio", "-no-reboot"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)                                   # SeaBIOS's POST ends in well under a second
        proc.communicate(("dump-guest-memory %s\nquit\n" % path).encode(), timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return str(path)


def test_qemu_core_is_read_by_physical_address(dump):
    fw = from_elf_core(dump)
    seg, off = fw.vector(0x15)
    assert seg == 0xF000 and fw.low[0xFFFF5:0xFFFFD].decode().count("/") == 2   # the BIOS date


def test_seabios_from_the_core_describes_qemus_ram(dump):
    def call(**regs):
        out = physcall.invoke(physcall.interrupt(0x15, **regs), firmware=dump)
        assert out.report.verdict == "ok" and not out.regs.cf
        return out.regs
    assert physcall.invoke(physcall.interrupt(0x12), firmware=dump).regs.ax == 639
    e801 = call(ax=0xE801)
    assert e801.ax == e801.cx == 15 * 1024                     # KiB between 1 and 16 MiB: all of it
    top = 16 * MIB + e801.bx * 64 * 1024                       # RAM above 16 MiB, as SeaBIOS keeps it
    assert 63 * MIB < top <= 64 * MIB
    assert MIB + call(ah=0x88).ax * 1024 == top                # int 15h 88h agrees with E801h
