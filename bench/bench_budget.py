"""The budget's cost: exact instruction counting against the old watchdog, side by side.

The straight-line benchmark of bench_emulator.py (a 1000-instruction body run 8192 times, 8.2 M
instructions) on one Unicorn, three ways:

- ``watchdog``: what the dry run did before the budget was a contract: no counting, a timeout of
  budget / 2 G instr/s (a run that outlived it was run again with Unicorn's counter);
- ``no count, no timeout``: the floor;
- ``unicorn count=``: Unicorn's own exact counter (a helper call per instruction);
- ``block counter``: physcall's C block hook (physcall/emulator/counter.py), exact, the default now.

Target: block counter <= 1.5x the watchdog.  Run: ``python3 bench/bench_budget.py``.
"""

import os
import platform
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import unicorn  # noqa: E402
from unicorn import UC_ARCH_X86, UC_MODE_32, Uc  # noqa: E402
from unicorn import x86_const as X  # noqa: E402

from physcall.asm import asm  # noqa: E402
from physcall.emulator.counter import BlockCounter  # noqa: E402

ORIGIN, LOOPS = 0x1000, 0x2000
BODY = "\n".join(["add ax, bx", "xor bx, ax", "inc si", "adc dx, ax"] * 250)
CODE = asm("mov cx, %d\nl:\n%s\ndec cx\njnz l\nhlt" % (LOOPS, BODY), origin=ORIGIN).code
END = ORIGIN + len(CODE) - 1                     # the hlt: emu_start stops there
EXPECTED = 1 + LOOPS * 1002


def machine():
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 0x110000)
    uc.mem_write(ORIGIN, CODE)
    uc.reg_write(X.UC_X86_REG_CR0, 0x10)
    uc.reg_write(X.UC_X86_REG_CS, 0)
    return uc


def best(fn, repeat=5):
    fn()                                         # warm: translate once
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    print("conditions: Python %s, unicorn %s, %s; %d instructions per run"
          % (platform.python_version(), unicorn.__version__, platform.machine(), EXPECTED))
    uc = machine()
    watchdog = best(lambda: uc.emu_start(ORIGIN, END, timeout=max(2000, int(10_000_000 / 2000))))
    uc = machine()
    plain = best(lambda: uc.emu_start(ORIGIN, END))
    uc = machine()
    count = best(lambda: uc.emu_start(ORIGIN, END, count=100_000_000), repeat=2)
    uc = machine()
    counter = BlockCounter(uc)
    exact = best(lambda: counter.run(ORIGIN, END, 100_000_000, lambda: ORIGIN))
    assert counter.count == EXPECTED, (counter.count, EXPECTED)
    compiled = "C hook" if counter.lib is not None else "Python hook (no C compiler)"
    for name, t in (("watchdog (no count)", watchdog), ("no count, no timeout", plain),
                    ("unicorn count=", count),
                    ("block counter, %s" % compiled, exact)):
        print("%-34s %8.2f ms  %7.0f M instr/s  %5.2fx" % (name, t * 1e3, EXPECTED / t / 1e6,
                                                           t / watchdog))


def tight_loop():
    """The worst case for a block hook: a 2-instruction block, 10 M times (not the target)."""
    code = asm("mov ecx, 5000000\nl: dec ecx\njnz l\nhlt", origin=ORIGIN).code
    end, n = ORIGIN + len(code) - 1, 1 + 2 * 5_000_000
    uc = machine()
    uc.mem_write(ORIGIN, code)
    plain = best(lambda: uc.emu_start(ORIGIN, end), repeat=3)
    counter = BlockCounter(uc)
    exact = best(lambda: counter.run(ORIGIN, end, 10**9, lambda: ORIGIN), repeat=3)
    assert counter.count == n, (counter.count, n)
    print("tight loop (2-instruction blocks): no count %.1f ms, block counter %.1f ms (%.2fx)"
          % (plain * 1e3, exact * 1e3, exact / plain))


if __name__ == "__main__":
    main()
    tight_loop()
