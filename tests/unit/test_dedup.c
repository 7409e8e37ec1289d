/* Unit tests of lib/dedup against a real spool and store, with a clock
 * the test sets (op.now): nothing here depends on timing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dedup.h"
#include "spool.h"
#include "store.h"
#include "t.h"

static char root[] = "/tmp/hs-test-dedup-XXXXXX";

/* Append one line keyed ["<key>"] at time now, with dedup, as the
 * handler does (hs_dedup_append). Returns what hs_spool_append returns. */
static int append_keyed(hs_spool *sp, const hs_spool_opts *o, hs_store *st, const char *key,
                        int64_t now, int64_t ttl)
{
    char line[512], id[HS_ID_LEN + 1], kj[128];
    hs_dedup_op op;
    size_t id_off, ts_off;
    int n;

    n = snprintf(line, sizeof(line), "{\"id\":\"%*s\",\"received_at\":\"%*s\",\"endpoint\":\"t\","
                 "\"key\":[\"%s\"],\"headers\":{},\"event\":{}}\n", HS_ID_LEN, "", HS_TS_LEN, "",
                 key);
    id_off = strlen("{\"id\":\"");
    ts_off = id_off + HS_ID_LEN + strlen("\",\"received_at\":\"");
    snprintf(kj, sizeof(kj), "[\"%s\"]", key);
    memset(&op, 0, sizeof(op));
    op.store = st;
    op.has_key = 1;
    op.now = now;
    op.ttl = ttl;
    if (hs_dedup_hash("\"t\"", 3, kj, strlen(kj), op.hash) != 0) return -1;
    return hs_dedup_append(&op, sp, o, line, (size_t)n, id_off, ts_off, id);
}

/*
 * Issue 13, item 8: expired keys were purged at most 1,000 a minute, so
 * above about 17 keyed events a second the store grew without bound.
 * Here 50 keys a second for four minutes with a 10-second window: the
 * store must hold about the window's worth, not everything ever seen.
 */
static void test_purge_keeps_pace(void)
{
    enum { RATE = 50, SECONDS = 240, TTL = 10 };
    const int64_t t0 = 1000000;
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    char spool[128], key[64];
    hs_spool *sp = NULL;
    hs_store *st = NULL;
    int64_t s, n, most = 0;
    int j, bad = 0;

    snprintf(spool, sizeof(spool), "%s/purge", root);
    CHECK(hs_spool_open(spool, &o, 1, &sp) == 0);
    CHECK(hs_store_open(spool, 077, 1, &st) == 0);
    if (sp == NULL || st == NULL) return;
    for (s = 0; s < SECONDS; s++) {
        for (j = 0; j < RATE; j++) {
            snprintf(key, sizeof(key), "k-%lld-%d", (long long)s, j);
            if (append_keyed(sp, &o, st, key, t0 + s, TTL) != 0) bad++;
        }
        n = hs_store_key_count(st);
        if (n > most) most = n;
    }
    CHECK_MSG(bad == 0, "%d appends failed", bad);
    /* The window holds RATE * TTL live keys; purging in step with the
     * intake leaves at most as many expired ones again. */
    CHECK_MSG(most <= 2 * RATE * (TTL + 1), "the store held %lld keys at most "
              "(%d keys a second, a %d-second window, %d seconds)", (long long)most,
              RATE, TTL, SECONDS);
    /* Purging never forgets a key inside the window. */
    snprintf(key, sizeof(key), "k-%lld-%d", (long long)(SECONDS - TTL), 0);
    CHECK(append_keyed(sp, &o, st, key, t0 + SECONDS - 1, TTL) == HS_DEDUP_DUPLICATE);
    snprintf(key, sizeof(key), "k-%lld-%d", (long long)(SECONDS - 1), RATE - 1);
    CHECK(append_keyed(sp, &o, st, key, t0 + SECONDS - 1, TTL) == HS_DEDUP_DUPLICATE);
    /* Quiet afterwards: one event a minute still works the backlog off. */
    for (s = 0; s < 5; s++) {
        snprintf(key, sizeof(key), "quiet-%lld", (long long)s);
        CHECK(append_keyed(sp, &o, st, key, t0 + SECONDS + 60 * (s + 1), TTL) == 0);
    }
    n = hs_store_key_count(st);
    CHECK_MSG(n <= 5, "%lld keys after the window passed", (long long)n);
    hs_store_close(st);
    hs_spool_close(sp);
}

int main(void)
{
    char cmd[128];
    if (mkdtemp(root) == NULL) return 1;
    test_purge_keeps_pace();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0) return 1;
    return T_END();
}
