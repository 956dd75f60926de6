"""``physcall explore``: the firmware survey, gathered by one batch, so one jump on a real backend.

Every walk that needs the previous answer (E820's continuation, VBE's mode list, the int 15h C0h
pointer, the SMBIOS entry point's table address, the EBDA segment in the BDA) is chained inside a
routine, in real or flat mode, while the machine is the firmware's; only bytes come back, and
physcall.explore_decode turns them into the survey.  Tables the firmware leaves in the F segment
(RSDP, $PIR, _MP_, $PnP, _32_) are searched on the host in a copy of it.

>>> survey = explore()                               # the stub BIOS in the emulator
>>> survey["memory"]["int12_kib"], survey["jumps"], survey["e820"][0]["type_name"]
(639, 0, 'usable')
"""

import struct

from .call import Buffer, Routine, interrupt
from .invoke import invoke
from .services import E820_MAX, E820_WALK

MAX_MODES = 128               # ModeInfoBlocks kept (SeaBIOS's VGA BIOS lists ~40)
SMBIOS_TABLE_MAX = 0x8000     # bytes of the SMBIOS structure table copied
EDD_DRIVES = range(0x80, 0x84)  # the host keeps those the BDA counts (0040:0075)
EDD_RESULT = 74               # T13 EDD-3 48h result; the word at 0 says how much the caller can take

# Flat 32-bit, paging off: the F segment as it is (vendor strings, the BIOS date at FFFF5h, the tables).
FSEG_COPY = """
    cld
    mov esi, 0xF0000
    mov ecx, 0x4000
    rep movsd
    ret
"""

# The BDA (0400h, 256 bytes), then the first KiB of the EBDA, whose segment is the BDA word at 040Eh
# (ACPI 6.x section 5.2.5.1: the RSDP may be there; MP 1.4 section 4: so may _MP_).  EAX = EBDA address.
LOW_COPY = """
    cld
    mov esi, 0x400
    mov ecx, 64
    rep movsd
    movzx esi, word ptr [0x40E]
    shl esi, 4
    mov eax, esi
    mov ecx, 256
    rep movsd
    ret
"""

# RBIL INT 15/AH=C0h: ES:BX = the system configuration table (word length, then that many bytes).
# Copied to the caller's ES:DI while the pointer is good; AX = 0 and CF clear on success.
CONFIG_COPY = """
    push es
    push di
    mov ah, 0xC0
    int 0x15
    pop di
    pop ax
    jc failed
    push ds
    push es
    pop ds
    mov si, bx
    mov es, ax
    mov cx, [si]
    add cx, 2
    cmp cx, 64
    jbe fits
    mov cx, 64
fits:
    cld
    rep movsb
    pop ds
    xor ax, ax
    clc
    ret
failed:
    mov es, ax
    mov ax, 0xFFFF
    ret
"""

# VBE 3.0 sections 4.3 and 4.4: 4F00h to ES:DI, its OEM string to FS:SI and its mode list to GS:BP
# (the pointers may lead into the caller's own block, as SeaBIOS's do, or into the VGA ROM), then
# 4F01h for each listed mode, 256 bytes each, to DS:DX.  AX = 4F00h's status, BX = modes queried.
VBE_ALL = """
    push dx
    push ds
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
    cmp ax, 0x004F
    jne failed
    lds bx, es:[di+6]
    mov cx, 64
oem:
    mov al, [bx]
    mov fs:[si], al
    inc bx
    inc si
    test al, al
    jz oemdone
    loop oem
oemdone:
    lds bx, es:[di+14]
    push bp
    mov cx, 255
modes:
    mov ax, [bx]
    mov gs:[bp], ax
    add bx, 2
    add bp, 2
    cmp ax, 0xFFFF
    je modesdone
    loop modes
    mov word ptr gs:[bp], 0xFFFF
modesdone:
    pop bp
    pop es
    pop di
    xor dx, dx
info:
    mov cx, gs:[bp]
    cmp cx, 0xFFFF
    je done
    cmp dx, %d
    jae done
    push dx
    push bp
    push di
    push es
    push gs
    mov ax, 0x4F01
    int 0x10
    pop gs
    pop es
    pop di
    pop bp
    pop dx
    add di, 256
    add bp, 2
    inc dx
    jmp info
done:
    mov bx, dx
    mov ax, 0x004F
    ret
failed:
    add sp, 4
    ret
""" % MAX_MODES

