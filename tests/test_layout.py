"""Calls and their low-memory layout."""

import pytest

from physcall import Buffer, LayoutError, Routine, far_call, interrupt, lay_out
from physcall.layout import BATCH_BASE, BATCH_LIMIT, MAX_CALLS


def test_buffer_pair_points_at_buffer():
    lay = lay_out([interrupt(0x15, eax=0xE820, es_di=Buffer(24)), interrupt(0x10, ax=0x4F00,
                                                                          es_di=Buffer(data=b"VBE2", size=512))])
    for placed in lay.calls:
        phys, size = placed.buffers["es_di"]
        assert (placed.regs.es << 4) + placed.regs.di == phys
    regions = dict(lay.regions)
    assert regions[lay.calls[1].buffers["es_di"][0]][:4] == b"VBE2"


def test_everything_inside_window_and_disjoint():
    lay = lay_out([interrupt(0x12), Routine("mov ax, 1\nret"), far_call(0xC000, 3),
                   Routine("ret", mode="flat32", edi=Buffer(4096))])
    spans = sorted((at, at + len(data)) for at, data in lay.regions) + [lay.stack]
    assert all(BATCH_BASE <= lo < hi <= BATCH_LIMIT for lo, hi in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


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
