"""Source lines before Keystone sees them: refuse what it cannot read or mis-encodes, rewrite the rest.

Each source line becomes a ``Line``: its labels, the text Keystone assembles, and what the checks after
assembly (physcall/asmcheck.py) need: the immediate, displacement and data expressions whose values
must fit.  Why each rewrite exists is said where it is made; GNU as is the reference for every byte.

>>> [l.keystone for l in parse_source("push cs\\nmov byte [si], 1", "flat32", {})]
['.byte 0x0e', 'mov byte ptr [si], 1']
"""

import re

from .errors import AssemblyError

BRANCH_SHORT, BRANCH_NEAR = "short", "near"
_LABEL = re.compile(r"^\s*([A-Za-z_.$][\w.$@]*)\s*:(?!:)")
_IDENT = re.compile(r"^[A-Za-z_.$][\w.$@]*$")
REG8 = "al cl dl bl ah ch dh bh".split()
REG16 = "ax cx dx bx sp bp si di".split()
REG32 = "eax ecx edx ebx esp ebp esi edi".split()
SREG = "es cs ss ds fs gs".split()
REGISTERS = frozenset(REG8 + REG16 + REG32 + SREG + ["cr0", "cr2", "cr3", "cr4"])
SIZES = {"byte": 8, "word": 16, "dword": 32, "fword": 48, "qword": 64, "tword": 80}
PREFIXES = frozenset("rep repe repz repne repnz lock es cs ss ds fs gs".split())
_JCC = {"jo": 0x0, "jno": 0x1, "jb": 0x2, "jc": 0x2, "jnae": 0x2, "jae": 0x3, "jnb": 0x3, "jnc": 0x3,
        "je": 0x4, "jz": 0x4, "jne": 0x5, "jnz": 0x5, "jbe": 0x6, "jna": 0x6, "ja": 0x7, "jnbe": 0x7,
        "js": 0x8, "jns": 0x9, "jp": 0xA, "jpe": 0xA, "jnp": 0xB, "jpo": 0xB, "jl": 0xC, "jnge": 0xC,
        "jge": 0xD, "jnl": 0xD, "jle": 0xE, "jng": 0xE, "jg": 0xF, "jnle": 0xF}
# Keystone 0.9 gives these a 66h operand-size prefix in 32-bit mode (a 2-byte push: a far return
# through them lands on garbage) and push/pop fs/gs a 66h in 16-bit mode too; GNU as gives the
# plain opcodes (Intel SDM vol. 2B, PUSH/POP).
_SEGMENT_STACK = {"push es": "0x06", "push cs": "0x0e", "push ss": "0x16", "push ds": "0x1e",
                  "push fs": "0x0f, 0xa0", "push gs": "0x0f, 0xa8", "pop es": "0x07", "pop ss": "0x17",
                  "pop ds": "0x1f", "pop fs": "0x0f, 0xa1", "pop gs": "0x0f, 0xa9"}
_SEG_BYTE = {"es": 0x26, "cs": 0x2E, "ss": 0x36, "ds": 0x3E, "fs": 0x64, "gs": 0x65}
_REP_BYTE = {"rep": 0xF3, "repe": 0xF3, "repz": 0xF3, "repne": 0xF2, "repnz": 0xF2, "lock": 0xF0}
_STRING = frozenset("movsb movsw movsd cmpsb cmpsw cmpsd stosb stosw stosd lodsb lodsw lodsd scasb "
                    "scasw scasd insb insw insd outsb outsw outsd movs cmps stos lods scas ins "
                    "outs".split())
_DATA = {".byte": 8, ".word": 16, ".short": 16, ".value": 16, ".2byte": 16, ".long": 32, ".int": 32,
         ".4byte": 32}
_NO_BYTES = (".equ", ".set", ".globl", ".global", ".text", ".code16", ".code32", ".intel_syntax",
             ".section")


class Branch:
    """A real16 near branch physcall encodes itself: opcode, size (short or near), target."""

    def __init__(self, op, target_expr, size):
        self.op, self.target_expr, self.size, self.target = op, target_expr, size, None

    def text(self):
        if self.op == "call":
            return ".byte 0xe8, 0, 0"
        if self.op == "jmp":
            return ".byte 0xeb, 0" if self.size == BRANCH_SHORT else ".byte 0xe9, 0, 0"
        cc = _JCC[self.op]
        return ".byte %#x, 0" % (0x70 | cc) if self.size == BRANCH_SHORT else ".byte 0x0f, %#x, 0, 0" % (0x80 | cc)


