"""The kexec image offline: ABI offsets, the trampoline's build, segments, ELF (GNU readelf as oracle).

Nothing here touches kexec: no kexec_load, no reboot.
"""

import re
import shutil
import struct
import subprocess

import pytest

from physcall import abi, image, toolchain
from physcall.call import Buffer, interrupt
from physcall.errors import LayoutError
from physcall.layout import Layout, lay_out

needs_readelf = pytest.mark.skipif(shutil.which("readelf") is None, reason="GNU readelf not installed")


def test_asm_offsets_match_cffi():
    """The offsets the trampoline assembles with are the ones Python reads (one layout, two readers)."""
    inc = toolchain.build_trampoline().parent / "asm-offsets.inc"
    equ = dict(re.findall(r"^\.equ (\w+), (\d+)$", inc.read_text(), re.M))
    assert int(equ["PC_SIZEOF_BLOCK"]) == abi.SIZEOF_BLOCK
    assert int(equ["CALL_out_eflags"]) == abi.ffi.offsetof("struct pc_call", "out") + \
        abi.ffi.offsetof("struct pc_regs_out", "eflags")
    assert int(equ["HDR_mailbox"]) == abi.ffi.offsetof("struct pc_header", "mailbox")
    assert int(equ["BUF_mbox_offset"]) == abi.ffi.offsetof("struct pc_buffer", "mbox_offset")


def test_trampoline_symbols():
    tramp = toolchain.load_trampoline()
    assert tramp.base == abi.TRAMPOLINE_BASE and tramp.entry == tramp.symbols["pc_entry"]
    assert abi.TRAMPOLINE_BASE <= tramp.entry < abi.TRAMPOLINE_DATA              # on a code page
    assert tramp.base + len(tramp.data) <= abi.TRAMPOLINE_LIMIT
    # The kernel reads the next entry point from next_entry after the return: it must be pc_entry.
    at = tramp.symbols["next_entry"] - tramp.base
    assert struct.unpack_from("<Q", tramp.data, at)[0] == tramp.entry
    # Real-mode code and its data must be reachable with CS = TRAMPOLINE_BASE >> 4.
    for name in ("rm16", "cur", "gdt_desc", "ivt_desc"):
        assert tramp.symbols[name] - tramp.base < 0x10000


@needs_readelf
def test_trampoline_disassembles_to_the_safe_return():
    """objdump (the oracle) shows pop/lea next_entry/jmp at the end, not a plain ret."""
    out = subprocess.run(["objdump", "-d", str(toolchain.build_trampoline())], capture_output=True,
                         text=True, check=True).stdout
    # the way back to the kernel is the end of calls_done (objdump starts a new block at each label)
    tail_code = re.split(r"\n[0-9a-f]+ <\w+>:\n", out.split("<calls_done>:")[1])[0]
    insns = [line.split("\t")[-1].strip() for line in tail_code.splitlines() if "\t" in line]
    tail = insns[-3:]
    assert tail[0] == "pop    %rax" and "<next_entry>" in tail[1] and tail[1].endswith("next_entry>")
    assert tail[1].startswith("lea") and "%rsp" in tail[1] and tail[2] == "jmp    *%rax", tail


