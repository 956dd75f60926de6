/*
 * trampoline.S - the kexec-jump image of physcall: enter from the kernel in 64-bit mode, run each
 * call of the batch block in real mode (far call) or flat 32-bit protected mode (near call), store
 * every register after it, copy its buffers to the mailbox, climb back, and return to the kernel.
 *
 * The contract with the kernel is the one docs/DESIGN.md measured (relocate_kernel_64.S, `call *%rdx`):
 * 64-bit mode, IF=0, identity paging, CS=0x10, DS/ES/SS/FS/GS=0x18, GDTR=IDTR=0/0, and 0(%rsp) is
 * the return address at the very top of the kernel's swap page.  On return the kernel reads the next
 * entry point from 0(%rsp): we pop the return address, point %rsp at next_entry (a slot inside the
 * image) and jmp - a plain `ret` would leave the next page's first qword there, and writing 8(%rsp)
 * lands outside the swap page.
 *
 * The way down and up follows arch/x86/realmode/rm/reboot.S (long -> compat -> PG off -> LME off ->
 * 16-bit PM -> PE off -> real mode) and rm/trampoline_64.S (PE on -> PAE -> CR3 -> LME -> PG on ->
 * far jump to 64-bit).  The call itself is a glove box like arch/x86/boot/bioscall.S: the firmware may
 * clobber any register, segment or flag, so everything the trampoline needs afterwards is reached
 * through %cs and fixed addresses, never through a register the callee could have changed.
 *
 * Interrupts: the trampoline itself runs with IF=0.  A real16 call runs in the interrupt environment a
 * BIOS expects (irq_enter/irq_leave below, physcall.h "interrupt environment"): firmware that runs
 * `sti` or `sti; hlt` gets its timer, RTC, keyboard and disk interrupts through its own IVT, while
 * the kernel's vectors stay pending in the local APIC for the kernel.  The A20 line is left as the
 * firmware set it (SeaBIOS: on); every address used here is below 1 MiB except the mailbox (written
 * from long mode) and the local APIC's registers (reached with paging off, or as MSRs).
 */
#include "physcall.h"
#include "asm-offsets.inc"

#define RM(x)		((x) - PC_TRAMPOLINE_BASE)	/* offset from CS base in 16-bit code */
#define RM_CS		(PC_TRAMPOLINE_BASE >> 4)

#define MSR_EFER		0xc0000080
#define MSR_FS_BASE		0xc0000100
#define MSR_GS_BASE		0xc0000101
#define MSR_KERNEL_GS_BASE	0xc0000102
#define EFER_LME		(1 << 8)
#define EFER_LMA		(1 << 10)
#define CR0_PE			0x00000001
#define CR0_WP			0x00010000
#define CR0_AM			0x00040000
#define CR0_PG			0x80000000
#define CR4_PAE			(1 << 5)
#define CR4_LA57		(1 << 12)
#define MSR_APIC_BASE		0x1b
#define APIC_BASE_EXTD		(1 << 10)		/* x2APIC mode */
#define APIC_BASE_EN		(1 << 11)
#define APIC_SPIV_ENABLED	0x100
/* Local APIC registers by x2APIC MSR number; the xAPIC MMIO offset is (msr - 0x800) << 4 (SDM vol. 3,
 * "x2APIC Register Address Space"). */
#define APIC_TPR		0x808
#define APIC_EOI		0x80b
#define APIC_SPIV		0x80f
#define APIC_ISR		0x810
#define APIC_IRR		0x820
#define APIC_LVTT		0x832
#define APIC_LVT0		0x835
#define APIC_LVT1		0x836
#define APIC_LVTERR		0x837
#define APIC_DM_EXTINT		0x700
#define APIC_DM_NMI		0x400
#define PIC1_CMD		0x20
#define PIC1_DATA		0x21
#define PIC2_CMD		0xa0
#define PIC2_DATA		0xa1
#define PIC_ELCR		0x4d0
#define PIT_CH0			0x40
#define PIT_MODE		0x43
#define CMOS_INDEX		0x70
#define CMOS_DATA		0x71

/* Our flat data selector into every data segment register: at the entry (64-bit) and on the way up
 * from real mode (32-bit); the encoding is the same in both. */
.macro LOAD_FLAT_DATA
	movl	$PC_SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %fs
	movl	%eax, %gs
	movl	%eax, %ss
.endm

/* 8259 initialisation (ICW1 edge + cascade + ICW4, ICW2 vector base, ICW3 wiring, ICW4 8086 mode,
 * normal EOI), master then slave, as the kernel's init_8259A does (arch/x86/kernel/i8259.c).
 * ICW1 clears the IMR: callers mask or set it right after. */
.macro PIC_INIT base1, base2
	movb	$0x11, %al
	outb	%al, $PIC1_CMD
	movb	$\base1, %al
	outb	%al, $PIC1_DATA
	movb	$0x04, %al			/* slave on IR2 */
	outb	%al, $PIC1_DATA
	movb	$0x01, %al
	outb	%al, $PIC1_DATA
	movb	$0x11, %al
	outb	%al, $PIC2_CMD
	movb	$\base2, %al
	outb	%al, $PIC2_DATA
	movb	$0x02, %al			/* slave identity 2 */
	outb	%al, $PIC2_DATA
	movb	$0x01, %al
	outb	%al, $PIC2_DATA
.endm

