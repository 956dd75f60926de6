/*
 * physcall.h - the one ABI between the host (physcall/abi.py, via cffi's cdef) and the
 * kexec-jump trampoline (csrc/trampoline.S, via the offsets that asm-offsets.c generates).
 *
 * Physical memory of one image (see docs/DESIGN.md, "The kexec-jump contract"):
 *
 *   0x00000-0x0ffff  page 0 (IVT, BDA), conventional memory: never a segment
 *   0x10000-0x11fff  trampoline code, two pages (trampoline.ld.S says which part goes where)
 *   0x12000-0x12fff  trampoline data at PC_TRAMPOLINE_DATA: GDT, saved state, the current call,
 *                    its stack (a page of its own: no store lands next to code)
 *   0x13000-0x1cfff  the batch block (struct pc_block) at PC_BLOCK_BASE; a small batch's code,
 *                    buffers and stack in the whole pages after its used call slots (below)
 *   0x20000-0x87fff  else the batch: thunks, routines, buffers, stacks (physcall/layout.py)
 *   0x88000-0x8bfff  identity page tables 0-1 GiB, 2 MiB pages (PML5, PML4, PDPT, PD): the climb
 *                    back runs on them only from paging on to the reload of the kernel's CR3
 *   0x8c000-...      left alone: the EBDA sits below 0xa0000 (BDA word at 0x40e)
 *
 * A batch of n calls uses calls[0..n) of the block, which comes last in it: a batch that fits the
 * whole pages after calls[n-1] (8 pages for up to 13 calls) goes there instead of the batch window,
 * so it adds no page to the image (the kernel swaps every page of an image in and out on every jump).
 *
 * The real-mode part of the trampoline runs with CS = TRAMPOLINE_BASE >> 4, so everything it
 * touches (code, the current-call scratch record, its stack) lies in the first 64 KiB.
 *
 * Results travel through the mailbox: host pages, mlock'ed, whose physical addresses the host
 * writes into pc_header.mailbox[].  Mailbox layout (struct offsets below):
 *   0                                   struct pc_header (the block's header at the end of the jump)
 *   sizeof(struct pc_header)            struct pc_call[count] (inputs, outputs, status, TSC)
 *   pc_buffer.mbox_offset (host-chosen) each buffer's bytes, copied right after its call returned
 *
 * Only plain "#define NAME <integer>" lines and type declarations may sit between the cdef
 * markers: physcall/abi.py hands that text to cffi.
 */
#ifndef PHYSCALL_H
#define PHYSCALL_H

#ifndef __ASSEMBLER__
#include <stdint.h>
#endif

/* cdef-begin */
#define PC_MAGIC              0x4c414350   /* "PCAL" */
#define PC_VERSION            3            /* 3: code on two pages, data, then pc_block (calls[] last) */

#define PC_TRAMPOLINE_BASE    0x10000
#define PC_TRAMPOLINE_LIMIT   0x20000
#define PC_TRAMPOLINE_DATA    0x12000      /* the trampoline's data page */
#define PC_BLOCK_BASE         0x13000      /* struct pc_block (trampoline.ld.S places it here) */
#define PC_BATCH_BASE         0x20000
#define PC_BATCH_LIMIT        0x88000
#define PC_PAGETABLE_BASE     0x88000      /* PML5, PML4, PDPT, PD: 4 KiB each */
#define PC_PAGETABLE_PAGES    4
#define PC_PAGE_SIZE          4096

#define PC_MAX_CALLS          256
#define PC_MAX_BUFFERS        256
#define PC_MAILBOX_MAX_PAGES  256          /* 1 MiB of results */
#define PC_SEGMENT_MAX        16           /* KEXEC_SEGMENT_MAX */

/* pc_call.mode */
#define PC_MODE_NONE          0            /* skipped: no mode switch at all */
#define PC_MODE_REAL16        1            /* far call cs:ip, ss:sp, real mode; routine ends with retf */
#define PC_MODE_FLAT32        2            /* near call eip, esp, 32-bit flat, paging off; ends with ret */

/* pc_call.status */
#define PC_CALL_PENDING       0
#define PC_CALL_RETURNED      1
#define PC_CALL_SKIPPED       2

/* pc_header.status */
#define PC_BATCH_LOADED       0            /* as written by the host */
#define PC_BATCH_RUNNING      1
#define PC_BATCH_DONE         2
#define PC_BATCH_MAILBOX_FULL 3            /* some result bytes fell outside the mailbox */

/* Segment selectors of the trampoline's GDT (0x10 and 0x18 match the kernel's at entry). */
#define PC_SEL_CODE32         0x08
#define PC_SEL_CODE64         0x10
#define PC_SEL_DATA           0x18
#define PC_SEL_CODE16         0x20         /* base PC_TRAMPOLINE_BASE, limit 64 KiB */
#define PC_SEL_DATA16         0x28         /* base 0, limit 64 KiB: real-mode compatible caches */

