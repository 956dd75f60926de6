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

from .call import Buffer, Routine
from .invoke import invoke
from .services import E820_MAX, SMBIOS_FIND, SMBIOS_NEXT, vbe_controller

MAX_MODES = 128               # ModeInfoBlocks kept (SeaBIOS's VGA BIOS lists ~90)
SMBIOS_TABLE_MAX = 0x8000     # bytes of the SMBIOS structure table copied
EDD_DRIVES = (0x80, 0x81, 0x82, 0x83)   # the host keeps those the BDA counts (0040:0075)
EDD_RESULT, EDD_STRIDE = 74, 80         # T13 EDD-3 48h result; its first word says what the caller takes

# The real-mode block (es_di): one register record per BIOS call, then the bytes the calls return.
RECORD = 32                   # eax ebx ecx edx esi edi (dwords), ds es flags (words), 2 spare
# record name -> the BIOS call whose registers it holds (each item of the survey names its call)
CALLS = {"int11": "int 11h", "int12": "int 12h", "e820": "int 15h ax=e820h (the walk; ax = entries)",
         "e801": "int 15h ax=e801h", "ext88": "int 15h ah=88h", "config_table": "int 15h ah=c0h",
         "apm": "int 15h ax=5300h bx=0", "vbe": "int 10h ax=4f00h, then ax=4f01h per mode (bx = modes)",
         "edid": "int 10h ax=4f15h bl=01h", "pci_bios": "int 1ah ax=b101h",
         **{"edd41:%02x" % d: "int 13h ah=41h bx=55aah dl=%02xh" % d for d in EDD_DRIVES},
         **{"edd48:%02x" % d: "int 13h ah=48h dl=%02xh" % d for d in EDD_DRIVES}}
RECORDS = tuple(CALLS)
E820_AT = 0x0280
C0_AT = E820_AT + 24 * E820_MAX           # 0x0E80: the int 15h C0h table, copied (64 bytes at most)
EDID_AT = C0_AT + 64
EDD_AT = EDID_AT + 128
VBE_AT = EDD_AT + EDD_STRIDE * len(EDD_DRIVES)
OEM_AT = VBE_AT + 512
MODES_AT = OEM_AT + 64
INFOS_AT = MODES_AT + 512
BLOCK = INFOS_AT + 256 * MAX_MODES
assert 24 * len(RECORDS) <= E820_AT and RECORD * len(RECORDS) <= E820_AT and BLOCK < 0xFFF0

# Why one routine and not a call per service: each call of a batch is a trip down to real mode and
# back, about as dear under TCG as the BIOS calls themselves (bench/bench_jump.py).  The block's far
# address stays on the stack (SS:SP at rest); after each call every register goes to its record.
PROLOGUE = """
    cld
    push es
    push di
"""


def _at_block(extra=""):
    """ES:DI = the block (its far pointer is the stack's top at rest), plus an offset."""
    return "    mov bp, sp\n    les di, ss:[bp]\n" + ("    add di, %d\n" % extra if extra else "")


def _record(name, depth=0):
    """Every register after a BIOS call, and FLAGS, into the call's record in the block (``depth``:
    bytes pushed since the stack was at rest)."""
    at = RECORD * RECORDS.index(name)
    pops = ["dword ptr es:[di+%d]" % (at + 4 * i) for i in range(6)]
    pops += ["word ptr es:[di+%d]" % (at + 24 + 2 * i) for i in range(3)]
    return ("    pushf\n    push es\n    push ds\n    push edi\n    push esi\n    push edx\n    push ecx\n"
            "    push ebx\n    push eax\n    mov bp, sp\n    les di, ss:[bp+%d]\n" % (30 + depth)
            + "".join("    pop %s\n" % p for p in pops))


def _int(name, vector, setup, depth=0):
    return "    ; %s\n%s%s    int 0x%02x\n%s" % (name, _at_block(), setup, vector, _record(name, depth))


