/*
 * dedup.h - duplicate suppression (SPEC section 6, promise 5).
 *
 * A key is a JSON array of the values it is made of: a header's value as
 * a string (or, when it is not valid UTF-8, as {"hex":"<its bytes>"}, so
 * different bytes always make different keys), a JSON Pointer's value as
 * sent (null where it finds nothing).
 * The store remembers each key's SHA-256 (with the endpoint) and how far
 * into the active segment it has indexed (the cursor). The lines past the
 * cursor, the tail, are the index too: whoever holds the spool lock reads
 * the tail's keys (each process keeps those it has read, hs_dedup_tail;
 * what the others appended since it comes from the tail map, tailmap.h,
 * when that has it, else from the file) and decides against the tail and
 * the store together, so no two lines share a key even across kills.
 * The tail is recorded in the store in one transaction: after the
 * answer and outside the spool lock when it holds HS_DEDUP_TAIL_KEYS
 * keys (hs_dedup_idle, in FastCGI on the process' recorder thread:
 * recorder.h); under the lock when it holds HS_DEDUP_TAIL_MAX keys or
 * HS_DEDUP_TAIL_BYTES bytes (the recording after the answer has not kept
 * up), when old keys are due to be purged, with
 * every append while the filesystem has less than HS_DEDUP_TAIL_ROOM
 * free, and always before the segment is sealed (issue 18: one store
 * transaction per append under the spool lock was most of what dedup
 * cost, and a catch-up of 64 keys under it still stalled every writer
 * for 2-3 ms). Keys go into the store in large, sorted batches: SQLite's
 * B-tree over random hashes dirties about one leaf per key, so what a
 * key costs falls only when one transaction brings many keys to the
 * same leaves. The one exception is a failed flush: those events are
 * answered 503 and their keys forgotten.
 */
#ifndef HS_DEDUP_H
#define HS_DEDUP_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "config.h"
#include "sig.h"
#include "spool.h"
#include "store.h"

#define HS_DEDUP_DUPLICATE   1      /* hs_spool_append's value for a duplicate */
#define HS_DEDUP_PURGE_PER_KEY 2    /* expired keys purged per key added */
#define HS_DEDUP_PURGE_EVERY 60     /* seconds between sweeps of old keys */
#define HS_DEDUP_PURGE_MAX   1000   /* keys the sweep purges at least (purge_tx) */
/* Issue 18: what a key costs the store falls with the keys one
 * transaction brings (dedup.h above); 4,096 a transaction answered about
 * 10% more requests than 1,024 with dedup on and fsync=never
 * (bench/RESULTS.md, 2026-12-05 evening). The bytes that make a
 * catch-up due are sized so that the key count, not the bytes, ends a
 * tail of lines of up to 2 KiB: at 4 MiB, lines of 1 KiB made a catch-up
 * of some 4,000 keys under the spool lock due about as often as the
 * recording after the answer, a stall of tens of milliseconds for every
 * writer. A FastCGI process' workers share one tail
 * (hs_dedup_tail_new_shared) and record HS_DEDUP_TAIL_KEYS at once; a
 * worker that keeps a tail of its own (hs_dedup_tail_set_workers)
 * records its share of them, down to HS_DEDUP_TAIL_KEYS_MIN. */
