/* trampoline.ld.S - links the kexec-jump trampoline at its physical address (preprocessed with
 * `gcc -E -P` so that the addresses come from physcall.h).  One PT_LOAD: code, GDT, stacks, block. */
#include "physcall.h"

OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(pc_entry)

PHDRS { image PT_LOAD FLAGS(7); }

SECTIONS
{
	. = PC_TRAMPOLINE_BASE;
	.text : { *(.text.entry) *(.text) *(.text.*) } :image
	/* Data on pages of its own: a write next to code is self-modifying code to the CPU (a
	 * pipeline flush on hardware, a retranslation of the whole page under QEMU's TCG). */
	. = ALIGN(PC_PAGE_SIZE);
	.data : { *(.rodata*) *(.data) *(.data.*) *(.bss) *(COMMON) } :image
	/* The block at the address the ABI fixes: physcall/layout.py places a small batch in the pages
	 * after its used call slots without building the trampoline first. */
	. = PC_BLOCK_BASE;
	.block : { *(.block) } :image
	pc_image_end = .;
	/DISCARD/ : { *(.note*) *(.comment) *(.eh_frame*) }
}
ASSERT(pc_block == PC_BLOCK_BASE, "physcall: the trampoline's code and data outgrew PC_BLOCK_BASE")
ASSERT(pc_image_end <= PC_TRAMPOLINE_LIMIT, "physcall: the trampoline outgrew its 64 KiB (real-mode CS reach)")
