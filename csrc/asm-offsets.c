/*
 * asm-offsets.c - struct offsets of physcall.h for the trampoline, the way the kernel's
 * arch/x86/kernel/asm-offsets.c does it: compiled with `gcc -S`, every ".equ" line of the output
 * is kept (physcall/image.py) and included by trampoline.S, so no layout is written twice.
 */
#include <stddef.h>
#include "physcall.h"

#define DEFINE(sym, val) asm volatile("\n.equ " #sym ", %c0" : : "i" (val))
#define OFFSET(sym, str, mem) DEFINE(sym, offsetof(struct str, mem))

_Static_assert(sizeof(struct pc_call) == 128, "pc_call is 128 bytes: the trampoline shifts by 7");
_Static_assert(sizeof(struct pc_buffer) == 16, "pc_buffer is 16 bytes: the trampoline shifts by 4");
_Static_assert(sizeof(struct pc_irq_state) == 112, "pc_irq_state is 112 bytes");
_Static_assert(PC_BLOCK_BASE + sizeof(struct pc_block) <= PC_TRAMPOLINE_LIMIT,
               "the block at PC_BLOCK_BASE must end inside the trampoline's 64 KiB (real-mode CS reach)");

void asm_offsets(void)
{
    DEFINE(PC_SIZEOF_CALL, sizeof(struct pc_call));
    DEFINE(PC_SIZEOF_BUFFER, sizeof(struct pc_buffer));
    DEFINE(PC_SIZEOF_HEADER, sizeof(struct pc_header));
    DEFINE(PC_SIZEOF_BLOCK, sizeof(struct pc_block));
    DEFINE(PC_SIZEOF_IRQ_STATE, sizeof(struct pc_irq_state));

    OFFSET(HDR_count, pc_header, count);
    OFFSET(HDR_nbuffers, pc_header, nbuffers);
    OFFSET(HDR_status, pc_header, status);
    OFFSET(HDR_jumps, pc_header, jumps);
    OFFSET(HDR_done, pc_header, done);
    OFFSET(HDR_tsc_entry, pc_header, tsc_entry);
    OFFSET(HDR_tsc_exit, pc_header, tsc_exit);
    OFFSET(HDR_entry_cr0, pc_header, entry_cr0);
    OFFSET(HDR_entry_cr3, pc_header, entry_cr3);
    OFFSET(HDR_entry_cr4, pc_header, entry_cr4);
    OFFSET(HDR_entry_efer, pc_header, entry_efer);
    OFFSET(HDR_entry_rflags, pc_header, entry_rflags);
    OFFSET(HDR_return_address, pc_header, return_address);
    OFFSET(HDR_irq_before, pc_header, irq_before);
    OFFSET(HDR_irq_after, pc_header, irq_after);
    OFFSET(HDR_irq_calls, pc_header, irq_calls);
    OFFSET(HDR_irq_eois, pc_header, irq_eois);
    OFFSET(HDR_mailbox_pages, pc_header, mailbox_pages);
    OFFSET(HDR_mailbox, pc_header, mailbox);

    OFFSET(BLK_calls, pc_block, calls);
    OFFSET(BLK_buffers, pc_block, buffers);

    OFFSET(CALL_mode, pc_call, mode);
    OFFSET(CALL_status, pc_call, status);
    OFFSET(CALL_ip, pc_call, ip);
    OFFSET(CALL_sp, pc_call, sp);
    OFFSET(CALL_eip, pc_call, eip);
    OFFSET(CALL_esp, pc_call, esp);
    OFFSET(CALL_tsc_entry, pc_call, tsc_entry);
    OFFSET(CALL_tsc_exit, pc_call, tsc_exit);
    DEFINE(CALL_in_eax, offsetof(struct pc_call, in.eax));
    DEFINE(CALL_in_ebx, offsetof(struct pc_call, in.ebx));
    DEFINE(CALL_in_ecx, offsetof(struct pc_call, in.ecx));
    DEFINE(CALL_in_edx, offsetof(struct pc_call, in.edx));
    DEFINE(CALL_in_esi, offsetof(struct pc_call, in.esi));
    DEFINE(CALL_in_edi, offsetof(struct pc_call, in.edi));
    DEFINE(CALL_in_ebp, offsetof(struct pc_call, in.ebp));
    DEFINE(CALL_in_eflags, offsetof(struct pc_call, in.eflags));
    DEFINE(CALL_in_ds, offsetof(struct pc_call, in.ds));
    DEFINE(CALL_in_es, offsetof(struct pc_call, in.es));
    DEFINE(CALL_in_fs, offsetof(struct pc_call, in.fs));
    DEFINE(CALL_in_gs, offsetof(struct pc_call, in.gs));
    DEFINE(CALL_out_eax, offsetof(struct pc_call, out.eax));
    DEFINE(CALL_out_ebx, offsetof(struct pc_call, out.ebx));
    DEFINE(CALL_out_ecx, offsetof(struct pc_call, out.ecx));
    DEFINE(CALL_out_edx, offsetof(struct pc_call, out.edx));
    DEFINE(CALL_out_esi, offsetof(struct pc_call, out.esi));
    DEFINE(CALL_out_edi, offsetof(struct pc_call, out.edi));
    DEFINE(CALL_out_ebp, offsetof(struct pc_call, out.ebp));
    DEFINE(CALL_out_esp, offsetof(struct pc_call, out.esp));
    DEFINE(CALL_out_eflags, offsetof(struct pc_call, out.eflags));
    DEFINE(CALL_out_ds, offsetof(struct pc_call, out.ds));
    DEFINE(CALL_out_es, offsetof(struct pc_call, out.es));
    DEFINE(CALL_out_fs, offsetof(struct pc_call, out.fs));
    DEFINE(CALL_out_gs, offsetof(struct pc_call, out.gs));
    DEFINE(CALL_out_ss, offsetof(struct pc_call, out.ss));

    OFFSET(IRQ_apic_base, pc_irq_state, apic_base);
    OFFSET(IRQ_tpr, pc_irq_state, tpr);
    OFFSET(IRQ_spiv, pc_irq_state, spiv);
    OFFSET(IRQ_lvt_timer, pc_irq_state, lvt_timer);
    OFFSET(IRQ_lvt0, pc_irq_state, lvt0);
    OFFSET(IRQ_lvt1, pc_irq_state, lvt1);
    OFFSET(IRQ_lvt_error, pc_irq_state, lvt_error);
    OFFSET(IRQ_isr, pc_irq_state, isr);
    OFFSET(IRQ_irr, pc_irq_state, irr);
    OFFSET(IRQ_pic_imr, pc_irq_state, pic_imr);
    OFFSET(IRQ_pic_isr, pc_irq_state, pic_isr);
    OFFSET(IRQ_pic_irr, pc_irq_state, pic_irr);
    OFFSET(IRQ_elcr, pc_irq_state, elcr);
    OFFSET(IRQ_pit_status, pc_irq_state, pit_status);
    OFFSET(IRQ_cmos_b, pc_irq_state, cmos_b);
    OFFSET(IRQ_flags, pc_irq_state, flags);

    OFFSET(BUF_phys, pc_buffer, phys);
    OFFSET(BUF_size, pc_buffer, size);
    OFFSET(BUF_call, pc_buffer, call);
    OFFSET(BUF_mbox_offset, pc_buffer, mbox_offset);
}