/* Under QEMU's TCG every jump translates this code afresh (the kernel's swap rewrites its pages), and
 * a translated block costs about as much as a hundred straight-line instructions (docs/DESIGN.md, "What
 * a jump costs under TCG").  So the way down and up is written as few blocks as it can be: straight
 * lines, conditional moves and set-on-condition where a branch would only pick a value, subroutines
 * only where their blocks are reused within the jump.
 *
 * Each part below sits in a section of its own (.text.NAME) and ends in an unconditional jump, a
 * return or a far jump: trampoline.ld.S places the parts on the two code pages by what their blocks
 * cost at the kernel's swap back.
 *
 * 64-bit: %rbx = &pc_block for the whole run (callee-saved, never given to a call). */

	.section .text.entry, "ax"
	.code64
	.globl	pc_entry
pc_entry:
	pushfq
	popq	saved_rflags(%rip)
	cli
	movq	%rsp, saved_rsp(%rip)
	leaq	stack64_top(%rip), %rsp
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15

	leaq	pc_block(%rip), %rbx
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	movq	%rax, HDR_tsc_entry(%rbx)

	/* Save what the way down destroys: control registers, EFER, segment bases, descriptor tables. */
	movq	saved_rflags(%rip), %rax
	movq	%rax, HDR_entry_rflags(%rbx)
	movq	saved_rsp(%rip), %rax
	movq	(%rax), %rax
	movq	%rax, HDR_return_address(%rbx)
	movq	%cr0, %rax
	movq	%rax, saved_cr0(%rip)
	movq	%rax, HDR_entry_cr0(%rbx)
	movq	%cr3, %rax
	movq	%rax, saved_cr3(%rip)
	movq	%rax, HDR_entry_cr3(%rbx)
	movq	%cr4, %rax
	movq	%rax, saved_cr4(%rip)
	movq	%rax, HDR_entry_cr4(%rbx)
	movl	$MSR_EFER, %ecx
	rdmsr
	movl	%eax, saved_efer(%rip)
	movl	%edx, saved_efer+4(%rip)
	movl	%eax, HDR_entry_efer(%rbx)
	movl	%edx, HDR_entry_efer+4(%rbx)
	movl	$MSR_FS_BASE, %ecx
	rdmsr
	movl	%eax, saved_fs_base(%rip)
	movl	%edx, saved_fs_base+4(%rip)
	movl	$MSR_GS_BASE, %ecx
	rdmsr
	movl	%eax, saved_gs_base(%rip)
	movl	%edx, saved_gs_base+4(%rip)
	movl	$MSR_KERNEL_GS_BASE, %ecx
	rdmsr
	movl	%eax, saved_kgs_base(%rip)
	movl	%edx, saved_kgs_base+4(%rip)
	sgdt	saved_gdtr(%rip)
	sidt	saved_idtr(%rip)

	/* Climbing back runs on our page tables below 4 GiB (a 32-bit mov to %cr3 cannot reach the
	 * kernel's): PML4 normally, PML5 when the kernel runs 5-level paging. */
	movq	saved_cr4(%rip), %rdx
	andl	$CR4_LA57, %edx
	movl	$(PC_PAGETABLE_BASE + PC_PAGE_SIZE), %eax
	movl	$PC_PAGETABLE_BASE, %ecx
	testl	%edx, %edx
	cmovnzl	%ecx, %eax
	movl	%eax, climb_cr3(%rip)
	orl	$CR4_PAE, %edx
	movl	%edx, climb_cr4(%rip)

	movb	$0, HDR_irq_before+IRQ_flags(%rbx)	/* the hidden copy persists across jumps */
	movb	$0, HDR_irq_after+IRQ_flags(%rbx)
	movl	$0, HDR_irq_calls(%rbx)
	movl	$0, HDR_irq_eois(%rbx)
	incl	HDR_jumps(%rbx)
	movl	$0, HDR_done(%rbx)
	movl	$PC_BATCH_RUNNING, HDR_status(%rbx)

	/* Our GDT, and DS/ES/SS/FS/GS reloaded from it (the kernel's GDTR is 0/0 here).  CS keeps the
	 * kernel's flat 64-bit code, selector 10h as ours: the first far jump loads ours. */
	lgdt	gdt_desc(%rip)
	LOAD_FLAT_DATA

	/* For each call: copy it to `cur`, run it below, copy it back, copy its buffers to the mailbox.
	 * %r12d = index, %r13 = &calls[index], %r14d = min(count, PC_MAX_CALLS). */
	movl	HDR_count(%rbx), %r14d
	movl	$PC_MAX_CALLS, %eax
	cmpl	%eax, %r14d
	cmoval	%eax, %r14d
	xorl	%r12d, %r12d
	leaq	BLK_calls(%rbx), %r13
next_call:
	cmpl	%r14d, %r12d
	jae	calls_done
	movl	CALL_mode(%r13), %eax
	decl	%eax				/* PC_MODE_REAL16 - 1 = 0, PC_MODE_FLAT32 - 1 = 1 */
	cmpl	$1, %eax
	jbe	1f
	movl	$PC_CALL_SKIPPED, CALL_status(%r13)
	jmp	2f
	/* `cur` gets the call's first 64 bytes (mode, entry, stack, registers in), and gives back its
	 * last 64 (registers out, TSCs): one line of moves, no loop to translate. */
	.if	CALL_out_eax != 64 || PC_SIZEOF_CALL != 128
	.error	"struct pc_call: the registers out no longer start at byte 64 of 128"
	.endif
