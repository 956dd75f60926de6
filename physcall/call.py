"""What to run: interrupts, far calls and the user's own routines, with buffers in low memory.

A call carries the registers it starts with and the buffers it needs; the layout (physcall/layout.py)
gives each buffer a low-memory address and points the named register pair at it.

>>> c = interrupt(0x15, eax=0xE820, ebx=0, ecx=24, edx=0x534D4150, es_di=Buffer(24))
>>> c.vector, hex(c.regs.eax), sorted(c.buffers)
(21, '0xe820', ['es_di'])
"""

import re

from .asm import normalize_mode
from .errors import CallError
from .regs import FIELDS, GPRS, NAMES, SEGS, VIEWS, WIDTH, Regs

# A real16 buffer goes to a segment:offset pair (es_di), a flat32 one to a 32-bit register (edi).
PAIR = re.compile(r"^(%s)_(%s)$" % ("|".join(SEGS), "|".join(g[1:] for g in GPRS)))


class Buffer:
    """Low memory for a call: ``size`` bytes, starting with ``data`` (zeros by default).

    Passed by keyword, it names the register pair that receives its address: ``es_di=Buffer(24)``
    in real16 (segment:offset), ``edi=Buffer(4096)`` in flat32 (linear).  Its contents come back
    in ``result.buffers[name]``.

    >>> Buffer(data=b"VBE2", size=512).size
    512
    """

    def __init__(self, size=None, data=None, align=16):
        if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
            raise CallError("Buffer data must be bytes, got %s: write data=b\"...\"" % type(data).__name__)
        data = bytes(data or b"")
        size = len(data) if size is None else size
        if not isinstance(size, int) or size <= 0:
            raise CallError("Buffer size must be a positive int, got %r: give size= or data=" % (size,))
        if len(data) > size:
            raise CallError("Buffer data is %d bytes but size is %d: drop size= or make it larger"
                             % (len(data), size))
        if align not in (1, 2, 4, 8, 16, 4096) :
            raise CallError("Buffer align must be one of 1, 2, 4, 8, 16, 4096, got %r" % (align,))
        self.size, self.data, self.align = size, data.ljust(size, b"\0"), align

    def __repr__(self):
        return "Buffer(size=%d)" % self.size


class Call:
    """One thing to run: registers in, buffers, and the mode it runs in ('real16' or 'flat32')."""

    kind = "call"

    def __init__(self, mode, regs):
        self.mode = normalize_mode(mode)
        self.regs, self.buffers = _split(self.mode, regs)

    def describe(self):
        return self.kind

    def __repr__(self):
        return "<%s %s %r>" % (type(self).__name__, self.describe(), self.regs)


class Interrupt(Call):
    """``int vector`` in real mode, entered with the given registers."""

    kind = "int"

    def __init__(self, vector, **regs):
        if not isinstance(vector, int) or not 0 <= vector <= 0xFF:
            raise CallError("interrupt vector must be 0..0xff, got %r" % (vector,))
        self.vector = vector
        super().__init__("real16", regs)

    def describe(self):
        return "int %02xh" % self.vector


class FarCall(Call):
    """A far call to ``segment:offset`` in real mode; the callee returns with ``retf``."""

    kind = "far"

    def __init__(self, segment, offset, **regs):
        for name, value in (("segment", segment), ("offset", offset)):
            if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
                raise CallError("far call %s must be 0..0xffff, got %r" % (name, value))
        self.segment, self.offset = segment, offset
        super().__init__("real16", regs)

    def describe(self):
        return "call far %04x:%04x" % (self.segment, self.offset)


class Routine(Call):
    """The user's own code, assembled where the layout puts it, entered with the given registers.

    It returns with ``ret``.  In real16 it runs with CS = its own segment, and DS defaults to CS so
    that it can address its own data by label; ``entry`` names a label to start at.

    >>> Routine("mov ax, 1\\nret").mode
    'real16'
    """

    kind = "routine"

    def __init__(self, source, mode="real16", entry=None, **regs):
        if not isinstance(source, str) or not source.strip():
            raise CallError("Routine needs assembly source text, got %r" % (source,))
        self.source, self.entry = source, entry
        super().__init__(mode, regs)
        self.ds_given = any(name == "ds" or name.startswith("ds_") for name in regs)

    def describe(self):
        first = next((l.strip() for l in self.source.splitlines() if l.strip()), "")
        return "routine (%s) %s..." % (self.mode, first[:24])


def interrupt(vector, **regs):
    """``int vector`` with registers; buffers by pair keyword.

    >>> interrupt(0x12).describe()
    'int 12h'
    """
    return Interrupt(vector, **regs)


def far_call(segment, offset, **regs):
    """A real-mode far call to ``segment:offset``: ``far_call(0xC000, 0x0003)``.

    >>> far_call(0xF000, 0xFFF0).describe()
    'call far f000:fff0'
    """
    return FarCall(segment, offset, **regs)


def _split(mode, kwargs):
    """Separate register values from buffers; check that each buffer goes where the mode allows."""
    _check_claims(mode, kwargs)
    regs, buffers = {}, {}
    for name, value in kwargs.items():
        if isinstance(value, Buffer):
            _check_buffer_name(mode, name)
            buffers[name] = value
        elif name in NAMES:
            regs[name] = value
        else:
            raise CallError("unknown register or pair %r: use a register (%s...) or a pair such as "
                             "es_di=Buffer(...)" % (name, ", ".join(NAMES[:7])))
    return Regs(**regs), buffers


def _check_buffer_name(mode, name):
    if mode == "real16" and not PAIR.match(name):
        raise CallError("buffer %r: in real16 a buffer goes to a segment:offset pair such as es_di, "
                         "ds_si or es_bx" % name)
    if mode == "flat32" and name not in GPRS:
        raise CallError("buffer %r: in flat32 a buffer goes to a 32-bit register (%s)"
                         % (name, ", ".join(GPRS)))


def _claims(mode, name, value):
    """{full register: bit mask} that keyword ``name`` sets (a buffer sets its pair)."""
    if isinstance(value, Buffer):
        m = PAIR.match(name) if mode == "real16" else None
        if m is None:
            return {name: WIDTH.get(name, 0)}
        seg, off = m.groups()
        full, shift, mask = VIEWS[off]
        return {seg: 0xFFFF, full: mask << shift}
    if name in VIEWS:
        full, shift, mask = VIEWS[name]
        return {full: mask << shift}
    return {name: WIDTH[name]} if name in FIELDS else {}


def _check_claims(mode, kwargs):
    """Refuse a register set twice: directly and by a buffer (``es=`` with ``es_di=``), by two
    views that overlap (``ax=`` with ``al=``), or by two buffers (``es_di=`` with ``ds_di=``).  Two
    buffers may share a segment register (``ds_si=`` and ``ds_di=``): the layout puts them in one
    64 KiB segment."""
    owners = {}
    for name, value in kwargs.items():
        for full, mask in _claims(mode, name, value).items():
            for other, other_mask in owners.get(full, []):
                shared_segment = (full in SEGS and isinstance(value, Buffer)
                                  and isinstance(kwargs[other], Buffer))
                if mask & other_mask and not shared_segment:
                    raise CallError("register %s is set twice: by %s= and by %s=; give it once (a "
                                    "buffer sets its segment:offset pair itself)" % (full, other, name))
            owners.setdefault(full, []).append((name, mask))