# SMBIOS 3.x section 5.2: the entry point "_SM_" (table address dword at 18h, length word at 16h) or
# "_SM3_" (address qword at 10h, maximum size dword at 0Ch) on a 16-byte boundary in F0000h-FFFFFh.
# The entry point goes to EDI, the structure table (up to SMBIOS_TABLE_MAX) to EBP.
# EAX = entry point length (0: none found), EBX = table bytes copied.
SMBIOS_COPY = """
    cld
    mov esi, 0xF0000
scan:
    cmp dword ptr [esi], 0x5F4D535F
    je sm2
    cmp dword ptr [esi], 0x334D535F
    jne step
    cmp byte ptr [esi+4], 0x5F
    jne step
    mov ebx, [esi+0x10]
    mov edx, [esi+0x0C]
    cmp dword ptr [esi+0x14], 0
    je sm3low
    xor edx, edx
sm3low:
    movzx ecx, byte ptr [esi+6]
    jmp copy
sm2:
    mov ebx, [esi+0x18]
    movzx edx, word ptr [esi+0x16]
    movzx ecx, byte ptr [esi+5]
copy:
    cmp ecx, 64
    jbe entryfits
    mov ecx, 64
entryfits:
    mov eax, ecx
    rep movsb
    cmp edx, %d
    jbe tablefits
    mov edx, %d
tablefits:
    mov esi, ebx
    mov edi, ebp
    mov ecx, edx
    rep movsb
    mov ebx, edx
    ret
step:
    add esi, 16
    cmp esi, 0x100000
    jb scan
    xor eax, eax
    xor ebx, ebx
    ret
""" % (SMBIOS_TABLE_MAX, SMBIOS_TABLE_MAX)


def survey_calls():
    """The batch, as ``[(item, call)]``: every call names the item of the survey it feeds."""
    calls = [
        ("fseg", Routine(FSEG_COPY, mode="flat32", edi=Buffer(0x10000))),
        ("low", Routine(LOW_COPY, mode="flat32", edi=Buffer(256 + 1024))),
        ("int11", interrupt(0x11)),
        ("int12", interrupt(0x12)),
        ("e820", Routine(E820_WALK, es_di=Buffer(24 * E820_MAX))),
        ("e801", interrupt(0x15, ax=0xE801)),
        ("ext88", interrupt(0x15, ah=0x88)),
        ("config_table", Routine(CONFIG_COPY, es_di=Buffer(64))),
        ("apm", interrupt(0x15, ax=0x5300, bx=0)),
        ("vbe", Routine(VBE_ALL, es_di=Buffer(512, data=b"VBE2"), fs_si=Buffer(64), gs_bp=Buffer(512),
                        ds_dx=Buffer(256 * MAX_MODES))),
        ("edid", interrupt(0x10, ax=0x4F15, bx=0x0001, cx=0, dx=0, es_di=Buffer(128))),
        ("pci_bios", interrupt(0x1A, ax=0xB101, edi=0)),
    ]
    for drive in EDD_DRIVES:
        calls.append(("edd41:%02x" % drive, interrupt(0x13, ah=0x41, bx=0x55AA, dl=drive)))
        calls.append(("edd48:%02x" % drive, interrupt(0x13, ah=0x48, dl=drive,
                                                      ds_si=Buffer(EDD_RESULT, data=struct.pack("<H", EDD_RESULT)))))
    calls.append(("smbios", Routine(SMBIOS_COPY, mode="flat32", edi=Buffer(64), ebp=Buffer(SMBIOS_TABLE_MAX))))
    return calls


def explore(backend="emulator", **options):
    """The firmware survey as a JSON-ready dict (see physcall.explore_decode for its keys).

    One ``invoke`` of one batch: on the kexec or vm backend that is one jump (``survey["jumps"]``).
    """
    from .explore_decode import decode
    named = survey_calls()
    results = invoke([call for _, call in named], backend=backend, **options)
    survey = decode({name: result for (name, _), result in zip(named, results)})
    survey["backend"] = results[0].backend
    survey["jumps"] = count_jumps(results)
    return survey


def count_jumps(results):
    """Real jumps behind ``results``: each jump stamps its own image-entry TSC into every outcome."""
    return len({r.timing["image_entry"] for r in results if "image_entry" in r.timing})