1:	.irp	off, 0, 8, 16, 24, 32, 40, 48, 56
	movq	\off(%r13), %rax
	movq	%rax, cur+\off(%rip)
	.endr
	andl	$PC_EFLAGS_MASK, cur+CALL_in_eflags(%rip)
	orl	$PC_EFLAGS_FIXED, cur+CALL_in_eflags(%rip)
	/* irq_more: the next call runs in real mode too, so the BIOS's interrupt environment stays up
	 * across both (set up and given back once per run of real16 calls, not once per call).  Reading
	 * calls[index + 1] when index + 1 == PC_MAX_CALLS reads the dword after the block (still in the
	 * image's last page), and setb has already made the answer 0. */
	leal	1(%r12d), %eax
	xorl	%ecx, %ecx
	cmpl	%r14d, %eax
	setb	%cl
	xorl	%edx, %edx
	cmpl	$PC_MODE_REAL16, PC_SIZEOF_CALL+CALL_mode(%r13)
	sete	%dl
	andl	%edx, %ecx
	movl	%ecx, irq_more(%rip)

	/* Run `cur` below long mode and come back to ascended, on the kernel's page tables.  The call
	 * loads every 32-bit register, and leaving 64-bit mode leaves R8-R15 and the upper halves
	 * undefined (SDM vol. 3, 9.8.5): what the 64-bit code keeps in registers goes on the stack. */
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, long_rsp(%rip)
	pushq	$PC_SEL_CODE32
	pushq	$down32
	lretq
ascended:
	.irp	off, 64, 72, 80, 88, 96, 104, 112, 120
	movq	cur+\off(%rip), %rax
	movq	%rax, \off(%r13)
	.endr
	movl	$PC_CALL_RETURNED, CALL_status(%r13)
	incl	HDR_done(%rbx)
2:	movl	%r12d, %edi
	call	copy_buffers
	incl	%r12d
	addq	$PC_SIZEOF_CALL, %r13
	jmp	next_call

	.section .text.exit, "ax"
calls_done:
	/* Results: calls[0..count) after the header, then the header itself (tsc_exit as late as we can). */
	movl	HDR_status(%rbx), %eax
	movl	$PC_BATCH_DONE, %ecx
	cmpl	$PC_BATCH_RUNNING, %eax
	cmovel	%ecx, %eax
	movl	%eax, HDR_status(%rbx)
	leaq	BLK_calls(%rbx), %rsi
	movl	$PC_SIZEOF_HEADER, %edx
	movl	%r14d, %ecx			/* the count as clamped: never past the block */
	shlq	$7, %rcx			/* sizeof(struct pc_call) == 128, asserted in asm-offsets.c */
	call	mbox_write
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	movq	%rax, HDR_tsc_exit(%rbx)
	movq	%rbx, %rsi
	xorl	%edx, %edx
	movl	$PC_SIZEOF_HEADER, %ecx
	call	mbox_write

	/* Back to the kernel's state; the segment caches keep our flat 0x10/0x18 (same as the kernel's). */
	movl	$MSR_FS_BASE, %ecx
	movl	saved_fs_base(%rip), %eax
	movl	saved_fs_base+4(%rip), %edx
	wrmsr
	movl	$MSR_GS_BASE, %ecx
	movl	saved_gs_base(%rip), %eax
	movl	saved_gs_base+4(%rip), %edx
	wrmsr
	movl	$MSR_KERNEL_GS_BASE, %ecx
	movl	saved_kgs_base(%rip), %eax
	movl	saved_kgs_base+4(%rip), %edx
	wrmsr
	lgdt	saved_gdtr(%rip)
	lidt	saved_idtr(%rip)
	movq	saved_cr3(%rip), %rax
	movq	%rax, %cr3
	movq	saved_cr4(%rip), %rax
	movq	%rax, %cr4
	movq	saved_cr0(%rip), %rax
	movq	%rax, %cr0

	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	movq	saved_rsp(%rip), %rsp
	pushq	saved_rflags(%rip)
	popfq
	/* The safe re-entry sequence (docs/DESIGN.md): return address out, %rsp on a slot in the image
	 * holding the next entry point, jump back. */
	popq	%rax
	leaq	next_entry(%rip), %rsp
	jmp	*%rax

	.section .text.copy, "ax"
/* copy_buffers(%edi = call index): every buffer owned by that call goes to its mailbox offset. */
copy_buffers:
	pushq	%r14
	pushq	%r15
	movl	%edi, %r15d
	leaq	BLK_buffers(%rbx), %r14
	movl	HDR_nbuffers(%rbx), %eax
	cmpl	$PC_MAX_BUFFERS, %eax
	jbe	1f
	movl	$PC_MAX_BUFFERS, %eax
1:	shlq	$4, %rax			/* sizeof(struct pc_buffer) == 16 */
	addq	%r14, %rax
	movq	%rax, buffers_end(%rip)
2:	cmpq	buffers_end(%rip), %r14
	jae	3f
	cmpl	BUF_call(%r14), %r15d
	jne	4f
	movl	BUF_phys(%r14), %esi
	movl	BUF_mbox_offset(%r14), %edx
	movl	BUF_size(%r14), %ecx
	call	mbox_write
