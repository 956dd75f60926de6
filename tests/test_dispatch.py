"""The C interrupt dispatch (csrc/dispatch.c) against the Python hook it speeds up: the same batches
on both paths give the same reports, registers and buffers."""

import logging

import pytest

from physcall.call import Buffer, Routine, far_call, interrupt
from physcall.emulator import Machine, Policy, counter, hooks, stubbios
from physcall.emulator.policy import dangerous_interrupt
from physcall.layout import lay_out

from test_emulator import INT12, INT15, LGDT, firmware

LOOP_1A = "mov si, %d\n l: xor ah, ah\n int 0x1a\n dec si\n jnz l\n ret"
HOOK_60 = ("xor ax, ax\n mov es, ax\n mov word ptr es:[0x180], offset handler\n mov es:[0x182], cs\n"
           "int 0x60\n ret\n handler: mov bx, 0x6060\n iret")
BATCHES = [
    [interrupt(0x12)],
    [Routine(LOOP_1A % 50)],
    [Routine(LOOP_1A % 5000)],                                # past MAX_EVENTS: counted, not listed
    [interrupt(0x15, ax=0xE8FF)],                             # unknown leaf: refused by the trap port
    [interrupt(0x14, ah=0x03)],                               # unknown read-only leaf: a hazard
    [interrupt(0x15, ax=0xE820, ebx=0, ecx=24, edx=0x534D4150, es_di=Buffer(24))],
    [interrupt(0x13, ax=0x0201, cx=1, dx=0x80, es_bx=Buffer(512))],      # checked service, Python's
    [interrupt(0x13, ax=0x0301, cx=1, dx=0x80, es_bx=Buffer(512))],      # a disk write: refused
    [Routine("mov ax, 0x2400\n int 0x15\n ret")],
    [Routine("int 0x19\n ret")],
    [Routine("int 0x18\n ret")],
    [Routine("int3\n ret")],
    [Routine("int 3\n ret")],
    [Routine("xor cx, cx\n div cx\n ret")],
    [Routine("mov sp, 0x100\n int 0x12\n ret")],
    [Routine("xor ax, ax\n mov ss, ax\n mov sp, 0x400\n int 0x12\n ret")],   # frame into the IVT
    [Routine("int 0x15\n ret", mode="flat32")],
    [Routine("int 0x12\n int 0x11\n int 0x1a\n ret"), interrupt(0x12), interrupt(0x15, ax=0xE8FF),
     interrupt(0x12)],
    [Routine("xor ax, ax\n mov ds, ax\n mov ax, [0x413]\n ret", mode="real16"),
     Routine("int 0x12\n ret", mode="flat32")],
]


def run_both(make, batch, monkeypatch, state=None):
    """(native, python) outcomes of ``batch``, each on a fresh Machine from ``make()``; with ``state``,
    each is ``(outcomes, state(machine))`` (tests/test_ports.py: the devices' final state)."""
    results = []
    for path in ("native", "python"):
        with monkeypatch.context() as m:
            if path == "python":
                m.setenv(hooks.DISPATCH_ENV, "python")
            machine = make()
            native = path == "native"
            assert (machine.hooks.native is not None) == native
            assert (machine.hooks.fast_ports is not None) == native
            outs = machine.run(lay_out(batch))
        outcomes = [(o.report.to_dict(), o.regs, o.buffers, o.returned) for o in outs]
        results.append(outcomes if state is None else (outcomes, state(machine)))
    return results


@pytest.fixture(autouse=True)
def compiled():
    if counter._library() is None:
        pytest.skip("libphyscall.so cannot be built here: only the Python path exists")


@pytest.mark.parametrize("batch", BATCHES, ids=range(len(BATCHES)))
def test_stub_bios_reports_are_identical_on_both_paths(batch, monkeypatch):
    native, python = run_both(lambda: Machine(stubbios.build(), budget=2_000_000), batch, monkeypatch)
    assert native == python


@pytest.mark.parametrize("batch", [
    [interrupt(0x12), interrupt(0x15, ax=0xE8FF)],
    [Routine(HOOK_60)],
    [far_call(0xF000, 0x120)],
    [Routine("mov ax, 0x5307\n mov bx, 1\n mov cx, 3\n int 0x15\n ret")],
    [Routine("int 0x21\n int 0x12\n ret")],
], ids=range(5))
def test_hand_made_firmware_reports_are_identical_on_both_paths(batch, monkeypatch):
    policy = Policy(writable=[(0x180, 0x184, "test hooks int 60h")])
    native, python = run_both(lambda: Machine(firmware([INT12, INT15, LGDT]), budget=100_000,
                                              policy=policy), batch, monkeypatch)
    assert native == python


def test_the_c_dispatch_takes_the_plain_interrupts():
    """What the speed comes from: a loop of int 1Ah never calls back into Python."""
    m = Machine(stubbios.build())
    calls = []
    m.hooks.on_interrupt = lambda *args: calls.append(args)
    out = m.run(lay_out(Routine(LOOP_1A % 100)))[0]
    assert out.report.verdict == "ok" and calls == []
    assert [i["text"] for i in out.report.interrupts] == ["int 1ah ax=0000h"] * 100


def test_an_exception_in_the_python_hook_still_propagates(monkeypatch):
    def boom(machine, call):
        raise RuntimeError("service check failed")
    monkeypatch.setitem(hooks.SERVICE_CHECKS, 0x13, (boom,))
    m = Machine(stubbios.build())
    with pytest.raises(RuntimeError, match="service check failed"):
        m.run(lay_out(interrupt(0x13, ax=0x0800, dx=0x80)))
    assert m.run(lay_out(interrupt(0x12)))[0].report.verdict == "ok"      # and the next run is clean


def test_without_the_library_one_warning_and_the_python_hook(monkeypatch, caplog):
    monkeypatch.setattr(counter, "_LIB", [None])
    monkeypatch.setattr(hooks, "_WARNED", [])
    with caplog.at_level(logging.WARNING, logger="physcall.emulator"):
        machines = [Machine(stubbios.build()) for _ in range(2)]
    assert [m.hooks.native for m in machines] == [None, None]
    assert len([r for r in caplog.records if "dispatches interrupts in Python" in r.message]) == 1
    assert machines[0].run(lay_out(interrupt(0x12)))[0].regs.ax == 639


def test_python_vectors_cover_every_dangerous_vector():
    """The C dispatch leaves PYTHON_VECTORS to Python: every vector policy may refuse must be one."""
    for vector in range(256):
        for ax in range(0, 0x10000, 0x100):
            for al in (0, 7):
                if dangerous_interrupt(vector, ax | al):
                    assert vector in hooks.PYTHON_VECTORS, hex(vector)
