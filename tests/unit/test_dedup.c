/* Unit tests of lib/dedup against a real spool and store, with a clock
 * the test sets (op.now): nothing here depends on timing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dedup.h"
#include "recorder.h"
#include "spool.h"
#include "store.h"
#include "tailmap.h"
#include "t.h"

static char root[] = "/tmp/hs-test-dedup-XXXXXX";

/* Append one line keyed ["<key>"] at time now, with dedup, as the
 * handler does (hs_dedup_append), keeping what the process read of the
 * tail in tail (NULL: none kept, every append records its tail). The
 * operation is left in *opp when opp is not NULL. Returns what
 * hs_spool_append returns. append_op then calls hs_dedup_idle, as a
 * FastCGI process does after its answer (-1 when that fails). */
static int append_noidle(hs_spool *sp, const hs_spool_opts *o, hs_store *st, hs_dedup_tail *tail,
                         const char *key, int64_t now, int64_t ttl, hs_dedup_op *opp)
{
    char line[512], id[HS_ID_LEN + 1], kj[128];
    hs_dedup_op op;
    size_t id_off, ts_off;
    int n, rc;

    n = snprintf(line, sizeof(line), "{\"id\":\"%*s\",\"received_at\":\"%*s\",\"endpoint\":\"t\","
                 "\"key\":[\"%s\"],\"headers\":{},\"event\":{}}\n", HS_ID_LEN, "", HS_TS_LEN, "",
                 key);
    id_off = strlen("{\"id\":\"");
    ts_off = id_off + HS_ID_LEN + strlen("\",\"received_at\":\"");
    snprintf(kj, sizeof(kj), "[\"%s\"]", key);
    memset(&op, 0, sizeof(op));
    op.store = st;
    op.tail = tail;
    op.has_key = 1;
    op.now = now;
    op.ttl = ttl;
    if (hs_dedup_hash("\"t\"", 3, kj, strlen(kj), op.hash) != 0) return -1;
    rc = hs_dedup_append(&op, sp, o, line, (size_t)n, id_off, ts_off, id);
    if (opp != NULL) *opp = op;
    return rc;
}

static int append_op(hs_spool *sp, const hs_spool_opts *o, hs_store *st, hs_dedup_tail *tail,
                     const char *key, int64_t now, int64_t ttl, hs_dedup_op *opp)
{
    int rc = append_noidle(sp, o, st, tail, key, now, ttl, opp);
    /* After the answer, as hs_ctx_idle does. */
    if (tail != NULL && hs_dedup_idle(st, tail, now) != 0) return -1;
    return rc;
}

static int append_keyed(hs_spool *sp, const hs_spool_opts *o, hs_store *st, const char *key,
                        int64_t now, int64_t ttl)
{
    return append_op(sp, o, st, NULL, key, now, ttl, NULL);
}

/*
 * Issue 13, item 8: expired keys were purged at most 1,000 a minute, so
 * above about 17 keyed events a second the store grew without bound.
 * Here 50 keys a second for four minutes with a 10-second window: the
 * store must hold about the window's worth, not everything ever seen.
 * With a tail (lazy 1) keys reach the store HS_DEDUP_TAIL_KEYS at a time
 * and are purged at that pace; without one (0), one append at a time.
 */
static void test_purge_keeps_pace(int lazy)
{
    enum { RATE = 50, SECONDS = 240, TTL = 10 };
    const int64_t t0 = 1000000;
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    char spool[128], key[64];
    hs_spool *sp = NULL;
    hs_store *st = NULL;
    hs_dedup_tail *tail = lazy ? hs_dedup_tail_new() : NULL;
    int64_t s, n, most = 0;
    int j, bad = 0;

    snprintf(spool, sizeof(spool), "%s/purge%d", root, lazy);
    CHECK(hs_spool_open(spool, &o, 1, &sp) == 0);
    CHECK(hs_store_open(spool, 077, 1, &st) == 0);
    if (sp == NULL || st == NULL || (lazy && tail == NULL)) return;
    for (s = 0; s < SECONDS; s++) {
        for (j = 0; j < RATE; j++) {
            snprintf(key, sizeof(key), "k-%lld-%d", (long long)s, j);
            if (append_op(sp, &o, st, tail, key, t0 + s, TTL, NULL) != 0) bad++;
        }
        n = hs_store_key_count(st);
        if (n > most) most = n;
    }
    CHECK_MSG(bad == 0, "%d appends failed", bad);
    /* The window holds RATE * TTL live keys; purging in step with the
     * intake leaves at most as many expired ones again, and with a tail
     * a transaction's keys come at once (lazy: HS_DEDUP_TAIL_KEYS, more
     * than the window here). Without keeping pace the store ends with
     * some 6,000 of the 12,000 keys (a cap of 1,000 a transaction). */
    CHECK_MSG(most <= 2 * RATE * (TTL + 1) + (lazy ? HS_DEDUP_TAIL_KEYS : 0),
              "the store held %lld keys at most (%d keys a second, a %d-second window, "
              "%d seconds)", (long long)most, RATE, TTL, SECONDS);
    /* Purging never forgets a key inside the window. */
    snprintf(key, sizeof(key), "k-%lld-%d", (long long)(SECONDS - TTL), 0);
    CHECK(append_op(sp, &o, st, tail, key, t0 + SECONDS - 1, TTL, NULL) == HS_DEDUP_DUPLICATE);
    snprintf(key, sizeof(key), "k-%lld-%d", (long long)(SECONDS - 1), RATE - 1);
    CHECK(append_op(sp, &o, st, tail, key, t0 + SECONDS - 1, TTL, NULL) == HS_DEDUP_DUPLICATE);
    /* Quiet afterwards: one event a minute still works the backlog off. */
    for (s = 0; s < 5; s++) {
        snprintf(key, sizeof(key), "quiet-%lld", (long long)s);
        CHECK(append_op(sp, &o, st, tail, key, t0 + SECONDS + 60 * (s + 1), TTL, NULL) == 0);
    }
    n = hs_store_key_count(st);
    CHECK_MSG(n <= 5, "%lld keys after the window passed", (long long)n);
    hs_dedup_tail_free(tail);
    hs_store_close(st);
    hs_spool_close(sp);
}

/*
 * Issue 18: a process' workers split HS_DEDUP_TAIL_KEYS among their
 * tails (hs_dedup_tail_set_workers), so that four workers keep in memory
 * what one does. A tail is recorded after the answer at its batch, and
 * under the lock (no recording after the answer) at twice its batch.
 */
static void test_tail_batch(int workers)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = 4600000, ttl = 3600;
    size_t batch = workers > 1 ? HS_DEDUP_TAIL_KEYS / (size_t)workers
                 : workers == 1 ? HS_DEDUP_TAIL_KEYS : HS_DEDUP_TAIL_KEYS_MIN;
    char spool[128], key[64];
    hs_spool *sp = NULL;
    hs_store *st = NULL;
    hs_dedup_tail *tail = hs_dedup_tail_new();
    size_t i;
    int bad = 0;
    long long n;

    if (batch < HS_DEDUP_TAIL_KEYS_MIN) batch = HS_DEDUP_TAIL_KEYS_MIN;
    snprintf(spool, sizeof(spool), "%s/batch%d", root, workers);
    CHECK(tail != NULL && hs_spool_open(spool, &o, 1, &sp) == 0 &&
          hs_store_open(spool, 077, 1, &st) == 0);
    if (tail == NULL || sp == NULL || st == NULL) goto out;
    hs_dedup_tail_set_workers(tail, workers);
    /* A new tail records its first append at once. */
    bad += append_op(sp, &o, st, tail, "batch-first", now, ttl, NULL) != 0;
    for (i = 0; i + 1 < batch; i++) {
        snprintf(key, sizeof(key), "batch-%zu", i);
        bad += append_op(sp, &o, st, tail, key, now, ttl, NULL) != 0;
    }
    n = (long long)hs_store_key_count(st);
    CHECK_MSG(n == 1, "%d workers: %lld keys recorded before the batch of %zu", workers, n,
              batch);
    bad += append_op(sp, &o, st, tail, "batch-last", now, ttl, NULL) != 0;
    n = (long long)hs_store_key_count(st);
    CHECK_MSG(n == 1 + (long long)batch, "%d workers: %lld keys recorded at the batch of %zu",
              workers, n, batch);
    /* Without the recording after the answer: due under the lock at
     * twice the batch, with the append that finds it so. */
    for (i = 0; i < 2 * batch; i++) {
        snprintf(key, sizeof(key), "lock-%zu", i);
        bad += append_noidle(sp, &o, st, tail, key, now, ttl, NULL) != 0;
    }
    n = (long long)hs_store_key_count(st);
    CHECK_MSG(n == 1 + (long long)batch, "%d workers: %lld keys recorded before twice the batch",
              workers, n);
    bad += append_noidle(sp, &o, st, tail, "lock-last", now, ttl, NULL) != 0;
    n = (long long)hs_store_key_count(st);
    CHECK_MSG(n >= 1 + 3 * (long long)batch, "%d workers: %lld keys recorded past twice the "
              "batch", workers, n);
    CHECK_MSG(bad == 0, "%d appends failed", bad);
    /* Every key is still a duplicate, from the store or the tail. */
    CHECK(append_op(sp, &o, st, tail, "batch-first", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(append_op(sp, &o, st, tail, "lock-last", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
out:
    hs_dedup_tail_free(tail);
    hs_store_close(st);
    hs_spool_close(sp);
}

/* The path of the one segment in SPOOL/active/ into out; 0 or -1. */
static int active_segment(const char *spool, char *out, size_t n)
{
    char dir[256];
    struct dirent *e;
    DIR *d;
    int found = -1;

    snprintf(dir, sizeof(dir), "%s/active", spool);
    if ((d = opendir(dir)) == NULL) return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(out, n, "%s/%s", dir, e->d_name);
        found = 0;
    }
    closedir(d);
    return found;
}

/* How many lines of the file at path hold "key":["<key>"]. */
static int lines_with_key(const char *path, const char *key)
{
    char want[128], line[1024];
    FILE *f = fopen(path, "r");
    int n = 0;

    if (f == NULL) return -1;
    snprintf(want, sizeof(want), "\"key\":[\"%s\"]", key);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, want) != NULL) n++;
    fclose(f);
    return n;
}

