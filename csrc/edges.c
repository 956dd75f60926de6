/* edges.c - the filter in front of the dry run's block check (see csrc/hostlib.h, struct edge_check,
 * and Dispatcher.on_edge in physcall/emulator/hooks.py, which owns the rule and the verdict).
 *
 * Unicorn reports every chaining of two translated blocks.  Through Python each report costs a
 * callback (~1 us) and a check of its blocks (CR0, the bytes, a lookup): ~5 us, three times in a warm
 * int 12h, whose thunk is translated anew each batch.  The check's answer depends only on a block's
 * address, bytes and mode, so a block Python found clean is clean again with the same three, and an
 * edge whose window blocks are all such (or that has none in the window) tells Python nothing.
 */
#include <string.h>
#include "hostlib.h"

typedef int (*reg_fn)(void *uc, int regid, void *value);
typedef int (*mem_read_fn)(void *uc, uint64_t address, void *bytes, uint64_t size);
typedef void (*edge_fn)(void *uc, struct pc_tb *cur, struct pc_tb *prev, void *user);

static int in_window(const struct edge_check *e, const struct pc_tb *tb)
{
    if (!tb->size)
        return 0;
    for (uint32_t i = 0; i < e->nown && i < sizeof e->own / sizeof e->own[0]; i++)
        if (e->own[i][0] <= tb->pc && tb->pc < e->own[i][1])
            return 1;
    return 0;
}

static int known_clean(void *uc, const struct edge_check *e, const struct pc_tb *tb, uint32_t mode)
{
    uint8_t now[PC_EDGE_BYTES];

    if (tb->size > PC_EDGE_BYTES || ((mem_read_fn)e->mem_read)(uc, tb->pc, now, tb->size))
        return 0;
    for (uint32_t i = 0; i < PC_EDGE_CLEAN; i++) {
        const struct pc_clean_block *c = &e->clean[i];
        if (c->size == tb->size && c->pc == tb->pc && c->mode == mode
            && !memcmp(c->bytes, now, tb->size))
            return 1;
    }
    return 0;
}

void physcall_on_edge(void *uc, struct pc_tb *cur, struct pc_tb *prev, void *user)
{
    struct edge_check *e = user;
    int in_prev = in_window(e, prev), in_cur = in_window(e, cur);
    uint64_t cr0 = 0;
    uint32_t mode;

    if (!in_prev && !in_cur)
        return;                         /* Python checks nothing outside the call's own ranges */
    if (((reg_fn)e->reg_read)(uc, e->cr0_id, &cr0))
        goto slow;
    mode = cr0 & 1;
    if ((!in_prev || known_clean(uc, e, prev, mode)) && (!in_cur || known_clean(uc, e, cur, mode)))
        return;
slow:
    ((edge_fn)e->slow)(uc, cur, prev, user);
}
