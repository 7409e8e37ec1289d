/*
 * recorder.h - a FastCGI process' dedup recorder thread (issue 18).
 *
 * Recording a tail of HS_DEDUP_TAIL_KEYS keys in the store (dedup.h)
 * takes tens of milliseconds: SQLite's B-tree over random hashes dirties
 * about one leaf per key. Done by the thread that answered, after the
 * answer, it held up every request queued to that thread (with
 * fsync=never a process has one). So a FastCGI process keeps one
 * recorder: it hands out the tail the process' workers share
 * (hs_recorder_tail), after each answer a worker offers it that tail
 * (hs_ctx_idle) and goes on; the recorder records a copy with its own
 * store connection by hs_dedup_idle, whose rules make a late or
 * redundant recording harmless (it takes only what lies past the
 * store's cursor under SQLite's write lock). It records one tail at a
 * time; an offer made meanwhile is refused and made again after the
 * worker's next request, so a worker never waits for it. If it falls
 * behind, the tail grows until an append records it under the spool lock
 * (HS_DEDUP_TAIL_MAX, HS_DEDUP_TAIL_BYTES). Plain CGI has none: there
 * hs_ctx_idle records in the process, as hs_dedup_idle always did. A
 * recording yields the CPU every few dozen keys (dedup.c, record_tx),
 * so the workers it shares two CPUs with are not held up for its
 * milliseconds.
 *
 * The thread is the caller's (cgi/ starts it with hs_recorder_main);
 * what it keeps (the copy, one store connection) lives in hs_recorder.
 */
#ifndef HS_RECORDER_H
#define HS_RECORDER_H

#include <sys/types.h>

#include "dedup.h"

typedef struct hs_recorder hs_recorder;

hs_recorder *hs_recorder_new(void);     /* NULL: out of memory */

/* The thread's body (arg: the recorder): records what is offered until
 * hs_recorder_stop, then closes its store connection. Returns NULL. */
void *hs_recorder_main(void *arg);

/*
 * Offer t, the tail the caller keeps for the spool at path spool (read
 * under that spool's lock, between the caller's lock holds), whose
 * configured umask is umask (the store's trust check needs it) and whose
 * store the caller has open as st: when the recorder is idle and t is
 * worth recording (hs_dedup_tail_take), a copy is made and recorded by
 * the thread, and 1 is returned; 0 when the recorder is busy, stopped,
 * or t is not worth it; -ENOMEM or -ENAMETOOLONG when the caller must
 * record t itself. The thread records only into the file st opened
 * (hs_store_id): a spool or store replaced at that path since is not
 * t's, and the copy is dropped (the keys stay in the lines).
 */
int hs_recorder_offer(hs_recorder *r, const hs_store *st, const char *spool, mode_t umask,
                      hs_dedup_tail *t);

/*
 * The tail of the spool at path spool that the process' workers share
 * (hs_dedup_tail_new_shared), made at the first call for that path and
 * kept until hs_recorder_free: every worker that asks for the same path
 * gets the same tail, and offers it after its answers. NULL when out of
 * memory, when the path is too long, or when HS_RECORDER_TAILS paths
 * have one already: the caller then keeps a tail of its own
 * (hs_dedup_tail_set_workers), as before issue 18's shared tails.
 */
#define HS_RECORDER_TAILS 4
hs_dedup_tail *hs_recorder_tail(hs_recorder *r, const char *spool);

/* Wait until nothing offered is waiting or being recorded. */
void hs_recorder_drain(hs_recorder *r);

/* Make hs_recorder_main return once it has recorded what it holds. */
void hs_recorder_stop(hs_recorder *r);

/* Release r: after hs_recorder_main returned, or when it never ran. */
void hs_recorder_free(hs_recorder *r);

#endif
