"""The vm backend: physcall's QEMU guest runs the batch with the kexec backend, for real.

The guest sees this checkout and the host's Python at the same paths (physcall/vm), so the verified
Layout (the one the dry run ran) travels as JSON (physcall.wire: data only, never pickle) to
``python3 -m physcall.guestrun`` inside it, which jumps with the kexec backend and sends the outcomes
back; the host checks the reply against its request before it believes a byte of it. A :class:`Session` keeps one guest up
for many invocations, so a script pays the boot once.

>>> import physcall
>>> with physcall.vmbackend.Session() as vm:                      # doctest: +SKIP
...     vm.invoke(physcall.interrupt(0x12)).regs.ax
639
"""

import logging

from . import wire
from .errors import BackendError
from .outcome import Outcome
from .resources import ROOT

log = logging.getLogger("physcall")

class Session:
    """One guest kept up for many calls: ``with Session() as vm: vm.invoke(...)``."""

    # What runs the batch in the guest; a test swaps in a guest that answers badly.
    runner = ("-m", "physcall.guestrun")

    def __init__(self, guest=None, **guest_options):
        """``guest``: an already running physcall.vm.Guest booted with physcall.guest=1 (kept open)."""
        self.guest_options = guest_options
        self.guest, self._owned = guest, guest is None
        self._firmware = None

    def firmware(self):
        """The guest's own firmware as the dry run's machine: a snapshot taken on first use, kept for
        this guest's life (the firmware does not change while it runs).

        >>> with Session() as vm:                          # doctest: +SKIP
        ...     vm.firmware().name
        'snapshot of the vm guest (...)'
        """
        if self._firmware is None or self._firmware[0] is not self.guest:
            import os
            import tempfile
            from . import snapshot
            from .emulator.firmware import from_elf_core
            fd, path = tempfile.mkstemp(prefix="physcall-guest-", suffix=".elf")
            os.close(fd)
            try:
                snapshot.from_guest(self.guest, path)
                fw = from_elf_core(path)
            finally:
                os.unlink(path)
            fw.name = "snapshot of the vm guest (taken %s)" % fw.meta.get("date", "?")
            self._firmware = (self.guest, fw)
        return self._firmware[1]

    def __enter__(self):
        if self.guest is not None:
            return self
        from . import toolchain
        from .safety import GUEST_TOKEN
        from .vm import Guest
        toolchain.build_trampoline()      # the guest sees the host's cache read-only: build it here
        options = dict(self.guest_options)
        options["append"] = (options.get("append", "") + " " + GUEST_TOKEN).strip()
        self.guest = Guest(**options)
        self.guest.__enter__()
        return self

    def __exit__(self, *exc):
        self.close(*exc)

    def close(self, *exc):
        """Stop the guest this session booted (an exception, Ctrl-C above all, is passed on to it)."""
        if self.guest is not None and self._owned:
            guest, self.guest = self.guest, None
            guest.__exit__(*(exc or (None, None, None)))

    def invoke(self, calls, **options):
        """``physcall.invoke(calls, backend="vm")`` in this session's guest."""
        from .invoke import invoke
        return invoke(calls, backend="vm", session=self, **options)

    def run_layout(self, layout, force=False, timeout=120.0):
        """Send the layout to the guest runner; its checked answer becomes the vm backend's Outcomes."""
        calls = [p.call for p in layout.calls]
        rc, out, err = self.guest.run([self.guest.python, *self.runner], timeout=timeout, cwd=str(ROOT),
                                      input=wire.encode_request(layout, force))
        if rc != 0:
            raise BackendError("the guest could not run the batch (exit %d):\n%s\n  serial log: %s"
                               % (rc, err.decode(errors="replace").strip()[-4000:],
                                  getattr(self.guest, "serial_log", "?")))
        return [Outcome(call=call, backend="vm", **item)
                for call, item in zip(calls, wire.decode_reply(out, calls))]


def run_vm(layout, session=None, force=False, timeout=120.0, confirm=None, **guest_options):
    """Run ``layout`` in the guest (a new one unless ``session`` is given).

    ``confirm`` is accepted and ignored: the jump happens inside a disposable guest, which is the
    point of this backend.

    >>> from physcall.layout import lay_out; from physcall.call import interrupt
    >>> run_vm(lay_out(interrupt(0x12)))[0].regs.ax             # doctest: +SKIP
    639
    """
    if session is not None:
        return session.run_layout(layout, force=force, timeout=timeout)
    with Session(**guest_options) as own:
        return own.run_layout(layout, force=force, timeout=timeout)