4:	addq	$PC_SIZEOF_BUFFER, %r14
	jmp	2b
3:	popq	%r15
	popq	%r14
	ret

	.section .text.mbox, "ax"
/* mbox_write(%rsi = source, %rdx = mailbox offset, %rcx = length): page by page through
 * hdr.mailbox[], under the kernel's identity map (it covers all RAM, above 4 GiB too).
 * Clobbers %rax %rcx %rdx %rsi %rdi %r8 %r9. */
mbox_write:
	movq	%rcx, %r8
1:	testq	%r8, %r8
	jz	2f
	movq	%rdx, %rax
	shrq	$12, %rax
	cmpl	HDR_mailbox_pages(%rbx), %eax
	jae	3f
	cmpl	$PC_MAILBOX_MAX_PAGES, %eax
	jae	3f
	movq	HDR_mailbox(%rbx,%rax,8), %rdi
	movq	%rdx, %r9
	andl	$(PC_PAGE_SIZE - 1), %r9d
	addq	%r9, %rdi
	movl	$PC_PAGE_SIZE, %ecx
	subq	%r9, %rcx
	cmpq	%r8, %rcx
	cmovaq	%r8, %rcx
	addq	%rcx, %rdx
	subq	%rcx, %r8
	/* Quadwords, then the tail: under TCG each iteration of a rep costs about the same whatever its
	 * width, and a batch's buffers can be 100+ KiB (bench/bench_jump.py, explore). */
	movq	%rcx, %r9
	shrq	$3, %rcx
	rep movsq
	movl	%r9d, %ecx
	andl	$7, %ecx
	rep movsb
	jmp	1b
2:	ret
3:	movl	$PC_BATCH_MAILBOX_FULL, HDR_status(%rbx)
	ret

	.section .text.down, "ax"
	.code32
down32:
	/* Compatibility mode, CS = flat 32-bit code.  Paging off leaves long mode (LMA=0). */
	movl	%cr0, %eax
	andl	$~CR0_PG, %eax
	movl	%eax, %cr0
	movl	$MSR_EFER, %ecx
	rdmsr
	andl	$~EFER_LME, %eax
	wrmsr
	xorl	%eax, %eax
	movl	%eax, %cr4
	cmpl	$PC_MODE_FLAT32, cur+CALL_mode
	je	flat32_call
	incl	pc_block+HDR_irq_calls
	cmpl	$0, irq_active			/* still up from the previous real16 call */
	jne	to_pm16

	/* irq_enter (paging off: the local APIC's MMIO is reachable): save the kernel's interrupt
	 * controllers, then give the firmware the PC's.  The first snapshot of a jump goes straight into
	 * hdr.irq_before; a later one (real16 calls after a flat32 call) into irq_saved.  irq_kernel
	 * points at whichever holds the controllers to give back. */
	movl	$(pc_block+HDR_irq_before), %edi
	movl	$irq_saved, %eax
	testb	$PC_IRQ_VALID, pc_block+HDR_irq_before+IRQ_flags
	cmovnzl	%eax, %edi
	movl	%edi, irq_kernel
	call	irq_snapshot
	cmpl	$0, apic_mode
	je	2f
	/* Hold every fixed vector: pending kernel interrupts stay in IRR.  ExtINT ignores the TPR. */
	movl	$APIC_TPR, %ecx
	movl	$PC_LAPIC_TPR_HOLD, %eax
	call	apic_write			/* clobbers %edx only */
	testl	$APIC_SPIV_ENABLED, IRQ_spiv(%edi)
	jnz	2f
	/* Software-disabled (every LVT masked): the 8259 could not reach the CPU.  Virtual wire for the
	 * call, as a BIOS sets it up: spurious vector 0Fh, LINT0 ExtINT, LINT1 NMI. */
	orb	$PC_IRQ_LAPIC_FORCED, IRQ_flags(%edi)
	movl	IRQ_spiv(%edi), %eax
	andl	$~0xff, %eax
	orl	$(APIC_SPIV_ENABLED | 0x0f), %eax
	movl	$APIC_SPIV, %ecx
	call	apic_write
	movl	$APIC_DM_EXTINT, %eax
	movl	$APIC_LVT0, %ecx
	call	apic_write
	movl	$APIC_DM_NMI, %eax
	movl	$APIC_LVT1, %ecx
	call	apic_write
2:	movb	$0xff, %al
	outb	%al, $PIC1_DATA
	outb	%al, $PIC2_DATA
	PIC_INIT PC_BIOS_PIC1_BASE, PC_BIOS_PIC2_BASE
	movb	$0xff, %al
	outb	%al, $PIC1_DATA
	outb	%al, $PIC2_DATA
	movb	$PC_PIT_BIOS_MODE, %al		/* 18.2 Hz: the BDA tick count and BIOS timeouts advance */
	outb	%al, $PIT_MODE
	xorl	%eax, %eax
	outb	%al, $PIT_CH0
	outb	%al, $PIT_CH0
	movb	$PC_BIOS_IMR1, %al
	outb	%al, $PIC1_DATA
	movb	$PC_BIOS_IMR2, %al
	outb	%al, $PIC2_DATA
	movl	$1, irq_active
to_pm16:
	ljmpl	$PC_SEL_CODE16, $RM(pm16)

	.section .text.flat, "ax"