class Line:
    """One source line, ready for Keystone and for the checks after it."""

    def __init__(self, number, text):
        self.number, self.text = number, text
        self.labels, self.keystone, self.kind = [], "", "empty"
        self.branch, self.imms, self.mems, self.data = None, [], [], []
        self.far_patch, self.mnemonic, self.offsets = False, "", set()

    @property
    def emits(self):
        return self.kind in ("insn", "data", "bytes")

    def grow(self):
        self.branch.size = BRANCH_NEAR
        self.keystone = self.branch.text()

    def refuse(self, why, column=None):
        where = "line %d" % self.number + (", column %d" % column if column else "")
        raise AssemblyError("%s: %s: %r" % (where, why, self.text.strip()), self.number, self.text)


def strip_comment(line):
    """Drop a ``;`` or ``#`` comment, leaving quoted strings alone."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in ";#":
            return line[:i].rstrip()
    return line.rstrip()


def parse_source(source, mode, defines):
    """Every line of ``source`` as a Line; AssemblyError for the first one physcall refuses."""
    lines, seen = [], {}
    for number, text in enumerate(source.split("\n"), 1):
        line = Line(number, text.rstrip("\r"))
        _parse(line, mode, defines)
        for name in line.labels:
            if name in seen:
                raise AssemblyError("line %d: label %r already defined on line %d: rename one"
                                    % (number, name, seen[name]), number, text)
            seen[name] = number
        lines.append(line)
    _labels_as_immediates(lines, defines)
    return lines


def _labels_as_immediates(lines, defines):
    """A bare label as an operand is an immediate for Keystone (and NASM) but a memory operand for
    GNU as (``mov bx, l`` loads from l): refuse it; ``offset l`` says the address, ``[l]`` the memory."""
    labels = {name for line in lines for name in line.labels}
    labels -= {l.keystone.split(None, 1)[1].split(",")[0].strip() for l in lines
               if l.keystone.lower().startswith((".equ", ".set")) and " " in l.keystone}
    labels -= set(defines)
    for line in lines:
        if line.mnemonic.startswith(("j", "call", "loop")) or line.mnemonic in ("ljmp", "lcall"):
            continue
        pushed = [e for _, e in line.data] if line.mnemonic in ("push", "pushw", "pushd") else []
        for expr in line.imms + pushed:
            if expr in line.offsets:
                continue
            used = [w for w in re.findall(r"[A-Za-z_.$][\w.$@]*", expr) if w in labels]
            if used:
                line.refuse("label %r as an immediate: GNU as reads it as memory at %s; write 'offset %s' "
                            "for its address or '[%s]' for what is there" % (used[0], used[0], expr, expr))


def _parse(line, mode, defines):
    _check_characters(line)
    stmt = strip_comment(line.text)
    while True:
        m = _LABEL.match(stmt)
        if not m:
            break
        if m.group(1).startswith("__physcall"):
            line.refuse("labels starting with __physcall are physcall's own")
        line.labels.append(m.group(1))
        stmt = stmt[m.end():]
    stmt = stmt.strip()
    if not stmt:
        return
    words = stmt.split(None, 1)
    op, rest = words[0].lower(), (words[1] if len(words) > 1 else "")
    if op.startswith("."):
        return _directive(line, op, rest, stmt)
    prefixes = []
    while op in PREFIXES and rest:
        prefixes.append(op)
        words = rest.split(None, 1)
        op, rest = words[0].lower(), (words[1] if len(words) > 1 else "")
    line.mnemonic, line.kind = op, "insn"
    operands = split_operands(rest, line)
    operands = [_offset(line, o) for o in operands]
    operands = [_size_words(line, op, o) for o in operands]
    if op not in _STRING:
        operands = [_segment_override(o, prefixes) for o in operands]
    special = _special(line, mode, op, operands, prefixes, defines)
    if special is not None:
        line.kind, line.keystone = "bytes", special
        return
    op = line.mnemonic
    for o in operands:
        _classify(line, op, o)
    # Keystone does not take a segment register as a prefix word (`es lodsb`): give it the byte
    segs = "".join(".byte %#x\n" % _SEG_BYTE[p] for p in prefixes if p in _SEG_BYTE)
    rest = [p for p in prefixes if p not in _SEG_BYTE]
    line.keystone = segs + " ".join(rest + [op, ", ".join(operands)]).strip()


def _check_characters(line):
    """Refuse what Keystone cannot read: NUL cuts its input, ``%`` makes it loop forever, and it
    reads ASCII only (a non-ASCII character is fine in a comment)."""
    code = strip_comment(line.text)
    for column, ch in enumerate(line.text, 1):
        if ch == "\0":
            line.refuse("NUL byte (Keystone would stop reading the source there)", column)
        if column > len(code):
            continue
        if ch == "%":
            line.refuse("'%' is not physcall syntax (Keystone loops forever on it): write registers "
                        "without %, numbers as 0x10", column)
        if ord(ch) > 126 or (ord(ch) < 32 and ch != "\t"):
            line.refuse("character %r (U+%04X) outside a comment: assembly source is ASCII"
                        % (ch, ord(ch)), column)


def split_operands(text, line=None):
    """Operands split at top-level commas; an empty one (``mov ax,``) is refused."""
    out, depth, quote, cur = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip() or out:
        out.append(cur.strip())
    if line is not None and any(not o for o in out):
        line.refuse("empty operand")
    return out


def _directive(line, op, rest, stmt):
    line.keystone = stmt
    if op in _DATA:
        line.kind = "data"
        args = split_operands(rest, line)
        line.data = [(_DATA[op], a) for a in args if not a.startswith(("'", '"')) or len(a) == 3]
    elif op in (".ascii", ".asciz", ".string", ".fill", ".space", ".skip", ".zero", ".org",
                ".align", ".balign", ".p2align", ".quad"):
        line.kind = "data"
    elif op not in _NO_BYTES:
        line.refuse("directive %s is not supported (use .byte/.word/.long/.ascii/.fill/.org/.align/"
                    ".equ)" % op)


def _offset(line, operand):
    """``offset l``: the address of l as an immediate (GNU as); Keystone takes the bare label."""
    m = re.match(r"^offset\s+(.*)$", operand, re.I)
    if not m:
        return operand
    line.offsets.add(m.group(1).strip())
    return m.group(1).strip()


def _size_words(line, op, operand):
    """NASM writes ``byte [si]``; Keystone silently emits nothing for it: add ``ptr``.  ``far``
    (``call far [bx]``) is kept for _special."""
    m = re.match(r"^(byte|word|dword|fword|qword|tword|far|near|short)\b\s*(ptr\b)?\s*(.*)$", operand,
                 re.I)
    if not m:
        return operand
    word, ptr, body = m.group(1).lower(), m.group(2), m.group(3)
    if word in ("near", "short"):
        return body
    if word == "far":
        return "far " + body
    if not ("[" in body) and op != "push":
        line.refuse("size word %r on an operand that is not memory" % word)
    return "%s ptr %s" % (word, body) if "[" in body or ptr else "%s %s" % (word, body)


def _segment_override(operand, prefixes):
    """An explicit ``seg:`` in a memory operand.  GNU as drops one that names the default segment
    (``ss:[bp+4]``, ``ds:[bx]``); one that does not becomes a prefix byte physcall writes, because
    Keystone drops ``ds:`` before a bp-based address (``ds:[bp]`` read SS:[bp] instead)."""
    m = re.match(r"^(.*?)\b([cdefgs]s)\s*:\s*(\[.*)$", operand, re.I)
    if not m:
        return operand
    seg = m.group(2).lower()
    regs = re.findall(r"[a-z]+", m.group(3).lower())
    bp_based = bool(regs) and regs[0] in ("bp", "ebp", "esp")
    if seg != ("ss" if bp_based else "ds"):
        prefixes.append(seg)
    return m.group(1) + m.group(3)


_ALIASES = {"lret": "retf", "xlat": "xlatb", "loopz": "loope", "loopnz": "loopne"}


def _special(line, mode, op, operands, prefixes, defines):
    """Bytes physcall writes itself for forms Keystone gets wrong; None for the rest."""
    key = ("%s %s" % (op, operands[0].lower())) if len(operands) == 1 else op
    if key in _SEGMENT_STACK and not prefixes and (mode == "flat32" or key[-2:] in ("fs", "gs")):
        return ".byte " + _SEGMENT_STACK[key]
    if op == "int" and operands and _value(operands[0], defines) == 3:
        return ".byte 0xcc"                 # GNU as: the one-byte breakpoint (Intel SDM, INT n)
    if op == "mov" and len(operands) == 2 and operands[0].lower() in SREG \
            and operands[1].lower() in (REG32 if mode == "real16" else REG16 + REG32):
        # Keystone: 66h 8Eh; GNU as: 8Eh alone (a segment load takes 16 bits in any mode)
        return ".byte 0x8e, %#x" % (0xC0 | SREG.index(operands[0].lower()) << 3
                                    | _reg_code(operands[1].lower()))
    if op in _ALIASES:                              # GNU as spellings Keystone does not know
        op = line.mnemonic = _ALIASES[op]
    if op in ("movsd", "cmpsd") and not operands:   # Keystone reads these as the SSE2 instructions
        return _string_dword(mode, op, prefixes)
    if op in ("call", "jmp", "lcall", "ljmp") and len(operands) == 1 and _far_pointer(operands[0]):
        return _far_direct(line, mode, op, operands[0])
    if mode == "flat32":
        return _special32(line, op, operands)
    return _special16(line, op, operands, defines)


def _special32(line, op, operands):
    if op in ("call", "jmp") and len(operands) == 1 and re.match(r"fword\s+ptr", operands[0], re.I):
        operands[0] = "far " + operands[0].split("ptr", 1)[1].strip()   # Keystone: no fword
    if op in ("pushf", "popf", "iret") and not operands:       # Keystone: 66h (the 16-bit forms)
        return ".byte %s" % {"pushf": "0x9c", "popf": "0x9d", "iret": "0xcf"}[op]
    if op == "push" and len(operands) == 1 and operands[0].lower().startswith("word ") \
            and "[" not in operands[0]:
        return _push_imm(line, operands[0][5:], 16, "0x66, ")
    if op == "push" and len(operands) == 1 and "[" not in operands[0] \
            and operands[0].lower() not in REGISTERS and not operands[0].lower().startswith(
                ("word ", "dword ")) and _value(operands[0], {}) is None:
        line.data = [(32, operands[0])]         # Keystone: a 16-bit push (66h 68h iw) of a label
        return ".byte 0x68; .long %s" % operands[0]
    if op == "push" and len(operands) == 1 and operands[0].lower().startswith("dword ") \
            and "[" not in operands[0]:
        operands[0] = operands[0][6:].strip()           # the default size: 6Ah/68h as GNU as
        return None
    _far(line, op, operands, "dword")
    return None


def _special16(line, op, operands, defines):
    if op in ("ret", "retn", "retw", "retf", "lretw", "retfw"):
        far = op in ("retf", "lretw", "retfw")
        if not operands:
            return ".byte 0xcb" if far else ".byte 0xc3"
        line.data = [(16, operands[0])]
        return ".byte %s; .word %s" % ("0xca" if far else "0xc2", operands[0])
    if op in ("call", "jmp") or op in _JCC:
        if len(operands) == 1 and _is_target(operands[0]):
            absolute = _value(operands[0], defines)
            size = BRANCH_NEAR if op == "call" or absolute is not None else BRANCH_SHORT
            line.branch = Branch(op, operands[0], size)
            return line.branch.text()
        if op in ("call", "jmp") and len(operands) == 1 and re.match(r"dword\s+ptr", operands[0], re.I):
            line.refuse("'%s dword ptr [..]' is a far call for GNU as and a 32-bit near one for "
                        "Keystone: write '%s far [..]' or '%s word ptr [..]'" % (op, op, op))
        _far(line, op, operands, "word")
        return None
    if op in ("push", "pushw", "pushd") and len(operands) == 1 and "[" not in operands[0] \
            and operands[0].lower() not in REGISTERS:
        text, bits, prefix = operands[0], 16, ""
        if text.lower().startswith(("word ", "dword ")):
            size, text = text.split(None, 1)
            bits, prefix = (32, "0x66, ") if size.lower() == "dword" else (16, "")
        if op == "pushd":
            bits, prefix = 32, "0x66, "
        return _push_imm(line, text, bits, prefix, defines)
    return None


def _string_dword(mode, op, prefixes):
    """``rep movsd`` as GNU as writes it: segment, 66h (real16), rep, opcode."""
    out = [_SEG_BYTE[p] for p in prefixes if p in _SEG_BYTE]
    out += [0x66] if mode == "real16" else []
    out += [_REP_BYTE[p] for p in prefixes if p in _REP_BYTE]
    out.append(0xA5 if op == "movsd" else 0xA7)
    return ".byte " + ", ".join("%#x" % b for b in out)


def _far_pointer(operand):
    body = re.sub(r"^far\s+(ptr\s+)?", "", operand.strip(), flags=re.I)
    return "[" not in body and ":" in body and body.split(":")[0].strip().lower() not in REGISTERS


def _far_direct(line, mode, op, operand):
    """``jmp seg:off`` (EAh/9Ah ptr16:16 or ptr16:32), which Keystone refuses."""
    body = re.sub(r"^far\s+(ptr\s+)?", "", operand.strip(), flags=re.I)
    seg, off = (part.strip() for part in body.split(":", 1))
    wide = 16 if mode == "real16" else 32
    line.data = [(16, seg), (wide, off)]
    opcode = "0x9a" if op in ("call", "lcall") else "0xea"
    return ".byte %s; .%s %s; .word %s" % (opcode, "word" if wide == 16 else "long", off, seg)


def _push_imm(line, text, bits, prefix, defines=None):
    """``push imm``: 6Ah ib when the value fits a signed byte, as GNU as picks, else 68h iw/id."""
    value = _value(text, defines or {})
    line.data = [(bits, text)]
    if value is not None and -128 <= value <= 127:
        return ".byte %s0x6a, %d" % (prefix, value & 0xFF)
    return ".byte %s0x68; .%s %s" % (prefix, "word" if bits == 16 else "long", text)


def _far(line, op, operands, word):
    """``call far [bx]``: Keystone has no syntax for it; assemble the near form and set ModRM.reg
    from /2 (/4) to /3 (/5) afterwards (Intel SDM vol. 2A, CALL and JMP: FF /3, FF /5)."""
    if op in ("call", "jmp") and len(operands) == 1 and operands[0].lower().startswith("far "):
        body = operands[0][4:].strip()
        if "[" not in body:
            operands[0] = body                          # direct: call far 0xf000:0x1234
            return
        operands[0] = "%s ptr %s" % (word, body.split("ptr", 1)[-1].strip() if "ptr" in body else body)
        line.far_patch = True


def _classify(line, op, operand):
    """Note an operand's immediate or displacement expression for the checks after assembly."""
    low = operand.lower()
    if low in REGISTERS or low.startswith("far "):
        return
    if "[" in operand:
        disp = displacement(operand)
        if disp is not None:
            line.mems.append(disp)
        return
    body = re.sub(r"^(byte|word|dword)\s+(ptr\s+)?", "", operand, flags=re.I)
    if ":" in body and op in ("jmp", "call", "ljmp", "lcall"):
        line.imms.extend(part.strip() for part in body.split(":", 1))
    else:
        line.imms.append(body)


