/*
 * store.h - the spool's durable state in SQLite: dedup keys, how far the
 * segments have been indexed, and consumers' attempt counts.
 *
 * The database is SPOOL/state.db in WAL mode with synchronous=NORMAL: a
 * commit costs no fsync (the spool's own flush is what acknowledges an
 * event), a killed process never corrupts it, and after a power cut it
 * may lose its last transactions, which the index cursor makes harmless:
 * the lines past the cursor are indexed again by the next writer; or
 * keep keys whose lines it lost, which their positions make harmless
 * (see "Durability order").
 *
 * The status never opens the store (a WAL reader creates files).
 * Every function returns 0 (or a documented positive value) or a
 * negative errno: SQLITE_FULL is -ENOSPC, SQLITE_BUSY/LOCKED -ETIMEDOUT,
 * SQLITE_READONLY -EROFS, SQLITE_CANTOPEN/PERM -EACCES, others -EIO.
 */
#ifndef HS_STORE_H
#define HS_STORE_H

#include <stdint.h>
#include <sys/types.h>

#define HS_STORE_FILE       "state.db"
#define HS_STORE_KEY_LEN    32        /* SHA-256 of the key */
#define HS_STORE_SEG_MAX    128       /* a segment name */
#define HS_STORE_SEG_ID_LEN 8         /* a segment's id in a key's row (store.c) */
#define HS_STORE_BUSY_MS    10000     /* then -ETIMEDOUT */
#define HS_STORE_CACHE_KIB  64        /* page cache per connection */
#define HS_STORE_WAL_PAGES  32        /* WAL pages that make a checkpoint due */
#define HS_STORE_WAL_KEEP   1048576   /* WAL bytes kept when it restarts */

typedef struct hs_store hs_store;

/*
 * Open (creating if missing, with mode 0666 & ~umask set explicitly)
 * SPOOL/state.db. With create 0 a missing store is -ENOENT and nothing
 * is created. *out is the caller's; release with hs_store_close().
 */
int  hs_store_open(const char *spool, mode_t umask, int create, hs_store **out);
void hs_store_close(hs_store *st);

/* Which file st opened (device and inode of SPOOL/state.db when it was
 * opened): another connection's store is the same one only if these
 * match. Fixed for st's life; readable from any thread. */
void hs_store_id(const hs_store *st, dev_t *dev, ino_t *ino);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Rollback cannot fail usefully.
 * hs_store_begin_read: BEGIN DEFERRED, so that the reads up to the
 * COMMIT or ROLLBACK share one snapshot and one round of file locks
 * (each statement on its own takes and drops them: issue 18). */
int  hs_store_begin(hs_store *st);
int  hs_store_begin_read(hs_store *st);
/* BEGIN IMMEDIATE without waiting: -ETIMEDOUT at once when another
 * connection writes (work that someone else is likely doing). */
int  hs_store_try_begin(hs_store *st);
int  hs_store_commit(hs_store *st);
void hs_store_rollback(hs_store *st);

/*
 * Durability order. Commits are not flushed (synchronous=NORMAL), and no
 * commit checkpoints by itself (the caller checkpoints, outside the
 * spool lock). A checkpoint may make a key durable before its line; the
 * key's position (its segment and where its line ends) makes that
 * harmless: a power cut that shortens the active segment leaves the
 * cursor past the segment's end, and the catch-up then drops the keys
 * of the lost lines (hs_store_keys_drop_past). A sealed segment is never
 * read by the catch-up again, so the caller makes the store durable
 * (hs_store_sync) after flushing the segment and before sealing it.
 *
 * hs_store_checkpoint: a passive checkpoint (flushes the WAL, copies it
 *   into the database, flushes that); never inside a transaction; 1 when
 *   done, 0 when another connection is checkpointing, or a negative errno;
 * hs_store_checkpoint_if_due: hs_store_checkpoint when the WAL has grown
 *   by HS_STORE_WAL_PAGES pages or more since this connection's last
 *   checkpoint, as its own commits saw it (a new connection: nothing before
 *   its first commit, which sees the whole WAL), else 0 (st NULL, or
 *   inside a transaction: 0);
 * hs_store_sync: every commit so far made durable (an fsync of the
 *   WAL file: writes nothing, so it works on a full disk); never inside
 *   a transaction.
 */
