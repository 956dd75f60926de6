"""Hazards: what the dry run saw that a real machine may not survive, or that belongs to the kernel.

The ruling (issue 10): *refused on every backend* are reset, power-off, A20 turned off, a null selector
that is used, writes to the kernel's RAM or the IVT, control reaching int 18h/19h or the reset vector
(physcall.emulator.policy).  Everything else the dry run sees and cannot vouch for is a *hazard*: it is
reported (``Report.hazards``, the CLI's ``hazards`` line, ``--json``) and refuses a real jump on this
machine (kexec backend) only, unless the caller allows the kind by name or the trampoline declares it
handled (``PC_HANDLED_HAZARDS`` in csrc/physcall.h, one bit per kind).  The vm backend runs in a
disposable guest: there hazards are reported, never refused.

>>> refused_kinds([{"kind": "sti"}, {"kind": "smi"}], allow=["smi"], handled=0)
['sti']
>>> refused_kinds([{"kind": "sti"}], allow=(), handled=KINDS["sti"])
[]
"""

from .. import abi
from ..errors import HazardRefused, OptionError

# kind -> its bit in PC_HANDLED_HAZARDS; the header owns the numbers
KINDS = {"sti": abi.HAZARD_STI, "hlt": abi.HAZARD_HLT, "smi": abi.HAZARD_SMI,
         "device": abi.HAZARD_DEVICE, "wait": abi.HAZARD_WAIT, "unknown-leaf": abi.HAZARD_UNKNOWN_LEAF,
         "unknown-read": abi.HAZARD_UNKNOWN_READ}
WHY = {"sti": "the firmware enables interrupts: the kernel's pending interrupts arrive through the IVT",
       "hlt": "the firmware halts until an interrupt arrives",
       "smi": "a write to the APM control port B2h triggers a System Management Interrupt",
       "device": "the firmware reprograms or waits on a device the kernel owns or the dry run cannot model",
       "wait": "the firmware waits for a timer or an interrupt the dry run cannot deliver",
       "unknown-leaf": "the stub BIOS has no model of this leaf: the real firmware's answer is unknown",
       "unknown-read": "a port with no device model was read (it read as all-ones)"}
# Ports whose writes reprogram a device the kernel owns while it is suspended around the jump
KERNEL_DEVICES = {0x20: "8259 PIC (master)", 0x21: "8259 PIC (master) mask", 0xA0: "8259 PIC (slave)",
                  0xA1: "8259 PIC (slave) mask", 0x40: "8254 PIT counter 0", 0x41: "8254 PIT counter 1",
                  0x42: "8254 PIT counter 2", 0x43: "8254 PIT mode", 0x60: "PS/2 controller data",
                  0x64: "PS/2 controller command", 0x71: "CMOS/RTC data", 0xCFC: "PCI configuration data",
                  0xCFD: "PCI configuration data", 0xCFE: "PCI configuration data",
                  0xCFF: "PCI configuration data"}


def handled():
    """The kinds the trampoline declares handled (PC_HANDLED_HAZARDS), as a bit mask."""
    return abi.HANDLED_HAZARDS


def check_allow(allow):
    """``allow`` as a list of known kinds; an unknown name is an error that lists the kinds."""
    allow = [allow] if isinstance(allow, str) else list(allow or ())
    unknown = [k for k in allow if k not in KINDS]
    if unknown:
        raise OptionError("allow=%r: unknown hazard kind%s %s; the kinds are %s"
                            % (allow, "s" if len(unknown) > 1 else "", ", ".join(unknown),
                               ", ".join(KINDS)))
    return allow


def refused_kinds(hazards, allow=(), handled=None):
    """The kinds among ``hazards`` that neither ``allow`` nor the trampoline (``handled``) covers."""
    mask = abi.HANDLED_HAZARDS if handled is None else handled
    kinds = []
    for h in hazards:
        kind = h["kind"]
        if kind not in allow and not KINDS.get(kind, 0) & mask and kind not in kinds:
            kinds.append(kind)
    return kinds


def refuse_unallowed(layout, reports, allow):
    """Raise HazardRefused when a call's dry run saw a hazard the caller did not allow (kexec)."""
    lines, kinds, first_report = [], [], None
    for placed, report in zip(layout.calls, reports):
        for kind in refused_kinds(report.hazards, allow):
            first = next(h for h in report.hazards if h["kind"] == kind)
            lines.append("call %d (%s): %s at %s: %s" % (placed.index, report.call, kind, first["at"],
                                                         first["text"]))
            kinds += [kind] if kind not in kinds else []
            first_report = first_report or report
    if lines:
        raise HazardRefused("the dry run saw hazards a real jump on this machine may not survive:\n  %s\n"
                            "allow them by name if you accept the risk (allow=%r, CLI: %s), or try it "
                            "in physcall's QEMU guest (backend='vm')"
                            % ("\n  ".join(lines), kinds, " ".join("--allow " + k for k in kinds)),
                            first_report)


# ------------------------------------------------------------------ detection, called by the hooks

def where(machine, linear=None):
    """(at, linear) of the current instruction: the report's cs:ip/eip text and the address."""
    at, lin = machine.where()
    return at, lin if linear is None else linear


_IO = frozenset(("in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd"))


