"""Hostile routines and calls, tried as an attacker or a careless user would: each must be refused (or,
for hazards, flagged) with a message that names the cause and the place (a line, or cs:ip / eip),
within 10 s, through the library and through the CLI (a refusal: exit 1 and one line on stderr; a
hazard: exit 0 and the hazard printed; never a traceback).

A case is ``(id, mode, source or calls, cause, place)``: ``cause`` and ``place`` are regular expressions
the message must match.  Sources are assembly; a case whose source starts with ``#py`` is a Python
CALLS file.
"""

import re
import subprocess
import sys
import time

import pytest

import physcall
from physcall.layout import lay_out
from physcall import AssemblyError, PhyscallError

R16, F32 = "real16", "flat32"
LINE = r"line \d+"

# -- the assembler never lies and never hangs ---------------------------------------------------
ASM = [
    ("percent-start", R16, "nop\n%define X 1\nret", r"'%'", "line 2"),
    ("percent-end", F32, "mov eax, 1 %\nret", r"'%'", "line 1"),
    ("percent-reg", R16, "mov %ax, 1\nret", r"'%'", "line 1, column 5"),
    ("nul-byte", R16, "mov ax, 1\x00\nret", r"NUL", "line 1, column 10"),
    ("nul-byte-32", F32, "nop\nret\x00 junk", r"NUL", "line 2"),
    ("non-ascii", R16, "mov ax, 1\nmov al, 'é'\nret", r"U\+00E9", "line 2, column 10"),
    ("non-ascii-32", F32, "mov eax, 1 ‐ 1\nret", r"U\+2010", "line 1"),
    ("nasm-size-imm", R16, "mov ax, word 5\nret", r"size word", "line 1"),
    ("empty-operand", R16, "mov ax,\nret", r"empty operand", "line 1"),
    ("empty-operand-32", F32, "nop\nadd eax, , 1\nret", r"empty operand", "line 2"),
    ("trunc-byte", R16, "mov al, 300\nret", r"does not fit in 8 bits", "line 1"),
    ("trunc-word", R16, "mov ax, 0x10000\nret", r"does not fit in 16 bits", "line 1"),
    ("trunc-word-32", F32, "nop\nmov ax, 0x10000\nret", r"does not fit in 16 bits", "line 2"),
    ("trunc-mem-imm", F32, "mov byte ptr [eax], 256\nret", r"does not fit in 8 bits", "line 1"),
    ("trunc-push", R16, "push 0x12345\nret", r"does not fit in 16 bits", "line 1"),
    ("trunc-disp16", R16, "mov ax, [0x12345]\nret", r"displacement .* 16 bits", "line 1"),
    ("trunc-data", R16, "ret\n.word 0x10000", r"does not fit in 16 bits", "line 2"),
    ("trunc-define", R16, "big: .equ BIG, 0x1234\nmov al, BIG\nret", r"8 bits", "line 2"),
    ("ambiguous-far", R16, "call dword ptr [bx]\nret", r"far call for GNU as", "line 1"),
    ("branch-out-of-segment", R16, "jmp 0x12345\nret", r"outside the 64 KiB", "line 1"),
    ("unknown-directive", R16, ".incbin \"/etc/passwd\"\nret", r"directive", "line 1"),
    ("undefined-label", F32, "nop\njmp nowhere\nret", r"undefined symbol", "line 2"),
]


@pytest.mark.parametrize("case", ASM, ids=[c[0] for c in ASM])
def test_assembler_refuses(case):
    _, mode, source, cause, place = case
    start = time.monotonic()
    with pytest.raises(AssemblyError) as err:
        physcall.asm(source, mode)
    assert re.search(cause, str(err.value)) and re.search(place, str(err.value)), str(err.value)
    assert err.value.line == int(re.search(r"line (\d+)", place).group(1))
    assert time.monotonic() - start < 10


def test_bad_utf8_names_line_and_column():
    with pytest.raises(AssemblyError, match=r"line 2, column 9: byte 0xff is not UTF-8"):
        physcall.asm(b"nop\nmov al, \xff\nret")


