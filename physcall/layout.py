"""Low-memory layout of a batch: where each call's code, buffers and the shared stack go.

Every backend runs the same Layout: the emulator at these addresses, the kexec trampoline by loading
them as segments.  The windows are the ones the trampoline ABI reserves (csrc/physcall.h via
physcall.abi): the pages of the trampoline's batch block that a small batch leaves free, else the batch
window; both clear of page 0 (IVT, BDA), the EBDA and the ROMs, which the kernel would otherwise hide
from the BIOS behind the image's own pages during a jump (docs/DESIGN.md, "The kexec-jump contract").

Real16 entry is a small thunk entered by far call: ``int N; retf``, ``lcall s:o; retf`` or
``call routine; retf``.  Flat32 routines are entered by near call and return with ``ret``.

>>> from physcall.call import interrupt, Buffer
>>> lay = lay_out([interrupt(0x15, eax=0xE820, es_di=Buffer(24))])
>>> p = lay.calls[0]
>>> (p.regs.es << 4) + p.regs.di == p.buffers["es_di"][0]
True
"""

from dataclasses import dataclass, field
from typing import Optional

from .asm import asm
from .call import PAIR, Call, FarCall, Interrupt, Routine
from .errors import LayoutError, UsageError

from .abi import (BATCH_BASE, BATCH_LIMIT, BLOCK_BASE, BLOCK_CALLS_OFFSET, MAX_CALLS,  # one source of
                  PAGE_SIZE as PAGE, SIZEOF_BLOCK, SIZEOF_CALL)                   # truth: csrc/physcall.h

# 8 KiB: SeaBIOS's VBE and disk paths want a few KiB of the caller's stack; Linux's own setup code
# calls VBE, EDD and E820 on less (arch/x86/boot: STACK_SIZE 1024 at least).  Each page of the batch
# is swapped in and out by the kernel on every jump (bench/bench_jump.py: ~0.3-0.5 ms per page under
# TCG), so the stack is no bigger than that.
STACK_SIZE = 0x2000
REAL_MODE_LIMIT = 0x100000


@dataclass(frozen=True)
class Placed:
    """One call ready to run: entry, stack, registers (buffer pairs filled in) and buffer addresses."""
    index: int
    kind: str
    vector: Optional[int]
    mode: str
    cs: int
    ip: int
    eip: int
    ss: int
    sp: int
    esp: int
    regs: object
    buffers: dict
    code: tuple
    routine: Optional[tuple]
    call: object = field(default=None, compare=False, repr=False)

    @property
    def entry(self):
        """The linear address execution starts at."""
        return (self.cs << 4) + self.ip if self.mode == "real16" else self.eip


@dataclass
class Layout:
    """A whole batch: memory regions to place, the calls in order, the shared stack, the window."""
    regions: list
    calls: list
    stack: tuple
    window: tuple = (BATCH_BASE, BATCH_LIMIT)


def block_window(count):
    """``(lo, hi)``: the whole pages of the trampoline's batch block after the call slots a batch of
    ``count`` calls fills (calls[] comes last in struct pc_block).  Every image carries the block whole,
    so a batch placed there adds no page to the image; ``lo >= hi`` when no page is left.

    >>> [hex(a) for a in block_window(1)]
    ['0x15000', '0x1d000']
    """
    return (_align_up(BLOCK_BASE + BLOCK_CALLS_OFFSET + count * SIZEOF_CALL, PAGE),
            _align_up(BLOCK_BASE + SIZEOF_BLOCK, PAGE))


def windows(count):
    """The windows a batch of ``count`` calls may use, in the order lay_out tries them: the pages its
    block leaves free (the image costs nothing more), then the ABI's batch window."""
    lo, hi = block_window(count)
    return ([(lo, hi)] if hi - lo > STACK_SIZE else []) + [(BATCH_BASE, BATCH_LIMIT)]


def lay_out(calls):
    """Place ``calls`` (a Call or a list) in the first of ``windows`` they fit; raise LayoutError if
    they fit none.

    >>> from physcall.call import interrupt
    >>> hex(lay_out(interrupt(0x12)).calls[0].entry)
    '0x15000'
    """
    given = calls
    calls = [calls] if isinstance(calls, Call) else list(calls) if isinstance(calls, (list, tuple)) else None
    if calls is None or not all(isinstance(c, Call) for c in calls):
        raise UsageError("a batch is a Call or a list of Calls (physcall.interrupt(0x12), far_call(...), "
                         "Routine(...)), not %.80r" % (given,))
    if not calls:
        raise LayoutError("empty batch: give at least one call")
    if len(calls) > MAX_CALLS:
        raise LayoutError("batch of %d calls is over the ABI's MAX_CALLS=%d: split it into several "
                          "invoke() calls" % (len(calls), MAX_CALLS))
    *first, last = windows(len(calls))
    for window in first:
        for spread in (True, False):             # routines on pages of their own, else packed
            try:
                return _lay_out_in(calls, window, spread)
            except _NoRoom:
                pass                             # too big for the block's free pages: the next window
    return _lay_out_in(calls, last)


