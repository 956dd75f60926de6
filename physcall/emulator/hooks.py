"""What runs while Unicorn runs (interrupts, ports, forbidden writes, ret sites, sti) and the verdict
at the end: a :class:`Dispatcher` per Machine, with the state of the current call in a :class:`CallState`.

A hook that refuses records the reason and stops the emulation; an exception raised in a hook is never
caught here: the Unicorn binding stores it and ``emu_start`` re-raises it (a hook's failure is never
lost).

The plain real-mode ``int n`` is dispatched by a C hook (csrc/dispatch.c) that records (vector, AX,
cs:ip) into a buffer; the Python hook here keeps every rule and runs, through a cffi callback, for
whatever the C hook leaves to it (PYTHON_VECTORS, exceptions, flat32, a frame outside the writable
ranges).  Port I/O goes the same way (csrc/ports.c, physcall/emulator/fastports.py): C answers the
hot timer ports, ``on_in``/``on_out`` the rest.  The records join the report, in order, before any
Python hook that reads them and when the call ends.  Without libphyscall.so (or with
PHYSCALL_DISPATCH=python) the Python hooks do it all: the same report, slower.
"""

import logging
import os
import struct
from collections import deque

from unicorn import UC_ERR_INSN_INVALID, UC_HOOK_EDGE_GENERATED, UC_HOOK_INSN, UC_HOOK_INTR
from unicorn import x86_const as X

from .. import hostlib
from ..abi import TRAMPOLINE_BASE, TRAMPOLINE_LIMIT, constants
from ..resources import CSRC
from ..regs import IF, TF
from . import hazards
from .counter import _library
from .cpu import Registers
from .fastports import RECENT, FastPorts
from .firmware import STUB_TRAP_PORT
from ..ranges import contains, merge
from .leaves import SERVICE_CHECKS, read_only
from .policy import DANGER_VECTORS, dangerous_interrupt, static_check

log = logging.getLogger("physcall.emulator")

SENTINEL_CS, SENTINEL_IP = 0xFFFF, 0x0010       # FFFF:0010 = linear 0x100000, where no call goes
SENTINEL = (SENTINEL_CS << 4) + SENTINEL_IP
HLT = 0xF4
EXCEPTIONS = {0: "#DE divide error", 1: "#DB debug", 5: "#BR bound range", 6: "#UD invalid opcode",
              7: "#NM no math coprocessor", 8: "#DF double fault", 12: "#SS stack fault",
              13: "#GP general protection"}
AREAS = ((0x0, 0x400, "the IVT"), (0x400, 0x500, "the BDA"), (0x500, 0xA0000, "low memory"),
         (0xA0000, 0xC0000, "VGA RAM"), (0xC0000, 0xF0000, "option ROM space"),
         (0xF0000, 0x100000, "the system ROM"), (0x100000, 0x110000, "the HMA"))
# Vectors whose ``int n`` the Python hook checks beyond the push: int3 (the unused-memory trap), the
# services that write (leaves.SERVICE_CHECKS), those that may reboot or power off (policy).
PYTHON_VECTORS = frozenset({3}) | frozenset(SERVICE_CHECKS) | DANGER_VECTORS
DISPATCH_ENV = "PHYSCALL_DISPATCH"      # "python": the Python hook only (the comparison test, bench)
_WARNED = []
_EDGE = constants(CSRC / "hostlib.h")
EDGE_BYTES, EDGE_CLEAN = _EDGE["PC_EDGE_BYTES"], _EDGE["PC_EDGE_CLEAN"]


def _native_library():
    """libphyscall.so for the C dispatch, or None: then one warning, and Python dispatches."""
    if os.environ.get(DISPATCH_ENV) == "python":
        return None
    lib = _library()
    if lib is None and not _WARNED:
        _WARNED.append(True)
        log.warning("physcall: libphyscall.so could not be built (no gcc?): the dry run dispatches "
                    "interrupts in Python, with the same results, ~50x slower per interrupt")
    return lib


