"""Exact instruction counting at block cost: the budget as a contract.

Unicorn's own counter (``emu_start(count=)``) runs a helper per instruction: ~35x slower than none.
Here a block hook written in C (built once with the system's C compiler and cached) adds each
translated block's instruction count (``uc_ctl(UC_CTL_TB_REQUEST_CACHE)``, the block Unicorn is about
to run) to a counter, and stops the emulation *before* a block that would pass the budget: Unicorn
checks for a stop request at the start of each block, after its block hooks.  The last partial
block then runs under a Python code hook that stops at exactly the budget.  Measured on the
straight-line benchmark (bench/bench_budget.py): 1.03x the time of no counting at all.

The same C hook stops the run at once on Ctrl-C: while Unicorn runs, Python's own SIGINT handler
cannot (it runs between bytecodes), so ``armed()`` installs a C handler that sets a flag the hook
reads at the next block.

Without a C compiler the same logic runs as a Python block hook (exact, slower).

>>> Counter.fields()[:2]
['count', 'budget']
"""

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading

from unicorn import UC_HOOK_BLOCK, UC_HOOK_CODE
from unicorn import unicorn_const as UCC

log = logging.getLogger("physcall.emulator")

STOP_BUDGET, STOP_SIGINT = 1, 2

SOURCE = r"""
#include <signal.h>
#include <stdint.h>
#include <string.h>

typedef struct { uint64_t pc; uint16_t icount; uint16_t size; } uc_tb;
typedef int (*ctl_fn)(void *uc, int control, ...);
typedef int (*stop_fn)(void *uc);

struct counter {                 /* physcall/emulator/counter.py: Counter, field for field */
    uint64_t count, budget, last_pc;
    uint32_t last_icount, stopped;
    ctl_fn ctl;
    stop_fn stop;
    int32_t request, pad;
};

static volatile sig_atomic_t interrupted;
static struct sigaction saved;

static void on_sigint(int sig) { (void)sig; interrupted = 1; }

int physcall_arm(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    return sigaction(SIGINT, &sa, &saved);
}

int physcall_disarm(void)
{
    sigaction(SIGINT, &saved, 0);
    return interrupted;
}

void physcall_count_block(void *uc, uint64_t address, uint32_t size, void *user)
{
    struct counter *c = user;
    uc_tb tb = {0, 0, 0};
    (void)size;
    if (c->stopped)
        return;
    if (interrupted) {
        c->stopped = 2;
        c->stop(uc);
        return;
    }
    c->ctl(uc, c->request, address, &tb);
    if (c->count + tb.icount > c->budget) {      /* stop before this block: it would pass */
        c->stopped = 1;
        c->stop(uc);
        return;
    }
    c->count += tb.icount;
    c->last_pc = address;
    c->last_icount = tb.icount;
}
"""


class Counter(ctypes.Structure):
    """The C ``struct counter``."""
    _fields_ = [("count", ctypes.c_uint64), ("budget", ctypes.c_uint64), ("last_pc", ctypes.c_uint64),
                ("last_icount", ctypes.c_uint32), ("stopped", ctypes.c_uint32),
                ("ctl", ctypes.c_void_p), ("stop", ctypes.c_void_p), ("request", ctypes.c_int32),
                ("pad", ctypes.c_int32)]

    @classmethod
    def fields(cls):
        return [name for name, _ in cls._fields_]


_LIB = []


def _library():
    """The compiled hook, or None when no C compiler is at hand (then Python does the same)."""
    if _LIB:
        return _LIB[0]
    lib = None
    try:
        lib = ctypes.CDLL(str(_build()))
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("block counter in Python (no compiled hook: %s)", exc)
    _LIB.append(lib)
    return lib


def _build():
    from ..cache import cache_dir, trusted_file
    digest = hashlib.sha256(SOURCE.encode()).hexdigest()[:16]
    target = cache_dir("counter") / ("counter-%s.so" % digest)
    if os.path.lexists(target):          # loaded into this process: the cache's trust rule applies
        return trusted_file(target, "compiled block counter")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise OSError("no C compiler (cc or gcc) on PATH")
    with tempfile.TemporaryDirectory(dir=str(target.parent)) as tmp:
        src, out = os.path.join(tmp, "counter.c"), os.path.join(tmp, "counter.so")
        with open(src, "w") as f:
            f.write(SOURCE)
        subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", out, src], check=True,
                       capture_output=True, timeout=60)
        os.chmod(out, 0o755)             # whatever the umask: closed to group and others
        os.replace(out, target)
    return trusted_file(target, "compiled block counter")


