/* query.c - the event filters of GET /api/events and GET /api/stats, written
 * once: which filters a query sets, the SQL fragment of each, and the values
 * bound to them.
 *
 * DESIGN: the SQL text of a query is built only from constant fragments (one
 * per filter present, each naming its own fixed ?N); every value is bound.
 * events.c caches one statement per filter combination on each connection;
 * stats.c prepares its statement per call.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "sqlite_int.h"

const char *const sq_states[3] = {
    [HD_STATE_ACTIVE] = "ACTIVE",
    [HD_STATE_OK] = "OK",
    [HD_STATE_RESOLVED] = "RESOLVED",
};

static const char *const qf_sql[QF__COUNT] = {
    [QF_FROM] = " AND ts_us >= ?1",
    [QF_TO] = " AND ts_us <= ?2",
    [QF_SEV] = " AND severity <= ?3",
    [QF_STATE] = " AND state = ?4",
    [QF_SOURCE] = " AND source = ?5",
    [QF_NS] = " AND k8s_namespace = ?6",
    [QF_Q] = " AND (name LIKE ?7 ESCAPE '\\' OR description LIKE ?7 ESCAPE '\\')",
    [QF_BEFORE] = " AND seq < ?8",
    [QF_SEVMIN] = " AND severity >= ?9",
    [QF_RULE] = " AND " SQ_RULE_EXPR " = ?10",
    [QF_RECV] = "",
};

/* QF_FROM and QF_TO with QF_RECV: on the arrival time. No index covers it
 * (one more B-tree per stored event costs ingest, docs/performance.md): such
 * a query reads the rows of the table, newest first for the events list. */
static const char *const qf_sql_recv[2] = {
    [QF_FROM] = " AND recv_us >= ?1",
    [QF_TO] = " AND recv_us <= ?2",
};

/* HD_EINVAL naming the state when it is not one. */
int sq_query_filters(const struct hd_event_query *q, int *state_out, unsigned *mask_out, struct hd_err *err)
{
    int state = -1;
    if (q->state != NULL) {
        for (int i = 0; i < (int)(sizeof(sq_states) / sizeof(sq_states[0])); i++) {
            if (strcasecmp(q->state, sq_states[i]) == 0) {
                state = i;
            }
        }
        if (state < 0) {
            return hd_err_set(err, HD_EINVAL, "state: unknown state '%s' (ACTIVE, OK or RESOLVED)", q->state);
        }
    }
    unsigned mask = 0;
    mask |= q->from_us != 0 ? 1u << QF_FROM : 0;
    mask |= q->to_us != 0 ? 1u << QF_TO : 0;
    mask |= q->severity >= 0 ? 1u << QF_SEV : 0;
    mask |= state >= 0 ? 1u << QF_STATE : 0;
    mask |= q->source != NULL ? 1u << QF_SOURCE : 0;
    mask |= q->ns != NULL ? 1u << QF_NS : 0;
    mask |= (q->q != NULL && q->q[0] != '\0') ? 1u << QF_Q : 0;
    mask |= q->severity_min > 0 ? 1u << QF_SEVMIN : 0;
    mask |= q->rule != NULL ? 1u << QF_RULE : 0;
    mask |= (q->by_received && (q->from_us != 0 || q->to_us != 0)) ? 1u << QF_RECV : 0;
    *state_out = state;
    *mask_out = mask;
    return HD_OK;
}

int sq_query_text(const struct sq_text *t, char *sql, size_t cap, size_t *len_out, struct hd_err *err)
{
    const char *parts[SQ_TEXT_HEAD + QF__COUNT + 1];
    size_t np = 0;
    for (size_t i = 0; i < SQ_TEXT_HEAD && t->head[i] != NULL; i++) {
        parts[np++] = t->head[i];
    }
    for (unsigned f = 0; f < QF__COUNT; f++) {
        if (t->mask & (1u << f)) {
            int recv = (t->mask & (1u << QF_RECV)) && (f == QF_FROM || f == QF_TO);
            parts[np++] = recv ? qf_sql_recv[f] : qf_sql[f];
        }
    }
    parts[np++] = t->tail;
    size_t len = 0;
    for (size_t i = 0; i < np; i++) {
        size_t pl = strlen(parts[i]);
        if (len + pl + 1 > cap) {
            return hd_err_set(err, HD_EIO, "%s", t->too_long);
        }
        memcpy(sql + len, parts[i], pl);
        len += pl;
    }
    sql[len] = '\0';
    *len_out = len;
    return HD_OK;
}

/* A value whose filter is absent is bound all the same: the text does not
 * name it, and the statement's highest parameter (its limit) is above
 * ?QF_PARAMS. */
void sq_query_bind(sqlite3_stmt *stm, const struct hd_event_query *q, int state, const char *pattern)
{
    sqlite3_bind_int64(stm, 1, q->from_us);
    sqlite3_bind_int64(stm, 2, q->to_us);
    sqlite3_bind_int(stm, 3, q->severity);
    sqlite3_bind_int(stm, 4, state);
    sq_bind_text(stm, 5, q->source);
    sq_bind_text(stm, 6, q->ns);
    sq_bind_text(stm, 7, pattern);
    sqlite3_bind_int64(stm, 8, q->before_seq);
    sqlite3_bind_int(stm, 9, q->severity_min);
    sq_bind_text(stm, 10, q->rule);
}

char *sq_like_pattern(const char *q)
{
    return hd_store_like_pattern(q);
}
