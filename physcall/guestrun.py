"""Guest side of the vm backend: read the verified Layout on stdin, jump, write the Outcomes on stdout
(physcall.wire JSON).

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
    from .wire import decode_request, encode_reply
    layout, force = decode_request(sys.stdin.buffer.read())
    sys.stdout.buffer.write(encode_reply(run_kexec(layout, confirm=True, force=force)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
