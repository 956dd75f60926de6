"""The port fast path (csrc/ports.c, physcall/emulator/fastports.py) against the Python hooks: the same
port-polling batches on both paths give the same reports, registers and final device state."""

import pytest

from physcall.call import Routine
from physcall.emulator import Machine, Policy, stubbios
from physcall.emulator.devices import SystemPort
from physcall.hostlib import ffi
from physcall.layout import lay_out

from test_dispatch import compiled  # noqa: F401  (autouse: the C path must exist to be compared)
from test_dispatch import run_both as dispatch_run_both
from test_emulator import firmware

LOOP = "mov si, %d\n l: %s\n dec si\n jnz l\n ret"
IN61 = "in al, 0x61"
PIT_LATCH = "xor al, al\n out 0x43, al\n in al, 0x40\n mov ah, al\n in al, 0x40"
CMOS = "mov al, 0x0a\n out 0x70, al\n in al, 0x71"
PIT_PROGRAM = ("mov al, 0x34\n out 0x43, al\n mov al, 0x34\n out 0x40, al\n mov al, 0x12\n out 0x40, al\n"
               "xor al, al\n out 0x43, al\n in al, 0x40\n mov bl, al\n in al, 0x40\n mov bh, al\n"
               "mov al, 0x50\n out 0x43, al\n in al, 0x41\n mov al, 0xa0\n out 0x43, al\n in al, 0x42\n"
               "mov al, 0xc2\n out 0x43, al\n in al, 0x40\n in al, 0x40\n in al, 0x43\n"
               "mov al, 0x0f\n out 0x61, al\n in al, 0x61\n mov cl, al\n ret")
CMOS_WALK = ("xor cx, cx\n w: mov al, cl\n or al, 0x80\n out 0x70, al\n in al, 0x71\n inc al\n out 0x71, al\n"
             "in al, 0x70\n inc cx\n cmp cx, 0x80\n jb w\n ret")
MIXED = ("mov si, 40\n l: in al, 0x61\n in al, 0x64\n in ax, 0x61\n mov dx, 0x40\n in al, dx\n"
         "in al, 0x92\n mov al, 0x0b\n mov dx, 0x70\n out dx, ax\n in al, 0x21\n mov dx, 0x1f7\n in al, dx\n"
         "mov al, 0x20\n out 0x64, al\n in al, 0x60\n out 0x80, al\n dec si\n jnz l\n ret")
SITES = "mov si, 30\n l: " + "\n".join("mov al, %d\n out 0x43, al\n in al, 0x40" % (i << 6 & 0xC0)
                                        for i in range(20)) + "\n dec si\n jnz l\n ret"

BATCHES = [
    [Routine(LOOP % (50, IN61))],
    [Routine(LOOP % (6000, IN61))],                           # past MAX_EVENTS: counted, not listed
    [Routine(LOOP % (25000, IN61))],                          # past POLL_LIMIT in the routine: runs on
    [Routine(LOOP % (50, PIT_LATCH))],
    [Routine(LOOP % (3000, PIT_LATCH))],
    [Routine(LOOP % (2000, CMOS))],
    [Routine(PIT_PROGRAM)],
    [Routine(CMOS_WALK)],
    [Routine(MIXED)],
    [Routine(SITES)],                                         # more sites than C remembers
    [Routine(PIT_PROGRAM), Routine(LOOP % (100, PIT_LATCH)), Routine(CMOS_WALK), Routine(CMOS_WALK)],
    [Routine("in al, 0x61\n out 0x43, al\n in al, 0x40\n mov al, 0x0b\n out 0x70, al\n in al, 0x71\n ret",
             mode="flat32")],
    [Routine("xor ax, ax\n mov ss, ax\n mov sp, 0x400\n in al, 0x61\n int 0x12\n ret")],   # stops mid-way
]


def device_state(machine):
    """Every device's state: the hot ones' structs as bytes, the others' attributes."""
    out = {}
    for dev in set(machine.devices.values()):
        state = getattr(dev, "state", None)
        out[(type(dev).__name__, dev.ports)] = bytes(ffi.buffer(state)) if state is not None else repr(vars(dev))
    return out


def run_both(make, batch, monkeypatch):
    """(native, python): the outcomes of ``batch`` and the final device state, each on a fresh Machine."""
    return dispatch_run_both(make, batch, monkeypatch, state=device_state)


@pytest.mark.parametrize("batch", BATCHES, ids=range(len(BATCHES)))
def test_port_polling_is_identical_on_both_paths(batch, monkeypatch):
    native, python = run_both(lambda: Machine(stubbios.build(), budget=2_000_000), batch, monkeypatch)
    assert native[1] == python[1]
    assert native[0] == python[0]


