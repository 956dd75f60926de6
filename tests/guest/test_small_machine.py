"""physcall on a small machine: the dry run inside a 256 MB guest with no swap.

Unicorn's default translation buffer is one 1 GiB mmap, which such a machine refuses; physcall sets
its own size (physcall.emulator.machine.TCG_BUFFER).  The peak RSS of ``physcall int 0x12`` is
measured in the guest by the parent's getrusage (RUSAGE_CHILDREN: the child's ru_maxrss).
"""

import json

import pytest

from conftest import boot

pytestmark = pytest.mark.guest
MAX_RSS_KB = 64 * 1024
PEAK = ("import json, resource, subprocess, sys; "
        "p = subprocess.run([sys.executable, '-m', 'physcall', 'int', '0x12', '--json'], capture_output=True); "
        "print(json.dumps({'rc': p.returncode, 'out': p.stdout.decode(), 'err': p.stderr.decode()[-3000:], "
        "'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
DEFAULT_TCG = "from unicorn import *; Uc(UC_ARCH_X86, UC_MODE_32).mem_map(0, 4096); print('fits')"


@pytest.fixture(scope="module")
def small_guest():
    with boot(memory="256M") as g:
        yield g


def test_dry_run_in_256mb_guest(small_guest):
    rc, out, err = small_guest.run([small_guest.python, "-c", PEAK], timeout=180)
    assert rc == 0, err
    got = json.loads(out)
    assert got["rc"] == 0, got["err"]
    result = json.loads(got["out"])["results"][0]
    print("peak RSS of `python3 -m physcall int 0x12` in the 256 MB guest: %.1f MB" % (got["maxrss_kb"] / 1024))
    assert result["regs"]["eax"] & 0xFFFF == 639 and result["report"]["verdict"] == "ok"
    assert 0 < got["maxrss_kb"] <= MAX_RSS_KB


def test_unicorn_default_buffer_does_not_fit_there(small_guest):
    """The premise: without physcall's TCG_BUFFER the same guest cannot start Unicorn at all (Unicorn
    exits the process rather than raise)."""
    rc, out, err = small_guest.run([small_guest.python, "-c", DEFAULT_TCG], timeout=120)
    assert rc != 0 and b"Could not allocate dynamic translator buffer" in err and b"fits" not in out