int  hs_store_checkpoint(hs_store *st);
int  hs_store_checkpoint_if_due(hs_store *st);
int  hs_store_sync(hs_store *st);
/* 1 inside a transaction (begun and not yet committed or rolled back). */
int  hs_store_in_tx(hs_store *st);

/* 1 when key k was recorded at a time t >= now - ttl, else 0. */
int  hs_store_key_seen(hs_store *st, const unsigned char k[HS_STORE_KEY_LEN],
                       int64_t now, int64_t ttl);
/* Record key k at time t, its line ending at offset end of segment seg
 * (a name; the row keeps an id of HS_STORE_SEG_ID_LEN bytes made from
 * it, store.c's seg_row). An older record of k is replaced, or, in a
 * store made since issue 18's layout (store.c), kept beside it until
 * the purge: hs_store_key_seen answers alike either way. */
int  hs_store_key_put(hs_store *st, const unsigned char k[HS_STORE_KEY_LEN], int64_t t,
                      const char *seg, int64_t end);
/* Forget the keys whose lines end past offset end of segment seg (lines
 * a power cut took), named by its id or, as recorded before the id, by
 * its name; returns how many. Scans the whole table: called only when
 * the active segment is found shorter than the cursor. */
int  hs_store_keys_drop_past(hs_store *st, const char *seg, int64_t end);
/* Forget key k (its event was answered 503 after all). */
int  hs_store_key_forget(hs_store *st, const unsigned char k[HS_STORE_KEY_LEN]);
/* Delete at most max keys recorded before `before`; returns how many. */
int  hs_store_purge(hs_store *st, int64_t before, int max);
/* Number of keys (tests and benchmarks). */
int64_t hs_store_key_count(hs_store *st);

/* The index cursor: the active segment's name and the offset up to which
 * its lines' keys are recorded. seg is "" and *off 0 when never set.
 * get also reads the key filter's epoch (keyfilter.h) for
 * hs_store_key_absent, in the same snapshot. */
int  hs_store_cursor_get(hs_store *st, char seg[HS_STORE_SEG_MAX], int64_t *off);

/* The key filter's epoch (keyfilter.h) that the last hs_store_cursor_get
 * of this transaction read with the cursor: 1 with *epoch, or 0 (*epoch
 * -1) when this transaction read none. */
int  hs_store_epoch(const hs_store *st, int64_t *epoch);

/* 1 when the key filter (keyfilter.h) proves that no row of key k is in
 * the store as of a snapshot whose epoch was `epoch` (hs_store_epoch):
 * hs_store_key_seen in that snapshot would answer 0; 0 when it cannot
 * tell (epoch < 0 among others). Never fails, never touches SQLite. */
int  hs_store_key_absent(const hs_store *st, int64_t epoch,
                         const unsigned char k[HS_STORE_KEY_LEN]);

/* Inside a write transaction (hs_store_begin), after its rows: build the
 * key filter from every key of the store when it is due
 * (hs_keyfilter_due). It is usable once the transaction commits. 1 when
 * built, 0 when not due (or no filter), or a negative errno (the
 * transaction should then be rolled back; the filter stays unusable). */
int  hs_store_keyfilter_build(hs_store *st);
int  hs_store_cursor_set(hs_store *st, const char *seg, int64_t off);

/* A named integer (housekeeping: the last purge time). *v is 0 if unset. */
int  hs_store_meta_get(hs_store *st, const char *name, int64_t *v);
int  hs_store_meta_set(hs_store *st, const char *name, int64_t v);

/* Consumers: how often segment seg (its name) failed. add increments and
 * returns the new count in *n; clear forgets it. Each is one autocommit
 * statement, safe to call from any process without the spool lock. */
int  hs_store_attempts_add(hs_store *st, const char *seg, int64_t *n);
int  hs_store_attempts_get(hs_store *st, const char *seg, int64_t *n);
int  hs_store_attempts_clear(hs_store *st, const char *seg);

/*
 * Call once in main(), before any store is opened: every connection
 * (one per FastCGI worker thread) then starts without SQLite's lookaside
 * buffer and without its initial bulk page-cache allocation, which
 * together are about 200 KiB of private memory per connection; the page
 * cache still grows to the cache_size set per connection.
 */
void hs_store_process_init(void);

#endif
