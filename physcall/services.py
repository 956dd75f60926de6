"""Ready-made BIOS explorations, each one batch (one jump on the real backends).

They are routines rather than loops of single calls so that a walk such as E820 costs one device
freeze, and pointers that a BIOS hands back (VBE's OEM string and mode list live in the VGA ROM, not
in the caller's buffer) are followed while still in real mode.

>>> [e[2] for e in e820()][:2]                        # the stub BIOS's map: usable, reserved
[1, 2]
"""

import struct

from .call import Buffer, Routine, interrupt
from .errors import LayoutError
from .invoke import invoke

SMAP = 0x534D4150
E820_MAX = 128
E820_TYPES = {1: "usable", 2: "reserved", 3: "ACPI data", 4: "ACPI NVS", 5: "unusable",
              7: "persistent", 12: "persistent (legacy)"}

# The kernel's detect_memory_e820() (arch/x86/boot/memory.c) in one routine: reload EAX/ECX/EDX every
# time ("some BIOSes clobber them"), preset the ACPI 3.0 attribute dword, stop on CF, a missing 'SMAP'
# or EBX=0. Returns the count in AX and the entries at ES:DI, 24 bytes apart.
E820_WALK = """
    xor ebx, ebx
    xor bp, bp
next:
    mov eax, 0xE820
    mov ecx, 24
    mov edx, 0x534D4150
    mov dword ptr es:[di+20], 1
    int 0x15
    jc done
    cmp eax, 0x534D4150
    jne done
    inc bp
    add di, 24
    test ebx, ebx
    jz done
    cmp bp, %d
    jb next
done:
    mov ax, bp
    ret
""" % E820_MAX


def e820(backend="emulator", **options):
    """The BIOS memory map as ``[(base, length, type)]``, as the kernel's boot code reads it.

    >>> len(e820()) >= 3
    True
    """
    out = invoke(Routine(E820_WALK, es_di=Buffer(24 * E820_MAX)), backend=backend, **options)
    raw = out.buffers["es_di"]
    return [struct.unpack_from("<QQI", raw, 24 * i) for i in range(out.regs.ax)]


def vbe_controller(prefix, failed, max_modes=256):
    """Assembly (real16): VBE 4F00h on the info block at ES:DI, then the OEM string (up to 64 bytes) to
    FS:SI and the mode list (up to ``max_modes`` words, FFFFh-terminated) to GS:BP.  AX = 004Fh, or
    the BIOS's status with a jump to ``failed``; DS, SI, BP, DX, ES, DI are kept; labels start with
    ``prefix``.  services.vbe_info and explore's survey both run it.

    VBE 3.0 section 4.3 (function 00h): the info block holds far pointers to the OEM string (offset
    6) and the mode list (offset 0Eh).  They may point into the VGA ROM or, as SeaBIOS does, into the
    caller's own buffer, which is only ours during this call: follow both while still in real mode.
    """
    return """
    push dx
    push si
    push bp
    push es
    push di
    mov ax, 0x4F00
    int 0x10
    pop di
    pop es
    pop bp
    pop si
    pop dx
    cmp ax, 0x004F
    jne %(failed)s
    push ds
    push si
    push bp
    lds bx, es:[di+6]
    mov cx, 64
%(p)soem:
    mov al, [bx]
    mov fs:[si], al
    inc bx
    inc si
    test al, al
    loopnz %(p)soem
    lds bx, es:[di+14]
    mov cx, %(copy)d
%(p)smodes:
    mov ax, [bx]
    mov gs:[bp], ax
    add bx, 2
    add bp, 2
    cmp ax, 0xFFFF
    loopne %(p)smodes
    je %(p)smodes_done
    mov word ptr gs:[bp], 0xFFFF
%(p)smodes_done:
    pop bp
    pop si
    pop ds
    mov ax, 0x004F
""" % {"p": prefix, "failed": failed, "copy": max_modes - 1}


VBE_INFO = vbe_controller("", "done") + """done:
    ret
"""


def vbe_info(backend="emulator", **options):
    """VBE 4F00h: ``{"status", "signature", "version", "oem", "modes", "total_memory_kib", "raw"}``.

    >>> vbe_info()["signature"]
    b'VESA'
    """
    out = invoke(Routine(VBE_INFO, es_di=Buffer(512, data=b"VBE2"), fs_si=Buffer(64),
                         gs_bp=Buffer(512)), backend=backend, **options)
    raw = out.buffers["es_di"]
    version, = struct.unpack_from("<H", raw, 4)
    total, = struct.unpack_from("<H", raw, 18)
    words = struct.unpack("<256H", out.buffers["gs_bp"])
    modes = list(words[:words.index(0xFFFF)] if 0xFFFF in words else words)
    return {"status": out.regs.ax, "signature": raw[:4], "version": version,
            "oem": out.buffers["fs_si"].split(b"\0", 1)[0], "modes": modes,
            "total_memory_kib": total * 64, "raw": raw}


