/*
 * counters.h - request counters shared by every process of a spool
 * (SPEC section 5: "counters count since the spool was created").
 *
 * SPOOL/counters is a file of fixed size HS_CNT_FILE_SIZE: an 8-byte
 * magic "HSCNT001" then HS_CNT_SLOTS unsigned 64-bit slots in the host's
 * byte order. Writers map it MAP_SHARED and bump slots with atomic
 * instructions: no lock, no system call, no fsync per count, so a flood
 * of bad signatures costs the good requests nothing.
 *
 * Slot layout (a slot never moves once released):
 *   0                    accepted events
 *   1                    answered as duplicates
 *   2                    last accepted time, ms since the epoch (0: none)
 *   3 .. 12              the status's cache of the spool's directory
 *                        figures (on main: HS_CNT_SCAN_*)
 *   13, 14               the spool's shared log limiter (on main: log.h
 *                        hs_log_shared: window, suppressed), not counts
 *   15                   handshakes answered (handshake.h)
 *   16 + r               rejections with hs_reason r (r >= 1; 16 is unused)
 * So a rejected slot is named by the hs_reason's value: new reasons must
 * be added before HS_R_COUNT, never in the middle, or old counts would
 * be read under new names. HS_CNT_MAX_REASONS leaves room for 48.
 *
 * Durability: nothing is flushed. The kernel writes the pages back in
 * its own time, so after a power cut (not after a kill -9: the page cache
 * survives the process) the last few seconds of increments may be lost.
 * That is by design: counters are a monitoring figure, events are the
 * record.
 *
 * Counting never fails a request: a spool without a usable counters file
 * (unwritable, wrong size or magic, a symlink, ...) makes hs_counters_open
 * fail, and every counting function accepts the resulting NULL handle as
 * a no-op.
 *
 * This header deliberately does not include handler.h (which includes
 * ctx.h, which may include this): reasons are passed as their int value.
 */
#ifndef HS_COUNTERS_H
#define HS_COUNTERS_H

#include <stdint.h>
#include <sys/types.h>

#define HS_CNT_FILE          "counters"   /* name inside the spool */
#define HS_CNT_MAGIC         "HSCNT001"   /* layout version: bump on change */
#define HS_CNT_MAGIC_LEN     8
#define HS_CNT_SLOTS         64
#define HS_CNT_FILE_SIZE     (HS_CNT_MAGIC_LEN + HS_CNT_SLOTS * 8)

#define HS_CNT_ACCEPTED      0u
#define HS_CNT_DUPLICATE     1u
#define HS_CNT_LAST_MS       2u           /* set, not added: see below */
#define HS_CNT_HANDSHAKES    15u          /* handshakes answered (handshake.h) */
#define HS_CNT_REASON_BASE   16u
#define HS_CNT_MAX_REASONS   (HS_CNT_SLOTS - HS_CNT_REASON_BASE)
/* The slot counting rejections with hs_reason r. */
#define HS_CNT_REJECTED(r)   (HS_CNT_REASON_BASE + (unsigned)(r))

typedef struct hs_counters hs_counters;

/* A copy of the figures, for the status. */
typedef struct hs_counters_snap {
    uint64_t accepted;
    uint64_t duplicate;
    uint64_t handshakes;
    uint64_t last_accepted_ms;                 /* 0: nothing accepted yet */
    uint64_t rejected[HS_CNT_MAX_REASONS];     /* indexed by hs_reason */
} hs_counters_snap;

/*
 * Open the counters of the spool directory `spool` for counting. The
 * spool directory must exist (the caller opens the spool first; this
 * never creates directories). A missing file is created with mode
 * 0666 & ~umask, set with fchmod so the process umask does not matter;
 * creation is safe against concurrent creators and against a creator
 * killed half-way (an all-zero file of the right size is a fresh one and
 * the first opener stamps the magic with a compare-and-swap). An
 * existing file's mode is never changed.
 *
 * Returns 0 with *out set, or a negative errno with *out = NULL:
 * -EINVAL (path empty or too long), -EBADMSG (the file is not a counters
 * file of this layout: wrong size, magic or type), or what open, fstat,
 * ftruncate or mmap said. The caller may log the error once; it must not
 * fail the request. *out is owned by the caller: hs_counters_close().
 */
int hs_counters_open(const char *spool, mode_t umask, hs_counters **out);

/* Unmap and free. NULL is a no-op. */
void hs_counters_close(hs_counters *c);

/*
 * 1 when c still maps the file its path names and that file still has
 * its size, else 0 (NULL: 0). An operator who deletes or replaces the
 * file (to reset the counts) is noticed here; the caller then closes and
 * reopens. Costs an fstat and a stat: call it where the spool handle is
 * revalidated, not per count. The file must never be truncated in place
 * while mapped: touching a mapped page past the end of a file raises
 * SIGBUS, which is why this checks the size too.
 */
int hs_counters_valid(const hs_counters *c);

/*
 * Add n to counter slot `slot` (HS_CNT_ACCEPTED, HS_CNT_DUPLICATE,
 * HS_CNT_REJECTED(reason)). Atomic across processes, lock-free, never
 * blocks, never fails: a NULL handle, an out-of-range slot and the time
 * slot HS_CNT_LAST_MS are ignored.
 */
void hs_counters_add(hs_counters *c, unsigned slot, uint64_t n);

/*
 * Record ms (milliseconds since the epoch) as the last accepted time.
 * A plain atomic store: with concurrent writers the last store wins,
 * which may be a few milliseconds older than the newest event; good
 * enough for "is anything arriving". NULL is a no-op.
 */
void hs_counters_set_last_accepted(hs_counters *c, uint64_t ms);

/*
 * Read the counters of spool `spool` into *out without changing anything
 * on disk and without needing write access: open(O_RDONLY) and pread,
 * never mmap, never create. *out is always filled: all zeros when the
 * spool or the file does not exist (returns 0 then) and on any error
 * (returns the negative errno; -EBADMSG for a file that is not a counters
 * file). Each value is as of some instant during the read: the set is
 * not one consistent cut, which a monitoring figure does not need.
 */
int hs_counters_read(const char *spool, hs_counters_snap *out);

#endif