/* Open spool's store with SQLite itself; NULL when that fails. */
static sqlite3 *open_db(const char *spool)
{
    char path[256];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/%s", spool, HS_STORE_FILE);
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* The integer the one-row query sql answers on spool's store; -1 on error. */
static long long query_int(const char *spool, const char *sql)
{
    sqlite3 *db = open_db(spool);
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (db == NULL) return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (sqlite3_close(db) != SQLITE_OK) return -1;
    return v;
}

/* Make every key of spool's store name its segment as the release before
 * the segment's id did: the name of segment file seg (a path), as text.
 * Returns how many keys, or -1. */
static int name_rows_by_text(const char *spool, const char *seg)
{
    const char *name = strrchr(seg, '/');
    sqlite3 *db = open_db(spool);
    sqlite3_stmt *s = NULL;
    int n = -1;
    if (db == NULL || name == NULL) {
        sqlite3_close(db);
        return -1;
    }
    if (sqlite3_prepare_v2(db, "UPDATE dedup SET seg = ?1", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_bind_text(s, 1, name + 1, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_DONE)
        n = sqlite3_changes(db);
    sqlite3_finalize(s);
    if (sqlite3_close(db) != SQLITE_OK) return -1;
    return n;
}

/*
 * Issue 18: what a key costs the store grows with its row, because
 * random keys dirty a B-tree leaf each and fewer rows fit a leaf. A key
 * names its line's segment by an id of HS_STORE_SEG_ID_LEN bytes, not by
 * its name (some 45 bytes, which made the rows half as long again and
 * each key's recording about 20% dearer: bench/RESULTS.md, 2026-12-05
 * night). Keys of one segment share its id, and another segment's
 * differs.
 */
static void test_seg_id(void)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = 2500000, ttl = 3600;
    char spool[128], sql[256];
    hs_spool *sp = NULL;
    hs_store *st = NULL;

    snprintf(spool, sizeof(spool), "%s/segid", root);
    CHECK(hs_spool_open(spool, &o, 1, &sp) == 0);
    CHECK(hs_store_open(spool, 077, 1, &st) == 0);
    if (sp == NULL || st == NULL) goto done;
    CHECK(append_keyed(sp, &o, st, "a", now, ttl) == 0);
    CHECK(append_keyed(sp, &o, st, "b", now, ttl) == 0);
    CHECK(hs_spool_rotate(sp, &o, 1, NULL) == 0);
    CHECK(append_keyed(sp, &o, st, "c", now, ttl) == 0);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM dedup WHERE typeof(seg) = 'blob' AND "
             "length(seg) = %d", HS_STORE_SEG_ID_LEN);
    CHECK_MSG(query_int(spool, sql) == 3, "%lld of 3 keys name their segment by its id",
              query_int(spool, sql));
    CHECK(query_int(spool, "SELECT count(DISTINCT seg) FROM dedup") == 2);
    CHECK(query_int(spool, "SELECT max(n) FROM (SELECT count(*) AS n FROM dedup GROUP BY seg)") == 2);
done:
    hs_store_close(st);
    hs_spool_close(sp);
}

/*
 * Issue 18: SQLite checkpoints on its own schedule again (outside the
 * spool lock), so a key may be durable while its line is not. A power
 * cut then leaves the store with keys past the active segment's end.
 * Here the store keeps every commit and the segment is cut back by
 * hand to after the first line, as the cut would leave it: the lost
 * events' retries must be accepted (each once), not answered
 * "duplicate", also after new lines have grown the segment back past
 * where the lost ones ended. old_rows: the keys name their segment as
 * stores did before the segment's id (by its name, as text), so that a
 * store recorded by the release before finds its lost lines too.
 */
static void test_lost_tail(int old_rows)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = 2000000, ttl = 3600;
    char spool[128], seg[512];
    hs_spool *sp = NULL;
    hs_store *st = NULL;
    struct stat sb;
    off_t first;

    snprintf(spool, sizeof(spool), "%s/lost%d", root, old_rows);
    CHECK(hs_spool_open(spool, &o, 1, &sp) == 0);
    CHECK(hs_store_open(spool, 077, 1, &st) == 0);
    if (sp == NULL || st == NULL) return;
    CHECK(append_keyed(sp, &o, st, "a", now, ttl) == 0);
    CHECK(active_segment(spool, seg, sizeof(seg)) == 0);
    CHECK(stat(seg, &sb) == 0);
    first = sb.st_size;
    CHECK(append_keyed(sp, &o, st, "b", now, ttl) == 0);
    CHECK(append_keyed(sp, &o, st, "c", now, ttl) == 0);
    CHECK(append_keyed(sp, &o, st, "b", now, ttl) == HS_DEDUP_DUPLICATE);
    if (old_rows) CHECK(name_rows_by_text(spool, seg) == 3);
    /* The cut: b's and c's lines are gone, their keys are not. */
    CHECK(truncate(seg, first) == 0);
    CHECK(append_keyed(sp, &o, st, "a", now, ttl) == HS_DEDUP_DUPLICATE);
    CHECK(append_keyed(sp, &o, st, "b", now, ttl) == 0);
    /* The segment is now as long as before the cut: c still gets in. */
    CHECK(append_keyed(sp, &o, st, "d", now, ttl) == 0);
    CHECK(append_keyed(sp, &o, st, "c", now, ttl) == 0);
    CHECK(append_keyed(sp, &o, st, "b", now, ttl) == HS_DEDUP_DUPLICATE);
    CHECK(append_keyed(sp, &o, st, "c", now, ttl) == HS_DEDUP_DUPLICATE);
    CHECK(lines_with_key(seg, "a") == 1);
    CHECK(lines_with_key(seg, "b") == 1);
    CHECK(lines_with_key(seg, "c") == 1);
    CHECK(lines_with_key(seg, "d") == 1);
    hs_store_close(st);
    hs_spool_close(sp);
}

/*
 * A store made before keys carried their line's position (dedup(k, t)
 * only) is opened, gets the columns, and its old keys still count.
 */
static void test_old_store(void)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = 3000000, ttl = 3600;
    char spool[128], sql[512], kj[32];
    unsigned char h[HS_STORE_KEY_LEN];
    hs_spool *sp = NULL;
    hs_store *st = NULL;
    sqlite3 *db = NULL;
    char hex[2 * HS_STORE_KEY_LEN + 1];
    int i;

    snprintf(spool, sizeof(spool), "%s/old", root);
    CHECK(hs_spool_open(spool, &o, 1, &sp) == 0);
    if (sp == NULL) return;
    snprintf(kj, sizeof(kj), "[\"%s\"]", "old");
    CHECK(hs_dedup_hash("\"t\"", 3, kj, strlen(kj), h) == 0);
    for (i = 0; i < HS_STORE_KEY_LEN; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
    snprintf(sql, sizeof(sql),
             "PRAGMA journal_mode=WAL;"
             "CREATE TABLE dedup(k BLOB PRIMARY KEY, t INTEGER NOT NULL) WITHOUT ROWID;"
             "CREATE INDEX dedup_t ON dedup(t);"
             "CREATE TABLE meta(name TEXT PRIMARY KEY, v) WITHOUT ROWID;"
             "CREATE TABLE attempts(seg TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
             "INSERT INTO dedup VALUES (x'%s', %lld);", hex, (long long)now);
    CHECK((db = open_db(spool)) != NULL);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_close(db) == SQLITE_OK);
    CHECK(hs_store_open(spool, 077, 0, &st) == 0);
    if (st == NULL) { hs_spool_close(sp); return; }
    CHECK(append_keyed(sp, &o, st, "old", now, ttl) == HS_DEDUP_DUPLICATE);
    CHECK(append_keyed(sp, &o, st, "new", now, ttl) == 0);
    CHECK(append_keyed(sp, &o, st, "new", now, ttl) == HS_DEDUP_DUPLICATE);
    /* It got the key filter's epoch trigger too (keyfilter.h), which
     * counted the one row inserted since. */
    CHECK(query_int(spool, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
                           " AND name = 'dedup_kf_epoch'") == 1);
    CHECK(query_int(spool, "SELECT v FROM meta WHERE name = 'kf_epoch'") == 1);
    hs_store_close(st);
    hs_spool_close(sp);
}

/* Record key k at time t, its line ending at end of segment "seg", in a
 * transaction of its own. 0 or -1. */
static int put_at(hs_store *st, const unsigned char *k, int64_t t, int64_t end)
{
    if (hs_store_begin(st) != 0) return -1;
    if (hs_store_key_put(st, k, t, "seg", end) != 0) {
        hs_store_rollback(st);
        return -1;
    }
    return hs_store_commit(st);
}

/*
 * Both layouts of the dedup table (store.c): a store made before issue
 * 18's layout (keyed 1: WITHOUT ROWID, ordered by the whole key) keeps
 * it; a new one has the rows in recording order and an index on the
 * key's first bytes. Either answers the same: two keys that share
 * those bytes are two keys (the one recorded does not make the other a
 * duplicate, forgetting one keeps the other), and a key recorded again
 * after its window is seen by its new time, purged by its old one.
 */
