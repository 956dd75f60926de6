"""One guest for the real-jump tests: booting under TCG costs seconds, a jump milliseconds.

The guest boots with ``physcall.guest=1`` (physcall.safety.GUEST_TOKEN): tests/guest/inguest.py
passes the jump confirmation only when it sees that token, so nothing here can jump on the host.
"""

import json
import logging
import os

import pytest

from physcall import toolchain
from physcall.safety import GUEST_TOKEN

HERE = os.path.dirname(os.path.abspath(__file__))
INGUEST = os.path.join(HERE, "inguest.py")


def boot(**kw):
    import physcall.vm
    physcall.vm.setup(progress=logging.getLogger("physcall.vm").warning)
    toolchain.build_trampoline()          # the guest sees the host's cache read-only: build it here
    return physcall.vm.Guest(memory=kw.pop("memory", "512M"), append=GUEST_TOKEN, **kw)


@pytest.fixture(scope="session")
def jump_guest():
    with boot() as g:
        yield g


def inguest(guest, *args, timeout=300.0):
    """Run tests/guest/inguest.py CHECK ARGS in the guest; its JSON result."""
    rc, out, err = guest.run([guest.python, INGUEST] + [str(a) for a in args], timeout=timeout)
    assert rc == 0, "inguest %s failed (rc %d):\n%s\n%s" % (args, rc, err.decode(errors="replace")[-4000:],
                                                            guest.dmesg()[-3000:])
    return json.loads(out.decode().strip().splitlines()[-1])


def guest_word(guest, addr):
    """A little-endian word of guest physical memory through /dev/mem (the oracle side)."""
    code = "f=open('/dev/mem','rb',buffering=0); f.seek(%d); print(int.from_bytes(f.read(2),'little'))" % addr
    rc, out, err = guest.run([guest.python, "-c", code])
    assert rc == 0, err
    return int(out)
