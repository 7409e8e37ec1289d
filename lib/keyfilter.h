/*
 * keyfilter.h - a Bloom filter of the keys in the dedup store, shared
 * by every process of a spool, so that a new event's key is known to be
 * absent from the store without asking SQLite.
 *
 * Issue 18: in the default configuration every append looked its key up
 * in state.db under the spool lock: a read transaction (its shared-memory
 * locks), the cursor, a B-tree walk to a leaf that is rarely in the
 * connection's small cache (a pread). Most events are new, and for a new
 * key the filter answers alone: the lookup is made only when the filter
 * says the key may be there (a duplicate, or a false positive).
 *
 * SPOOL/keyfilter is a file of HS_KF_FILE_SIZE bytes mapped shared: a
 * head (the magic HS_KF_MAGIC, a generation, the boot it was built in,
 * the store file it describes, counts), then HS_KF_BITS bits. A key's
 * hash (a SHA-256, store.h) sets HS_KF_PROBES bits. The one promise:
 *
 *   every key in the store has its bits set in the filter, whenever the
 *   filter is usable (hs_keyfilter_absent answers 1 only then).
 *
 * Which rows it covers: the store counts every row ever inserted into
 * its dedup table (a trigger, so whatever program writes the row counts
 * it: store.c) as its epoch, and the head says up to which epoch the
 * bits are complete. A lookup compares it with the epoch its own read
 * transaction sees: any row written by a program that set no bits makes
 * them differ, and the filter is not used until it is built again.
 *
 * How it is kept:
 * - A key's bits are set before its row is written, by the connection
 *   that writes it, inside a write transaction (SQLite's write lock,
 *   which every writer of the store and the builder take): store.c
 *   hs_store_key_put. A row whose transaction rolls back leaves bits set:
 *   a false positive costs a lookup, never an answer.
 * - The writer that set the bits moves the head's epoch from the one its
 *   transaction began with to the one it committed, only if the head
 *   still said the first (hs_keyfilter_advance). Another writer's rows
 *   in between (none can be: the write lock) or a writer without the
 *   filter leave the epochs apart: unusable until built.
 * - A key deleted (the window's purge, a forget, a power cut's drop)
 *   keeps its bits: more false positives, never a false "absent". They
 *   are shed when the filter is built again, once HS_KF_REBUILD_AT keys
 *   were added since the last build (and at least as many as it was
 *   built with).
 * - Built (hs_keyfilter_build_begin, then every key of the store added)
 *   inside a write transaction, so no row is written meanwhile, and
 *   ended (hs_keyfilter_build_end) once that transaction committed. Until
 *   its end the generation is odd, and an odd generation is not usable:
 *   a builder killed midway, or whose transaction failed, leaves it so,
 *   and the next builds it again.
 * - Usable only when built in this boot (a power cut may leave any mix
 *   of old and new pages on disk; nothing here is ever flushed), for the
 *   store file the caller has open (a store replaced or deleted and made
 *   again is another file), and while the file is still linked (an
 *   operator who deletes or replaces it: the writers open the new file,
 *   which is built again before it is used).
 * A lookup reads the generation before and after the bits (a seqlock):
 * a build that began in between makes the answer "maybe".
 *
 * Opened by path, like SQLite's files and the counters (counters.h),
 * with the same trust checks (spool.h, "Trust"). Any failure leaves the
 * caller without a filter: every lookup then asks the store, as before.
 */
#ifndef HS_KEYFILTER_H
#define HS_KEYFILTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HS_KF_FILE        "keyfilter"   /* name inside the spool */
#define HS_KF_MAGIC       "HSKEYF01"    /* layout version: bump on change */
#define HS_KF_HEAD        4096          /* the head's bytes (a page) */
#define HS_KF_BITS        (UINT64_C(1) << 23)   /* 1 MiB of bits */
#define HS_KF_PROBES      4             /* bits per key */
#define HS_KF_FILE_SIZE   (HS_KF_HEAD + HS_KF_BITS / 8)
#define HS_KF_HASH        32            /* a key's hash: HS_STORE_KEY_LEN */
/* Keys added since the last build that make the next one due: at
 * 1,048,576 keys the filter answers "maybe" for about 2.4% of new keys. */
#define HS_KF_REBUILD_AT  (UINT64_C(1) << 20)

typedef struct hs_keyfilter hs_keyfilter;

/* Map SPOOL/keyfilter (made, sized and stamped if missing): 0 with *out,
 * or a negative errno (*out NULL). */
int  hs_keyfilter_open(const char *spool, mode_t umask, hs_keyfilter **out);
void hs_keyfilter_close(hs_keyfilter *f);

/* Is the mapped file still linked (not deleted, not renamed over)? 1, or
 * 0 when it is gone or fstat fails: reopen it (hs_keyfilter_open). */
int  hs_keyfilter_linked(const hs_keyfilter *f);

/* Set hash's bits. Only inside the store's write transaction. */
void hs_keyfilter_add(hs_keyfilter *f, const unsigned char hash[HS_KF_HASH]);

/* 1: no key with this hash is in store file (dev, ino) as of its epoch
 * `epoch` (read in the caller's transaction); 0: it may be, or the
 * filter cannot tell (not built, being built, another boot, another
 * store file, another epoch, unlinked). Never fails. */
int  hs_keyfilter_absent(const hs_keyfilter *f, dev_t dev, ino_t ino, uint64_t epoch,
                         const unsigned char hash[HS_KF_HASH]);

/* Should the filter be built (again) for store file (dev, ino) at
 * epoch `epoch`? 1 when it cannot be used for it, or HS_KF_REBUILD_AT
 * keys went in since it was built (and as many as it was built with). */
int  hs_keyfilter_due(const hs_keyfilter *f, dev_t dev, ino_t ino, uint64_t epoch);

/* After a commit that moved the store's epoch from `from` to `to` with
 * rows whose bits were added: the filter covers `to` when it covered
 * `from` (a compare-and-swap; anything else leaves it as it is). */
void hs_keyfilter_advance(hs_keyfilter *f, uint64_t from, uint64_t to);

/* Building, under the store's write lock: begin (the filter unusable,
 * every bit cleared), hs_keyfilter_add for every key of the store, and
 * once that transaction committed, end (usable for store file (dev, ino)
 * at `epoch` in this boot, `keys` keys in it). A build whose transaction
 * did not commit is never ended: the filter stays unusable. */
void hs_keyfilter_build_begin(hs_keyfilter *f);
void hs_keyfilter_build_end(hs_keyfilter *f, dev_t dev, ino_t ino, uint64_t epoch, uint64_t keys);

#endif
