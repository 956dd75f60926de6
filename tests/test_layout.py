"""Calls and their low-memory layout."""

import pytest

from physcall import Buffer, LayoutError, Routine, far_call, interrupt, lay_out
from physcall import abi
from physcall.layout import BATCH_BASE, BATCH_LIMIT, MAX_CALLS, block_window, windows


def test_buffer_pair_points_at_buffer():
    lay = lay_out([interrupt(0x15, eax=0xE820, es_di=Buffer(24)), interrupt(0x10, ax=0x4F00,
                                                                          es_di=Buffer(data=b"VBE2", size=512))])
    for placed in lay.calls:
        phys, size = placed.buffers["es_di"]
        assert (placed.regs.es << 4) + placed.regs.di == phys
    regions = dict(lay.regions)
    assert regions[lay.calls[1].buffers["es_di"][0]][:4] == b"VBE2"


MIXED = [interrupt(0x12), Routine("mov ax, 1\nret"), far_call(0xC000, 3),
         Routine("ret", mode="flat32", edi=Buffer(4096))]


@pytest.mark.parametrize("calls, in_block", [
    (MIXED, True),
    (MIXED + [interrupt(0x13, es_bx=Buffer(0x8000))], False),    # 32 KiB of buffer: the batch window
    ([interrupt(0x12)] * MAX_CALLS, False),                      # every call slot used: no page left
])
def test_everything_inside_window_and_disjoint(calls, in_block):
    """Code, buffers and stack lie in one of the windows the ABI gives a batch of this size, disjoint;
    in the block's free pages (clear of the call slots the batch fills) when they fit there."""
    lay = lay_out(calls)
    assert lay.window in windows(len(calls))
    assert (lay.window == block_window(len(calls))) is in_block
    assert in_block or lay.window == (BATCH_BASE, BATCH_LIMIT)
    spans = sorted([(at, at + len(data)) for at, data in lay.regions] + [lay.stack])
    lo, hi = lay.window
    assert all(lo <= a < b <= hi for a, b in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    slots_end = abi.BLOCK_BASE + abi.BLOCK_CALLS_OFFSET + len(calls) * abi.SIZEOF_CALL
    assert not in_block or slots_end <= spans[0][0]


def test_the_block_window_is_the_blocks_unused_tail():
    """Whole pages only, inside the trampoline's reach and the block, shrinking as calls fill slots."""
    block_end = abi.BLOCK_BASE + abi.SIZEOF_BLOCK
    for count in (0, 1, 2, 23, 24, 100, MAX_CALLS):
        lo, hi = block_window(count)
        assert lo % abi.PAGE_SIZE == 0 and hi % abi.PAGE_SIZE == 0
        assert lo >= abi.BLOCK_BASE + abi.BLOCK_CALLS_OFFSET + count * abi.SIZEOF_CALL
        assert block_end <= hi < block_end + abi.PAGE_SIZE <= abi.TRAMPOLINE_LIMIT + abi.PAGE_SIZE
    assert block_window(MAX_CALLS)[0] >= block_window(MAX_CALLS)[1]
    assert windows(MAX_CALLS) == [(BATCH_BASE, BATCH_LIMIT)]


def test_the_explore_survey_fits_its_block():
    """`physcall explore`'s one batch adds no page to the image (bench/bench_jump.py's explore/floor),
    and each of its two routines starts a page of its own (its blocks at the lowest offsets)."""
    from physcall.explore import survey_calls
    calls = [call for _, call in survey_calls()]
    lay = lay_out(calls)
    assert lay.window == block_window(len(calls))
    assert [placed.code[0] % abi.PAGE_SIZE for placed in lay.calls] == [0, 0]


def _pages(lo, hi):
    return set(range(lo // abi.PAGE_SIZE, (hi - 1) // abi.PAGE_SIZE + 1))


@pytest.mark.parametrize("buffer, spread", [(4096, True), (4 * 4096, False)])
def test_routines_start_pages_of_their_own_only_where_the_block_has_them(buffer, spread):
    """In the block's free pages each routine starts a page (thunks stay packed); when that would not
    leave room, the batch is packed as before, still in the block, never sent to the batch window."""
    calls = [interrupt(0x12), Routine("mov ax, 1\nret"), Routine("ret", mode="flat32", edi=Buffer(buffer))]
    lay = lay_out(calls)
    assert lay.window == block_window(len(calls))
    starts = [placed.code[0] for placed in lay.calls]
    assert [at % abi.PAGE_SIZE == 0 for at in starts[1:]] == [spread, spread]
    assert starts[0] % abi.PAGE_SIZE == 0 and (starts[1] - starts[0] >= abi.PAGE_SIZE) is spread
    code_pages = set().union(*(_pages(*placed.code) for placed in lay.calls))
    buffer_pages = set().union(*(_pages(at, at + size) for placed in lay.calls for at, size in placed.buffers.values()))
    assert not code_pages & buffer_pages


def test_thunks():
    lay = lay_out([interrupt(0x13), far_call(0xC000, 0x0003), Routine("nop\nret")])
    regions = dict(lay.regions)
    assert regions[lay.calls[0].entry] == bytes.fromhex("cd13cb")
    assert regions[lay.calls[1].entry] == bytes.fromhex("9a030000c0cb")
    assert regions[lay.calls[2].entry] == bytes.fromhex("e80100cb90c3")   # call +1; retf; nop; ret


def test_routine_ds_defaults_to_its_segment_and_labels_work():
    placed = lay_out(Routine("mov ax, [val]\nret\nval: .word 0x55aa")).calls[0]
    assert placed.regs.ds == placed.cs
    assert lay_out(Routine("ret", ds=0x40)).calls[0].regs.ds == 0x40


def test_flat32_buffer_gets_linear_address():
    placed = lay_out(Routine("ret", mode="flat32", esi=Buffer(16))).calls[0]
    assert placed.regs.esi == placed.buffers["esi"][0] and placed.eip == placed.code[0]


def test_too_much_is_a_layout_error_with_a_fix():
    with pytest.raises(LayoutError, match="does not fit.*split the batch"):
        lay_out([interrupt(0x10, es_di=Buffer(0x40000)), interrupt(0x10, es_di=Buffer(0x40000))])
    with pytest.raises(LayoutError, match="MAX_CALLS"):
        lay_out([interrupt(0x12)] * (MAX_CALLS + 1))
    with pytest.raises(LayoutError, match="empty"):
        lay_out([])


@pytest.mark.parametrize("make, msg", [
    (lambda: interrupt(0x100), "vector"),
    (lambda: interrupt(0x10, edi=Buffer(4)), "segment:offset pair"),
    (lambda: Routine("ret", mode="flat32", es_di=Buffer(4)), "32-bit register"),
    (lambda: interrupt(0x10, zz=1), "unknown register"),
    (lambda: Buffer(size=0), "positive"),
    (lambda: Buffer(size=2, data=b"abc"), "larger"),
    (lambda: Routine(""), "source"),
    (lambda: lay_out(Routine("ret", entry="nope")), "not a label"),
])
def test_bad_calls_are_clear_value_errors(make, msg):
    with pytest.raises(ValueError, match=msg):
        make()


def test_ds_pair_buffer_keeps_its_segment():
    import physcall
    out = physcall.invoke(Routine("lodsb\nret", ds_si=Buffer(data=b"\x42")))
    assert out.regs.al == 0x42
