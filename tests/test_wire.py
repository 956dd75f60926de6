"""The guest boundary (physcall.wire): calls survive the trip as data, and bad replies are refused.

Oracle for the request: the kexec image the guest builds from the decoded Layout is byte for byte the
image the host builds from its own (any lost field shows).
"""

import dataclasses
import json
import pickle

import pytest

from physcall import image, wire
from physcall.call import Buffer, Routine, far_call, interrupt
from physcall.errors import PhyscallError, WireError
from physcall.layout import lay_out
from physcall.outcome import Outcome
from physcall.regs import Regs

CALLS = [interrupt(0x15, eax=0xE820, edx=0x534D4150, ecx=24, es_di=Buffer(24, data=b"\x01\x02")),
         far_call(0xC000, 0x0003, ax=0x4F00, es_di=Buffer(512, data=b"VBE2", align=4096)),
         Routine("start: mov ax, [msg]\nret\nmsg: .word 0x1234", entry="start"),
         Routine("mov ax, 1\nret", ds=0x40),
         Routine("mov eax, [0x413]\nret", mode="flat32", edi=Buffer(64))]


def segments(layout):
    return [(s.mem, s.data, s.memsz) for s in image.build_image(layout).segments]


def test_request_round_trip_builds_the_same_image():
    layout = lay_out(CALLS)
    decoded, force = wire.decode_request(wire.encode_request(layout, force=True))
    assert force is True and decoded == layout
    assert [p.regs.ds for p in decoded.calls[2:4]] == [layout.calls[2].cs, 0x40]   # DS defaults to CS
    assert segments(decoded) == segments(layout)


def test_request_carries_the_verified_layout_not_calls_to_lay_out_again():
    layout = lay_out(CALLS[:1])
    moved = dataclasses.replace(layout, regions=[(at + 0x1000, data) for at, data in layout.regions])
    decoded, _ = wire.decode_request(wire.encode_request(moved))
    assert decoded.regions == moved.regions != layout.regions


def test_request_is_json_with_hex_bytes():
    doc = json.loads(wire.encode_request(lay_out(CALLS[:1])))
    assert doc["layout"]["regions"][1][1] == "0102" + "00" * 22


@pytest.mark.parametrize("spoil", [
    lambda lay: lay.update(stack=[lay["stack"][0]]),                 # one end only
    lambda lay: lay.update(window=[0x14000, 0x1c000 + 0.5]),          # not an integer
    lambda lay: lay["regions"][0].__setitem__(0, float(lay["regions"][0][0])),
])
def test_a_request_with_malformed_addresses_is_refused(spoil):
    """The guest decodes only integer pairs for the stack, the window and the regions' addresses: a
    malformed request is a WireError, not a traceback halfway through building an image."""
    doc = json.loads(wire.encode_request(lay_out(CALLS[:1])))
    spoil(doc["layout"])
    with pytest.raises(WireError, match="refused"):
        wire.decode_request(json.dumps(doc).encode())


def good_reply(calls=CALLS[:2]):
    return [Outcome(c, Regs(eax=0x27F), {n: bytes(b.size) for n, b in c.buffers.items()}, "kexec",
                    timing={"call": 100, "tsc_mhz": 2400.5}) for c in calls]


def test_reply_round_trip():
    out = wire.decode_reply(wire.encode_reply(good_reply()), CALLS[:2])
    assert out[1]["regs"].ax == 0x27F and out[1]["buffers"]["es_di"] == bytes(512)
    assert out[0]["timing"] == {"call": 100, "tsc_mhz": 2400.5}


def tampered(change):
    doc = json.loads(wire.encode_reply(good_reply()))
    change(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("raw, why", [
    (pickle.dumps([{"regs": Regs()}]), "not JSON"),
    (b"[]", "not a physcall-wire-1 reply"),
    (b'{"format": "physcall-wire-1", "outcomes": [' + b"[" * 5000 + b"]" * 5000 + b"]}", "not JSON"),
    (tampered(lambda d: d["outcomes"].pop()), "1 outcomes for 2 calls"),
    (tampered(lambda d: d["outcomes"][0]["buffers"].update(es_si="00")), "buffers ['es_di', 'es_si']"),
    (tampered(lambda d: d["outcomes"][0]["buffers"].update(es_di="00" * 25)), "must be 24 bytes"),
    (tampered(lambda d: d["outcomes"][0]["buffers"].update(es_di=" 0" * 24)), "not hex"),
    (tampered(lambda d: d["outcomes"][1]["buffers"].clear()), "buffers [], where the call has ['es_di']"),
    (tampered(lambda d: d["outcomes"][0]["regs"].update(eax=1 << 32)), "register eax"),
    (tampered(lambda d: d["outcomes"][0]["regs"].update(eax=True)), "register eax"),
    (tampered(lambda d: d["outcomes"][0]["regs"].pop("gs")), "registers must be exactly"),
    (tampered(lambda d: d["outcomes"][0].update(status="__import__('os')")), "unknown status"),
    (tampered(lambda d: d["outcomes"][0].update(extra=1)), "exactly regs, buffers, status and timing"),
    (tampered(lambda d: d["outcomes"][0]["timing"].update(x="1")), "timing 'x'"),
    (tampered(lambda d: d["outcomes"][0]["timing"].update(x=float("inf"))), "not JSON"),
])
def test_malformed_reply_is_refused(raw, why):
    with pytest.raises(WireError) as err:
        wire.decode_reply(raw, CALLS[:2])
    assert why in str(err.value) and isinstance(err.value, PhyscallError)


def test_oversized_reply_is_refused_before_parsing():
    raw = wire.encode_reply(good_reply())
    padded = raw[:-1] + b" " * wire.max_reply(CALLS[:2]) + b"}"
    with pytest.raises(WireError, match="bytes, where a reply to these 2 calls takes at most"):
        wire.decode_reply(padded, CALLS[:2])


def test_a_call_that_did_not_return_brings_no_buffers():
    reply = good_reply()
    reply[1] = dataclasses.replace(reply[1], status="skipped", buffers={})
    assert wire.decode_reply(wire.encode_reply(reply), CALLS[:2])[1]["buffers"] == {}
