"""Guest side of the vm backend: read calls on stdin, jump, write outcomes on stdout (physcall.wire JSON).

Runs only inside physcall's QEMU guest (physcall.safety.in_guest); anywhere else it refuses, because
it passes the real-jump confirmation on its caller's behalf.
"""

import sys

from .safety import in_guest


def main():
    if not in_guest():
        sys.stderr.write("physcall.guestrun: refusing: this runs only inside physcall's QEMU guest "
                         "(no physcall.guest=1 on the kernel command line); use backend='kexec' with "
                         "confirm=True to jump on this machine\n")
        return 3
    from .kexec import run_kexec
    from .layout import lay_out
    from .wire import decode_request, encode_reply
    calls, force = decode_request(sys.stdin.buffer.read())
    outcomes = run_kexec(lay_out(calls), confirm=True, force=force)
    sys.stdout.buffer.write(encode_reply([{"regs": o.regs, "buffers": o.buffers, "status": o.status,
                                           "timing": _timing(o)} for o in outcomes]))
    return 0


def _timing(outcome):
    timing = dict(outcome.timing)
    mhz = tsc_mhz()
    if mhz:
        timing["tsc_mhz"] = mhz
    return timing


def tsc_mhz(path="/proc/cpuinfo"):
    """The CPU clock from /proc/cpuinfo ("cpu MHz"): TSC cycles to time, approximately."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


if __name__ == "__main__":
    sys.exit(main())
