"""GNU as as the oracle for physcall's assembler: assemble many snippets in one `as` + `ld` run.

Snippet ``i`` is placed at ``i * SLOT`` (``.org``), so position-dependent encodings (near branches to
absolute targets) are resolved by the linker exactly as physcall resolves them at that origin.  Each
snippet ends with a label, read back with ``nm``, that gives its length.  A snippet GNU as rejects, or
warns about (``0x12c shortened to 0x2c``), comes back as an error string instead of bytes.
"""

import os
import re
import subprocess
import tempfile

SLOT = 0xC0
_LABEL = re.compile(r"^\s*([A-Za-z_.][\w.]*):", re.M)
_MSG = re.compile(r"^[^:]+:(\d+): (Error|Warning): (.*)$")


def gas(snippets, mode):
    """``[bytes or "error text"]`` for each snippet (Intel syntax, ``.code16`` or ``.code32``)."""
    header = [".intel_syntax noprefix", ".code16" if mode == "real16" else ".code32", ".text"]
    lines, owner = list(header), {}
    for i, text in enumerate(snippets):
        lines.append(".org %#x" % (i * SLOT))
        for label in _LABEL.findall(text):      # each snippet's labels are its own
            text = re.sub(r"\b%s\b" % re.escape(label), "%s__%d" % (label, i), text)
        for stmt in text.splitlines():
            lines.append(stmt)
            owner[len(lines)] = i
        lines.append("__end%d:" % i)
    with tempfile.TemporaryDirectory(prefix="physcall-gas-") as tmp:
        src, obj, out = (os.path.join(tmp, n) for n in ("s.s", "s.o", "s.bin"))
        with open(src, "w") as f:
            f.write("\n".join(lines) + "\n")
        proc = subprocess.run(["as", "--32", "-o", obj, src], capture_output=True, text=True)
        errors = {}
        for line in proc.stderr.splitlines():
            m = _MSG.match(line)
            if m and int(m.group(1)) in owner:
                errors.setdefault(owner[int(m.group(1))], "%s: %s" % (m.group(2), m.group(3)))
        if proc.returncode:
            # one bad snippet fails the file: assemble the others without the rejected ones
            bad = set(errors) or set(range(len(snippets)))
            if len(bad) == len(snippets):
                return [errors.get(i, proc.stderr.strip()) for i in range(len(snippets))]
            rest = gas([s if i not in bad else "nop" for i, s in enumerate(snippets)], mode)
            return [errors[i] if i in bad else rest[i] for i in range(len(snippets))]
        subprocess.run(["ld", "-m", "elf_i386", "-Ttext=0", "--oformat=binary", "-e", "0", "-o", out,
                        obj], check=True, capture_output=True)
        ends = {}
        for line in subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout.splitlines():
            value, _, name = line.split()
            if name.startswith("__end"):
                ends[int(name[5:])] = int(value, 16)
        with open(out, "rb") as f:
            image = f.read()
    return [errors[i] if i in errors else image[i * SLOT:ends[i]] for i in range(len(snippets))]
