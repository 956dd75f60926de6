"""Emulator benchmarks (not timed tests): warm int 12h dry run, 16-bit throughput, cost per interrupt.

Also the port fast path (issue 12): a polling loop of port 61h, of PIT latch and reads, of CMOS reads,
per iteration, C (csrc/ports.c) vs the Python hooks.

Targets (docs/DESIGN.md, "The emulator"): warm int 12h < 1 ms; straight-line 16-bit code
> 100 M instructions/s without tracing.  Issue 12: a warm int 12h at 200 us or less, and per ``int 1Ah``
(AH=00h) in a loop, physcall at 1/10 or less of a bare Unicorn Python UC_HOOK_INTR doing the same IVT
push, and 10x faster than qiling.  qiling is no physcall dependency: it runs in a venv of its own,
which ``.venv/bin/python bench/peers.py setup`` makes once (pinned qiling, under
~/.cache/physcall/peers/); without it the qiling line says that command instead of a number.

Run: ``.venv/bin/python bench/bench_emulator.py``.
"""

import contextlib
import os
import pathlib
import platform
import struct
import sys
import time

import unicorn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peers  # noqa: E402  (bench/peers.py: the peer venvs)

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


@contextlib.contextmanager
def dispatch_path(dispatch):
    """Machines built inside take ``dispatch="python"``'s path (hooks.DISPATCH_ENV), None the default."""
    from physcall.emulator import hooks
    if dispatch:
        os.environ[hooks.DISPATCH_ENV] = dispatch
    try:
        yield
    finally:
        os.environ.pop(hooks.DISPATCH_ENV, None)


def bench_invoke(dispatch=None):
    """The public path: physcall.invoke(interrupt(0x12)) with the default stub BIOS, warm: min and
    median of 500 calls.  ``dispatch="python"``: on a machine built without libphyscall.so's hooks
    (hooks.DISPATCH_ENV), given its own stub BIOS so that invoke's machine cache builds it anew."""
    import physcall
    from physcall.emulator import stubbios
    call, options = physcall.interrupt(0x12), {}
    if dispatch:
        options["firmware"] = stubbios.build()
    with dispatch_path(dispatch):
        physcall.invoke(call, **options)
    return best(lambda: physcall.invoke(call, **options), 500)


LOOP_1A = "mov si, %d\nl: xor ah, ah\nint 0x1a\ndec si\njnz l\nret"
LOOPS = 10_000


def per_iteration(run):
    """Seconds per loop iteration (int 1Ah + its handler + 4 instructions): ``run(n)`` runs n of them;
    the difference of 10,000 and 1 takes out the fixed cost of a run."""
    run(LOOPS)
    many, _ = best(lambda: run(LOOPS), 5)
    one, _ = best(lambda: run(1), 5)
    return (many - one) / (LOOPS - 1)


def bench_int1a_physcall(fw, dispatch=None):
    """Machine.run of the loop; ``dispatch="python"``: the Python hook (hooks.DISPATCH_ENV)."""
    with dispatch_path(dispatch):
        machine = Machine(fw)
    layouts = {n: lay_out(Routine(LOOP_1A % n)) for n in (1, LOOPS)}

    def run(n):
        [out] = machine.run(layouts[n])
        assert out.report.verdict == "ok" and out.report.dropped + len(out.report.interrupts) == n

    return per_iteration(run)


PORT_LOOPS = {"in al, 61h (refresh toggle)": "in al, 0x61",
              "PIT ch0 latch (out 43h) + 2 reads of 40h": "xor al, al\nout 0x43, al\nin al, 0x40\n"
                                                          "mov ah, al\nin al, 0x40",
              "CMOS read (out 70h, in 71h)": "mov al, 0x0a\nout 0x70, al\nin al, 0x71"}


def bench_ports(fw, body, dispatch=None):
    """A port-polling loop (``body`` 10,000 times) per iteration; ``dispatch="python"``: the Python
    port hooks (hooks.DISPATCH_ENV), else the C fast path (csrc/ports.c)."""
    with dispatch_path(dispatch):
        machine = Machine(fw)
    src = "mov si, %d\nl: " + body + "\ndec si\njnz l\nret"
    layouts = {n: lay_out(Routine(src % n)) for n in (1, LOOPS)}

    def run(n):
        [out] = machine.run(layouts[n])
        assert out.report.verdict == "ok" and out.report.dropped + len(out.report.ports) >= n

    return per_iteration(run)