/* Flat 32-bit, paging off: near call to eip on the call's stack; no IDT (a fault resets). */
flat32_call:
	lidt	null_idt
	rdtsc
	movl	%eax, cur+CALL_tsc_entry
	movl	%edx, cur+CALL_tsc_entry+4
	movl	cur+CALL_esp, %esp
	pushl	cur+CALL_in_eflags
	movl	cur+CALL_in_eax, %eax
	movl	cur+CALL_in_ebx, %ebx
	movl	cur+CALL_in_ecx, %ecx
	movl	cur+CALL_in_edx, %edx
	movl	cur+CALL_in_esi, %esi
	movl	cur+CALL_in_edi, %edi
	movl	cur+CALL_in_ebp, %ebp
	popfl
	call	*cur+CALL_eip
	/* The routine may have left any data selector in %ds: save it on its own stack first. */
	pushl	%ds
	pushl	%eax
	movl	$PC_SEL_DATA, %eax
	movl	%eax, %ds
	popl	%eax
	movl	%eax, cur+CALL_out_eax
	popl	%eax
	movw	%ax, cur+CALL_out_ds
	pushfl
	popl	cur+CALL_out_eflags
	movl	%ebx, cur+CALL_out_ebx
	movl	%ecx, cur+CALL_out_ecx
	movl	%edx, cur+CALL_out_edx
	movl	%esi, cur+CALL_out_esi
	movl	%edi, cur+CALL_out_edi
	movl	%ebp, cur+CALL_out_ebp
	movl	%esp, cur+CALL_out_esp
	movw	%es, cur+CALL_out_es
	movw	%fs, cur+CALL_out_fs
	movw	%gs, cur+CALL_out_gs
	movw	%ss, cur+CALL_out_ss
	rdtsc
	movl	%eax, cur+CALL_tsc_exit
	movl	%edx, cur+CALL_tsc_exit+4
	cli
	cld
	lgdtl	gdt_desc
	jmp	up32

	.section .text.real, "ax"
	.code16
pm16:
	/* 16-bit protected mode: data caches with 64 KiB limits, as real mode expects. */
	movw	$PC_SEL_DATA16, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	movl	%cr0, %eax
	andl	$~(CR0_PE | CR0_WP | CR0_AM), %eax
	movl	%eax, %cr0
	ljmpw	$RM_CS, $RM(rm16)

rm16:
	/* Real mode.  Everything below goes through %cs: the call loads every other segment.  Its stack
	 * first, so that nothing (an NMI) can push through the 16-bit data segment on the way down. */
	lssw	%cs:RM(cur+CALL_sp), %sp
	lidtl	%cs:RM(ivt_desc)
	rdtsc
	movl	%eax, %cs:RM(cur+CALL_tsc_entry)
	movl	%edx, %cs:RM(cur+CALL_tsc_entry+4)
	pushl	%cs:RM(cur+CALL_in_eflags)
	movl	%cs:RM(cur+CALL_in_eax), %eax
	movl	%cs:RM(cur+CALL_in_ebx), %ebx
	movl	%cs:RM(cur+CALL_in_ecx), %ecx
	movl	%cs:RM(cur+CALL_in_edx), %edx
	movl	%cs:RM(cur+CALL_in_esi), %esi
	movl	%cs:RM(cur+CALL_in_edi), %edi
	movl	%cs:RM(cur+CALL_in_ebp), %ebp
	movw	%cs:RM(cur+CALL_in_ds), %ds
	movw	%cs:RM(cur+CALL_in_es), %es
	movw	%cs:RM(cur+CALL_in_fs), %fs
	movw	%cs:RM(cur+CALL_in_gs), %gs
	popfl
	lcallw	*%cs:RM(cur+CALL_ip)
	/* Glove box: store everything the callee left, before touching anything. */
	movl	%eax, %cs:RM(cur+CALL_out_eax)
	pushfl
	popl	%cs:RM(cur+CALL_out_eflags)
	movl	%ebx, %cs:RM(cur+CALL_out_ebx)
	movl	%ecx, %cs:RM(cur+CALL_out_ecx)
	movl	%edx, %cs:RM(cur+CALL_out_edx)
	movl	%esi, %cs:RM(cur+CALL_out_esi)
	movl	%edi, %cs:RM(cur+CALL_out_edi)
	movl	%ebp, %cs:RM(cur+CALL_out_ebp)
	movl	%esp, %cs:RM(cur+CALL_out_esp)
	movw	%ds, %cs:RM(cur+CALL_out_ds)
	movw	%es, %cs:RM(cur+CALL_out_es)
	movw	%fs, %cs:RM(cur+CALL_out_fs)
	movw	%gs, %cs:RM(cur+CALL_out_gs)
	movw	%ss, %cs:RM(cur+CALL_out_ss)
	rdtsc
	movl	%eax, %cs:RM(cur+CALL_tsc_exit)
	movl	%edx, %cs:RM(cur+CALL_tsc_exit+4)
	cli					/* some BIOS services return with IF=1 */
	cld
	/* Up: our GDT, no IDT, PE on, then 32-bit code. */
	lgdtl	%cs:RM(gdt_desc)
	lidtl	%cs:RM(null_idt)
	movl	%cs:RM(saved_cr0), %eax
	andl	$~CR0_PG, %eax
	orl	$CR0_PE, %eax
	movl	%eax, %cr0
	ljmpl	$PC_SEL_CODE32, $up32

	.section .text.up, "ax"
	.code32
