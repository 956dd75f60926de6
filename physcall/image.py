"""The kexec-jump image: the trampoline (built by physcall.toolchain) + a Layout -> segments / ELF.

An image is at most 16
page-aligned segments (KEXEC_SEGMENT_MAX): the trampoline with its batch block, the identity page
tables, and the batch's pages; never page 0, the EBDA or the ROM areas (the kernel hides every
destination page behind the image's own copy during the jump, docs/DESIGN.md, "The kexec-jump contract").

>>> from physcall.call import interrupt
>>> from physcall.layout import lay_out
>>> img = build_image(lay_out(interrupt(0x12)))
>>> [hex(s.mem) for s in img.segments], img.entry == load_trampoline().entry
(['0x10000', '0x88000'], True)
"""

import pathlib
import struct
from typing import NamedTuple

from . import abi, bda
from .errors import LayoutError
from .layout import block_window, windows
from .ranges import paint_pages
from .toolchain import load_trampoline

PAGE = abi.PAGE_SIZE
MODES = {"real16": abi.MODE_REAL16, "flat32": abi.MODE_FLAT32}


class Segment(NamedTuple):
    """One kexec segment: destination ``mem`` (page-aligned), bytes ``data``, ``memsz`` (page-rounded)."""
    mem: int
    data: bytes
    memsz: int
    what: str


class Image(NamedTuple):
    """What kexec_load takes (entry, segments) plus the mailbox plan."""
    entry: int
    segments: list
    result_size: int              # bytes the trampoline writes to the mailbox
    buffer_offsets: list          # per call: {name: (mailbox offset, size)}


# ---------------------------------------------------------------------------------------- block