def _lay_out_in(calls, window, spread=False):
    """``spread``: each routine's code starts on a page of its own.  Under TCG every translated block
    of the image costs, when the kernel's swap back overwrites its page, a walk of the blocks still
    on that page for each 8-byte store before it: ~5.5 cycles per byte of the block's offset in its
    page (docs/DESIGN.md, "What a jump costs under TCG").  Only where the pages are already paid for
    (the block's free pages): a page more in the image costs ~0.3-0.6 M cycles (ibid., (1)), more
    than the walks one routine saves (~0.3 M for explore's flat one)."""
    lo, hi = window
    stack = (hi - STACK_SIZE, hi)
    cursor = _Cursor(lo, stack[0])
    codes = []
    for call in calls:
        if spread and isinstance(call, Routine):
            cursor.at = _align_up(cursor.at, PAGE)
        codes.append(_code(call, cursor))
    # Buffers start on the page after the last code: no page holds both.  Under TCG (the QEMU guest) a
    # write to a page that holds translated code takes the slow path that checks for self-modifying
    # code, and a BIOS filling a buffer beside its caller's code paid that on every byte (a 256-byte
    # VBE 4F01h ModeInfoBlock cost 15x a block on a page of its own; bench/bench_jump.py).
    cursor.at = _align_up(cursor.at, PAGE)
    regions = [(at, code) for at, code, _, _ in codes]
    placed = [_place(index, call, code, cursor, regions, stack)
              for index, (call, code) in enumerate(zip(calls, codes))]
    return Layout(regions, placed, stack, (lo, hi))


def _align_up(at, align):
    return -(-at // align) * align


class _NoRoom(LayoutError):
    """What the batch asks for does not fit the window below its stack."""


class _Cursor:
    """A bump allocator over [lo, limit)."""

    def __init__(self, lo, limit):
        self.at, self.limit = lo, limit

    def take(self, size, align=16, what="code"):
        start = _align_up(self.at, align)
        if start + size > self.limit:
            raise _NoRoom("%s of %d bytes does not fit the batch window below %#07x: the batch "
                              "needs more low memory than the ABI reserves; use fewer or smaller "
                              "buffers, or split the batch" % (what, size, self.limit))
        self.at = start + size
        return start


def _place(index, call, code, cursor, regions, stack):
    code_at, code, entry_off, routine = code
    regs, buffers, segments = call.regs, {}, {}
    for name, buf in call.buffers.items():
        at = cursor.take(buf.size, buf.align, "buffer %s of call %d" % (name, index))
        regions.append((at, buf.data))
        buffers[name] = (at, buf.size)
        regs = regs.replace(**_point(call.mode, name, at, buf.size, segments))
    seg = code_at >> 4
    if call.mode == "real16" and isinstance(call, Routine) and not call.ds_given:
        regs = regs.replace(ds=seg)
    return Placed(index=index, kind=call.kind, vector=getattr(call, "vector", None), mode=call.mode,
                  cs=seg if call.mode == "real16" else 0, ip=entry_off if call.mode == "real16" else 0,
                  eip=code_at + entry_off if call.mode == "flat32" else 0,
                  ss=stack[0] >> 4 if call.mode == "real16" else 0,
                  sp=stack[1] - stack[0] if call.mode == "real16" else 0,
                  esp=stack[1] if call.mode == "flat32" else 0,
                  regs=regs, buffers=buffers, code=(code_at, code_at + len(code)),
                  routine=routine, call=call)


def _code(call, cursor):
    """Bytes of the call's code at a 16-byte aligned address; the entry offset; the routine's range."""
    if isinstance(call, Interrupt):
        code = bytes([0xCD, call.vector, 0xCB])                        # int N; retf
        return cursor.take(len(code)), code, 0, None
    if isinstance(call, FarCall):
        code = bytes([0x9A]) + call.offset.to_bytes(2, "little") + call.segment.to_bytes(2, "little")
        return cursor.take(6), code + b"\xCB", 0, None                  # lcall seg:off; retf
    if call.mode == "flat32":
        at = cursor.at + (-cursor.at % 16)
        body = asm(call.source, "flat32", origin=at)
        at = cursor.take(len(body.code), what="routine of %d bytes" % len(body.code))
        return at, body.code, _entry(call, body) - at, (at, at + len(body.code))
    # real16: thunk at offset 0 of the routine's segment, routine right after it: `call` is near.
    body = asm(call.source, "real16", origin=4)
    if 4 + len(body.code) > 0x10000:
        raise LayoutError("real16 routine of %d bytes does not fit its 64 KiB code segment (with the "
                          "4-byte entry thunk): IP would run past ffffh; split it or use flat32"
                          % len(body.code))
    at = cursor.take(4 + len(body.code), what="routine of %d bytes" % len(body.code))
    if at + 4 + len(body.code) > REAL_MODE_LIMIT:
        raise LayoutError("real16 routine at %#07x would reach above 1 MiB" % at)
    rel = _entry(call, body) - 3
    thunk = bytes([0xE8]) + (rel & 0xFFFF).to_bytes(2, "little") + b"\xCB"   # call routine; retf
    return at, thunk + body.code, 0, (at + 4, at + 4 + len(body.code))


def _entry(call, body):
    if call.entry is None:
        return body.origin
    if call.entry not in body.symbols:
        raise LayoutError("Routine entry %r is not a label of its source; labels: %s"
                          % (call.entry, ", ".join(sorted(body.symbols)) or "none"))
    return body.symbols[call.entry]


def _point(mode, name, at, size, segments):
    """Register values that make ``name`` address a buffer at linear ``at``.  Buffers that share a
    segment register (``ds_si``, ``ds_di``) share its value: ``segments`` holds the first one's."""
    if mode == "flat32":
        return {name: at}
    if at + size > REAL_MODE_LIMIT:
        raise LayoutError("buffer %s at %#07x is above 1 MiB: real mode cannot reach it" % (name, at))
    seg, off = PAIR.match(name).groups()
    if seg not in segments:
        segments[seg] = (name, at >> 4)
    first, value = segments[seg]
    offset = at - (value << 4)
    if first != name and offset + size > 0x10000:
        raise LayoutError("buffers %s and %s share %s but do not fit one 64 KiB segment (%s ends "
                          "%#x bytes above %s=%04xh): make them smaller or use another segment "
                          "register" % (first, name, seg.upper(), name, offset + size, seg, value))
    return {seg: value, off: offset}