up32:
	/* Protected mode, paging off: PAE, our 0-4 GiB tables, LME, PG on -> compatibility mode. */
	LOAD_FLAT_DATA
	movl	long_rsp, %esp			/* the call left %esp on its own stack */
	movl	irq_more, %eax			/* both 0 or 1 */
	xorl	$1, %eax
	testl	irq_active, %eax
	jz	climb

	/* irq_leave: give the kernel back the controllers it had (irq_kernel); record them in
	 * hdr.irq_after. */
	movl	$0, irq_active
	movb	$0xff, %al
	outb	%al, $PIC1_DATA
	outb	%al, $PIC2_DATA
	/* An IRQ still in service (a handler the call left without its EOI): acknowledge it, slave
	 * first.  Both in-service registers are read first, so that the usual case is one test. */
	movb	$0x0b, %al
	outb	%al, $PIC2_CMD
	outb	%al, $PIC1_CMD
	inb	$PIC2_CMD, %al
	movb	%al, %ah
	inb	$PIC1_CMD, %al
	testw	%ax, %ax
	jz	4f
	movl	$8, %ecx
1:	movb	$0x0b, %al
	outb	%al, $PIC2_CMD
	inb	$PIC2_CMD, %al
	testb	%al, %al
	jz	2f
	movb	$0x20, %al			/* non-specific EOI */
	outb	%al, $PIC2_CMD
	incl	pc_block+HDR_irq_eois
	loop	1b
2:	movl	$8, %ecx
3:	movb	$0x0b, %al
	outb	%al, $PIC1_CMD
	inb	$PIC1_CMD, %al
	testb	%al, %al
	jz	4f
	movb	$0x20, %al
	outb	%al, $PIC1_CMD
	incl	pc_block+HDR_irq_eois
	loop	3b
4:	/* PIT channel 0 back to its mode (the read-back status holds RW, mode and BCD in its low 6 bits;
	 * with no access mode, no 8254 read-back: lobyte/hibyte, mode 0); the count is 65536, as the
	 * kernel's clockevent shutdown leaves it, and the kernel's timekeeping_resume reprograms a PIT
	 * it uses. */
	movl	irq_kernel, %esi
	movzbl	IRQ_pit_status(%esi), %eax
	andl	$0x3f, %eax
	movl	$0x30, %ecx
	testl	$0x30, %eax
	cmovzl	%ecx, %eax
	outb	%al, $PIT_MODE
	xorl	%eax, %eax
	outb	%al, $PIT_CH0
	outb	%al, $PIT_CH0
	/* RTC register B as it was (int 15h AH=86h turns the periodic interrupt on and off itself). */
	movb	$0x0b, %al
	outb	%al, $CMOS_INDEX
	movb	IRQ_cmos_b(%esi), %al
	outb	%al, $CMOS_DATA
	PIC_INIT PC_KERNEL_PIC1_BASE, PC_KERNEL_PIC2_BASE
	movw	$PIC_ELCR, %dx
	movb	IRQ_elcr(%esi), %al
	outb	%al, %dx
	incw	%dx
	movb	IRQ_elcr+1(%esi), %al
	outb	%al, %dx
	movb	IRQ_pic_imr(%esi), %al
	outb	%al, $PIC1_DATA
	movb	IRQ_pic_imr+1(%esi), %al
	outb	%al, $PIC2_DATA
	cmpl	$0, apic_mode
	je	7f
	testb	$PC_IRQ_LAPIC_FORCED, IRQ_flags(%esi)
	jz	5f
	movl	IRQ_lvt0(%esi), %eax
	movl	$APIC_LVT0, %ecx
	call	apic_write
	movl	IRQ_lvt1(%esi), %eax
	movl	$APIC_LVT1, %ecx
	call	apic_write
	movl	IRQ_spiv(%esi), %eax
	movl	$APIC_SPIV, %ecx
	call	apic_write
5:	movl	IRQ_tpr(%esi), %eax
	movl	$APIC_TPR, %ecx
	call	apic_write
7:	movl	$(pc_block+HDR_irq_after), %edi
	call	irq_snapshot
	/* A fixed vector taken while the call ran went through the IVT, whose handler has no idea of the
	 * local APIC: EOI the highest in-service vector while it is one that was not in service before
	 * (the TPR is the kernel's again, but IF=0 here: nothing is delivered until the kernel's sti).
	 * The snapshot just taken says whether there is one; without a local APIC both are zero. */
	movl	irq_kernel, %esi
	xorl	%edx, %edx
	movl	$7, %ecx
6:	movl	IRQ_isr(%esi,%ecx,4), %eax
	notl	%eax
	andl	pc_block+HDR_irq_after+IRQ_isr(,%ecx,4), %eax
	orl	%eax, %edx
	decl	%ecx
	jns	6b
	testl	%edx, %edx
	jz	climb
	call	irq_eoi_new
	movl	$(pc_block+HDR_irq_after), %edi
	call	irq_snapshot

climb:	movl	climb_cr4, %eax
	movl	%eax, %cr4
	movl	climb_cr3, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	movl	saved_efer, %eax
	movl	saved_efer+4, %edx
	andl	$~EFER_LMA, %eax		/* LMA is the CPU's to set */
	wrmsr
	movl	saved_cr0, %eax
	movl	%eax, %cr0
	ljmpl	$PC_SEL_CODE64, $up64

	.code64