class CallState:
    """What the hooks know of the call that runs: where it is, what it may write, what it did."""

    def __init__(self, placed, layout, report, allowed, gaps, granted=()):
        self.placed, self.layout, self.report = placed, layout, report
        self.allowed, self.gaps = allowed, gaps
        # Where code that is not the firmware's may run: the batch window, and the ranges the caller
        # let the batch write (code may be written there at run time).  Blocks there are checked for
        # privileged instructions, and a loop there is the routine's own, not a firmware wait.
        self.own = merge([tuple(layout.window)] + list(granted))
        self.last_ax = {}               # vector -> AX of its latest dispatch, for unknown leaves
        self.recent_ports = deque(maxlen=RECENT)   # (port, modelled) of the latest reads: what a loop polls
        self.port_reads, self.unknown_ports = 0, set()
        self.stopped = None             # the reason we stopped the emulation ourselves

    def in_own(self, linear):
        """True when ``linear`` lies where the batch's own code may be (``own``)."""
        return contains(self.own, linear, 1)

    def in_routine(self, linear):
        """True when ``linear`` lies in the user's own routine (not the firmware, not the thunk)."""
        routine = self.placed.routine
        return bool(routine) and routine[0] <= linear < routine[1]


def area(address):
    """A name for a physical address: ``area(0x10) == 'the IVT'``."""
    return next((name for lo, hi, name in AREAS if lo <= address < hi), "memory above 1 MiB")