def displacement(operand):
    """The displacement expression of a memory operand, registers taken out: ``"[bp-2]"`` -> ``"-2"``;
    None when the operand is not of the form ``[size ptr] [seg:] [ ... ]``."""
    m = re.match(r"^(?:(?:byte|word|dword|fword|qword|tword)\s+ptr\s+)?(?:[a-z]s\s*:\s*)?\[(.*)\]$",
                 operand.strip(), re.I)
    if not m:
        return None
    terms, sign, cur, depth = [], "+", "", 0
    for ch in m.group(1) + "+":
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch in "+-" and depth == 0:
            if cur.strip():
                terms.append((sign, cur.strip()))
            sign, cur = ch, ""
        else:
            cur += ch
    kept = [(s, t) for s, t in terms if not _register_term(t)]
    return "".join("%s(%s)" % term for term in kept) or "0"


def _register_term(term):
    parts = [p.strip().lower() for p in term.split("*")]
    return any(p in REGISTERS for p in parts)


def _is_target(text):
    return bool(_IDENT.match(text)) and text.lower() not in REGISTERS or _value(text, {}) is not None


def _reg_code(name):
    return (REG16.index(name) if name in REG16 else REG32.index(name))


def _value(text, defines):
    """The value of a numeric literal (``0x1234``, ``1234``, ``1234h``, ``-1``) or a define; else None."""
    text = text.strip()
    if text in defines:
        return defines[text]
    low = text.lower()
    neg = low.startswith("-")
    low = low[1:].strip() if neg else low
    try:
        value = int(low[:-1], 16) if low.endswith("h") and low[:1].isdigit() else int(low, 0)
    except ValueError:
        return None
    return -value if neg else value