def test_a_keystone_hang_is_stopped_by_the_timeout():
    """'%' reaches Keystone only through the worker directly: the timeout must end it, and the next
    request must work (a new worker)."""
    from physcall.asmworker import keystone_asm
    start = time.monotonic()
    with pytest.raises(AssemblyError, match="did not finish within"):
        keystone_asm("real16", "%", 0, timeout=0.5)
    assert time.monotonic() - start < 3
    assert keystone_asm("real16", "nop", 0) == (b"\x90", None)


def test_nasm_size_words_assemble_like_ptr():
    for mode in (R16, F32):
        assert physcall.asm("mov byte [si], 1\ninc word [bx]", mode).code == \
            physcall.asm("mov byte ptr [si], 1\ninc word ptr [bx]", mode).code != b""


def test_flat32_far_call_into_firmware_returns():
    """Keystone's 32-bit ``push cs`` was a 2-byte push, so ``retf`` returned to garbage."""
    code = physcall.asm("push cs\ncall f\nret\nf: retf", F32).code
    assert code[:1] == b"\x0e"


# -- the listing ---------------------------------------------------------------------------------
def test_cli_asm_listing_covers_every_line(tmp_path):
    src = "start: mov ax, 1\n; nothing\n\ncall f\nmsg: .ascii \"BIOS\"\njz start\nf: retf\n"
    path = tmp_path / "l.s"
    path.write_text(src)
    out = subprocess.run([sys.executable, "-m", "physcall", "asm", str(path)], capture_output=True,
                         text=True, timeout=60).stdout
    numbers = [int(m) for m in re.findall(r"^ {0,5}(\d+)  ", out, re.M)]
    assert numbers == [1, 4, 5, 6, 7]
    listed = bytes.fromhex("".join(re.findall(r"^\s+[0-9a-f]{5}  ([0-9a-f]+)", out, re.M)))
    assert listed == physcall.asm(src).code


# -- calls are unambiguous ----------------------------------------------------------------------
def test_buffers_sharing_a_segment_register_share_its_value():
    from physcall.layout import lay_out
    p = lay_out(physcall.interrupt(0x15, ds_si=physcall.Buffer(24), ds_di=physcall.Buffer(24))).calls[0]
    (si_at, _), (di_at, _) = p.buffers["ds_si"], p.buffers["ds_di"]
    assert (p.regs.ds << 4) + p.regs.si == si_at and (p.regs.ds << 4) + p.regs.di == di_at
    assert si_at != di_at


def test_buffers_sharing_a_segment_that_cannot_fit_are_refused():
    from physcall.errors import LayoutError
    with pytest.raises(LayoutError, match=r"ds_si and ds_di share DS"):
        physcall.invoke(physcall.interrupt(0x15, ds_si=physcall.Buffer(0x100),
                                           ds_di=physcall.Buffer(0xFFF8)))


CALL_CONFLICTS = [
    ("es-and-es_di", dict(es=0x1000, es_di=physcall.Buffer(24)), r"register es is set twice: by es= and by es_di="),
    ("di-and-es_di", dict(di=4, es_di=physcall.Buffer(24)), r"register edi .* by di= and by es_di="),
    ("edi-and-es_di", dict(es_di=physcall.Buffer(24), edi=4), r"register edi .* by es_di= and by edi="),
    ("ax-and-al", dict(ax=0x4F00, al=1), r"register eax .* by ax= and by al="),
    ("es_di-and-ds_di", dict(es_di=physcall.Buffer(8), ds_di=physcall.Buffer(8)), r"register edi .* es_di= and by ds_di="),
]


@pytest.mark.parametrize("case", CALL_CONFLICTS, ids=[c[0] for c in CALL_CONFLICTS])
def test_a_register_set_twice_is_refused_with_the_names(case):
    from physcall.errors import CallError
    with pytest.raises(CallError, match=case[2]):
        physcall.interrupt(0x15, **case[1])


