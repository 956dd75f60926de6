; common.asm - shared exits of the stub BIOS (F-segment, CS = F000h).
;
; A handler is entered by INT, so the stack holds IP, CS, FLAGS.  IRET reloads the caller's FLAGS
; from that image: to answer CF or ZF a handler must change the image, not its own FLAGS (the way
; SeaBIOS's set_cf()/set_code_*() edit the FLAGS in struct bregs, src/bregs.h).
; After `push bp; mov bp, sp`: [bp+2] = IP, [bp+4] = CS, [bp+6] = FLAGS (SS-relative).

iret_cf:                        ; return with CF=1
    push bp
    mov bp, sp
    or byte ptr [bp+6], 0x01
    pop bp
    iret

iret_nc:                        ; return with CF=0
    push bp
    mov bp, sp
    and byte ptr [bp+6], 0xFE
    pop bp
    iret

iret_zf:                        ; return with ZF=1 (int 16h 01h: no keystroke)
    push bp
    mov bp, sp
    or byte ptr [bp+6], 0x40
    pop bp
    iret

iret_nz:                        ; return with ZF=0
    push bp
    mov bp, sp
    and byte ptr [bp+6], 0xBF
    pop bp
    iret

; The answer to a leaf nobody modelled.  Entered by JMP (or a far JMP from the video ROM) with the
; caller's AX pushed and the vector in AL.  The vector goes to port 0EE0h, where the emulator turns it
; into a report entry (physcall.emulator.firmware.STUB_TRAP_PORT); the caller then sees what
; SeaBIOS's set_code_unimplemented() answers: CF=1, AH=86h "function not supported" (RBIL INT 15h
; return codes).  Every other register is preserved.
unknown_leaf:
    push dx
    mov dx, 0x0EE0
    out dx, al
    pop dx
    pop ax
    mov ah, 0x86
    jmp iret_cf

default_iret:                   ; hardware IRQs, exceptions, unused vectors (SeaBIOS's F000:FF53)
    iret

; Service vectors with no family file: every leaf is unknown.
unknown_14:                     ; serial port services
    push ax
    mov al, 0x14
    jmp unknown_leaf
unknown_17:                     ; printer services
    push ax
    mov al, 0x17
    jmp unknown_leaf
unknown_18:                     ; ROM BASIC / boot failure
    push ax
    mov al, 0x18
    jmp unknown_leaf
unknown_19:                     ; bootstrap loader
    push ax
    mov al, 0x19
    jmp unknown_leaf
