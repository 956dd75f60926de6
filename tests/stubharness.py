"""A private Unicorn harness for the stub BIOS tests: one BIOS call, the IVT dispatched by hand.

Unicorn 2 does not vector ``int n`` through the real-mode IVT (physcall/DESIGN.md, "The emulator"),
so the interrupt hook does what the CPU would: push FLAGS, CS, IP; clear IF and TF; load CS:IP from
IVT[n].  The caller is ``int N; hlt`` at 0000:7C00 with its stack below it and buffers at 2000:0000.
"""

import struct

from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_HOOK_INTR, UC_MODE_16, Uc
from unicorn import x86_const as X

CALLER, STACK, BUF_SEG = 0x7C00, 0x7000, 0x2000
REG = {"eax": X.UC_X86_REG_EAX, "ebx": X.UC_X86_REG_EBX, "ecx": X.UC_X86_REG_ECX, "edx": X.UC_X86_REG_EDX,
       "esi": X.UC_X86_REG_ESI, "edi": X.UC_X86_REG_EDI, "ebp": X.UC_X86_REG_EBP, "ds": X.UC_X86_REG_DS,
       "es": X.UC_X86_REG_ES, "eflags": X.UC_X86_REG_EFLAGS}


class Outcome:
    def __init__(self, regs, mem, ports):
        self.regs, self.mem, self.ports = regs, mem, ports

    def __getattr__(self, name):                      # ax, bx, ... views
        r = {"ax": "eax", "bx": "ebx", "cx": "ecx", "dx": "edx", "si": "esi", "di": "edi"}
        if name in r:
            return self.regs[r[name]] & 0xFFFF
        if name in ("ah", "bh", "ch", "dh"):
            return self.regs["e" + name[0] + "x"] >> 8 & 0xFF
        if name in ("al", "bl", "cl", "dl"):
            return self.regs["e" + name[0] + "x"] & 0xFF
        raise AttributeError(name)

    @property
    def cf(self):
        return bool(self.regs["eflags"] & 1)

    @property
    def zf(self):
        return bool(self.regs["eflags"] & 0x40)

    def far(self, seg, off, size):
        at = (seg << 4) + off
        return self.mem[at:at + size]

    def buf(self, size, off=0):
        return self.far(BUF_SEG, off, size)


def call(firmware, vector, buffer=b"", eflags=0x0001, **regs):
    """Run ``int vector`` with ``regs`` (es/ds default to the buffer segment) against ``firmware``."""
    uc = Uc(UC_ARCH_X86, UC_MODE_16)
    uc.mem_map(0, 0x100000)
    uc.mem_write(0, firmware.low)
    uc.mem_write(BUF_SEG << 4, bytes(buffer))
    uc.mem_write(CALLER, bytes((0xCD, vector, 0xF4)))
    ports = []
    uc.hook_add(UC_HOOK_INTR, _dispatch)
    uc.hook_add(UC_HOOK_INSN, lambda u, port, size, value, _: ports.append((port, value)), None, 1, 0,
                X.UC_X86_INS_OUT)
    regs = {"ds": BUF_SEG, "es": BUF_SEG, **regs}
    for name, value in regs.items():
        uc.reg_write(REG[name], value)
    uc.reg_write(X.UC_X86_REG_EFLAGS, eflags)
    uc.reg_write(X.UC_X86_REG_SS, 0)
    uc.reg_write(X.UC_X86_REG_SP, STACK)
    uc.reg_write(X.UC_X86_REG_CS, 0)
    uc.emu_start(CALLER, CALLER + 2, count=200000)
    assert uc.reg_read(X.UC_X86_REG_SP) == STACK, "unbalanced stack"
    assert uc.reg_read(X.UC_X86_REG_IP) == CALLER + 2, "did not return (ip=%#x)" % uc.reg_read(X.UC_X86_REG_IP)
    out = {name: uc.reg_read(r) for name, r in REG.items()}
    return Outcome(out, bytes(uc.mem_read(0, 0x100000)), ports)


def _dispatch(uc, intno, _):
    ip, cs = uc.reg_read(X.UC_X86_REG_IP), uc.reg_read(X.UC_X86_REG_CS)
    flags, sp = uc.reg_read(X.UC_X86_REG_EFLAGS) & 0xFFFF, uc.reg_read(X.UC_X86_REG_SP)
    ss = uc.reg_read(X.UC_X86_REG_SS)
    sp = (sp - 6) & 0xFFFF
    uc.mem_write((ss << 4) + sp, struct.pack("<HHH", ip, cs, flags))
    uc.reg_write(X.UC_X86_REG_SP, sp)
    uc.reg_write(X.UC_X86_REG_EFLAGS, flags & ~0x0300)
    off, seg = struct.unpack("<HH", uc.mem_read(4 * intno, 4))
    uc.reg_write(X.UC_X86_REG_CS, seg)
    uc.reg_write(X.UC_X86_REG_IP, off)
