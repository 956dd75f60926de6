; int13.asm - INT 13h disk services: parameters and the EDD 3.0 queries (no sector I/O).
; The builder lays one DISK_RECORD-byte record per Profile.disks entry at DISK_TABLE (DISK_COUNT):
;   +0 drive  +1 CH  +2 CL  +3 DH  +4 DL  +5 BL  (the 08h answer, computed in Python)
;   +6 EDD version (41h AH)  +8 support bits (41h CX)
;   +16 the 66-byte EDD 3.0 (Phoenix) result of 48h   +96 the 74-byte T13 EDD-3 result of 48h
; FDPT is the diskette parameter table 08h hands a floppy caller in ES:DI.
int13_entry:
    cmp ah, 0x08
    je disk_known
    cmp ah, 0x41
    je disk_known
    cmp ah, 0x48
    je disk_known
    push ax
    mov al, 0x13
    jmp unknown_leaf

disk_known:
    push bx
    call find_disk
    jc disk_none
    cmp ah, 0x08
    je disk_parms
    cmp ah, 0x41
    je disk_check
    jmp disk_edd
disk_none:                      ; SeaBIOS answers DISK_RET_EPARAM for a drive it doesn't know
    pop bx
    mov ah, 0x01
    jmp iret_cf

find_disk:                      ; DL -> CS:BX = its record, CF=0; CF=1 if there is no such drive
    push cx
    mov bx, DISK_TABLE
    mov cx, DISK_COUNT
find_next:
    test cx, cx
    jz find_none
    cmp byte ptr cs:[bx], dl
    je find_found
    add bx, DISK_RECORD
    dec cx
    jmp find_next
find_none:
    pop cx
    stc
    ret
find_found:
    pop cx
    clc
    ret

; RBIL INT 13/AH=08h: CH = low 8 bits of the last cylinder, CL = sectors | cylinder bits 8-9 << 6,
; DH = last head, DL = number of drives, AX = 0; a floppy also gets BX = drive type and ES:DI = its
; parameter table (SeaBIOS src/disk.c disk_1308).
disk_parms:
    mov ch, byte ptr cs:[bx+1]
    mov cl, byte ptr cs:[bx+2]
    mov dh, byte ptr cs:[bx+3]
    xor ax, ax
    cmp byte ptr cs:[bx], 0x80
    mov dl, byte ptr cs:[bx+4]  ; MOV keeps the flags of the compare
    jae parms_hd
    mov al, byte ptr cs:[bx+5]
    push cs
    pop es
    mov di, FDPT
    add sp, 2                   ; the caller's BX is an output here: drop it
    mov bx, ax
    xor ax, ax
    jmp iret_nc
parms_hd:
    pop bx
    jmp iret_nc

; RBIL INT 13/AH=41h, EDD 3.0 section 7.1: BX = AA55h, AH = version, CX = interface support bits.
; Like SeaBIOS (src/disk.c disk_1341) the BX=55AAh signature is not checked.
disk_check:
    mov cx, word ptr cs:[bx+8]
    mov ah, byte ptr cs:[bx+6]
    add sp, 2
    mov bx, 0xAA55
    jmp iret_nc

; RBIL INT 13/AH=48h, EDD 3.0 section 7.8 (and SeaBIOS src/block.c fill_generic_edd): DS:SI is the
; caller's buffer, its first word the size it offers.  Under 26 bytes: CF=1, AH=01h.  The answer is
; the longest table that fits: 26 bytes (EDD 1.x), 30 (2.x: + DPTE pointer), 66 (3.0) or, for a
; buffer of exactly 74 bytes, the T13 EDD-3 layout; the size word becomes the length written.
disk_edd:
    push cx
    push di
    push es
    push ds
    push si
    mov cx, word ptr [si]
    cmp cx, 26
    jb edd_small
    lea ax, [bx+16]
    cmp cx, 74
    je edd_t13
    mov di, 66
    cmp cx, 66
    jae edd_copy
    mov di, 30
    cmp cx, 30
    jae edd_copy
    mov di, 26
    jmp edd_copy
edd_t13:
    lea ax, [bx+96]
    mov di, 74
edd_copy:
    mov cx, di
    push ds
    pop es
    mov di, si
    mov si, ax
    push cs
    pop ds
    cld
    rep movsb
    pop si
    pop ds
    sub di, si                  ; bytes written
    mov word ptr [si], di
    pop es
    pop di
    pop cx
    pop bx
    xor ah, ah
    jmp iret_nc
edd_small:
    pop si
    pop ds
    pop es
    pop di
    pop cx
    pop bx
    mov ah, 0x01
    jmp iret_cf
