"""physcall's assembler against GNU as, line by line, in both modes.

The corpus is every instruction form a BIOS routine uses: segment pushes and pops, near and far calls,
jumps and returns, string operations with their prefixes, port I/O, immediates of each size, memory
operands with overrides.  For each snippet and mode, physcall's bytes must equal GNU as's (``.code16`` /
``.code32``, Intel syntax), or physcall must refuse it with an AssemblyError that names the line.  GNU
as rejecting or warning about a snippet (a truncated value) means physcall must refuse it too.

A corpus entry is ``physcall source``, or ``(physcall source, GNU as source)`` when the spelling
differs (NASM size words, ``lret``), or ``(physcall, GNU as .code16, GNU as .code32)``.
"""

import pytest

from physcall import AssemblyError, asm

from gas_oracle import SLOT, gas

BOTH = ("real16", "flat32")

CORPUS = [
    # segment registers
    "push cs", "push ds", "push es", "push ss", "push fs", "push gs",
    "pop ds", "pop es", "pop ss", "pop fs", "pop gs",
    "mov ds, ax", "mov es, bx", "mov ss, dx", "mov fs, ax", "mov gs, cx", "mov ax, cs", "mov bx, es",
    "mov eax, ds",
    # general pushes and pops
    "push ax", "push eax", "pop bx", "pop ebx", "pusha", "popa", "pushad", "popad",
    "pushf", "popf", "pushfd", "popfd",
    "push 0x12", "push -1", "push 0x1234", "push 0x12345678", "push 0x7f", "push 0x80",
    "push word ptr [bx]", "push dword ptr [ebx]", "pop word ptr [bx]",
    ("push word 0x1234", "push word ptr 0x1234"), ("push dword 0x12", "push dword ptr 0x12"),
    # moves and immediates of each size
    "mov al, 0x12", "mov ah, 0xff", "mov al, -1", "mov ax, 0x1234", "mov ax, -2", "mov ax, 0xffff",
    "mov eax, 0x12345678", "mov eax, 0xffffffff", "mov eax, -1", "mov cx, 24", "mov cl, 'A'",
    "mov al, 300", "mov ax, 0x10000", "mov al, -129", "mov eax, 0x100000000", "mov ax, 0x1ffff",
    "mov ax, bx", "mov eax, ebx", "mov al, bh", "mov ax, [bx]", "mov ax, [bx+si]", "mov ax, [bx+si+4]",
    "mov ax, [bp-2]", "mov ax, [si+0x1234]", "mov ax, [0x413]", "mov al, [0x449]",
    "mov [di], ax", "mov [bx+2], cl", "mov eax, [esi]", "mov eax, [ebx+ecx*4+8]", "mov eax, [0x100000]",
    "mov byte ptr [si], 1", "mov word ptr [di], 0x1234", "mov dword ptr [edi], 0x12345678",
    ("mov byte [si], 1", "mov byte ptr [si], 1"), ("mov word [di], 0x1234", "mov word ptr [di], 0x1234"),
    ("mov dword [edi], 5", "mov dword ptr [edi], 5"), ("cmp byte [bx], 0", "cmp byte ptr [bx], 0"),
    ("inc word [bx]", "inc word ptr [bx]"), ("mov al, byte [si]", "mov al, byte ptr [si]"),
    "mov byte ptr [si], 300", "mov word ptr [di], 0x10000",
    "mov ax, es:[di]", "mov es:[di], ax", "mov al, cs:[bx]", "mov eax, fs:[0x10]", "mov ax, ss:[bp+4]",
    "mov ax, word ptr es:[di+2]",
    "movzx eax, al", "movzx ax, byte ptr [si]", "movsx eax, word ptr [bx]", "movzx ecx, cx",
    "lea si, [bx+di+6]", "lea eax, [ebx+4]", "xchg ax, bx", "xchg al, ah", "xchg eax, edx",
    "les di, [bx]", "lds si, [bp+4]",
    # arithmetic and logic
    "add ax, 1", "add ax, 0x1234", "add al, 5", "add eax, 0x12345678", "add sp, 8", "sub sp, 0x100",
    "add esp, 4", "sub ax, bx", "adc dx, 0", "sbb ax, 1", "and al, 0xfe", "and ax, 0xfff0",
    "or al, 1", "or eax, 0x80000000", "xor ax, ax", "xor eax, eax", "cmp ax, 0x4f", "cmp al, 0x80",
    "cmp eax, 0x534d4150", "test al, 1", "test ax, 0x8000", "cmp word ptr [bx], 5", "add byte ptr [si], 1",
    "and al, 0x100", "cmp ax, 0x12345",
    "inc ax", "dec cx", "inc eax", "dec byte ptr [bx]", "neg ax", "not ax", "mul bx", "div cx",
    "imul ax, bx, 10", "imul eax, ecx", "idiv bx",
    "shl ax, 1", "shl ax, 4", "shr al, cl", "sar eax, 31", "rol ax, 8", "ror dx, 1", "rcl ax, 1",
    "rcr al, 2", "shld eax, edx, 4", "bt ax, 3", "bts eax, 1", "bswap eax",
    "cbw", "cwd", "cwde", "cdq", "lahf", "sahf", "xlat",
    # flags, misc
    "cli", "sti", "cld", "std", "clc", "stc", "cmc", "nop", "hlt", "cpuid", "rdtsc", "pause",
    # port I/O
    "in al, dx", "in ax, dx", "in eax, dx", "out dx, al", "out dx, ax", "out dx, eax",
    "in al, 0x60", "in ax, 0x40", "out 0x64, al", "out 0x80, al", "out 0x70, al", "in al, 0x71",
    "out 0x100, al",
    # string operations and prefixes
    "movsb", "movsw", "movsd", "stosb", "stosw", "stosd", "lodsb", "lodsw", "lodsd", "scasb",
    "cmpsb", "insb", "outsb", "rep movsb", "rep movsw", "rep stosd", "repe cmpsb", "repne scasb",
    "rep insw", "rep outsb", "es lodsb", "lock inc word ptr [bx]",
    # interrupts and returns
    "int 0x10", "int 0x15", "int 3", "int3", "into", "int 0x100", "iret", "iretd",
    "ret", "ret 4", "retf", "retf 2", "ret 0x10000",
    ("lret", "retf"), "leave", "enter 8, 0",
    # near calls and jumps
    "call f\nf: ret", "l: jmp l", "jmp f\nnop\nf: ret", "l: jz l", "jnz f\nf: nop", "l: loop l",
    "l: loope l", "l: loopne l", "l: loopz l", "l: loopnz l", "jcxz f\nf: nop", "jecxz f\nf: nop",
    "ja f\nnop\nf: nop", "jb f\n.fill 130, 1, 0x90\nf: nop",
    "call ax", "call eax", "call word ptr [bx]", "call dword ptr [ebx]", "jmp ax", "jmp word ptr [bx+2]",
    "jmp dword ptr [eax]", "call 0xf000", "jmp 0xf000",
    # far calls, jumps, returns
    "call 0xf000:0xfff0", "jmp 0xf000:0xfff0", "call 0xc000:0x0003", "jmp 0x0:0x7c00",
    ("call far [bx]", "call dword ptr [bx]", "call fword ptr [bx]"),
    ("jmp far [bx]", "jmp dword ptr [bx]", "jmp fword ptr [bx]"),
    ("call far ptr [ebx+4]", "call dword ptr [ebx+4]", "call fword ptr [ebx+4]"),
    "call fword ptr [ebx]", "jmp fword ptr [eax]",
    ("call far 0xf000:0x1234", "call 0xf000:0x1234"), ("ljmp 0xf000:0xe05b", "jmp 0xf000:0xe05b"),
    ("l: jmp short l", "l: jmp l"), "mov ds, [bx]", "mov ds, eax", "mov es, word ptr [ebx]",
    "rep movsd", "es rep movsd", "cmpsd", "es lodsb", ("xlat", "xlatb"), "rep stosb", "fs movsb",
    "mov ax, ds:[bx]", "mov ax, ds:[bp]", "mov ax, ss:[bx]", "lea ax, [bp+si-4]", "mov ax, es:[bp+2]",
    "l: push l", "l: push l+2", "l: mov bx, l", "l: mov eax, l+4", "mov ax, 0x10\nl: push 1",
    "l: push offset l", "l: mov bx, offset l", "l: mov eax, offset l+4", "l: cmp si, offset l",
    "l: mov ax, [l]", "l: mov ax, word ptr [l+2]",
    "mov cs:[bx], al", "add word ptr ds:[bp+2], 1", "mov eax, ds:[esp+4]", "mov eax, ss:[ebx]",
    # data
    ".byte 1, 2, 0xff", ".word 0x1234", ".long 0x12345678", ".ascii \"BIOS\"", ".byte 300",
    ".word 0x10000",
]


