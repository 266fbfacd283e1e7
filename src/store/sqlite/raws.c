/* raws.c - the original bytes of events: compressed on the caller's thread
 * before an append, read back (and decompressed) with a row.
 *
 * DESIGN: a raw is stored in its row as is (raw_enc 0), as one zstd frame
 * (raw_enc 1: SQ_Z_MIN bytes or more, and only if it shrinks), or - for an
 * append of SQ_BLOB_MIN_EVENTS events or more - in blobs of about
 * SQ_BLOB_CHUNK raw bytes each (whole events) (table
 * raws, one frame over all of them, docs/performance.md round 4), the row
 * holding a 32-byte reference (raw_enc 2: rid, offset, length, and its share
 * of the stored bytes for retention by size). Compression happens before the
 * op reaches the writer, so the serial writer only copies bytes. Readers
 * share the last SQ_BLOB_CACHE_SLOTS decompressed blobs by reference count,
 * so the rows of one request read by several calls decompress it once.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "sqlite_int.h"

#define SQ_Z_MIN 256 /* raw shorter than this is stored as is */
#define SQ_Z_LEVEL 1
/* An append of at least this many events stores all their raws as one zstd
 * frame in `raws` (raw_enc 2, docs/performance.md round 4). */
#define SQ_BLOB_MIN_EVENTS 4
/* A decompressed blob larger than this is never cached: a batch of 1,000
 * ~2.2 KB events (2.3 MB) is; the cache of two ~4 MB blobs, on top of a
 * lagging channel's read-ahead and batch, took RSS past 40 MB. */
#define SQ_BLOB_CACHE_MAX (2560 * 1024)
/* A released blob up to this size is kept as the store's spare (blob_alloc):
 * the blobs of large requests (SQ_BLOB_CHUNK) and of group commits are. */
#define SQ_BLOB_SPARE_MAX (2 * SQ_BLOB_CHUNK)

/* ---- compression (the caller's thread) --------------------------------- */

static ZSTD_CCtx *zc_get(struct sq_store *s)
{
    ZSTD_CCtx *z = NULL;
    pthread_mutex_lock(&s->pool_mu);
    if (s->nzc > 0) {
        z = s->zc[--s->nzc];
    }
    pthread_mutex_unlock(&s->pool_mu);
    return z != NULL ? z : ZSTD_createCCtx();
}

static void zc_put(struct sq_store *s, ZSTD_CCtx *z)
{
    pthread_mutex_lock(&s->pool_mu);
    if (s->nzc < SQ_ZC_POOL) {
        s->zc[s->nzc++] = z;
        z = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    ZSTD_freeCCtx(z);
}

static size_t raws_total(const struct hd_event *evs, size_t n)
{
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        t += evs[i].raw != NULL ? evs[i].raw_len : 0;
    }
    return t;
}

/* Whether an append stores its raws as one blob. */
static int zip_as_blob(size_t n, size_t total)
{
    return n >= SQ_BLOB_MIN_EVENTS && total >= SQ_Z_MIN && total <= (size_t)INT_MAX;
}

/* The end of the chunk starting at event i: whole events, at most
 * SQ_BLOB_CHUNK raw bytes unless one event alone is larger; *bytes its raws. */
static size_t chunk_end(const struct hd_event *evs, size_t n, size_t i, size_t *bytes)
{
    size_t t = 0;
    size_t j = i;
    for (; j < n; j++) {
        size_t len = evs[j].raw != NULL ? evs[j].raw_len : 0;
        if (j > i && t + len > SQ_BLOB_CHUNK) {
            break;
        }
        t += len;
    }
    *bytes = t;
    return j;
}

/* Room for the chunk table before the compressed bytes (keeps them aligned). */
static size_t chunk_table(size_t nchunks)
{
    return (nchunks * sizeof(struct zblob) + 15) & ~(size_t)15;
}

size_t sq_zip_bound(const struct hd_event *evs, size_t n, size_t *total_out)
{
    size_t total = raws_total(evs, n);
    *total_out = total;
    if (!zip_as_blob(n, total)) {
        return 0; /* grouped: the writer's buffer */
    }
    size_t b = 0;
    size_t chunks = 0;
    for (size_t i = 0, bytes = 0; i < n; chunks++) {
        i = chunk_end(evs, n, i, &bytes);
        b += ZSTD_compressBound(bytes);
    }
    return chunk_table(chunks) + b;
}

/* Walks the events whose raws make one blob, with their zraw slots: those
 * of one append (single), or of every grouped append of a group (op). */
