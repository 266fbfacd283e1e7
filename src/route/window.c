/* window.c - a channel's requests of new events in flight, and the cursor
 * rule (issue 14).
 *
 * DESIGN: new events go out in seq order, up to ch->max_in_flight requests
 * at once (WEBHOOK maxInFlight, default 4; every other type 1). Each request
 * takes a slot at the end of the window (struct dslot), covering a
 * contiguous range of seqs: (previous slot's hi, hi], i.e. its events plus
 * those filtered out or dead-lettered between them. So the slots tile the
 * seqs from the cursor to sent without gaps, in order.
 *
 * Answers come back in any order. An answer is recorded exactly as a lone
 * request's would be (answer.c: rows for retries and dead letters), and the
 * cursor moves only over the answered run at the head of the window: the
 * cursor is always the highest seq below which every sent event has its
 * outcome recorded. When the head's answer is recorded, its rows and the
 * new cursor go in ONE store transaction (hd_dwin_cursor_if_answered gives
 * it); an answer further up records its rows alone and waits for the head.
 * A kill -9 therefore re-sends at most the window (events above the
 * persisted cursor, at least once) and never skips an unrecorded one.
 *
 * The window is at most max_in_flight slots, answered or not: one slow
 * request holds back at most that many. While the breaker counts failures
 * the limit is 1 (a failure stops the fan-out: the window drains and one
 * request at a time probes the sink until one succeeds), and a backoff
 * (next_attempt_ms) stops launching altogether.
 *
 * An answer that could not be recorded (store error, out of memory, or a
 * batch the breaker holds, which answer.c allows only for a request alone
 * in the window) marks its slot redo: the cursor stops below it, and once
 * nothing is in flight the window is emptied and the events after the
 * cursor are read again. Answered slots above a redo one go out again too:
 * at least once, on a path taken only when the store fails.
 *
 * The read-ahead follows sent, not the cursor.
 *
 * The backlog (channels.c) is the events after the cursor plus the PENDING
 * rows. An answer above the head records its retry rows while the cursor
 * is still below them: its slot keeps their count (retries), subtracted
 * until the head's answer moves the cursor over it.
 *
 * Loop thread only, like the rest of a struct dchan (dispatcher_int.h).
 */
#include "channel/channel.h"
#include "route/dispatcher_int.h"

static struct dslot *slot_at(struct dchan *c, size_t i)
{
    return &c->win[(c->win_head + i) % HD_CHANNEL_MAX_IN_FLIGHT];
}

static const struct dslot *slot_at_c(const struct dchan *c, size_t i)
{
    return &c->win[(c->win_head + i) % HD_CHANNEL_MAX_IN_FLIGHT];
}

static int slot_of(const struct dchan *c, const struct dreq *r, size_t *out)
{
    for (size_t i = 0; i < c->win_n; i++) {
        if (slot_at_c(c, i)->r == r) {
            *out = i;
            return 1;
        }
    }
    return 0;
}

/* Moves sent to seq (never back) and forgets buffered events up to it. */
static void sent_move(struct dchan *c, int64_t seq)
{
    if (seq <= c->sent) {
        return;
    }
    c->sent = seq;
    while (c->buf_pos < c->buf_n && c->buf[c->buf_pos].seq <= seq) {
        c->buf_pos++;
    }
    if (c->buf_pos >= c->buf_n) {
        hd_dchan_buf_drop(c);
    }
}

static size_t limit(const struct dchan *c)
{
    long m = c->ch != NULL ? c->ch->max_in_flight : 1;
    if (m <= 1 || c->brk.consecutive_failures > 0 || c->brk.open) {
        return 1;
    }
    return m < HD_CHANNEL_MAX_IN_FLIGHT ? (size_t)m : HD_CHANNEL_MAX_IN_FLIGHT;
}

int hd_dwin_room(const struct dchan *c, int64_t now)
{
    return c->win_n < limit(c) && c->next_attempt_ms <= now;
}

