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

/*
 * The process's last append, for skipping the read of a segment's last
 * byte that checks for a torn tail (lib/spool.c fix_tail). Both are
 * called only between hs_flusher_gate and hs_flusher_ungate, which order
 * them; the spool lock is held as well.
 *
 * hs_flusher_set_end records that this process's last append left the
 * segment (dev, ino) named name whole at byte `end` (a name longer than
 * HS_FLUSH_NAME_MAX - 1 bytes clears the record instead).
 * hs_flusher_is_end answers 1 when the segment (dev, ino, name) has
 * exactly size bytes and that is where the recorded append left it.
 * Then no other writer has changed it since: an append by another
 * process only grows it (a killed one leaves it longer than `end`), and
 * a cut-back only returns to a line boundary. The name makes inode
 * reuse harmless, since segment names are never reused in a spool. The
 * record lives in memory, so after a crash or a reboot the next process
 * starts without one and reads the tail.
 */
#define HS_FLUSH_NAME_MAX 128
void hs_flusher_set_end(hs_flusher *f, dev_t dev, ino_t ino, const char *name, off_t end);
int  hs_flusher_is_end(const hs_flusher *f, dev_t dev, ino_t ino, const char *name, off_t size);

/* How many fdatasync calls the flusher has made (for tests and benches). */
uint64_t hs_flusher_count(hs_flusher *f);

#endif