def _readelf_loads(path):
    out = subprocess.run(["readelf", "-lW", str(path)], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            rows.append(tuple(int(x, 16) for x in f[1:6]))
    return out, rows


@needs_readelf
def test_elf_agrees_with_readelf(tmp_path):
    lay = lay_out([interrupt(0x12), interrupt(0x15, eax=0xE820, ebx=0, ecx=24, edx=0x534D4150,
                                              es_di=Buffer(24))])
    path = tmp_path / "batch.elf"
    img = image.write_elf(lay, path, mailbox=[0x1234000])
    head = subprocess.run(["readelf", "-hW", str(path)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Type:\s+EXEC", head) and "X86-64" in head
    assert re.search(r"Entry point address:\s+%#x$" % toolchain.load_trampoline().entry, head, re.M)
    text, rows = _readelf_loads(path)
    expect = [(s.mem, s.mem, len(s.data), s.memsz) for s in img.segments]
    assert [r[1:] for r in rows] == expect, text
    assert all(r[0] % 4096 == 0 for r in rows)
    raw = path.read_bytes()
    for (offset, *_), seg in zip(rows, img.segments):
        assert raw[offset:offset + len(seg.data)] == seg.data


def test_block_carries_calls_buffers_and_mailbox():
    lay = lay_out([interrupt(0x12), interrupt(0x15, eax=0xE820, edx=0x534D4150, ecx=24, es_di=Buffer(24))])
    img = image.build_image(lay, mailbox=[0x5000, 0x9000], nonce=7)
    tramp = toolchain.load_trampoline()
    seg = img.segments[0]
    at = tramp.block - tramp.base
    blk = abi.ffi.from_buffer("struct pc_block *", bytearray(seg.data[at:at + abi.SIZEOF_BLOCK]))
    assert (blk.hdr.magic, blk.hdr.count, blk.hdr.nbuffers, blk.hdr.nonce) == (abi.MAGIC, 2, 1, 7)
    assert list(blk.hdr.mailbox[0:2]) == [0x5000, 0x9000] and blk.hdr.mailbox_pages == 2
    call = blk.calls[1]
    placed = lay.calls[1]
    assert (call.mode, call.cs, call.ip, call.ss, call.sp) == (abi.MODE_REAL16, placed.cs, placed.ip,
                                                             placed.ss, placed.sp)
    assert getattr(call, "in").eax == 0xE820
    buf = blk.buffers[0]
    assert (buf.phys, buf.size, buf.call) == (placed.buffers["es_di"][0], 24, 1)
    assert buf.mbox_offset >= abi.SIZEOF_HEADER + 2 * abi.SIZEOF_CALL
    assert img.result_size == buf.mbox_offset + 24


def test_segments_stay_in_the_window():
    img = image.build_image(lay_out(interrupt(0x12)))
    assert len(img.segments) <= abi.SEGMENT_MAX
    for s in img.segments:
        assert s.mem % 4096 == 0 and s.memsz % 4096 == 0
        assert abi.TRAMPOLINE_BASE <= s.mem and s.mem + s.memsz <= 0x90000


def test_a_small_batch_adds_no_page_to_the_image():
    """A batch in its block's free pages rides in the trampoline's segment: the same pages as an image
    with no call, its bytes at their addresses, the block's header and used call slots untouched."""
    floor = image.build_image(Layout(regions=[], calls=[], stack=None))
    lay = lay_out([interrupt(0x15, eax=0xE820, es_di=Buffer(24), ebx=0), interrupt(0x12)])
    img = image.build_image(lay)
    assert [(s.mem, s.memsz) for s in img.segments] == [(s.mem, s.memsz) for s in floor.segments]
    tramp = img.segments[0]
    for at, data in lay.regions:
        assert tramp.data[at - tramp.mem:at - tramp.mem + len(data)] == bytes(data)
    block, _, _ = image.fill_block(lay)
    used = abi.BLOCK_CALLS_OFFSET + len(lay.calls) * abi.SIZEOF_CALL
    at = abi.BLOCK_BASE - tramp.mem
    assert tramp.data[at:at + used] == abi.block_bytes(block)[:used]


def test_a_window_the_abi_does_not_give_is_refused():
    """A hand-made Layout in the block's pages of a batch with more calls than it has (their slots would
    be overwritten) is refused, naming the windows there are."""
    lay = lay_out(interrupt(0x12))
    with pytest.raises(LayoutError, match="not one the ABI gives a batch of 100 calls"):
        image.build_image(Layout(lay.regions, list(lay.calls) * 100, lay.stack, lay.window))


def _with_call(lay, **change):
    import dataclasses
    return Layout(lay.regions, [dataclasses.replace(lay.calls[0], **change)], lay.stack, lay.window)


@pytest.mark.parametrize("forge, what", [
    (lambda lay: _with_call(lay, esp=lay.calls[0].esp - 0x2000), "stack top"),   # a page below: the block
    (lambda lay: _with_call(lay, eip=abi.BLOCK_BASE), "enters at %#07x" % abi.BLOCK_BASE),
    (lambda lay: _with_call(lay, buffers={"edi": (abi.BLOCK_BASE, 16)}), "buffer edi at %#07x" % abi.BLOCK_BASE),
    (lambda lay: Layout(lay.regions, lay.calls, lay.stack[::-1], lay.window), "stack .* is not a range"),
])
def test_a_forged_call_is_refused(forge, what):
    """Entry, stack and buffers of each call must be the layout's own (a Layout from the wire is
    someone else's): a stack or buffer a page off would land on the block's header and call slots."""
    from physcall.call import Routine
    lay = lay_out(Routine("ret", mode="flat32", edi=Buffer(16)))
    with pytest.raises(LayoutError, match=what):
        image.build_image(forge(lay))


def _layout(regions):
    return Layout(regions=regions, calls=[], stack=None)


@pytest.mark.parametrize("at,what", [(0x500, "outside its batch window"), (0x9F000, "outside"),
                                     (0xC0000, "outside")])
def test_regions_outside_the_window_are_refused(at, what):
    with pytest.raises(LayoutError, match=what):
        image.build_image(_layout([(at, b"\xcb")]))


@pytest.mark.parametrize("mem,what", [(0, "page 0"), (0x9F000, "EBDA"), (0xA0000, "ROMs"), (0xF0000, "ROMs")])
def test_forbidden_segments(mem, what):
    seg = image.Segment(mem, b"\0" * 4096, 4096, "test")
    with pytest.raises(LayoutError, match=what):
        image.check_segments([seg])


def test_ebda_from_the_bda_moves_the_limit():
    seg = image.Segment(0x80000, b"", 4096, "test")
    image.check_segments([seg])
    with pytest.raises(LayoutError, match="EBDA"):
        image.check_segments([seg], ebda=0x80400)


def test_scattered_regions_merge_into_16_segments():
    regions = [(0x20000 + i * 0x2000, b"\x90") for i in range(40)]
    img = image.build_image(_layout(regions))
    assert len(img.segments) == abi.SEGMENT_MAX
    for at, byte in regions:
        seg = next(s for s in img.segments if s.mem <= at < s.mem + s.memsz)
        assert seg.data[at - seg.mem:at - seg.mem + 1] == byte
    spans = sorted((s.mem, s.mem + s.memsz) for s in img.segments)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))   # disjoint


def test_page_tables_identity_map_the_first_gib():
    pt = image.page_tables()
    base = abi.PAGETABLE_BASE
    assert len(pt) == abi.PAGETABLE_PAGES * 4096
    q = lambda page, i: struct.unpack_from("<Q", pt, page * 4096 + i * 8)[0]
    # PML5[0] -> PML4, PML4[0] -> PDPT, PDPT[0] -> PD; no other entry present above the PD
    assert q(0, 0) & ~0xFFF == base + 0x1000 and q(1, 0) & ~0xFFF == base + 0x2000
    assert q(2, 0) & ~0xFFF == base + 0x3000
    assert not any(q(page, i) & 1 for page in range(3) for i in range(1, 512))
    # the PD: 512 present 2 MiB pages (PS), identity
    assert q(3, 0) == 0xE3 and q(3, 1) == (1 << 21) | 0xE3 and q(3, 511) == (511 << 21) | 0xE3
    # all the climb reaches through them: the trampoline's code and data pages
    tramp = toolchain.load_trampoline()
    assert tramp.symbols["up64"] < 1 << 30 and tramp.symbols["saved_cr3"] < 1 << 30
