"""Where a real jump may happen.

physcall's own QEMU guest boots with ``physcall.guest=1`` on its kernel command line
(physcall/vm/guest.py). Code that makes a jump on the machine it runs on without a person's
``--yes`` — the guest-side runner of the vm backend, the guest tests — checks :func:`in_guest` first,
so that the same code on a development machine or in CI refuses instead of resetting it.

>>> isinstance(in_guest(), bool)
True
"""

GUEST_TOKEN = "physcall.guest=1"


def in_guest(cmdline_path="/proc/cmdline"):
    """True only inside physcall's QEMU guest (its kernel command line carries GUEST_TOKEN)."""
    try:
        with open(cmdline_path) as f:
            return GUEST_TOKEN in f.read().split()
    except OSError:
        return False
