"""Assembly through Keystone that never lies: ``asm(source, mode="real16"|"flat32", origin=0)``.

Source is Intel syntax, one statement per line; ``;`` and ``#`` start comments (as in NASM listings of
BIOS code).  Results are cached by (source, mode, origin, defines).  GNU as is the reference: every
line either assembles to the bytes GNU as gives (``.code16``/``.code32``, Intel syntax; the corpus in
tests/test_asm_oracle.py), or is refused with its number.  How:

- before Keystone (physcall/asmsyntax.py): characters Keystone cannot read (NUL, non-ASCII, ``%``,
  on which it loops forever), empty operands, ambiguous forms are refused; NASM size words without
  ``ptr`` are completed; the forms Keystone 0.9 mis-encodes (segment pushes with a 66h prefix in
  32-bit mode, ``retf``/``call``/``push imm`` with 66h in 16-bit mode, ``int 3``) become explicit
  bytes, and real16 branches are relaxed here, short where the target reaches, as GNU as does;
- Keystone runs in a child process with a timeout (physcall/asmworker.py);
- after it, each line's bytes are decoded again with Capstone: a statement that emits nothing, an
  immediate, displacement or data value that does not fit its field (Keystone truncates silently),
  is refused; legacy prefixes are put in GNU as's order.

>>> a = asm("start: mov ax, 0x1234\\n int 0x12\\n ret", origin=0x100)
>>> a.code.hex(), a.symbols["start"], a.lines
('b83412cd12c3', 256, ((1, 256, 259), (2, 259, 261), (3, 261, 262)))
"""

import functools
from typing import NamedTuple

from .asmcheck import check_line_bytes, evaluate, reorder_prefixes
from .asmsyntax import BRANCH_NEAR, BRANCH_SHORT, Line, parse_source
from .asmworker import keystone_asm
from .errors import AssemblyError, PhyscallError

MODES = ("real16", "flat32")
MODE_ALIASES = {"16": "real16", "real": "real16", "32": "flat32", "flat": "flat32", "pm32": "flat32"}
_HIDDEN = "__physcall_l"
_MAX_PASSES = 16


class Assembly(NamedTuple):
    """Assembled code: ``code`` bytes placed at ``origin``; ``symbols`` maps labels to addresses;
    ``lines`` gives (line number, start, end) for every source line that emits bytes."""
    code: bytes
    symbols: dict
    mode: str
    origin: int
    lines: tuple = ()


class ModeError(PhyscallError, ValueError):
    """A mode name physcall does not know."""


def normalize_mode(mode):
    """'real16' or 'flat32' from a name or alias; a clear error lists the valid choices."""
    mode = MODE_ALIASES.get(str(mode), str(mode))
    if mode not in MODES:
        raise ModeError("unknown mode %r: choose one of %s" % (mode, ", ".join(MODES)))
    return mode


def decode_source(data, name="source"):
    """Source bytes as text: UTF-8, or an AssemblyError naming the line and column of the bad byte.

    >>> decode_source(b"nop\\nmov al, 1 ; caf\\xc3\\xa9\\n")
    'nop\\nmov al, 1 ; caf\\xe9\\n'
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        text = data.split(b"\n")[line - 1].decode("utf-8", "replace")
        raise AssemblyError("%s line %d, column %d: byte %#04x is not UTF-8: save the file as UTF-8"
                            % (name, line, column, data[exc.start]), line, text) from None


def asm(source, mode="real16", origin=0, defines=None):
    """Assemble ``source`` (text, or UTF-8 bytes) for ``mode`` at ``origin``; ``defines`` gives
    external symbols.

    >>> asm("mov eax, [0x100000]\\nret", mode="flat32").code.hex()
    'a100001000c3'
    """
    mode = normalize_mode(mode)
    if isinstance(source, (bytes, bytearray)):
        source = decode_source(bytes(source))
    frozen = tuple(sorted((defines or {}).items()))
    return _asm_cached(source, mode, origin, frozen)


def strip_comment(line):
    """Drop a ``;`` or ``#`` comment, leaving quoted strings alone."""
    from .asmsyntax import strip_comment as strip
    return strip(line)


@functools.lru_cache(maxsize=512)
def _asm_cached(source, mode, origin, defines):
    defines = dict(defines)
    lines = parse_source(source, mode, defines)
    for _ in range(_MAX_PASSES):
        code, table = _assemble(lines, mode, origin, defines)
        if not _relax(lines, table):
            break
    symbols = {name: table[name] for line in lines for name in line.labels}
    body = bytearray(code)
    spans = []
    values = evaluate(lines, mode, symbols, defines)
    for i, line in enumerate(lines):
        start, end = table[_mark(i)], table[_mark(i + 1)]
        if line.branch:
            _patch_branch(body, line, start, end, table, origin, mode)
        else:
            check_line_bytes(line, body, start, end, origin, mode, values)
            reorder_prefixes(line, body, start, end, origin, mode)
        if end > start:
            spans.append((line.number, start, end))
    return Assembly(bytes(body), symbols, mode, origin, tuple(spans))


def _mark(i):
    return "%s%d" % (_HIDDEN, i)