/* Flags a call is entered with: pc_regs_in.eflags & PC_EFLAGS_MASK | PC_EFLAGS_FIXED, on the real
 * jump (trampoline.S) and in the dry run (physcall/emulator) alike.  CF PF AF ZF SF DF OF pass; IF, TF,
 * NT, IOPL, AC and the rest are cleared: a call starts with interrupts off, and firmware that needs
 * them runs `sti` itself (the interrupt environment below makes that safe). */
#define PC_EFLAGS_MASK        0x00000cd7
#define PC_EFLAGS_FIXED       0x00000002   /* bit 1 always reads 1 */

/* The interrupt environment of a real16 call (trampoline.S, irq_enter/irq_leave; docs/DESIGN.md,
 * "Interrupts").  The kernel hands over the local APIC in virtual-wire mode (machine_kexec() ->
 * restore_boot_irq_mode()), the IO-APIC cleared, the 8259s masked at its own vectors, and possibly
 * fixed interrupts pending in the local APIC's IRR.  While the firmware runs:
 *   - local APIC TPR = PC_LAPIC_TPR_HOLD: every fixed (kernel) vector stays pending in IRR, never taken
 *     through the real-mode IVT (whose handlers would iret without an EOI and leave an ISR bit that
 *     blocks the kernel's timer forever); ExtINT (the 8259) is not subject to the TPR and gets through;
 *   - the 8259s are re-initialised at the PC's vectors (IRQ0-7 -> 08h, IRQ8-15 -> 70h) with the BIOS's
 *     IRQs unmasked; the PIT's channel 0 runs at the BIOS's 18.2 Hz, as SeaBIOS's pit_setup() leaves it
 *     (mode 2, count 65536; mode 3 made the firmware's own work ~10% slower under TCG).
 * On the way back: the 8259s masked, any ISR bit left EOI'd, re-initialised at the kernel's vectors
 * with its masks and ELCR; the PIT back to the mode it had; CMOS register B as it was; any local APIC
 * ISR bit that appeared EOI'd; TPR, SPIV, LVT0 and LVT1 as they were.  The kernel's syscore resume
 * (lapic_resume, i8259A_resume, timekeeping_resume) then reprograms what it owns on top. */
#define PC_BIOS_PIC1_BASE     0x08
#define PC_BIOS_PIC2_BASE     0x70
#define PC_KERNEL_PIC1_BASE   0x30         /* ISA_IRQ_VECTOR(0), arch/x86/include/asm/irq_vectors.h */
#define PC_KERNEL_PIC2_BASE   0x38
#define PC_BIOS_IMR1          0xf8         /* unmasked: IRQ0 timer, IRQ1 keyboard, IRQ2 cascade */
#define PC_BIOS_IMR2          0x2e         /* unmasked: IRQ8 RTC, IRQ12 mouse, IRQ14/15 IDE */
#define PC_LAPIC_TPR_HOLD     0xf0
#define PC_PIT_BIOS_MODE      0x34         /* channel 0, lobyte/hibyte, mode 2, binary (count 0) */

/* pc_irq_state.flags */
#define PC_IRQ_VALID          0x01         /* this record was written */
#define PC_IRQ_LAPIC          0x02         /* the local APIC is enabled (IA32_APIC_BASE.EN) */
#define PC_IRQ_X2APIC         0x04         /* ... in x2APIC mode (registers are MSRs) */
#define PC_IRQ_LAPIC_FORCED   0x08         /* it was software-disabled: virtual wire set for the call */

/* Hazard kinds of the dry run (physcall/emulator/hazards.py): what the firmware did that a real
 * machine may not survive.  On the kexec backend a jump whose dry run saw a hazard is refused unless
 * the caller allows its kind by name, or the trampoline declares the kind handled here: set its bit
 * in PC_HANDLED_HAZARDS once the trampoline owns that situation (e.g. STI|HLT once it runs the
 * firmware with its own IDT/PIC state, the interrupt-safety issue). */
#define PC_HAZARD_STI          0x01        /* the firmware enables interrupts */
#define PC_HAZARD_HLT          0x02        /* the firmware halts for an interrupt */
#define PC_HAZARD_SMI          0x04        /* out to the APM control port B2h */
#define PC_HAZARD_DEVICE       0x08        /* PIC/PIT/PS/2/PCI config reprogrammed, or an unmodelled device */
#define PC_HAZARD_WAIT         0x10        /* polls a timer or waits for an interrupt */
#define PC_HAZARD_UNKNOWN_LEAF 0x20        /* a leaf the stub BIOS has no model for */
#define PC_HAZARD_UNKNOWN_READ 0x40        /* a port with no device model was read */
/* Handled: STI|HLT.  A real16 call runs in the interrupt environment above: a firmware `sti` takes only
 * the BIOS's own IRQs through its IVT (the kernel's vectors wait behind the TPR), and `hlt` wakes on
 * the BIOS's timer, RTC, keyboard or disk interrupt.  (abi.py reads integer literals only.) */
