"""What a dry run saw: instructions, interrupts, ports, memory written, how the call returned, verdict.

>>> r = Report(call="int 12h", mode="real16", budget=1000)
>>> r.interrupt(0x12, 0x0000, 0x2000, 0x0000); r.finish(returned=True, how="retf to the sentinel")
>>> r.verdict, r.interrupts[0]["text"]
('ok', 'int 12h ax=0000h')
"""

from dataclasses import dataclass, field
from typing import Optional

MAX_EVENTS = 4096            # beyond this, events are counted, not listed (a BIOS delay loop polls 61h)


@dataclass
class Report:
    """The dry run of one call.  ``verdict`` is "ok" or "refused"; ``reasons`` say why."""
    call: str = ""
    mode: str = "real16"
    budget: int = 0
    firmware: str = ""                        # which firmware ran: the stub BIOS or a snapshot
    instructions: Optional[int] = None       # exact count, or None when not counted
    instructions_bound: str = ""              # what is known when not counted: "<= 10000000"
    interrupts: list = field(default_factory=list)
    ports: list = field(default_factory=list)
    writes: list = field(default_factory=list)          # merged [start, end) ranges of changed bytes
    firmware_writes: list = field(default_factory=list)  # {"start", "end", "owner"}: what the firmware owns
    stack_used: int = 0
    unknown_leaves: list = field(default_factory=list)
    hazards: list = field(default_factory=list)         # {"kind", "at", "linear", "text"}: see hazards.py
    unverified: str = ""                                # why the dry run stopped before the end, if it did
    returned: bool = False
    how: str = "not run"
    verdict: str = "ok"
    reasons: list = field(default_factory=list)
    dropped: int = 0                                    # events over MAX_EVENTS, counted only
    trace: list = field(default_factory=list)           # last instructions, when tracing

    def interrupt(self, vector, ax, cs, ip):
        """Record ``int vector`` taken at cs:ip with AX (the leaf)."""
        if len(self.interrupts) >= MAX_EVENTS:
            self.dropped += 1
            return
        self.interrupts.append({"vector": vector, "ax": ax, "at": "%04x:%04x" % (cs, ip),
                                "text": "int %02xh ax=%04xh" % (vector, ax)})

    def port(self, direction, port, size, value):
        """Record one port access: direction "in"/"out", port, size in bytes, value."""
        if len(self.ports) >= MAX_EVENTS:
            self.dropped += 1
            return
        self.ports.append({"dir": direction, "port": port, "size": size, "value": value})

    def unknown_leaf(self, vector, ax):
        """The stub BIOS had no model for this leaf (it answered CF=1, AH=86h)."""
        self.unknown_leaves.append({"vector": vector, "ax": ax,
                                    "text": "unknown leaf int %02xh ax=%04xh" % (vector, ax)})

    def hazard(self, kind, at, linear, text):
        """Record a hazard (physcall.emulator.hazards); one per kind and address."""
        if any(h["kind"] == kind and h["linear"] == linear for h in self.hazards):
            return
        if len(self.hazards) >= MAX_EVENTS:
            self.dropped += 1
            return
        self.hazards.append({"kind": kind, "at": at, "linear": linear, "text": text})

    def stop_unverified(self, kind, at, linear, text):
        """A hazard that ends the dry run: what ran up to here was checked, nothing after it."""
        self.hazard(kind, at, linear, text + ": unverified past this point")
        self.unverified = "%s at %s: %s" % (kind, at, text)
        self.finish(False, "unverified past %s (%s)" % (at, kind))

    def refuse(self, reason):
        """Add a reason; any reason makes the verdict "refused"."""
        if reason not in self.reasons:
            self.reasons.append(reason)
        self.verdict = "refused"

    def finish(self, returned, how):
        self.returned, self.how = returned, how

    def to_dict(self):
        """JSON-ready dict of everything above."""
        return {"call": self.call, "mode": self.mode, "budget": self.budget, "firmware": self.firmware,
                "instructions": self.instructions, "instructions_bound": self.instructions_bound,
                "interrupts": list(self.interrupts), "ports": list(self.ports),
                "writes": [list(w) for w in self.writes],
                "firmware_writes": list(self.firmware_writes), "stack_used": self.stack_used,
                "unknown_leaves": list(self.unknown_leaves), "hazards": list(self.hazards),
                "unverified": self.unverified, "returned": self.returned,
                "how": self.how, "verdict": self.verdict, "reasons": list(self.reasons),
                "dropped": self.dropped, "trace": list(self.trace)}

    def __str__(self):
        count = self.instructions if self.instructions is not None else self.instructions_bound
        rows = [("call", "%s (%s)" % (self.call, self.mode)),
                ("firmware", self.firmware or "-"),
                ("verdict", self.verdict + ("".join("\n  - " + r for r in self.reasons))),
                ("returned", "%s: %s" % ("yes" if self.returned else "no", self.how)),
                ("instructions", "%s (budget %d)" % (count, self.budget)),
                ("interrupts", _short([i["text"] for i in self.interrupts])),
                ("ports", _short(["%s %#x=%#x" % (p["dir"], p["port"], p["value"])
                                  for p in self.ports])),
                ("memory written", _short(["%#07x-%#07x" % (a, b) for a, b in self.writes])),
                ("stack used", "%d bytes" % self.stack_used)]
        if self.firmware_writes:
            by_owner = {}
            for w in self.firmware_writes:
                by_owner.setdefault(w["owner"], []).append("%#07x-%#07x" % (w["start"], w["end"]))
            rows.append(("firmware wrote", "; ".join("%s: %s" % (owner, _short(ranges, 3))
                                                     for owner, ranges in by_owner.items())))
        if self.hazards:
            rows.append(("hazards", _short(["%s at %s" % (h["kind"], h["at"]) for h in self.hazards])))
        if self.unverified:
            rows.append(("unverified", "past " + self.unverified))
        if self.unknown_leaves:
            rows.append(("unknown leaves", _short([u["text"] for u in self.unknown_leaves])))
        return "\n".join("%-15s %s" % row for row in rows)


def _short(items, limit=6):
    if not items:
        return "-"
    more = " (+%d more)" % (len(items) - limit) if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


