/* decode_bench.c - CPU cost of hd_ingest_decode per event.
 *
 * Usage: decode_bench FIXTURE [ROUNDS]. The fixture (one JSON object,
 * pretty-printed or not) is compacted to one line and repeated 1,000 times
 * as an NDJSON body, like bench/loadgen's batches; the body is decoded
 * ROUNDS times (default 200) and the process CPU time per event printed.
 * Then the same event alone, as one application/json body per request (the
 * single-event path), decoded 1,000 times per round. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "input/decoder.h"

static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Decodes body (content type ct) per_round times in each of rounds rounds:
 * the CPU time of all rounds and of the fastest one. */
static int time_rounds(const char *body, size_t len, const char *ct, int per_round, int rounds, double *total,
                       double *best)
{
    struct hd_batch b;
    struct hd_err err = {0};
    hd_batch_init(&b);
    *total = 0;
    *best = 1e18;
    for (int r = 0; r < rounds; r++) {
        double t0 = cpu_us();
        for (int i = 0; i < per_round; i++) {
            if (hd_ingest_decode(body, len, ct, NULL, &b, &err) != HD_OK) {
                fprintf(stderr, "decode: %s\n", err.msg);
                return 1;
            }
            hd_batch_free(&b);
            hd_batch_init(&b);
        }
        double dt = cpu_us() - t0;
        *total += dt;
        *best = dt < *best ? dt : *best;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE [ROUNDS]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 200;
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }
    static char raw[1 << 20];
    size_t n = fread(raw, 1, sizeof(raw), f);
    fclose(f);
    struct hd_err err = {0};
    json_object *o = hd_json_parse(raw, n, &err);
    if (o == NULL) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 1;
    }
    struct hd_buf line, body;
    hd_buf_init(&line, 0);
    hd_buf_init(&body, 0);
    hd_json_append(o, &line);
    json_object_put(o);
    for (int i = 0; i < 1000; i++) {
        hd_buf_append(&body, line.p, line.len);
        hd_buf_putc(&body, '\n');
    }
    double total, best;
    if (time_rounds(body.p, body.len, "application/x-ndjson", 1, rounds, &total, &best) != 0) {
        return 1;
    }
    printf("%zu-byte event x 1000, %d rounds: %.2f us/event (best round %.2f us/event)\n", line.len, rounds,
           total / rounds / 1000, best / 1000);
    if (time_rounds(line.p, line.len, "application/json", 1000, rounds, &total, &best) != 0) {
        return 1;
    }
    printf("%zu-byte event alone (one body per event), %d x 1000: %.2f us/event (best round %.2f us/event)\n",
           line.len, rounds, total / rounds / 1000, best / 1000);
    hd_buf_free(&line);
    hd_buf_free(&body);
    return 0;
}
