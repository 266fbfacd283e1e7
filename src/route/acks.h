/* acks.h - the dispatcher's indexer acknowledgements (private to route/):
 * channel types with ack hooks and ch->ack_timeout_ms > 0 (SPLUNK useAck).
 * The design is in the DESIGN comment of acks.c. Loop thread only.
 */
#ifndef HD_ACKS_H
#define HD_ACKS_H

#include <stddef.h>
#include <stdint.h>

#include "route/dispatcher_int.h"

/* 1 if the answer resp to r accepted the whole batch (verdicts, one per item)
 * under an acknowledgement id, written to *ack_id: the batch then awaits the
 * sink's confirmation (hd_acks_await) instead of counting as delivered. */
int hd_acks_id(const struct dreq *r, const struct hd_response *resp, const struct hd_item_verdict *verdicts,
               int64_t *ack_id);

/* Records the events of r as PENDING rows due at the ack deadline (with the
 * cursor) and keeps the batch waiting; takes over r->items on success.
 * Returns HD_OK when recorded; otherwise the same events go out again. */
int hd_acks_await(struct hd_dispatcher *d, struct dchan *c, struct dreq *r, const struct hd_response *resp,
                  int64_t ack_id, int64_t now);

/* Expires batches past their deadline and sends the next acknowledgement
 * query when due. Returns 1 if a query went out; otherwise lowers *next_ms to
 * the next poll or deadline. */
int hd_acks_work(struct hd_dispatcher *d, struct dchan *c, int64_t now, int64_t *next_ms);

/* 1 when c has as many batches waiting as it may: it then only polls. */
int hd_acks_full(const struct dchan *c);

/* The answer to the acknowledgement query r: confirmed batches become
 * DELIVERED rows (deleted) and count as delivered. */
void hd_acks_on_answer(struct hd_dispatcher *d, struct dchan *c, struct dreq *r,
                       const struct hd_response *resp);

/* Forgets every waiting batch (their rows come due at their deadline). */
void hd_acks_drop(struct dchan *c);

#endif
