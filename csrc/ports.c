/* ports.c - the dry run's port I/O fast path for the hot devices (see csrc/hostlib.h, struct ports).
 *
 * A BIOS delay or clock loop polls port 61h, latches and reads the PIT, or reads the RTC through
 * 70h/71h, thousands of times; through Unicorn's Python binding each access costs a Python hook (and
 * the report, the poll counter, the hazard check).  Here a byte access to a port that Python marked
 * fast for the call runs the device model on the shared state and appends a record.  The models are
 * the same as physcall/emulator/devices/timers.py's, line for line; tests/test_ports.py runs both
 * paths and compares the reports and the device state.  Everything else (another size, another
 * port, the policy's refusals, the harmful-write checks of effects.py, the first device hazard at a
 * site, a full record buffer, the read that reaches hazards.POLL_LIMIT) goes to Python.
 */
#include <string.h>

#include "hostlib.h"

typedef int (*reg_fn)(void *uc, int regid, void *value);
typedef int (*mem_read_fn)(void *uc, uint64_t address, void *bytes, uint64_t size);
typedef uint32_t (*in_fn)(void *uc, uint32_t port, int size, void *user);
typedef int (*out_fn)(void *uc, uint32_t port, int size, uint32_t value, void *user);

/* Latch counter n: the count has moved on since the last look (PC_PIT_STEP, as a read moves it), so
 * a delay loop that latches and reads sees time pass; a second latch before the first is read out is
 * ignored (Intel 8254 data sheet, "Counter Latch Command"). */
static void pit_latch(struct pc_pit *p, int n)
{
    if (p->latched[n])
        return;
    p->count[n] = (uint16_t)(p->count[n] - PC_PIT_STEP);
    p->latch[n] = p->count[n];
    p->latched[n] = 1;
}

/* 8254 counter n read: a status latched by a read-back comes first (OUT high, count loaded: bit 7
 * set, bit 6 clear, then the control word's low 6 bits); then a running counter moves down
 * PC_PIT_STEP per read, a latched one reads the latch until both bytes of a 16-bit access are out
 * (Intel 8254 data sheet, "Read-Back Command" and "Counter Latch Command") */
static uint8_t pit_read(struct pc_pit *p, int n)
{
    uint16_t value;
    uint8_t out;

    if (p->status_latched[n]) {
        p->status_latched[n] = 0;
        return 0x80 | p->status[n];
    }
    if (p->latched[n]) {
        value = p->latch[n];
    } else {
        p->count[n] = (uint16_t)(p->count[n] - PC_PIT_STEP);
        value = p->count[n];
    }
    if (p->access[n] == 1) {
        out = value & 0xff;
    } else if (p->access[n] == 2) {
        out = value >> 8;
    } else {
        out = (value >> (8 * p->flip[n])) & 0xff;
        p->flip[n] ^= 1;
    }
    if (p->latched[n] && (p->access[n] != 3 || p->flip[n] == 0))
        p->latched[n] = 0;
    return out;
}

static void pit_write(struct pc_pit *p, uint32_t port, uint8_t value)
{
    int n = port - 0x40, access = (value >> 4) & 3;

    if (port != 0x43) {
        if (p->access[n] == 3) {
            int shift = 8 * p->flip[n];
            p->count[n] = (uint16_t)((p->count[n] & ~(0xff << shift)) | value << shift);
            p->flip[n] ^= 1;
        } else {
            p->count[n] = p->access[n] == 1 ? value : (uint16_t)(value << 8);
        }
        return;
    }
    n = value >> 6;
    if (n == 3) {                       /* read-back: latch the counters named in bits 1-3: their */
        for (int i = 0; i < 3; i++) {   /* count unless bit 5, their status unless bit 4 */
            if (!(value & (2 << i)))
                continue;
            if (!(value & 0x20))
                pit_latch(p, i);
            if (!(value & 0x10))
                p->status_latched[i] = 1;
        }
    } else if (access == 0) {           /* counter latch command */
        pit_latch(p, n);
        p->flip[n] = 0;
    } else {
        p->access[n] = access;
        p->flip[n] = 0;
        p->status[n] = value & 0x3f;
    }
}

