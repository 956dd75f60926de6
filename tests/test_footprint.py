"""Small machines: the dry run's peak RSS and Unicorn's translation buffer.

Issue 8: a 256 MB machine without swap could not start the dry run (Unicorn's default 1 GiB buffer);
tests/guest/test_small_machine.py shows the dry run there, this shows the host's numbers.
"""

import json
import subprocess
import sys

from physcall.emulator import machine, stubbios

MAX_RSS_KB = 64 * 1024
# A wrapper process measures its one child: this test process's own RUSAGE_CHILDREN would also count
# every other test's subprocesses.
PEAK = ("import json, resource, subprocess, sys; "
        "p = subprocess.run([sys.executable, '-m', 'physcall', 'int', '0x12', '--json'], capture_output=True); "
        "print(json.dumps({'rc': p.returncode, 'err': p.stderr.decode()[-2000:], "
        "'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")


def test_peak_rss_of_int12_dry_run():
    got = json.loads(subprocess.run([sys.executable, "-c", PEAK], capture_output=True, text=True,
                                    timeout=120, check=True).stdout)
    assert got["rc"] == 0, got["err"]
    assert 0 < got["maxrss_kb"] <= MAX_RSS_KB, "peak RSS %.1f MB" % (got["maxrss_kb"] / 1024)


def test_machine_sets_its_translation_buffer():
    uc = machine.Machine(stubbios.build()).uc
    assert uc.ctl_get_tcg_buffer_size() == machine.TCG_BUFFER <= 64 << 20
