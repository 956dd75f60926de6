"""Capstone, one owner: one disassembler handle per mode, made on first use and kept.

>>> insn = next(disassembler("real16").disasm(bytes.fromhex("cd12"), 0))
>>> insn.mnemonic, insn.op_str
('int', '0x12')
"""

import capstone

_HANDLES = {}


def disassembler(mode, detail=False):
    """The Capstone handle for ``mode`` ("real16" or "flat32"); ``detail=True`` for operands and groups."""
    key = (mode, detail)
    if key not in _HANDLES:
        md = capstone.Cs(capstone.CS_ARCH_X86,
                         capstone.CS_MODE_16 if mode == "real16" else capstone.CS_MODE_32)
        md.detail = detail
        _HANDLES[key] = md
    return _HANDLES[key]