struct zwalk {
    struct append_args *single;
    struct sq_op *op;
    size_t i;
    size_t end; /* single: stop before this event */
};

static int zwalk_next(struct zwalk *w, const struct hd_event **ev, struct zraw **z)
{
    for (;;) {
        struct append_args *a = w->single;
        if (a == NULL) {
            while (w->op != NULL && (w->op->append == NULL || !w->op->append->grouped)) {
                w->op = w->op->next;
            }
            if (w->op == NULL) {
                return 0;
            }
            a = w->op->append;
        }
        if (w->i < (w->single != NULL ? w->end : a->n)) {
            *ev = &a->evs[w->i];
            *z = &a->z[w->i];
            w->i++;
            return 1;
        }
        if (w->single != NULL) {
            return 0;
        }
        w->op = w->op->next;
        w->i = 0;
    }
}

/* One zstd frame of every raw in turn into buf (cap bytes); 0 on failure. */
static size_t zip_stream(ZSTD_CCtx *cc, struct zwalk w, size_t total, unsigned char *buf, size_t cap)
{
    if (ZSTD_isError(ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, SQ_Z_LEVEL)) ||
        ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cc, total))) {
        return 0;
    }
    ZSTD_outBuffer out = {buf, cap, 0};
    const struct hd_event *ev;
    struct zraw *zr;
    while (zwalk_next(&w, &ev, &zr)) {
        if (ev->raw == NULL || ev->raw_len == 0) {
            continue;
        }
        ZSTD_inBuffer in = {ev->raw, ev->raw_len, 0};
        while (in.pos < in.size) {
            if (ZSTD_isError(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_continue))) {
                return 0;
            }
        }
    }
    ZSTD_inBuffer none = {NULL, 0, 0};
    size_t left;
    do {
        left = ZSTD_compressStream2(cc, &out, &none, ZSTD_e_end);
        if (ZSTD_isError(left)) {
            return 0;
        }
    } while (left != 0);
    return out.pos;
}

/* The raws w walks (total bytes) as one frame into buf (or concatenated as
 * they are if it does not shrink); each event's zraw its slice. */
static void zip_blob(struct sq_store *s, struct zwalk w, size_t total, unsigned char *buf, struct zblob *blob)
{
    size_t cap = ZSTD_compressBound(total);
    ZSTD_CCtx *cc = zc_get(s);
    size_t got = cc != NULL ? zip_stream(cc, w, total, buf, cap) : 0;
    *blob = (struct zblob){.p = buf, .len = got, .size = total, .enc = 1};
    const struct hd_event *ev;
    struct zraw *zr;
    if (got == 0 || got >= total) {
        blob->len = 0;
        for (struct zwalk c = w; zwalk_next(&c, &ev, &zr);) {
            if (ev->raw != NULL && ev->raw_len > 0) {
                memcpy(buf + blob->len, ev->raw, ev->raw_len);
                blob->len += ev->raw_len;
            }
        }
        blob->enc = 0;
    }
    int64_t off = 0;
    while (zwalk_next(&w, &ev, &zr)) {
        size_t len = ev->raw != NULL ? ev->raw_len : 0;
        /* share of the stored bytes, rounded up: retention by size */
        int64_t share = (int64_t)((len * (uint64_t)blob->len + total - 1) / total);
        *zr = ev->raw == NULL ? (struct zraw){0}
                              : (struct zraw){.len = len, .enc = 2, .off = off, .share = share};
        off += (int64_t)len;
    }
    if (cc != NULL) {
        zc_put(s, cc);
    }
}

/* One frame per raw; a raw that is short, or does not shrink, or a missing
 * context: as is. */
static void zip_each(struct sq_store *s, struct append_args *a, unsigned char *buf)
{
    const struct hd_event *evs = a->evs;
    ZSTD_CCtx *cc = NULL;
    for (size_t i = 0; i < a->n; i++) {
        a->z[i] = (struct zraw){.p = evs[i].raw, .len = evs[i].raw_len, .enc = 0};
        if (evs[i].raw == NULL || evs[i].raw_len < SQ_Z_MIN) {
            continue;
        }
        if (cc == NULL) {
            cc = zc_get(s);
            if (cc == NULL) {
                continue;
            }
        }
        size_t cap = ZSTD_compressBound(evs[i].raw_len);
        size_t got = ZSTD_compressCCtx(cc, buf, cap, evs[i].raw, evs[i].raw_len, SQ_Z_LEVEL);
        if (!ZSTD_isError(got) && got < evs[i].raw_len) {
            a->z[i] = (struct zraw){.p = buf, .len = got, .enc = 1};
        }
        buf += cap;
    }
    if (cc != NULL) {
        zc_put(s, cc);
    }
}