def test_cli_refuses_a_register_given_twice():
    proc = subprocess.run([sys.executable, "-m", "physcall", "int", "0x15", "eax=1", "eax=2"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "eax" in proc.stderr and "twice" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "physcall", "int", "0x15", "es=0x1000", "--buffer",
                           "es_di=24"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "es= and by es_di=" in proc.stderr


# -- the budget is a contract -------------------------------------------------------------------
LOOP = {R16: "l: inc ax\njmp l\nret", F32: "l: inc eax\njmp l\nret"}


@pytest.mark.parametrize("mode", (R16, F32))
@pytest.mark.parametrize("budget", [1, 2, 3, 17, 1000, 123457])
def test_the_run_stops_at_exactly_the_budget(mode, budget):
    from physcall import VerificationError
    with pytest.raises(VerificationError) as err:
        physcall.invoke(physcall.Routine(LOOP[mode], mode=mode), budget=budget)
    report = err.value.report
    assert report.instructions == budget
    assert "no return within %d instructions: last %s" % (budget, "cs:ip" if mode == R16 else "eip") \
        in str(err.value)


def test_a_long_straight_run_is_stopped_far_below_the_old_4m_floor():
    """600 k instructions against a budget of 1000: refused at 1000, not '<= 1000' after the run."""
    from physcall import VerificationError
    src = "mov cx, 60000\nl:\n" + "nop\n" * 8 + "loop l\nret"
    with pytest.raises(VerificationError, match="no return within 1000 instructions") as err:
        physcall.invoke(physcall.Routine(src), budget=1000)
    assert err.value.report.instructions == 1000


@pytest.mark.parametrize("loops", [1, 10, 1000])
def test_the_report_gives_the_real_count(loops):
    # thunk `call` + mov + loops x loop + ret + the thunk's retf: counted by hand
    result = physcall.invoke(physcall.Routine("mov cx, %d\nl: loop l\nret" % loops))
    assert result.report.instructions == 1 + 1 + loops + 1 + 1
    result = physcall.invoke(physcall.Routine("mov ecx, %d\nl: dec ecx\njnz l\nret" % loops, mode=F32))
    assert result.report.instructions == 1 + 2 * loops + 1


def test_int16_waiting_for_a_key_stops_at_the_budget():
    """The firmware waits on what the dry run cannot model: a `wait` hazard (the snapshot issue's
    ruling), after exactly the budget."""
    start = time.monotonic()
    report = physcall.invoke(physcall.interrupt(0x16, ah=0x00), budget=200000).report
    assert report.instructions == 200000 and time.monotonic() - start < 10
    assert [h["kind"] for h in report.hazards] == ["wait"] and "200000" in report.hazards[0]["text"]


@pytest.mark.parametrize("budget", [0, -1, 1.5, True])
def test_a_budget_below_one_is_refused(budget):
    from physcall.errors import OptionError, UsageError     # a bad value, or a budget that is no number
    with pytest.raises((OptionError, UsageError), match="1 or more"):
        physcall.invoke(physcall.interrupt(0x12), budget=budget)


@pytest.mark.parametrize("budget", ["0", "-1"])
def test_cli_refuses_a_budget_below_one(budget):
    proc = subprocess.run([sys.executable, "-m", "physcall", "int", "0x12", "--budget", budget],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "1 or more" in proc.stderr and "Traceback" not in proc.stderr


def test_ctrl_c_stops_a_dry_run_at_once(tmp_path):
    import signal
    path = tmp_path / "spin.s"
    path.write_text("l: jmp l\nret\n")
    proc = subprocess.Popen([sys.executable, "-m", "physcall", "run", str(path), "--budget",
                             str(10 ** 13)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)                       # well inside the run: 10^13 instructions take hours
    assert proc.poll() is None
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 5              # the next block; the rest is interpreter exit
    assert proc.returncode == 130 and len(err.strip().splitlines()) == 1, err
    assert "interrupted" in err and "Traceback" not in err


# -- routines: ports by effect, control flow by any path ----------------------------------------
IVT_CALL = "xor ax, ax\nmov es, ax\n%s\npushf\ncall far es:[%#x]\nret"      # int n without `int`
AT16, AT32 = r"cs:ip [0-9a-f]{4}:[0-9a-f]{4}", r"eip [0-9a-f]{8}"
# The code segment a one-routine batch runs in, as lay_out places it: a report names the routine's own
# address, not some other.
ROUTINE_CS = "%04x:" % lay_out(physcall.Routine("ret")).calls[0].cs
ROUTINES = [
    # (id, mode, source, cause, place, "refused" or a hazard kind)
    ("cf9-reset", R16, "mov dx, 0xcf9\nmov al, 6\nout dx, al\nret", r"0cf9h.*RST_CPU", AT16, "refused"),
    ("cf9-reset-32", F32, "mov dx, 0xcf9\nmov al, 0x0e\nout dx, al\nret", r"0cf9h.*RST_CPU", AT32, "refused"),
    ("cf9-by-word", R16, "mov dx, 0xcf8\nmov ax, 0x0600\nout dx, ax\nret", r"0cf9h", AT16, "refused"),
    ("kbc-pulse", R16, "mov al, 0xfe\nout 0x64, al\nret", r"8042 command feh pulses", AT16, "refused"),
    ("kbc-pulse-32", F32, "mov al, 0xf0\nout 0x64, al\nret", r"8042 command f0h pulses", AT32, "refused"),
    ("kbc-output-reset", R16, "mov al, 0xd1\nout 0x64, al\nmov al, 0xdc\nout 0x60, al\nret",
     r"output port dch .* resets", AT16, "refused"),
    ("kbc-output-a20", F32, "mov al, 0xd1\nout 0x64, al\nmov al, 0xdd\nout 0x60, al\nret",
     r"output port ddh .* A20 off", AT32, "refused"),
    ("kbc-dd-a20", R16, "mov al, 0xdd\nout 0x64, al\nret", r"8042 command ddh turns A20 off", AT16, "refused"),
    ("port92-reset", R16, "in al, 0x92\nor al, 1\nout 0x92, al\nret", r"port 92h = 03h .*fast reset", AT16,
     "refused"),
    ("port92-a20-off", R16, "in al, 0x92\nand al, 0xfd\nout 0x92, al\nret", r"port 92h = 00h .*A20 off",
     AT16, "refused"),
    ("port92-a20-off-32", F32, "mov al, 0\nout 0x92, al\nret", r"port 92h = 00h .*A20 off", AT32, "refused"),
    ("acpi-pm1a-piix", R16, "mov dx, 0xb004\nmov ax, 0x2000\nout dx, ax\nret", r"PM1 control b004h.*SLP_EN",
     AT16, "refused"),
    ("acpi-pm1a-q35-byte", F32, "mov dx, 0x605\nmov al, 0x34\nout dx, al\nret", r"PM1 control 0604h", AT32,
     "refused"),
    ("acpi-pm1a-ich", R16, "mov dx, 0x404\nmov ax, 0x3c00 | 0x2000\nout dx, ax\nret", r"SLP_TYP 7",
     AT16, "refused"),
    ("int15-a20-off", R16, "mov ax, 0x2400\nint 0x15\nret", r"int 15h ax=2400h turns A20 off",
     AT16, "refused"),
    ("int15-a20-off-farcall", R16, "mov bx, 0x2400\n" + IVT_CALL % ("mov ax, bx", 0x15 * 4),
     r"int 15h handler with ax=2400h", AT16, "refused"),
    ("int19-farcall", R16, IVT_CALL % ("nop", 0x19 * 4), r"int 19h handler", AT16, "refused"),
    ("int18-farcall", R16, IVT_CALL % ("nop", 0x18 * 4), r"int 18h handler", AT16, "refused"),
    ("int19-retf", R16, "xor ax, ax\nmov es, ax\npush word ptr es:[0x66]\npush word ptr es:[0x64]\nretf",
     r"int 19h handler", AT16, "refused"),
    ("apm-off-farcall", R16, "mov bx, 0x5307\n" + IVT_CALL % ("mov ax, bx", 0x15 * 4),
     r"ax=5307h \(APM set power state\)", AT16, "refused"),
    ("apm-off-int", R16, "mov ax, 0x5307\nmov bx, 1\nmov cx, 3\nint 0x15\nret", r"5307h", AT16, "refused"),
    ("reset-vector-jmp", R16, "jmp 0xf000:0xfff0", r"reset vector f000:fff0", AT16, "refused"),
    ("reset-vector-alias", R16, "jmp 0xffff:0x0000", r"reset vector f000:fff0", AT16, "refused"),
    ("reset-vector-32", F32, "mov eax, 0xfffffff0\njmp eax", r"reset vector fffffff0h", AT32, "refused"),
    ("reset-vector-32-low", F32, "mov eax, 0xffff0\njmp eax", r"reset vector f000:fff0", AT32, "refused"),
    # services that write, by their parameters; leaves the stub does not model
    ("int13-write", R16, "mov ax, 0x0301\nmov cx, 1\nmov dx, 0x80\nxor bx, bx\nint 0x13\nret",
     r"int 13h ah=03h \(write sectors\) writes to drive 80h", AT16, "refused"),
    ("int13-ext-write", R16, "mov ax, 0x4300\nmov dl, 0x80\nmov si, offset pkt\nint 0x13\nret\npkt: .fill 16, 1, 0",
     r"ah=43h \(extended write\)", AT16, "refused"),
    ("int13-write-farcall", R16, "mov cx, 1\nmov dx, 0x80\nmov bx, 0x0301\n"
     + IVT_CALL % ("mov ax, bx", 0x13 * 4), r"ah=03h \(write sectors\)", AT16, "refused"),
    ("int13-read-into-ivt", R16, "xor bx, bx\nmov es, bx\nmov ax, 0x0201\nmov cx, 1\nmov dx, 0x80\n"
     "int 0x13\nret", r"ah=02h \(read 1 sectors\) would write 0x0-0x200", AT16, "refused"),
    ("int13-ext-read-high", R16, "mov ah, 0x42\nmov dl, 0x80\nmov si, offset pkt\nint 0x13\nret\n"
     "pkt: .byte 16, 0\n.word 8, 0xffff, 0xffff\n.long 0, 0\n.long 0x100000, 0",
     r"ah=42h \(extended read of 8 sectors\) would write 0x100000-0x101000", AT16, "refused"),
    ("int15-move-into-ivt", R16, "push cs\npop es\nmov si, offset gdt\nmov cx, 8\nmov ah, 0x87\nint 0x15\nret\n"
     "gdt: .fill 16, 1, 0\n.word 0xffff, 0x0000\n.byte 0x10, 0x93, 0, 0\n.word 0xffff, 0x0000\n"
     ".byte 0x00, 0x93, 0, 0\n.fill 16, 1, 0", r"ah=87h \(block move of 8 words\) would write 0x0-0x10",
     AT16, "refused"),
    ("int15-move-farcall", R16, "push cs\npop es\nmov si, offset gdt\nmov cx, 8\nmov bx, 0x8700\n"
     + IVT_CALL.replace("xor ax, ax\nmov es, ax", "xor ax, ax\nmov ds, ax").replace("es:[", "ds:[")
     % ("mov ax, bx", 0x15 * 4) + "\ngdt: .fill 24, 1, 0\n.word 0xffff, 0x0000\n.byte 0x00, 0x93, 0, 0\n"
     ".fill 16, 1, 0", r"ah=87h .* would write 0x0-0x10", AT16, "refused"),
    ("stub-unknown-leaf-15", R16, "mov ax, 0xe8ff\nint 0x15\nret", r"int 15h ax=e8ffh at %s[0-9a-f]{4}: "
     "the stub BIOS has no model" % ROUTINE_CS, ROUTINE_CS, "refused"),
    ("stub-unknown-leaf-10", R16, "mov ax, 0x4f3f\nint 0x10\nret", r"int 10h ax=4f3fh .* no model",
     ROUTINE_CS, "refused"),
    ("stub-unknown-leaf-16", R16, "mov ah, 0x77\nint 0x16\nret", r"int 16h ax=77..h .* not a read-only",
     ROUTINE_CS, "refused"),
    ("stub-read-only-leaf", R16, "mov ah, 0x03\nxor dx, dx\nint 0x14\nret", r"unknown leaf int 14h",
     AT16, "unknown-leaf"),
    # real-mode limits
    ("ip-past-ffff", R16, "jmp start\ntail: .fill 32, 1, 0x90\nret\nstart: mov ax, cs\nmov bx, offset tail\n"
     "mov cx, bx\nshr cx, 4\nsub ax, 0x0fff\nadd ax, cx\npush ax\nand bx, 15\nadd bx, 0xfff0\npush bx\nretf",
     r"runs past offset ffffh of its 64 KiB segment", r"cs:ip [0-9a-f]{4}:fff[0-9a-f]", "refused"),
    ("ip-past-ffff-farjmp", R16, "jmp 0x8fff:0xfff0", r"runs past offset ffffh", r"cs:ip 8fff:fff0", "refused"),
    # flat32 segments: the trampoline's GDT, null selectors
    ("null-ds", F32, "xor eax, eax\nmov ds, ax\nmov eax, [0x1000]\nret", r"null selector 0000h into DS",
     AT32, "refused"),
    ("null-es-pop", F32, "push 0\npop es\nmov edi, 0x1000\nstosb\nret", r"pop es .*null selector 0000h into ES",
     AT32, "refused"),
    ("null-gs-mem", F32, "mov word ptr [esp-8], 3\nmov gs, [esp-8]\nret", r"null selector 0003h into GS",
     AT32, "refused"),
    ("null-ds-lds", F32, "mov dword ptr [esp-8], 0\nmov word ptr [esp-4], 0\nlds eax, [esp-8]\nret",
     r"lds .*null selector 0000h into DS", AT32, "refused"),
    ("selector-past-gdt", F32, "mov ax, 0x40\nmov ds, ax\nret", r"#GP general protection .* triple fault",
     AT32, "refused"),
    ("write-the-gdt", F32, "sgdt [esp-8]\nmov eax, [esp-6]\nmov byte ptr [eax+0x1d], 0\nret",
     r"write of 1 bytes to 0x120", AT32, "refused"),
    # reads the dry run cannot see: hazards, and writes after them restricted
    ("unknown-read-high", F32, "mov eax, [0x300000]\nret", r"read of 0x300000: RAM above 1 MiB", AT32,
     "unknown-read"),
    ("unknown-read-hma", R16, "mov ax, 0xffff\nmov es, ax\nmov al, es:[0x20]\nret", r"read of 0x100010: the HMA",
     AT16, "unknown-read"),
    ("cpuid", R16, "xor eax, eax\ncpuid\nret", r"cpuid \(eax=0x0\)", AT16, "unknown-read"),
    ("cpuid-32", F32, "mov eax, 1\ncpuid\nret", r"cpuid \(eax=0x1\)", AT32, "unknown-read"),
    ("rdtsc-32", F32, "rdtsc\nret", r"rdtsc: a counter", AT32, "unknown-read"),
    ("smi-b2", R16, "xor al, al\nout 0xb2, al\nret", r"port 00b2h", AT16, "smi"),
    ("smi-b2-32", F32, "mov al, 0x0f\nout 0xb2, al\nret", r"port 00b2h", AT32, "smi"),
]


def _verdict(case):
    name, mode, source, cause, place, expect = case
    from physcall import VerificationError
    start = time.monotonic()
    try:
        result = physcall.invoke(physcall.Routine(source, mode=mode))
    except VerificationError as exc:
        return "refused", str(exc), time.monotonic() - start
    hazards = result.report.hazards
    text = "; ".join("%s at %s: %s" % (h["kind"], h["at"], h["text"]) for h in hazards)
    return (hazards[0]["kind"] if hazards else "ok"), text, time.monotonic() - start


@pytest.mark.parametrize("case", ROUTINES, ids=[c[0] for c in ROUTINES])
def test_routine_is_refused_or_flagged(case):
    got, text, took = _verdict(case)
    assert got == case[5], text
    assert re.search(case[3], text) and re.search(case[4], text), text
    assert took < 10


def test_a_real16_routine_over_64k_is_refused_at_layout():
    from physcall.errors import LayoutError
    with pytest.raises(LayoutError, match=r"real16 routine of 65540 bytes does not fit its 64 KiB"):
        physcall.invoke(physcall.Routine(".fill 65539, 1, 0x90\nret"))
    assert physcall.invoke(physcall.Routine(".fill 70000, 1, 0x90\nret", mode=F32)).report.verdict == "ok"


def test_flat32_segment_loads_use_the_trampolines_selectors():
    """Reloading DS with the trampoline's data selector, and a far return through `push cs`, work as
    on the real machine (the dry run runs on the trampoline's own GDT)."""
    from physcall import abi
    src = "mov ax, %#x\nmov ds, ax\nmov es, ax\nmov eax, [0x413]\npush cs\ncall f\nret\nf: retf" % abi.SEL_DATA
    assert physcall.invoke(physcall.Routine(src, mode=F32)).report.verdict == "ok"


@pytest.mark.parametrize("mode, source", [
    (F32, "mov eax, [0x300000]\ntest eax, eax\njnz skip\nmov [0x200000], eax\nskip: ret"),
    (F32, "cpuid\nmov [0x200100], ebx\nret"),
    (R16, "mov ax, 0xffff\nmov es, ax\nmov al, es:[0x20]\nmov bx, 0x2800\nmov es, bx\nmov es:[0], al\nret"),
])
def test_after_an_unknown_read_only_the_calls_own_memory_is_writable(mode, source):
    """Data-dependent code: the branch the dry run takes may not be the real one, so a write to a
    range the caller granted (Policy.writable) after an unknown read is refused, naming both."""
    from physcall import VerificationError
    from physcall.emulator.policy import Policy
    scratch = (0x28000, 0x29000) if mode == R16 else (0x200000, 0x201000)
    with pytest.raises(VerificationError, match=r"after the unknown read at (cs:ip|eip) .*only the call's"):
        physcall.invoke(physcall.Routine(source, mode=mode), policy=Policy(writable=[scratch + ("scratch",)]))


def test_acpi_pm1_ports_come_from_the_fadt_when_the_image_has_one():
    """A firmware image with a FADT (as snapshots carry above 1 MiB) names its own PM1a/PM1b control
    ports (ACPI 6.5, 5.2.9: offsets 64 and 68); those are watched beside the common addresses."""
    import struct as st
    from physcall import VerificationError
    from physcall.emulator import stubbios
    from physcall.emulator.firmware import Firmware
    fadt = bytearray(244)
    fadt[0:4] = b"FACP"
    st.pack_into("<II", fadt, 64, 0x2204, 0x2304)
    stub = stubbios.build()
    fw = Firmware("stub + FADT", stub.low, stub.writable, high=[(0x7FE0000, bytes(fadt))])
    for port in (0x2204, 0x2304, 0xB004):
        with pytest.raises(VerificationError, match=r"PM1 control %04xh" % port):
            physcall.invoke(physcall.Routine("mov dx, %#x\nmov ax, 0x3400\nout dx, ax\nret" % port), firmware=fw)
    assert physcall.invoke(physcall.Routine("mov dx, 0x2204\nmov ax, 0x1c00\nout dx, ax\nret"),
                           firmware=fw).report.verdict == "ok"           # SLP_EN clear: no transition


def test_port92_reads_back_a20_on_and_an_honest_read_modify_write_passes():
    for mode in (R16, F32):
        result = physcall.invoke(physcall.Routine("in al, 0x92\nor al, 2\nout 0x92, al\nin al, 0x92\nret",
                                                  mode=mode))
        assert result.report.verdict == "ok" and result.regs.al == 0x02



# -- every case above through the CLI ------------------------------------------------------------
def _cli_case(tmp_path, name, mode, source):
    path = tmp_path / ("%s.s" % name)
    path.write_bytes(source.encode("utf-8"))
    return subprocess.run([sys.executable, "-m", "physcall", "run", str(path), "--mode", mode],
                          capture_output=True, text=True, timeout=120)


def test_every_case_through_the_cli(tmp_path):
    """Refused: exit 1 and one line on stderr naming cause and place.  Hazard: exit 0 and the hazard
    printed (kind at place).  Never a traceback.  Run four at a time."""
    from concurrent.futures import ThreadPoolExecutor
    cases = [(n, m, src, cause, place, "refused") for n, m, src, cause, place in ASM] + ROUTINES
    with ThreadPoolExecutor(4) as pool:
        procs = list(pool.map(lambda c: _cli_case(tmp_path, c[0], c[1], c[2]), cases))
    wrong = []
    for (name, mode, _, cause, place, expect), proc in zip(cases, procs):
        err = proc.stderr.strip().splitlines()
        if "Traceback" in proc.stderr + proc.stdout:
            wrong.append("%s: traceback" % name)
        elif expect == "refused":
            if proc.returncode != 1 or len(err) != 1 or not re.search(cause, err[0]) \
                    or not re.search(place, err[0]):
                wrong.append("%s: exit %d, stderr %r" % (name, proc.returncode, proc.stderr[-300:]))
        elif proc.returncode != 0 or not re.search(r"hazards\s+.*%s at %s" % (expect, place), proc.stdout):
            wrong.append("%s: exit %d, stdout %r" % (name, proc.returncode, proc.stdout[-300:]))
    assert not wrong, "\n".join(wrong)


def test_the_hostile_file_holds_at_least_60_cases_in_both_modes():
    cases = ASM + [c[:5] for c in ROUTINES]
    assert len(cases) + len(CALL_CONFLICTS) >= 60
    assert {c[1] for c in cases} == {R16, F32}
