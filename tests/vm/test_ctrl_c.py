"""Ctrl-C in the middle of `physcall vm run`: one line, exit 130, and QEMU gone at once (no 10 s wait
for a power-off the busy guest would never answer)."""

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.guest


def _children(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open("/proc/%s/stat" % entry).read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def test_ctrl_c_during_vm_run(vm_setup):
    proc = subprocess.Popen([sys.executable, "-m", "physcall", "vm", "run", "--", "sleep", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=os.getcwd()))
    deadline, qemu = time.monotonic() + 60, []
    while not qemu and time.monotonic() < deadline:
        qemu = _children(proc.pid)
        time.sleep(0.2)
    time.sleep(10)                               # the guest boots and starts `sleep 120`
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.decode() == "physcall: interrupted (Ctrl-C)\n"
    assert time.monotonic() - sent < 8           # terminate, not a graceful power-off's 10 s timeout
    assert qemu and not [pid for pid in qemu if os.path.exists("/proc/%d" % pid)]
