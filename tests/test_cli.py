"""The physcall command, run as a user would: a subprocess, JSON on stdout, errors on stderr."""

import json
import subprocess
import sys

import pytest

from physcall import toolchain


def physcall(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "physcall", *args], capture_output=True, text=True,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError("physcall %s failed (%d): %s" % (args, proc.returncode, proc.stderr))
    return proc


def test_int_json_has_every_register_and_nothing_else():
    proc = physcall("int", "0x12", "--json")
    doc = json.loads(proc.stdout)
    assert doc["backend"] == "emulator" and len(doc["results"]) == 1
    regs = doc["results"][0]["regs"]
    assert set(regs) == {"eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "ds", "es", "fs", "gs", "eflags"}
    assert regs["eax"] & 0xFFFF == 639
    assert doc["results"][0]["report"]["verdict"] == "ok"


def test_e820_buffer_comes_back_as_hex():
    proc = physcall("int", "0x15", "eax=0xe820", "ebx=0", "ecx=24", "edx=0x534d4150",
                    "--buffer", "es_di=24", "--json")
    result = json.loads(proc.stdout)["results"][0]
    entry = bytes.fromhex(result["buffers"]["es_di"])
    assert result["regs"]["eax"] == 0x534D4150 and not result["regs"]["eflags"] & 1
    assert int.from_bytes(entry[:8], "little") == 0 and int.from_bytes(entry[16:20], "little") == 1


def test_table_for_people():
    out = physcall("int", "0x12").stdout
    assert "int 12h" in out and "eax" in out and "0000027f" in out


def test_run_assembly_file(tmp_path):
    src = tmp_path / "r.s"
    src.write_text("mov ax, [val]\nret\nval: .word 0x1234\n")
    doc = json.loads(physcall("run", str(src), "--json").stdout)
    assert doc["results"][0]["regs"]["eax"] & 0xFFFF == 0x1234


def test_run_python_file_with_calls(tmp_path):
    src = tmp_path / "calls.py"
    src.write_text("import physcall\nCALLS = [physcall.interrupt(0x11), physcall.interrupt(0x12)]\n")
    doc = json.loads(physcall("run", str(src), "--json").stdout)
    assert len(doc["results"]) == 2


def test_asm_listing(tmp_path):
    src = tmp_path / "r.s"
    src.write_text("start: mov ax, 1\ncall f\nf: retf\n")
    out = physcall("asm", str(src)).stdout
    assert "start:" in out and "call" in out and "retf" in out


@pytest.mark.parametrize("args, needle", [
    (("int", "0x12", "eax"), "NAME=VALUE"),
    (("int", "0x12", "qqq=1"), "unknown register"),
    (("int", "0x12", "--backend", "nope"), "choose one of emulator, kexec, vm"),
    (("int", "0x12", "--buffer", "edi=16"), "segment:offset pair"),
])
def test_bad_input_is_one_clear_line(args, needle):
    proc = physcall(*args, check=False)
    assert proc.returncode == 1 and needle in proc.stderr and "Traceback" not in proc.stderr


def test_refused_routine_json_error_carries_report(tmp_path):
    src = tmp_path / "loop.s"
    src.write_text("l: jmp l\n")
    proc = physcall("run", str(src), "--budget", "100000", "--json", check=False)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1 and doc["error"]["type"] == "VerificationError"
    assert doc["error"]["report"]["verdict"] == "refused"


def test_kexec_backend_refuses_without_yes():
    proc = physcall("int", "0x12", "--backend", "kexec", check=False)
    assert proc.returncode == 1 and "--yes" in proc.stderr and "confirm=True" in proc.stderr


def test_check_json_on_this_machine_names_a_fix_for_each_failure():
    proc = physcall("check", "--json", check=False)
    doc = json.loads(proc.stdout)
    assert proc.returncode == (0 if doc["ok"] else 1)
    assert {c["name"] for c in doc["checks"]} >= {"root", "kexec-jump", "legacy-bios", "nothing-loaded"}
    assert all(c["fix"] for c in doc["checks"] if c["ok"] is False)


def test_ambiguous_decimal_vector_is_refused():
    proc = physcall("int", "12", check=False)
    assert proc.returncode == 2 and "0x12" in proc.stderr and "12h" in proc.stderr
    assert json.loads(physcall("int", "12h", "--json").stdout)["results"][0]["regs"]["eax"] & 0xFFFF == 639


def test_unknown_invoke_option_is_a_type_error():
    import physcall
    with pytest.raises(TypeError, match="budgt.*budget"):
        physcall.invoke(physcall.interrupt(0x12), budgt=5)


def test_build_writes_an_elf_that_gnu_readelf_reads(tmp_path):
    calls = tmp_path / "calls.py"
    calls.write_text("import physcall\nCALLS = [physcall.interrupt(0x12)]\n")
    out = tmp_path / "image.elf"
    physcall("build", str(calls), "-o", str(out))
    lines = subprocess.run(["readelf", "-lW", str(out)], capture_output=True, text=True, check=True).stdout
    loads = [l.split() for l in lines.splitlines() if l.strip().startswith("LOAD")]
    entry = toolchain.load_trampoline().entry          # pc_entry, wherever the linker script put it
    assert "Entry point %#x" % entry in lines and len(loads) <= 16
    assert any(int(l[3], 16) <= entry < int(l[3], 16) + int(l[5], 16) for l in loads)
    assert all(int(l[3], 16) % 4096 == 0 and 0x10000 <= int(l[3], 16) < 0x100000 for l in loads)


def test_build_json_names_the_segments_gnu_readelf_sees(tmp_path):
    calls = tmp_path / "calls.py"
    calls.write_text("import physcall\nCALLS = [physcall.interrupt(0x12), physcall.interrupt(0x11)]\n")
    out = tmp_path / "image.elf"
    doc = json.loads(physcall("build", str(calls), "-o", str(out), "--json").stdout)
    lines = subprocess.run(["readelf", "-lW", str(out)], capture_output=True, text=True, check=True).stdout
    loads = [l.split() for l in lines.splitlines() if l.strip().startswith("LOAD")]
    assert doc["path"] == str(out) and doc["calls"] == 2 and "Entry point %#x" % doc["entry"] in lines
    assert [(s["mem"], s["memsz"], s["filesz"]) for s in doc["segments"]] == \
        [(int(l[3], 16), int(l[5], 16), int(l[4], 16)) for l in loads]


def test_build_runs_the_dry_run_first(tmp_path):
    """README, Safety: every image is checked before it can run; a refused routine writes no image."""
    src = tmp_path / "hlt.s"
    src.write_text("cli\nhlt\nret\n")
    out = tmp_path / "image.elf"
    proc = physcall("build", str(src), "-o", str(out), check=False)
    assert proc.returncode == 1 and "dry run refused" in proc.stderr and not out.exists()


@pytest.mark.parametrize("regs, flags", [
    (("eax=0",), "CF"),                        # int 12h leaves FLAGS as given: CF preset
    (("eflags=0x2",), "-"),                    # nothing set: a dash, not an empty field
    (("eflags=0xcd5",), "CF PF AF ZF SF DF OF"),
])
def test_flags_line(regs, flags):
    """The routine returns the FLAGS it was given (pushf/popf would not change them here)."""
    lines = physcall("int", "0x12", *regs).stdout.splitlines()
    assert [l.split(None, 1)[1] if len(l.split()) > 1 else "" for l in lines if l.split()[:1] == ["flags"]] \
        == [flags]


def test_trace_shows_the_bios_handler():
    out = physcall("int", "0x12", "--trace").stdout
    assert "last instructions run" in out and "int 0x12" in out and "iret" in out
