"""``physcall explore``: the firmware survey, gathered by one batch, so one jump on a real backend.

Every walk that needs the previous answer (E820's continuation, VBE's mode list, the int 15h C0h
pointer, the SMBIOS entry point's table address, the EBDA segment in the BDA) is chained inside a
routine, in real or flat mode, while the machine is the firmware's; only the bytes the survey reads
come back, and physcall.explore_decode turns them into the survey.  The tables the firmware leaves
in the F segment and the EBDA (RSDP, $PIR, _MP_, $PnP, _32_) and the strings that name the BIOS are
found by the flat routine; their bytes come back, not the segment.

>>> survey = explore()                               # the stub BIOS in the emulator
>>> survey["memory"]["int12_kib"], survey["jumps"], survey["e820"][0]["type_name"]
(639, 0, 'usable')
"""

import re

from .call import Buffer, Routine
from .invoke import invoke
from .services import E820_MAX, vbe_controller
from .smbios_decode import DECODERS

MAX_MODES = 128               # ModeInfoBlocks kept (SeaBIOS's VGA BIOS lists ~90)
# Of each ModeInfoBlock (VBE 3.0 section 4.4) the fields the survey decodes, packed: (offset in the
# block, bytes).  Every byte that comes back costs jump time: 12 bytes a mode, not 256.
MODE_FIELDS = (("attributes", 0x00, 2), ("width", 0x12, 2), ("height", 0x14, 2), ("bpp", 0x19, 1),
               ("memory_model", 0x1B, 1), ("lfb", 0x28, 4))
MODE_KEPT = sum(size for _, _, size in MODE_FIELDS)
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
SCRATCH_AT = MODES_AT + 512   # each 4F01h writes its 256 bytes here; MODE_KEPT of them are kept
INFOS_AT = SCRATCH_AT + 256
BLOCK = INFOS_AT + MODE_KEPT * MAX_MODES
assert 24 * len(RECORDS) <= E820_AT and RECORD * len(RECORDS) <= E820_AT and BLOCK < 0xFFF0

# Why one routine and not a call per service: each call of a batch is a trip down to real mode and
# back, about as dear under TCG as the BIOS calls themselves (bench/bench_jump.py).  Why the routines
# keep only what the survey reads: every page of buffers is swapped in and out by the kernel's
# relocate_kernel and copied to the mailbox, which under TCG costs more than most BIOS calls.  The
# block's far address stays on the stack (SS:SP at rest); after each call every register goes to
# its record.
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
    bytes pushed since the stack was at rest).  Two instructions here, the work in RECORD_SUB: under
    TCG each jump translates the survey afresh, at ~700-900 cycles an instruction."""
    at = RECORD * RECORDS.index(name)
    assert at < 0x1000 and depth < 16
    return "    push %d\n    call record\n" % (at | depth << 12)


# record(word param = record offset | depth << 12), called right after a BIOS call: its 30 bytes of
# pushes, the return address and the param sit above the stack at rest plus depth, where the block's
# far pointer is.  It returns with ES:DI = the block, as the code after a record expects, and BX, SI
# and BP clobbered.
RECORD_SUB = """record:
    pushf
    push es
    push ds
    push edi
    push esi
    push edx
    push ecx
    push ebx
    push eax
    mov bp, sp
    mov bx, ss:[bp+32]
    mov si, bx
    shr si, 12
    and bx, 0x0FFF
    add si, bp
    les di, ss:[si+34]
    pop dword ptr es:[bx+di]
    pop dword ptr es:[bx+di+4]
    pop dword ptr es:[bx+di+8]
    pop dword ptr es:[bx+di+12]
    pop dword ptr es:[bx+di+16]
    pop dword ptr es:[bx+di+20]
    pop word ptr es:[bx+di+24]
    pop word ptr es:[bx+di+26]
    pop word ptr es:[bx+di+28]
    ret 2
