/* hostlib.h - what libphyscall.so (csrc/hostlib.c, counter.c, dispatch.c, ports.c) exports to the host side.
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

/* The hot port devices (physcall/emulator/devices/timers.py: the PIT, port 61h, the RTC/CMOS).  Their
 * state lives in these structs, which the Python models read and write through cffi and csrc/ports.c
 * reads and writes in its fast path: one state, whichever path touched it last. */
#define PC_PIT_STEP 0x111               /* a counter moves down this much per read (Pit) */

struct pc_pit {
    uint16_t count[3], latch[3];
    uint8_t latched[3];                 /* 1: latch[n] holds a latched count not yet read out */
    uint8_t access[3];                  /* 1 LSB, 2 MSB, 3 LSB then MSB */
    uint8_t flip[3];                    /* next byte of a 16-bit access: 0 LSB, 1 MSB */
    uint8_t status[3];                  /* the last control word's low 6 bits: access, mode, BCD */
    uint8_t status_latched[3];          /* 1: a read-back latched the status, the next read gives it */
};
struct pc_cmos { uint8_t index; uint8_t ram[128]; };
struct pc_sysport { uint8_t value; };

/* The port fast path (csrc/ports.c, physcall/emulator/hooks.py owns the rules): UC_HOOK_INSN hooks
 * for IN and OUT that answer a byte access to a port Python marked fast for the call from the hot
 * devices above, and record it; every other access goes to ``slow_in``/``slow_out`` (the Python
 * hooks).  An OUT marked PC_PORT_SITE reprograms a device the kernel owns, a hazard the report names
 * once per instruction: C takes it only at a site (cs, eip, the 48 code bytes the hazard's address is
 * found from) where slow_out answered 1, "the hazard is recorded".  Python reads records[0..count),
 * adds ``dropped`` (over the report's room) and ``reads`` with the ring ``recent`` (the latest port
 * numbers read) to the call, and sets ``room`` and ``reads_left`` (reads before the one Python must
 * count itself: hazards.POLL_LIMIT). */
#define PC_PORT_PLAIN 1
#define PC_PORT_SITE 2
#define PC_PORT_RECENT 32
#define PC_PORT_SITES 16
#define PC_PORT_RECORDS 4096

struct pc_port { uint16_t port; uint8_t out, size; uint32_t value; };
struct pc_site { uint32_t cs, eip; uint8_t code[48]; };

struct ports {
    void *reg_read, *mem_read;          /* uc_reg_read, uc_mem_read */
    void *slow_in;                      /* uint32_t (*)(void *uc, uint32_t port, int size, void *user) */
    void *slow_out;                     /* int (*)(void *uc, uint32_t port, int size, uint32_t value, void *user) */
    void *slow_user;
    int32_t cr0_id, cs_id, eip_id;      /* UC_X86_REG_* */
    struct pc_pit *pit;
    struct pc_cmos *cmos;
    struct pc_sysport *sysport;
    uint8_t fast_in[256], fast_out[256];        /* 0 Python's, PC_PORT_PLAIN or PC_PORT_SITE */
    uint32_t room, reads_left;
    uint32_t count, dropped, reads;
    uint16_t recent[32];
    uint32_t nsites;
    struct pc_site sites[16];
    struct pc_port records[4096];
};

uint32_t physcall_port_in(void *uc, uint32_t port, int size, void *user);
void physcall_port_out(void *uc, uint32_t port, int size, uint32_t value, void *user);

/* The block check's filter (csrc/edges.c, physcall/emulator/hooks.py owns the rule: on_edge): a
 * UC_HOOK_EDGE_GENERATED hook that lets through to ``slow`` (the Python check, with the same
 * arguments) only an edge with a block in the batch window [lo, hi) that is not in ``clean``: a block
 * Python checked and found clean, at the same address, in the same mode (CR0.PE), with the same bytes.
 * Python fills ``clean`` (round robin, ``next``); blocks over PC_EDGE_BYTES always go to Python. */
#define PC_EDGE_BYTES 64
#define PC_EDGE_CLEAN 64

struct pc_tb { uint64_t pc; uint16_t icount, size; };     /* Unicorn's uc_tb */
struct pc_clean_block { uint64_t pc; uint32_t size, mode; uint8_t bytes[64]; };

struct edge_check {
    void *reg_read, *mem_read;          /* uc_reg_read, uc_mem_read */
    void *slow;                         /* void (*)(void *uc, struct pc_tb *cur, struct pc_tb *prev, void *user) */
    int32_t cr0_id;                     /* UC_X86_REG_CR0 */
    uint64_t own[8][2];                 /* [lo, hi): where the call's own code may be (CallState.own) */
    uint32_t nown;
    uint32_t next;
    struct pc_clean_block clean[64];
};

void physcall_on_edge(void *uc, struct pc_tb *cur, struct pc_tb *prev, void *user);
/* cdef-end */

#endif /* PHYSCALL_HOSTLIB_H */
