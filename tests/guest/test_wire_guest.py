"""The host refuses what a misbehaving guest sends back (physcall.wire), through the real channel.

A guest runner that answers with a pickle, too many bytes, or buffers the request never had stands
in for a guest whose firmware or user routine went wrong; the host must raise, not believe it.
"""

import re

import pytest

import physcall
from physcall.errors import WireError
from physcall.vmbackend import Session

pytestmark = pytest.mark.guest
HEAD = "import sys; sys.stdin.buffer.read(); out = sys.stdout.buffer.write; "
BAD_GUESTS = {
    "pickle": HEAD + "import pickle; out(pickle.dumps([{'regs': None, 'buffers': {}}]))",
    "oversized": HEAD + "out(b'{\"format\": \"physcall-wire-1\", \"outcomes\": [' + b' ' * 100000 + b']}')",
    "extra buffer": HEAD + "import json; r = {n: 0 for n in ('eax ebx ecx edx esi edi ebp ds es fs gs "
                           "eflags'.split())}; out(json.dumps({'format': 'physcall-wire-1', 'outcomes': "
                           "[{'regs': r, 'buffers': {'es_di': '00' * 4096}, 'status': 'returned', "
                           "'timing': {}}]}).encode())",
}
WHY = {"pickle": "not JSON", "oversized": "takes at most", "extra buffer": "where the call has []"}


@pytest.mark.parametrize("name", sorted(BAD_GUESTS))
def test_malformed_reply_from_the_guest_is_refused(jump_guest, name):
    vm = Session(guest=jump_guest)
    vm.runner = ("-c", BAD_GUESTS[name])
    with pytest.raises(WireError, match=re.escape(WHY[name])):
        physcall.invoke(physcall.interrupt(0x12), backend="vm", session=vm)
    vm.runner = Session.runner            # the same guest still answers properly afterwards
    assert physcall.invoke(physcall.interrupt(0x12), backend="vm", session=vm).regs.ax == 639
