"""The Unicorn machine: runs a Layout against a Firmware the way the real-jump trampoline would.

One ``Uc`` in UC_MODE_32 serves both modes: real16 calls run with CR0.PE=0 (segment loads then give
real-mode bases, sel << 4, and 16-bit code), flat32 calls with PE=1 and flat 4 GiB descriptors.  So
the calls of a batch share one memory, with no copying between two engines.  The first MiB plus the
HMA (0x100000-0x10FFF0, what FFFF:xxxx reaches with A20 on) is mapped at start; above that, memory is
mapped page by page when first touched (UC_HOOK_MEM_UNMAPPED) and reads as zeros: the model has no
memory map, so holes are not told from RAM.  Between runs only what may have changed is restored
from a pristine copy, so the translation cache of the firmware's code stays warm.

Unicorn 2 does not dispatch ``int n`` through the IVT in 16-bit mode; the interrupt hook does what
the CPU does (Intel SDM vol. 3, 20.1.4 "Interrupt and Exception Handling" in real-address mode).

>>> from physcall.emulator.firmware import Firmware, LOW_SIZE
>>> low = bytearray(LOW_SIZE); low[0x48:0x4C] = bytes.fromhex("0010 00f0")   # IVT[12h] = f000:1000
>>> low[0xF1000:0xF1004] = bytes.fromhex("b87f02cf")                           # mov ax, 027Fh; iret
>>> from physcall.layout import lay_out; from physcall.call import interrupt
>>> Machine(Firmware("tiny", low, [])).run(lay_out(interrupt(0x12)))[0].regs.ax
639
"""

import logging
import struct

from unicorn import (UC_ARCH_X86, UC_HOOK_CODE, UC_HOOK_INSN, UC_HOOK_MEM_READ, UC_HOOK_MEM_UNMAPPED,
                     UC_HOOK_MEM_WRITE, UC_MEM_READ_UNMAPPED, UC_MODE_32, Uc, UcError)
from unicorn import x86_const as X

from .. import abi
from ..outcome import NOT_RETURNED, NOT_RUN, RETURNED, Outcome
from ..ranges import changed, complement, merge, paint_pages
from ..regs import GPRS, SEGS, Regs
from . import hazards
from ..errors import OptionError, UsageError
from .counter import STOP_SEGMENT, BlockCounter
from .cpu import Registers
from .memory import LowRam
from .effects import PortEffects, control_watch, pm1_ports
from .devices import default_devices
from .firmware import LOW_SIZE, resolve
from .hooks import SENTINEL, SENTINEL_CS, SENTINEL_IP, CallState, Dispatcher
from .policy import Policy, allowed_ranges, ret_sites, static_check, sti_sites, timer_sites
from .report import Report
from .segments import load_sites, loaded_value, trampoline_gdt

log = logging.getLogger("physcall.emulator")

HMA_END = LOW_SIZE + 0x10000
PAGE = 0x1000
# The budget: every instruction is counted, at the cost of a C hook per translated block
# (physcall/emulator/counter.py), and a call stops at exactly ``budget`` instructions.

# Unicorn's translation buffer.  Its default, 1 GiB, is one mmap that a 256 MB machine without swap
# refuses ("Could not allocate dynamic translator buffer"), and small real machines are the ones with a
# BIOS worth calling.  A dry run translates a few hundred KiB at most; a full buffer is flushed and
# refilled, not an error.  The test suite runs no slower at 4 MiB than at 1 GiB.
TCG_BUFFER = 16 << 20


STI = 0xFB
TRAP = 0xCC                     # fills the unused parts of the window: a wild jump lands on int3
CR0_REAL, CR0_FLAT = 0x10, 0x11  # ET (387 present) | PE for flat32; paging stays off
# The register sets a call moves, each in one batch (cpu.py), in the order the trampoline loads
# them: CR0 before the segments (their loads follow the mode), IDTR as the trampoline leaves it.
# physcall.regs owns the names of Regs' registers.
ENTRY_REAL = ("idtr", "cr0") + SEGS + ("ss", "esp", "cs") + GPRS + ("eflags",)
ENTRY_FLAT = ("idtr", "gdtr", "cr0", "cs", "ss", "ds", "es", "fs", "gs", "esp") + GPRS + ("eflags",)
RESULT = GPRS + SEGS + ("eflags",)
SYSTEM = ("cr0", "cr3", "cr4", "gdtr", "idtr", "efer")    # what a routine must leave alone
WHERE = ("eip", "cr0", "cs")