static void test_layouts(int keyed)
{
    char spool[128];
    unsigned char k1[HS_STORE_KEY_LEN], k2[HS_STORE_KEY_LEN];
    hs_store *st = NULL;
    sqlite3 *db = NULL;
    int purged;

    snprintf(spool, sizeof(spool), "%s/layout%d", root, keyed);
    CHECK(mkdir(spool, 0700) == 0);
    if (keyed) {
        /* The schema as the release before issue 18's layout made it. */
        CHECK((db = open_db(spool)) != NULL);
        CHECK(sqlite3_exec(db,
                  "PRAGMA journal_mode=WAL;"
                  "CREATE TABLE dedup(k BLOB PRIMARY KEY, t INTEGER NOT NULL,"
                  " seg BLOB, seg_end INTEGER) WITHOUT ROWID;"
                  "CREATE INDEX dedup_t ON dedup(t);"
                  "CREATE TABLE meta(name TEXT PRIMARY KEY, v) WITHOUT ROWID;"
                  "CREATE TABLE attempts(seg TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;",
                  NULL, NULL, NULL) == SQLITE_OK);
        CHECK(sqlite3_close(db) == SQLITE_OK);
    }
    CHECK(hs_store_open(spool, 077, !keyed, &st) == 0);
    if (st == NULL) return;
    CHECK_MSG(query_int(spool, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                               " AND name = 'dedup_k'") == !keyed,
              "the index on the key's first bytes is there only in a new store (keyed %d)", keyed);
    memset(k1, 0xa5, sizeof(k1));
    memcpy(k2, k1, sizeof(k2));
    k2[HS_STORE_KEY_LEN - 1] ^= 1;
    CHECK(put_at(st, k1, 100, 10) == 0);
    CHECK(hs_store_key_seen(st, k1, 150, 100) == 1);
    CHECK_MSG(hs_store_key_seen(st, k2, 150, 100) == 0,
              "a key sharing all but its last byte with one recorded is not seen (keyed %d)", keyed);
    /* Its window passed, recorded again. */
    CHECK(put_at(st, k1, 200, 10) == 0);
    CHECK(hs_store_key_seen(st, k1, 250, 100) == 1);
    CHECK(hs_store_key_seen(st, k1, 350, 100) == 0);
    purged = hs_store_purge(st, 150, 10);
    CHECK_MSG(purged == !keyed, "the purge took %d records (keyed %d)", purged, keyed);
    CHECK(hs_store_key_seen(st, k1, 250, 100) == 1);
    CHECK(hs_store_key_count(st) == 1);
    CHECK(put_at(st, k2, 200, 10) == 0);
    CHECK(hs_store_key_seen(st, k2, 250, 100) == 1);
    CHECK(hs_store_key_forget(st, k2) == 0);
    CHECK(hs_store_key_seen(st, k2, 250, 100) == 0);
    CHECK_MSG(hs_store_key_seen(st, k1, 250, 100) == 1,
              "forgetting a key keeps another sharing its first bytes (keyed %d)", keyed);
    CHECK(hs_store_key_forget(st, k1) == 0);
    CHECK(hs_store_key_seen(st, k1, 250, 1000) == 0);
    hs_store_close(st);
}

/* One keyed commit on st: key number i at time 1. 0 or -1. */
static int commit_key(hs_store *st, int i)
{
    unsigned char k[HS_STORE_KEY_LEN];
    memset(k, 0, sizeof(k));
    memcpy(k, &i, sizeof(i));
    return put_at(st, k, 1, (int64_t)i);
}

/*
 * Issue 18, item 3: a checkpoint is due after HS_STORE_WAL_PAGES new
 * pages, not after every commit once the WAL is that long. While another
 * process reads, SQLite cannot restart the WAL after a checkpoint, so
 * the next commits append to it; the WAL's length then stayed above the
 * threshold, and every request checkpointed (two flushes each: 1.28
 * fdatasync per request with fsync=never in bench section 8).
 */
