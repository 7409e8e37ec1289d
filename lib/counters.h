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
 *                        figures (HS_CNT_SCAN_*, see hs_counters_status)
 *   13, 14               the spool's shared log limiter (log.h
 *                        hs_log_shared: window, suppressed), not counts
 *   15                   handshakes answered (handshake.h)
 *   16 + r               rejections with hs_reason r (r >= 1; 16 is unused)
 *   63                   probes: authenticated empty POSTs (issue 17),
 *                        taken from the top of the rejected range, which
 *                        reasons (counted from its bottom) never reach
 * So a rejected slot is named by the hs_reason's value: new reasons must
 * be added before HS_R_COUNT, never in the middle, or old counts would
 * be read under new names. HS_CNT_MAX_REASONS leaves room for 47. A file
 * written before probes were counted holds 0 in slot 63 (no reason ever
 * reached it), so the layout and its magic stay as they were.
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
 * The per-minute ring (SPOOL/minutes, a second file beside this one):
 * accepted events, duplicates and rejections per minute over the last
 * HS_MIN_SPAN minutes, for the status page's chart. A second file, not
 * more slots under a new magic: a spool made by an older hookspool keeps
 * its counters file and its counts, and the counters file's slots stay
 * where other code (and other branches) expect them. The file is
 * HS_MIN_FILE_SIZE bytes: the magic "HSMIN001", then HS_MIN_SPAN rows of
 * HS_MIN_KINDS 64-bit words, row m % HS_MIN_SPAN for minute m (minutes
 * since the epoch). Each word is (m << 32) | count: one compare-and-swap
 * both starts a new minute (a word holding an older minute counts as 0)
 * and counts, so processes sharing the mapping never lose a count and
 * never need a lock, a system call or a flush. Opened, created and
 * damaged like the counters file; a ring that cannot be used counts
 * nothing and never fails the counters.
 *
 * This header deliberately does not include handler.h (which includes
 * ctx.h, which may include this): reasons are passed as their int value.
 */
#ifndef HS_COUNTERS_H
#define HS_COUNTERS_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "log.h"

#define HS_CNT_FILE          "counters"   /* name inside the spool */
#define HS_CNT_MAGIC         "HSCNT001"   /* layout version: bump on change */
#define HS_CNT_MAGIC_LEN     8
#define HS_CNT_SLOTS         64
#define HS_CNT_FILE_SIZE     (HS_CNT_MAGIC_LEN + HS_CNT_SLOTS * 8)

#define HS_CNT_ACCEPTED      0u
#define HS_CNT_DUPLICATE     1u
#define HS_CNT_LAST_MS       2u           /* set, not added: see below */
/* The status's cache: a sequence word (odd while being written), the
 * second it was scanned at (0: none), then the figures. */
#define HS_CNT_SCAN_SEQ      3u
#define HS_CNT_SCAN_AT       4u
#define HS_CNT_SCAN_FIRST    5u           /* first figure slot */
#define HS_CNT_SCAN_FIGURES  8u           /* slots 5 .. 12 */
#define HS_CNT_LOG_WINDOW    13u          /* hs_log_shared, not counts */
#define HS_CNT_LOG_SUPPRESSED 14u
#define HS_CNT_HANDSHAKES    15u          /* handshakes answered (handshake.h) */
#define HS_CNT_REASON_BASE   16u
#define HS_CNT_PROBES        (HS_CNT_SLOTS - 1u)
#define HS_CNT_MAX_REASONS   (HS_CNT_PROBES - HS_CNT_REASON_BASE)
/* The slot counting rejections with hs_reason r. */
#define HS_CNT_REJECTED(r)   (HS_CNT_REASON_BASE + (unsigned)(r))

/* The per-minute ring (see above). */
#define HS_MIN_FILE          "minutes"
#define HS_MIN_MAGIC         "HSMIN001"
#define HS_MIN_SPAN          1440         /* minutes kept: 24 hours */
enum { HS_MIN_ACCEPTED, HS_MIN_DUPLICATE, HS_MIN_REJECTED, HS_MIN_KINDS };
#define HS_MIN_FILE_SIZE     (HS_CNT_MAGIC_LEN + HS_MIN_SPAN * HS_MIN_KINDS * 8)
#define HS_MIN_COUNT_MAX     UINT32_MAX   /* a minute's count saturates here */

typedef struct hs_counters hs_counters;

/*
 * Map the file open on fd (its fstat in st), a regular file of `size`
 * bytes starting with the 8-byte `magic`, shared and read-write: the one
 * way the spool's shared files are mapped (the counters, the minutes,
 * dedup's tail map: tailmap.h), so all get the same care. A new file
 * (size 0) is sized and stamped; every block is allocated before the
 * first write through the mapping (a hole written on a full filesystem
 * is a SIGBUS). The caller opened and checked the file and closes fd.
 * 0 with *map (munmap it with `size`), or a negative errno (-EBADMSG:
 * not a regular file, another size or magic).
 */
struct stat;
int hs_counters_map_fd(int fd, const struct stat *st, size_t size, const char *magic,
                       uint64_t **map);