#define HS_DEDUP_TAIL_KEYS   4096   /* tail keys that hs_dedup_idle records at once */
#define HS_DEDUP_CURSOR_USES 64     /* looks that take the cursor kept in the tail (dedup.c) */
#define HS_DEDUP_TAIL_KEYS_MIN 1024 /* ... at least, for one of several workers */
#define HS_DEDUP_TAIL_MAX    8192   /* tail keys that make a catch-up due under the lock
                                       (twice a tail's batch: this for one worker) */
#define HS_DEDUP_NEAR_KEYS   256    /* tail keys that hs_dedup_idle records near the seal */
#define HS_DEDUP_NEAR_BYTES  4194304 /* at most this last stretch of a segment is "near" its seal */
#define HS_DEDUP_TAIL_BYTES  16777216 /* bytes past the cursor that make one due */
#define HS_DEDUP_TAIL_ROOM   67108864ULL /* free bytes below which each append records */

/*
 * Build the key of an event: event[0..len) is the minified body, hdr
 * looks request headers up. Appends the JSON array to out and returns 1;
 * returns 0 (out unchanged) when dedup is off or every value is missing
 * (a JSON null counts as missing);
 * -1 when out cannot grow. For the standard scheme, a missing webhook-id
 * falls back to svix-id.
 */
int hs_dedup_key(const hs_config *cfg, const char *event, size_t len,
                 hs_header_fn hdr, void *arg, hs_buf *out);

/*
 * hs_dedup_key for element `index` of a batch (index < 0: not a batch,
 * exactly hs_dedup_key). A JSON Pointer and content key look at the
 * element itself; a header key names the whole delivery, so the
 * element's position is added to it ([<header>,...,<index>]): the
 * delivery's retry is a duplicate element by element. With
 * HS_DEDUP_CONTENT the key is ["<SHA-256 of event[0..len) in hex>"].
 */
int hs_dedup_key_at(const hs_config *cfg, const char *event, size_t len, long index,
                    hs_header_fn hdr, void *arg, hs_buf *out);

/* The stored form of a key: SHA-256 of the endpoint as a JSON string,
 * a newline, and the key's JSON text. 0, or -EIO if libcrypto fails. */
int hs_dedup_hash(const char *endpoint_json, size_t elen, const char *key,
                   size_t klen, unsigned char out[HS_STORE_KEY_LEN]);

/*
 * What one process knows of the active segment's tail (the lines past
 * the cursor): their keys' hashes, where each line ends and when it was
 * received, up to where it has read. Kept between requests (hs_ctx) so
 * that each append reads only the lines appended since its process last
 * held the lock. Only ever read or changed under the spool lock; what it
 * knows is checked against the segment's name, its size and the cursor
 * each time, and read again from the file when they disagree.
 */
typedef struct hs_dedup_tail hs_dedup_tail;
hs_dedup_tail *hs_dedup_tail_new(void);        /* NULL: out of memory */
void           hs_dedup_tail_free(hs_dedup_tail *t);

/*
 * A tail that all of a FastCGI process' workers keep together (the
 * recorder hands it out: recorder.h), recorded HS_DEDUP_TAIL_KEYS keys at
 * a time. Every use of it holds its mutex: the hooks under the spool
 * lock (uncontended there, since the lock already admits one writer;
 * held only inside each hook, never across the write's flush), and
 * hs_dedup_tail_take and hs_dedup_idle outside it. Issue 18: with a tail
 * each, four workers read every line the others appended and kept a
 * quarter of the batch each (four copies of the same keys), so the
 * default recorded 1,024 keys at a time, about 0.8 dirty store pages a
 * key against 0.5 for 4,096. A tail, shared or not, describes one spool
 * directory: used for another (the path now names a new one), it starts
 * over. NULL: out of memory.
 */
hs_dedup_tail *hs_dedup_tail_new_shared(void);

/* The tail of one of a process' `workers` workers that keeps a tail of
 * its own (the recorder had no shared one to give: more spools than
 * HS_RECORDER_TAILS) and offers it to the process' one recorder: recorded after the answer at
 * HS_DEDUP_TAIL_KEYS / workers keys, at least HS_DEDUP_TAIL_KEYS_MIN, and
 * due under the lock at twice that. workers 0: a process with no
 * recorder, whose workers record after their own answers, holding up
 * the requests queued to them: HS_DEDUP_TAIL_KEYS_MIN. A new tail is
 * one worker's. */
void           hs_dedup_tail_set_workers(hs_dedup_tail *t, int workers);

/* Forget t's keys and free their array; what t knows of its segment
 * (name, how far read) stays. For a recorder's copy (recorder.h) once its job
 * is done: each offer copies all of a tail's keys again, and those
 * recorded are the store's. Never for a tail that answers lookups. */
void hs_dedup_tail_shed(hs_dedup_tail *t);

/*
 * Outside the spool lock, after the answer (hs_ctx_idle): when an append
 * left t with its batch of keys or more (hs_dedup_tail_set_workers;
 * HS_DEDUP_NEAR_KEYS in
 * the last eighth of the segment's rotate_bytes, at most its last
 * HS_DEDUP_NEAR_BYTES, so that its seal finds little left to record
 * under the lock), record them in st in one
 * transaction and move the cursor to the tail's end. Safe against every
 * writer: under SQLite's write lock it records only what lies past the
 * cursor in the tail's segment (a later cursor means others did it),
 * and the lines it records were complete under the spool lock, where no
 * line is ever taken back once another writer may have read it. now is
 * the clock; the window is the last append's. 0 or a negative errno
 * (the tail then stays for the next try or the next seal). A shared t
 * stays held for the whole recording, and its workers wait for it: a
 * FastCGI process records a copy instead (recorder.h).
 */
int hs_dedup_idle(hs_store *st, hs_dedup_tail *t, int64_t now);

/*
 * For a recorder (recorder.h) that runs hs_dedup_idle on its own copy:
 * when src is due as hs_dedup_idle says and reaches past what
 * dst last held of the same segment, copy src into dst (what it knows
 * of the tail and the window) and return 1; otherwise 0 (dst unchanged),
 * or -ENOMEM. src is the caller's tail, between its lock holds (a shared
 * one is copied under its mutex; 0 when another worker holds it).
 */
int hs_dedup_tail_take(hs_dedup_tail *dst, hs_dedup_tail *src);

/* One line of a batch append: its key's hash, if it has a key. */
typedef struct hs_dedup_item {
    unsigned char hash[HS_STORE_KEY_LEN];
    int           has_key;
} hs_dedup_item;

/* One append with dedup: the hooks' state. Fill store, tail, hash, now,
 * ttl, and pass it to hs_dedup_append.
 * store may be NULL when the spool had no store when the caller looked:
 * the pre hook then looks again under the spool lock (spool, umask) and
 * opens it if it exists by then (op->own: closed when the append ends),
 * so no append or seal ever skips a store that exists. tail may be NULL:
 * the append then reads the whole tail and records it (a temporary one). */
typedef struct hs_dedup_op {
    hs_store     *store;
    hs_dedup_tail *tail;
    const char   *spool;       /* with store NULL: where to look */
    mode_t        umask;
    int           own;         /* store opened by the hook */
    int           own_tail;    /* tail made for this operation */
    unsigned char hash[HS_STORE_KEY_LEN];
    int           has_key;     /* 0: only index the lines past the cursor */
    int64_t       now, ttl;
    int           recorded;    /* out: keyed lines were written */
    /* Set by hs_dedup_append_many (hash and has_key are then unused). */
    hs_dedup_item *items;
    hs_spool_line *lines;
    size_t         nitems;
    hs_spool      *sp;         /* the spool, while its lock is held */
    long long      rotate_bytes; /* the append's (hs_dedup_append_many sets it) */
    uint64_t       from;       /* the cursor's offset in the active segment */
    int64_t        epoch;      /* the key filter's epoch with it (-1: none) */
} hs_dedup_op;

/*
 * Append line as hs_spool_append does, with op's hooks: under the lock,
 * the key is looked up in the tail (read up to the segment's end first)
 * and in the store; the tail is recorded in the store when that is due,
 * and always before the segment is sealed, whether or not this event has
 * a key (op->has_key 0), whenever the spool has a store. Every append to
 * a spool goes through here, so a keyless event (or an endpoint with
 * dedup off sharing the spool) can never seal unindexed keys into ready/.
 * Returns what hs_spool_append returns; releases what the hooks opened.
 */
int hs_dedup_append(hs_dedup_op *op, hs_spool *sp, const hs_spool_opts *opts,
                    char *line, size_t len, size_t id_off, size_t ts_off,
                    char id_out[HS_ID_LEN + 1]);

/*
 * hs_spool_append_many with dedup: items[i] is lines[i]'s key. Under the
 * lock, once the tail is read (and recorded, when that is due under the
 * lock), a keyed line whose key the store has seen,
 * the tail has or an earlier line of this batch has, is marked skip and
 * not written; the lines written join the tail (op->recorded then says
 * keyed ones were written: which is !lines[i].skip && items[i].has_key).
 * When every line is skipped, nothing is written and HS_DEDUP_DUPLICATE
 * is returned. op->hash and op->has_key are ignored.
 */
int hs_dedup_append_many(hs_dedup_op *op, hs_spool *sp, const hs_spool_opts *opts,
                         char *buf, size_t len, hs_spool_line *lines,
                         hs_dedup_item *items, size_t n);

/*
 * Seal a due active segment as hs_spool_rotate does, first indexing the
 * lines past the cursor when the spool has a store (SPOOL/state.db,
 * looked for under the spool lock), so a sealed segment never hides
 * unindexed keys. For `claim`, `consume` and `rotate`: nothing but this
 * and hs_dedup_append seals a spool's segments.
 */
int hs_dedup_rotate(hs_spool *sp, const hs_spool_opts *opts, int force, int *sealed);

/*
 * After hs_dedup_append_many wrote keyed lines (op->recorded) but their
 * flush failed: under the spool lock, record the tail in the store and
 * then forget the keys of the written lines (items[i] where
 * !lines[i].skip, still the caller's; after hs_dedup_append, op->hash),
 * so the sender's retries are new events (SPEC promise 5's one
 * exception). op is the append's (store, tail, now). 0 or a negative
 * errno (the keys may then still count).
 */
int hs_dedup_forget(hs_dedup_op *op, hs_spool *sp, const hs_spool_opts *opts);

#endif
