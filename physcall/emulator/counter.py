"""Exact instruction counting at block cost: the budget as a contract.

Unicorn's own counter (``emu_start(count=)``) runs a helper per instruction: ~35x slower than none.
Here a block hook written in C (csrc/counter.c, in libphyscall.so: physcall.toolchain builds it beside
the trampoline, physcall.hostlib loads it with cffi) adds each
translated block's instruction count (``uc_ctl(UC_CTL_TB_REQUEST_CACHE)``, the block Unicorn is about
to run) to a counter, and stops the emulation *before* a block that would pass the budget: Unicorn
checks for a stop request at the start of each block, after its block hooks.  The last partial
block then runs under a Python code hook that stops at exactly the budget.  Measured on the
straight-line benchmark (bench/bench_budget.py): 1.03x the time of no counting at all.

The same C hook stops the run at once on Ctrl-C: while Unicorn runs, Python's own SIGINT handler
cannot (it runs between bytecodes), so ``armed()`` installs a C handler that sets a flag the hook
reads at the next block.

Without a C compiler the same logic runs as a Python block hook (exact, slower).

>>> hostlib.ffi.offsetof("struct counter", "budget")
8
"""

import logging
import threading

from unicorn import UC_HOOK_BLOCK, UC_HOOK_CODE
from unicorn import unicorn_const as UCC
from unicorn import x86_const as X

from .. import hostlib
from ..abi import constants
from ..resources import CSRC
from ..disasm import disassembler
from ..errors import PhyscallError

log = logging.getLogger("physcall.emulator")

_STOPS = constants(CSRC / "hostlib.h")
STOP_BUDGET, STOP_SIGINT = _STOPS["PC_COUNTER_BUDGET"], _STOPS["PC_COUNTER_SIGINT"]
STOP_SEGMENT = _STOPS["PC_COUNTER_SEGMENT"]

_LIB = []


def _library():
    """libphyscall.so (csrc/counter.c), or None where it cannot be built or found (then Python does
    the same, slower)."""
    if not _LIB:
        try:
            _LIB.append(hostlib.helper())
        except PhyscallError as exc:
            log.debug("block counter in Python (no compiled hook: %s)", " ".join(str(exc).split()))
            _LIB.append(None)
    return _LIB[0]


class BlockCounter:
    """Counts the instructions a Uc runs, stops it at ``budget``; see the module docstring."""

    def __init__(self, uc):
        ffi = hostlib.ffi
        self.uc, self.c = uc, ffi.new("struct counter *")
        # unicorn.h's UC_CTL_READ_WRITE(UC_CTL_TB_REQUEST_CACHE, 2): bit 31 set, so negative as an int
        self.c.request = ffi.cast("int32_t", (UCC.UC_CTL_IO_READ_WRITE << 30) | (2 << 26)
                                  | UCC.UC_CTL_TB_REQUEST_CACHE)
        self.lib = _library()
        if self.lib is not None:
            engine = hostlib.unicorn(uc)
            self.c.ctl = ffi.cast("void *", ffi.addressof(engine, "uc_ctl"))
            self.c.stop = ffi.cast("void *", ffi.addressof(engine, "uc_emu_stop"))
            self.c.reg_read = ffi.cast("void *", ffi.addressof(engine, "uc_reg_read"))
            self.c.cs_id, self.c.cr0_id = X.UC_X86_REG_CS, X.UC_X86_REG_CR0
            handle = ffi.new("size_t *")
            err = engine.uc_hook_add(ffi.cast("void *", uc._uch.value), handle, UC_HOOK_BLOCK,
                                     ffi.cast("void *", ffi.addressof(self.lib, "physcall_count_block")),
                                     self.c, 1, 0)
            if err:
                raise OSError("uc_hook_add for the block counter failed: %d" % err)
        else:
            uc.hook_add(UC_HOOK_BLOCK, self._on_block_py)

    def _on_block_py(self, uc, address, size, data):
        c = self.c
        if c.stopped:
            return
        cs = (uc.reg_read(X.UC_X86_REG_CS) & 0xFFFF) << 4
        if c.real16 and address >= cs and address - cs + size > 0x10000 \
                and not uc.reg_read(X.UC_X86_REG_CR0) & 1:
            c.stopped, c.limit_pc = STOP_SEGMENT, address
            uc.emu_stop()
            return
        icount = uc.ctl_request_cache(address)[1]
        if c.count + icount > c.budget:
            c.stopped = STOP_BUDGET
            uc.emu_stop()
            return
        c.count += icount
        c.last_pc, c.last_icount = address, icount

    def run(self, begin, until, budget, pc, real16=False):
        """Run from ``begin`` to ``until`` for at most ``budget`` instructions; ``pc()`` gives the
        address to resume at.  Returns why it stopped: None (returned or stopped by a hook),
        STOP_BUDGET, STOP_SEGMENT (``real16`` code about to run past its 64 KiB segment: the block
        at ``limit_pc``) or STOP_SIGINT (KeyboardInterrupt is raised by the caller)."""
        c = self.c
        c.count, c.budget, c.stopped, c.last_icount, c.real16 = 0, budget, 0, 0, int(real16)
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
        code = bytes(self.uc.mem_read(c.last_pc, 16 * c.last_icount))
        for index, insn in enumerate(disassembler(mode).disasm(code, c.last_pc)):
            if insn.address == linear and index < c.last_icount:
                return c.count - c.last_icount + index
        return c.count

    @property
    def limit_pc(self):
        return self.c.limit_pc

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