def entry_eflags(eflags):
    """The FLAGS a call starts with, on the real jump and here alike (csrc/physcall.h, PC_EFLAGS_MASK).

    >>> hex(entry_eflags(0xffffffff))
    '0xcd7'
    """
    return (eflags & abi.EFLAGS_MASK) | abi.EFLAGS_FIXED


class Machine:
    """A reusable emulated PC with ``firmware`` in its first MiB.

    >>> m = Machine(stubbios.build())          # doctest: +SKIP
    >>> m.run(lay_out(interrupt(0x12)))[0].regs.ax    # doctest: +SKIP
    639
    """

    def __init__(self, firmware, *, budget=10_000_000, policy=None, trace=False, exact=False):
        """``exact`` is accepted for old callers: every run counts exactly now."""
        self.firmware, self.budget, self.trace = firmware, budget, trace
        self.policy = policy or Policy()
        self.uc = uc = Uc(UC_ARCH_X86, UC_MODE_32)
        uc.ctl_set_tcg_buffer_size(TCG_BUFFER)    # before the first mem_map: Unicorn sets TCG up then
        # The trampoline's GDT is resident where the image puts it for the whole call (segments.py);
        # its page is not the call's to write, so the write hooks refuse writes to it.
        self._gdt = trampoline_gdt()
        at, gdt = self._gdt
        pristine = bytearray(firmware.low + bytes(HMA_END - LOW_SIZE))
        pristine[at:at + len(gdt)] = gdt
        self._pristine = bytes(pristine)
        self._ram = LowRam(uc, self._pristine)     # [0, HMA_END), compared in place (memory.py)
        self._dirty, self._pages, self._write_hooks = [], set(), (None, [])
        self._call_hook_set = ((), [])                     # _call_hooks: the current call's, kept
        self._high = self._high_pages()
        self._baseline, self._baseline_key = None, None    # the window's contents between batches
        self._cpu = {names: Registers(uc, names) for names in (ENTRY_REAL, ENTRY_FLAT, RESULT, SYSTEM,
                                                                  WHERE)}
        self.devices = default_devices(firmware.meta)
        self.devices.update(firmware.devices)
        self.hooks = Dispatcher(self)
        self.hooks.install()
        uc.hook_add(UC_HOOK_MEM_UNMAPPED, self._on_unmapped)
        self._counter = BlockCounter(uc)
        uc.hook_add(UC_HOOK_MEM_READ, self._on_hma_read, None, LOW_SIZE, HMA_END - 1)
        uc.hook_add(UC_HOOK_INSN, self._on_cpuid, None, 1, 0, X.UC_X86_INS_CPUID)
        self.effects = PortEffects(pm1_ports(firmware))
        self.watch = control_watch(firmware.low)
        for at in self.watch:            # bounded to one address: free until something runs there
            uc.hook_add(UC_HOOK_CODE, self.hooks.on_watch, None, at, at)
        self._load_high()
        self._hook_sti(firmware.low)
        # The CPU as it starts, put back before each batch (~0.5 us): Unicorn's interrupt hook stands
        # in for the CPU's delivery, so a CPU exception the hook refuses stays "in flight" in QEMU's
        # state (old_exception), and the next batch's #DE became a #DF, the third a triple fault.
        self._fresh_cpu = uc.context_save()

    def _hook_sti(self, low):
        """A code hook on every FBh byte of the firmware's ROM area: a hook bounded to one address costs
        nothing until an instruction starting there runs (Unicorn checks the bounds when it translates),
        and an instruction starting with FBh is ``sti``.  ~150 sites in SeaBIOS + its VGA BIOS; a
        per-block hook would cost a Python call per block.  Code the firmware copies elsewhere at run
        time is not covered (SeaBIOS runs its 16-bit code in place)."""
        for at in range(0xC0000, LOW_SIZE):
            if low[at] == STI:
                self.uc.hook_add(UC_HOOK_CODE, self._on_sti, None, at, at)

    def _on_sti(self, uc, address, size, data):
        call = self.hooks.call
        if call is not None and not call.stopped and uc.mem_read(address, 1)[0] == STI:
            hazards.on_sti(self, call)

    # -- memory -------------------------------------------------------------------------------
    def read(self, phys, size):
        """Bytes of emulated physical memory: ``m.read(0x413, 2)``."""
        if self._ram.covers(phys, size):
            return self._ram.read(phys, size)
        return bytes(self.uc.mem_read(phys, size))

    def write(self, phys, data):
        """Write emulated physical memory (restored by the next reset when below 1 MiB + HMA)."""
        self._map_range(phys, len(data))
        self.uc.mem_write(phys, bytes(data))
        self.uc.ctl_remove_cache(phys, phys + len(data))
        self.mark_dirty(phys, phys + len(data))

    def mark_dirty(self, lo, hi):
        """[lo, hi) may differ from the firmware's pristine copy: the next reset restores it."""
        self._dirty.append((lo, hi))

    def _map_range(self, phys, size):
        for page in range(phys & ~(PAGE - 1), phys + size, PAGE):
            if page >= HMA_END and page not in self._pages and page not in self._high:
                self.uc.mem_map(page, PAGE)
                self._pages.add(page)

    def _high_pages(self):
        """The pages above the HMA that hold the firmware's high regions (ACPI, SMBIOS tables), each
        as it starts: zeros and the regions' bytes.  They stay mapped for the machine's life and are
        rewritten whole at each reset (a map and an unmap of one page cost ~50 us a batch)."""
        painted = {}
        for phys, data in self.firmware.high:
            paint_pages(painted, phys, data, PAGE)
        pages = {page: image for page, image in painted.items() if page >= HMA_END}
        for page in pages:
            self.uc.mem_map(page, PAGE)
        return {page: bytes(image) for page, image in pages.items()}

    def _load_high(self):
        for page, image in self._high.items():
            self._ram.put(page, image)
        for phys, data in self.firmware.high:               # what lies below the HMA's end
            if phys < HMA_END:
                size = min(len(data), HMA_END - phys)
                self._ram.put(phys, bytes(data[:size]))

    def reset(self):
        """Back to the firmware's pristine state (the batch window to its baseline, _place):
        restore what may have changed, drop pages above."""
        for lo, hi in merge((max(lo, 0), min(hi, HMA_END)) for lo, hi in self._dirty if lo < HMA_END):
            self._restore(lo, hi)
        for lo, hi in merge((p, p + PAGE) for p in self._pages):
            self.uc.mem_unmap(lo, hi - lo)
        self._dirty, self._pages = [], set()
        self._load_high()
        for dev in set(self.devices.values()):
            dev.reset()
        self.effects.reset()

    def _restore(self, lo, hi):
        """Put back [lo, hi): the window's part from its baseline, the rest from the pristine copy."""
        if self._baseline is not None:
            base, image = self._baseline
            top = base + len(image)
            if lo < top and hi > base:
                a, b = max(lo, base), min(hi, top)
                self._ram.put(a, image, a - base, b - a)
                for part in ((lo, a), (b, hi)):
                    if part[0] < part[1]:
                        self._restore_pristine(*part)
                return
        self._restore_pristine(lo, hi)

    def _restore_pristine(self, lo, hi):
        """Put back the pages of [lo, hi) that differ from the pristine copy, and drop only their
        translations: a snapshot's firmware-owned range (C0000h-FFFFFh) holds the firmware's code,
        whose translations stay warm when its variables are all that changed.  (Outside the batch
        window no block is checked on translation (Dispatcher.on_edge), so a warm one changes no
        verdict; the window's own parts are always rewritten, _restore.)"""
        if self._ram.same(lo, self._pristine, lo, hi - lo):   # the common case: VGA RAM untouched
            return
        end = (lo & ~(PAGE - 1)) + PAGE
        if hi <= end:                                          # one page: put it back
            self._ram.put(lo, self._pristine, lo, hi - lo)
            return
        mid = max(end, ((lo + hi) // 2) & ~(PAGE - 1))        # else halve it on a page boundary
        self._restore_pristine(lo, mid)
        self._restore_pristine(mid, hi)

    def _on_unmapped(self, uc, access, address, size, value, data):
        # Memory above 1 MiB exists on first touch and reads as zeros (see the module docstring).
        if access == UC_MEM_READ_UNMAPPED:
            self._unknown_read("read of %#x: RAM above 1 MiB that is not in the firmware image (it "
                               "reads as zeros here, the real machine has other data there)" % address)
        page = address & ~(PAGE - 1)
        uc.mem_map(page, PAGE)
        self._pages.add(page)
        entry = self.firmware.owners.find(address)
        if entry is not None and entry[3] == "device" and self.hooks.call is not None:
            hazards.mmio(self, self.hooks.call, address, access, entry[2])
        return True

    # -- reads the dry run cannot see -----------------------------------------------------------
    def _unknown_read(self, text):
        """An ``unknown-read`` hazard: what follows may differ on the real machine, so from now on
        the call may write only its buffers, stack, code and the firmware's memory (_on_extra_write)."""
        call = self.hooks.call
        if call is not None and not call.stopped:
            at, lin = self.where()
            call.report.hazard("unknown-read", at, lin, text)

    def _on_hma_read(self, uc, access, address, size, value, data):
        self._unknown_read("read of %#x: the HMA, RAM above 1 MiB that is not in the firmware image"
                           % address)

    def _on_cpuid(self, uc, data):
        self._unknown_read("cpuid (eax=%#x): the dry run's CPU answers, not the real one"
                           % (uc.reg_read(X.UC_X86_REG_EAX) & 0xFFFFFFFF))
        return 0                                        # Unicorn answers as its CPU model does

    def _on_timer_read(self, uc, address, size, data):
        name = {b"\x0f\x31": "rdtsc", b"\x0f\x33": "rdpmc"}.get(self.read(address, 2), "rdtscp")
        self._unknown_read("%s: a counter the dry run does not model" % name)

    def _on_extra_write(self, uc, access, address, size, value, data):
        """A write to a range the caller added (Policy.writable) after an unknown read: refused."""
        call = self.hooks.call
        if call is None or call.stopped:
            return
        first = next((h for h in call.report.hazards if h["kind"] == "unknown-read"), None)
        if first is not None:
            self.mark_dirty(address, address + size)
            self.hooks._stop(call, "write of %d bytes to %#x at %s after the unknown read at %s (%s): "
                                   "what the real machine writes there is not known; only the call's "
                                   "buffers, stack and the firmware's memory stay writable"
                             % (size, address, self.where()[0], first["at"], first["text"]))

    # -- running ------------------------------------------------------------------------------
    def run(self, layout):
        """Run every call of ``layout`` in order; one Outcome per call.  After a refused call the
        rest are not run (their reports say so)."""
        check_budget(self.budget)
        return self._run_batch(layout)

    def _run_batch(self, layout):
        self.hooks.checked_blocks = set()
        self.uc.context_restore(self._fresh_cpu)
        self.reset()
        self._dirty.append(tuple(layout.stack))      # every call writes it; its code and buffers: _place
        self._dirty += [(lo, hi) for lo, hi, *_ in self.firmware.writable]
        self._dirty += [(lo, hi) for lo, hi, *_ in self.policy.writable]
        gaps = self._place(layout)
        outcomes, refused = [], None
        for placed in layout.calls:
            if refused is not None:
                outcomes.append(self._not_run(placed, refused))
                continue
            outcome = self._run_call(placed, layout, gaps)
            if outcome.report.verdict != "ok":
                refused = placed.index
            outcomes.append(outcome)
        return outcomes

    def _place(self, layout):
        """Write the layout's regions over the window's baseline (_baseline_for); the gaps between
        them hold the trap byte."""
        used = merge([(at, at + len(data)) for at, data in layout.regions] + [tuple(layout.stack)])
        lo, hi = layout.window
        gaps = [(max(a, lo), min(b, hi)) for a, b in complement(used, hi) if b > lo]
        self._baseline_for(layout)
        for at, data in layout.regions:
            self._ram.put(at, bytes(data))
            self.mark_dirty(at, at + len(data))
        return gaps

    def _baseline_for(self, layout):
        """The window between batches: the trap byte everywhere but the stack, which is pristine.
        reset() puts back only what a batch changed (its regions, its stack, what its calls wrote:
        every write lands in a range marked dirty, its allowed ranges or a hooked one), so a batch
        costs its own size, not the window's 416 KiB twice.  A new window or stack (a hand-made
        Layout) first puts the old window back to pristine."""
        lo, hi = layout.window
        s_lo, s_hi = layout.stack
        key = (lo, hi, s_lo, s_hi)
        if self._baseline_key == key:
            return
        if self._baseline is not None:
            old, self._baseline = self._baseline, None
            self._restore_pristine(old[0], old[0] + len(old[1]))
        image = bytearray([TRAP]) * (hi - lo)
        a, b = max(s_lo, lo), min(s_hi, hi)
        if a < b:
            image[a - lo:b - lo] = self._pristine[a:b]
        self._baseline, self._baseline_key = (lo, bytes(image)), key
        self._ram.put(lo, self._baseline[1])

    def _not_run(self, placed, refused):
        report = Report(call=_describe(placed), mode=placed.mode, budget=self.budget,
                        firmware=self.firmware.name)
        report.refuse("not run: call %d of the batch was refused" % refused)
        return _outcome(placed, placed.regs, {}, report, NOT_RUN)

    def _run_call(self, placed, layout, gaps):
        report = Report(call=_describe(placed), mode=placed.mode, budget=self.budget,
                        firmware=self.firmware.name)
        allowed = allowed_ranges(placed, layout, self.firmware, self.policy)
        # a device's registers are no RAM to refuse: touching them is a hazard (hazards.mmio)
        allowed = merge(allowed + [(lo, hi) for lo, hi, _ in self.firmware.owners.device_ranges()])
        call = self.hooks.call = CallState(placed, layout, report, allowed, gaps,
                                           [(lo, hi) for lo, hi, _ in self.policy.writable])
        if placed.routine and self._static_refusal(placed, report):
            return _outcome(placed, placed.regs, self._buffers(placed), report, NOT_RUN)
        self._install_write_hooks(allowed)
        before = self._snapshot(allowed)
        begin = self._enter(placed)
        system = self.system_regs()
        extra = self._call_hooks(placed)
        try:
            why = self._counter.run(begin, SENTINEL, self.budget, self._resume_at,
                                    real16=placed.mode == "real16")
            self.hooks.raise_pending()
            if why == STOP_SEGMENT:
                self._past_segment(call)
            error = None
        except UcError as e:                    # hook exceptions are not UcError: they propagate
            error = e
        finally:
            for h in extra:
                self.uc.hook_del(h)
            self.hooks.call = None
        report.instructions = self._counter.count
        if error is not None:                   # the faulting instruction and the rest of its
            report.instructions = self._counter.retired_before(self.where()[1], placed.mode)
        self.hooks.conclude(call, error, system)
        if self.trace:
            self._tracer.flush()
        self._diff(before, call)
        return _outcome(placed, self._regs(), self._buffers(placed), report,
                        RETURNED if report.returned else NOT_RETURNED)

    def _static_refusal(self, placed, report):
        lo, hi = placed.routine
        found = static_check(self.read(lo, hi - lo), lo, placed.mode)
        for what in found:
            report.refuse("privileged or mode-changing instruction in the routine: %s" % what)
        if found:
            report.finish(False, "not run: the static check refused it")
        return bool(found)

    def _install_write_hooks(self, allowed):
        """Hook writes to the complement of ``allowed`` only; reuse the hooks when it is unchanged."""
        key, handles = self._write_hooks
        if key == allowed:
            return
        for h in handles:
            self.uc.hook_del(h)
        handles = [self.uc.hook_add(UC_HOOK_MEM_WRITE, self.hooks.on_forbidden_write, None, lo, hi - 1)
                   for lo, hi in complement(allowed)]
        self._write_hooks = (allowed, handles)

    def _call_hooks(self, placed):
        """Hooks for this call only: the ret sites of the user's routine (stack balance), its sti and
        counter reads, a flat32 routine's segment loads, the caller's extra writable ranges, tracing.
        The same set as the previous call's is kept, not made again (the binding's hook_add makes a
        ctypes callback, ~10 us a hook); any other set replaces it before the call runs, so a call
        runs with its own hooks only.  The tracer's hook is returned: it goes after the run."""
        want = []                                  # (what identifies the hook, how to add it)
        if placed.routine:
            lo, hi = placed.routine
            code, mode = self.read(lo, hi - lo), placed.mode
            for kind, sites, fn in (("ret", ret_sites, self.hooks.on_ret), ("sti", sti_sites, self._on_sti),
                                    ("timer", timer_sites, self._on_timer_read)):
                want += [((kind, at), (UC_HOOK_CODE, fn, None, at, at)) for at in sites(code, lo, mode)]
            if mode == "flat32":
                want += [(("load", insn.address, bytes(insn.bytes)),
                          (UC_HOOK_CODE, self._on_segment_load, insn, insn.address, insn.address))
                         for insn in load_sites(code, lo)]
        want += [(("write", lo, hi), (UC_HOOK_MEM_WRITE, self._on_extra_write, None, lo, hi - 1))
                 for lo, hi, *_ in self.policy.writable]
        key, (old_key, handles) = tuple(k for k, _ in want), self._call_hook_set
        if key != old_key:
            for h in handles:
                self.uc.hook_del(h)
            self._call_hook_set = (key, [self.uc.hook_add(*args) for _, args in want])
        if self.trace:
            from .trace import Tracer
            self._tracer = Tracer(self, self.hooks.call.report)
            return [self.uc.hook_add(UC_HOOK_CODE, self._tracer.on_code)]
        return []

    # -- CPU state ----------------------------------------------------------------------------
    def _enter(self, placed):
        """Load registers and the sentinel return frame exactly as the trampoline does; the start."""
        regs = placed.regs
        gprs = [getattr(regs, name) for name in GPRS]
        idtr = (0, 0, 0x3FF, 0)                              # real-mode IVT, as the trampoline leaves it
        if placed.mode == "real16":
            sp = (placed.sp - 4) & 0xFFFF                     # far return frame: sentinel cs:ip
            self.uc.mem_write((placed.ss << 4) + sp, struct.pack("<HH", SENTINEL_IP, SENTINEL_CS))
            self._cpu[ENTRY_REAL].write(idtr, CR0_REAL, *[getattr(regs, name) for name in SEGS],
                                        placed.ss, sp, placed.cs, *gprs, entry_eflags(regs.eflags))
            return placed.ip                                  # UC_MODE_32 takes EIP, not linear
        # flat32: PE on, CS and the data segments from the trampoline's own GDT (segments.py), resident
        esp = placed.esp - 4                                  # near return frame: the sentinel
        self.uc.mem_write(esp, struct.pack("<I", SENTINEL))
        at, gdt = self._gdt
        self._cpu[ENTRY_FLAT].write(idtr, (0, at, len(gdt) - 1, 0), CR0_FLAT, abi.SEL_CODE32,
                                    *[abi.SEL_DATA] * 5, esp, *gprs, entry_eflags(regs.eflags))
        return placed.eip

    def _on_segment_load(self, uc, address, size, insn):
        """Before a flat32 routine loads a segment register: a null selector is refused by name."""
        call = self.hooks.call
        if call is None or call.stopped:
            return
        name, selector = loaded_value(uc, insn)
        if selector < 4:
            self.hooks._stop(call, "%s %s at eip %08x loads the null selector %04xh into %s: its first "
                                   "use raises #GP, and with no IDT in flat32 that is a triple fault (a "
                                   "reset); load the trampoline's data selector %02xh" % (
                                       insn.mnemonic, insn.op_str, address, selector, name.upper(),
                                       abi.SEL_DATA))

    def _past_segment(self, call):
        cs = self.uc.reg_read(X.UC_X86_REG_CS) & 0xFFFF
        lin = self._counter.limit_pc
        why = ("code at cs:ip %04x:%04x runs past offset ffffh of its 64 KiB segment: a real CPU "
               "raises #GP at the segment limit (QEMU would run on into the next 64 KiB)"
               % (cs, lin - (cs << 4)))
        call.report.refuse(why)
        call.stopped = call.stopped or why

    def _resume_at(self):
        """Where emu_start resumes the current call: EIP (UC_MODE_32 takes EIP, not linear)."""
        return self.uc.reg_read(X.UC_X86_REG_EIP)

    def registers(self, names):
        """The registers ``names`` as one set, read or written in one call (cpu.Registers; kept):
        ``m.registers(("ax", "es")).read()``."""
        regs = self._cpu.get(names)
        if regs is None:
            regs = self._cpu[names] = Registers(self.uc, names)
        return regs

    def system_regs(self):
        """The system registers a routine must leave alone: CR0/3/4, GDTR, IDTR, EFER."""
        r = self._cpu[SYSTEM].read()
        return {"CR0": r["cr0"], "CR3": r["cr3"], "CR4": r["cr4"], "GDTR": r["gdtr"][1:3],
                "IDTR": r["idtr"][1:3], "EFER": r["efer"]}

    def _regs(self):
        return Regs._of(self._cpu[RESULT].read())           # masked to each register's width

    def _buffers(self, placed):
        return {name: self.read(at, size) for name, (at, size) in placed.buffers.items()}

    def where(self):
        """The current cs:ip (real16) or eip (flat32) as text, and the linear address."""
        r = self._cpu[WHERE].read()
        eip = r["eip"] & 0xFFFFFFFF
        if r["cr0"] & 1:
            return "eip %08x" % eip, eip
        cs = r["cs"] & 0xFFFF
        return "cs:ip %04x:%04x" % (cs, eip & 0xFFFF), (cs << 4) + (eip & 0xFFFF)

    # -- the end of a call --------------------------------------------------------------------
    def _snapshot(self, allowed):
        return [(lo, self.read(lo, hi - lo)) for lo, hi in allowed if hi <= HMA_END]

    def _diff(self, before, call):
        stack_lo, stack_hi = call.layout.stack
        writes = []
        for lo, old in before:
            if self._ram.same(lo, old):
                continue
            for a, b in changed(old, self.read(lo, len(old)), lo):
                if stack_lo <= a < stack_hi:
                    call.report.stack_used = max(call.report.stack_used, stack_hi - a)
                else:
                    writes.append((a, b))
        call.report.writes = merge(writes)
        own = self.firmware.owners
        for a, b in call.report.writes:
            entry = own.find(a)
            if entry is not None and entry[3] == "firmware":
                call.report.firmware_writes.append({"start": a, "end": b, "owner": entry[2]})


def _outcome(placed, regs, buffers, report, status):
    return Outcome(call=placed.call, regs=regs, buffers=buffers, backend="emulator", status=status,
                   report=report)


def _describe(placed):
    call = getattr(placed, "call", None)
    if call is not None and hasattr(call, "describe"):
        return call.describe()
    if placed.kind == "int":
        return "int %02xh" % placed.vector
    return placed.kind


def check_budget(budget):
    """A budget is a count of instructions, 1 or more."""
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise UsageError("budget=%r: the dry run's budget is a number of instructions, 1 or more"
                         % (budget,))
    if budget <= 0:
        raise OptionError("budget=%r: the dry run's budget is a number of instructions, 1 or more"
                          % (budget,))


_MACHINES = {}


def run(layout, *, firmware=None, budget=10_000_000, trace=False, policy=None):
    """Run ``layout`` in the emulator on ``firmware`` (see physcall.emulator.firmware.resolve: "stub",
    the default, "devmem", a snapshot file or a Firmware).  Machines are cached per firmware and
    reused (reset between runs).

    >>> from physcall.layout import lay_out; from physcall.call import interrupt
    >>> run(lay_out(interrupt(0x12)))[0].report.verdict          # doctest: +SKIP
    'ok'
    """
    if policy is not None and not isinstance(policy, Policy):
        raise UsageError("policy=%r: give a physcall.emulator.Policy(ports=..., writable=...)" % (policy,))
    firmware = resolve(firmware)
    entry = _MACHINES.get(id(firmware))
    if entry is None or entry[0] is not firmware:
        if len(_MACHINES) >= 4:
            _MACHINES.pop(next(iter(_MACHINES)))
        entry = _MACHINES[id(firmware)] = (firmware, Machine(firmware))
    machine = entry[1]
    machine.budget, machine.trace, machine.policy = budget, trace, policy or Policy()
    return machine.run(layout)