E820_LOOP = """
    add di, %d
    xor ebx, ebx
    xor si, si
e820_next:
    mov eax, 0xE820
    mov ecx, 24
    mov edx, 0x534D4150
    mov dword ptr es:[di+20], 1
    int 0x15
    jc e820_done
    cmp eax, 0x534D4150
    jne e820_done
    inc si
    add di, 24
    test ebx, ebx
    jz e820_done
    cmp si, %d
    jb e820_next
e820_done:
    mov ax, si
""" % (E820_AT, E820_MAX)

# RBIL INT 15/AH=C0h hands back ES:BX; the table (word length, then that many bytes) is copied into
# the block while the pointer is good.
C0_COPY = """
    test byte ptr es:[di+%(rec)d+24+4], 1
    jnz c0_done
    push ds
    mov si, es:[di+%(rec)d+4]
    mov ds, es:[di+%(rec)d+26]
    add di, %(at)d
    mov cx, [si]
    add cx, 2
    cmp cx, 64
    jbe c0_fits
    mov cx, 64
c0_fits:
    rep movsb
    pop ds
c0_done:
""" % {"rec": RECORD * RECORDS.index("config_table"), "at": C0_AT}

# VBE 3.0 sections 4.3 and 4.4: 4F00h, its OEM string and mode list followed through their far
# pointers (into the caller's block, as SeaBIOS's, or into the VGA ROM), then 4F01h for every listed
# mode.  AX = 4F00h's status, BX = modes queried.
VBE_ALL = """
    push ds
    mov ax, es
    mov ds, ax
    mov fs, ax
    mov gs, ax
    lea si, [di+%(oem)d]
    lea bp, [di+%(modes)d]
    lea dx, [di+%(infos)d]
    add di, %(vbe)d
%(controller)s    mov di, dx
    xor dx, dx
vbe_info:
    mov cx, gs:[bp]
    cmp cx, 0xFFFF
    je vbe_done
    cmp dx, %(max)d
    jae vbe_done
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
    jmp vbe_info
vbe_done:
    mov bx, dx
    mov ax, 0x004F
vbe_failed:
    pop ds
""" % {"oem": OEM_AT, "modes": MODES_AT, "infos": INFOS_AT, "vbe": VBE_AT, "max": MAX_MODES,
       "controller": vbe_controller("vbe_", "vbe_failed")}


def real_mode_survey(only=None):
    """The real-mode routine: every BIOS service of the survey (or the records named in ``only``),
    each answer into the block."""
    pieces = {"int11": _int("int11", 0x11, ""),
              "int12": _int("int12", 0x12, ""),
              "e820": "    ; e820 walk\n" + _at_block() + E820_LOOP + _record("e820"),
              "e801": _int("e801", 0x15, "    mov ax, 0xE801\n"),
              "ext88": _int("ext88", 0x15, "    mov ah, 0x88\n"),
              "config_table": _int("config_table", 0x15, "    mov ah, 0xC0\n") + C0_COPY,
              "apm": _int("apm", 0x15, "    mov ax, 0x5300\n    xor bx, bx\n"),
              "vbe": "    ; vbe\n" + _at_block() + VBE_ALL + _record("vbe"),
              "edid": _int("edid", 0x10, "    add di, %d\n    mov ax, 0x4F15\n    mov bx, 1\n    xor cx, cx\n"
                                         "    xor dx, dx\n" % EDID_AT),
              "pci_bios": _int("pci_bios", 0x1A, "    mov ax, 0xB101\n    xor edi, edi\n")}
    for i, drive in enumerate(EDD_DRIVES):
        pieces["edd41:%02x" % drive] = _int("edd41:%02x" % drive, 0x13, "    mov ah, 0x41\n    mov bx, 0x55AA\n"
                                           "    mov dl, 0x%02x\n" % drive)
        pieces["edd48:%02x" % drive] = _int("edd48:%02x" % drive, 0x13,
                                           "    push ds\n    mov ax, es\n    mov ds, ax\n    lea si, [di+%d]\n"
                                           "    mov word ptr [si], %d\n    mov ah, 0x48\n    mov dl, 0x%02x\n"
                                           % (EDD_AT + EDD_STRIDE * i, EDD_RESULT, drive), depth=2) + "    pop ds\n"
    parts = [PROLOGUE] + [pieces[name] for name in RECORDS if only is None or name in only]
    parts.append("    add sp, 4\n    ret\n")
    return "".join(parts)


