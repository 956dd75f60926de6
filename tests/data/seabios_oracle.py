"""Record what SeaBIOS answers in physcall's QEMU machine: the oracle behind Profile.default().

Builds a minimal Linux boot-protocol image whose real-mode setup code calls the BIOS services the stub
BIOS models and writes the answers as hex lines to COM1, boots it the way physcall.vm boots its guest
(``-machine pc -m 256M -nodefaults -vga std -kernel ...``: SeaBIOS loads the setup code through its
linuxboot option ROM and enters it in real mode at setup_seg+0x20:0, Documentation/arch/x86/boot.rst),
and writes ``seabios-qemu-256M.json`` next to this file.  Run by hand (needs qemu-system-x86_64):

    python3 tests/data/seabios_oracle.py
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from physcall.asm import asm  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BUF = 0x3000          # a scratch segment (0x30000) for the buffers the services fill

LIB = """
start:
    cli
    mov ax, cs
    mov ds, ax
    mov ax, 0x3000
    mov es, ax
    jmp main
putc:                    ; AL -> COM1 (QEMU's 8250 needs no setup to transmit)
    push dx
    mov dx, 0x3f8
    out dx, al
    pop dx
    ret
nib:
    and al, 0x0f
    add al, 0x30
    cmp al, 0x39
    jbe nib_put
    add al, 7
nib_put:
    call putc
    ret
hex8:
    push ax
    shr al, 4
    call nib
    pop ax
    push ax
    call nib
    pop ax
    ret
puts:                    ; CS:SI, zero-terminated
    push ax
    push si
puts_next:
    mov al, byte ptr cs:[si]
    test al, al
    jz puts_done
    call putc
    inc si
    jmp puts_next
puts_done:
    pop si
    pop ax
    ret
hexdump:                 ; CX bytes at ES:DI (CX=0: 64 KiB), then a newline
    push ax
    push cx
    push di
hexdump_next:
    mov al, byte ptr es:[di]
    call hex8
    inc di
    dec cx
    jnz hexdump_next
    mov al, 10
    call putc
    pop di
    pop cx
    pop ax
    ret
regs_line:               ; prints ES, EDI..EAX (pushad order), EFLAGS from the caller's frame
    push bp
    mov bp, sp
    push es
    push di
    push cx
    push ss
    pop es
    lea di, [bp+4]
    mov cx, 38
    call hexdump
    pop cx
    pop di
    pop es
    pop bp
    ret
"""

REGS = """
    pushfd
    pushad
    push es
    mov si, {tag}
    call puts
    call regs_line
    pop es
    popad
    popfd
"""


def call(tag, setup, vector, dump=None):
    """Set registers, int N, print the registers (and ``dump`` bytes at ES:DI)."""
    out = setup + "\n    int %#x\n" % vector + REGS.format(tag=tag)
    if dump:
        out += ("    pushf\n    mov si, %s_b\n    call puts\n    push cx\n    mov cx, %d\n    call hexdump\n"
                "    pop cx\n    popf\n" % (tag, dump))
    return out


def program():
    body, strings = [], []

    def tag(name):
        strings.append("%s:\n .asciz \"%s \"\n%s_b:\n .asciz \"%sB \"" % (name, name, name, name))
        return name

    body.append("main:")
    # the first MiB as SeaBIOS left it, before any call (IVT, BDA, EBDA, VGA ROM, F-segment)
    for seg in range(0, 0x10000, 0x1000):
        body.append("    push es\n    mov ax, %#x\n    mov es, ax\n    xor di, di\n    xor cx, cx\n"
                    "    mov si, %s\n    call puts\n    call hexdump\n    pop es" % (seg, tag("LOW%X" % seg)))
    body.append(call(tag("I11"), "    xor ax, ax\n    stc", 0x11))        # does SeaBIOS touch CF?
    body.append(call(tag("I12"), "    xor ax, ax\n    stc", 0x12))
    body.append("    xor ebx, ebx\ne820_next:")
    body.append(call(tag("E820"), "    mov eax, 0xe820\n    mov ecx, 24\n    mov edx, 0x534d4150\n"
                     "    xor di, di\n    mov dword ptr es:[di+20], 0x12345678", 0x15, dump=24))
    body.append("    jc e820_done\n    test ebx, ebx\n    jnz e820_next\ne820_done:")
    body.append(call(tag("E801"), "    mov ax, 0xe801", 0x15))
    body.append(call(tag("I1588"), "    mov ax, 0x8800", 0x15))
    body.append(call(tag("C0"), "    mov ax, 0xc000\n    push es", 0x15) +
                "    mov di, bx\n    mov cx, 16\n    call hexdump\n    pop es")
    body.append(call(tag("E8FF"), "    mov ax, 0xe8ff", 0x15))
    body.append(call(tag("V0F"), "    mov ax, 0x0f00", 0x10))
    body.append(call(tag("V4F00"), "    mov ax, 0x4f00\n    xor di, di\n"
                     "    mov dword ptr es:[di], 0x32454256", 0x10, dump=512))
    body.append(call(tag("V4F03"), "    mov ax, 0x4f03", 0x10))
    body.append(call(tag("V4F15"), "    mov ax, 0x4f15\n    xor bx, bx", 0x10))
    for block in (0, 1):
        body.append(call(tag("EDID%d" % block), "    mov ax, 0x4f15\n    mov bx, 1\n    xor cx, cx\n"
                         "    mov dx, %d\n    mov di, 0x400" % block, 0x10, dump=128))
    body.append(call(tag("V4F01X"), "    mov ax, 0x4f01\n    mov cx, 0x1ff\n    mov di, 0x800", 0x10))
    # 4F01h for every mode in the list 4F00h returned (its far pointer at offset 14)
    body.append("    push fs\n    mov fs, word ptr es:[16]\n    mov bx, word ptr es:[14]\nmode_next:\n"
                "    mov cx, word ptr fs:[bx]\n    cmp cx, 0xffff\n    je mode_done\n    push bx")
    body.append(call(tag("MODE"), "    mov ax, 0x4f01\n    mov di, 0x800", 0x10, dump=256))
    body.append("    pop bx\n    add bx, 2\n    jmp mode_next\nmode_done:\n    pop fs")
    body.append(call(tag("D08"), "    mov ax, 0x0800\n    mov dx, 0x80\n    xor di, di", 0x13))
    body.append(call(tag("D41"), "    mov ax, 0x4100\n    mov bx, 0x55aa\n    mov dx, 0x80", 0x13))
    body.append(call(tag("D08F"), "    mov ax, 0x0800\n    mov dx, 0x00\n    xor di, di", 0x13))
    body.append(call(tag("K01"), "    mov ax, 0x0100", 0x16))
    body.append(call(tag("K02"), "    mov ax, 0x0200", 0x16))
    body.append(call(tag("T00"), "    mov ax, 0x0000", 0x1a))
    body.append(call(tag("T02"), "    mov ax, 0x0200", 0x1a))
    body.append(call(tag("T04"), "    mov ax, 0x0400", 0x1a))
    body.append(call(tag("PCI"), "    mov ax, 0xb101\n    xor edi, edi", 0x1a))
    body.append(call(tag("T0F"), "    mov ax, 0x0f00", 0x1a))
    body.append("    mov si, done_s\n    call puts\n    mov al, 0\n    out 0xf4, al\nhang:\n    jmp hang")
    strings.append("done_s:\n .asciz \"DONE\\n\"")
    return LIB + "\n".join(body) + "\n" + "\n".join(strings)


def bzimage():
    """A boot-protocol 2.03 image: setup sectors holding the program, one dummy protected-mode sector."""
    code = asm(program(), origin=0x80).code      # CS = setup segment + 0x20: offset 0 = file 0x200
    setup = bytearray(0x280) + code
    setup += bytes(-len(setup) % 512)
    sects = len(setup) // 512 - 1
    setup[0x1F1] = sects
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)
    setup[0x200:0x202] = bytes((0xEB, 0x7E))       # jmp short to 0x280 (offset 0x80 of CS)
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x0203)
    setup[0x211] = 0x01                            # loadflags: LOADED_HIGH
    return bytes(setup) + bytes(512)


def run():
    with tempfile.TemporaryDirectory() as tmp:
        img, out = os.path.join(tmp, "oracle.bin"), os.path.join(tmp, "serial.txt")
        with open(img, "wb") as f:
            f.write(bzimage())
        subprocess.run(["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", "256M",
                        "-nodefaults", "-no-user-config", "-vga", "std", "-display", "none",
                        "-nic", "none", "-monitor", "none", "-no-reboot",
                        "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
                        "-serial", "file:%s" % out, "-kernel", img], timeout=120, check=False)
        with open(out, "rb") as f:
            return f.read().decode("latin-1")


def parse(text):
    """{tag: [hex, ...]} in order of appearance."""
    rec = {}
    for line in text.split("\n"):
        if " " in line:
            tag, hexs = line.split(" ", 1)
            rec.setdefault(tag, []).append(hexs.strip())
    return rec


if __name__ == "__main__":
    text = run()
    rec = parse(text)
    low = "".join(rec.pop("LOW%X" % seg)[0] for seg in range(0, 0x10000, 0x1000))
    assert len(low) == 2 * 0x100000, len(low)
    with open(os.path.join(HERE, "seabios-qemu-256M.json"), "w") as f:
        json.dump({"qemu": subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                                          text=True).stdout.split("\n")[0],
                   "answers": rec}, f, indent=0)
    # the first MiB itself (1 MiB) is not kept in the repository: write it out when you need it
    if "--low" in sys.argv:
        with open(os.path.join(HERE, "seabios-qemu-256M.low"), "wb") as f:
            f.write(bytes.fromhex(low))
    print("ok", {k: len(v) for k, v in rec.items()})