"""


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

def _pack_fields():
    """Real16: MODE_FIELDS from the ModeInfoBlock at DS:SI to ES:DI (DI moves past them, SI is kept)."""
    out, at = ["    push si\n"], 0
    for _, offset, size in MODE_FIELDS:
        if offset != at:
            out.append("    add si, %d\n" % (offset - at))
        out.append("    movsw\n" * (size // 2) + "    movsb\n" * (size % 2))
        at = offset + size
    return "".join(out) + "    pop si\n"


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
%(controller)s    lea si, [di+%(scratch)d]
    mov di, dx
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
    push si
    mov di, si
    mov ax, 0x4F01
    int 0x10
    pop si
    pop gs
    pop es
    pop di
    pop bp
    pop dx
%(pack)s    add bp, 2
    inc dx
    jmp vbe_info
vbe_done:
    mov bx, dx
    mov ax, 0x004F
vbe_failed:
    pop ds
""" % {"oem": OEM_AT, "modes": MODES_AT, "infos": INFOS_AT, "vbe": VBE_AT, "max": MAX_MODES,
       "scratch": SCRATCH_AT - VBE_AT, "pack": _pack_fields(),
       "controller": vbe_controller("vbe_", "vbe_failed")}


def _if_disk(index):
    """Go on only if the BDA counts more than ``index`` hard disks (0040:0075), else past every drive's
    EDD calls (edd_done): every int 13h costs time in the jump, one for an absent drive too, and so
    does each translated test (one per drive, not one per call)."""
    return ("    push ds\n    xor ax, ax\n    mov ds, ax\n    cmp byte ptr [0x475], %d\n    pop ds\n"
            "    jb edd_done\n" % (index + 1))


def real_mode_survey(only=None):
    """The real-mode routine: every BIOS service of the survey (or the records named in ``only``),
    each answer into the block.  The EDD calls go drive by drive (41h, then 48h)."""
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
        pieces["edd41:%02x" % drive] = _int(
            "edd41:%02x" % drive, 0x13, "    mov ah, 0x41\n    mov bx, 0x55AA\n    mov dl, 0x%02x\n" % drive)
        pieces["edd48:%02x" % drive] = _int(
            "edd48:%02x" % drive, 0x13, "    push ds\n    mov ax, es\n    mov ds, ax\n    lea si, [di+%d]\n"
            "    mov word ptr [si], %d\n    mov ah, 0x48\n    mov dl, 0x%02x\n"
            % (EDD_AT + EDD_STRIDE * i, EDD_RESULT, drive), depth=2) + "    pop ds\n"
    wanted = [name for name in RECORDS if only is None or name in only]
    parts = [PROLOGUE] + [pieces[name] for name in wanted if not name.startswith("edd")]
    for i, drive in enumerate(EDD_DRIVES):
        names = [name for name in ("edd41:%02x" % drive, "edd48:%02x" % drive) if name in wanted]
        if names:
            parts += [_if_disk(i)] + [pieces[name] for name in names]
    parts.append("edd_done:\n    add sp, 4\n    ret\n" + RECORD_SUB)
    return "".join(parts)