def io_site(machine):
    """(at, linear) of the port instruction being hooked.  Unicorn has not always written EIP back
    when an in/out hook runs (seen: EIP at the start of the block on its first run), so look from
    there for the first port instruction of the block."""
    at, lin = machine.where()
    mode = "flat32" if at.startswith("eip") else "real16"
    from ..disasm import disassembler
    for insn in disassembler(mode).disasm(bytes(machine.uc.mem_read(lin, 48)), lin):
        if insn.mnemonic in _IO:
            return _moved(at, insn.address - lin), insn.address
        if insn.mnemonic.startswith(("j", "call", "ret", "loop", "iret", "lcall", "ljmp")):
            break                                # the block ends here: EIP was right after all
    return at, lin


def _moved(at, delta):
    """``at`` text advanced by ``delta`` bytes (cs:ip wraps within the segment)."""
    if not delta:
        return at
    kind, _, value = at.rpartition(" ")
    if ":" in value:
        seg, off = value.split(":")
        return "%s %s:%04x" % (kind, seg, (int(off, 16) + delta) & 0xFFFF)
    return "%s %08x" % (kind, int(value, 16) + delta)


# Port reads in one call beyond which a loop in the firmware counts as waiting (a hazard that ends the
# dry run), instead of running out the budget at ~10 us of Python per read.  SeaBIOS's paths in the
# matrix read a few dozen ports; a PIT or port-61h delay reads ~70 per millisecond it waits.
POLL_LIMIT = 20_000


def port_in(machine, call, port, modelled):
    """Count the read; name an unmodelled port once; stop a firmware loop that polls too long."""
    call.recent_ports.append((port, modelled))
    call.port_reads += 1
    if not modelled and port not in call.unknown_ports:
        call.unknown_ports.add(port)
        at, lin = io_site(machine)
        call.report.hazard("unknown-read", at, lin, "in from port %04xh: no device model, read as all-ones"
                           % port)
    if call.port_reads == POLL_LIMIT:
        at, lin = where(machine)
        if call.in_routine(lin) or call.in_own(lin):
            pass                                 # the routine's own loop: the exact budget decides
        else:
            waiting(machine, call, "%d port reads" % POLL_LIMIT)
            call.stopped = call.report.unverified
            machine.uc.emu_stop()


def out_hazard(port):
    """The hazard kind an ``out`` to ``port`` records (once per site), or None."""
    return "smi" if port == 0xB2 else "device" if port in KERNEL_DEVICES else None


def port_out(machine, call, port, value):
    if out_hazard(port) is None:
        return
    at, lin = io_site(machine)
    if port == 0xB2:
        call.report.hazard("smi", at, lin, "out %02xh to port 00b2h (APM control): triggers an SMI"
                           % (value & 0xFF))
    elif port in KERNEL_DEVICES:
        call.report.hazard("device", at, lin, "out %#x to port %04xh (%s): reprograms a device the "
                                              "kernel owns" % (value, port, KERNEL_DEVICES[port]))


def mmio(machine, call, address, access, owner):
    """The first touch of a memory-mapped device's page: no model answers it (reads give zeros), so
    the dry run ends here, unverified."""
    if call.stopped:
        return
    from unicorn import UC_MEM_WRITE_UNMAPPED
    at, lin = where(machine)
    what = "writes" if access == UC_MEM_WRITE_UNMAPPED else "reads"
    call.report.stop_unverified("device", at, lin, "%s memory-mapped %#x, which belongs to %s: no "
                                "model answers it" % (what, address, owner))
    call.stopped = call.report.unverified
    machine.uc.emu_stop()


def unknown_leaf(machine, call, text):
    at, lin = where(machine)
    call.report.hazard("unknown-leaf", at, lin, text)


def on_sti(machine, call):
    """The firmware (or the routine) runs ``sti``."""
    at, lin = where(machine)
    call.report.hazard("sti", at, lin, "sti: interrupts enabled (%s)" % WHY["sti"])


def halted(machine, call, linear):
    """``hlt`` outside the user's routine: the firmware waits for an interrupt that the dry run cannot
    deliver; the call is checked up to here."""
    at, _ = where(machine)
    at = _back_one(at)
    call.report.stop_unverified("hlt", at, linear, "hlt: %s" % WHY["hlt"])


def waiting(machine, call, limit=None):
    """A firmware loop outlived the budget (or ``limit``): name what it polled (an unmodelled device,
    a timer, memory an interrupt would change) instead of refusing the routine."""
    at, lin = where(machine)
    limit = limit or "the budget (%d instructions)" % machine.budget
    polled = list(dict.fromkeys(call.recent_ports))
    unmodelled = ["%04xh" % p for p, modelled in polled if not modelled]
    if unmodelled:
        call.report.stop_unverified("device", at, lin, "polls port%s %s, which no device model answers"
                                    % ("s" if len(unmodelled) > 1 else "", ", ".join(unmodelled)))
    elif polled:
        call.report.stop_unverified("wait", at, lin, "polls port%s %s for longer than %s: a timer or "
                                    "device wait" % ("s" if len(polled) > 1 else "",
                                                     ", ".join("%04xh" % p for p, _ in polled), limit))
    else:
        call.report.stop_unverified("wait", at, lin, "loops for longer than %s without port I/O: "
                                    "waiting for memory an interrupt would change" % limit)


def _back_one(at):
    """The cs:ip text of the instruction before (a one-byte hlt); Unicorn stops after it."""
    return _moved(at, -1)
