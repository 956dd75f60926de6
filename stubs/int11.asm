; int11.asm - INT 11h, get equipment list (RBIL INT 11).
; The answer is the BDA word at 0040:0010, which the builder fills from Profile.equipment, as
; SeaBIOS's handle_11 (src/misc.c) returns GET_BDA(equipment_list_flags).
int11_entry:
    push ds
    xor ax, ax
    mov ds, ax
    mov ax, word ptr [0x410]
    pop ds
    iret
