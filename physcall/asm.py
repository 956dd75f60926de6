"""Assembly through Keystone: ``asm(source, mode="real16"|"flat32", origin=0)`` -> code and symbols.

Source is Intel syntax, one statement per line; ``;`` and ``#`` start comments (as in NASM listings of
BIOS code).  Results are cached by (source, mode, origin, defines).

Keystone 0.9's 16-bit mode gives ``ret``, ``retf``, ``call label``, ``push imm`` and near conditional or
far-away jumps a 0x66 operand-size prefix: ``retf`` would pop 8 bytes and ``call`` would push 4, which
wrecks the stack of any real-mode routine.  In real16 those statements are rewritten to explicit
encodings before Keystone sees them (``_fix_real16``); tests check every form against Capstone.

>>> a = asm("start: mov ax, 0x1234\\n int 0x12\\n ret", origin=0x100)
>>> a.code.hex(), a.symbols["start"]
('b83412cd12c3', 256)
"""

import functools
import re
from typing import NamedTuple

import keystone

from .errors import AssemblyError

MODES = {"real16": keystone.KS_MODE_16, "flat32": keystone.KS_MODE_32}
MODE_ALIASES = {"16": "real16", "real": "real16", "32": "flat32", "flat": "flat32", "pm32": "flat32"}

_LABEL = re.compile(r"^\s*([A-Za-z_.$][\w.$@]*)\s*:(?!:)")
_IDENT = re.compile(r"^[A-Za-z_.$][\w.$@]*$")
_REGISTERS = frozenset(
    "al ah bl bh cl ch dl dh ax bx cx dx si di bp sp eax ebx ecx edx esi edi ebp esp "
    "cs ds es fs gs ss".split())
_JCC = {"jo": 0x80, "jno": 0x81, "jb": 0x82, "jc": 0x82, "jnae": 0x82, "jae": 0x83, "jnb": 0x83,
        "jnc": 0x83, "je": 0x84, "jz": 0x84, "jne": 0x85, "jnz": 0x85, "jbe": 0x86, "jna": 0x86,
        "ja": 0x87, "jnbe": 0x87, "js": 0x88, "jns": 0x89, "jp": 0x8A, "jpe": 0x8A, "jnp": 0x8B,
        "jpo": 0x8B, "jl": 0x8C, "jnge": 0x8C, "jge": 0x8D, "jnl": 0x8D, "jle": 0x8E, "jng": 0x8E,
        "jg": 0x8F, "jnle": 0x8F}


class Assembly(NamedTuple):
    """Assembled code: ``code`` bytes placed at ``origin``; ``symbols`` maps labels to addresses."""
    code: bytes
    symbols: dict
    mode: str
    origin: int


def normalize_mode(mode):
    """'real16' or 'flat32' from a name or alias; a clear error lists the valid choices."""
    mode = MODE_ALIASES.get(str(mode), str(mode))
    if mode not in MODES:
        raise ValueError("unknown mode %r: choose one of %s" % (mode, ", ".join(MODES)))
    return mode


def asm(source, mode="real16", origin=0, defines=None):
    """Assemble ``source`` for ``mode`` at ``origin``; ``defines`` gives external symbols.

    >>> asm("mov eax, [0x100000]\\nret", mode="flat32").code.hex()
    'a100001000c3'
    """
    mode = normalize_mode(mode)
    frozen = tuple(sorted((defines or {}).items()))
    return _asm_cached(source, mode, origin, frozen)


@functools.lru_cache(maxsize=512)
def _asm_cached(source, mode, origin, defines):
    lines = [strip_comment(line) for line in source.splitlines()]
    fixups = []
    if mode == "real16":
        lines = [_fix_real16(line, dict(defines), fixups) for line in lines]
    labels = [m.group(1) for m in map(_LABEL.match, lines) if m]
    if len(set(labels)) != len(labels):
        dup = next(l for l in labels if labels.count(l) > 1)
        where = [i + 1 for i, l in enumerate(lines) if (_LABEL.match(l) or [None, None])[1] == dup]
        raise AssemblyError("line %d: label %r already defined on line %d: rename one"
                            % (where[1], dup, where[0]), where[1], source.splitlines()[where[1] - 1])
    hidden = [f[0] for f in fixups]
    table = labels + hidden
    tail = "".join("\n.long %s" % label for label in table)
    code = _keystone(mode, "\n".join(lines) + tail, origin, dict(defines), labels, source)
    body, raw = bytearray(code[:len(code) - 4 * len(table)]), code[len(code) - 4 * len(table):]
    values = [int.from_bytes(raw[4 * i:4 * i + 4], "little") for i in range(len(table))]
    symbols = dict(zip(labels, values[:len(labels)]))
    for (name, target, opcode_len), at in zip(fixups, values[len(labels):]):
        rel = (target - (at + opcode_len + 2)) & 0xFFFF       # rel16 counts from the next instruction
        body[at - origin + opcode_len:at - origin + opcode_len + 2] = rel.to_bytes(2, "little")
    return Assembly(bytes(body), symbols, mode, origin)


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