up64:
	/* Long mode again: the kernel's identity map (it also covers a mailbox above 4 GiB). */
	movq	saved_cr3(%rip), %rax
	movq	%rax, %cr3
	movq	long_rsp(%rip), %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	jmp	ascended

/* ---- The interrupt environment (32-bit protected mode, paging off, IF=0) -------------------- */
	.code32

	.section .text.apic, "ax"
/* apic_read(%ecx = x2APIC MSR number) -> %eax; apic_write(%ecx, %eax).  Clobber %edx only. */
apic_read:
	cmpl	$2, apic_mode
	je	1f
	leal	-0x800(%ecx), %edx
	shll	$4, %edx
	addl	apic_mmio, %edx
	movl	(%edx), %eax
	ret
1:	rdmsr
	ret

apic_write:
	cmpl	$2, apic_mode
	je	1f
	leal	-0x800(%ecx), %edx
	shll	$4, %edx
	addl	apic_mmio, %edx
	movl	%eax, (%edx)
	ret
1:	xorl	%edx, %edx
	wrmsr
	ret


	.section .text.snapshot, "ax"
/* irq_snapshot(%edi = struct pc_irq_state *): the controllers as they are now.  Sets apic_mode and
 * apic_mmio.  The 8259s' read select is left on IRR, their default (the kernel selects before it reads).
 * Clobbers %eax %ecx %edx %esi. */
irq_snapshot:
	pushl	%ebx
	xorl	%eax, %eax
	movl	%eax, apic_mode
	movb	%al, IRQ_flags(%edi)
	movl	$1, %eax
	cpuid
	testl	$(1 << 9), %edx			/* CPUID.01h:EDX.APIC */
	jz	5f
	movl	$MSR_APIC_BASE, %ecx
	rdmsr
	movl	%eax, IRQ_apic_base(%edi)
	movl	%edx, IRQ_apic_base+4(%edi)
	/* apic_mode and the flags, looked up by EN, EXTD and whether the base is above 4 GiB (an xAPIC
	 * there is out of reach here; an x2APIC's registers are MSRs wherever its base is). */
	movl	%eax, %ecx
	shrl	$10, %ecx
	andl	$3, %ecx			/* EN << 1 | EXTD */
	testl	%edx, %edx
	setnz	%dl
	movzbl	%dl, %edx
	leal	(%ecx,%edx,4), %ecx
	movzbl	apic_mode_of(%ecx), %ebx
	movl	%ebx, apic_mode
	movb	apic_flags_of(%ecx), %cl
	orb	%cl, IRQ_flags(%edi)
	andl	$0xfffff000, %eax
	movl	%eax, apic_mmio
	movl	$apic_regs, %esi
	cmpl	$1, %ebx
	jb	6f
	je	4f
	/* x2APIC: the registers are MSRs */
1:	movzwl	(%esi), %ecx
	rdmsr
	movzwl	2(%esi), %edx
	movl	%eax, (%edi,%edx)
	addl	$4, %esi
	cmpl	$apic_regs_end, %esi
	jb	1b
	jmp	3f
	/* xAPIC: the same registers in the MMIO page, (msr - 0x800) << 4 */
4:	movl	apic_mmio, %ebx
2:	movzwl	(%esi), %ecx
	shll	$4, %ecx
	movl	-0x8000(%ebx,%ecx), %eax
	movzwl	2(%esi), %edx
	movl	%eax, (%edi,%edx)
	addl	$4, %esi
	cmpl	$apic_regs_end, %esi
	jb	2b
	jmp	3f
	/* No local APIC, or one out of reach: its registers read as zero (apic_base stays as read). */
5:	movl	$0, IRQ_apic_base(%edi)
	movl	$0, IRQ_apic_base+4(%edi)
6:	pushl	%edi
	addl	$IRQ_tpr, %edi
	xorl	%eax, %eax
	movl	$((IRQ_irr + 32 - IRQ_tpr) / 4), %ecx
	rep stosl
	popl	%edi
3:	inb	$PIC1_DATA, %al
	movb	%al, IRQ_pic_imr(%edi)
	inb	$PIC2_DATA, %al
	movb	%al, IRQ_pic_imr+1(%edi)
	movb	$0x0b, %al			/* OCW3: read ISR */
	outb	%al, $PIC1_CMD
	outb	%al, $PIC2_CMD
	inb	$PIC1_CMD, %al
	movb	%al, IRQ_pic_isr(%edi)
	inb	$PIC2_CMD, %al
	movb	%al, IRQ_pic_isr+1(%edi)
	movb	$0x0a, %al			/* OCW3: read IRR */
	outb	%al, $PIC1_CMD
	outb	%al, $PIC2_CMD
	inb	$PIC1_CMD, %al
	movb	%al, IRQ_pic_irr(%edi)
	inb	$PIC2_CMD, %al
	movb	%al, IRQ_pic_irr+1(%edi)
	movw	$PIC_ELCR, %dx
	inb	%dx, %al
	movb	%al, IRQ_elcr(%edi)
	incw	%dx
	inb	%dx, %al
	movb	%al, IRQ_elcr+1(%edi)
	movb	$0xe2, %al			/* 8254 read-back: status of channel 0 only */
	outb	%al, $PIT_MODE
	inb	$PIT_CH0, %al
	movb	%al, IRQ_pit_status(%edi)
	movb	$0x0b, %al
	outb	%al, $CMOS_INDEX
	inb	$CMOS_DATA, %al
	movb	%al, IRQ_cmos_b(%edi)
	orb	$PC_IRQ_VALID, IRQ_flags(%edi)
	popl	%ebx
	ret

	.section .text.cold, "ax"