/* buf: sq_zip_bound bytes (none for a small append: grouped). */
void sq_zip(struct sq_store *s, struct append_args *a, size_t total, unsigned char *buf)
{
    a->blobs = NULL;
    a->nblobs = 0;
    if (zip_as_blob(a->n, total)) {
        size_t chunks = 0;
        for (size_t i = 0, bytes = 0; i < a->n; chunks++) {
            i = chunk_end(a->evs, a->n, i, &bytes);
        }
        a->blobs = (struct zblob *)(void *)buf;
        unsigned char *out = buf + chunk_table(chunks);
        for (size_t i = 0, k = 0, bytes = 0; i < a->n; k++) {
            size_t end = chunk_end(a->evs, a->n, i, &bytes);
            zip_blob(s, (struct zwalk){.single = a, .i = i, .end = end}, bytes, out, &a->blobs[k]);
            a->blobs[k].first = i;
            a->blobs[k].end = end;
            out += ZSTD_compressBound(bytes);
            i = end;
        }
        a->nblobs = chunks;
        return;
    }
    for (size_t i = 0; i < a->n; i++) {
        a->z[i] = (struct zraw){.p = a->evs[i].raw, .len = a->evs[i].raw_len, .enc = 0};
    }
    a->grouped = 1;
}

void sq_zip_group(struct sq_store *s, struct sq_op *group, struct sq_gblob *g)
{
    *g = (struct sq_gblob){0};
    size_t n = 0;
    size_t total = 0;
    size_t bound = 0;
    struct append_args *last = NULL;
    const struct hd_event *ev;
    struct zraw *zr;
    for (struct zwalk w = {.op = group}; zwalk_next(&w, &ev, &zr);) {
        n++;
        last = w.op->append;
        total += ev->raw != NULL ? ev->raw_len : 0;
        bound += ev->raw != NULL && ev->raw_len >= SQ_Z_MIN ? ZSTD_compressBound(ev->raw_len) : 0;
    }
    if (n == 0) {
        return;
    }
    if (n == 1 || !zip_as_blob(SQ_BLOB_MIN_EVENTS, total)) { /* alone: a frame in its row */
        g->buf = bound > 0 ? malloc(bound) : NULL;
        if (g->buf != NULL) {
            zip_each(s, last, g->buf);
        }
        return;
    }
    g->buf = malloc(ZSTD_compressBound(total));
    if (g->buf == NULL) {
        return; /* as they are, each in its row */
    }
    zip_blob(s, (struct zwalk){.op = group}, total, g->buf, &g->blob);
    g->rid = ++s->max_rid;
    for (struct sq_op *o = group; o != NULL; o = o->next) {
        if (o->append != NULL && o->append->grouped) {
            o->append->g_rid = g->rid;
        }
    }
}

int sq_gblob_store(struct sq_conn *c, struct sq_op *group, const struct sq_gblob *g, struct hd_err *err)
{
    int64_t lo = 0;
    int64_t hi = 0;
    for (struct sq_op *o = group; o != NULL; o = o->next) {
        struct append_args *a = o->append;
        if (a == NULL || a->g_rid != g->rid || o->rc != HD_OK) {
            continue;
        }
        for (size_t i = 0; i < a->n; i++) {
            if (!a->evs[i].duplicate && a->evs[i].seq > 0) {
                lo = lo == 0 || a->evs[i].seq < lo ? a->evs[i].seq : lo;
                hi = a->evs[i].seq > hi ? a->evs[i].seq : hi;
            }
        }
    }
    if (hi == 0) {
        return HD_OK; /* every event a duplicate, or its op rolled back: nothing refers to it */
    }
    sqlite3_stmt *rins = sq_stmt(c, Q_RAW_INSERT, err);
    if (rins == NULL) {
        return HD_EIO;
    }
    sqlite3_bind_int64(rins, 1, g->rid);
    sqlite3_bind_int64(rins, 2, lo);
    sqlite3_bind_int64(rins, 3, hi);
    sqlite3_bind_int(rins, 4, g->blob.enc);
    sqlite3_bind_int64(rins, 5, (int64_t)g->blob.size);
    sqlite3_bind_blob64(rins, 6, g->blob.p, (sqlite3_uint64)g->blob.len, SQLITE_STATIC);
    return sq_step_done(c, rins, err, "storing the raws of a group");
}

void sq_gblob_free(struct sq_gblob *g)
{
    free(g->buf);
    *g = (struct sq_gblob){0};
}

/* ---- blob references ---------------------------------------------------- */

