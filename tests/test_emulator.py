"""The emulator backend against tiny hand-made firmwares: dispatch, policy refusals, ports, reset."""

import json
import struct

import pytest

from physcall.asm import asm
from physcall.call import Buffer, Routine, far_call, interrupt
from physcall.emulator import Firmware, Machine, Policy
from physcall.emulator.devices import Device
from physcall.emulator.firmware import LOW_SIZE, from_raw, snapshot_writable
from physcall.layout import lay_out

ROM = 0xF0000


def firmware(handlers=(), extra=(), devices=None):
    """1 MiB with every IVT entry at a dummy ``iret``; ``handlers`` = [(vector, source)] in F000."""
    low = bytearray(LOW_SIZE)
    low[ROM] = 0xCF                                            # f000:0000 iret
    for v in range(256):
        low[4 * v:4 * v + 4] = struct.pack("<HH", 0, 0xF000)
    at = 0x100
    for vector, source in handlers:
        code = asm(source, "real16", origin=at).code
        low[ROM + at:ROM + at + len(code)] = code
        if vector is not None:
            low[4 * vector:4 * vector + 4] = struct.pack("<HH", at, 0xF000)
        at += (len(code) + 15) & ~15
    for phys, data in extra:
        low[phys:phys + len(data)] = data
    low[0x413:0x415] = struct.pack("<H", 639)
    return Firmware("test", bytes(low), [(0x400, 0x500, "BDA")], devices=devices or {})


INT12 = (0x12, "push ds\n xor ax, ax\n mov ds, ax\n mov ax, [0x413]\n pop ds\n iret")
INT15 = (0x15, "push dx\n push ax\n mov dx, 0x0EE0\n mov al, 0x15\n out dx, al\n pop ax\n pop dx\n"
               "mov ah, 0x86\n stc\n retf 2")
LGDT = (None, "lgdt [0x10]\n retf")                               # at f000:0120, for a far call


@pytest.fixture(scope="module")
def machine():
    return Machine(firmware([INT12, INT15, LGDT]), budget=100_000)


def one(machine, call, **kw):
    [outcome] = machine.run(lay_out(call), **kw) if kw else machine.run(lay_out(call))
    return outcome


def reasons(outcome):
    return " | ".join(outcome.report.reasons)


def test_int12_dispatches_through_the_ivt(machine):
    out = one(machine, interrupt(0x12))
    assert out.returned and out.report.verdict == "ok"
    assert out.regs.ax == 639
    assert [i["text"] for i in out.report.interrupts] == ["int 12h ax=0000h"]


def test_routine_that_hooks_a_vector_sees_its_own_handler():
    src = """
        xor ax, ax
        mov es, ax
        mov word ptr es:[0x180], offset handler
        mov es:[0x182], cs
        int 0x60
        ret
    handler:
        mov bx, 0x6060
        iret
    """
    m = Machine(firmware([INT12]), policy=Policy(writable=[(0x180, 0x184, "test hooks int 60h")]))
    out = one(m, Routine(src))
    assert out.report.verdict == "ok", reasons(out)
    assert out.regs.bx == 0x6060
    # the routine's own handler ran, not the firmware's dummy iret at f000:0000
    assert out.report.interrupts[0]["vector"] == 0x60


@pytest.mark.parametrize("source, reason", [
    ("l: jmp l\n ret", "no return within 100000 instructions: last cs:ip"),
    ("xor ax, ax\n mov es, ax\n mov word ptr es:[0x48], 0x1234\n ret", "to 0x00048 (the IVT)"),
    ("lgdt [0]\n ret", "privileged or mode-changing instruction in the routine: lgdt"),
    ("mov eax, cr0\n or al, 1\n mov cr0, eax\n ret", "instruction in the routine: mov cr0, eax at"),
    ("push ax\n ret", "stack unbalanced"),
    ("pop ax\n ret", "stack unbalanced"),
    ("hlt\n ret", "hlt"),
    ("ud2\n ret", "invalid opcode at cs:ip"),
    ("xor cx, cx\n div cx\n ret", "CPU exception #DE divide error"),
])
def test_hostile_routines_are_refused(machine, source, reason):
    out = one(machine, Routine(source, ax=0x1234))
    assert out.report.verdict == "refused"
    assert reason in reasons(out)
    assert not out.returned or "stack unbalanced" in reasons(out)