static uint8_t device_in(struct ports *d, uint32_t port)
{
    switch (port) {
    case 0x40: case 0x41: case 0x42:
        return pit_read(d->pit, port - 0x40);
    case 0x61:
        d->sysport->value ^= 0x10;      /* the refresh bit toggles on every read */
        return d->sysport->value;
    case 0x70:
        return d->cmos->index;
    case 0x71:
        return d->cmos->ram[d->cmos->index & 0x7f];
    default:                            /* 43h: the mode register is write-only */
        return 0xff;
    }
}

static void device_out(struct ports *d, uint32_t port, uint8_t value)
{
    switch (port) {
    case 0x40: case 0x41: case 0x42: case 0x43:
        pit_write(d->pit, port, value);
        break;
    case 0x61:
        d->sysport->value = (d->sysport->value & 0x30) | (value & 0x0f);
        break;
    case 0x70:
        d->cmos->index = value & 0x7f;  /* bit 7 is the NMI mask, not part of the index */
        break;
    case 0x71:
        d->cmos->ram[d->cmos->index & 0x7f] = value;
        break;
    }
}

static void record(struct ports *d, uint32_t port, int out, int size, uint32_t value)
{
    if (!d->room) {
        d->dropped++;                   /* the report lists MAX_EVENTS, then counts */
        return;
    }
    d->room--;
    d->records[d->count].port = port;
    d->records[d->count].out = out;
    d->records[d->count].size = size;
    d->records[d->count].value = value;
    d->count++;
}

uint32_t physcall_port_in(void *uc, uint32_t port, int size, void *user)
{
    struct ports *d = user;
    uint32_t value;

    if (port > 255 || size != 1 || !d->fast_in[port] || !d->reads_left || d->count >= PC_PORT_RECORDS)
        return ((in_fn)d->slow_in)(uc, port, size, d->slow_user);
    value = device_in(d, port);
    d->reads_left--;
    d->recent[d->reads++ % PC_PORT_RECENT] = port;
    record(d, port, 0, size, value);
    return value;
}

/* Where this OUT runs, as hazards.io_site() finds the hazard's address from it: real mode only. */
static int site(struct ports *d, void *uc, struct pc_site *here)
{
    reg_fn rd = (reg_fn)d->reg_read;
    uint64_t cr0 = 0, cs = 0, eip = 0;

    rd(uc, d->cr0_id, &cr0);
    if (cr0 & 1)
        return 0;
    rd(uc, d->cs_id, &cs);
    rd(uc, d->eip_id, &eip);
    here->cs = cs & 0xffff;
    here->eip = eip & 0xffff;
    return !((mem_read_fn)d->mem_read)(uc, ((uint64_t)here->cs << 4) + here->eip, here->code,
                                       sizeof here->code);
}

static int known(const struct ports *d, const struct pc_site *here)
{
    for (uint32_t i = 0; i < d->nsites && i < PC_PORT_SITES; i++)
        if (!memcmp(&d->sites[i], here, sizeof *here))
            return 1;
    return 0;
}

void physcall_port_out(void *uc, uint32_t port, int size, uint32_t value, void *user)
{
    struct ports *d = user;
    struct pc_site here;
    int kind = port > 255 || size != 1 ? 0 : d->fast_out[port];

    if (!kind || d->count >= PC_PORT_RECORDS) {
        ((out_fn)d->slow_out)(uc, port, size, value, d->slow_user);
        return;
    }
    if (kind == PC_PORT_SITE) {
        memset(&here, 0, sizeof here);
        if (!site(d, uc, &here)) {
            ((out_fn)d->slow_out)(uc, port, size, value, d->slow_user);
            return;
        }
        if (!known(d, &here)) {         /* Python records the hazard; then the site is known */
            if (((out_fn)d->slow_out)(uc, port, size, value, d->slow_user) && d->nsites < PC_PORT_SITES)
                d->sites[d->nsites++] = here;
            return;
        }
    }
    device_out(d, port, value & 0xff);
    record(d, port, 1, size, value);
}
