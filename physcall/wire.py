"""The vm backend's wire format: the guest boundary carries data only.

The guest runs firmware and the user's routines as root in real mode; whatever goes wrong in it must
stay there.  So the host never unpickles (or otherwise executes) what the guest sends: the verified
Layout (the one the dry run ran, not calls the guest would lay out again) goes down and outcomes come
back as JSON, bytes as hex, and the host checks every reply against its own request (the
number of outcomes, each buffer's name and size, each register's range, the size of the whole reply)
and refuses anything else with a :class:`~physcall.errors.WireError`.

>>> from physcall.call import Buffer, interrupt
>>> from physcall.layout import lay_out
>>> from physcall.outcome import Outcome
>>> calls = [interrupt(0x15, eax=0xE820, edx=0x534D4150, ecx=24, es_di=Buffer(24))]
>>> again, force = decode_request(encode_request(lay_out(calls)))
>>> again == lay_out(calls), hex(again.calls[0].entry)
(True, '0x15000')
>>> reply = encode_reply([Outcome(calls[0], calls[0].regs, {"es_di": bytes(24)}, "kexec",
...                               timing={"call": 1234})])
>>> decode_reply(reply, calls)[0]["buffers"]["es_di"] == bytes(24)
True
>>> decode_reply(b'{"format": "physcall-wire-1", "outcomes": []}', calls)
Traceback (most recent call last):
...
physcall.errors.WireError: the guest's reply is refused: 0 outcomes for 1 calls
"""

import dataclasses
import json
import math

from .errors import WireError
from .layout import Layout, Placed
from .outcome import PENDING, RETURNED, SKIPPED
from .regs import FIELDS, WIDTH, Regs

FORMAT = "physcall-wire-1"
STATUSES = (RETURNED, PENDING, SKIPPED)   # physcall.kexec.STATUS; an unknown code comes as digits
MAX_TIMING_KEYS = 64
# Room for everything in a reply but the buffers' hex: registers, status and timing of each call.
OVERHEAD, PER_CALL = 4096, 8192


# ------------------------------------------------------------------------------------ host -> guest

def encode_request(layout, force=False):
    """The request for ``python3 -m physcall.guestrun``: the verified Layout as plain data, bytes as hex."""
    return json.dumps({"format": FORMAT, "force": bool(force), "layout": {
        "regions": [[at, bytes(data).hex()] for at, data in layout.regions],
        "stack": list(layout.stack), "window": list(layout.window),
        "calls": [_placed_to_data(p) for p in layout.calls]}}).encode()


def _placed_to_data(placed):
    """Every field of a Placed but its Call: the guest runs the placed code, not the call again."""
    data = {f.name: getattr(placed, f.name) for f in dataclasses.fields(Placed) if f.name != "call"}
    data.update(regs=placed.regs.as_dict(),
                buffers={name: list(at_size) for name, at_size in placed.buffers.items()})
    return data


