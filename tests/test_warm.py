"""A warm Machine answers as a fresh one: what a batch leaves behind (its window, stack and writes, the
translations kept between batches, the block check's caches in Python and in csrc/edges.c) changes
no report, register or buffer of the next batch.  The oracle is a fresh Machine per batch; both
dispatch paths (C, and the Python hooks alone)."""

import pytest

from physcall.call import Buffer, Routine, far_call, interrupt
from physcall.emulator import Firmware, Machine, Policy, hooks, stubbios
from physcall.layout import lay_out

from test_dispatch import BATCHES, HOOK_60
from test_emulator import INT12, INT15, LGDT, firmware

LGDT_IN_BUFFER = ("mov dword ptr es:[di], 0x0016010f\nmov word ptr es:[di+4], 0xcb00\n"
                  "push es\npush di\nmov bp, sp\nlcall [bp]\nadd sp, 4\nret")
NOPS_IN_BUFFER = LGDT_IN_BUFFER.replace("0x0016010f", "0x90909090")
WARM = BATCHES + [
    [Routine(NOPS_IN_BUFFER, es_di=Buffer(16))],      # clean code at the address the next one dirties
    [Routine(LGDT_IN_BUFFER, es_di=Buffer(16))],      # the same block address, a privileged block
    [Routine(NOPS_IN_BUFFER, es_di=Buffer(16))],
    [Routine("mov word ptr [0x7000], 0x1234\n ret")],  # a forbidden write in the window
    [interrupt(0x12), interrupt(0x12)],
]


def outcomes(machine, batch):
    return [(o.report.to_dict(), o.regs, o.buffers, o.returned) for o in machine.run(lay_out(batch))]


@pytest.mark.parametrize("path", ["native", "python"])
def test_a_warm_machine_answers_as_a_fresh_one(path, monkeypatch):
    if path == "python":
        monkeypatch.setenv(hooks.DISPATCH_ENV, "python")
    fw = stubbios.build()
    fresh = [outcomes(Machine(fw, budget=2_000_000), batch) for batch in WARM]
    warm = Machine(fw, budget=2_000_000)
    for order in (range(len(WARM)), reversed(range(len(WARM)))):
        for i in order:
            assert outcomes(warm, WARM[i]) == fresh[i], WARM[i]


@pytest.mark.parametrize("path", ["native", "python"])
def test_the_firmware_check_holds_on_a_warm_machine(path, monkeypatch):
    """A privileged instruction the firmware runs is refused every time, not only the first."""
    if path == "python":
        monkeypatch.setenv(hooks.DISPATCH_ENV, "python")
    policy = Policy(writable=[(0x180, 0x184, "test hooks int 60h")])
    m = Machine(firmware([INT12, INT15, LGDT]), budget=100_000, policy=policy)
    batches = [[far_call(0xF000, 0x120)], [interrupt(0x12)], [Routine(HOOK_60)]]
    first = [outcomes(m, b) for b in batches]
    assert first[0][0][0]["verdict"] == "refused"
    assert [outcomes(m, b) for b in batches + batches] == first + first


def test_what_the_firmware_wrote_is_put_back_for_the_next_batch():
    """A firmware-owned range that does not start on a page (a snapshot's: the EBDA at 9FC00h runs
    on into the shadowed ROM area) is put back whole: the handler reads the byte it then writes,
    at a page offset below the range's own (E94A5h), and sees the pristine 0 every time."""
    handler = (0x12, "push ds\n mov ax, 0xE000\n mov ds, ax\n mov al, [0x94A5]\n"
                     "mov byte ptr [0x94A5], 0x55\n pop ds\n iret")
    base = firmware([handler])
    fw = Firmware("test", base.low, [(0x400, 0x500, "BDA"), (0x9FC00, 0x100000, "the firmware")])
    fresh = outcomes(Machine(fw), [interrupt(0x12)])
    assert fresh[0][1].al == 0 and fresh[0][0]["writes"] == [[0xE94A5, 0xE94A6]]
    warm = Machine(fw)
    assert [outcomes(warm, [interrupt(0x12)]) for _ in range(3)] == [fresh] * 3