/* Little-endian int64 fields of a raw_enc 2 reference. */
static void ref_put(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(u >> (8 * i));
    }
}

static int64_t ref_get(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--) {
        u = (u << 8) | p[i];
    }
    return (int64_t)u;
}

void sq_ref_encode(unsigned char ref[SQ_BLOB_REF_LEN], int64_t rid, const struct zraw *z)
{
    ref_put(ref, rid);
    ref_put(ref + 8, z->off);
    ref_put(ref + 16, (int64_t)z->len);
    ref_put(ref + 24, z->share);
}

int sq_ref_decode(const void *p, size_t n, struct blob_ref *r)
{
    if (p == NULL || n != SQ_BLOB_REF_LEN) {
        return HD_EIO;
    }
    const unsigned char *b = p;
    *r = (struct blob_ref){ref_get(b), ref_get(b + 8), ref_get(b + 16), ref_get(b + 24)};
    return r->off >= 0 && r->len >= 0 ? HD_OK : HD_EIO;
}

void sq_blob_release(struct sq_store *s, struct sq_blob *b)
{
    if (b == NULL || atomic_fetch_sub(&b->refs, 1) != 1) {
        return;
    }
    if (s != NULL && b->cap <= SQ_BLOB_SPARE_MAX) {
        /* Keep the larger of it and the spare: blobs of whole events up to
         * SQ_BLOB_CHUNK differ by a few kB, so the spare soon fits them all. */
        pthread_mutex_lock(&s->blob_mu);
        if (s->blob_spare == NULL || s->blob_spare->cap < b->cap) {
            struct sq_blob *t = s->blob_spare;
            s->blob_spare = b;
            b = t;
        }
        pthread_mutex_unlock(&s->blob_mu);
    }
    free(b);
}

/* A blob of room for size bytes and a NUL: the store's spare if it fits. */
static struct sq_blob *blob_alloc(struct sq_store *s, size_t size)
{
    struct sq_blob *b = NULL;
    pthread_mutex_lock(&s->blob_mu);
    if (s->blob_spare != NULL && s->blob_spare->cap > size) {
        b = s->blob_spare;
        s->blob_spare = NULL;
    }
    pthread_mutex_unlock(&s->blob_mu);
    if (b == NULL) {
        b = malloc(sizeof(*b) + size + 1);
        if (b == NULL) {
            return NULL;
        }
        b->cap = size + 1;
    }
    return b;
}

/* The connection's decompression context, created on first use; NULL if out of memory. */
static ZSTD_DCtx *dctx_of(struct sq_conn *c)
{
    if (c->dctx == NULL) {
        c->dctx = ZSTD_createDCtx();
    }
    return c->dctx;
}

/* Reads and decompresses blob rid (one reference for the caller). */
static int blob_load(struct sq_store *s, struct sq_conn *c, int64_t rid, struct sq_blob **out)
{
    struct hd_err err;
    sqlite3_stmt *q = sq_stmt(c, Q_RAW_GET, &err);
    if (q == NULL) {
        hd_log(HD_LOG_ERROR, "store: %s", err.msg);
        return HD_EIO;
    }
    sqlite3_bind_int64(q, 1, rid);
    int rc = HD_EIO;
    struct sq_blob *b = NULL;
    int step = sqlite3_step(q);
    if (step != SQLITE_ROW) {
        hd_log(HD_LOG_ERROR, "store: raws %lld: %s", (long long)rid,
               step == SQLITE_DONE ? "missing" : sqlite3_errmsg(c->db));
        goto out;
    }
    int enc = sqlite3_column_int(q, 0);
    int64_t size = sqlite3_column_int64(q, 1);
    const void *p = sqlite3_column_blob(q, 2);
    size_t n = (size_t)sqlite3_column_bytes(q, 2);
    if (size < 0 || size > INT_MAX || (enc != 0 && enc != 1) || (enc == 0 && (size_t)size != n)) {
        hd_log(HD_LOG_ERROR, "store: raws %lld: bad size or encoding", (long long)rid);
        goto out;
    }
    b = blob_alloc(s, (size_t)size);
    if (b == NULL) {
        rc = HD_ENOMEM;
        goto out;
    }
    b->rid = rid;
    b->len = (size_t)size;
    atomic_init(&b->refs, 1);
    if (enc == 0) {
        if (n > 0) {
            memcpy(b->data, p, n);
        }
    } else {
        if (dctx_of(c) == NULL) {
            rc = HD_ENOMEM;
            goto out;
        }
        size_t got = ZSTD_decompressDCtx(c->dctx, b->data, (size_t)size, p, n);
        if (ZSTD_isError(got) || got != (size_t)size) {
            hd_log(HD_LOG_ERROR, "store: raws %lld: does not decompress", (long long)rid);
            goto out;
        }
    }
    *out = b;
    b = NULL;
    rc = HD_OK;
out:
    sqlite3_reset(q);
    sq_blob_release(s, b);
    return rc;
}

