"""examples/bios/all.py --backend vm: every example, for real, in one guest that boots once."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.guest
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "bios")
# Counts the boots of the run (physcall.vm.Guest._boot) without changing what the example does.
COUNTING = """
import runpy, sys
import physcall.vm.guest as guest
boots, boot = [], guest.Guest._boot
guest.Guest._boot = lambda self, *a, **k: (boots.append(1), boot(self, *a, **k))[1]
sys.path.insert(0, %r)
sys.argv = ["all.py", "--backend", "vm"]
runpy.run_path(%r, run_name="__main__")
print("boots:", len(boots))
"""


def test_all_examples_boot_one_guest():
    path = os.path.join(EXAMPLES, "all.py")
    proc = subprocess.run([sys.executable, "-c", COUNTING % (EXAMPLES, path)], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.strip().endswith("boots: 1")
    assert "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable" in out
    assert "PCI BIOS 2.10" in out and "_SM_" in out
    assert "0x0112[bb]: 640x480, 24 bpp, direct color, fb: 0xfd000000" in out