def test_reading_cr0_is_allowed(machine):
    assert one(machine, Routine("mov eax, cr0\n ret")).report.verdict == "ok"


def test_hlt_in_firmware_is_a_hazard_not_a_refusal():
    # the firmware halts for an interrupt (SeaBIOS's int 15h AH=86h does): the dry run stops there,
    # unverified, and says so (issue 10's ruling); a hlt in the routine itself is still refused
    m = Machine(firmware([(None, "hlt\n retf")]))
    out = one(m, far_call(0xF000, 0x100))
    assert out.report.verdict == "ok" and not out.returned
    assert [(h["kind"], h["at"], h["linear"]) for h in out.report.hazards] == [("hlt", "cs:ip f000:0100",
                                                                                0xF0100)]


def test_privileged_instruction_in_firmware_is_caught_dynamically(machine):
    out = one(machine, far_call(0xF000, 0x120))
    assert out.report.verdict == "refused"
    assert "GDTR changed" in reasons(out)


def test_unbalanced_stack_names_the_ret(machine):
    out = one(machine, Routine("pop ax\n ret"))
    assert "stack unbalanced: ret at sp=" in reasons(out)


FLAT = """
    mov dword ptr [0x200000], 0x11223344
    mov dword ptr [0x40000000], 0x55667788
    mov eax, [0x200000]
    mov [edi], eax
    mov eax, [0x40000000]
    mov [edi+4], eax
    mov eax, [0x80000000]
    mov [edi+8], eax
    ret
"""


def test_flat32_reads_and_writes_above_1mib():
    pages = [(0x200000, 0x201000, "test"), (0x40000000, 0x40001000, "test")]
    m = Machine(firmware(), policy=Policy(writable=pages))
    out = one(m, Routine(FLAT, mode="flat32", edi=Buffer(12)))
    assert out.report.verdict == "ok", reasons(out)
    assert out.buffers["edi"] == bytes.fromhex("44332211 88776655 00000000")
    assert m.read(0x40000000, 4) == bytes.fromhex("88776655")
    again = one(m, Routine("mov eax, [0x40000000]\n mov [edi], eax\n ret", mode="flat32",
                           edi=Buffer(4)))
    assert again.buffers["edi"] == bytes(4)        # the previous run's pages are gone: zeros


def test_flat32_writes_above_1mib_are_refused_by_default():
    out = one(Machine(firmware()), Routine(FLAT, mode="flat32", edi=Buffer(12)))
    assert "write of 4 bytes to 0x200000 (memory above 1 MiB)" in reasons(out)


def test_int_in_flat32_is_refused(machine):
    out = one(machine, Routine("int 0x15\n ret", mode="flat32"))
    assert "int 15h at eip" in reasons(out) and "flat32" in reasons(out)


def test_real16_and_flat32_calls_of_a_batch_share_memory(machine):
    calls = [Routine("xor ax, ax\n mov es, ax\n mov dword ptr es:[0x4F0], 0xCAFEF00D\n ret"),
             Routine("mov eax, [0x4F0]\n mov [edi], eax\n ret", mode="flat32", edi=Buffer(4)),
             interrupt(0x12)]
    outs = machine.run(lay_out(calls))
    assert [o.report.verdict for o in outs] == ["ok"] * 3, [reasons(o) for o in outs]
    assert outs[1].buffers["edi"] == struct.pack("<I", 0xCAFEF00D)
    assert outs[2].regs.ax == 639                  # back in real mode after flat32
    assert outs[0].report.writes == [(0x4F0, 0x4F4)]