# Flat 32-bit, paging off, into EDI's buffer (offsets below): the BDA (0400h, 256 bytes); F000:FFF0
# (the BIOS date at FFFF5h, the model byte at FFFFEh); the F segment's strings that name the BIOS
# (below); the table headers on 16-byte boundaries of the EBDA's first KiB (its segment is the BDA word
# at 040Eh; ACPI 6.x section 5.2.5.1: the RSDP may be there; MP 1.4 section 4: so may _MP_), then of
# the F segment, the first of each kind with up to its slot's bytes; the SMBIOS 3.x section 5.2 entry
# point, "_SM_" (table address dword at 18h, length word at 16h) or "_SM3_" (address qword at 10h,
# maximum size dword at 0Ch).  Then the SMBIOS structure table: one that fits EBP's buffer (SMBIOS_WHOLE
# bytes: most PCs', QEMU's ~400) is copied whole, and the host walks it; a longer one is walked here
# (section 6.1: formatted area, strings, double NUL) into EBP's buffer: a dword count of structures, a
# dword of bytes kept, the type of each structure (SMBIOS_TYPES of them), and the structures of the
# types the survey decodes, whole, while they fit.  The copy is a handful of instructions where the
# walk is ~80 (each translated afresh by every jump under TCG: ~0.3 M cycles, docs/DESIGN.md).  No
# byte past the table's length is read (a table above 4 GiB, one that would run past 4 GiB, or a
# length of 0 leaves nothing to read: its address may be a device's).  EDI's buffer comes zero-filled
# (Buffer), so its header slots start empty.  The F segment itself (64 KiB) never comes back: each page of results
# is swapped in and out by the kernel and copied to the mailbox, which under TCG costs more jump time
# than most of the survey's BIOS calls (bench/bench_jump.py). EAX = the entry point's length (0: none),
# EBX = table bytes copied or structure bytes kept, ECX = SMBIOS_COPIED (the table came whole) or the
# structures walked, EDX = the EBDA's address.
FLAT_LOW, FLAT_TOP = 0, 256
FLAT_STRINGS, STRINGS, STRING_SLOT = FLAT_TOP + 16, 8, 128     # per slot: word offset, word length, text
FLAT_ANCHORS = FLAT_STRINGS + STRINGS * STRING_SLOT              # per anchor: dword address, dword bytes
ANCHORS = ("rsdp", "mp", "pnp", "bios32", "pir")                 # the scan's order of tests
ANCHOR_SLOT, PIR_SLOT = 64, 1024                                 # $PIR: 32 bytes + 16 per slot
SMBIOS_SLOT = len(ANCHORS)                                       # its address only, after them
FLAT_ANCHOR_DATA = FLAT_ANCHORS + 8 * (len(ANCHORS) + 1)
FLAT_ENTRY = FLAT_ANCHOR_DATA + ANCHOR_SLOT * (len(ANCHORS) - 1) + PIR_SLOT
FLAT_SIZE = FLAT_ENTRY + 64
SMBIOS_TYPES, SMBIOS_KEPT = 512, 0x1400                          # a 24-DIMM server's types 0-4/17: ~3.5 KiB
SMBIOS_AT = 8 + SMBIOS_TYPES                                     # where the kept structures start
SMBIOS_WHOLE = SMBIOS_AT + SMBIOS_KEPT                           # a table this long or shorter comes whole
SMBIOS_COPIED = 0xFFFFFFFF                                       # ECX when it did
SMBIOS_DECODED = tuple(DECODERS)                                 # the types smbios_decode summarises

# ZF=1 when all four bytes of EAX are printable (20h-7Eh), tested at once: bit 7 of EDX is set for
# some byte when one is below 20h (x - 20h: the lowest such byte borrows), 80h or above (x), or 7Fh
# (x + 1).  Which bytes are marked is exact only up to the first: NONPRINTABLE_MASK is the per-byte
# mask.  Clobbers EDI.
PRINTABLE_DWORD = """    lea edx, [eax-0x20202020]
    lea edi, [eax+0x01010101]
    or edx, eax
    or edx, edi
    test edx, 0x80808080
"""


