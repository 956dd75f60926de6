"""After Keystone: each line's bytes decoded again with Capstone and held against what the line says.

Keystone 0.9 truncates a value that does not fit its field without a word (``mov al, 300`` is
``mov al, 2Ch``) and emits nothing for forms it does not know.  So every immediate, displacement and
data value of a line is evaluated on its own (by Keystone, with every label known, as a 64-bit
``.quad``) and must fit the field Capstone finds in the bytes, with the same value; and a statement
must decode as exactly one instruction.

>>> fits(300, 8), fits(-1, 16), fits(0xFFFF, 16), fits(0x10000, 16)
(False, True, True, False)
"""

import capstone
from capstone import x86_const as CX

from .asmworker import keystone_asm
from .asmsyntax import _value
from .disasm import disassembler
from .errors import AssemblyError

# GNU as writes legacy prefixes in this order (gas/config/tc-i386.c: SEG_PREFIX, ADDR_PREFIX,
# DATA_PREFIX, then LOCK/REP); Keystone puts them elsewhere, which is the same instruction in other
# bytes.  Reordering keeps the length, so no address moves.
_RANK = {0x26: 0, 0x2E: 0, 0x36: 0, 0x3E: 0, 0x64: 0, 0x65: 0, 0x67: 1, 0x66: 2, 0xF0: 3, 0xF2: 3,
         0xF3: 3}


def fits(value, bits):
    """True when ``value`` is representable in ``bits`` bits, signed or unsigned."""
    return -(1 << (bits - 1)) <= value < (1 << bits)


def evaluate(lines, mode, symbols, defines):
    """{expression: value or None} for every value a line must check, labels resolved."""
    exprs = []
    for line in lines:
        exprs += line.imms + line.mems + [e for _, e in line.data]
    values, rest = {}, []
    for e in dict.fromkeys(exprs):
        v = _value(e, defines)
        if v is None:
            rest.append(e)
        else:
            values[e] = v
    if rest:
        head = "".join(".equ %s, %#x\n" % (n, v & 0xFFFFFFFF) for n, v in {**symbols, **defines}.items())
        head += "".join(line.keystone + "\n" for line in lines
                        if line.keystone.lower().startswith((".equ", ".set")))
        values.update(_quads(mode, head, rest))
    return values


def _quads(mode, head, exprs):
    code, _ = keystone_asm(mode, head + "".join(".quad (%s)\n" % e for e in exprs), 0)
    if code is not None and len(code) == 8 * len(exprs):
        return {e: _signed(code[8 * i:8 * i + 8]) for i, e in enumerate(exprs)}
    if len(exprs) == 1:
        return {exprs[0]: None}
    out = {}
    for e in exprs:
        out.update(_quads(mode, head, [e]))
    return out


def _signed(raw):
    return int.from_bytes(raw, "little", signed=True)


def check_line_bytes(line, body, start, end, origin, mode, values):
    """Refuse the line if its bytes say something else than its text (module docstring)."""
    data = body[start - origin:end - origin]
    if line.kind == "insn" and not data:
        line.refuse("Keystone emits nothing for this statement (%s mode): a form it does not know"
                    % mode)
    for bits, e in line.data:
        _fit(line, e, values.get(e), bits, "value")
    if line.kind != "insn":
        return
    if line.far_patch:
        at = start - origin + _prefix_count(data)
        body[at + 1] |= 0x08                            # FF /2 -> /3, FF /4 -> /5
        data = body[start - origin:end - origin]
    insns = list(disassembler(mode, detail=True).disasm(bytes(data), start))
    if len(insns) != 1 or insns[0].size != len(data):
        line.refuse("Keystone's bytes %s decode as %d instructions, not one" % (bytes(data).hex(),
                                                                                 len(insns)))
    _check_operands(line, insns[0], mode, values)


def _check_operands(line, insn, mode, values):
    imms = [op for op in insn.operands if op.type == CX.X86_OP_IMM]
    mems = [op for op in insn.operands if op.type == CX.X86_OP_MEM]
    if len(imms) != len(line.imms) or len(mems) < len(line.mems):
        line.refuse("Keystone's bytes (%s %s) do not have the operands the line has"
                    % (insn.mnemonic, insn.op_str))
    relative = insn.group(capstone.CS_GRP_BRANCH_RELATIVE)
    wide = 32 if (mode == "flat32") != (0x66 in insn.prefix) else 16
    for expr, op in zip(line.imms, imms):
        bits = wide if relative else 8 * op.size
        value = values.get(expr)
        _fit(line, expr, value, bits, "target" if relative else "immediate")
        if relative and value < 0:
            line.refuse("branch target %s is negative" % expr)
        _same(line, expr, value, op.imm, bits)
    address = 32 if (mode == "flat32") != (0x67 in insn.prefix) else 16
    for expr, op in zip(line.mems, mems):
        value = values.get(expr)
        _fit(line, expr, value, address, "displacement")
        _same(line, expr, value, op.mem.disp, address)


def _fit(line, expr, value, bits, what):
    if value is None:
        line.refuse("cannot check the %s %r on its own (an expression Keystone cannot evaluate "
                    "alone): use a number, a label or a define" % (what, expr))
    if not fits(value, bits):
        line.refuse("%s %s = %#x does not fit in %d bits (Keystone would truncate it silently)"
                    % (what, expr, value, bits))


def _same(line, expr, value, got, bits):
    mask = (1 << bits) - 1
    if (value - got) & mask:
        line.refuse("Keystone encoded %s as %#x, not %#x" % (expr, got & mask, value & mask))


def _prefix_count(data):
    n = 0
    while n < len(data) and data[n] in _RANK:
        n += 1
    return n


def reorder_prefixes(line, body, start, end, origin, mode):
    """Legacy prefixes of an instruction line in GNU as's order (see _RANK)."""
    if line.kind != "insn":
        return
    at = start - origin
    n = _prefix_count(body[at:end - origin])
    if n > 1:
        body[at:at + n] = bytes(sorted(body[at:at + n], key=_RANK.get))


__all__ = ["AssemblyError", "check_line_bytes", "evaluate", "fits", "reorder_prefixes"]
