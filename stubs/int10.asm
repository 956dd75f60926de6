; int10.asm - INT 10h video services, in the video option ROM at C000h (CS = C000h), as the
; Bochs/QEMU std VGA BIOS of SeaBIOS (vgasrc/) provides them.  The builder generates the data:
;   VBE_INFO      a 512-byte VbeInfoBlock template (VBE 3.0 section 4.3) with the mode list at +22h
;   MODE_TABLE    MODE_COUNT mode numbers;  MODE_INFO  one 256-byte ModeInfoBlock per mode (4.4)
;   EDID          EDID_BLOCKS 128-byte blocks;  DDC_CAPS  the 4F15h BL=00h answer
;   UNKNOWN_LEAF  the F-segment's unknown-leaf exit
; VBE functions answer in AX (004Fh success, 014Fh failure) and leave CF alone (VBE 3.0 section 4.1).
int10_entry:
    cmp ah, 0x00
    je set_mode
    cmp ah, 0x0F
    je get_mode
    cmp ax, 0x4F00
    je vbe_info
    cmp ax, 0x4F01
    je vbe_mode_info
    cmp ax, 0x4F02
    je vbe_set_mode
    cmp ax, 0x4F03
    je vbe_get_mode
    cmp ax, 0x4F15
    je vbe_ddc
    push ax
    mov al, 0x10
    ljmp 0xF000:UNKNOWN_LEAF

vbe_fail:
    mov ax, 0x014F
    iret

find_mode:                      ; AX = mode -> CS:SI = its ModeInfoBlock, CF=0; CF=1 if not listed
    push cx
    push bx
    mov bx, MODE_TABLE
    mov si, MODE_INFO
    mov cx, MODE_COUNT
find_mode_next:
    test cx, cx
    jz find_mode_none
    cmp word ptr cs:[bx], ax
    je find_mode_found
    add bx, 2
    add si, 256
    dec cx
    jmp find_mode_next
find_mode_none:
    pop bx
    pop cx
    stc
    ret
find_mode_found:
    pop bx
    pop cx
    clc
    ret

; VBE 3.0 section 4.3, 4F00h: copy the VbeInfoBlock to ES:DI, 512 bytes if the caller signed it
; "VBE2", else 256.  As SeaBIOS does (vgasrc/vbe.c vbe_104f00) the mode list lives in the caller's
; block at +22h, so VideoModePtr is ES:DI+22h; the OEM strings stay in this ROM.
vbe_info:
    push ds
    push si
    push cx
    push di
    mov cx, 256
    cmp dword ptr es:[di], 0x32454256
    jne vbe_info_copy
    mov cx, 512
vbe_info_copy:
    push cs
    pop ds
    mov si, VBE_INFO
    cld
    rep movsb
    pop di
    lea ax, [di+0x22]
    mov word ptr es:[di+14], ax
    mov word ptr es:[di+16], es
    pop cx
    pop si
    pop ds
    mov ax, 0x004F
    iret

; VBE 3.0 section 4.4, 4F01h: CX = mode (bits 0-8; SeaBIOS masks MF_VBEFLAGS FE00h), 256 bytes to ES:DI.
vbe_mode_info:
    push si
    mov ax, cx
    and ax, 0x01FF
    call find_mode
    jc vbe_mode_info_none
    push ds
    push cx
    push di
    push cs
    pop ds
    mov cx, 256
    cld
    rep movsb
    pop di
    pop cx
    pop ds
    pop si
    mov ax, 0x004F
    iret
vbe_mode_info_none:
    pop si
    jmp vbe_fail

; VBE 3.0 section 4.5, 4F02h: BX = mode | flags.  The mode is remembered where SeaBIOS keeps it, the
; BDA word 0040:00BA (vgasrc/vgabios.h VGA_CUSTOM_BDA + 1), and 0040:0049 becomes the VGA mode
; number or FFh for a VBE mode (vgasrc/vgabios.c vga_set_mode).  Nothing is drawn.
vbe_set_mode:
    push si
    mov ax, bx
    and ax, 0x01FF
    call find_mode
    jc vbe_mode_info_none
    call remember_mode
    pop si
    mov ax, 0x004F
    iret