class BlockCounter:
    """Counts the instructions a Uc runs, stops it at ``budget``; see the module docstring."""

    def __init__(self, uc):
        from unicorn.unicorn_py3 import unicorn as binding
        self.uc, self.c = uc, Counter()
        self.c.ctl = ctypes.cast(binding.uclib.uc_ctl, ctypes.c_void_p).value
        self.c.stop = ctypes.cast(binding.uclib.uc_emu_stop, ctypes.c_void_p).value
        self.c.request = (UCC.UC_CTL_IO_READ_WRITE << 30) | (2 << 26) | UCC.UC_CTL_TB_REQUEST_CACHE
        self.lib = _library()
        if self.lib is not None:
            handle = ctypes.c_size_t()
            fn = ctypes.cast(self.lib.physcall_count_block, ctypes.c_void_p)
            err = binding.uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC_HOOK_BLOCK, fn,
                                            ctypes.byref(self.c), ctypes.c_uint64(1), ctypes.c_uint64(0))
            if err:
                raise OSError("uc_hook_add for the block counter failed: %d" % err)
        else:
            uc.hook_add(UC_HOOK_BLOCK, self._on_block_py)

    def _on_block_py(self, uc, address, size, data):
        c = self.c
        if c.stopped:
            return
        icount = uc.ctl_request_cache(address)[1]
        if c.count + icount > c.budget:
            c.stopped = STOP_BUDGET
            uc.emu_stop()
            return
        c.count += icount
        c.last_pc, c.last_icount = address, icount

    def run(self, begin, until, budget, pc):
        """Run from ``begin`` to ``until`` for at most ``budget`` instructions; ``pc()`` gives the
        address to resume at.  Returns why it stopped: None (returned or stopped by a hook),
        STOP_BUDGET or STOP_SIGINT (KeyboardInterrupt is raised by the caller)."""
        c = self.c
        c.count, c.budget, c.stopped, c.last_icount = 0, budget, 0, 0
        with self.armed():
            self.uc.emu_start(begin, until)
        if c.stopped == STOP_BUDGET and c.count < budget:
            self._finish(pc(), until, budget - c.count)
        return c.stopped or None

    def _finish(self, begin, until, remaining):
        """The last, partial block: Unicorn's own counter (exact, slow, for < 1 block) stops at the
        budget, and a code hook counts what ran (the run may return to ``until`` before)."""
        seen = [0]

        def on_code(uc, address, size, data):
            seen[0] += 1

        # A code hook reaches only blocks translated after it is added: flush before, and after
        # (so that later runs do not carry its helper calls).  Once per exhausted budget.
        h = self.uc.hook_add(UC_HOOK_CODE, on_code)
        self.uc.ctl_flush_tb()
        try:
            self.uc.emu_start(begin, until, count=remaining)   # the block hook is already stopped
        finally:
            self.uc.hook_del(h)
            self.uc.ctl_flush_tb()
        self.c.count += seen[0]
        self.c.stopped = STOP_BUDGET if seen[0] == remaining else 0

    def retired_before(self, linear, mode):
        """The count when the run stopped on a fault at ``linear``: the last block was counted
        whole, but its instructions from the faulting one on did not retire."""
        c = self.c
        if not c.last_icount or not c.last_pc <= linear < c.last_pc + 16 * c.last_icount:
            return c.count
        import capstone
        md = capstone.Cs(capstone.CS_ARCH_X86,
                         capstone.CS_MODE_16 if mode == "real16" else capstone.CS_MODE_32)
        code = bytes(self.uc.mem_read(c.last_pc, 16 * c.last_icount))
        for index, insn in enumerate(md.disasm(code, c.last_pc)):
            if insn.address == linear and index < c.last_icount:
                return c.count - c.last_icount + index
        return c.count

    @property
    def count(self):
        return self.c.count

    def armed(self):
        return _Armed(self.lib)


class _Armed:
    """Ctrl-C sets the C flag while Unicorn runs (main thread only: signals go there)."""

    def __init__(self, lib):
        self.lib = lib if threading.current_thread() is threading.main_thread() else None

    def __enter__(self):
        if self.lib is not None:
            self.lib.physcall_arm()

    def __exit__(self, *exc):
        if self.lib is not None and self.lib.physcall_disarm():
            raise KeyboardInterrupt("dry run interrupted")
        return False
