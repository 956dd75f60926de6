"""Flat32 segments as on the real machine: the trampoline's own GDT and selectors, and null selectors.

A flat32 call runs on the trampoline's GDT (csrc/trampoline.S, ``gdt``: code 08h, data 18h, named in
csrc/physcall.h), which stays resident at its address for the whole call.  The dry run takes it from
the trampoline build (physcall.toolchain) and puts it where the image puts it, so that a routine that
reloads a segment register gets what the real CPU gets, and writes to it are refused like any write
outside the call's memory.  Without a toolchain the same descriptors are built from the header's
selectors (logged).

A null selector (0-3) may be loaded into DS/ES/FS/GS, but its first use raises #GP, and with no IDT in
flat32 that is a triple fault: a reset.  Unicorn does not fault on the use, so the loads are watched:
``load_sites`` finds the instructions of a routine that load a segment register, and ``loaded_value``
says what such an instruction is about to load (a code hook runs before the instruction).

>>> [hex(s.address) for s in load_sites(bytes.fromhex("31c08ed8c3"), 0x20000)]
['0x20002']
"""

import logging
import struct

import capstone
from capstone import x86_const as CX

from .. import abi
from ..errors import PhyscallError

log = logging.getLogger("physcall.emulator")

SEGMENT_NAMES = ("es", "cs", "ss", "ds", "fs", "gs")
_FALLBACK = {abi.SEL_CODE32: 0x00CF9A000000FFFF, abi.SEL_DATA: 0x00CF92000000FFFF}


def trampoline_gdt():
    """(linear address, bytes) of the GDT a flat32 call runs on, each present descriptor with its
    accessed bit set: the trampoline has loaded its selectors before the call, and the CPU sets the
    bit then (Intel SDM vol. 3, 3.4.5.1); a load during the call writes nothing."""
    try:
        from .. import toolchain
        tramp = toolchain.load_trampoline()
        lo, hi = tramp.symbols["gdt"], tramp.symbols["gdt_end"]
        return lo, _accessed(tramp.data[lo - tramp.base:hi - tramp.base])
    except (PhyscallError, OSError, KeyError) as exc:
        log.debug("flat32 GDT from csrc/physcall.h's selectors (no trampoline build: %s)", exc)
    entries = [0] * (max(_FALLBACK) // 8 + 1)
    for selector, descriptor in _FALLBACK.items():
        entries[selector // 8] = descriptor
    return abi.TRAMPOLINE_DATA, _accessed(struct.pack("<%dQ" % len(entries), *entries))


def _accessed(gdt):
    out = bytearray(gdt)
    for at in range(0, len(out), 8):
        if out[at + 5] & 0x80:                          # present: set the accessed bit (type bit 0)
            out[at + 5] |= 0x01
    return bytes(out)


def load_sites(code, start):
    """Capstone instructions of flat32 ``code`` that load DS, ES, FS, GS or SS."""
    out = []
    for insn in _DETAIL.disasm(code, start):
        if insn.mnemonic in ("lds", "les", "lfs", "lgs", "lss"):
            out.append(insn)
        elif insn.mnemonic in ("mov", "pop") and insn.op_str.split(",")[0].strip() in SEGMENT_NAMES:
            out.append(insn)
    return out


def loaded_value(uc, insn):
    """(segment register name, selector) that ``insn`` is about to load."""
    from unicorn import x86_const as X
    ops = insn.operands
    if insn.mnemonic == "pop":
        return ops[0].reg and insn.reg_name(ops[0].reg), _word(uc, uc.reg_read(X.UC_X86_REG_ESP))
    if insn.mnemonic == "mov":
        name, src = insn.reg_name(ops[0].reg), ops[1]
        if src.type == CX.X86_OP_REG:
            return name, uc.reg_read(_UC_REG[insn.reg_name(src.reg)]) & 0xFFFF
        return name, _word(uc, _address(uc, insn, src))
    name = insn.mnemonic[1:]                            # lds -> ds
    return name, _word(uc, _address(uc, insn, ops[1]) + (4 if ops[0].size == 4 else 2))


def _address(uc, insn, op):
    """The flat address of a memory operand (segment bases are 0 in flat32)."""
    mem = op.mem
    at = mem.disp
    if mem.base:
        at += uc.reg_read(_UC_REG[insn.reg_name(mem.base)])
    if mem.index:
        at += uc.reg_read(_UC_REG[insn.reg_name(mem.index)]) * mem.scale
    return at & 0xFFFFFFFF


def _word(uc, at):
    return struct.unpack("<H", bytes(uc.mem_read(at, 2)))[0]


def _uc_regs():
    from unicorn import x86_const as X
    names = "eax ebx ecx edx esi edi ebp esp ax bx cx dx si di bp sp".split()
    return {n: getattr(X, "UC_X86_REG_" + n.upper()) for n in names}


_UC_REG = _uc_regs()
_DETAIL = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
_DETAIL.detail = True                                   # operands, for loaded_value
