/* trampoline.ld.S - links the kexec-jump trampoline at its physical address (preprocessed with
 * `gcc -E -P` so that the addresses come from physcall.h).  One PT_LOAD: code, data (GDT, stacks), block. */
#include "physcall.h"

OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(pc_entry)

PHDRS { image PT_LOAD FLAGS(7); }

SECTIONS
{
	. = PC_TRAMPOLINE_BASE;
	/* The code on two pages, each part placed by what it costs under QEMU's TCG: the kernel's swap back
	 * of a code page costs, for each block translated in it during the jump, about 5.5 cycles per byte
	 * of the block's offset in its page (docs/DESIGN.md, "What a jump costs under TCG").  So the parts
	 * are spread over both pages and, on each, ordered by translated blocks per byte, densest first:
	 * short blocks between mode switches and branches low, long straight runs (the entry's state
	 * saving, the flat32 call) and what rarely runs high.  Placement changes nothing else: each part
	 * ends in an unconditional jump, a return or a far jump.  On hardware none of it matters. */
	.text.lo : {
		*(.text.mbox) *(.text.copy) *(.text.up) *(.text.entry)
	} :image
	pc_text_lo_end = .;
	. = PC_TRAMPOLINE_BASE + PC_PAGE_SIZE;
	.text.hi : {
		*(.text.exit) *(.text.down) *(.text.real) *(.text.apic) *(.text.snapshot) *(.text.flat)
		*(.text.cold) *(.text) *(.text.*)
	} :image
	pc_text_hi_end = .;
	/* Data on a page of its own: a write next to code is self-modifying code to the CPU (a pipeline
	 * flush on hardware; under TCG, a store into a page holding translated blocks takes the slow
	 * path that checks them). */
	. = PC_TRAMPOLINE_DATA;
	.data : { *(.rodata*) *(.data) *(.data.*) *(.bss) *(COMMON) } :image
	/* The block at the address the ABI fixes: physcall/layout.py places a small batch in the pages
	 * after its used call slots without building the trampoline first. */
	. = PC_BLOCK_BASE;
	.block : { *(.block) } :image
	pc_image_end = .;
	/DISCARD/ : { *(.note*) *(.comment) *(.eh_frame*) }
}
ASSERT(pc_text_lo_end <= PC_TRAMPOLINE_BASE + PC_PAGE_SIZE, "physcall: the trampoline's first code page overflows")
ASSERT(pc_text_hi_end <= PC_TRAMPOLINE_DATA, "physcall: the trampoline's second code page overflows")
ASSERT(pc_block == PC_BLOCK_BASE, "physcall: the trampoline's data outgrew its page (PC_BLOCK_BASE)")
ASSERT(pc_image_end <= PC_TRAMPOLINE_LIMIT, "physcall: the trampoline outgrew its 64 KiB (real-mode CS reach)")
