"""Emulator benchmarks (not timed tests): warm int 12h dry run, 16-bit throughput.

Targets (docs/DESIGN.md, "The emulator"): warm int 12h < 1 ms; straight-line 16-bit code
> 100 M instructions/s without tracing.  Run: ``python3 bench/bench_emulator.py``.
"""

import platform
import struct
import sys
import time

import unicorn

sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), ".."))

from physcall.call import Routine, interrupt
from physcall.emulator import Firmware, Machine
from physcall.emulator.firmware import LOW_SIZE
from physcall.layout import lay_out


def tiny_firmware():
    """IVT[12h] -> f000:0100, a SeaBIOS-like handler reading BDA 0x413."""
    low = bytearray(LOW_SIZE)
    low[0x48:0x4C] = struct.pack("<HH", 0x100, 0xF000)
    handler = bytes.fromhex("1e 31c0 8ed8 a11304 1f cf")     # push ds; xor ax,ax; mov ds,ax; mov ax,[413h]; pop ds; iret
    low[0xF0100:0xF0100 + len(handler)] = handler
    low[0x413:0x415] = struct.pack("<H", 639)
    return Firmware("tiny (bench)", bytes(low), [(0x400, 0x500, "BDA")])


def firmware():
    from physcall.emulator import stubbios
    return stubbios.build(), "stub BIOS"


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), sorted(times)[len(times) // 2]


def bench_int12(fw):
    machine = Machine(fw)
    layout = lay_out(interrupt(0x12))
    assert machine.run(layout)[0].regs.ax > 0
    return best(lambda: machine.run(layout), 300)


def bench_invoke():
    """The public path: physcall.invoke(interrupt(0x12)) with the default stub BIOS, warm."""
    import physcall
    call = physcall.interrupt(0x12)
    physcall.invoke(call)
    return best(lambda: physcall.invoke(call), 300)


def bench_throughput(budget):
    """Straight-line 16-bit code: a 1000-instruction body repeated N times (loop overhead 0.2%), on
    the Machine (every instruction counted: bench_budget.py compares the ways of counting)."""
    body = "\n".join(["add ax, bx", "xor bx, ax", "inc si", "adc dx, ax"] * 250)
    loops = 0x2000
    src = "mov cx, %d\nl:\n%s\ndec cx\njnz l\nret" % (loops, body)
    machine = Machine(tiny_firmware(), budget=budget)
    layout = lay_out(Routine(src))
    machine.run(layout)
    n = loops * 1002 + 2
    t, _ = best(lambda: machine.run(layout), 3)
    return n / t / 1e6


def main():
    fw, what = firmware()
    print("conditions: Python %s, unicorn %s, %s, %s" % (platform.python_version(),
          unicorn.__version__, platform.machine(), platform.processor() or "cpu ?"))
    print("firmware: %s" % what)
    lo, med = bench_int12(fw)
    print("int 12h dry run, warm (Machine.run of a 1-call layout): min %.0f us, median %.0f us "
          "(target < 1000 us)" % (lo * 1e6, med * 1e6))
    lo, med = bench_invoke()
    print("int 12h dry run, warm, public path (physcall.invoke): min %.0f us, median %.0f us "
          "(target < 1000 us)" % (lo * 1e6, med * 1e6))
    print("16-bit straight-line throughput, Machine with its exact block counter: %.0f M instr/s "
          "(target > 100; see bench_budget.py for the counter's cost)" % bench_throughput(10_000_000_000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
