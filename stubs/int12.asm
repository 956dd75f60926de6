; int12.asm - INT 12h, get memory size (RBIL INT 12).
; AX = KiB of base memory, the BDA word at 0040:0013 (SeaBIOS src/misc.c handle_12), which the
; builder fills from Profile.base_memory_kib.  A program that shrinks the BDA value sees it here.
int12_entry:
    push ds
    xor ax, ax
    mov ds, ax
    mov ax, word ptr [0x413]
    pop ds
    iret
