/*
 * flush.h - group commit: concurrent requests of one process share one
 * fdatasync(2).
 *
 * A writer registers each completed write (under the spool lock) and
 * gets a ticket; then, outside the lock, it waits until a flush that
 * started after its write has finished. The first waiter to find no
 * flush running does it for everyone registered so far; the others
 * sleep until it ends. A failed flush fails every ticket it covered
 * (SPEC: a failed flush answers 503 to every request waiting on it).
 *
 * Thread-safe; one per process, shared by every thread's context.
 */
#ifndef HS_FLUSH_H
#define HS_FLUSH_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define HS_FLUSH_FILES 16   /* segments tracked at once (LRU) */

typedef struct hs_flusher hs_flusher;

/* NULL on out of memory. */
hs_flusher *hs_flusher_new(void);
void        hs_flusher_free(hs_flusher *f);

/* Register a completed write to file (dev, ino); returns its ticket
 * (> 0), or 0 when the file could not be tracked (then flush alone). */
uint64_t hs_flusher_written(hs_flusher *f, dev_t dev, ino_t ino);

/*
 * Return when the write of `ticket` to (dev, ino) is on disk: 0, or the
 * negative errno of the flush that covered it. fd is any descriptor of
 * that file, open for the whole call (the caller's own). With ticket 0,
 * simply fdatasync(fd).
 */
int hs_flusher_wait(hs_flusher *f, dev_t dev, ino_t ino, uint64_t ticket, int fd);

/*
 * The process's turn to take a spool lock. Threads of one process would
 * otherwise all poll flock(2) (it has no timeout, so the spool polls it
 * with growing sleeps) and sleep past the moment it is free; queued on a
 * mutex they are handed the turn directly, and only one thread per
 * process polls the file lock against other processes. 0, or -ETIMEDOUT
 * once deadline (CLOCK_REALTIME) passes. hs_flusher_ungate ends the turn.
 */
int  hs_flusher_gate(hs_flusher *f, const struct timespec *deadline);
void hs_flusher_ungate(hs_flusher *f);

/* How many fdatasync calls the flusher has made (for tests and benches). */
uint64_t hs_flusher_count(hs_flusher *f);

#endif