/* By IA32_APIC_BASE's EN << 1 | EXTD, plus 4 when the base is above 4 GiB. */
apic_mode_of:
	.byte	0, 0, 1, 2, 0, 0, 0, 2
apic_flags_of:
	.byte	0, 0, PC_IRQ_LAPIC, PC_IRQ_LAPIC | PC_IRQ_X2APIC, 0, 0, PC_IRQ_LAPIC, PC_IRQ_LAPIC | PC_IRQ_X2APIC

/* The local APIC registers a snapshot keeps: x2APIC MSR number, pc_irq_state offset. */
apic_regs:
	.word	APIC_TPR, IRQ_tpr
	.word	APIC_SPIV, IRQ_spiv
	.word	APIC_LVTT, IRQ_lvt_timer
	.word	APIC_LVT0, IRQ_lvt0
	.word	APIC_LVT1, IRQ_lvt1
	.word	APIC_LVTERR, IRQ_lvt_error
	.irp	n, 0, 1, 2, 3, 4, 5, 6, 7
	.word	APIC_ISR + \n, IRQ_isr + 4 * \n
	.endr
	.irp	n, 0, 1, 2, 3, 4, 5, 6, 7
	.word	APIC_IRR + \n, IRQ_irr + 4 * \n
	.endr
apic_regs_end:

/* irq_eoi_new: EOI the local APIC's highest in-service vector while it is one that was not in
 * service in irq_kernel (at most 64 times). */
irq_eoi_new:
	pushl	%ebx
	pushl	%esi
	movl	$64, %esi
1:	movl	$7, %ebx
2:	leal	APIC_ISR(%ebx), %ecx
	call	apic_read
	testl	%eax, %eax
	jnz	3f
	decl	%ebx
	jns	2b
	jmp	4f
3:	bsrl	%eax, %ecx
	movl	irq_kernel, %edx
	btl	%ecx, IRQ_isr(%edx,%ebx,4)
	jc	4f
	movl	$APIC_EOI, %ecx
	xorl	%eax, %eax
	call	apic_write
	incl	pc_block+HDR_irq_eois
	decl	%esi
	jnz	1b
4:	popl	%esi
	popl	%ebx
	ret

/* ------------------------------------------------------------------------------------------- */
	.section .data, "aw"
	.balign	8
next_entry:	.quad	pc_entry	/* the kernel reads the next entry point from here */

gdt:
	.quad	0
	.quad	0x00cf9a000000ffff		/* 0x08 32-bit code, flat */
	.quad	0x00af9a000000ffff		/* 0x10 64-bit code */
	.quad	0x00cf92000000ffff		/* 0x18 data, flat */
	.quad	0x00009a000000ffff | (((PC_TRAMPOLINE_BASE >> 16) & 0xff) << 32) | ((PC_TRAMPOLINE_BASE & 0xffff) << 16)
						/* 0x20 16-bit code, base = real-mode CS base */
	.quad	0x000092000000ffff		/* 0x28 16-bit data, base 0, 64 KiB */
gdt_end:
	.balign	8
	.word	0, 0, 0
gdt_desc:
	.word	gdt_end - gdt - 1
	.quad	gdt
	.balign	8
	.word	0, 0, 0
ivt_desc:
	.word	0x3ff				/* real-mode IVT at 0 */
	.quad	0
	.balign	8
	.word	0, 0, 0
null_idt:
	.word	0
	.quad	0
	.balign	8
	.word	0, 0, 0
saved_gdtr:	.word 0
		.quad 0
	.balign	8
	.word	0, 0, 0
saved_idtr:	.word 0
		.quad 0

	.balign	8
saved_rsp:	.quad	0
saved_rflags:	.quad	0
saved_cr0:	.quad	0
saved_cr3:	.quad	0
saved_cr4:	.quad	0
saved_efer:	.quad	0
saved_fs_base:	.quad	0
saved_gs_base:	.quad	0
saved_kgs_base:	.quad	0
long_rsp:	.quad	0
buffers_end:	.quad	0
climb_cr3:	.long	0
climb_cr4:	.long	0
apic_mode:	.long	0			/* 0 none/unreachable, 1 xAPIC (MMIO), 2 x2APIC (MSRs) */
apic_mmio:	.long	0
irq_active:	.long	0			/* the BIOS's interrupt environment is up */
irq_more:	.long	0			/* ... and stays up after the current call */
	.balign	8
irq_saved:	.skip	PC_SIZEOF_IRQ_STATE	/* the kernel's controllers, before a later run of real16 calls */
irq_kernel:	.long	0			/* &hdr.irq_before or &irq_saved: the controllers to give back */

	.balign	64
cur:		.skip	PC_SIZEOF_CALL		/* the call being run: fixed address for 16/32-bit code */

	.balign	16
stack64:	.skip	2048
stack64_top:

	.section .block, "aw"
	.globl	pc_block
pc_block:	.skip	PC_SIZEOF_BLOCK		/* at PC_BLOCK_BASE; filled by physcall/image.py */
	.globl	pc_block_end
pc_block_end:
