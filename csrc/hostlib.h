/* hostlib.h - what libphyscall.so (csrc/hostlib.c, csrc/counter.c) exports to the host side.
 *
 * physcall/hostlib.py hands the text between the cdef markers to cffi, so the C code and Python
 * read one declaration of each function and of struct counter.
 */
#ifndef PHYSCALL_HOSTLIB_H
#define PHYSCALL_HOSTLIB_H

#include <stdint.h>

/* cdef-begin */
/* The TSC (rdtsc), as the trampoline stamps it on the other side of the jump. */
uint64_t physcall_rdtsc(void);

/* The emulator's block counter (physcall/emulator/counter.py): Unicorn runs physcall_count_block
 * before each translated block; it adds the block's instruction count and stops the emulation before
 * a block that would pass the budget, or at once after Ctrl-C. */
#define PC_COUNTER_BUDGET 1
#define PC_COUNTER_SIGINT 2
#define PC_COUNTER_SEGMENT 3            /* real16 code about to run past offset FFFFh (limit_pc) */

struct counter {
    uint64_t count, budget, last_pc;
    uint32_t last_icount, stopped;      /* stopped: one of PC_COUNTER_* */
    void *ctl;                          /* uc_ctl */
    void *stop;                         /* uc_emu_stop */
    int32_t request;                    /* the uc_ctl request for UC_CTL_TB_REQUEST_CACHE */
    int32_t real16;                     /* check blocks against the 64 KiB code segment */
    void *reg_read;                     /* uc_reg_read */
    int32_t cs_id, cr0_id;              /* UC_X86_REG_CS, UC_X86_REG_CR0 */
    uint64_t limit_pc;                  /* the block that would run past FFFFh */
};

int physcall_arm(void);                 /* SIGINT sets a flag the hook reads, while Unicorn runs */
int physcall_disarm(void);              /* the old handler back; 1 if Ctrl-C came meanwhile */
void physcall_count_block(void *uc, uint64_t address, uint32_t size, void *user);

/* The real-mode interrupt dispatch (csrc/dispatch.c, physcall/emulator/hooks.py): a UC_HOOK_INTR
 * that does the plain ``int n`` itself and records it, and calls ``slow`` (the Python hook) for the
 * rest.  Python reads ``records[0..count)`` and sets count back to 0.  The array sizes are
 * PC_DISPATCH_RANGES and PC_DISPATCH_RECORDS (cffi's cdef wants literal sizes). */
#define PC_DISPATCH_RANGES 16
#define PC_DISPATCH_RECORDS 4096

struct pc_interrupt { uint16_t vector, ax, cs, ip; };     /* ip: of the int instruction */

struct dispatch {
    void *reg_read, *reg_write;         /* uc_reg_read, uc_reg_write */
    void *mem_read, *mem_write;         /* uc_mem_read, uc_mem_write */
    void *slow;                         /* void (*)(void *uc, uint32_t intno, void *user) */
    void *slow_user;
    int32_t cr0_id, cs_id, eip_id, eax_id, ss_id, esp_id, eflags_id;   /* UC_X86_REG_* */
    uint32_t nranges;                   /* the call's writable ranges, merged: a frame must fit one */
    uint64_t ranges[16][2];
    uint8_t fast[256];                  /* 1: this vector has no check of its own in Python */
    uint32_t count;
    struct pc_interrupt records[4096];
};

void physcall_on_interrupt(void *uc, uint32_t intno, void *user);
/* cdef-end */

#endif /* PHYSCALL_HOSTLIB_H */