# Flat 32-bit, paging off: the F segment whole (vendor strings, the BIOS date at FFFF5h, the tables),
# the BDA (0400h, 256 bytes) and the first KiB of the EBDA, whose segment is the BDA word at 040Eh
# (ACPI 6.x section 5.2.5.1: the RSDP may be there; MP 1.4 section 4: so may _MP_), then the SMBIOS
# 3.x section 5.2 entry point, "_SM_" (table address dword at 18h, length word at 16h) or "_SM3_"
# (address qword at 10h, maximum size dword at 0Ch), and its structure table to EBP.
# EDX = the EBDA's address, EAX = the entry point's length (0: none), EBX = table bytes copied.
FLAT_SURVEY = ("""
    cld
    mov esi, 0xF0000
    mov ecx, 0x4000
    rep movsd
    mov esi, 0x400
    mov ecx, 64
    rep movsd
    movzx esi, word ptr [0x40E]
    shl esi, 4
    mov edx, esi
    mov ecx, 256
    rep movsd
""" + SMBIOS_FIND + """    mov ebx, [esi+0x10]
    push edx
    mov edx, [esi+0x0C]
    cmp dword ptr [esi+0x14], 0
    je sm3low
    xor edx, edx
sm3low:
    movzx ecx, byte ptr [esi+6]
    jmp copy
sm2:
    mov ebx, [esi+0x18]
    push edx
    movzx edx, word ptr [esi+0x16]
    movzx ecx, byte ptr [esi+5]
copy:
    cmp ecx, 64
    jbe entryfits
    mov ecx, 64
entryfits:
    mov eax, ecx
    rep movsb
    cmp edx, SMBIOS_TABLE_MAX
    jbe tablefits
    mov edx, SMBIOS_TABLE_MAX
tablefits:
    mov esi, ebx
    mov edi, ebp
    mov ecx, edx
    rep movsb
    mov ebx, edx
    pop edx
    ret
""" + SMBIOS_NEXT + """    xor eax, eax
    xor ebx, ebx
    ret
""").replace("SMBIOS_TABLE_MAX", str(SMBIOS_TABLE_MAX))
FLAT_FSEG, FLAT_LOW, FLAT_ENTRY = 0, 0x10000, 0x10000 + 256 + 1024


def survey_calls():
    """The batch: the real-mode survey and the flat one, ``[(name, call)]``."""
    return [("real", Routine(real_mode_survey(), es_di=Buffer(BLOCK))),
            ("flat", Routine(FLAT_SURVEY, mode="flat32", edi=Buffer(FLAT_ENTRY + 64),
                             ebp=Buffer(SMBIOS_TABLE_MAX)))]


def explore(backend="emulator", **options):
    """The firmware survey as a JSON-ready dict (see physcall.explore_decode for its keys).

    One ``invoke`` of one batch: on the kexec or vm backend that is one jump (``survey["jumps"]``).
    """
    from .explore_decode import decode
    results = invoke([call for _, call in survey_calls()], backend=backend, **options)
    survey = decode(*results)
    survey["backend"] = results[0].backend
    survey["jumps"] = count_jumps(results)
    return survey


def vbe(backend="emulator", **options):
    """VBE alone: controller info and every listed mode's ModeInfo, one call (``explore()["vbe"]``).

    >>> [(m["mode"], m["width"], m["height"], m["bpp"]) for m in vbe()["modes"]][:2]
    [(256, 640, 400, 8), (257, 640, 480, 8)]
    """
    from .explore_decode import answers, vbe as decode_vbe
    out = invoke(Routine(real_mode_survey(only={"vbe"}), es_di=Buffer(BLOCK)), backend=backend, **options)
    block = out.buffers["es_di"]
    return decode_vbe(answers(block)["vbe"], block)


def count_jumps(results):
    """Real jumps behind ``results``: each jump stamps its own image-entry TSC into every outcome."""
    return len({r.timing["image_entry"] for r in results if "image_entry" in r.timing})