COPY_FAR = """
    cld
    push ds
    mov ds, ax
    rep movsb
    pop ds
    ret
"""


def read_far(segment, offset, size, backend="emulator", **options):
    """Bytes at ``segment:offset`` in real mode (ROM tables, BDA, a pointer a BIOS returned).

    >>> read_far(0x40, 0x13, 2)                     # base memory KiB in the BDA
    b'\\x7f\\x02'
    """
    return _read_far(backend, options, [(segment, offset, size)])[0]


# One copy moves at most this much: rep movsb in real mode counts with CX and walks SI/DI in 64 KiB
# segments, so 64 KiB or more in one call would copy nothing (CX = 0) or wrap.
FAR_CHUNK = 0x8000


def _read_far(backend, options, spans):
    pieces = [_far_pieces(*span) for span in spans]
    calls = [Routine(COPY_FAR, ax=seg, esi=off, ecx=size, es_di=Buffer(size))
             for span in pieces for seg, off, size in span]
    data = iter(r.buffers["es_di"] for r in invoke(calls, backend=backend, **options))
    return [b"".join(next(data) for _ in span) for span in pieces]


def _far_pieces(segment, offset, size):
    """``(segment, offset, size)`` copies of at most FAR_CHUNK bytes covering the span, each with a
    normalised segment:offset (up to FFFF:xxxx, which reaches just past 1 MiB).

    >>> _far_pieces(0xF000, 0, 0x10000)
    [(61440, 0, 32768), (63488, 0, 32768)]
    """
    linear, out = (segment << 4) + offset, []
    for at in range(linear, linear + size, FAR_CHUNK):
        seg = min(at >> 4, 0xFFFF)
        out.append((seg, at - (seg << 4), min(FAR_CHUNK, linear + size - at)))
    return out


# SMBIOS 3.x section 5.2: the 32-bit entry point "_SM_" (or the 64-bit "_SM3_") sits on a 16-byte
# boundary in 0xF0000-0xFFFFF; its length is at offset 5 (_SM_) or 6 (_SM3_). Paging off, flat.
# The search, for this file's scan and explore's survey: ESI walks the F segment; at "_SM3_" it falls
# through, at "_SM_" it goes to sm2, to the next paragraph at step (SMBIOS_NEXT; past the end, on).
SMBIOS_FIND = """
    mov esi, 0xF0000
scan:
    cmp dword ptr [esi], 0x5F4D535F
    je sm2
    cmp dword ptr [esi], 0x334D535F
    jne step
    cmp byte ptr [esi+4], 0x5F
    jne step
"""
SMBIOS_NEXT = """step:
    add esi, 16
    cmp esi, 0x100000
    jb scan
"""
SMBIOS_SCAN = SMBIOS_FIND + """    movzx ecx, byte ptr [esi+6]
    jmp copy
sm2:
    movzx ecx, byte ptr [esi+5]
copy:
    mov eax, ecx
    rep movsb
    ret
""" + SMBIOS_NEXT + """    xor eax, eax
    ret
"""


def smbios_entry_point(backend="emulator", **options):
    """The SMBIOS entry point structure, copied out of the F-segment in flat 32-bit mode.

    Compare with ``/sys/firmware/dmi/tables/smbios_entry_point``.
    """
    out = invoke(Routine(SMBIOS_SCAN, mode="flat32", edi=Buffer(64)), backend=backend, **options)
    return out.buffers["edi"][:out.regs.eax]


# int 13h AH=42h, "Extended Read" (EDD 3.0 / Ralf Brown's INT 13-42): the disk address packet lives in
# the routine's own data (DS = its segment), filled in at run time because only then is the transfer
# buffer's segment known (the layout points ES:BX at it).  EAX = first LBA, CX = sector count.
EXT_READ = """
    mov word ptr [dap_count], cx
    mov word ptr [dap_off], bx
    mov word ptr [dap_seg], es
    mov dword ptr [dap_lba], eax
    mov si, offset dap
    mov ah, 0x42
    int 0x13
    ret
dap:
    .byte 0x10, 0
dap_count:
    .word 0
dap_off:
    .word 0
dap_seg:
    .word 0
dap_lba:
    .long 0, 0
"""


def disk_read(lba, count=1, drive=0x80, sector_size=512):
    """A call that reads ``count`` sectors from ``lba`` of BIOS drive ``drive`` (int 13h AH=42h).

    The bytes come back in ``buffers["es_bx"]``; CF=1 and AH = the BIOS's status on failure.

    >>> disk_read(2048, 8).buffers["es_bx"].size
    4096
    >>> from physcall.layout import lay_out
    >>> len(lay_out([disk_read(0)]).calls)            # the routine assembles
    1
    """
    if not 1 <= count <= 127:
        raise LayoutError("disk_read: count %r out of range: int 13h AH=42h moves 1..127 sectors per call "
                          "(EDD 3.0); split the read" % (count,))
    return Routine(EXT_READ, eax=lba, ecx=count, edx=drive, es_bx=Buffer(sector_size * count))