def _bitmap(firsts):
    """A 256-bit table for `bt`: bit b set for each byte b of ``firsts``."""
    return ".byte %s\n" % ", ".join(str(sum(1 << (b - 8 * i) for b in firsts if b // 8 == i)) for i in range(32))


# A string names the BIOS (the vendor, version and copyright lines of a firmware image) when it is a
# run of at least 6 printable bytes (20h-7Eh) holding "bios", "version", "copyright" or "(c)" in any
# case, and no "%" (SeaBIOS's F segment holds its printf formats too).  `or 0x20` lowers a letter and
# maps no other printable byte onto one, so the dword compares are exact case-insensitive matches.
# Under TCG each jump translates the routine afresh, and the first run of a block costs ~14 K cycles
# with its translation, more than hundreds of passes of a warm loop: the scan has loops of one block
# and as few other blocks as it can.  Every run of 6 holds bytes 1-3 of some aligned dword, so the
# first loop looks for a dword whose bytes 1-3 are in 20h-7Fh (tested at once: a borrow or bit 7 marks
# the others).  There the run's start comes from exact per-byte masks (no borrow or carry between
# bytes) of that dword and the one before: after the last non-printable byte (a run reaches at most
# three bytes back, or the dword before would have stopped the loop).  The second loop walks the run a
# dword at a time to the first dword with a non-printable byte, whose mask gives the run's end.  A
# run of 6 or more without a "%" is read byte by byte: a position whose lowered byte can start a
# keyword (s_kw's bits: "(", b, c, v) is compared against all four keywords at once, with one branch
# for the lot.  [ESP] counts the strings kept.
NONPRINTABLE_MASK = """    mov %(out)s, eax
    and %(out)s, 0x7F7F7F7F
    lea %(tmp)s, [%(out)s+0x60606060]
    add %(out)s, 0x01010101
    not %(tmp)s
    or %(out)s, %(tmp)s
    or %(out)s, eax
    and %(out)s, 0x80808080
"""
FLAT_STRINGS_SCAN = """
    push 0
    mov esi, 0xF0000
s_scan:
    mov ecx, 0x100000
    sub ecx, esi
    shr ecx, 2
    jz s_end
s_test:
    lodsd
    lea edx, [eax-0x20202000]
    or edx, eax
    test edx, 0x80808000
    loopnz s_test
    jnz s_end
""" + NONPRINTABLE_MASK % {"out": "edx", "tmp": "edi"} + """    test edx, 0x80808000
    jnz s_cont
    mov eax, [esi-8]
""" + NONPRINTABLE_MASK % {"out": "edi", "tmp": "ebx"} + """    or edi, 0x80
    bsr edi, edi
    shr edi, 3
    lea ebx, [esi+edi-7]
    lea eax, [esi-3]
    test edx, edx
    cmovnz ebx, eax
    mov eax, 0xF0000
    cmp ebx, eax
    cmovb ebx, eax
    mov ecx, 0x100000
    sub ecx, esi
    shr ecx, 2
    jz s_segend
s_fwd:
    lodsd
""" + PRINTABLE_DWORD + """    loopz s_fwd
    jnz s_stop
s_segend:
    mov eax, esi
    jmp s_run
s_cont:
    test ecx, ecx
    jnz s_test
    jmp s_end
s_stop:
""" + NONPRINTABLE_MASK % {"out": "edx", "tmp": "edi"} + """    bsf eax, edx
    shr eax, 3
    lea eax, [esi+eax-4]
s_run:
    mov edx, eax
    sub edx, ebx
    cmp edx, 6
    jb s_resume
    push eax
    push ebx
    push edx
    mov edi, ebx
    mov ecx, edx
    mov al, 0x25
    repne scasb
    je s_drop
    mov esi, [esp+4]
    mov ecx, [esp]
s_byte:
    movzx eax, byte ptr [esi]
    inc esi
    or al, 0x20
    bt dword ptr [s_kw], eax
    sbb eax, eax
    test eax, eax
    loope s_byte
    jz s_drop
    mov eax, [esi-1]
    or eax, 0x20202020
    cmp eax, 0x736F6962
    sete bl
    cmp ecx, 3
    setae bh
    and bl, bh
    cmp eax, 0x73726576
    sete bh
    mov edx, [esi+2]
    or edx, 0x20202020
    cmp edx, 0x6E6F6973
    sete dl
    and bh, dl
    cmp ecx, 6
    setae dl
    and bh, dl
    or bl, bh
    cmp eax, 0x79706F63
    sete bh
    mov edx, [esi+3]
    or edx, 0x20202020
    cmp edx, 0x68676972
    sete dl
    and bh, dl
    mov edx, [esi+4]
    or edx, 0x20202020
    cmp edx, 0x74686769
    sete dl
    and bh, dl
    cmp ecx, 8
    setae dl
    and bh, dl
    or bl, bh
    mov edx, [esi-1]
    and edx, 0x00FFFFFF
    or edx, 0x00002020
    cmp edx, 0x00296328
    sete dl
    cmp ecx, 2
    setae dh
    and dl, dh
    or bl, dl
    jnz s_keep
    test ecx, ecx
    jnz s_byte
s_drop:
    add esp, 8
    pop eax
    jmp s_resume
s_keep:
    pop edx
    pop esi
    mov eax, [esp+4]
    shl eax, 7
    lea edi, [ebp+eax+FLAT_STRINGS+4]
    lea eax, [esi-0xF0000]
    mov [edi-4], ax
    mov [edi-2], dx
    mov ecx, STRING_TEXT
    cmp edx, ecx
    cmovb ecx, edx
    rep movsb
    pop eax
    inc dword ptr [esp]
    cmp dword ptr [esp], STRINGS
    jae s_end
s_resume:
    mov esi, eax
    and esi, 0xFFFFFFFC
    jmp s_scan
s_kw:
""" + _bitmap(b"(bcv") + """s_end:
    pop eax
s_done:
"""

# a_scan(ESI = start, EDX = end): the table headers on 16-byte boundaries.  A paragraph whose first
# byte can start none of them ("$", "R", "_": a_first's bits) costs one pass of a one-block loop;
# the others are compared with a loop over a_sigs (first dword; then the second, under a_mask, against
# a_want: "PTR " after "RSD ", "_" after "_SM3").  ECX = the anchor's index in ANCHORS, or
# SMBIOS_SLOT for the SMBIOS entry point (looked for in the F segment only, SMBIOS 3.x section
# 5.2.1).  A slot is filled once (the EBDA is scanned first, as ACPI says to search it first) with up
# to its size (a_size), never past the area's end; the SMBIOS slot holds the address only.  The
# first dwords differ, so the first that matches decides.  Clobbers EAX, EBX, ECX, EDI.
FLAT_ANCHOR_SCAN = """
a_scan:
    mov ecx, edx
    sub ecx, esi
    shr ecx, 4
    jz a_ret
a_test:
    movzx eax, byte ptr [esi]
    add esi, 16
    bt dword ptr [a_first], eax
    sbb eax, eax
    test eax, eax
    loope a_test
    je a_ret
    push ecx
    lea edi, [esi-16]
    mov eax, [edi]
    mov ebx, [edi+4]
    mov ecx, -1
a_sig:
    inc ecx
    cmp ecx, 7
    jae a_next
    cmp eax, [a_sigs+ecx*4]
    jne a_sig
    and ebx, [a_mask+ecx*4]
    cmp ebx, [a_want+ecx*4]
    jne a_next
    mov eax, SMBIOS_SLOT
    cmp ecx, eax
    cmova ecx, eax
    setae al
    cmp edi, 0xF0000
    setb ah
    test al, ah
    jnz a_next
    lea ebx, [ebp+ecx*8+FLAT_ANCHORS]
    cmp dword ptr [ebx], 0
    jne a_next
    mov [ebx], edi
    test al, al
    jnz a_next
    mov eax, edx
    sub eax, edi
    cmp eax, [a_size+ecx*4]
    cmova eax, [a_size+ecx*4]
    mov [ebx+4], eax
    push esi
    mov esi, edi
    shl ecx, 6
    lea edi, [ebp+ecx+FLAT_ANCHOR_DATA]
    mov ecx, eax
    shr ecx, 2
    rep movsd
    pop esi
a_next:
    pop ecx
    test ecx, ecx
    jnz a_test
a_ret:
    ret
a_sigs:
    .long 0x20445352, 0x5F504D5F, 0x506E5024, 0x5F32335F, 0x52495024, 0x5F4D535F, 0x334D535F
a_mask:
    .long 0xFFFFFFFF, 0, 0, 0, 0, 0, 0xFF
a_want:
    .long 0x20525450, 0, 0, 0, 0, 0, 0x5F
a_size:
    .long ANCHOR_SLOT, ANCHOR_SLOT, ANCHOR_SLOT, ANCHOR_SLOT, PIR_SLOT
a_first:
""" + _bitmap(b"$R_")

FLAT_SURVEY = ("""
    cld
    push ebp
    mov ebp, edi
    mov esi, 0x400
    mov ecx, 64
    rep movsd
    mov eax, [0xFFFF0]
    mov [ebp+FLAT_TOP], eax
    mov eax, [0xFFFF4]
    mov [ebp+FLAT_TOP+4], eax
    mov eax, [0xFFFF8]
    mov [ebp+FLAT_TOP+8], eax
    mov eax, [0xFFFFC]
    mov [ebp+FLAT_TOP+12], eax
    movzx esi, word ptr [0x40E]
    shl esi, 4
    push esi
""" + FLAT_STRINGS_SCAN + """    mov esi, [esp]
    lea edx, [esi+1024]
    call a_scan
    mov esi, 0xF0000
    mov edx, 0x100000
    call a_scan
    mov esi, [ebp+FLAT_ANCHORS+SMBIOS_SLOT*8]
    test esi, esi
    jz sm_none
    lea edi, [ebp+FLAT_ENTRY]
    cmp byte ptr [esi+3], 0x5F
    mov ebx, [esi+0x18]
    movzx edx, word ptr [esi+0x16]
    movzx ecx, byte ptr [esi+5]
    movzx eax, byte ptr [esi+6]
    cmovne ebx, [esi+0x10]
    cmovne edx, [esi+0x0C]
    cmovne ecx, eax
    setne al
    cmp dword ptr [esi+0x14], 0
    setne ah
    and al, ah
    movzx eax, al
    dec eax
    and edx, eax
    mov eax, 64
    cmp ecx, eax
    cmova ecx, eax
    push ecx
    rep movsb
    mov esi, ebx
    add edx, ebx
    mov edi, [esp+8]
    lea ecx, [edx-1]
    jc sm_walk
    sub ecx, esi
    cmp ecx, SMBIOS_WHOLE
    jae sm_walk
    inc ecx
    mov ebx, ecx
    rep movsb
    mov ecx, SMBIOS_COPIED
    pop eax
    pop edx
    pop ebp
    ret
sm_walk:
    xor eax, eax
    mov [edi], eax
    mov [edi+4], eax
walk:
    lea ecx, [esi+4]
    cmp ecx, edx
    mov ebx, esi
    cmova ebx, edi
    movzx eax, byte ptr [ebx+1]
    seta cl
    cmp eax, 4
    setb ch
    or cl, ch
    add eax, esi
    lea ebx, [edx-2]
    cmp eax, ebx
    seta ch
    or cl, ch
    jnz walked
    mov ecx, ebx
    sub ecx, eax
    inc ecx
strings_end:
    cmp word ptr [eax], 0
    lea eax, [eax+1]
    loopne strings_end
    jne walked
    inc eax
    mov ecx, [edi]
    inc dword ptr [edi]
    lea ecx, [edi+ecx+8]
    lea ebx, [esp-4]
    cmp dword ptr [edi], SMBIOS_TYPES
    cmova ecx, ebx
    mov bl, [esi]
    mov [ecx], bl
    movzx ecx, bl
    bt dword ptr [sm_decoded], ecx
    jnc kept
    mov ecx, eax
    sub ecx, esi
    mov ebx, [edi+4]
    add ebx, ecx
    cmp ebx, SMBIOS_KEPT
    ja kept
    push edi
    push esi
    mov [edi+4], ebx
    sub ebx, ecx
    lea edi, [edi+ebx+SMBIOS_AT]
    rep movsb
    pop esi
    pop edi
kept:
    cmp byte ptr [esi], 127
    mov esi, eax
    jne walk
walked:
    mov ecx, [edi]
    mov ebx, [edi+4]
    pop eax
    pop edx
    pop ebp
    ret
sm_none:
    xor eax, eax
    xor ebx, ebx
    xor ecx, ecx
    pop edx
    pop ebp
    ret
sm_decoded:
""" + _bitmap(SMBIOS_DECODED) + FLAT_ANCHOR_SCAN)
_CONSTANTS = dict(FLAT_ANCHORS=FLAT_ANCHORS, FLAT_ANCHOR_DATA=FLAT_ANCHOR_DATA, FLAT_STRINGS=FLAT_STRINGS,
                  FLAT_ENTRY=FLAT_ENTRY, STRING_TEXT=STRING_SLOT - 4, STRINGS=STRINGS, ANCHOR_SLOT=ANCHOR_SLOT,
                  PIR_SLOT=PIR_SLOT, FLAT_TOP=FLAT_TOP, SMBIOS_SLOT=SMBIOS_SLOT,
                  SMBIOS_TYPES=SMBIOS_TYPES, SMBIOS_KEPT=SMBIOS_KEPT, SMBIOS_AT=SMBIOS_AT,
                  SMBIOS_WHOLE=SMBIOS_WHOLE, SMBIOS_COPIED=SMBIOS_COPIED)
FLAT_SURVEY = re.sub(r"\b(%s)\b" % "|".join(_CONSTANTS), lambda m: str(_CONSTANTS[m.group(1)]), FLAT_SURVEY)


def survey_calls():
    """The batch: the real-mode survey and the flat one, ``[(name, call)]``."""
    return [("real", Routine(real_mode_survey(), es_di=Buffer(BLOCK))),
            ("flat", Routine(FLAT_SURVEY, mode="flat32", edi=Buffer(FLAT_SIZE),
                             ebp=Buffer(SMBIOS_AT + SMBIOS_KEPT)))]


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
