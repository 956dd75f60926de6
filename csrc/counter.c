/* counter.c - the emulator's block counter (see csrc/hostlib.h and physcall/emulator/counter.py).
 *
 * A Python block hook costs ~1 us a block; this one costs nothing measurable, and it can stop a run
 * on Ctrl-C, which Python's own SIGINT handler cannot do while Unicorn runs (it runs between
 * bytecodes).
 */
#include <signal.h>
#include <string.h>

#include "hostlib.h"

typedef struct { uint64_t pc; uint16_t icount; uint16_t size; } uc_tb;   /* unicorn.h */
typedef int (*ctl_fn)(void *uc, int control, ...);
typedef int (*stop_fn)(void *uc);
typedef int (*read_fn)(void *uc, int regid, void *value);

static volatile sig_atomic_t interrupted;
static struct sigaction saved;

static void on_sigint(int sig) { (void)sig; interrupted = 1; }

int physcall_arm(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    return sigaction(SIGINT, &sa, &saved);
}

int physcall_disarm(void)
{
    sigaction(SIGINT, &saved, 0);
    return interrupted;
}

/* Real mode: a block that runs past offset FFFFh of its code segment.  A real CPU raises #GP at the
   segment limit; QEMU runs on into the next 64 KiB.  Checked before the block runs. */
static int past_segment(struct counter *c, void *uc, uint64_t address, uint32_t size)
{
    uint64_t cs = 0, cr0 = 0;
    ((read_fn)c->reg_read)(uc, c->cs_id, &cs);
    cs = (cs & 0xffff) << 4;
    if (address < cs || address - cs + size <= 0x10000)
        return 0;
    ((read_fn)c->reg_read)(uc, c->cr0_id, &cr0);   /* firmware may be in protected mode a while */
    return !(cr0 & 1);
}

void physcall_count_block(void *uc, uint64_t address, uint32_t size, void *user)
{
    struct counter *c = user;
    uc_tb tb = {0, 0, 0};
    if (c->stopped)
        return;
    if (interrupted) {
        c->stopped = PC_COUNTER_SIGINT;
        ((stop_fn)c->stop)(uc);
        return;
    }
    if (c->real16 && past_segment(c, uc, address, size)) {
        c->stopped = PC_COUNTER_SEGMENT;
        c->limit_pc = address;
        ((stop_fn)c->stop)(uc);
        return;
    }
    ((ctl_fn)c->ctl)(uc, c->request, address, &tb);
    if (c->count + tb.icount > c->budget) {      /* stop before this block: it would pass */
        c->stopped = PC_COUNTER_BUDGET;
        ((stop_fn)c->stop)(uc);
        return;
    }
    c->count += tb.icount;
    c->last_pc = address;
    c->last_icount = tb.icount;
}