#define PC_HANDLED_HAZARDS     0x03

#ifndef __ASSEMBLER__
struct pc_regs_in {                 /* 40 bytes */
    uint32_t eax, ebx, ecx, edx, esi, edi, ebp;
    uint32_t eflags;
    uint16_t ds, es, fs, gs;        /* real16 only; flat32 runs with flat selectors */
};

struct pc_regs_out {                /* 48 bytes */
    uint32_t eax, ebx, ecx, edx, esi, edi, ebp;
    uint32_t esp;
    uint32_t eflags;
    uint16_t ds, es, fs, gs, ss;
    uint16_t reserved;
};

struct pc_call {                    /* 128 bytes */
    uint32_t mode;                  /* PC_MODE_* */
    uint32_t status;                /* PC_CALL_*, set by the trampoline */
    uint16_t ip, cs;                /* real16 entry: m16:16 far pointer, offset first (lcall *) */
    uint16_t sp, ss;                /* real16 stack: m16:16, offset first (lss) */
    uint32_t eip;                   /* flat32 entry */
    uint32_t esp;                   /* flat32 stack (linear) */
    struct pc_regs_in in;
    struct pc_regs_out out;
    uint64_t tsc_entry;             /* rdtsc right before the call */
    uint64_t tsc_exit;              /* rdtsc right after it returned */
};

struct pc_irq_state {               /* 112 bytes: the interrupt controllers as one real16 call saw them */
    uint64_t apic_base;             /* IA32_APIC_BASE MSR (0: no local APIC) */
    uint32_t tpr, spiv, lvt_timer, lvt0, lvt1, lvt_error;
    uint32_t isr[8];                /* local APIC in-service bits, vectors 0-255 */
    uint32_t irr[8];                /* local APIC requests pending */
    uint8_t  pic_imr[2], pic_isr[2], pic_irr[2], elcr[2];   /* master, slave */
    uint8_t  pit_status;            /* 8254 read-back status of channel 0 */
    uint8_t  cmos_b;                /* RTC register B */
    uint8_t  flags;                 /* PC_IRQ_* */
    uint8_t  reserved[5];
};

struct pc_buffer {                  /* 16 bytes: copied to the mailbox after call `call` */
    uint32_t phys;
    uint32_t size;
    uint32_t call;
    uint32_t mbox_offset;
};

struct pc_header {
    uint32_t magic;                 /* PC_MAGIC */
    uint16_t version;               /* PC_VERSION */
    uint16_t header_size;           /* sizeof(struct pc_header) */
    uint32_t count;                 /* calls in the batch */
    uint32_t nbuffers;
    uint32_t flags;                 /* none defined yet: 0 */
    uint32_t status;                /* PC_BATCH_* */
    uint64_t nonce;                 /* host's random value: proves the mailbox came from this jump */
    uint32_t jumps;                 /* entries into this image (the hidden copy persists) */
    uint32_t done;                  /* calls that returned */
    uint64_t tsc_entry;             /* rdtsc at the image's entry */
    uint64_t tsc_exit;              /* rdtsc before writing the header into the mailbox */
    uint64_t entry_cr0, entry_cr3, entry_cr4, entry_efer, entry_rflags;  /* kernel state at entry */
    uint64_t return_address;        /* 0(%rsp) at entry */
    struct pc_irq_state irq_before; /* as the kernel left them, before the first real16 call */
    struct pc_irq_state irq_after;  /* as given back, after the last real16 call (before syscore resume) */
    uint32_t irq_calls;             /* real16 calls run in the BIOS's interrupt environment (one setup per
                                       run of consecutive real16 calls) */
    uint32_t irq_eois;              /* local APIC + 8259 EOIs the trampoline had to send on the way back */
    uint32_t mailbox_pages;         /* used entries of mailbox[] */
    uint32_t reserved;              /* keeps mailbox[] 8-byte aligned */
    uint64_t mailbox[PC_MAILBOX_MAX_PAGES];  /* physical address of each mailbox page */
};

struct pc_block {
    struct pc_header hdr;
    struct pc_buffer buffers[PC_MAX_BUFFERS];
    struct pc_call calls[PC_MAX_CALLS];     /* last: the pages after calls[count - 1] may hold the batch */
};
#endif /* __ASSEMBLER__ */
/* cdef-end */

#endif /* PHYSCALL_H */