def _pairs():
    for entry in CORPUS:
        entry = (entry,) if isinstance(entry, str) else entry
        for k, mode in enumerate(BOTH):
            yield entry[0], entry[min(k + 1, len(entry) - 1)], mode


_ORACLE = {}


def oracle(mode):
    if mode not in _ORACLE:
        texts = [t for _, t, m in _pairs() if m == mode]
        _ORACLE[mode] = dict(zip(texts, gas(texts, mode)))
    return _ORACLE[mode]


@pytest.mark.parametrize("mode", BOTH)
def test_agrees_with_gnu_as_or_refuses(mode):
    wrong = []
    for index, (ours, theirs, m) in enumerate(p for p in _pairs() if p[2] == mode):
        want = oracle(mode)[theirs]
        origin = index * SLOT
        try:
            got = asm(ours, mode, origin=origin).code
        except AssemblyError as exc:
            assert exc.line is not None and "line %d" % exc.line in str(exc), (ours, str(exc))
            continue
        if got != want:
            wrong.append("%-32r physcall %s  GNU as %s" % (ours, got.hex(), want if isinstance(want, str)
                                                            else want.hex()))
    assert not wrong, "\n".join(["%s (%d):" % (mode, len(wrong))] + wrong)


def test_corpus_is_nearly_all_accepted():
    """The test above could pass by refusing everything: most of the corpus must assemble."""
    refused = []
    for ours, _, mode in _pairs():
        try:
            asm(ours, mode)
        except AssemblyError:
            refused.append((ours, mode))
    assert len(refused) < len(CORPUS) // 4, refused