/*
 * Open (creating if missing, with the mode umask leaves of 0666)
 * SPOOL/name by path, check it as the spool's (spool.h, "Trust") and map
 * it (hs_counters_map_fd). SQLite's files and these are the parts opened
 * by path. 0 with *map and its fstat in *st, or a negative errno. With
 * keep non-NULL the descriptor stays open in *keep (the caller's to
 * close; -1 on failure), else it is closed.
 */
int hs_counters_map_file(const char *spool, const char *name, size_t size, const char *magic,
                         mode_t umask, uint64_t **map, struct stat *st, int *keep);

/* The ring as read: n[i] is minute first + i, oldest first; the last
 * row is the minute of `now`. */
typedef struct hs_counters_minutes {
    int64_t  first;                             /* minutes since the epoch */
    uint32_t n[HS_MIN_SPAN][HS_MIN_KINDS];
} hs_counters_minutes;

/* A copy of the figures, for the status. */
typedef struct hs_counters_snap {
    uint64_t accepted;
    uint64_t duplicate;
    uint64_t handshakes;
    uint64_t last_accepted_ms;                 /* 0: nothing accepted yet */
    uint64_t probes;                           /* authenticated empty POSTs */
    uint64_t rejected[HS_CNT_MAX_REASONS];     /* indexed by hs_reason */
} hs_counters_snap;

/*
 * The figures of a spool's directories as one scan found them (status.c
 * scans; the counters file only keeps them). Eight 64-bit words, in the
 * order of the cache slots.
 */
#define HS_CNT_NO_OLDEST INT64_MIN   /* ready/ is empty */
typedef struct hs_counters_scan {
    uint64_t active_bytes;
    uint64_t ready_segments;
    uint64_t ready_bytes;
    uint64_t archive_bytes;                    /* in archive/ (compressed) */
    int64_t  oldest_ready;                     /* seconds since the epoch;
                                                * HS_CNT_NO_OLDEST: none */
    uint64_t claimed_segments;
    uint64_t failed_segments;
    uint64_t invalid_bodies;
} hs_counters_scan;

/* Scan the spool into *out (zeroed by the caller). 0 when every
 * directory was read whole, else a negative errno: *out then holds what
 * was read, and is used for this answer but never kept. */
typedef int (*hs_counters_scan_fn)(void *arg, hs_counters_scan *out);

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
 * blocks, never fails: a NULL handle, an out-of-range slot, the time
 * slot HS_CNT_LAST_MS and the log limiter's slots are ignored.
 */
void hs_counters_add(hs_counters *c, unsigned slot, uint64_t n);

/*
 * hs_counters_add at second `now` (seconds since the epoch): also counts
 * n in the ring's row of now's minute, kind HS_MIN_ACCEPTED for
 * HS_CNT_ACCEPTED, HS_MIN_DUPLICATE for HS_CNT_DUPLICATE, HS_MIN_REJECTED
 * for every HS_CNT_REJECTED(r). hs_counters_add is this at the coarse
 * real-time clock (a vDSO read, no system call).
 */
void hs_counters_add_at(hs_counters *c, unsigned slot, uint64_t n, time_t now);

/*
 * Read the ring of spool `spool` for the HS_MIN_SPAN minutes ending with
 * now's minute into *out, as hs_counters_read reads (read-only, pread,
 * never creates, no write access needed). *out is always filled: zeros
 * when the file is missing (returns 0) or on an error (the negative
 * errno; -EBADMSG: not a ring file).
 */
int hs_counters_read_minutes(const char *spool, time_t now, hs_counters_minutes *out);

/*
 * The log limiter shared by every process of this spool (log.h), in the
 * mapped file: so a plain CGI, a process per request, is limited too.
 * *out is filled and 0 returned, or -1 for a NULL handle (then log with
 * the process's own limiter). Valid while c is open.
 */
int hs_counters_log_shared(hs_counters *c, hs_log_shared *out);

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

/*
 * What the status needs of the counters file of `spool`: the counts into
 * *counts (as hs_counters_read; the return value is its error) and the
 * directory figures into *scan, scanned by scan(arg) at most once a
 * second for all the processes of the spool together:
 *
 *   - a cache stored during second `now` (or the next one, from a
 *     process whose clock read was later) is used as it is;
 *   - else the first process that gets flock(LOCK_EX | LOCK_NB) on the
 *     counters file (opened read-write, never created) scans and stores
 *     the figures with `now` under a sequence word, so a reader never
 *     takes half of an old and half of a new set;
 *   - a process that finds the lock taken (another one is scanning), or
 *     may not write the file, uses the cache if it is from the second
 *     before, else scans for itself without storing; so does anyone
 *     when there is no usable counters file.
 *
 * A process killed while storing leaves the sequence word odd: readers
 * then scan for themselves until the next second's scanner stores a new
 * set. Nothing is ever created: without the file (before the first POST)
 * this reads nothing and stores nothing. Writing the cache changes only
 * slots HS_CNT_SCAN_*, never a count. Unlike hs_counters_read this maps
 * the file (read-only without write access), for the atomic loads the
 * sequence word needs; like every mapping of it, it assumes the file is
 * never truncated in place (see hs_counters_valid).
 */
int hs_counters_status(const char *spool, time_t now, hs_counters_scan_fn scan, void *arg,
                       hs_counters_snap *counts, hs_counters_scan *out);

#endif
