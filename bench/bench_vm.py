"""Benchmark of the test machine: boot-to-ready, first Python import, command round trip, setup time.

Usage::

    python3 bench/bench_vm.py                 # TCG boots (3), cached setup
    python3 bench/bench_vm.py --kvm           # also try KVM side by side (60 s probe, may fail)
    python3 bench/bench_vm.py --cold          # also a cold setup (download + build) in a temp cache

Prints a small table and the conditions it was measured under.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import physcall.vm  # noqa: E402
from physcall.vm import Guest, GuestError  # noqa: E402


def boot_once(accel, timeout):
    """(Guest() wall s, boot-to-ready s, first `import physcall` s, `true` round trip ms) of one guest.

    Guest() wall time also counts collecting/packing the payload and writing the joined initrd.
    """
    t0 = time.monotonic()
    with Guest(accel=accel, timeout=timeout) as g:
        wall = time.monotonic() - t0
        t = time.monotonic()
        rc, _, err = g.run([g.python, "-c", "import physcall"])
        first_import = time.monotonic() - t
        if rc != 0:
            raise GuestError("import physcall failed in the guest: %s" % err.decode(errors="replace"))
        t = time.monotonic()
        for _ in range(10):
            g.run(["true"])
        return wall, g.boot_seconds, first_import, (time.monotonic() - t) * 100


def bench_accel(accel, runs, timeout):
    rows = []
    for _ in range(runs):
        try:
            rows.append(boot_once(accel, timeout))
        except GuestError as exc:
            return "%s failed: %s" % (accel, str(exc).splitlines()[0])
    cols = list(zip(*rows))
    return [(accel, "Guest() ready (s)", cols[0]), (accel, "QEMU start->ready (s)", cols[1]),
            (accel, "first python import (s)", cols[2]), (accel, "`true` round trip (ms)", cols[3])]


def cold_setup():
    """Seconds for setup() with an empty cache (download + extract + build), in a child process."""
    with tempfile.TemporaryDirectory(prefix="physcall-bench-cache-") as cache:
        t = time.monotonic()
        subprocess.run([sys.executable, "-c", "import physcall.vm; physcall.vm.setup()"], check=True,
                       env=dict(os.environ, XDG_CACHE_HOME=cache))
        return time.monotonic() - t


def conditions(info):
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return ("conditions: %s, %d cpus, %s; host %s; guest kernel %s, -m 256M"
            % (cpu, os.cpu_count(), qemu.splitlines()[0], platform.release(), info["kernel_release"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kvm", action="store_true", help="also measure -accel kvm (may fail on kvm-pvm)")
    ap.add_argument("--cold", action="store_true", help="also measure a cold setup in a temp cache")
    args = ap.parse_args()
    info = physcall.vm.setup()
    t = time.monotonic()
    physcall.vm.setup()
    print(conditions(info))
    print("%-5s %-24s %9s %9s  (n)" % ("accel", "what", "min", "median"))
    print("%-5s %-24s %9.2f %9s  (1)" % ("-", "setup, cached (s)", time.monotonic() - t, ""))
    if args.cold:
        print("%-5s %-24s %9.1f %9s  (1)" % ("-", "setup, cold (s)", cold_setup(), ""))
    for accel in ["tcg"] + (["kvm"] if args.kvm else []):
        rows = bench_accel(accel, args.runs if accel == "tcg" else 1, 60 if accel == "kvm" else 120)
        if isinstance(rows, str):
            print("%-5s %s" % (accel, rows))
            continue
        for acc, what, values in rows:
            print("%-5s %-24s %9.2f %9.2f  (%d)" % (acc, what, min(values), statistics.median(values), len(values)))


if __name__ == "__main__":
    main()
