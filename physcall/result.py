"""What a call gives back: every register (FLAGS and DS/ES/FS/GS included), buffers, report, timing.

>>> from physcall.regs import Regs
>>> r = Result(call=None, regs=Regs(eax=0x27F, eflags=0x2), buffers={"es_di": b"\\x01"}, backend="emulator")
>>> r.to_dict()["buffers"]
{'es_di': '01'}
"""

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class Result:
    """The outcome of one call on one backend.

    ``regs`` are the registers after the call returned; ``buffers`` maps each buffer keyword to its
    bytes after the call; ``report`` is the dry run's report (None when verification was skipped);
    ``timing`` holds what the backend measured (``tsc_cycles`` for a real jump).
    """
    call: object
    regs: object
    buffers: dict
    backend: str
    report: Optional[object] = None
    timing: dict = field(default_factory=dict)

    @property
    def ok(self):
        """True when the call returned with CF clear: most BIOS services report failure with CF=1."""
        return not self.regs.cf

    def to_dict(self):
        """JSON-ready: registers as ints, buffers as hex, the report as a dict."""
        report = self.report.to_dict() if hasattr(self.report, "to_dict") else self.report
        return {"call": self.call.describe() if hasattr(self.call, "describe") else None,
                "regs": self.regs.as_dict(),
                "buffers": {name: data.hex() for name, data in self.buffers.items()},
                "report": report, "timing": dict(self.timing)}