static void test_checkpoint_cadence(void)
{
    char spool[128], db[160];
    hs_store *st = NULL;
    sqlite3 *reader = NULL;
    sqlite3_stmt *q = NULL;
    int i, bad = 0, ran, again = 0;

    snprintf(spool, sizeof(spool), "%s/cadence", root);
    CHECK(mkdir(spool, 0700) == 0);
    CHECK(hs_store_open(spool, 077, 1, &st) == 0);
    if (st == NULL) return;
    for (i = 0; i < HS_STORE_WAL_PAGES; i++) bad += commit_key(st, i) != 0;
    CHECK_MSG(bad == 0, "%d commits failed", bad);
    CHECK(hs_store_in_tx(st) == 0);
    /* Another connection in a read transaction over the WAL, as another
     * FastCGI process is between its BEGIN and COMMIT. */
    snprintf(db, sizeof(db), "%s/%s", spool, HS_STORE_FILE);
    CHECK(sqlite3_open_v2(db, &reader, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(reader, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(reader, "SELECT count(*) FROM dedup", -1, &q, NULL) == SQLITE_OK);
    CHECK(q != NULL && sqlite3_step(q) == SQLITE_ROW);
    ran = hs_store_checkpoint_if_due(st);
    CHECK_MSG(ran == 1, "a WAL of %d commits: a checkpoint (%d)", HS_STORE_WAL_PAGES, ran);
    /* A few more commits: the WAL grows from where it was. */
    for (i = 0; i < 3; i++) {
        bad += commit_key(st, 1000 + i) != 0;
        if (hs_store_checkpoint_if_due(st) != 0) again++;
    }
    CHECK_MSG(bad == 0, "%d commits failed", bad);
    CHECK_MSG(again == 0, "%d of 3 commits right after a checkpoint checkpointed again", again);
    /* HS_STORE_WAL_PAGES pages later it is due again. */
    for (i = 0; i < HS_STORE_WAL_PAGES; i++) bad += commit_key(st, 2000 + i) != 0;
    ran = hs_store_checkpoint_if_due(st);
    CHECK_MSG(ran == 1, "%d pages after the last checkpoint: another (%d)",
              HS_STORE_WAL_PAGES, ran);
    sqlite3_finalize(q);
    CHECK(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_close(reader) == SQLITE_OK);
    hs_store_close(st);
}

/* The size of SPOOL/state.db-wal, or -1. */
static long long wal_size(const char *spool)
{
    char path[256];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s-wal", spool, HS_STORE_FILE);
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/*
 * Issue 18, item 2: the first commit after a checkpoint restarts the WAL,
 * and SQLite then cuts the file to journal_size_limit, inside that write
 * transaction, under the spool lock. With a limit below what a
 * checkpoint's worth of pages takes, every restart truncated the WAL and
 * the next commits grew it again; on a filesystem mounted with discard
 * one such ftruncate took 230 ms under strace (the default row's p99 was
 * 110 ms against a p50 of 4.6 ms). A WAL of the checkpoint cadence's size
 * is reused in place.
 */
static void test_wal_reused(void)
{
    char spool[128];
    hs_store *st = NULL;
    long long before, after;
    int i, bad = 0;

    snprintf(spool, sizeof(spool), "%s/walreuse", root);
    CHECK(mkdir(spool, 0700) == 0);
    CHECK(hs_store_open(spool, 077, 1, &st) == 0);
    if (st == NULL) return;
    /* Commits until the WAL holds twice the cadence's pages (how many
     * pages a commit writes depends on the layout, store.c), which is
     * still under HS_STORE_WAL_KEEP. */
    for (i = 0; i < 8 * HS_STORE_WAL_PAGES && wal_size(spool) <= 2 * HS_STORE_WAL_PAGES * 4096LL;
         i++)
        bad += commit_key(st, i) != 0;
    CHECK_MSG(bad == 0, "%d commits failed", bad);
    CHECK(hs_store_checkpoint_if_due(st) == 1);
    before = wal_size(spool);
    CHECK_MSG(before > 2 * HS_STORE_WAL_PAGES * 4096LL, "the WAL holds the commits (%lld bytes)",
              before);
    CHECK(commit_key(st, 5000) == 0);          /* restarts the WAL */
    after = wal_size(spool);
    CHECK_MSG(after == before, "the WAL in place after its restart (%lld bytes, then %lld)",
              before, after);
    /* A new connection (a new CGI or FastCGI process) finds a long WAL
     * file holding one commit: nothing is due before it commits, and a
     * commit of its own makes due only what the WAL holds. */
    {
        hs_store *st2 = NULL;
        CHECK(hs_store_open(spool, 077, 0, &st2) == 0);
        if (st2 != NULL) {
            CHECK_MSG(hs_store_checkpoint_if_due(st2) == 0,
                      "a new connection on a %lld-byte WAL of one commit: no checkpoint", after);
            CHECK(commit_key(st2, 6000) == 0);
            CHECK(hs_store_checkpoint_if_due(st2) == 0);
            hs_store_close(st2);
        }
    }
    hs_store_close(st);
}

/* Two writers on one spool, as two processes are: each with its own
 * spool handle, store connection and tail. */
typedef struct writers {
    hs_spool      *sp[2];
    hs_store      *st[2];
    hs_dedup_tail *t[2];
} writers;

static void writers_close(writers *w);

/* Open both on SPOOL/name (created); 0, or -1 with whatever opened closed. */
static int writers_open(writers *w, const hs_spool_opts *o, const char *name, char *spool,
                        size_t n)
{
    int i, bad = 0;
    memset(w, 0, sizeof(*w));
    snprintf(spool, n, "%s/%s", root, name);
    for (i = 0; i < 2; i++) {
        bad += hs_spool_open(spool, o, 1, &w->sp[i]) != 0;
        bad += hs_store_open(spool, 077, 1, &w->st[i]) != 0;
        bad += (w->t[i] = hs_dedup_tail_new()) == NULL;
    }
    CHECK(bad == 0);
    if (bad != 0) writers_close(w);
    return bad ? -1 : 0;
}

static void writers_close(writers *w)
{
    int i;
    for (i = 0; i < 2; i++) {
        hs_dedup_tail_free(w->t[i]);
        hs_store_close(w->st[i]);
        hs_spool_close(w->sp[i]);
    }
}

/* Writer i appends key at now with window ttl (append_op). */
static int wappend(writers *w, int i, const hs_spool_opts *o, const char *key, int64_t now,
                   int64_t ttl, hs_dedup_op *opp)
{
    return append_op(w->sp[i], o, w->st[i], w->t[i], key, now, ttl, opp);
}

/* The stored hash of key ["<key>"] on endpoint "t" (append_noidle's). */
static int key_hash(const char *key, unsigned char h[HS_STORE_KEY_LEN])
{
    char kj[128];
    snprintf(kj, sizeof(kj), "[\"%s\"]", key);
    return hs_dedup_hash("\"t\"", 3, kj, strlen(kj), h);
}

/*
 * Issue 18: the tail's filter skips the walk over the tail when no key
 * there shares the new hash's first 18 bits (dedup.c filter_bit). Two
 * different keys that do share them (found by the birthday bound, some
 * hundreds of tries) must
 * still be told apart by the walk: the second is a new event, and each
 * is then a duplicate, for the writer that appended it and for the
 * other, whose tail read it from the spool. After the tail is recorded
 * (the filter is made again from what remains), the store answers.
 */
static void test_tail_filter(void)
{
    enum { TRIES = 16384, BITS = 262144 };
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = 4500000, ttl = 3600;
    static int seen[BITS];
    unsigned char h[HS_STORE_KEY_LEN];
    char spool[128], a[32] = "", b[32] = "", key[64];
    writers w;
    int i, bad = 0;

    memset(seen, 0, sizeof(seen));
    for (i = 1; i <= TRIES && a[0] == '\0'; i++) {
        int p;
        snprintf(key, sizeof(key), "flt-%d", i);
        if (key_hash(key, h) != 0) break;
        p = h[0] << 10 | h[1] << 2 | h[2] >> 6;
        if (seen[p] != 0) {
            snprintf(a, sizeof(a), "flt-%d", seen[p]);
            snprintf(b, sizeof(b), "flt-%d", i);
        }
        seen[p] = i;
    }
    CHECK_MSG(a[0] != '\0', "two keys sharing a hash's first 18 bits in %d tries", TRIES);
    if (a[0] == '\0' || writers_open(&w, &o, "filter", spool, sizeof(spool)) != 0) return;
    /* The first append records at once (a new tail); a stays in the tail. */
    CHECK(wappend(&w, 0, &o, "filter-first", now, ttl, NULL) == 0);
    CHECK(wappend(&w, 0, &o, a, now, ttl, NULL) == 0);
    CHECK_MSG(wappend(&w, 0, &o, b, now, ttl, NULL) == 0,
              "%s is a new event, though %s in the tail shares its filter bit", b, a);
    CHECK(hs_store_key_count(w.st[0]) == 1);
    CHECK(wappend(&w, 0, &o, a, now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(wappend(&w, 0, &o, b, now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(wappend(&w, 1, &o, b, now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(wappend(&w, 1, &o, a, now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    /* Fill the tail until it is recorded and trimmed, then look again. */
    for (i = 0; i < HS_DEDUP_TAIL_KEYS; i++) {
        snprintf(key, sizeof(key), "filter-fill-%d", i);
        bad += wappend(&w, i % 2, &o, key, now, ttl, NULL) != 0;
    }
    CHECK_MSG(bad == 0, "%d appends failed", bad);
    CHECK_MSG(hs_store_key_count(w.st[0]) >= 3, "the tail was recorded (%lld keys)",
              (long long)hs_store_key_count(w.st[0]));
    for (i = 0; i < 2; i++) {
        CHECK(wappend(&w, i, &o, a, now, ttl, NULL) == HS_DEDUP_DUPLICATE);
        CHECK(wappend(&w, i, &o, b, now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    }
    writers_close(&w);

    /* A trim that keeps keys: writer 1 records its tail after writer 0
     * appended one more line, so writer 0's next look drops the recorded
     * prefix of its tail and keeps "late", which only the tail knows. */
    if (writers_open(&w, &o, "filter-trim", spool, sizeof(spool)) != 0) return;
    bad = wappend(&w, 0, &o, "trim-first", now, ttl, NULL) != 0;
    for (i = 0; i <= HS_DEDUP_TAIL_KEYS; i++) {
        snprintf(key, sizeof(key), "trim-fill-%d", i);
        bad += append_noidle(w.sp[1], &o, w.st[1], w.t[1], key, now, ttl, NULL) != 0;
    }
    bad += append_noidle(w.sp[0], &o, w.st[0], w.t[0], "late", now, ttl, NULL) != 0;
    CHECK_MSG(bad == 0, "%d appends failed", bad);
    CHECK(hs_dedup_idle(w.st[1], w.t[1], now) == 0);
    CHECK_MSG(hs_store_key_count(w.st[0]) == HS_DEDUP_TAIL_KEYS + 2,
              "writer 1 recorded its tail, without \"late\" (%lld keys)",
              (long long)hs_store_key_count(w.st[0]));
    CHECK_MSG(append_noidle(w.sp[0], &o, w.st[0], w.t[0], "late", now, ttl, NULL) ==
              HS_DEDUP_DUPLICATE, "the tail still finds \"late\" after its trim");
    writers_close(&w);
}

/* Files in SPOOL/sub. */
static int files_in(const char *spool, const char *sub)
{
    char dir[256];
    DIR *d;
    struct dirent *de;
    int n = 0;
    snprintf(dir, sizeof(dir), "%s/%s", spool, sub);
    if ((d = opendir(dir)) == NULL) return -1;
    while ((de = readdir(d)) != NULL) n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/*
 * Issue 18: the seal records whatever of the tail is left, under the
 * spool lock, and flushes the store there (seal_hook): with the tail
 * recorded only HS_DEDUP_TAIL_KEYS keys at a time that was up to 1,023
 * keys and their WAL frames, a stall for every writer once a segment
 * (the p99 and, with a larger batch, most of it). In the last stretch
 * of a segment the tail is recorded after the answer from
 * HS_DEDUP_NEAR_KEYS keys on, so a seal finds fewer than that left.
 */
static void test_near_seal(void)
{
    enum { ROT = 1 << 20 };
    hs_spool_opts o = { ROT, 1LL << 40, 0, 077 };
    const int64_t ttl = 3600;
    int64_t now = 4600000;
    char spool[128], key[64], cseg[HS_STORE_SEG_MAX];
    unsigned char h[HS_STORE_KEY_LEN];
    uint64_t bytes = 0, line = 0, left, worst_near = 0, worst = 0;
    int64_t coff = -1;
    int i, bad = 0, sealed = 0, near = 0;
    hs_recorder *r;
    pthread_t th;
    writers w;

    if (writers_open(&w, &o, "near", spool, sizeof(spool)) != 0) return;
    for (i = 0; i < 3 * ROT / 100 && !sealed; i++) {
        snprintf(key, sizeof(key), "near-%06d", i);
        bad += wappend(&w, 0, &o, key, now, ttl, NULL) != 0;
        if (files_in(spool, "ready") > 0) { sealed = 1; break; }
        if (hs_store_cursor_get(w.st[0], cseg, &coff) != 0) { bad++; break; }
        if (line == 0) {
            /* Every line has the same length: the first one's. */
            char seg[300];
            struct stat st;
            if (active_segment(spool, seg, sizeof(seg)) != 0 || stat(seg, &st) != 0 ||
                st.st_size == 0) { bad++; break; }
            line = (uint64_t)st.st_size;
        }
        bytes += line;
        left = (bytes - (coff > 0 ? (uint64_t)coff : 0)) / line;
        near |= bytes >= ROT - ROT / 8;
        if (bytes >= ROT - ROT / 8 && left > worst_near) worst_near = left;
        if (bytes < ROT - ROT / 8 && left > worst) worst = left;
    }
    CHECK_MSG(bad == 0, "%d appends failed", bad);
    CHECK_MSG(sealed && near, "the segment reached its last eighth (%d) and was sealed (%d)",
              near, sealed);
    CHECK_MSG(worst >= HS_DEDUP_NEAR_KEYS,
              "before its last eighth the tail waits for more keys (at most %llu left)",
              (unsigned long long)worst);
    CHECK_MSG(worst_near < HS_DEDUP_NEAR_KEYS,
              "in the segment's last eighth the tail is recorded from %d keys on "
              "(%llu were left unrecorded)", HS_DEDUP_NEAR_KEYS, (unsigned long long)worst_near);
    /* Every key is still known, the sealed segment's too. */
    CHECK(key_hash("near-000005", h) == 0);
    CHECK(wappend(&w, 0, &o, "near-000005", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(wappend(&w, 1, &o, key, now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    writers_close(&w);

    /* The same through a recorder (FastCGI's): the copy it takes knows
     * the seal is near, and records HS_DEDUP_NEAR_KEYS keys. The
     * recorder reads the real clock, so the keys are stamped with it. */
    now = (int64_t)time(NULL);
    if (writers_open(&w, &o, "near-rec", spool, sizeof(spool)) != 0) return;
    for (i = 0, bytes = 0; bytes + line < ROT - ROT / 8 && bad == 0; i++, bytes += line) {
        snprintf(key, sizeof(key), "nrec-%06d", i);
        bad += wappend(&w, 0, &o, key, now, ttl, NULL) != 0;
    }
    for (near = 0; near < HS_DEDUP_NEAR_KEYS && bad == 0; near++, i++) {
        snprintf(key, sizeof(key), "nrec-%06d", i);
        bad += append_noidle(w.sp[0], &o, w.st[0], w.t[0], key, now, ttl, NULL) != 0;
    }
    CHECK_MSG(bad == 0, "%d appends failed", bad);
    if (bad == 0 && (r = hs_recorder_new()) != NULL) {
        int64_t before = hs_store_key_count(w.st[0]), after;
        CHECK_MSG(before <= i - HS_DEDUP_NEAR_KEYS, "%lld of %d keys recorded before the offer",
                  (long long)before, i);
        CHECK(hs_recorder_offer(r, w.st[0], spool, 077, w.t[0]) == 1);
        if (pthread_create(&th, NULL, hs_recorder_main, r) == 0) {
            hs_recorder_drain(r);
            hs_recorder_stop(r);
            CHECK(pthread_join(th, NULL) == 0);
        } else {
            CHECK(0);
        }
        after = hs_store_key_count(w.st[0]);
        CHECK_MSG(after == i, "the recorder recorded the tail near the seal: %lld of %d keys",
                  (long long)after, i);
        hs_recorder_free(r);
    }
    writers_close(&w);
}

/*
 * Issue 18: the keys of the active segment's tail are looked up in the
 * lines themselves and go into the store together, HS_DEDUP_TAIL_KEYS at
 * a time after an answer, instead of one store transaction per append
 * under the spool lock. Two "processes" (each its own spool handle, store
 * connection and tail) append to one spool: each finds the other's keys
 * in the tail, the store takes them all when the tail is full and at the
 * seal, and the window still ends keys in the tail.
 */
static void test_tail(void)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = 4000000, ttl = 3600;
    char spool[128], key[64], seg[512];
    writers w;
    int i, bad = 0, sealed = 0;
    int64_t n;

    if (writers_open(&w, &o, "tail", spool, sizeof(spool)) != 0) return;
    /* The first append records (a new tail has not looked at the room
     * yet); the next HS_DEDUP_TAIL_KEYS - 1 stay in the tail. */
    for (i = 0; i < HS_DEDUP_TAIL_KEYS; i++) {
        snprintf(key, sizeof(key), "tail-%d", i);
        bad += wappend(&w, i % 2, &o, key, now, ttl, NULL) != 0;
    }
    CHECK_MSG(bad == 0, "%d appends failed", bad);
    n = hs_store_key_count(w.st[0]);
    CHECK_MSG(n == 1, "%lld keys in the store after %d appends: only the first one's",
              (long long)n, HS_DEDUP_TAIL_KEYS);
    /* Each finds every key in the tail, its own and the other's. */
    for (i = 0; i < HS_DEDUP_TAIL_KEYS; i++) {
        snprintf(key, sizeof(key), "tail-%d", i);
        bad += wappend(&w, 0, &o, key, now, ttl, NULL) != HS_DEDUP_DUPLICATE;
        bad += wappend(&w, 1, &o, key, now, ttl, NULL) != HS_DEDUP_DUPLICATE;
    }
    CHECK_MSG(bad == 0, "%d of %d retries were not duplicates", bad, 2 * HS_DEDUP_TAIL_KEYS);
    CHECK(active_segment(spool, seg, sizeof(seg)) == 0);
    CHECK(lines_with_key(seg, "tail-1") == 1);
    CHECK(hs_store_key_count(w.st[0]) == 1);
    /* One more new key: the tail holds HS_DEDUP_TAIL_KEYS, and after the
     * answer (hs_dedup_idle, outside the spool lock) the store takes
     * them. */
    CHECK(wappend(&w, 1, &o, "one-more", now, ttl, NULL) == 0);
    n = hs_store_key_count(w.st[0]);
    CHECK_MSG(n == 1 + HS_DEDUP_TAIL_KEYS, "%lld keys in the store after the catch-up",
              (long long)n);
    /* The other writer's tail knew them too: now the store answers. */
    CHECK(wappend(&w, 0, &o, "tail-2", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    /* ... and a new tail (a new process) finds them in the store. */
    {
        hs_dedup_tail *t3 = hs_dedup_tail_new();
        CHECK(t3 != NULL && append_op(w.sp[1], &o, w.st[1], t3, "tail-5", now, ttl, NULL) ==
              HS_DEDUP_DUPLICATE);
        hs_dedup_tail_free(t3);
    }
    CHECK(wappend(&w, 0, &o, "one-more", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    /* An expired key in the tail is not a duplicate. (Read at `now`: a
     * line's time is its received_at, at most the clock, and the clock
     * here is the test's, far behind received_at.) */
    CHECK(wappend(&w, 0, &o, "short", now, 10, NULL) == 0);
    CHECK(wappend(&w, 1, &o, "short", now, 10, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(wappend(&w, 1, &o, "short", now + 11, 10, NULL) == 0);
    CHECK(lines_with_key(seg, "short") == 2);
    /* Sealing records the tail first. */
    CHECK(hs_dedup_rotate(w.sp[0], &o, 1, &sealed) == 0 && sealed == 1);
    n = hs_store_key_count(w.st[0]);
    CHECK_MSG(n == HS_DEDUP_TAIL_KEYS + 2, "%lld keys in the store after the seal",
              (long long)n);
    CHECK(wappend(&w, 1, &o, "tail-3", now + 11, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(wappend(&w, 0, &o, "one-more", now + 11, ttl, NULL) == HS_DEDUP_DUPLICATE);
    writers_close(&w);
}

/*
 * SPEC promise 5's exception with the keys in the tail: after a failed
 * flush hs_dedup_forget forgets the keys the append wrote, for this
 * process and for another one that has read them, so the retry is a
 * second line; keys of other lines stay.
 */
static void test_forget_tail(void)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = 5000000, ttl = 3600;
    char spool[128], seg[512];
    writers w;
    hs_dedup_op op;

    if (writers_open(&w, &o, "forget", spool, sizeof(spool)) != 0) return;
    CHECK(wappend(&w, 0, &o, "kept", now, ttl, NULL) == 0);
    CHECK(wappend(&w, 0, &o, "unflushed", now, ttl, &op) == 0 && op.recorded);
    CHECK(hs_store_key_count(w.st[0]) == 1);            /* "unflushed" is in the tail */
    CHECK(wappend(&w, 1, &o, "unflushed", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(hs_dedup_forget(&op, w.sp[0], &o) == 0);
    CHECK(wappend(&w, 1, &o, "unflushed", now, ttl, NULL) == 0);
    CHECK(wappend(&w, 0, &o, "unflushed", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(wappend(&w, 0, &o, "kept", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(active_segment(spool, seg, sizeof(seg)) == 0);
    CHECK(lines_with_key(seg, "unflushed") == 2);
    CHECK(lines_with_key(seg, "kept") == 1);
    writers_close(&w);
}

/*
 * hs_dedup_idle runs outside the spool lock, possibly long after its
 * tail was read: it must never record what others recorded or forgot
 * since. Writer 0's tail is full and waiting; writer 1 forgets a key
 * after a failed flush (recording the whole tail first), then seals;
 * writer 0's late hs_dedup_idle must bring neither the forgotten key nor
 * the old segment's cursor back.
 */
/* The cursor of st into seg/off; 0 or -1. */
static int cursor_of(hs_store *st, char seg[HS_STORE_SEG_MAX], int64_t *off)
{
    return hs_store_cursor_get(st, seg, off) == 0 ? 0 : -1;
}

/* hs_dedup_idle(t) on st changes neither the cursor nor the keys. */
static void check_idle_idle(hs_store *st, hs_dedup_tail *t, int64_t now, const char *when)
{
    char a[HS_STORE_SEG_MAX], b[HS_STORE_SEG_MAX];
    int64_t ao = -1, bo = -1, n = hs_store_key_count(st);

    CHECK(cursor_of(st, a, &ao) == 0);
    CHECK(hs_dedup_idle(st, t, now) == 0);
    CHECK(cursor_of(st, b, &bo) == 0);
    CHECK_MSG(strcmp(a, b) == 0 && ao == bo, "%s: the cursor moved from %s:%lld to %s:%lld",
              when, a, (long long)ao, b, (long long)bo);
    CHECK_MSG(hs_store_key_count(st) == n, "%s: %lld keys, then %lld", when, (long long)n,
              (long long)hs_store_key_count(st));
}

static void test_idle_late(void)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = 6000000, ttl = 3600;
    char spool[128], key[64], seg[512];
    writers w;
    hs_dedup_op op;
    int i, bad = 0, sealed = 0;

    if (writers_open(&w, &o, "late", spool, sizeof(spool)) != 0) return;
    /* (a new tail records at once: each writer's first append) */
    CHECK(wappend(&w, 0, &o, "warm-0", now, ttl, NULL) == 0);
    CHECK(wappend(&w, 1, &o, "warm-1", now, ttl, NULL) == 0);
    for (i = 0; i < HS_DEDUP_TAIL_KEYS - 2; i++) {
        snprintf(key, sizeof(key), "late-%d", i);
        bad += wappend(&w, 0, &o, key, now, ttl, NULL) != 0;
    }
    CHECK_MSG(bad == 0, "%d appends failed", bad);
    CHECK(hs_store_key_count(w.st[0]) == 1);
    CHECK(append_noidle(w.sp[1], &o, w.st[1], w.t[1], "victim", now, ttl, &op) == 0);
    CHECK(append_noidle(w.sp[0], &o, w.st[0], w.t[0], "last", now, ttl, NULL) == 0);
    CHECK(hs_store_key_count(w.st[0]) == 1);    /* writer 0's tail: full, waiting */
    CHECK(active_segment(spool, seg, sizeof(seg)) == 0);
    /* writer 1's flush failed: forget "victim"; its retry is new, and
     * writer 1 records that too (the cursor passes writer 0's tail) */
    CHECK(hs_dedup_forget(&op, w.sp[1], &o) == 0);
    /* warm-0, warm-1, the late ones and "last": all but "victim" */
    CHECK(hs_store_key_count(w.st[1]) == HS_DEDUP_TAIL_KEYS + 1);
    CHECK(append_noidle(w.sp[1], &o, w.st[1], w.t[1], "victim", now, ttl, NULL) == 0);
    CHECK(hs_dedup_rotate(w.sp[1], &o, 0, &sealed) == 0 && sealed == 0);
    check_idle_idle(w.st[0], w.t[0], now, "a late idle in the same segment");
    CHECK(lines_with_key(seg, "victim") == 2);
    /* writer 0 fills its tail again; writer 1 seals, starts a new segment
     * and records it: writer 0's late idle changes nothing */
    for (i = 0; i < HS_DEDUP_TAIL_KEYS; i++) {
        snprintf(key, sizeof(key), "again-%d", i);
        bad += append_noidle(w.sp[0], &o, w.st[0], w.t[0], key, now, ttl, NULL) != 0;
    }
    CHECK_MSG(bad == 0, "%d appends failed", bad);
    CHECK(hs_dedup_rotate(w.sp[1], &o, 1, &sealed) == 0 && sealed == 1);
    CHECK(append_noidle(w.sp[1], &o, w.st[1], w.t[1], "new-segment", now, ttl, NULL) == 0);
    CHECK(hs_dedup_rotate(w.sp[1], &o, 0, &sealed) == 0);
    check_idle_idle(w.st[0], w.t[0], now, "a late idle after a seal");
    CHECK(wappend(&w, 0, &o, "again-7", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(wappend(&w, 0, &o, "victim", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(wappend(&w, 0, &o, "new-segment", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    writers_close(&w);
}

/* Writer i appends keys prefix-0 .. prefix-(n-1) without an idle call;
 * the number that failed. */
static int fill(writers *w, int i, const hs_spool_opts *o, const char *prefix, int n,
                int64_t now, int64_t ttl)
{
    char key[64];
    int k, bad = 0;
    for (k = 0; k < n; k++) {
        snprintf(key, sizeof(key), "%s-%d", prefix, k);
        bad += append_noidle(w->sp[i], o, w->st[i], w->t[i], key, now, ttl, NULL) != 0;
    }
    return bad;
}

/*
 * Issue 18: a FastCGI process records its tails on a recorder thread
 * (recorder.h), so no worker stalls for a recording. An offered full tail
 * is copied and recorded by the thread with its own store connection; an
 * offer while a copy waits, or of a tail already taken, is refused, and
 * so is an offer after the stop; what the recorder recorded every writer
 * finds; a stopped recorder records what it holds, then ends. (The
 * recorder's clock is the real one, so this test's is too.)
 */
static void test_recorder(void)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = (int64_t)time(NULL), ttl = 3600;
    char spool[128], longpath[PATH_MAX + 8];
    writers w;
    hs_recorder *r;
    pthread_t th;
    int64_t n;

    if (writers_open(&w, &o, "recorder", spool, sizeof(spool)) != 0) return;
    if ((r = hs_recorder_new()) == NULL) {
        CHECK(r != NULL);
        writers_close(&w);
        return;
    }
    /* The first append records at once; then writer 0's tail is full. */
    CHECK(fill(&w, 0, &o, "rec", HS_DEDUP_TAIL_KEYS + 1, now, ttl) == 0);
    CHECK(hs_store_key_count(w.st[0]) == 1);
    CHECK(hs_recorder_offer(r, w.st[1], spool, 077, w.t[1]) == 0);        /* empty: not worth it */
    CHECK(hs_recorder_offer(r, w.st[0], spool, 077, w.t[0]) == 1);
    CHECK(hs_recorder_offer(r, w.st[0], spool, 077, w.t[0]) == 0);        /* a copy waits */
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    CHECK(hs_recorder_offer(r, w.st[0], longpath, 077, w.t[0]) == -ENAMETOOLONG);
    CHECK(hs_store_key_count(w.st[0]) == 1);                /* no thread yet */
    if (pthread_create(&th, NULL, hs_recorder_main, r) != 0) {
        CHECK(0);
        hs_recorder_free(r);
        writers_close(&w);
        return;
    }
    hs_recorder_drain(r);
    n = hs_store_key_count(w.st[0]);
    CHECK_MSG(n == HS_DEDUP_TAIL_KEYS + 1, "%lld keys in the store after the recorder",
              (long long)n);
    CHECK(hs_recorder_offer(r, w.st[0], spool, 077, w.t[0]) == 0);        /* taken already */
    /* A new tail (a new process) finds them in the store, the writer that
     * offered its tail in it or the store. */
    CHECK(append_noidle(w.sp[1], &o, w.st[1], w.t[1], "rec-5", now, ttl, NULL) ==
          HS_DEDUP_DUPLICATE);
    CHECK(append_noidle(w.sp[0], &o, w.st[0], w.t[0], "rec-7", now, ttl, NULL) ==
          HS_DEDUP_DUPLICATE);
    /* The next full tail is new to it: taken; the stop comes before the
     * thread could get to it, and it is still recorded. */
    CHECK(fill(&w, 0, &o, "more", HS_DEDUP_TAIL_KEYS, now, ttl) == 0);
    CHECK(hs_recorder_offer(r, w.st[0], spool, 077, w.t[0]) == 1);
    hs_recorder_stop(r);
    CHECK(pthread_join(th, NULL) == 0);
    n = hs_store_key_count(w.st[0]);
    CHECK_MSG(n == 2 * HS_DEDUP_TAIL_KEYS + 1, "%lld keys in the store after the stop",
              (long long)n);
    CHECK(fill(&w, 1, &o, "after", HS_DEDUP_TAIL_KEYS, now, ttl) == 0);
    CHECK(hs_recorder_offer(r, w.st[1], spool, 077, w.t[1]) == 0);        /* stopped */
    CHECK(append_noidle(w.sp[1], &o, w.st[1], w.t[1], "more-9", now, ttl, NULL) ==
          HS_DEDUP_DUPLICATE);
    hs_recorder_free(r);
    writers_close(&w);
}

/*
 * The recorder opens the store by path, later than the worker read its
 * tail: if an operator replaced the spool in between (moved it away and
 * made a new one), the path's state.db is not the tail's, and the new
 * store's empty cursor would let the old keys in (false duplicates in
 * the new spool). The copy is dropped instead.
 */
static void test_recorder_replaced(void)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = (int64_t)time(NULL), ttl = 3600;
    char spool[128], moved[160];
    writers w;
    hs_recorder *r;
    hs_spool *nsp = NULL;
    hs_store *nst = NULL;
    pthread_t th;

    if (writers_open(&w, &o, "replaced", spool, sizeof(spool)) != 0) return;
    if ((r = hs_recorder_new()) == NULL || pthread_create(&th, NULL, hs_recorder_main, r) != 0) {
        CHECK(0);
        hs_recorder_free(r);
        writers_close(&w);
        return;
    }
    CHECK(fill(&w, 0, &o, "old", HS_DEDUP_TAIL_KEYS + 1, now, ttl) == 0);
    snprintf(moved, sizeof(moved), "%s.old", spool);
    CHECK(rename(spool, moved) == 0);
    CHECK(hs_spool_open(spool, &o, 1, &nsp) == 0);
    CHECK(hs_store_open(spool, 077, 1, &nst) == 0);
    if (nst != NULL) {
        CHECK(hs_recorder_offer(r, w.st[0], spool, 077, w.t[0]) == 1);
        hs_recorder_drain(r);
        CHECK_MSG(hs_store_key_count(nst) == 0, "%lld old keys in the new spool's store",
                  (long long)hs_store_key_count(nst));
        CHECK(hs_store_key_count(w.st[0]) == 1);    /* nor in the old one: dropped */
    }
    hs_recorder_stop(r);
    CHECK(pthread_join(th, NULL) == 0);
    hs_recorder_free(r);
    hs_store_close(nst);
    hs_spool_close(nsp);
    writers_close(&w);
}


/* Replace `"key":["<from>"]` by `"key":["<to>"]` (same length) in the
 * file at path, in place: what the lines say then differs from what the
 * tail map says, so an answer tells which of the two was read. */
static int rekey(const char *path, const char *from, const char *to)
{
    char want[128], with[128], buf[65536];
    ssize_t n;
    char *at;
    int fd, rc = -1;

    snprintf(want, sizeof(want), "\"key\":[\"%s\"]", from);
    snprintf(with, sizeof(with), "\"key\":[\"%s\"]", to);
    if (strlen(want) != strlen(with) || (fd = open(path, O_RDWR)) < 0) return -1;
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n > 0) {
        buf[n] = '\0';
        if ((at = strstr(buf, want)) != NULL &&
            pwrite(fd, with, strlen(with), at - buf) == (ssize_t)strlen(with))
            rc = 0;
    }
    if (close(fd) != 0) rc = -1;
    return rc;
}

/*
 * Issue 18: a writer takes the lines the others appended from the tail
 * map (SPOOL/tailmap, tailmap.h), not from the file, when the map has
 * them all; a line no map has (its writer was killed between its write
 * and the map), or a map from another boot, and it reads the file.
 * Which one was read shows by rewriting a key in the file behind the
 * map's back.
 */
static void test_tailmap(void)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = 4000000, ttl = 3600;
    char spool[128], seg[512], mpath[256], line[512], id[HS_ID_LEN + 1];
    writers w;
    int n;

    if (writers_open(&w, &o, "tailmap", spool, sizeof(spool)) != 0) return;
    CHECK(wappend(&w, 1, &o, "m-0", now, ttl, NULL) == 0);
    CHECK(wappend(&w, 0, &o, "m-1", now, ttl, NULL) == 0);
    CHECK(wappend(&w, 0, &o, "m-2", now, ttl, NULL) == 0);
    CHECK(active_segment(spool, seg, sizeof(seg)) == 0);
    snprintf(mpath, sizeof(mpath), "%s/%s", spool, HS_TAILMAP_FILE);
    CHECK(access(mpath, F_OK) == 0);
    /* From the map: m-2 is known although the file now says m-X. */
    CHECK(rekey(seg, "m-2", "m-X") == 0);
    CHECK(wappend(&w, 1, &o, "m-2", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(wappend(&w, 1, &o, "m-1", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    /* A line appended without the hooks, as by a writer killed before
     * it reached the map: the map no longer ends where the segment
     * does, so the file is read, and the map is made again from it. */
    n = snprintf(line, sizeof(line), "{\"id\":\"%*s\",\"received_at\":\"%*s\",\"endpoint\":\"t\","
                 "\"key\":[\"k-killed\"],\"headers\":{},\"event\":{}}\n", HS_ID_LEN, "",
                 HS_TS_LEN, "");
    CHECK(hs_spool_append(w.sp[0], &o, line, (size_t)n, strlen("{\"id\":\""),
                          strlen("{\"id\":\"") + HS_ID_LEN + strlen("\",\"received_at\":\""), id,
                          NULL) == 0);
    CHECK(wappend(&w, 1, &o, "k-killed", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(rekey(seg, "k-killed", "k-KILLED") == 0);
    CHECK(wappend(&w, 0, &o, "k-killed", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(lines_with_key(seg, "k-KILLED") == 1);
    /* A map written in another boot (a power cut may have left any part
     * of it on disk) is not believed: the file is read. */
    CHECK(wappend(&w, 0, &o, "b-1", now, ttl, NULL) == 0);
    CHECK(rekey(seg, "b-1", "b-X") == 0);
    {
        int fd = open(mpath, O_WRONLY);
        CHECK(fd >= 0 && pwrite(fd, "00000000-0000-0000-0000-000000000000", 36, 16) == 36);
        CHECK(fd >= 0 && close(fd) == 0);
    }
    CHECK(wappend(&w, 1, &o, "b-1", now, ttl, NULL) == 0);
    CHECK(lines_with_key(seg, "b-1") == 1 && lines_with_key(seg, "b-X") == 1);
    writers_close(&w);
}


/*
 * The tail map is the spool's, found through the directory the spool
 * handle opened, never by path again: a neighbour who owns the spool's
 * parent can move the spool away and put a directory of their making at
 * its path (trusted here, since the test runs as one user), with a map
 * claiming a key for the active segment's last line. Opened by path,
 * that planted map made a new event a "duplicate": answered 2xx and
 * never written.
 */
static void test_tailmap_planted(void)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = 4000000, ttl = 3600;
    char spool[128], moved[160], mpath[256], buf[4096], kj[64], seg[512];
    unsigned char h[HS_STORE_KEY_LEN];
    hs_dedup_tail *fresh;
    writers w;
    ssize_t n;
    int fd;

    if (writers_open(&w, &o, "planted", spool, sizeof(spool)) != 0) return;
    CHECK(wappend(&w, 0, &o, "p-1", now, ttl, NULL) == 0);
    CHECK(wappend(&w, 0, &o, "p-2", now, ttl, NULL) == 0);
    /* The real spool moves away; a copy of its map, with the last line's
     * hash replaced by that of "p-new", takes its place at the path. */
    snprintf(moved, sizeof(moved), "%s.moved", spool);
    CHECK(rename(spool, moved) == 0);
    CHECK(mkdir(spool, 0700) == 0);
    snprintf(mpath, sizeof(mpath), "%s/%s", moved, HS_TAILMAP_FILE);
    fd = open(mpath, O_RDONLY);
    n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
    CHECK(fd >= 0 && close(fd) == 0 && n == (ssize_t)sizeof(buf));
    snprintf(kj, sizeof(kj), "[\"p-new\"]");
    CHECK(hs_dedup_hash("\"t\"", 3, kj, strlen(kj), h) == 0);
    /* The head is 176 bytes, a line 56: its hash 16 bytes in. The map
     * holds the two lines above (and the first append's own record). */
    {
        uint64_t count;
        memcpy(&count, buf + 168, sizeof(count));
        CHECK(count >= 1 && count <= 8);
        if (count >= 1 && count <= 8) memcpy(buf + 176 + (count - 1) * 56 + 16, h, sizeof(h));
    }
    snprintf(mpath, sizeof(mpath), "%s/%s", spool, HS_TAILMAP_FILE);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "cp '%s/%s' '%s'", moved, HS_TAILMAP_FILE, mpath);
        CHECK(system(cmd) == 0);
    }
    fd = open(mpath, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf));
    CHECK(fd >= 0 && close(fd) == 0);
    /* A writer that has not opened the map yet (a new thread) on the
     * handle opened before the move: "p-new" is new. */
    fresh = hs_dedup_tail_new();
    CHECK(fresh != NULL && append_op(w.sp[1], &o, w.st[1], fresh, "p-new", now, ttl, NULL) == 0);
    hs_dedup_tail_free(fresh);
    snprintf(seg, sizeof(seg), "%s", moved);
    CHECK(active_segment(moved, seg, sizeof(seg)) == 0 && lines_with_key(seg, "p-new") == 1);
    writers_close(&w);
}

/*
 * Issue 18: a FastCGI process' workers share one tail per spool
 * (hs_recorder_tail, hs_dedup_tail_new_shared); each used to keep its
 * own, read every line the others appended, and record a quarter of a
 * batch at a time. The same path gives the same tail and another path
 * another, until HS_RECORDER_TAILS paths have one (the worker then keeps
 * its own). Two workers (two spool handles and store connections) that
 * append through it fill one tail, recorded after the answer a whole
 * HS_DEDUP_TAIL_KEYS at a time, and each finds the other's keys in it.
 */
static void test_shared_tail(void)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = 4700000, ttl = 3600;
    char spool[128], other[192], key[64];
    hs_recorder *r = hs_recorder_new();
    hs_dedup_tail *t = NULL, *u;
    writers w;
    size_t i;
    int bad = 0;
    long long n;

    CHECK(r != NULL);
    if (r == NULL) return;
    if (writers_open(&w, &o, "shared", spool, sizeof(spool)) != 0) {
        hs_recorder_free(r);
        return;
    }
    t = hs_recorder_tail(r, spool);
    CHECK(t != NULL && hs_recorder_tail(r, spool) == t);
    for (i = 1; i < HS_RECORDER_TAILS; i++) {
        snprintf(other, sizeof(other), "%s-%zu", spool, i);
        u = hs_recorder_tail(r, other);
        CHECK(u != NULL && u != t && hs_recorder_tail(r, other) == u);
    }
    snprintf(other, sizeof(other), "%s-full", spool);
    CHECK(hs_recorder_tail(r, other) == NULL);
    CHECK(hs_recorder_tail(r, spool) == t);
    if (t == NULL) goto out;
    hs_dedup_tail_free(w.t[0]);
    hs_dedup_tail_free(w.t[1]);
    w.t[0] = w.t[1] = t;
    /* A new tail records its first append at once; then the two writers
     * take turns, each recording after its answers as hs_ctx_idle does
     * without a recorder thread. */
    bad += wappend(&w, 0, &o, "sh-first", now, ttl, NULL) != 0;
    for (i = 0; i + 1 < HS_DEDUP_TAIL_KEYS; i++) {
        snprintf(key, sizeof(key), "sh-%zu", i);
        bad += wappend(&w, (int)(i % 2), &o, key, now, ttl, NULL) != 0;
    }
    n = (long long)hs_store_key_count(w.st[0]);
    CHECK_MSG(n == 1, "%lld keys recorded before the batch", n);
    CHECK(wappend(&w, 1, &o, "sh-0", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(wappend(&w, 0, &o, "sh-1", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    bad += wappend(&w, 1, &o, "sh-last", now, ttl, NULL) != 0;
    n = (long long)hs_store_key_count(w.st[0]);
    CHECK_MSG(n == 1 + HS_DEDUP_TAIL_KEYS, "%lld keys recorded at the batch", n);
    CHECK_MSG(bad == 0, "%d appends failed", bad);
    CHECK(wappend(&w, 0, &o, "sh-last", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
out:
    w.t[0] = w.t[1] = NULL;      /* the recorder's */
    writers_close(&w);
    hs_recorder_free(r);
}

/* One worker of test_shared_threads. */
typedef struct shared_worker {
    hs_spool      *sp;
    hs_store      *st;
    hs_dedup_tail *t;
    hs_recorder   *r;
    const char    *spool;
    size_t         nkeys, stride, first;
    int            accepted, dups, failed;
} shared_worker;

static void *shared_work(void *arg)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    shared_worker *sw = arg;
    char key[32];
    size_t i;
    int rc;

    for (i = 0; i < sw->nkeys; i++) {
        snprintf(key, sizeof(key), "th-%zu", (sw->first + i * sw->stride) % sw->nkeys);
        rc = append_noidle(sw->sp, &o, sw->st, sw->t, key, (int64_t)time(NULL), 3600, NULL);
        if (rc == 0) sw->accepted++;
        else if (rc == HS_DEDUP_DUPLICATE) sw->dups++;
        else sw->failed++;
        /* After the answer, as hs_ctx_idle does: the copy is made here,
         * outside the spool lock, while the others append under it. */
        if (hs_recorder_offer(sw->r, sw->st, sw->spool, 077, sw->t) < 0 &&
            hs_dedup_idle(sw->st, sw->t, (int64_t)time(NULL)) != 0)
            sw->failed++;
    }
    return NULL;
}

/*
 * The shared tail under real threads, as in hookspool.fcgi: four
 * workers, each with its own spool handle and store connection, append
 * one pool of keys (each worker all of them, in its own order) through
 * one shared tail and offer it to a running recorder after each append.
 * The recorder copies the tail outside the spool lock while another
 * worker appends under it; only the tail's mutex keeps the two apart
 * (the sanitizer stage's ASan sees a copy of a freed array). Every key
 * must be accepted once and lie in the spool exactly once.
 */
#define SHARED_WORKERS 4
#define SHARED_KEYS    6000
static void test_shared_threads(void)
{
    static const size_t strides[SHARED_WORKERS] = { 1, 7, 11, 13 };
    static unsigned char seen[SHARED_KEYS];
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    shared_worker sw[SHARED_WORKERS];
    pthread_t th[SHARED_WORKERS], rt;
    char spool[128], seg[512], line[1024];
    hs_recorder *r = hs_recorder_new();
    hs_dedup_tail *t = NULL;
    int i, started = 0, accepted = 0, failed = 0, once = 0, lines = 0;
    size_t k;
    FILE *f;

    CHECK(r != NULL);
    if (r == NULL) return;
    if (pthread_create(&rt, NULL, hs_recorder_main, r) != 0) {
        CHECK(0);
        hs_recorder_free(r);
        return;
    }
    snprintf(spool, sizeof(spool), "%s/threads", root);
    memset(sw, 0, sizeof(sw));
    CHECK((t = hs_recorder_tail(r, spool)) != NULL);
    for (i = 0; i < SHARED_WORKERS && t != NULL; i++) {
        sw[i].t = t;
        sw[i].r = r;
        sw[i].spool = spool;
        sw[i].nkeys = SHARED_KEYS;
        sw[i].stride = strides[i];
        sw[i].first = (size_t)i * (SHARED_KEYS / SHARED_WORKERS);
        if (hs_spool_open(spool, &o, 1, &sw[i].sp) != 0 ||
            hs_store_open(spool, 077, 1, &sw[i].st) != 0)
            break;
    }
    CHECK(i == SHARED_WORKERS);
    if (i == SHARED_WORKERS)
        for (started = 0; started < SHARED_WORKERS; started++)
            if (pthread_create(&th[started], NULL, shared_work, &sw[started]) != 0) break;
    CHECK(started == SHARED_WORKERS);
    for (i = 0; i < started; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        accepted += sw[i].accepted;
        failed += sw[i].failed;
    }
    hs_recorder_drain(r);
    hs_recorder_stop(r);
    CHECK(pthread_join(rt, NULL) == 0);
    CHECK_MSG(failed == 0, "%d appends or recordings failed", failed);
    CHECK_MSG(accepted == SHARED_KEYS, "%d of %d keys accepted", accepted, SHARED_KEYS);
    memset(seen, 0, sizeof(seen));
    CHECK(started == 0 || active_segment(spool, seg, sizeof(seg)) == 0);
    if (started > 0 && (f = fopen(seg, "r")) != NULL) {
        while (fgets(line, sizeof(line), f) != NULL) {
            const char *at = strstr(line, "\"key\":[\"th-");
            lines++;
            if (at != NULL && sscanf(at + strlen("\"key\":[\"th-"), "%zu", &k) == 1 &&
                k < SHARED_KEYS && seen[k] < 255)
                seen[k]++;
        }
        CHECK(fclose(f) == 0);
    }
    for (k = 0; k < SHARED_KEYS; k++) once += seen[k] == 1;
    CHECK_MSG(lines == SHARED_KEYS && once == SHARED_KEYS,
              "%d lines, %d keys there exactly once, of %d", lines, once, SHARED_KEYS);
    /* The recorder recorded whole batches on the way. */
    CHECK(sw[0].st == NULL || hs_store_key_count(sw[0].st) >= HS_DEDUP_TAIL_KEYS);
    for (i = 0; i < SHARED_WORKERS; i++) {
        hs_store_close(sw[i].st);
        hs_spool_close(sw[i].sp);
    }
    hs_recorder_free(r);
}

/*
 * A shared tail describes one spool directory. An operator replaces the
 * spool at its path while the process runs: a worker whose handle is
 * already the new directory's appends through the tail that the old one
 * opened its tail map for. The tail starts over for the new directory,
 * so the line goes into the new spool's map, where another writer finds
 * it (the file is changed behind the map's back to tell which was
 * read): written into the old spool's map, it would be read from the
 * file instead.
 */
static void test_shared_rebind(void)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = 4800000, ttl = 3600;
    char spool[128], moved[160], seg[512];
    hs_dedup_tail *t = hs_dedup_tail_new_shared(), *fresh = hs_dedup_tail_new();
    hs_spool *nsp = NULL;
    hs_store *nst = NULL;
    writers w;

    CHECK(t != NULL && fresh != NULL);
    if (t == NULL || fresh == NULL || writers_open(&w, &o, "rebind", spool, sizeof(spool)) != 0) {
        hs_dedup_tail_free(t);
        hs_dedup_tail_free(fresh);
        return;
    }
    CHECK(append_op(w.sp[0], &o, w.st[0], t, "rb-1", now, ttl, NULL) == 0);
    CHECK(append_op(w.sp[0], &o, w.st[0], t, "rb-2", now, ttl, NULL) == 0);
    snprintf(moved, sizeof(moved), "%s.old", spool);
    CHECK(rename(spool, moved) == 0);
    CHECK(hs_spool_open(spool, &o, 1, &nsp) == 0 && hs_store_open(spool, 077, 1, &nst) == 0);
    if (nsp != NULL && nst != NULL) {
        CHECK(append_op(nsp, &o, nst, t, "rb-0", now, ttl, NULL) == 0);
        CHECK(append_op(nsp, &o, nst, t, "rb-2", now, ttl, NULL) == 0);   /* new here */
        CHECK(active_segment(spool, seg, sizeof(seg)) == 0 && rekey(seg, "rb-2", "rb-X") == 0);
        CHECK(append_op(nsp, &o, nst, fresh, "rb-2", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
        CHECK(lines_with_key(seg, "rb-2") == 0 && lines_with_key(seg, "rb-X") == 1);
    }
    /* And back on the old directory, through a handle still open on it. */
    CHECK(append_op(w.sp[1], &o, w.st[1], t, "rb-1", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(append_op(w.sp[1], &o, w.st[1], t, "rb-0", now, ttl, NULL) == 0);
    hs_dedup_tail_free(t);
    hs_dedup_tail_free(fresh);
    hs_store_close(nst);
    hs_spool_close(nsp);
    writers_close(&w);
}

/*
 * Issue 18: a new key is answered from the key filter (keyfilter.h) and
 * a cursor kept in the tail, without reading the store. Neither may let
 * a recorded key in again, whoever recorded it. An older hookspool sets
 * no bits: it appends a line and records its key, which moves the cursor
 * and the store's epoch (the trigger) and leaves the filter as it was.
 * A writer holding the cursor from before finds the key in its tail (the
 * line is past that cursor); a writer that reads the cursor afresh finds
 * the filter's epoch behind the store's and asks the store.
 */
static void test_keyfilter_old_writer(void)
{
    hs_spool_opts o = { 1LL << 30, 1LL << 40, 0, 077 };
    const int64_t now = 4800000, ttl = 3600;
    unsigned char h[HS_STORE_KEY_LEN], hn[HS_STORE_KEY_LEN];
    char spool[128], key[64], seg[512], cseg[HS_STORE_SEG_MAX], line[512], sql[512];
    char hex[2 * HS_STORE_KEY_LEN + 1];
    long long e0, e1;
    int64_t coff, epoch;
    sqlite3 *db;
    FILE *f;
    writers w;
    int i, n, bad = 0;
    long size;

    if (writers_open(&w, &o, "kf-old", spool, sizeof(spool)) != 0) return;
    /* A batch recorded after the answers: the first recording builds
     * the filter. */
    for (i = 0; i <= HS_DEDUP_TAIL_KEYS; i++) {
        snprintf(key, sizeof(key), "kf-%d", i);
        bad += wappend(&w, 0, &o, key, now, ttl, NULL) != 0;
    }
    CHECK_MSG(bad == 0, "%d appends failed", bad);
    CHECK(hs_store_key_count(w.st[0]) >= HS_DEDUP_TAIL_KEYS);
    /* The filter is in use: a new key is absent, a recorded one is not. */
    CHECK(key_hash("kf-new", hn) == 0 && key_hash("kf-3", h) == 0);
    CHECK(hs_store_begin_read(w.st[1]) == 0 && hs_store_cursor_get(w.st[1], cseg, &coff) == 0);
    CHECK(hs_store_epoch(w.st[1], &epoch) == 1);
    CHECK(hs_store_key_absent(w.st[1], epoch, hn) == 1);
    CHECK(hs_store_key_absent(w.st[1], epoch, h) == 0);
    hs_store_rollback(w.st[1]);
    /* Writer 0 keeps the cursor in its tail from here; writer 1 has
     * used its kept cursor up, so its next look reads it afresh. */
    CHECK(wappend(&w, 0, &o, "kf-warm", now, ttl, NULL) == 0);
    CHECK(wappend(&w, 0, &o, "kf-3", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    for (i = 0; i < HS_DEDUP_CURSOR_USES + 2; i++) {
        snprintf(key, sizeof(key), "kf-w1-%d", i);
        bad += wappend(&w, 1, &o, key, now, ttl, NULL) != 0;
    }
    CHECK_MSG(bad == 0, "%d appends failed", bad);

    /* The older writer: its line, its key's row, the cursor past both. */
    CHECK(active_segment(spool, seg, sizeof(seg)) == 0);
    n = snprintf(line, sizeof(line), "{\"id\":\"%*s\",\"received_at\":\"%*s\",\"endpoint\":\"t\","
                 "\"key\":[\"kf-old\"],\"headers\":{},\"event\":{}}\n", HS_ID_LEN, "", HS_TS_LEN,
                 "");
    CHECK((f = fopen(seg, "a")) != NULL);
    if (f == NULL) goto out;
    CHECK(fwrite(line, 1, (size_t)n, f) == (size_t)n);
    size = ftell(f);
    CHECK(fclose(f) == 0);
    CHECK(key_hash("kf-old", h) == 0);
    for (i = 0; i < HS_STORE_KEY_LEN; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
    e0 = query_int(spool, "SELECT v FROM meta WHERE name = 'kf_epoch'");
    snprintf(sql, sizeof(sql), "INSERT INTO dedup(k, t) VALUES (x'%s', %lld);"
             "UPDATE meta SET v = %ld WHERE name = 'cursor_off';", hex, (long long)now, size);
    CHECK((db = open_db(spool)) != NULL);
    if (db == NULL) goto out;
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_close(db) == SQLITE_OK);
    e1 = query_int(spool, "SELECT v FROM meta WHERE name = 'kf_epoch'");
    CHECK_MSG(e0 >= 0 && e1 == e0 + 1, "the row moved the epoch: %lld -> %lld", e0, e1);

    /* Read afresh: the epochs differ, so the filter cannot tell. */
    CHECK(hs_store_begin_read(w.st[1]) == 0 && hs_store_cursor_get(w.st[1], cseg, &coff) == 0);
    CHECK(coff == size && hs_store_epoch(w.st[1], &epoch) == 1 && epoch == e1);
    CHECK(hs_store_key_absent(w.st[1], epoch, h) == 0);
    CHECK(hs_store_key_absent(w.st[1], epoch, hn) == 0);
    hs_store_rollback(w.st[1]);
    /* Both writers refuse the key: writer 1 from the store (its cursor
     * is past the line), writer 0 from its kept cursor and its tail. */
    CHECK(wappend(&w, 1, &o, "kf-old", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(wappend(&w, 0, &o, "kf-old", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
    CHECK(lines_with_key(seg, "kf-old") == 1);
    /* New keys still get in, once each. */
    CHECK(wappend(&w, 1, &o, "kf-new", now, ttl, NULL) == 0);
    CHECK(wappend(&w, 0, &o, "kf-new", now, ttl, NULL) == HS_DEDUP_DUPLICATE);
out:
    writers_close(&w);
}

int main(void)
{
    char cmd[128];
    if (mkdtemp(root) == NULL) return 1;
    test_purge_keeps_pace(0);
    test_purge_keeps_pace(1);
    test_tail_batch(0);
    test_tail_batch(1);
    test_tail_batch(2);
    test_tail_batch(4);
    test_tail_batch(8);
    test_lost_tail(0);
    test_lost_tail(1);
    test_seg_id();
    test_tail();
    test_tail_filter();
    test_near_seal();
    test_tailmap();
    test_tailmap_planted();
    test_forget_tail();
    test_idle_late();
    test_recorder();
    test_recorder_replaced();
    test_shared_tail();
    test_shared_threads();
    test_shared_rebind();
    test_keyfilter_old_writer();
    test_old_store();
    test_layouts(0);
    test_layouts(1);
    test_checkpoint_cadence();
    test_wal_reused();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0) return 1;
    return T_END();
}
