"""What a routine may do in a dry run: which ports it may touch, where it may write, which instructions.

Writes are allowed into the call's stack, its buffers, its own code (a routine keeps its variables next
to its code: DS = CS by default), the firmware's writable areas and any range the caller adds with
``Policy(writable=...)``; everything else, the IVT (0-0x3FF) included, is forbidden.  The machine hooks
only the *forbidden* ranges, so legal writes cost no Python.

>>> p = Policy(ports="refuse", writable=[(0x200000, 0x201000, "scratch")])
>>> p.ports, p.writable
('refuse', ((2097152, 2101248, 'scratch'),))
"""

import functools
import re
from dataclasses import dataclass, field

from ..errors import ModelError
from ..disasm import disassembler
from ..ranges import merge

PORT_POLICIES = ("log", "refuse")

# Instructions a real16 (or flat32) routine must not execute: they change the mode, the descriptor
# tables or caches, or talk to MSRs, and the glove box around the call cannot undo them (compare
# arch/x86/boot/bioscall.S, which restores only general registers and segments).  smsw, cli and sti
# are harmless and allowed.
PRIVILEGED = frozenset(("lgdt", "lidt", "lldt", "ltr", "lmsw", "wrmsr", "rdmsr", "hlt", "invd",
                        "wbinvd", "invlpg", "clts", "lss", "sysenter", "sysexit", "rsm", "xsetbv"))


@dataclass(frozen=True)
class Policy:
    """``ports``: "log" (answer from a device model or all-ones) or "refuse" (any port not in
    ``allowed_ports`` refuses the call); ``writable``: extra ``(start, end, why)`` ranges."""
    ports: str = "log"
    writable: tuple = ()
    allowed_ports: frozenset = field(default_factory=frozenset)

    def __post_init__(self):
        if self.ports not in PORT_POLICIES:
            raise ModelError("Policy(ports=%r): choose one of %s" % (self.ports,
                                                                     ", ".join(PORT_POLICIES)))
        object.__setattr__(self, "writable", tuple(tuple(w) for w in self.writable))
        object.__setattr__(self, "allowed_ports", frozenset(self.allowed_ports))

    def refuses_port(self, port):
        """True when an access to ``port`` refuses the call (ports="refuse", not in allowed_ports)."""
        return self.ports == "refuse" and port not in self.allowed_ports


def allowed_ranges(placed, layout, firmware, policy):
    """Merged [start, end) ranges the call may write."""
    ranges = [layout.stack, tuple(placed.code)]
    ranges += [(at, at + size) for at, size in placed.buffers.values()]
    ranges += [(lo, hi) for lo, hi, *_ in firmware.writable]
    ranges += [(lo, hi) for lo, hi, *_ in policy.writable]
    return merge(ranges)


_CONTROL = re.compile(r"[cd]r\d+\s*,")
TIMERS = ("rdtsc", "rdtscp", "rdpmc")


@functools.lru_cache(maxsize=4096)
def _scan(code, start, mode):
    """One pass of the disassembler over ``code`` at ``start``: (privileged findings, ret sites, sti
    sites, timer sites).  Kept by (bytes, address, mode), which decide the answer: a warm call's
    routine and the blocks the edge hook checks are disassembled once, not at every call."""
    found, rets, stis, timers = [], [], [], []
    for insn in disassembler(mode).disasm(code, start):
        if _privileged(insn):
            found.append("%s at %#07x" % (("%s %s" % (insn.mnemonic, insn.op_str)).strip(), insn.address))
        if insn.mnemonic == "ret":
            rets.append(insn.address)
        elif insn.mnemonic == "sti":
            stis.append(insn.address)
        elif insn.mnemonic in TIMERS:
            timers.append(insn.address)
    return tuple(found), tuple(rets), tuple(stis), tuple(timers)


def static_check(code, start, mode):
    """Privileged instructions in a routine's bytes, as ["lgdt at 0x20007", ...].

    >>> static_check(bytes.fromhex("0f0116000090c3"), 0x20004, "real16")
    ['lgdt [0] at 0x20004']
    """
    return list(_scan(bytes(code), start, mode)[0])


def _privileged(insn):
    if insn.mnemonic in PRIVILEGED:
        return True
    # mov *to* a control or debug register ("mov cr0, eax"); reading one is as harmless as smsw
    return insn.mnemonic == "mov" and _CONTROL.match(insn.op_str) is not None


DANGER_VECTORS = frozenset({0x15, 0x18, 0x19})     # every vector dangerous_interrupt may name


def dangerous_interrupt(vector, ax):
    """Why ``int vector`` with AX would reboot or power off the machine, or None (RBIL entries)."""
    if vector == 0x19:
        return "int 19h is the bootstrap loader: it reboots into the boot sector"
    if vector == 0x18:
        return "int 18h (boot failure / ROM BASIC) does not return to the caller"
    if vector == 0x15 and ax == 0x2400:
        return "int 15h ax=2400h turns A20 off (memory above 1 MiB aliases)"
    if vector == 0x15 and ax == 0x5307:
        return "int 15h ax=5307h (APM set power state) can suspend or power off the machine"
    return None


def ret_sites(code, start, mode):
    """Addresses of near ``ret`` instructions in a routine's bytes (for the stack-balance check)."""
    return list(_scan(bytes(code), start, mode)[1])


def sti_sites(code, start, mode):
    """Addresses of ``sti`` in a routine's bytes: a hazard when it runs (physcall.emulator.hazards)."""
    return list(_scan(bytes(code), start, mode)[2])


def timer_sites(code, start, mode):
    """Addresses of rdtsc, rdtscp and rdpmc in a routine's bytes: reads of counters the dry run does
    not model (Unicorn's binding cannot hook them, so they are found before the run)."""
    return list(_scan(bytes(code), start, mode)[3])
