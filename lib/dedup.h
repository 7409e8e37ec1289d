/*
 * dedup.h - duplicate suppression (SPEC section 6, promise 5).
 *
 * A key is a JSON array of the values it is made of: a header's value as
 * a string (or, when it is not valid UTF-8, as {"hex":"<its bytes>"}, so
 * different bytes always make different keys), a JSON Pointer's value as
 * sent (null where it finds nothing).
 * The store remembers each key's SHA-256 (with the endpoint) and how far
 * into the active segment it has indexed. Whoever holds the spool lock
 * first indexes the lines past that point (a writer killed between its
 * append and recording its key left them), then decides; so no two lines
 * share a key even across kills. The one exception is a failed flush:
 * those events are answered 503 and their keys forgotten.
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
#define HS_DEDUP_PURGE_MAX   1000   /* keys purged at most per append */

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

/* One append with dedup: the hooks' state. Fill store, hash, now, ttl,
 * endpoint, and pass it to hs_dedup_append.
 * store may be NULL when the spool had no store when the caller looked:
 * the pre hook then looks again under the spool lock (spool, umask) and
 * opens it if it exists by then (op->own: closed when the append ends),
 * so no append or seal ever skips a store that exists. */
/* One line of a batch append: its key's hash, if it has a key. */
typedef struct hs_dedup_item {
    unsigned char hash[HS_STORE_KEY_LEN];
    int           has_key;
} hs_dedup_item;

typedef struct hs_dedup_op {
    hs_store     *store;
    const char   *spool;       /* with store NULL: where to look */
    mode_t        umask;
    int           own;         /* store opened by the hook */
    unsigned char hash[HS_STORE_KEY_LEN];
    int           has_key;     /* 0: only index the lines past the cursor */
    int64_t       now, ttl;
    int           recorded;    /* out: the key is in the store */
    uint64_t      indexed;     /* out: lines indexed by the catch-up */
    /* Set by hs_dedup_append_many (hash and has_key are then unused). */
    hs_dedup_item *items;
    hs_spool_line *lines;
    size_t         nitems;
} hs_dedup_op;

/*
 * Append line as hs_spool_append does, with op's hooks: the lines past
 * the index cursor (a writer stopped between its append and recording
 * its key left them) are indexed under the lock before this line is
 * appended or the segment sealed, whether or not this event has a key
 * (op->has_key 0), whenever the spool has a store. Every append to a
 * spool goes through here, so a keyless event (or an endpoint with dedup
 * off sharing the spool) can never seal unindexed keys into ready/.
 * Returns what hs_spool_append returns; releases what the hooks opened.
 */
int hs_dedup_append(hs_dedup_op *op, hs_spool *sp, const hs_spool_opts *opts,
                    char *line, size_t len, size_t id_off, size_t ts_off,
                    char id_out[HS_ID_LEN + 1]);

/*
 * hs_spool_append_many with dedup: items[i] is lines[i]'s key. Under the
 * lock, after the catch-up, a keyed line whose key the store has seen,
 * or an earlier line of this batch has, is marked skip and not written;
 * the keys of the lines written are recorded with them (op->recorded
 * then says so, and which were recorded is !lines[i].skip &&
 * items[i].has_key). When every line is skipped, nothing is written and
 * HS_DEDUP_DUPLICATE is returned. op->hash and op->has_key are ignored.
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

#endif