def _assemble(lines, mode, origin, defines):
    """One Keystone pass: the lines, each after a hidden label, then a table of label values."""
    text, table = [_equates(defines)], []
    for i, line in enumerate(lines):
        text.append("%s:" % _mark(i))
        text.extend("%s:" % name for name in line.labels)
        text.append(line.keystone)
        table.extend(line.labels)
        if line.branch and line.branch.target_expr:
            table.append(line.branch.target_expr)
    text.append("%s:" % _mark(len(lines)))
    names = [_mark(i) for i in range(len(lines) + 1)] + table
    text.extend(".long %s" % name for name in names)
    code, error = keystone_asm(mode, "\n".join(text), origin)
    end_of_body = None
    if code is not None and len(code) >= 4 * len(names):
        raw = code[len(code) - 4 * len(names):]
        values = [int.from_bytes(raw[4 * k:4 * k + 4], "little") for k in range(len(names))]
        end_of_body = values[len(lines)]
        if end_of_body - origin == len(code) - 4 * len(names):
            table_values = dict(zip(names, values))
            return code[:len(code) - 4 * len(names)], _with_targets(table_values, lines)
    raise _locate(lines, mode, defines, error, origin)


def _with_targets(values, lines):
    for line in lines:
        if line.branch and line.branch.target_expr:
            line.branch.target = values[line.branch.target_expr]
    return values


def _relax(lines, table):
    """Grow the short real16 branches whose target is out of reach; True if any grew."""
    grew = False
    for i, line in enumerate(lines):
        b = line.branch
        if b and b.size == BRANCH_SHORT:
            rel = b.target - table[_mark(i + 1)]
            if not -128 <= rel <= 127:
                line.grow()
                grew = True
    return grew


def _patch_branch(body, line, start, end, table, origin, mode):
    b = line.branch
    if not 0 <= b.target <= 0xFFFF:
        raise AssemblyError("line %d: branch target %#x is outside the 64 KiB code segment: %r"
                            % (line.number, b.target, line.text.strip()), line.number, line.text)
    at = end - origin
    if b.size == BRANCH_NEAR:
        body[at - 2:at] = ((b.target - end) & 0xFFFF).to_bytes(2, "little")
    else:
        body[at - 1] = (b.target - end) & 0xFF


def _equates(symbols):
    """``.equ`` lines for external symbols.  (Keystone's sym_resolver hook is not used: with one set,
    Keystone 0.9 reads every plain number as hexadecimal, so ``mov cx, 24`` became 0x24.)"""
    return "".join(".equ %s, %#x\n" % (name, value & 0xFFFFFFFF) for name, value in symbols.items())


def _locate(lines, mode, defines, whole_error, origin=0):
    """Find the line behind a Keystone failure (an error, or output that stops short) by assembling
    each line alone, with every label and define known (as 0): the first that fails is the culprit."""
    known = dict.fromkeys((name for line in lines for name in line.labels), 0)
    known.update(defines)
    prefix = _equates(known)
    for line in lines:
        if not line.keystone.strip():
            continue
        probe = line.keystone
        if line.branch:
            probe += "\n.long %s" % line.branch.target_expr
        code, error = keystone_asm(mode, prefix + probe, 0)
        if error is None and (code or not line.emits):
            continue
        where = "line %d: " % line.number
        if error is None:
            return AssemblyError(where + "Keystone emits nothing for %r (%s mode): a form it does not "
                                 "know" % (line.text.strip(), mode), line.number, line.text)
        errno, message = error
        if "SYMBOL_MISSING" in message:
            return AssemblyError(where + "undefined symbol in %r: define the label or pass "
                                 "defines={name: value}" % line.text.strip(), line.number, line.text)
        return AssemblyError(where + "%s: %r (%s mode)" % (_reason(message), line.text.strip(), mode),
                             line.number, line.text)
    line = _first_failing_prefix(lines, mode, defines, origin)
    if line is not None:
        why = _reason(whole_error[1]) if whole_error else "Keystone stops early"
        return AssemblyError("line %d: %s: %r (%s mode; it assembles alone, not with the real values of "
                             "the labels before it: a forward or label-dependent expression Keystone "
                             "cannot size)" % (line.number, why, line.text.strip(), mode),
                             line.number, line.text)
    if whole_error is not None:
        return AssemblyError("%s (%s mode); no single line fails alone: check labels and directives"
                             % (_reason(whole_error[1]), mode))
    return AssemblyError("Keystone stopped early (%s mode) and no single line fails alone: check "
                         "labels and directives" % mode)


def _first_failing_prefix(lines, mode, defines, origin):
    """The line whose addition makes the source fail, labels after it known as 0: a binary search
    over prefixes (a prefix that assembles stays good when it shrinks)."""
    def fails(k):
        later = {name: 0 for line in lines[k:] for name in line.labels}
        later.update(defines)
        text = [_equates(later)]
        for line in lines[:k]:
            text.extend("%s:" % name for name in line.labels)
            text.append(line.keystone + ("\n.long %s" % line.branch.target_expr if line.branch else ""))
        code, error = keystone_asm(mode, "\n".join(text), origin)
        return error is not None
    lo, hi = 0, len(lines)
    if not fails(hi):
        return None
    while hi - lo > 1:                  # fails(hi) and not fails(lo)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fails(mid) else (mid, hi)
    culprit = lines[hi - 1]
    # the line that defines a label makes the lines that use it fail: name the first such user
    import re
    for line in lines:
        if line is not culprit and any(re.search(r"(?<![\w.$@])%s(?![\w.$@])" % re.escape(name), line.keystone)
                                       for name in culprit.labels):
            return line
    return culprit


def _reason(message):
    return message.split(" (KS_ERR")[0].lower()
