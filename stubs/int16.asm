; int16.asm - INT 16h keyboard services, read from the BDA keyboard ring (RBIL INT 16, MEMORY.LST):
; 0040:001A head, 0040:001C tail, 0040:0080/0082 buffer start/end offsets, 0040:0017 shift flags.
; The builder queues Profile.keyboard there.  Leaves: 00h/10h read, 01h/11h check, 02h shift flags.
int16_entry:
    cmp ah, 0x00
    je kbd_read
    cmp ah, 0x10
    je kbd_read
    cmp ah, 0x01
    je kbd_check
    cmp ah, 0x11
    je kbd_check
    cmp ah, 0x02
    je kbd_shift
    push ax
    mov al, 0x16
    jmp unknown_leaf

kbd_check:                      ; ZF=1: no key; ZF=0: AX = key, left in the buffer
    push ds
    push bx
    xor bx, bx
    mov ds, bx
    mov bx, word ptr [0x41A]
    cmp bx, word ptr [0x41C]
    je kbd_none
    mov ax, word ptr [bx+0x400]
    pop bx
    pop ds
    jmp iret_nz
kbd_none:
    pop bx
    pop ds
    jmp iret_zf

kbd_read:                       ; AX = key, removed from the buffer
    push ds
    push bx
    xor bx, bx
    mov ds, bx
kbd_wait:                       ; an empty buffer waits for IRQ 1, as a BIOS does; with IF=0 and no
    mov bx, word ptr [0x41A]    ; keyboard that is forever: the emulator's instruction budget ends it
    cmp bx, word ptr [0x41C]
    je kbd_wait
    mov ax, word ptr [bx+0x400]
    add bx, 2
    cmp bx, word ptr [0x482]
    jb kbd_store
    mov bx, word ptr [0x480]
kbd_store:
    mov word ptr [0x41A], bx
    pop bx
    pop ds
    iret

kbd_shift:                      ; AL = shift flags (SeaBIOS src/kbd.c handle_1602 leaves AH alone)
    push ds
    push bx
    xor bx, bx
    mov ds, bx
    mov al, byte ptr [0x417]
    pop bx
    pop ds
    iret