remember_mode:                  ; AX = mode number, BX = mode | flags, CS:SI = its ModeInfoBlock
    push ds
    push ax
    push cx
    mov cx, ax
    xor ax, ax
    mov ds, ax
    mov word ptr [0x4BA], bx
    mov al, 0xFF
    cmp cx, 0x100
    jae remember_vga
    mov al, cl
remember_vga:
    mov byte ptr [0x449], al
    mov ax, word ptr cs:[si+18]  ; columns: text width, or XResolution / XCharSize
    cmp byte ptr cs:[si+27], 0
    je remember_cols
    div byte ptr cs:[si+22]
    xor ah, ah
remember_cols:
    mov word ptr [0x44A], ax
    mov byte ptr [0x462], 0     ; active page 0
    pop cx
    pop ax
    pop ds
    ret

; VBE 3.0 section 4.6, 4F03h: BX = current mode.
vbe_get_mode:
    push ds
    xor ax, ax
    mov ds, ax
    mov bx, word ptr [0x4BA]
    pop ds
    mov ax, 0x004F
    iret

; VBE/DDC 1.1 (VESA "VBE Display Data Channel" standard), 4F15h.  BL=00h: BX = DDC capabilities;
; BL=01h: EDID block DX to ES:DI (SeaBIOS vgasrc/vbe.c vbe_104f15).  Other BL, or no EDID: 014Fh.
vbe_ddc:
    cmp bl, 0x00
    je ddc_caps
    cmp bl, 0x01
    je ddc_read
    jmp vbe_fail
ddc_caps:
    mov ax, EDID_BLOCKS
    test ax, ax
    jz vbe_fail
    mov bx, DDC_CAPS
    mov ax, 0x004F
    iret
ddc_read:
    cmp dx, EDID_BLOCKS
    jae vbe_fail
    push ds
    push si
    push cx
    push di
    mov si, dx
    shl si, 7
    add si, EDID
    push cs
    pop ds
    mov cx, 128
    cld
    rep movsb
    pop di
    pop cx
    pop si
    pop ds
    mov ax, 0x004F
    iret

; RBIL INT 10/AH=00h: AL = mode (bit 7: keep video memory).  AL returns 30h for modes 0-5 and 7,
; 3Fh for mode 6, 20h above 7 (vgasrc/vgabios.c handle_1000); the BDA records the new mode.
set_mode:
    push si
    push bx
    push ax
    xor ah, ah
    and al, 0x7F
    call find_mode
    jc set_mode_answer
    mov bx, ax
    call remember_mode
set_mode_answer:
    pop ax                      ; the caller's AX: AH comes back unchanged
    pop bx
    pop si
    push cx
    mov cl, al
    and cl, 0x7F
    mov al, 0x20
    cmp cl, 7
    ja set_mode_done
    mov al, 0x3F
    cmp cl, 6
    je set_mode_done
    mov al, 0x30
set_mode_done:
    pop cx
    iret

; RBIL INT 10/AH=0Fh: AL = mode (| 80h if memory was kept), AH = columns, BH = active page.
get_mode:
    push ds
    xor ax, ax
    mov ds, ax
    mov al, byte ptr [0x487]
    and al, 0x80
    or al, byte ptr [0x449]
    mov ah, byte ptr [0x44A]
    mov bh, byte ptr [0x462]
    pop ds
    iret

; VBE 3.0 section 4.9 window function (WinFuncPtr in every ModeInfoBlock), reached by FAR CALL.
; Banked access is not modelled: it answers "function failed".
vbe_window:
    mov ax, 0x014F
    retf
