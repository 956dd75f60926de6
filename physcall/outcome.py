"""What a call gives back, on every backend: registers (FLAGS and DS/ES/FS/GS included), buffers,
status, timing and the dry run's report.  One type: the emulator, the kexec jump and the vm guest all
return it.

>>> from physcall.regs import Regs
>>> o = Outcome(call=None, regs=Regs(eax=0x27F, eflags=0x2), buffers={"es_di": b"\\x01"}, backend="emulator")
>>> o.returned, o.ok, o.to_dict()["buffers"]
(True, True, {'es_di': '01'})
"""

from dataclasses import dataclass, field
from typing import Optional

RETURNED = "returned"          # the call came back to its caller: its registers mean something
NOT_RETURNED = "not returned"  # the dry run stopped it (budget, a refused write, a fault)
NOT_RUN = "not run"            # an earlier call of the batch was refused, or the static check was
SKIPPED = "skipped"            # the trampoline skipped it (PC_CALL_SKIPPED)
PENDING = "pending"            # the trampoline never reached it (PC_CALL_PENDING)


@dataclass(frozen=True)
class Outcome:
    """One call on one backend.

    ``regs``: the registers after the call (its starting registers if it did not run); ``buffers``:
    each buffer keyword's bytes after the call; ``status``: RETURNED or why not; ``backend``: where it
    ran; ``report``: the dry run's report (None when verification was skipped); ``timing``: what a
    real backend measured, TSC cycles (``round_trip``, ``image``, ``call``) and ``tsc_mhz``;
    ``extra``: what a real backend saw beside the registers (``esp``/``ss`` after the call, the
    batch's entry CR0/CR3/CR4/EFER/RFLAGS and jump count).
    """
    call: object
    regs: object
    buffers: dict
    backend: str
    status: str = RETURNED
    report: Optional[object] = None
    timing: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @property
    def returned(self):
        """True when the call came back to its caller."""
        return self.status == RETURNED

    @property
    def ok(self):
        """True when the call returned with CF clear: most BIOS services report failure with CF=1."""
        return self.returned and not self.regs.cf

    def to_dict(self):
        """JSON-ready: registers as ints, buffers as hex, the report as a dict."""
        report = self.report.to_dict() if self.report is not None else None
        return {"call": self.call.describe() if self.call is not None else None,
                "status": self.status, "regs": self.regs.as_dict(),
                "buffers": {name: data.hex() for name, data in self.buffers.items()},
                "report": report, "timing": dict(self.timing)}


Result = Outcome      # the name the first releases used; the same type