def bench_int1a_bare(fw):
    """The floor of any Python dispatch: a bare Unicorn, the same firmware and loop, and a Python
    UC_HOOK_INTR that only does the real-mode IVT push (no checks, no record)."""
    from unicorn import UC_ARCH_X86, UC_HOOK_INTR, UC_MODE_32, Uc
    from unicorn import x86_const as X
    from physcall.asm import asm

    uc = Uc(UC_ARCH_X86, UC_MODE_32)          # as the Machine: CR0.PE=0, real mode
    uc.mem_map(0, 0x110000)
    uc.mem_write(0, fw.low)
    uc.reg_write(X.UC_X86_REG_CR0, 0x10)      # real mode, as Machine's CR0_REAL
    code_at, stack = 0x20000, 0x9000

    def on_int(uc, vector, data):
        cs, ip = uc.reg_read(X.UC_X86_REG_CS), uc.reg_read(X.UC_X86_REG_IP)
        ss, sp = uc.reg_read(X.UC_X86_REG_SS), (uc.reg_read(X.UC_X86_REG_SP) - 6) & 0xFFFF
        flags = uc.reg_read(X.UC_X86_REG_EFLAGS)
        uc.mem_write((ss << 4) + sp, struct.pack("<HHH", ip, cs, flags & 0xFFFF))
        uc.reg_write(X.UC_X86_REG_SP, sp)
        uc.reg_write(X.UC_X86_REG_EFLAGS, flags & ~0x300)
        off, seg = struct.unpack("<HH", uc.mem_read(4 * vector, 4))
        uc.reg_write(X.UC_X86_REG_CS, seg)
        uc.reg_write(X.UC_X86_REG_IP, off)

    uc.hook_add(UC_HOOK_INTR, on_int)
    codes = {n: asm(LOOP_1A % n + "\nhlt", "real16", origin=0).code for n in (1, LOOPS)}

    def run(n):
        uc.mem_write(code_at, codes[n])
        uc.reg_write(X.UC_X86_REG_CS, code_at >> 4)
        uc.reg_write(X.UC_X86_REG_SS, 0)
        uc.reg_write(X.UC_X86_REG_SP, stack)
        uc.ctl_remove_cache(code_at, code_at + len(codes[n]))
        # begin is IP, until a linear address (as in Machine._enter); stop at the ret (nothing to
        # return to here); the timeout only guards the bench against a wild run
        uc.emu_start(0, code_at + len(codes[n]) - 2, timeout=20_000_000)
        assert uc.reg_read(X.UC_X86_REG_SI) == 0

    return per_iteration(run)


LOOP_1A_COM = LOOP_1A.replace("\nret", "\nmov ax, 0x4c00\nint 0x21")   # a .COM ends with DOS exit


def bench_int1a_qiling():
    """The same loop as a DOS .COM under qiling's DOS mode, in the peer venv (bench/peers.py: qiling
    is no physcall dependency), measured the same way: best of 5 of ``ql.run()`` for 10,000 and 1
    iterations.  Returns (seconds per iteration, None) or (None, why it was not measured)."""
    import subprocess
    import tempfile
    from physcall.asm import asm

    python = peers.peer_python()
    if python is None:
        return None, ("qiling not measured: no peer venv at %s; create it with: %s"
                      % (peers.peer_dir(), peers.SETUP_COMMAND))
    with tempfile.TemporaryDirectory(prefix="qiling-rootfs-") as root:
        for n in (1, LOOPS):
            code = asm(LOOP_1A_COM % n, "real16", origin=0x100).code
            pathlib.Path(root, "LOOP%d.DOS_COM" % n).write_bytes(code)
        proc = subprocess.run([str(python), peers.__file__, "qiling-loop", root, "1,%d" % LOOPS, "5"],
                              capture_output=True, text=True)
    if proc.returncode:
        return None, "qiling failed (%s): %s" % (python, proc.stderr.strip().splitlines()[-1:])
    best = {int(n): float(t) for n, t in (line.split() for line in proc.stdout.split("\n") if line)}
    return (best[LOOPS] - best[1]) / (LOOPS - 1), None


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
    py_lo, py_med = bench_invoke("python")
    print("int 12h dry run, warm, public path (physcall.invoke): min %.0f us, median %.0f us "
          "(target <= 200 us, issue 12); without libphyscall.so's hooks: min %.0f us, median %.0f us"
          % (lo * 1e6, med * 1e6, py_lo * 1e6, py_med * 1e6))
    native = bench_int1a_physcall(fw)
    python = bench_int1a_physcall(fw, "python")
    bare = bench_int1a_bare(fw)
    print("int 1Ah (AH=00h) x %d in one routine, per interrupt (handler included): physcall %.2f us "
          "(C dispatch), %.2f us (its Python hook); bare Unicorn Python UC_HOOK_INTR %.2f us; "
          "physcall/bare = 1/%.1f (target 1/10)"
          % (LOOPS, native * 1e6, python * 1e6, bare * 1e6, bare / native))
    qiling, why = bench_int1a_qiling()
    if qiling is None:
        print("int 1Ah vs qiling %s: %s" % (peers.QILING, why))
    else:
        print("int 1Ah (AH=00h) x %d, per interrupt, side by side: physcall %.2f us, qiling %s "
              "(DOS .COM) %.2f us: physcall %.1fx faster (target 10x)"
              % (LOOPS, native * 1e6, peers.QILING, qiling * 1e6, qiling / native))
    for name, body in PORT_LOOPS.items():
        fast, slow = bench_ports(fw, body), bench_ports(fw, body, "python")
        print("port polling x %d, %s, per iteration: %.2f us (C fast path), %.2f us (Python hooks): "
              "%.1fx" % (LOOPS, name, fast * 1e6, slow * 1e6, slow / fast))
    print("16-bit straight-line throughput, Machine with its exact block counter: %.0f M instr/s "
          "(target > 100; see bench_budget.py for the counter's cost)" % bench_throughput(10_000_000_000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
