; int15.asm - INT 15h system services: memory sizing and the system configuration table.
; Tables and answers come from the profile through the builder's defines:
;   E820_TABLE/E820_COUNT  24-byte entries (base, length, type, ACPI 3.0 attributes) in this ROM
;   E820_SIZE              20 or 24: the longest entry the profile answers
;   E801_LOW/E801_HIGH     KiB 1..16 MiB, 64 KiB blocks above 16 MiB;  EXT88 KiB above 1 MiB
;   CONFIG_TABLE           offset of the int 15h C0h table in this segment
int15_entry:
    cmp ax, 0xE820
    je e820
    cmp ax, 0xE801
    je e801
    cmp ah, 0x88
    je ext88
    cmp ah, 0xC0
    je config
    push ax
    mov al, 0x15
    jmp unknown_leaf

; RBIL INT 15/AX=E820h; ACPI 6.x section 15.1.  EBX is the continuation: the index of the next entry,
; 0 after the last.  Like SeaBIOS (src/memmap.c handle_15e820), a wrong EDX, a bad index or a buffer
; under 20 bytes is refused with CF=1, AH=86h, and ECX returns the bytes written.
e820:
    cmp edx, 0x534D4150
    jne e820_bad
    cmp ebx, E820_COUNT
    jae e820_bad
    cmp ecx, 20
    jb e820_bad
    push ds
    push si
    push di
    cmp ecx, 24
    mov ecx, 20                 ; MOV leaves the flags of the compare above
    jb e820_copy
    mov cx, E820_SIZE           ; 24 only if the profile has extended attributes to give
e820_copy:
    push cs
    pop ds
    mov si, bx
    imul si, si, 24
    add si, E820_TABLE
    push cx
    cld
    rep movsb
    pop cx
    pop di
    pop si
    pop ds
    inc ebx
    cmp ebx, E820_COUNT
    jb e820_more
    xor ebx, ebx
e820_more:
    mov eax, 0x534D4150
    jmp iret_nc
e820_bad:
    mov ah, 0x86
    jmp iret_cf

; RBIL INT 15/AX=E801h: AX = CX = KiB between 1 and 16 MiB, BX = DX = 64 KiB blocks above 16 MiB
; (SeaBIOS src/system.c handle_15e801 sets the "configured" pair equal to the "extended" pair).
e801:
    mov ax, E801_LOW
    mov cx, E801_LOW
    mov bx, E801_HIGH
    mov dx, E801_HIGH
    jmp iret_nc

; RBIL INT 15/AH=88h: AX = KiB above 1 MiB (SeaBIOS caps it at 63 MiB, src/system.c handle_1588).
ext88:
    mov ax, EXT88
    jmp iret_nc

; RBIL INT 15/AH=C0h: ES:BX = system configuration table, AH = 0.
config:
    push cs
    pop es
    mov bx, CONFIG_TABLE
    xor ah, ah
    jmp iret_nc
