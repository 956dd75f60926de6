"""The dry run on a snapshot against the stub BIOS, side by side (not a timed test).

Warm cost of one call through the public path (``physcall.invoke(call, firmware=...)``): the stub
BIOS, and a snapshot of physcall's QEMU guest running SeaBIOS (tests/data, or the file given).  A
snapshot runs the real firmware's code (SeaBIOS's handlers hop stacks and keep variables in shadowed
RAM), so it runs more instructions, and the firmware-owned range is checked for changes after each run.

Run: ``python3 bench/bench_snapshot.py [SNAPSHOT.elf]``
"""

import gzip
import os
import platform
import sys
import tempfile
import time

import unicorn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import physcall                                           # noqa: E402
from physcall import Buffer, interrupt                    # noqa: E402

CALLS = [("int 12h", interrupt(0x12)),
         ("int 15h E820 entry 0", interrupt(0x15, eax=0xE820, ebx=0, ecx=24, edx=0x534D4150,
                                             es_di=Buffer(24))),
         ("int 1Ah B10Ah PCI read", interrupt(0x1A, ax=0xB10A, bx=0x10, di=0)),
         ("int 10h 4F01h mode 118h", interrupt(0x10, ax=0x4F01, cx=0x118, es_di=Buffer(256)))]


def snapshot_path(argv):
    if len(argv) > 1:
        return argv[1]
    path = os.path.join(tempfile.mkdtemp(prefix="physcall-bench-"), "seabios-qemu-256M.elf")
    with gzip.open(os.path.join(HERE, "..", "tests", "data", "seabios-qemu-256M.elf.gz")) as src, \
            open(path, "wb") as dst:
        dst.write(src.read())
    return path


def warm(call, firmware, repeat=300):
    out = physcall.invoke(call, firmware=firmware)          # cold: loads, translates
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        physcall.invoke(call, firmware=firmware)
        times.append(time.perf_counter() - t)
    times.sort()
    return times[0], times[len(times) // 2], out.report.instructions


def main(argv):
    snap = snapshot_path(argv)
    print("conditions: Python %s, unicorn %s, %s, %d CPUs (shared), snapshot %s"
          % (platform.python_version(), unicorn.__version__, platform.machine(), os.cpu_count(), snap))
    print("%-26s %28s   %28s" % ("warm physcall.invoke", "stub BIOS: min / median (instr)",
                                 "snapshot: min / median (instr)"))
    for name, call in CALLS:
        cells = []
        for fw in ("stub", snap):
            lo, med, n = warm(call, fw)
            cells.append("%6.0f / %6.0f us (%5s)" % (lo * 1e6, med * 1e6, n))
        print("%-26s %28s   %28s" % (name, cells[0], cells[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