def decode_request(raw):
    """``(layout, force)`` from :func:`encode_request`'s bytes (the guest side)."""
    doc = _load(raw, "the host's request")
    _expect(isinstance(doc, dict) and doc.get("format") == FORMAT and isinstance(doc.get("layout"), dict),
            "the host's request", "not a %s request" % FORMAT)
    try:
        lay = doc["layout"]
        pairs = [lay["stack"], lay["window"]] + [[at, 0] for at, _ in lay["regions"]]
        _expect(all(isinstance(p, list) and len(p) == 2 and all(type(v) is int for v in p) for p in pairs),
                "the host's request", "stack, window and region addresses must be integers (pairs)")
        return Layout(regions=[(at, bytes.fromhex(data)) for at, data in lay["regions"]],
                      calls=[_placed_from_data(p) for p in lay["calls"]],
                      stack=tuple(lay["stack"]), window=tuple(lay["window"])), bool(doc.get("force"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WireError("the host's request is refused: %s: %s" % (type(exc).__name__, exc)) from None


def _placed_from_data(data):
    data = dict(data)
    data.update(regs=Regs(**data["regs"]),
                buffers={name: tuple(at_size) for name, at_size in data["buffers"].items()},
                code=tuple(data["code"]), routine=tuple(data["routine"]) if data["routine"] else None)
    return Placed(**data)


# ------------------------------------------------------------------------------------ guest -> host

def encode_reply(outcomes):
    """The guest's answer, from its Outcomes: one ``{"regs", "buffers", "status", "timing"}`` per call,
    bytes as hex."""
    return json.dumps({"format": FORMAT, "outcomes": [
        {"regs": o.regs.as_dict(), "buffers": {n: bytes(d).hex() for n, d in o.buffers.items()},
         "status": o.status, "timing": dict(o.timing)} for o in outcomes]}).encode()


def max_reply(calls):
    """The most bytes a well-formed reply to ``calls`` can take: the buffers' hex plus fixed room."""
    return OVERHEAD + sum(PER_CALL + sum(2 * b.size + 64 for b in c.buffers.values()) for c in calls)


def decode_reply(raw, calls):
    """The guest's outcomes for ``calls`` as dicts (regs: Regs, buffers: bytes), checked field by field.

    Refused with WireError: more bytes than :func:`max_reply`, anything but this format's JSON,
    another number of outcomes than calls, buffers other than the call's (by name and size), registers
    missing, extra or out of range, an unknown status, timing that is not a small dict of numbers.
    """
    if len(raw) > max_reply(calls):
        raise WireError("the guest's reply is refused: %d bytes, where a reply to these %d calls "
                              "takes at most %d" % (len(raw), len(calls), max_reply(calls)))
    doc = _load(raw, "the guest's reply")
    _expect(isinstance(doc, dict) and set(doc) == {"format", "outcomes"} and doc["format"] == FORMAT,
            "reply", "not a %s reply (keys %s)" % (FORMAT, sorted(doc) if isinstance(doc, dict) else "-"))
    outcomes = doc["outcomes"]
    _expect(isinstance(outcomes, list) and len(outcomes) == len(calls), "the guest's reply",
            "%s outcomes for %d calls" % (len(outcomes) if isinstance(outcomes, list) else "no list of",
                                          len(calls)))
    return [_outcome(i, item, call) for i, (item, call) in enumerate(zip(outcomes, calls))]


def _outcome(index, item, call):
    where = "the guest's reply (call %d, %s)" % (index, call.describe())
    _expect(isinstance(item, dict) and set(item) == {"regs", "buffers", "status", "timing"}, where,
            "an outcome has exactly regs, buffers, status and timing")
    status = item["status"]
    _expect(isinstance(status, str) and (status in STATUSES or status.isdigit() and len(status) < 12),
            where, "unknown status %r" % (status,))
    return {"regs": _regs(item["regs"], where), "status": status,
            "buffers": _buffers(item["buffers"], call, status, where),
            "timing": _timing(item["timing"], where)}


def _regs(regs, where):
    _expect(isinstance(regs, dict) and set(regs) == set(FIELDS), where,
            "registers must be exactly %s" % ", ".join(FIELDS))
    for name, value in regs.items():
        _expect(type(value) is int and 0 <= value <= WIDTH[name], where,
                "register %s = %r is not an int in 0..%#x" % (name, value, WIDTH[name]))
    return Regs(**regs)


def _buffers(buffers, call, status, where):
    """Every buffer of the call, at its size; none at all when the call did not return."""
    _expect(isinstance(buffers, dict), where, "buffers must be a dict")
    want = {n: b.size for n, b in call.buffers.items()} if status == RETURNED else {}
    _expect(set(buffers) == set(want), where,
            "buffers %s, where the call has %s" % (sorted(buffers), sorted(want)))
    out = {}
    for name, text in buffers.items():
        _expect(isinstance(text, str) and len(text) == 2 * want[name], where,
                "buffer %s must be %d bytes as hex" % (name, want[name]))
        try:
            out[name] = bytes.fromhex(text)
        except ValueError:
            out[name] = b""
        if len(out[name]) != want[name]:           # fromhex skips whitespace: count what it gave
            raise WireError("%s is refused: buffer %s is not hex" % (where, name)) from None
    return out


def _timing(timing, where):
    _expect(isinstance(timing, dict) and len(timing) <= MAX_TIMING_KEYS, where,
            "timing must be a dict of at most %d numbers" % MAX_TIMING_KEYS)
    for key, value in timing.items():
        _expect(len(key) <= 64 and (type(value) is int or type(value) is float and math.isfinite(value)), where,
                "timing %r = %r is not a number" % (key[:64], value))
    return dict(timing)


def _load(raw, what):
    """JSON without NaN/Infinity; nesting deep enough to exhaust the parser is refused too."""
    def no_constants(name):
        raise ValueError("%s is not allowed" % name)
    try:
        return json.loads(raw, parse_constant=no_constants)
    except (ValueError, RecursionError, TypeError) as exc:
        raise WireError("%s is refused: not JSON (%s: %s)"
                              % (what, type(exc).__name__, str(exc)[:200])) from None


def _expect(ok, where, why):
    if not ok:
        raise WireError("%s is refused: %s" % (where, why[:500]))
