"""A warm Machine answers as a fresh one: what a batch leaves behind (its window, stack and writes, the
translations kept between batches, the block check's caches in Python and in csrc/edges.c) changes
no report, register or buffer of the next batch.  The oracle is a fresh Machine per batch; both
dispatch paths (C, and the Python hooks alone)."""

import pytest

from physcall.call import Buffer, Routine, far_call, interrupt
from physcall.emulator import Machine, Policy, hooks, stubbios
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