void hd_dwin_push(struct dchan *c, struct dreq *r, int64_t hi)
{
    *slot_at(c, c->win_n) = (struct dslot){.r = r, .hi = hi};
    c->win_n++;
    sent_move(c, hi);
}

void hd_dwin_skip(struct dchan *c, int64_t seq)
{
    if (c->win_n == 0) {
        hd_dchan_cursor_move(c, seq); /* persisted lazily */
        return;
    }
    struct dslot *last = slot_at(c, c->win_n - 1);
    if (seq > last->hi) {
        last->hi = seq;
    }
    sent_move(c, seq);
}

int hd_dwin_has(const struct dchan *c, const struct dreq *r)
{
    size_t i = 0;
    return r != NULL && slot_of(c, r, &i);
}

int hd_dwin_alone(const struct dchan *c, const struct dreq *r)
{
    return c->win_n == 1 && slot_at_c(c, 0)->r == r;
}

int64_t hd_dwin_cursor_if_answered(const struct dchan *c, const struct dreq *r)
{
    if (c->win_n == 0 || slot_at_c(c, 0)->r != r) {
        return -1;
    }
    int64_t cur = slot_at_c(c, 0)->hi;
    for (size_t i = 1; i < c->win_n; i++) {
        const struct dslot *s = slot_at_c(c, i);
        if (s->r != NULL || s->redo) {
            break;
        }
        cur = s->hi;
    }
    return cur;
}

void hd_dwin_reset(struct dchan *c)
{
    c->win_n = 0;
    c->win_head = 0;
    c->sent = c->cursor;
    hd_dchan_buf_drop(c);
}

void hd_dwin_note_retries(struct dchan *c, const struct dreq *r, int64_t n)
{
    size_t i = 0;
    if (slot_of(c, r, &i)) {
        slot_at(c, i)->retries = n;
    }
}

int64_t hd_dwin_retries(const struct dchan *c)
{
    int64_t n = 0;
    for (size_t i = 0; i < c->win_n; i++) {
        n += slot_at_c(c, i)->retries;
    }
    return n;
}

void hd_dwin_answered(struct dchan *c, const struct dreq *r, int recorded)
{
    size_t i = 0;
    if (!slot_of(c, r, &i)) {
        return;
    }
    struct dslot *s = slot_at(c, i);
    s->r = NULL;
    s->redo = !recorded;
    /* The answered head: the cursor covers it (persisted with the head's
     * rows, or lazily when it needed none). */
    while (c->win_n > 0 && slot_at(c, 0)->r == NULL && !slot_at(c, 0)->redo) {
        hd_dchan_cursor_move(c, slot_at(c, 0)->hi);
        c->win_head = (c->win_head + 1) % HD_CHANNEL_MAX_IN_FLIGHT;
        c->win_n--;
    }
    if (c->win_n == 0) {
        c->win_head = 0;
        return;
    }
    for (size_t k = 0; k < c->win_n; k++) {
        if (slot_at(c, k)->r != NULL) {
            return; /* a redo waits until nothing is in flight */
        }
    }
    hd_dwin_reset(c); /* a redo at the head: read again from the cursor */
}

int hd_dwin_take_ch(struct dchan *c, const struct hd_channel *ch)
{
    int taken = 0;
    for (size_t i = 0; i < c->win_n; i++) {
        struct dreq *r = slot_at(c, i)->r;
        if (r != NULL && r->ch == ch) {
            r->owns_ch = 1;
            taken = 1;
        }
    }
    return taken;
}

int64_t hd_dwin_oldest_recv_us(const struct dchan *c)
{
    for (size_t i = 0; i < c->win_n; i++) {
        const struct dreq *r = slot_at_c(c, i)->r;
        if (r != NULL && r->n > 0) {
            return r->items[0].recv_us;
        }
    }
    return 0;
}
