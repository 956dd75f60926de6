"""Everything a user can get wrong ends in one line that names the cause, never a traceback.

The CLI: exit 1 for a PhyscallError, 2 for usage (argparse), one line on stderr.  invoke(): a
PhyscallError subclass, also the matching builtin (ValueError for a bad value, TypeError for a wrong
kind, PermissionError for a missing confirmation).
"""

import os
import subprocess
import sys

import pytest

import physcall
from physcall import Buffer, Routine, far_call, interrupt, invoke
from physcall.cli import main
from physcall.emulator.policy import Policy
from physcall.abi import MAX_CALLS

FILES = {
    "r.s": "mov ax, 1\nret\n",
    "empty.s": "\n",
    "bad.s": "mov ax,\nret\n",
    "loop.s": "l: jmp l\n",
    "nocalls.py": "import physcall\n",
    "syntax.py": "CALLS = [\n",
    "name.py": "CALLS = [physcall.interrupt(0x12)]\n",
    "badreg.py": "import physcall\nCALLS = physcall.interrupt(0x12, eax='x')\n",
    "notcalls.py": "CALLS = ['int 12h']\n",
    "calls.py": "import physcall\nCALLS = [physcall.interrupt(0x12)]\n",
    "short.bin": "0123456789",
}

# (argv, exit status); {d} is a directory holding FILES.
CLI_BAD = [
    (["int", "0x12", "eax"], 1),                         # registers
    (["int", "0x12", "qqq=1"], 1),
    (["int", "0x12", "eax=zz"], 1),
    (["int", "0x12", "eax=0x100000000"], 1),
    (["int", "0x12", "ax=-1"], 1),
    (["int", "0x12", "al=0x100"], 1),
    (["int", "0x12", "eax=1", "eax=2"], 1),
    (["int", "0x12", "es=0", "--buffer", "es_di=24"], 1),
    (["int", "0x12", "ax=1", "al=2"], 1),
    (["int", "0x100"], 1),                               # vectors
    (["int", "12"], 2),
    (["int", "xyz"], 2),
    (["int"], 2),
    (["int", "0x12", "--buffer", "edi=16"], 1),          # buffers
    (["int", "0x12", "--buffer", "es_di=0"], 1),
    (["int", "0x12", "--buffer", "es_di=abc"], 1),
    (["int", "0x12", "--buffer", "es_di"], 1),
    (["int", "0x12", "--buffer", "es_di=0x100000"], 1),
    (["run", "{d}/r.s", "--mode", "flat32", "--buffer", "es_di=16"], 1),
    (["run", "{d}/r.s", "--mode", "real32"], 2),         # modes
    (["asm", "{d}/r.s", "--mode", "v86"], 2),
    (["run", "{d}/missing.s"], 1),                       # files
    (["run", "{d}"], 1),
    (["run", "{d}/empty.s"], 1),
    (["run", "{d}/bad.s"], 1),
    (["run", "{d}/nocalls.py"], 1),
    (["run", "{d}/syntax.py"], 1),
    (["run", "{d}/name.py"], 1),
    (["run", "{d}/badreg.py"], 1),
    (["run", "{d}/notcalls.py"], 1),
    (["asm", "{d}/missing.s"], 1),
    (["asm", "{d}/bad.s"], 1),
    (["build", "{d}/calls.py", "-o", "{d}/no/such/dir/image.elf"], 1),
    (["int", "0x12", "--firmware", "{d}/missing.bin"], 1),
    (["int", "0x12", "--firmware", "{d}/short.bin"], 1),
    (["int", "0x12", "--budget", "x"], 2),               # options
    (["int", "0x12", "--allow", "bogus"], 2),             # a hazard kind that does not exist
    (["int", "0x12", "--bogus"], 2),
    (["asm", "{d}/r.s", "--origin", "zz"], 2),
    (["build", "{d}/calls.py"], 2),
    (["check", "--bogus"], 2),
    (["frobnicate"], 2),
    ([], 2),
    (["vm"], 2),
    (["int", "0x12", "--backend", "nope"], 1),           # backends
    (["int", "0x12", "--backend", "kexec"], 1),
    (["run", "{d}/loop.s", "--budget", "100000"], 1),    # the dry run refuses
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    for name, text in FILES.items():
        (d / name).write_text(text)
    return str(d)


@pytest.mark.parametrize("argv, status", CLI_BAD, ids=[" ".join(a) or "(none)" for a, _ in CLI_BAD])
def test_cli_bad_input_is_one_line(files, capsys, argv, status):
    argv = [a.format(d=files) for a in argv]
    try:
        rc = main(argv)
    except SystemExit as exc:            # argparse's own exit: usage
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == status, err
    assert err.startswith("physcall: ") and err.count("\n") == 1 and "Traceback" not in err, err


def test_the_real_command_too(files):
    """The console entry point (a subprocess, as a user runs it): one line, no traceback."""
    for argv, status in (["int", "0x12", "qqq=1"], 1), (["run", files + "/syntax.py"], 1), (["int", "12"], 2):
        proc = subprocess.run([sys.executable, "-m", "physcall", *argv], capture_output=True, text=True,
                              timeout=120, env=dict(os.environ, PYTHONPATH=os.getcwd()))
        assert proc.returncode == status and proc.stderr.count("\n") == 1, proc.stderr
        assert "Traceback" not in proc.stderr


def test_backend_aliases_work_on_the_command_line(capsys):
    for alias in ("unicorn", "emu", "dry", "emulator"):
        assert main(["int", "0x12", "--backend", alias, "--json"]) == 0
        assert '"backend": "emulator"' in capsys.readouterr().out


def _routine_loop():
    return invoke(Routine("l: jmp l"), budget=10_000)


INVOKE_BAD = [
    (lambda: interrupt(0x100), ValueError),
    (lambda: interrupt(-1), ValueError),
    (lambda: interrupt("0x12"), ValueError),
    (lambda: interrupt(0x12, eax=1 << 32), ValueError),
    (lambda: interrupt(0x12, eax="1"), TypeError),
    (lambda: interrupt(0x12, qqq=1), ValueError),
    (lambda: interrupt(0x12, ax=1, al=2), ValueError),
    (lambda: interrupt(0x12, es=0, es_di=Buffer(4)), ValueError),
    (lambda: interrupt(0x12, edi=Buffer(4)), ValueError),
    (lambda: Buffer(0), ValueError),
    (lambda: Buffer(-1), ValueError),
    (lambda: Buffer(size="x"), ValueError),
    (lambda: Buffer(4, data=b"12345"), ValueError),
    (lambda: Buffer(4, align=3), ValueError),
    (lambda: far_call(0x10000, 0), ValueError),
    (lambda: far_call(0, -1), ValueError),
    (lambda: Routine(""), ValueError),
    (lambda: Routine(None), ValueError),
    (lambda: Routine("ret", mode="real32"), ValueError),
    (lambda: Routine("ret", mode="flat32", es_di=Buffer(4)), ValueError),
    (lambda: invoke(Routine("bogus ax")), ValueError),
    (lambda: invoke(Routine("ret", entry="nolabel")), ValueError),
    (lambda: invoke(interrupt(0x12), backend="nope"), ValueError),
    (lambda: invoke(interrupt(0x12), backend=None), ValueError),
    (lambda: invoke(interrupt(0x12), backend="kexec"), PermissionError),
    (lambda: invoke(interrupt(0x12), backend="real", confirm="yes"), PermissionError),
    (lambda: invoke(interrupt(0x12), budgt=5), TypeError),
    (lambda: invoke(interrupt(0x12), backend="emulator", session=None), TypeError),
    (lambda: invoke(interrupt(0x12), firmware="/nonexistent/firmware.bin"), OSError),
    (lambda: invoke(interrupt(0x12), firmware=12), ValueError),
    (lambda: invoke(interrupt(0x12), policy=Policy(ports="maybe")), ValueError),
    (lambda: invoke([]), ValueError),
    (lambda: invoke([interrupt(0x12)] * (MAX_CALLS + 1)), ValueError),
    (lambda: invoke(interrupt(0x12, es_di=Buffer(0x80000))), ValueError),
    (lambda: invoke("int 12h"), TypeError),
    (lambda: invoke(None), TypeError),
    (lambda: invoke(interrupt(0x12), policy="refuse"), TypeError),
    (lambda: invoke(interrupt(0x12), backend="vm", session=object()), TypeError),
    (lambda: Buffer(4, data="abc"), ValueError),
    (lambda: invoke(interrupt(0x12), budget=0), ValueError),
    (lambda: invoke(interrupt(0x12), budget="x"), TypeError),
    (lambda: invoke(interrupt(0x12), allow=["bogus"]), ValueError),
    (lambda: invoke([interrupt(0x12), "int 11h"]), TypeError),
    (_routine_loop, physcall.PhyscallError),              # refused by the dry run
    (lambda: invoke(Routine("cli\nhlt\nret")), physcall.PhyscallError),
]


@pytest.mark.parametrize("make, builtin", INVOKE_BAD, ids=[str(i) for i in range(len(INVOKE_BAD))])
def test_invoke_bad_input_raises_from_the_one_tree(make, builtin):
    with pytest.raises(physcall.PhyscallError) as err:
        make()
    assert isinstance(err.value, builtin), type(err.value).__mro__
    assert str(err.value).strip()


def test_enough_bad_inputs():
    assert len(CLI_BAD) >= 30 and len(INVOKE_BAD) >= 30
