"""The Python side of the port fast path (csrc/ports.c): which ports C answers in a call, and the
records it hands back.

A BIOS delay or clock loop polls port 61h, the PIT or the RTC thousands of times; each access through
a Python hook costs the hook, the report and the poll counter.  With libphyscall.so, Unicorn's IN and
OUT hooks are C, and C answers a byte access to a hot port (``HOT``: the PIT, port 61h, the RTC/CMOS)
from the same state the Python models use (their ``state`` struct).  Per call, a port is fast only
when it leaves Python nothing to decide: the policy does not refuse it (Policy.refuses_port), the
harmful-write checks have no interest in it (PortEffects.judges), and the device behind it is the
model C implements.  An OUT that reprograms a device the kernel owns (a ``device`` hazard) is fast
only at a site where Python has recorded that hazard already.  Everything else calls the Python
hooks (Dispatcher.on_in/on_out), which stay the owners of the rules; the C records are added to the
report, the poll counter and the recent-ports window before any Python hook runs and when the call
ends, so the report is the one the Python hooks alone would give (tests/test_ports.py).
"""

import struct

from unicorn import UC_HOOK_INSN
from unicorn import x86_const as X

from .. import hostlib
from ..abi import constants
from ..resources import CSRC
from . import hazards
from .devices import Cmos, Pit, SystemPort
from .firmware import STUB_TRAP_PORT
from .report import MAX_EVENTS

_C = constants(CSRC / "hostlib.h")
PLAIN, SITE, RECENT = _C["PC_PORT_PLAIN"], _C["PC_PORT_SITE"], _C["PC_PORT_RECENT"]
HOT = {0x40: Pit, 0x41: Pit, 0x42: Pit, 0x43: Pit, 0x61: SystemPort, 0x70: Cmos, 0x71: Cmos}
STATE = {Pit: "pit", SystemPort: "sysport", Cmos: "cmos"}      # struct ports field of each model
UNLIMITED = 0xFFFFFFFF


class FastPorts:
    """The C IN/OUT hooks of one Dispatcher, and their per-call settings."""

    def __init__(self, dispatcher, lib):
        ffi, uc = hostlib.ffi, dispatcher.uc
        engine = hostlib.unicorn(uc)
        self.hooks, self.machine = dispatcher, dispatcher.machine
        self.d = d = ffi.new("struct ports *")
        d.reg_read = ffi.cast("void *", ffi.addressof(engine, "uc_reg_read"))
        d.mem_read = ffi.cast("void *", ffi.addressof(engine, "uc_mem_read"))
        d.cr0_id, d.cs_id, d.eip_id = X.UC_X86_REG_CR0, X.UC_X86_REG_CS, X.UC_X86_REG_EIP
        # kept alive with this object; an exception in them is kept and raised after the run
        self._in = ffi.callback("uint32_t(void *, uint32_t, int, void *)", self._slow_in,
                                onerror=dispatcher._on_slow_error)
        self._out = ffi.callback("int(void *, uint32_t, int, uint32_t, void *)", self._slow_out,
                                 onerror=dispatcher._on_slow_error)
        d.slow_in, d.slow_out = ffi.cast("void *", self._in), ffi.cast("void *", self._out)
        self._models, self._key = {}, None
        for name, insn in (("physcall_port_in", X.UC_X86_INS_IN), ("physcall_port_out", X.UC_X86_INS_OUT)):
            handle = ffi.new("size_t *")
            err = engine.uc_hook_add(ffi.cast("void *", uc._uch.value), handle, UC_HOOK_INSN,
                                     ffi.cast("void *", ffi.addressof(lib, name)), d, 1, 0,
                                     ffi.cast("int", insn))
            if err:
                raise OSError("uc_hook_add for the port fast path (%s) failed: %d" % (name, err))

    def arm(self, call):
        """Settings for ``call``: which ports C answers, against which models; counters at zero.
        The tables are worked out again only when the policy or a hot port's device changed."""
        m, d = self.machine, self.d
        key = (m.policy, tuple(m.devices.get(port) for port in HOT))
        if key != self._key:
            self._tables(m)
            self._key = key
        d.count = d.dropped = d.reads = d.nsites = 0
        self.sync(call)

    def _tables(self, m):
        d, ffi = self.d, hostlib.ffi
        models = {}
        for port, kind in HOT.items():
            dev = m.devices.get(port)
            fast = type(dev) is kind and models.setdefault(kind, dev) is dev \
                and not m.policy.refuses_port(port)
            d.fast_in[port] = PLAIN if fast and m.effects.read(port, 1) is None else 0
            d.fast_out[port] = 0
            if fast and not m.effects.judges(port) and port != STUB_TRAP_PORT:
                d.fast_out[port] = {None: PLAIN, "device": SITE}.get(hazards.out_hazard(port), 0)
        for kind, field in STATE.items():
            setattr(d, field, models[kind].state if kind in models else ffi.NULL)
        self._models = models                    # the structs C points to stay alive with their models

    def sync(self, call):
        """After Python handled a port: the report's room and the reads before hazards.POLL_LIMIT."""
        d = self.d
        d.room = max(0, MAX_EVENTS - len(call.report.ports))
        d.reads_left = hazards.POLL_LIMIT - 1 - call.port_reads if call.port_reads < hazards.POLL_LIMIT \
            else UNLIMITED

    def flush(self, call):
        """C's records into ``call`` as the Python hooks add them (Dispatcher.flush calls this)."""
        d = self.d
        count, dropped, reads = d.count, d.dropped, d.reads
        if not (count or dropped or reads):
            return
        d.count = d.dropped = d.reads = 0
        if call is None:
            return
        report = call.report
        for port, out, size, value in struct.iter_unpack("<HBBI", hostlib.ffi.buffer(d.records, 8 * count)):
            report.port("out" if out else "in", port, size, value)
        report.dropped += dropped
        call.port_reads += reads
        call.recent_ports.extend((d.recent[i % RECENT], True) for i in range(max(0, reads - RECENT), reads))

    def _slow_in(self, uc, port, size, user):
        hooks = self.hooks
        hooks.flush()
        value = hooks.on_in(hooks.uc, port, size, None)
        self.sync(hooks.call)
        return value

    def _slow_out(self, uc, port, size, value, user):
        """The Python hook; 1 when this site's ``device`` hazard is in the report now (C then takes
        the next OUTs here: the report would not change)."""
        hooks = self.hooks
        hooks.flush()
        hooks.on_out(hooks.uc, port, size, value, None)
        call = hooks.call
        known = size == 1 and port < 256 and self.d.fast_out[port] == SITE and not call.stopped \
            and _has_device_hazard(call, hazards.io_site(self.machine)[1])
        self.sync(call)
        return int(known)


def _has_device_hazard(call, linear):
    return any(h["kind"] == "device" and h["linear"] == linear for h in call.report.hazards)