class Dispatcher:
    """The hooks of one Machine.  It uses the machine only through ``uc``, ``read``, ``mark_dirty``,
    ``where``, ``system_regs`` and its settings (``policy``, ``devices``,
    ``firmware``, ``budget``, ``trace``); ``call`` is the CallState of the call that runs (None
    between calls), set by the machine."""

    def __init__(self, machine):
        self.machine, self.uc = machine, machine.uc
        self.native, self.fast_ports, self._call, self._error = None, None, None, None
        self.checked_blocks = set()       # (address, bytes, mode) of the blocks already checked
        self._cr0, self._stack = Registers(self.uc, ("cr0",)), Registers(self.uc, ("ss", "esp"))
        # the Python interrupt dispatch: what it reads, and what it loads (in the order it did)
        self._intr = Registers(self.uc, ("cr0", "cs", "eip", "eax"))
        self._frame_in = Registers(self.uc, ("ss", "esp", "eflags"))
        self._frame_out = Registers(self.uc, ("esp", "eflags", "cs", "eip"))
        self._handler = Registers(self.uc, ("cs", "eip"))
        self._edges, self._clean = None, [None] * EDGE_CLEAN   # csrc/edges.c's filter, its keys

    @property
    def call(self):
        return self._call

    @call.setter
    def call(self, call):
        """A new call (or None at its end): the C records go to the call they belong to first."""
        self.flush()
        self._call = call
        if call is not None:
            self._error = None
        d = self.native
        if d is not None and call is not None:
            ranges = call.allowed if len(call.allowed) <= len(d.ranges) else []   # else all to Python
            d.nranges = len(ranges)
            for i, (lo, hi) in enumerate(ranges):
                d.ranges[i][0], d.ranges[i][1] = lo, hi
        if self.fast_ports is not None and call is not None:
            self.fast_ports.arm(call)
        if self._edges is not None and call is not None:
            e = self._edges
            own = call.own if len(call.own) <= len(e.own) else [(0, 1 << 64)]   # else all to Python
            e.nown = len(own)
            for i, (lo, hi) in enumerate(own):
                e.own[i][0], e.own[i][1] = lo, min(hi, (1 << 64) - 1)

    def install(self):
        """The hooks that stay for the machine's life; the per-call ones are the machine's to add."""
        uc = self.uc
        self.native = self._install_native()
        if self.native is None:
            uc.hook_add(UC_HOOK_INTR, self.on_interrupt)
            uc.hook_add(UC_HOOK_INSN, self.on_in, None, 1, 0, X.UC_X86_INS_IN)
            uc.hook_add(UC_HOOK_INSN, self.on_out, None, 1, 0, X.UC_X86_INS_OUT)
        else:                             # C answers the hot ports, calls on_in/on_out for the rest
            self.fast_ports = FastPorts(self, _library())
        # Blocks are checked when Unicorn translates and chains them, not each time they run: the
        # check costs nothing in a loop, and code rewritten at run time is translated (so checked) anew.
        # A cffi callback, not the binding's: its ctypes wrapper costs ~10 us per edge, and a warm
        # int 12h chains three; an exception in it is kept and raised after the run (raise_pending).
        # With libphyscall.so, csrc/edges.c sits in front and calls it only for an edge that may say
        # something (a block in the window not already found clean).
        ffi, engine = hostlib.ffi, hostlib.unicorn(uc)
        self._edge = ffi.callback("void(void *, struct pc_tb *, struct pc_tb *, void *)",
                                  lambda uc, cur, prev, data: self.on_edge(self.uc, cur, prev, None),
                                  onerror=self._on_slow_error)
        hook, user = self._edge, ffi.NULL
        if self.native is not None:
            e = self._edges = ffi.new("struct edge_check *")
            e.reg_read = ffi.cast("void *", ffi.addressof(engine, "uc_reg_read"))
            e.mem_read = ffi.cast("void *", ffi.addressof(engine, "uc_mem_read"))
            e.cr0_id, e.slow = X.UC_X86_REG_CR0, ffi.cast("void *", self._edge)
            hook, user = ffi.cast("void *", ffi.addressof(_library(), "physcall_on_edge")), e
        err = engine.uc_hook_add(ffi.cast("void *", uc._uch.value), ffi.new("size_t *"),
                                 UC_HOOK_EDGE_GENERATED, hook, user, 1, 0)
        if err:
            raise OSError("uc_hook_add for the block check failed: %d" % err)

    def _install_native(self):
        lib = _native_library()
        if lib is None:
            return None
        ffi, engine = hostlib.ffi, hostlib.unicorn(self.uc)
        d = ffi.new("struct dispatch *")
        for field in ("reg_read", "reg_write", "mem_read", "mem_write"):
            setattr(d, field, ffi.cast("void *", ffi.addressof(engine, "uc_" + field)))
        for field in ("cr0", "cs", "eip", "eax", "ss", "esp", "eflags"):
            setattr(d, field + "_id", getattr(X, "UC_X86_REG_" + field.upper()))
        for vector in range(256):
            d.fast[vector] = vector not in PYTHON_VECTORS
        # kept alive with the dispatcher; an exception in it is kept and raised after the run
        self._slow = ffi.callback("void(void *, uint32_t, void *)", self._on_slow_interrupt,
                                  onerror=self._on_slow_error)
        d.slow = ffi.cast("void *", self._slow)
        handle = ffi.new("size_t *")
        err = engine.uc_hook_add(ffi.cast("void *", self.uc._uch.value), handle, UC_HOOK_INTR,
                                 ffi.cast("void *", ffi.addressof(lib, "physcall_on_interrupt")), d, 1, 0)
        if err:
            raise OSError("uc_hook_add for the interrupt dispatch failed: %d" % err)
        return d

    def _on_slow_interrupt(self, uc, vector, user):
        self.flush()
        self.on_interrupt(self.uc, vector, None)

    def _on_slow_error(self, exc_type, exc_value, tb):
        """cffi would print and drop it: keep it, stop, and raise it where emu_start returns, as the
        binding does for its own hooks."""
        if self._error is None:
            self._error = exc_value
        self.uc.emu_stop()
        return None

    def raise_pending(self):
        """Raise what the Python hook raised under the C dispatch (after the run)."""
        error, self._error = self._error, None
        if error is not None:
            raise error

    def flush(self):
        """The C hooks' records into the call (report, last_ax, port counters), as the Python hooks
        add them."""
        if self.fast_ports is not None:
            self.fast_ports.flush(self._call)
        d = self.native
        if d is None or not d.count:
            return
        count, d.count = d.count, 0
        call = self._call
        if call is None:
            return
        report, last_ax = call.report, call.last_ax
        for vector, ax, cs, ip in struct.iter_unpack("<4H", hostlib.ffi.buffer(d.records, 8 * count)):
            report.interrupt(vector, ax, cs, ip)
            last_ax[vector] = ax

    def _stop(self, call, reason):
        call.report.refuse(reason)
        if call.stopped is None:
            call.stopped = reason
        self.uc.emu_stop()

    def on_interrupt(self, uc, vector, data):
        """Real-mode ``int n``: push FLAGS, CS, IP; clear IF and TF; CS:IP = IVT[n] from memory."""
        call, (where, lin) = self.call, self.machine.where()
        r = self._intr.read()                       # CR0, CS, EIP, EAX: one foreign call (cpu.py)
        if r["cr0"] & 1:
            if self._software(vector, lin) is None:
                return self._stop(call, "CPU exception %s at %s in flat32: with no IDT that is a triple "
                                        "fault, a reset" % (EXCEPTIONS.get(vector, vector), where))
            return self._stop(call, "int %02xh at %s in flat32: paging off and no IDT, there is no "
                                    "interrupt to take (call BIOS services from real16)" % (vector, where))
        length = self._software(vector, lin)
        if length is None:
            return self._stop(call, "CPU exception %s at %s" % (EXCEPTIONS.get(vector, vector), where))
        if vector == 3 and contains(call.gaps, lin - 1, 1):
            return self._stop(call, "execution reached unused memory at %#07x (a ret or jmp to a "
                                    "wrong address: stack unbalanced?)" % (lin - 1))
        cs, ip, ax = r["cs"] & 0xFFFF, r["eip"] & 0xFFFF, r["eax"] & 0xFFFF
        danger = dangerous_interrupt(vector, ax)
        for check in SERVICE_CHECKS.get(vector, ()):
            danger = danger or check(self.machine, call)
        if danger:
            return self._stop(call, "%s (at %s)" % (danger, where))
        call.report.interrupt(vector, ax, cs, (ip - length) & 0xFFFF)
        call.last_ax[vector] = ax
        frame = self._push_frame(call, cs, ip)
        off, seg = struct.unpack("<HH", self.machine.read(4 * vector, 4))
        if frame is None:                           # refused: CS:IP still go to the handler
            self._handler.write(seg, off)
        else:
            self._frame_out.write(*frame, seg, off)

    def _software(self, vector, lin):
        """Length of the instruction that raised ``vector`` (int n, int3, into), None for a CPU
        exception: for those Unicorn leaves IP at the faulting instruction, for int n after it."""
        before = self.machine.read(lin - 2, 2) if lin >= 2 else b""
        if before == bytes([0xCD, vector]):
            return 2
        if before[-1:] == {3: b"\xCC", 4: b"\xCE", 1: b"\xF1"}.get(vector):
            return 1
        return None

    def _push_frame(self, call, cs, ip):
        """Write the FLAGS, CS, IP frame; the (ESP, EFLAGS) the handler starts with, None if refused."""
        r = self._frame_in.read()
        ss, esp, flags = r["ss"] & 0xFFFF, r["esp"], r["eflags"]
        sp = (esp - 6) & 0xFFFF
        at = (ss << 4) + sp
        if not contains(call.allowed, at, 6):
            self.machine.mark_dirty(at, at + 6)
            return self._stop(call, "interrupt frame written to %#07x (%s) at %04x:%04x: outside the "
                                    "call's stack and writable areas" % (at, self._owner(call, at), cs, ip))
        self.uc.mem_write(at, struct.pack("<HHH", ip, cs, flags & 0xFFFF))
        return (esp & 0xFFFF0000) | sp, flags & ~(IF | TF)

    def _port_refused(self, call, direction, port, size):
        if self.machine.policy.refuses_port(port):
            self._stop(call, "port %s %#x (%d bytes) at %s refused by the policy (ports='refuse'; "
                             "add it to Policy(allowed_ports=...))"
                       % (direction, port, size, self.machine.where()[0]))
            return True
        return False

    def on_in(self, uc, port, size, data):
        ones = (1 << (8 * size)) - 1
        call = self.call
        if self._port_refused(call, "in", port, size):
            return ones
        own = self.machine.effects.read(port, size)
        dev = self.machine.devices.get(port)
        value = (own if own is not None else dev.read(port, size) if dev else ones) & ones
        call.report.port("in", port, size, value)
        hazards.port_in(self.machine, call, port, own is not None or dev is not None)
        return value

    def on_watch(self, uc, address, size, data):
        """Control reached a place it must never reach (effects.control_watch), by whatever path."""
        call = self.call
        if call is None or call.stopped:
            return
        for check in self.machine.watch[address]:
            why = check(self.machine, call)
            if why:
                return self._stop(call, "%s (at %s)" % (why, self.machine.where()[0]))

    def on_out(self, uc, port, size, value, data):
        call = self.call
        if port == STUB_TRAP_PORT:         # the stub BIOS names a leaf it has no model for
            self.flush()                   # last_ax and the interrupts so far
            vector = value & 0xFF
            ax = call.last_ax.get(vector)
            call.report.unknown_leaf(vector, ax or 0)
            if ax is None or not read_only(vector, ax):
                site = next((i["at"] for i in reversed(call.report.interrupts) if i["vector"] == vector),
                            self.machine.where()[0])
                # refused, but the stub's answer (CF=1, AH=86h) runs on: it is harmless, and shown
                return call.report.refuse(
                    "int %02xh ax=%s at %s: the stub BIOS has no model of this leaf and it is not a "
                    "read-only service (physcall/emulator/leaves.py): what the real firmware does with "
                    "it is unknown" % (vector, "%04xh" % ax if ax is not None else "?", site))
            hazards.unknown_leaf(self.machine, call, call.report.unknown_leaves[-1]["text"])
            return
        if self._port_refused(call, "out", port, size):
            return
        danger = self.machine.effects.write(port, size, value)
        if danger:
            return self._stop(call, "out %#x to port %04xh at %s: %s" % (value, port, self.machine.where()[0],
                                                                        danger))
        dev = self.machine.devices.get(port)
        if dev is not None:
            dev.write(port, size, value)
        call.report.port("out", port, size, value)
        hazards.port_out(self.machine, call, port, value)

    def on_edge(self, uc, cur, prev, data):
        """Unicorn chained two translated blocks: check those that lie where the batch's own code may
        be (the batch window, the caller's writable ranges: CallState.own) for privileged
        instructions.  This sees what really runs, which a front-to-back read of the routine's bytes
        does not (overlapping instructions, code written into a buffer at run time).
        The check may come after the block ran in the emulator: harmless, only the verdict counts."""
        call = self.call
        if call is None or call.stopped:
            return
        mode = None
        for tb in (prev, cur):
            if tb.size and call.in_own(tb.pc):
                mode = mode or ("flat32" if self._cr0.read()["cr0"] & 1 else "real16")
                self._check_block(call, tb.pc, tb.size, mode)

    def _check_block(self, call, address, size, mode):
        key = (address, self.machine.read(address, size), mode)
        if key in self.checked_blocks:
            return
        self.checked_blocks.add(key)
        found = static_check(key[1], address, mode)      # kept by (bytes, address, mode): policy.py
        if not found:
            self._remember_clean(key)
        if found:
            self._stop(call, "privileged or mode-changing instruction executed: %s" % found[0])

    def _remember_clean(self, key):
        """Tell csrc/edges.c that this block (address, bytes, mode) is clean: it stops asking."""
        e = self._edges
        address, code, mode = key
        if e is None or len(code) > EDGE_BYTES or key in self._clean:
            return
        slot = e.next % EDGE_CLEAN
        e.next = slot + 1
        self._clean[slot] = key
        c = e.clean[slot]
        c.pc, c.size, c.mode = address, len(code), int(mode == "flat32")
        hostlib.ffi.memmove(c.bytes, code, len(code))

    def on_forbidden_write(self, uc, access, address, size, value, data):
        self.machine.mark_dirty(address, address + size)
        call = self.call
        if call is None or call.stopped:
            return
        self._stop(call, "write of %d bytes to %#07x (%s) at %s: outside the call's stack, buffers "
                         "and what the firmware owns" % (size, address, self._owner(call, address),
                                                          self.machine.where()[0]))

    def _owner(self, call, address):
        lo, hi = call.layout.window
        if lo <= address < hi:
            return "the batch window (none of this call's stack, code or buffers)"
        if TRAMPOLINE_BASE <= address < TRAMPOLINE_LIMIT:
            return "the trampoline: its code, data and batch block"
        return self.machine.firmware.owners.owner(address)

    def on_ret(self, uc, address, size, data):
        """At a ``ret`` of the user's routine: the routine's own return must pop the caller's
        return address; a nested ret may go deeper but only back into the routine's code."""
        call = self.call
        p = call.placed
        if p.mode == "real16":
            ss, sp = uc.reg_read(X.UC_X86_REG_SS) & 0xFFFF, uc.reg_read(X.UC_X86_REG_ESP) & 0xFFFF
            expected = (p.sp - 6) & 0xFFFF            # sentinel far frame (4) + the thunk's call (2)
            target = (uc.reg_read(X.UC_X86_REG_CS) << 4) + struct.unpack(
                "<H", uc.mem_read((ss << 4) + sp, 2))[0]
        else:
            sp, expected = uc.reg_read(X.UC_X86_REG_ESP) & 0xFFFFFFFF, p.esp - 4
            target = struct.unpack("<I", uc.mem_read(sp, 4))[0]
        if sp == expected or (sp < expected and p.code[0] <= target < p.code[1]):
            return
        self._stop(call, "stack unbalanced: ret at sp=%#06x to %#07x (the routine was entered with "
                         "sp=%#06x)" % (sp, target, expected))

    # -- conclusion ---------------------------------------------------------------------------
    def conclude(self, call, error, system):
        report, p = call.report, call.placed
        where, lin = self.machine.where()
        if error is not None:
            what = "invalid opcode" if error.errno == UC_ERR_INSN_INVALID else "CPU fault (%s)" % error
            report.refuse("%s at %s%s" % (what, where, self._in_what(call, lin)))
            report.finish(False, "stopped by %s" % what)
        elif call.stopped and report.unverified:
            pass                                 # a hazard ended the dry run (hazards.waiting)
        elif call.stopped:
            report.finish(False, "stopped: " + call.stopped)
        elif lin == SENTINEL:
            self._check_balance(call)
        elif lin and self.machine.read(lin - 1, 1)[0] == HLT and not call.in_routine(lin - 1):
            hazards.halted(self.machine, call, lin - 1)
        elif lin and self.machine.read(lin - 1, 1)[0] == HLT:
            report.refuse("hlt at %#07x%s: a routine must not halt the CPU"
                          % (lin - 1, self._in_what(call, lin - 1)))
            report.finish(False, "halted")
        elif not call.in_routine(lin) and not call.in_own(lin):
            hazards.waiting(self.machine, call)          # a firmware loop: say what it waits on, not refuse
            report.instructions = self.machine.budget
        else:
            report.refuse("no return within %d instructions: last %s" % (self.machine.budget, where))
            report.finish(False, "budget exhausted")
            report.instructions = self.machine.budget
        if report.instructions is None:
            report.instructions_bound = "<= %d" % self.machine.budget
        for name, (old, new) in _changes(system, self.machine.system_regs()).items():
            report.refuse("%s changed from %s to %s: privileged or mode-changing instruction" %
                          (name, _hex(old), _hex(new)))

    def _check_balance(self, call):
        report, p = call.report, call.placed
        r = self._stack.read()
        if p.mode == "real16":
            ss, sp = r["ss"] & 0xFFFF, r["esp"] & 0xFFFF
            good, entry = (ss, sp) == (p.ss, p.sp & 0xFFFF), (p.ss, p.sp)
        else:
            ss, sp = None, r["esp"] & 0xFFFFFFFF
            good, entry = sp == p.esp, (None, p.esp)
        if good:
            report.finish(True, "returned to the sentinel with the stack balanced")
        else:
            report.refuse("stack unbalanced: ret at sp=%#06x (ss=%s), the call was entered with "
                          "sp=%#06x" % (sp, "%04x" % ss if ss is not None else "-", entry[1]))
            report.finish(True, "returned with the stack unbalanced")

    def _in_what(self, call, lin):
        p = call.placed
        if p.routine and p.routine[0] <= lin < p.routine[1]:
            return " in the routine"
        if contains(call.gaps, lin, 1):
            return " in unused memory (a ret or jmp to a wrong address)"
        return " in %s" % area(lin)


def _changes(before, after):
    return {k: (before[k], after[k]) for k in before if before[k] != after[k]}


def _hex(value):
    return "base %#x limit %#x" % tuple(value) if isinstance(value, tuple) else "%#x" % value