def test_ports_are_logged_and_answered_by_devices(machine):
    src = "mov al, 0x0a\n out 0x70, al\n in al, 0x71\n mov bl, al\n mov dx, 0xcfc\n in eax, dx\n ret"
    out = one(machine, Routine(src))
    assert out.report.verdict == "ok"
    assert out.regs.bl == 0x26 and out.regs.eax == 0xFFFFFFFF
    assert [(p["dir"], p["port"], p["size"]) for p in out.report.ports] == [
        ("out", 0x70, 1), ("in", 0x71, 1), ("in", 0xCFC, 4)]


def test_unmodelled_port_reads_all_ones_and_policy_can_refuse():
    m = Machine(firmware())
    out = one(m, Routine("mov dx, 0x1234\n in ax, dx\n ret"))
    assert out.regs.ax == 0xFFFF
    m.policy = Policy(ports="refuse", allowed_ports={0x70})
    out = one(m, Routine("mov dx, 0x1234\n in ax, dx\n ret"))
    assert "port in 0x1234 (2 bytes)" in reasons(out)


def test_unknown_leaf_from_the_stub_trap_port(machine):
    """Unknown to the stub: refused, unless a read-only service (then an unknown-leaf hazard)."""
    out = one(machine, interrupt(0x15, ax=0xE8FF))
    thunk = lay_out(interrupt(0x15, ax=0xE8FF)).calls[0]
    assert out.report.verdict == "refused" and "int 15h ax=e8ffh at %04x:0000" % thunk.cs in reasons(out)
    assert [u["text"] for u in out.report.unknown_leaves] == ["unknown leaf int 15h ax=e8ffh"]
    assert out.regs.cf and out.regs.ah == 0x86
    assert all(p["port"] != 0x0EE0 for p in out.report.ports)
    from physcall.emulator import stubbios
    out = one(Machine(stubbios.build()), interrupt(0x14, ah=0x03))   # serial port status: read-only
    assert out.report.verdict == "ok" and [h["kind"] for h in out.report.hazards] == ["unknown-leaf"]


def test_budget_exhaustion_counts_the_budget():
    m = Machine(firmware(), budget=5000)
    out = one(m, Routine("l: inc ax\n jmp l\n ret"))
    assert out.report.instructions == 5000
    assert "no return within 5000 instructions" in reasons(out)


def test_reset_between_runs_leaves_no_state(machine):
    src = "mov bp, sp\n mov ax, [bp-40]\n mov word ptr [bp-40], 0x5a5a\n" \
          "xor bx, bx\n mov es, bx\n mov cx, es:[0x4F8]\n mov word ptr es:[0x4F8], 0x7777\n ret"
    first, second = one(machine, Routine(src)), one(machine, Routine(src))
    assert first.report.verdict == "ok", reasons(first)
    assert (first.regs.ax, first.regs.cx) == (second.regs.ax, second.regs.cx) == (0, 0)


def test_refused_call_stops_the_batch(machine):
    outs = machine.run(lay_out([Routine("hlt\n ret"), interrupt(0x12)]))
    assert outs[1].report.reasons == ["not run: call 0 of the batch was refused"]


class Exploding(Device):
    def read(self, port, size):
        raise RuntimeError("device model failed")


def test_a_hook_exception_is_never_swallowed():
    m = Machine(firmware(devices={0x99: Exploding()}))
    with pytest.raises(RuntimeError, match="device model failed"):
        m.run(lay_out(Routine("in al, 0x99\n ret")))


def test_report_is_json_ready_and_printable(machine):
    out = one(machine, interrupt(0x12))
    json.dumps(out.report.to_dict())
    assert "int 12h ax=0000h" in str(out.report)