def _fix_real16(line, defines=None, fixups=None):
    """Rewrite the statements Keystone mis-encodes in 16-bit mode (module docstring).

    A near branch to a label becomes explicit bytes with a label difference; one to an absolute
    target (a number or a define) gets a hidden label and a placeholder that ``_asm_cached`` patches,
    because Keystone evaluates ``.`` wrongly in absolute expressions.
    """
    m = _LABEL.match(line)
    head, stmt = (line[:m.end()], line[m.end():]) if m else ("", line)
    parts = stmt.split(None, 1)
    if not parts:
        return line
    op, arg = parts[0].lower(), (parts[1].strip() if len(parts) > 1 else "")
    opcode = {"call": ".byte 0xe8", "jmp": ".byte 0xe9"}.get(op)
    if op in _JCC:
        opcode = ".byte 0x0f, %#x" % _JCC[op]
    new = None
    if op in ("ret", "retn", "retw"):
        new = ".byte 0xc3" if not arg else ".byte 0xc2; .word %s" % arg
    elif op in ("retf", "lret", "lretw", "retfw"):
        new = ".byte 0xcb" if not arg else ".byte 0xca; .word %s" % arg
    elif opcode and _absolute(arg, defines) is not None and fixups is not None:
        name = "__physcall_fix%d" % len(fixups)
        fixups.append((name, _absolute(arg, defines), opcode.count(",") + 1))
        new = "; %s: %s; .word 0" % (name, opcode)
    elif opcode and _is_label(arg):
        new = "%s; .word (%s) - . - 2" % (opcode, arg)
    elif op in ("push", "pushw") and arg and not _is_register(arg) and "[" not in arg:
        new = ".byte 0x68; .word %s" % arg
    return line if new is None else head + " " + new


def _absolute(arg, defines):
    """The value of a numeric literal (``0x1234``, ``1234``, ``1234h``) or a define; else None."""
    if defines and arg in defines:
        return defines[arg]
    text = arg.lower()
    try:
        return int(text[:-1], 16) if text.endswith("h") and text[:1].isdigit() else int(text, 0)
    except ValueError:
        return None


def _is_label(arg):
    return bool(_IDENT.match(arg)) and arg.lower() not in _REGISTERS


def _is_register(arg):
    return arg.lower() in _REGISTERS


_ENGINES = {}


def _engine(mode):
    if mode not in _ENGINES:
        _ENGINES[mode] = keystone.Ks(keystone.KS_ARCH_X86, MODES[mode])
    return _ENGINES[mode]


def _equates(symbols):
    """``.equ`` lines for external symbols.  (Keystone's sym_resolver hook is not used: with one set,
    Keystone 0.9 reads every plain number as hexadecimal, so ``mov cx, 24`` became 0x24.)"""
    return "".join(".equ %s, %#x\n" % (name, value & 0xFFFFFFFF) for name, value in symbols.items())


def _keystone(mode, text, origin, defines, labels, source):
    try:
        encoding, _ = _engine(mode).asm(_equates(defines) + text, origin)
    except keystone.KsError as exc:
        raise _locate(mode, source, defines, labels, exc) from None
    return bytes(encoding or b"")


def _locate(mode, source, defines, labels, exc):
    """Find the source line behind a Keystone error by assembling each line alone, with every label
    and define known (as 0): the first line that still fails is the culprit."""
    known = dict.fromkeys(labels, 0)
    known.update(defines)
    prefix = _equates(known)
    for n, line in enumerate(source.splitlines(), 1):
        stmt = strip_comment(line)
        stmt = _LABEL.sub("", _fix_real16(stmt) if mode == "real16" else stmt)
        try:
            _engine(mode).asm(prefix + stmt, 0)
        except keystone.KsError as one:
            if one.errno == keystone.KS_ERR_ASM_SYMBOL_MISSING:
                return AssemblyError("line %d: undefined symbol in %r: define the label or pass "
                                     "defines={name: value}" % (n, line.strip()), n, line)
            return AssemblyError("line %d: %s: %r (%s mode)" % (n, _reason(one), line.strip(), mode),
                                 n, line)
    return AssemblyError("%s (%s mode); no single line fails alone: check labels and directives"
                         % (_reason(exc), mode))


def _reason(exc):
    return str(exc).split(" (KS_ERR")[0].lower()