FIRMWARE_POLLS = [
    (0x60, "w: in al, 0x61\n jmp w"),                          # a timer wait: hazard 'wait' at POLL_LIMIT
    (0x61, "w: in al, 0x61\n in al, 0x40\n mov al, 0\n out 0x43, al\n jmp w"),
    (0x62, "w: in al, 0x61\n mov dx, 0x1f7\n in al, dx\n jmp w"),   # an unmodelled port among them
    (0x63, "w: mov al, 0x0a\n out 0x70, al\n in al, 0x71\n test al, 0x80\n jz w\n iret"),
]


@pytest.mark.parametrize("policy", [Policy(), Policy(ports="refuse", allowed_ports={0x61, 0x40, 0x43}),
                                    Policy(ports="refuse", allowed_ports={0x70, 0x71})],
                         ids=["log", "refuse-but-pit", "refuse-but-cmos"])
@pytest.mark.parametrize("vector", [0x60, 0x61, 0x62, 0x63])
def test_firmware_polling_loops_end_the_same_on_both_paths(vector, policy, monkeypatch):
    """A loop in the firmware past hazards.POLL_LIMIT reads: the same hazard, naming the same ports
    (the recent-ports window is filled from C's ring), or the same refusal by the policy."""
    native, python = run_both(lambda: Machine(firmware(FIRMWARE_POLLS), budget=300_000, policy=policy),
                              [Routine("int 0x%x\n ret" % vector)], monkeypatch)
    assert native == python
    report = native[0][0][0]
    assert report["verdict"] == "refused" or report["unverified"], report


def test_a_replaced_device_is_left_to_python(monkeypatch):
    """A firmware that brings its own model of port 61h: C does not answer for it."""
    class Stuck(SystemPort):
        def read(self, port, size):
            return 0x5A
    make = lambda: Machine(firmware(devices={0x61: Stuck()}), budget=100_000)    # noqa: E731
    native, python = run_both(make, [Routine(LOOP % (20, IN61))], monkeypatch)
    assert native == python
    assert {p["value"] for p in native[0][0][0]["ports"]} == {0x5A}


def test_the_fast_path_takes_the_hot_ports():
    """What the speed comes from: a 61h loop never calls the Python port hook, a PIT latch loop calls
    it once (the first OUT to 43h at its site records the device hazard), a CMOS loop not at all."""
    m = Machine(stubbios.build())
    seen = []
    real_in, real_out = m.hooks.on_in, m.hooks.on_out
    m.hooks.on_in = lambda uc, port, size, data: seen.append(("in", port)) or real_in(uc, port, size, data)
    m.hooks.on_out = lambda uc, port, size, value, data: seen.append(("out", port)) or real_out(
        uc, port, size, value, data)
    for body, python in ((IN61, []), (PIT_LATCH, [("out", 0x43)]), (CMOS, [])):
        seen.clear()
        out = m.run(lay_out(Routine(LOOP % (100, body))))[0]
        assert out.report.verdict == "ok" and seen == python, body
        assert len(out.report.ports) == 100 * body.count("out ") + 100 * body.count("in ")


def test_a_new_policy_on_the_same_machine_is_followed():
    """The fast tables follow Machine.policy from one run to the next (they are cached per policy)."""
    m = Machine(stubbios.build())
    loop = lay_out(Routine(LOOP % (10, IN61)))
    assert m.run(loop)[0].report.verdict == "ok"
    m.policy = Policy(ports="refuse", allowed_ports={0x40})
    refused = m.run(loop)[0].report
    assert refused.verdict == "refused" and "port in 0x61" in refused.reasons[0]
    m.policy = Policy()
    assert m.run(loop)[0].report.verdict == "ok"


LATCH_DELAY = """
    xor al, al
    out 0x43, al
    in al, 0x40
    mov bl, al
    in al, 0x40
    mov bh, al
w:  xor al, al
    out 0x43, al
    in al, 0x40
    mov cl, al
    in al, 0x40
    mov ch, al
    mov ax, bx
    sub ax, cx
    cmp ax, 0x4000
    jb w
    iret
"""


def test_a_latch_and_poll_delay_ends_on_both_paths(monkeypatch):
    """A BIOS delay that latches the PIT and reads the count until enough has gone by (a common way to
    wait without the TSC): each latch sees time pass, so it ends, the same on both paths, without the
    'wait' hazard a count frozen between latches would give at the polling limit."""
    native, python = run_both(lambda: Machine(firmware([(0x64, LATCH_DELAY)]), budget=300_000),
                              [Routine("int 0x64\n ret")], monkeypatch)
    assert native == python
    report, _, _, returned = native[0][0]
    assert returned and report["verdict"] == "ok"
    assert "wait" not in {h["kind"] for h in report["hazards"]}, report["hazards"]
