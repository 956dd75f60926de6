"""A set of CPU registers read or written in one foreign call: Unicorn's ``uc_reg_read_batch`` and
``uc_reg_write_batch``, through cffi (physcall.hostlib declares them).

Each ``reg_read``/``reg_write`` through Unicorn's Python binding costs ~2 us (its ``_select_reg_class``
and a ctypes object per call), and a warm dry run reads or writes ~45 registers: entering a call,
the system registers before and after it, where it stopped, the registers it returns.  A
:class:`Registers` fixes its list once (ids, one zeroed 24-byte slot per register: room for
``uc_x86_mmr``, GDTR and IDTR, and ``uc_x86_msr``, EFER) and moves them all in one call.  It needs
only libunicorn, which the binding itself loads, not libphyscall.so; the values are the binding's:
``tests/test_cpu.py`` holds both against each other.

>>> from unicorn import Uc, UC_ARCH_X86, UC_MODE_32
>>> regs = Registers(Uc(UC_ARCH_X86, UC_MODE_32), ("cr0", "cs", "eax", "idtr", "efer"))
>>> regs.write(0x10, 0xF000, 0x12345678, (0, 0, 0x3FF, 0), 0)       # CR0 first: real mode, then CS
>>> regs.read()
{'cr0': 16, 'cs': 61440, 'eax': 305419896, 'idtr': (0, 0, 1023, 0), 'efer': 0}
"""

from unicorn import UcError
from unicorn import x86_const as X

from .. import hostlib

MMR = frozenset(("gdtr", "idtr", "ldtr", "tr"))     # uc_x86_mmr: (selector, base, limit, flags)
# Set one at a time with uc_reg_write, after the batch: in a hook, unicorn 2.1.4's batch write of EIP
# did not leave the run where uc_reg_write does (seen: the EIP a later OUT hook read moved by 4, the
# stub's unknown-leaf hazard named the next instruction); the C dispatch writes CS, then EIP, alone.
PC = frozenset(("eip", "ip"))
MSRS = {"efer": 0xC0000080}                          # uc_x86_msr through UC_X86_REG_MSR
SLOT = "union pc_reg_slot"


class Registers:
    """The registers ``names`` (lower-case Unicorn names, or a key of MSRS) of ``uc``."""

    def __init__(self, uc, names):
        ffi = hostlib.ffi
        self.names, self._uc = tuple(names), uc
        self._engine = hostlib.unicorn(uc)
        n, size = len(self.names), ffi.sizeof(SLOT)
        self._slots = ffi.new("uint64_t[]", n * size // 8)
        self._ids = ffi.new("int[]", [X.UC_X86_REG_MSR if name in MSRS
                                      else getattr(X, "UC_X86_REG_" + name.upper()) for name in names])
        self._ptrs = ffi.new("void *[]", [ffi.cast("char *", self._slots) + i * size for i in range(n)])
        self._step = size // 8
        # uint64 indexes into _slots: where each register's value (or mmr fields, msr value) sits
        q = lambda *field: ffi.offsetof(SLOT, *field) // 8
        self._base, self._limit, self._msr_value = q("mmr", "base"), q("mmr", "limit"), q("msr", "value")
        self._blank = bytes(n * size)
        for i, name in enumerate(self.names):               # the MSR number stays in the blank slot
            if name in MSRS:
                rid = MSRS[name].to_bytes(4, "little")
                at = i * size + ffi.offsetof(SLOT, "msr", "rid")
                self._blank = self._blank[:at] + rid + self._blank[at + 4:]
        self._kinds = tuple("mmr" if name in MMR else "msr" if name in MSRS else "int"
                            for name in self.names)
        self._plain = all(kind == "int" for kind in self._kinds)
        self._batched = len(self.names)               # a write batches all but the PC, kept last
        while self._batched and self.names[self._batched - 1] in PC:
            self._batched -= 1
        self._pc_last = not PC.intersection(self.names[:self._batched])
        self._handle = ffi.cast("void *", uc._uch.value)

    def read(self):
        """``{name: value}``: an int, or (selector, base, limit, flags) for GDTR/IDTR/LDTR/TR."""
        ffi = hostlib.ffi
        ffi.memmove(self._slots, self._blank, len(self._blank))
        err = self._engine.uc_reg_read_batch(self._handle, self._ids, self._ptrs, len(self.names))
        if err:
            raise UcError(err)
        q = ffi.unpack(self._slots, len(self._blank) // 8)
        out, step = {}, self._step
        if self._plain:
            return dict(zip(self.names, q[::step]))
        for i, (name, kind) in enumerate(zip(self.names, self._kinds)):
            at = i * step
            if kind == "int":
                out[name] = q[at]
            elif kind == "mmr":
                limit_flags = q[at + self._limit]
                out[name] = (q[at] & 0xFFFF, q[at + self._base], limit_flags & 0xFFFFFFFF,
                             limit_flags >> 32)
            else:
                out[name] = q[at + self._msr_value]
        return out

    def write(self, *values):
        """Write one value per name, in the order of ``names`` (the order Unicorn applies them);
        EIP, if written, comes last."""
        assert self._pc_last, "Registers%r: EIP is written last, on its own" % (self.names,)
        ffi, slots, step = hostlib.ffi, self._slots, self._step
        ffi.memmove(slots, self._blank, len(self._blank))
        for i, (kind, value) in enumerate(zip(self._kinds, values)):
            at = i * step
            if kind == "int":
                slots[at] = value & 0xFFFFFFFFFFFFFFFF
            elif kind == "mmr":
                selector, base, limit, flags = value
                slots[at], slots[at + self._base] = selector, base
                slots[at + self._limit] = limit | flags << 32
            else:
                slots[at + self._msr_value] = value
        err = self._engine.uc_reg_write_batch(self._handle, self._ids, self._ptrs, self._batched)
        for i in range(self._batched, len(self.names)):
            err = err or self._engine.uc_reg_write(self._handle, self._ids[i], self._ptrs[i])
        if err:
            raise UcError(err)
