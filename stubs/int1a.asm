; int1a.asm - INT 1Ah time and PCI BIOS services.
; Ticks come from the BDA (0040:006C dword, midnight flag 0040:0070: RBIL INT 1A/AH=00h); the RTC
; time and date are the profile's clock, in BCD, given by the builder as RTC_TIME_CX/DX and
; RTC_DATE_CX/DX (no CMOS port is read, so a dry run logs no port traffic for them).
int1a_entry:
    cmp ah, 0x00
    je rtc_ticks
    cmp ah, 0x02
    je rtc_time
    cmp ah, 0x04
    je rtc_date
    cmp ax, 0xB101
    je pci_check
    push ax
    mov al, 0x1A
    jmp unknown_leaf

rtc_ticks:                      ; CX:DX = ticks since midnight, AL = midnight flag (then cleared)
    push ds
    xor dx, dx
    mov ds, dx
    mov dx, word ptr [0x46C]
    mov cx, word ptr [0x46E]
    mov al, byte ptr [0x470]
    mov byte ptr [0x470], 0
    pop ds
    jmp iret_nc

rtc_time:                       ; CH hours, CL minutes, DH seconds, DL DST flag (BCD)
    mov cx, RTC_TIME_CX
    mov dx, RTC_TIME_DX
    mov al, ch                  ; SeaBIOS 1.16 leaves AL = CH, AH = 0 (measured, tests/data)
    xor ah, ah
    jmp iret_nc

rtc_date:                       ; CH century, CL year, DH month, DL day (BCD)
    mov cx, RTC_DATE_CX
    mov dx, RTC_DATE_DX
    mov al, ch
    xor ah, ah
    jmp iret_nc

; PCI BIOS 2.1 section 3.1, "PCI BIOS Present": EDX = "PCI ", AH = 0, AL = hardware mechanism bits,
; BH.BL = interface version, CL = last bus.  SeaBIOS (src/pcibios.c handle_1ab101) also returns EDI =
; its 32-bit entry point; the stub has none, so EDI is left alone.
pci_check:
    mov edx, 0x20494350
    mov bx, PCI_VERSION
    mov cl, PCI_LAST_BUS
    mov ax, PCI_MECHANISM
    jmp iret_nc