def test_snapshot_loaders(tmp_path):
    fw = firmware(extra=[(0x40E, struct.pack("<H", 0x9FC0)), (0x9FC00, b"\x01")])
    path = tmp_path / "low.bin"
    path.write_bytes(fw.low)
    loaded = from_raw(str(path))
    assert loaded.low == fw.low
    assert (0x9FC00, 0xA0000) in [(lo, hi) for lo, hi, _ in snapshot_writable(fw.low)]


# -- review findings: what a real machine must never receive, and what a linear scan cannot see ---------

@pytest.mark.parametrize("src, reason", [
    ("mov dx, 0xcf9\nmov al, 6\nout dx, al\nret", "resets the machine"),
    ("mov al, 0xfe\nout 0x64, al\nret", "reset line"),
    ("in al, 0x92\nor al, 1\nout 0x92, al\nret", "fast reset"),
    ("int 0x19\nret", "bootstrap loader"),
    ("mov ax, 0x5307\nmov bx, 1\nmov cx, 3\nint 0x15\nret", "power off"),
    ("jmp l1\n.byte 0xb8\nl1: wrmsr\nret", "wrmsr"),
])
def test_resets_and_hidden_privileged_instructions_are_refused(src, reason):
    import physcall
    with pytest.raises(physcall.VerificationError) as err:
        physcall.invoke(physcall.Routine(src))
    assert reason in "; ".join(err.value.report.reasons)


def test_code_written_into_a_buffer_and_run_is_checked():
    import physcall
    # writes `lgdt [0]` + `retf` into its buffer, then far-calls it
    src = ("mov dword ptr es:[di], 0x0016010f\nmov word ptr es:[di+4], 0xcb00\n"
           "push es\npush di\nmov bp, sp\nlcall [bp]\nadd sp, 4\nret")
    with pytest.raises(physcall.VerificationError, match="lgdt"):
        physcall.invoke(physcall.Routine(src, es_di=physcall.Buffer(16)))



@pytest.mark.parametrize("mode, scratch, src", [
    # writes `lgdt [0]` + `retf` at 2800:0000, a range the caller granted, then far-calls it
    ("real16", (0x28000, 0x29000), "mov ax, 0x2800\nmov es, ax\nmov dword ptr es:[0], 0x0016010f\n"
     "mov word ptr es:[4], 0xcb00\nlcall 0x2800:0\nret"),
    # writes `wbinvd` + `ret` above 1 MiB, where the caller let it write, then calls it
    ("flat32", (0x200000, 0x201000), "mov dword ptr [0x200000], 0x00c3090f\nmov eax, 0x200000\ncall eax\nret"),
])
def test_code_written_into_a_granted_range_and_run_is_checked(mode, scratch, src, monkeypatch):
    """Policy.writable lets the batch write outside its window; code written there is checked like
    code in the window (a small batch's window does not cover 28000h), by the C filter in front of
    the check and by the Python check alone."""
    from physcall.emulator import stubbios
    from test_dispatch import run_both
    policy = Policy(writable=[scratch + ("scratch",)])
    for outcomes in run_both(lambda: Machine(stubbios.build(), policy=policy), [Routine(src, mode=mode)],
                             monkeypatch):
        report, word = outcomes[0][0], "lgdt" if mode == "real16" else "wbinvd"
        assert report["verdict"] == "refused" and any(word in r for r in report["reasons"])


def test_a_write_into_the_trampolines_block_is_refused_and_named():
    """The block sits right below a small batch's pages: a write there is refused, naming it."""
    import physcall
    from physcall import abi
    src = "mov ax, %#x\nmov es, ax\nmov byte ptr es:[0x10], 1\nret" % (abi.BLOCK_BASE >> 4)
    with pytest.raises(physcall.VerificationError, match=r"write of 1 bytes to %#x \(the trampoline" % (abi.BLOCK_BASE + 0x10)):
        physcall.invoke(physcall.Routine(src))
