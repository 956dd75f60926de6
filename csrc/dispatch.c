/* dispatch.c - the dry run's real-mode interrupt dispatch (see csrc/hostlib.h and
 * physcall/emulator/hooks.py, which owns the rules: this is its fast path).
 *
 * Through Unicorn's Python binding an ``int n`` costs ~16 register and memory calls from Python
 * (~70 us); here it costs a few C calls.  Only the plain case runs here: real mode, a two-byte
 * ``int n`` (CD n) whose vector Python marked fast, and a frame that lands in one of the call's
 * writable ranges.  Everything else (CPU exceptions, flat32, int3, vectors with service or hazard
 * checks, a frame outside the ranges, a full record buffer) goes to the Python hook through
 * ``slow``, which first takes the records so far: so the report is the Python hook's, in order.
 */
#include "hostlib.h"

typedef int (*reg_fn)(void *uc, int regid, void *value);
typedef int (*mem_read_fn)(void *uc, uint64_t address, void *bytes, uint64_t size);
typedef int (*mem_write_fn)(void *uc, uint64_t address, const void *bytes, uint64_t size);
typedef void (*intr_fn)(void *uc, uint32_t intno, void *user);

#define IF_TF 0x300u

static int frame_allowed(const struct dispatch *d, uint64_t at)
{
    for (uint32_t i = 0; i < d->nranges && i < PC_DISPATCH_RANGES; i++)
        if (d->ranges[i][0] <= at && at + 6 <= d->ranges[i][1])
            return 1;
    return 0;
}

void physcall_on_interrupt(void *uc, uint32_t intno, void *user)
{
    struct dispatch *d = user;
    reg_fn rd = (reg_fn)d->reg_read, wr = (reg_fn)d->reg_write;
    uint64_t cr0 = 0, cs = 0, eip = 0, eax = 0, ss = 0, esp = 0, flags = 0, sp, at, lin;
    uint8_t before[2], frame[6], vec[4];

    if (intno > 255 || !d->fast[intno] || d->count >= PC_DISPATCH_RECORDS)
        goto slow;
    rd(uc, d->cr0_id, &cr0);
    if (cr0 & 1)
        goto slow;
    rd(uc, d->cs_id, &cs);
    rd(uc, d->eip_id, &eip);
    cs &= 0xffff;
    eip &= 0xffff;
    lin = (cs << 4) + eip;
    if (lin < 2 || ((mem_read_fn)d->mem_read)(uc, lin - 2, before, 2)
        || before[0] != 0xCD || before[1] != intno)
        goto slow;                      /* a CPU exception, int3, into, int1: Python's */
    rd(uc, d->ss_id, &ss);
    rd(uc, d->esp_id, &esp);
    sp = (esp - 6) & 0xffff;
    at = ((ss & 0xffff) << 4) + sp;
    if (!frame_allowed(d, at))
        goto slow;                      /* Python refuses it, with the owner's name */
    if (((mem_read_fn)d->mem_read)(uc, 4 * (uint64_t)intno, vec, 4))
        goto slow;
    rd(uc, d->eax_id, &eax);
    rd(uc, d->eflags_id, &flags);
    frame[0] = eip & 0xff; frame[1] = eip >> 8;
    frame[2] = cs & 0xff; frame[3] = cs >> 8;
    frame[4] = flags & 0xff; frame[5] = (flags >> 8) & 0xff;
    if (((mem_write_fn)d->mem_write)(uc, at, frame, 6))
        goto slow;
    d->records[d->count].vector = intno;
    d->records[d->count].ax = eax & 0xffff;
    d->records[d->count].cs = cs;
    d->records[d->count].ip = (eip - 2) & 0xffff;
    d->count++;
    esp = (esp & 0xffff0000u) | sp;
    flags &= ~(uint64_t)IF_TF;
    wr(uc, d->esp_id, &esp);
    wr(uc, d->eflags_id, &flags);
    cs = vec[2] | vec[3] << 8;
    eip = vec[0] | vec[1] << 8;
    wr(uc, d->cs_id, &cs);
    wr(uc, d->eip_id, &eip);
    return;
slow:
    ((intr_fn)d->slow)(uc, intno, d->slow_user);
}