/* Makes c->blob the blob rid: the one c holds, one in the store's cache, or
 * read and decompressed (then cached if not too large). */
static int blob_use(struct sq_store *s, struct sq_conn *c, int64_t rid)
{
    if (c->blob != NULL && c->blob->rid == rid) {
        return HD_OK;
    }
    sq_blob_release(s, c->blob);
    c->blob = NULL;
    pthread_mutex_lock(&s->blob_mu);
    for (size_t i = 0; i < SQ_BLOB_CACHE_SLOTS; i++) {
        struct sq_blob *b = s->blob_slot[i];
        if (b != NULL && b->rid == rid) {
            atomic_fetch_add(&b->refs, 1);
            c->blob = b;
            break;
        }
    }
    pthread_mutex_unlock(&s->blob_mu);
    if (c->blob != NULL) {
        return HD_OK;
    }
    struct sq_blob *b = NULL;
    int rc = blob_load(s, c, rid, &b);
    if (rc != HD_OK) {
        return rc;
    }
    c->blob = b;
    if (b->len <= SQ_BLOB_CACHE_MAX) {
        atomic_fetch_add(&b->refs, 1);
        pthread_mutex_lock(&s->blob_mu);
        struct sq_blob *old = s->blob_slot[s->blob_next];
        s->blob_slot[s->blob_next] = b;
        s->blob_next = (s->blob_next + 1) % SQ_BLOB_CACHE_SLOTS;
        pthread_mutex_unlock(&s->blob_mu);
        sq_blob_release(s, old);
    }
    return HD_OK;
}

/* raw_enc 1: one zstd frame that records its content size. A corrupt frame
 * fails the read like an allocation failure would (the row stays as it is). */
int sq_raw_locate(struct sq_store *s, struct sq_conn *c, sqlite3_stmt *st, int64_t seq, struct raw_src *r)
{
    *r = (struct raw_src){.enc = -1};
    if (sqlite3_column_type(st, 19) == SQLITE_NULL) {
        return HD_OK;
    }
    const void *p = sqlite3_column_blob(st, 19);
    size_t n = (size_t)sqlite3_column_bytes(st, 19);
    int enc = sqlite3_column_int(st, 20);
    if (enc == 1) {
        unsigned long long size = ZSTD_getFrameContentSize(p, n);
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
            size >= (unsigned long long)INT_MAX) {
            hd_log(HD_LOG_ERROR, "store: event %lld: raw is not a valid zstd frame", (long long)seq);
            return HD_EIO;
        }
        *r = (struct raw_src){.enc = 1, .p = p, .n = n, .size = (size_t)size};
        return HD_OK;
    }
    if (enc == 2) {
        struct blob_ref ref;
        if (sq_ref_decode(p, n, &ref) != HD_OK) {
            hd_log(HD_LOG_ERROR, "store: event %lld: bad raw reference", (long long)seq);
            return HD_EIO;
        }
        int rc = blob_use(s, c, ref.rid);
        if (rc != HD_OK) {
            return rc;
        }
        if ((uint64_t)ref.off > c->blob->len || (uint64_t)ref.len > c->blob->len - (uint64_t)ref.off) {
            hd_log(HD_LOG_ERROR, "store: event %lld: raw reference outside its blob", (long long)seq);
            return HD_EIO;
        }
        *r = (struct raw_src){.enc = 2, .p = c->blob->data + ref.off, .size = (size_t)ref.len};
        return HD_OK;
    }
    *r = (struct raw_src){.enc = 0, .p = p, .size = n};
    return HD_OK;
}

int sq_raw_copy(struct sq_conn *c, const struct raw_src *r, int64_t seq, char *dst)
{
    if (r->enc == 1) {
        if (dctx_of(c) == NULL) {
            return HD_ENOMEM;
        }
        size_t got = ZSTD_decompressDCtx(c->dctx, dst, r->size, r->p, r->n);
        if (ZSTD_isError(got) || got != r->size) {
            hd_log(HD_LOG_ERROR, "store: event %lld: raw does not decompress", (long long)seq);
            return HD_EIO;
        }
    } else if (r->size > 0) {
        memcpy(dst, r->p, r->size);
    }
    dst[r->size] = '\0';
    return HD_OK;
}