def fill_block(layout, mailbox=(), nonce=0):
    """The batch block for ``layout``: calls, buffers and their mailbox offsets, mailbox pages.

    Returns (block, result_size, buffer_offsets).
    """
    calls = list(layout.calls)             # at most MAX_CALLS: lay_out saw to that
    block = abi.new_block()
    block.hdr.count = len(calls)
    block.hdr.nonce = nonce
    offset = abi.SIZEOF_HEADER + len(calls) * abi.SIZEOF_CALL
    nbuf, offsets = 0, []
    for index, placed in enumerate(calls):
        _fill_call(block.calls[index], placed)
        mine = {}
        for name, (phys, size) in sorted(placed.buffers.items()):
            if nbuf >= abi.MAX_BUFFERS:
                raise LayoutError("more than MAX_BUFFERS=%d buffers in one batch: split it" % abi.MAX_BUFFERS)
            offset = -(-offset // 16) * 16
            block.buffers[nbuf] = {"phys": phys, "size": size, "call": index, "mbox_offset": offset}
            mine[name] = (offset, size)
            offset += size
            nbuf += 1
        offsets.append(mine)
    block.hdr.nbuffers = nbuf
    _fill_mailbox(block, mailbox, offset)
    return block, offset, offsets


def _fill_call(rec, placed):
    mode = MODES.get(placed.mode)
    if mode is None:
        raise LayoutError("call mode %r is not one of %s" % (placed.mode, ", ".join(MODES)))
    rec.mode = mode
    rec.cs, rec.ip, rec.ss, rec.sp = placed.cs, placed.ip, placed.ss, placed.sp & 0xFFFF
    rec.eip, rec.esp = placed.eip, placed.esp
    regs_in = getattr(rec, "in")                  # `in` is a Python keyword, not a cffi one
    for name, value in placed.regs.as_dict().items():
        setattr(regs_in, name, value)


def _fill_mailbox(block, mailbox, size):
    pages = list(mailbox)
    if len(pages) > abi.MAILBOX_MAX_PAGES:
        raise LayoutError("results of %d bytes need %d mailbox pages, over MAILBOX_MAX_PAGES=%d: use "
                          "smaller buffers or split the batch" % (size, len(pages), abi.MAILBOX_MAX_PAGES))
    block.hdr.mailbox_pages = len(pages)
    for i, phys in enumerate(pages):
        if phys % PAGE:
            raise LayoutError("mailbox page %d at %#x is not page-aligned" % (i, phys))
        block.hdr.mailbox[i] = phys


def mailbox_pages_needed(layout):
    """How many mailbox pages the results of ``layout`` take."""
    _, size, _ = fill_block(layout)
    return -(-size // PAGE)


# ---------------------------------------------------------------------------------------- segments

def page_tables():
    """PML5, PML4, PDPT, PD at PAGETABLE_BASE: identity 0-1 GiB with 2 MiB pages.

    The climb back runs on them from paging on to its first 64-bit instructions, which load the
    kernel's CR3: only the trampoline's own pages (below 1 MiB) are reached through them.  Each page
    of tables is a page of every image, swapped in and out by the kernel on every jump."""
    base = abi.PAGETABLE_BASE
    table = lambda entries: b"".join(struct.pack("<Q", e) for e in entries).ljust(PAGE, b"\0")
    present = 0x63                                  # P | RW | A | D
    pml5 = table([(base + 1 * PAGE) | present])
    pml4 = table([(base + 2 * PAGE) | present])
    pdpt = table([(base + 3 * PAGE) | present])
    pd = table([(j << 21) | present | 0x80 for j in range(512)])
    tables = pml5 + pml4 + pdpt + pd
    assert len(tables) == abi.PAGETABLE_PAGES * PAGE
    return tables


def forbidden_ranges(ebda=None):
    """Physical ranges no segment may cover: page 0, the EBDA up to the ROMs, the ROMs."""
    ebda = bda.DEFAULT_EBDA if not ebda else ebda
    return [(0, PAGE, "page 0 (IVT, BDA)"), (ebda & ~(PAGE - 1), bda.LOW_LIMIT, "the EBDA"),
            (bda.LOW_LIMIT, 0x100000, "VGA memory and the ROMs")]


def batch_segments(layout):
    """The batch's regions and stack, as page runs: [(mem, bytes)]."""
    lo, hi = layout.window
    allowed = windows(len(layout.calls))
    if (lo, hi) not in allowed:
        raise LayoutError("batch window %#07x..%#07x is not one the ABI gives a batch of %d calls (%s): "
                          "lay the batch out with physcall.layout.lay_out"
                          % (lo, hi, len(layout.calls), ", ".join("%#07x..%#07x" % w for w in allowed)))
    pages = {}
    regions = list(layout.regions)
    stack = getattr(layout, "stack", None)
    if stack:
        if not (len(stack) == 2 and all(type(a) is int for a in stack) and lo <= stack[0] < stack[1] <= hi):
            raise LayoutError("stack %r is not a range inside the batch window [%#07x, %#07x): lay the batch "
                              "out with physcall.layout.lay_out" % (tuple(stack), lo, hi))
        regions.append((stack[0], bytes(stack[1] - stack[0])))
    for at, data in regions:
        if at < lo or at + len(data) > hi:
            raise LayoutError("region at %#07x..%#07x is outside its batch window [%#07x, %#07x): "
                              "keep page 0, the EBDA and the ROMs out of the image" % (at, at + len(data), lo, hi))
        paint_pages(pages, at, data, PAGE)
    _check_calls(layout, regions)
    return _runs(pages)


def _check_calls(layout, regions):
    """Each call enters inside the batch's code, runs on the layout's stack and has its buffers in
    the batch's regions: the trampoline loads these as given, and a stack or buffer a page off (a
    hand-made or forged Layout) would land on the block's header and call slots."""
    def inside(at, size=1):
        return any(lo <= at and at + size <= lo + len(data) for lo, data in regions)
    for index, placed in enumerate(layout.calls):
        entry = placed.entry
        top = (placed.ss << 4) + placed.sp if placed.mode == "real16" else placed.esp
        if not layout.stack or top != layout.stack[1]:
            raise LayoutError("call %d's stack top %#07x is not the top of the layout's stack (%s): "
                              "lay the batch out with physcall.layout.lay_out"
                              % (index, top, "%#07x..%#07x" % tuple(layout.stack) if layout.stack else "none"))
        if not inside(entry):
            raise LayoutError("call %d enters at %#07x, outside the batch's code: lay the batch out with "
                              "physcall.layout.lay_out" % (index, entry))
        for name, (at, size) in placed.buffers.items():
            if not inside(at, size):
                raise LayoutError("call %d's buffer %s at %#07x+%#x is outside the batch's regions: lay the "
                                  "batch out with physcall.layout.lay_out" % (index, name, at, size))


def _runs(pages):
    runs = []
    for page in sorted(pages):
        if runs and runs[-1][0] + len(runs[-1][1]) == page:
            runs[-1][1].extend(pages[page])
        else:
            runs.append([page, bytearray(pages[page])])
    return [(mem, bytes(data)) for mem, data in runs]


def _merge(runs, limit):
    """Merge the closest runs (zero-filling the gap, which lies in the batch window) until <= limit."""
    runs = [list(r) for r in runs]
    while len(runs) > limit:
        gaps = [(runs[i + 1][0] - runs[i][0] - len(runs[i][1]), i) for i in range(len(runs) - 1)]
        _, i = min(gaps)
        gap = runs[i + 1][0] - runs[i][0] - len(runs[i][1])
        runs[i][1] = runs[i][1] + bytes(gap) + runs[i + 1][1]
        del runs[i + 1]
    return [tuple(r) for r in runs]


def check_segments(segments, ebda=None):
    """Raise LayoutError if a segment is unaligned, overlaps another or covers a forbidden range."""
    if len(segments) > abi.SEGMENT_MAX:
        raise LayoutError("%d segments: kexec takes at most %d" % (len(segments), abi.SEGMENT_MAX))
    spans = sorted((s.mem, s.mem + s.memsz, s.what) for s in segments)
    for (a0, a1, aw), (b0, b1, bw) in zip(spans, spans[1:]):
        if b0 < a1:
            raise LayoutError("segments overlap: %s %#07x..%#07x and %s %#07x..%#07x" % (aw, a0, a1, bw, b0, b1))
    for s in segments:
        if s.mem % PAGE or s.memsz % PAGE or len(s.data) > s.memsz:
            raise LayoutError("segment %s at %#x+%#x is not page-aligned" % (s.what, s.mem, s.memsz))
        for lo, hi, what in forbidden_ranges(ebda):
            if s.mem < hi and lo < s.mem + s.memsz:
                raise LayoutError("segment %s at %#07x..%#07x covers %s (%#07x..%#07x): the BIOS would see "
                                  "the image's page instead; keep the batch inside [%#07x, %#07x)"
                                  % (s.what, s.mem, s.mem + s.memsz, what, lo, hi,
                                     abi.BATCH_BASE, abi.BATCH_LIMIT))


def _segment(mem, data, what):
    return Segment(mem, bytes(data), -(-len(data) // PAGE) * PAGE, what)


def build_image(layout, mailbox=(), nonce=0, ebda=None):
    """Trampoline + block + page tables + batch pages -> Image (entry, checked segments)."""
    tramp = load_trampoline()
    if tramp.block != abi.BLOCK_BASE:
        raise LayoutError("the trampoline's block is at %#07x, csrc/physcall.h says PC_BLOCK_BASE=%#07x: "
                          "the cached trampoline is stale; remove it to rebuild" % (tramp.block, abi.BLOCK_BASE))
    block, size, offsets = fill_block(layout, mailbox, nonce)
    data = bytearray(tramp.data)
    at = tramp.block - tramp.base
    raw = abi.block_bytes(block)
    data[at:at + len(raw)] = raw
    # A batch in the block's free pages (layout.block_window) goes into the trampoline's own segment,
    # over call slots the block leaves unused; anything else gets segments of its own.
    free_lo, free_hi = block_window(len(layout.calls))
    runs = []
    for mem, run in batch_segments(layout):
        if free_lo <= mem and mem + len(run) <= free_hi:
            data[len(data):] = bytes(max(0, mem + len(run) - tramp.base - len(data)))
            data[mem - tramp.base:mem - tramp.base + len(run)] = run
        else:
            runs.append((mem, run))
    segments = [_segment(tramp.base, data, "trampoline")]
    runs = _merge(runs, abi.SEGMENT_MAX - 2)
    segments += [_segment(mem, run, "batch") for mem, run in runs]
    segments.append(_segment(abi.PAGETABLE_BASE, page_tables(), "page tables"))
    check_segments(segments, ebda)
    return Image(tramp.entry, segments, size, offsets)


# ---------------------------------------------------------------------------------------- ELF

ELF_HEADER = struct.Struct("<4sBBBBB7sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
PT_LOAD, PF_RWX, EM_X86_64, ET_EXEC = 1, 7, 62, 2


def elf_bytes(image):
    """An ET_EXEC ELF64 with one PT_LOAD per segment (p_paddr = p_vaddr = destination)."""
    nseg = len(image.segments)
    offset = -(-(ELF_HEADER.size + nseg * PHDR.size) // PAGE) * PAGE
    phdrs, body = [], bytearray()
    for seg in image.segments:
        phdrs.append(PHDR.pack(PT_LOAD, PF_RWX, offset + len(body), seg.mem, seg.mem,
                               len(seg.data), seg.memsz, PAGE))
        body += seg.data + bytes(-len(seg.data) % PAGE)
    head = ELF_HEADER.pack(b"\x7fELF", 2, 1, 1, 0, 0, bytes(7), ET_EXEC, EM_X86_64, 1, image.entry,
                           ELF_HEADER.size, 0, 0, ELF_HEADER.size, PHDR.size, nseg, 0, 0, 0)
    out = bytearray(head + b"".join(phdrs))
    return bytes(out.ljust(offset, b"\0") + body)


def write_elf(layout, path, mailbox=(), nonce=0, ebda=None):
    """Write the kexec image of ``layout`` to ``path`` (for ``kexec --load-preserve-context``).

    Without mailbox pages the trampoline runs the calls and keeps the results in its own (hidden)
    copy; the status says PC_BATCH_MAILBOX_FULL.  Returns the Image.

    >>> from physcall.call import interrupt
    >>> from physcall.layout import lay_out
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "int12.elf")
    >>> [s.what for s in write_elf(lay_out(interrupt(0x12)), p).segments]
    ['trampoline', 'page tables']
    """
    image = build_image(layout, mailbox, nonce, ebda)
    pathlib.Path(path).write_bytes(elf_bytes(image))
    return image
