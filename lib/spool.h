/*
 * spool.h - the spool directory: append and seal (SPEC 6; the names of
 * its parts are layout.h's).
 *
 *   SPOOL/active/   the one segment being appended to
 *   SPOOL/ready/    sealed segments, never written again
 *   SPOOL/claimed/, failed/, invalid/   consumers' and inspection dirs
 *   SPOOL/lock      flock(2) serialising appends and sealing; its first
 *                   8 bytes hold the last stamp issued (microseconds),
 *                   so ids and segment names only go forward; a stored
 *                   stamp more than HS_STAMP_LEAD_MAX_S ahead of the
 *                   clock is garbage and ignored. received_at and the
 *                   age of a segment follow the clock, not the stamp
 *
 * Delivery follows qmail's maildir discipline: unique names, O_EXCL
 * creation, append under the lock at a recorded offset, cut back to that
 * offset on a failed write, fsync the data, then rename into place with
 * RENAME_NOREPLACE (sealing never overwrites) and fsync the directories.
 *
 * Every function returns 0 or a negative errno; the caller maps errno to
 * an answer (ENOSPC/EDQUOT: full; ETIMEDOUT: lock timeout; the rest:
 * unwritable). No function here logs or answers.
 */
#ifndef HS_SPOOL_H
#define HS_SPOOL_H

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "flush.h"
#include "layout.h"

#define HS_ID_LEN          36     /* 20261122T100000.123456Z-0123456789ab */
#define HS_TS_LEN          24     /* 2026-11-22T10:00:00.123Z */
#define HS_TAG_LEN         12     /* the id's last part: hex digits */
#define HS_LOCK_TIMEOUT_MS 10000  /* then ETIMEDOUT: the sender retries */
/* The longest one sleep waiting for the lock lasts before flock is tried
 * again: what a wake-up lost (a holder killed before it could wake) can
 * cost a waiter. */
#define HS_LOCK_WAKE_MS    200
/* Lock files one lock follows when SPOOL/lock was deleted or replaced
 * under it (spool.c, lock_moved); then -EAGAIN: the sender retries. */
#define HS_LOCK_MOVES_MAX  4
/* How long a handle that made SPOOL/lock again, in a spool that had
 * one, waits in its first hold: a critical section still under way on
 * the removed file is over by then (spool.c, lock_moved). */
#define HS_LOCK_GRACE_MS   1000
/* Free bytes below which a handle keeps no segment descriptor between
 * operations (spool.c, release_seg): a kept one may pin a segment that
 * was sealed and deleted meanwhile. */
#define HS_SPOOL_KEEP_ROOM 67108864ULL
/* A stored stamp this far ahead of the clock is not from a clock that was
 * once ahead (a wrong date put right) but garbage: ignored. */
#define HS_STAMP_LEAD_MAX_S (366LL * 86400)

typedef struct hs_spool_opts {
    long long rotate_bytes;    /* seal before a line would pass this size */
    long long rotate_seconds;  /* seal when the first line is this old */
    int       fsync_always;
    mode_t    umask;           /* modes of everything created */
} hs_spool_opts;

typedef struct hs_spool hs_spool;

/*
 * Open the spool at path (absolute). With create, the directory (and its
 * missing parents) and the subdirectories are created with modes
 * 0777 & ~umask (0666 for files), set explicitly so the process umask
 * does not matter, and flushed to disk when opts->fsync_always. Without
 * create, a missing spool is -ENOENT. *out is owned by the caller:
 * release it with hs_spool_close().
 */
int hs_spool_open(const char *path, const hs_spool_opts *opts, int create,
                  hs_spool **out);
void hs_spool_close(hs_spool *sp);

/*
 * Between operations, never under the lock: close the active segment's
 * descriptor that sp keeps from one operation to the next. A kept
 * descriptor is checked by name under the lock before each use, so it is
 * never written once another process has sealed its segment; but while
 * it is open, a sealed segment that a consumer deleted keeps its blocks.
 * Call this when idle (FastCGI: hs_ctx_park, when a worker finds no
 * request waiting), so an idle process pins nothing.
 */
void hs_spool_idle(hs_spool *sp);
/* Share flushes with the process' other threads (NULL: flush alone).
 * The flusher must outlive the handle. */
void hs_spool_set_flusher(hs_spool *sp, hs_flusher *f);
const char *hs_spool_path(const hs_spool *sp);
/* The spool directory this handle opened (its device and inode): two
 * handles of one directory say the same, whatever path opened them. */
void hs_spool_id(const hs_spool *sp, dev_t *dev, ino_t *ino);
/* How this handle's sleeps waiting for the lock ended so far: woken (by
 * an unlock, or the lock moved before the sleep) or timed out
 * (HS_LOCK_WAKE_MS passed: a wake-up lost). For tests and benchmarks. */
void hs_spool_lock_waits(const hs_spool *sp, uint64_t *woken, uint64_t *timed_out);

/*
 * Hooks that run under the spool lock around one append, so another
 * module (dedup) can decide and record atomically with the write:
 *  pre:   before anything is written or sealed; a non-zero return aborts
 *         the append with that value (positive: a decision such as
 *         "duplicate", answered like an append: with fsync_always, only
 *         once the active segment, which may hold the line that decision
 *         rests on, is flushed; negative: an errno);
 *  seal:  when the active segment, its data flushed, is about to leave
 *         active/ (sealed by this append or rotate), with its name and
 *         size; whatever must be durable before the segment is sealed
 *         (the index of its keys) is made so here; non-zero fails the
 *         operation with that value and the segment stays active;
 *  post:  after the line is completely written, with the segment's name
 *         and its new end; a non-zero return cuts the line back out and
 *         the append fails with that value;
 *  abort: when pre returned 0 but the append then failed (also after a
 *         failed post), to undo what pre began.
 * Any hook may be NULL; hooks itself may be NULL.
 */
typedef struct hs_spool_hooks {
    int  (*pre)(void *arg, hs_spool *sp);
    int  (*post)(void *arg, const char *seg, uint64_t end);
    int  (*seal)(void *arg, const char *seg, uint64_t end);
    void (*abort)(void *arg);
    void  *arg;
} hs_spool_hooks;

/*
 * Append one event line. line[0..len) must end with '\n' and hold
 * HS_ID_LEN bytes at id_off and HS_TS_LEN bytes at ts_off, which are
 * overwritten under the lock with the event id, from the spool's stamp
 * (so id order is append order, and ids are unique), and received_at,
 * from the clock read with that stamp (the stamp runs ahead of the clock
 * for a while after the clock steps back; received_at never does). The id is also copied to
 * id_out[HS_ID_LEN + 1]. Under the lock: a partial tail left by a killed
 * writer is cut back first; the segment is sealed first if this line would
 * pass rotate_bytes or it is rotate_seconds old. The write is cut back to
 * its recorded offset if it fails. With fsync_always, the data is flushed
 * after the lock is released, through the flusher when one is set, so
 * concurrent writers share one flush; a failed flush is an error: the
 * line is then in the spool but the caller must not acknowledge it.
 * Returns 0, a hook's value, or a negative errno.
 */
int hs_spool_append(hs_spool *sp, const hs_spool_opts *opts,
                    char *line, size_t len, size_t id_off, size_t ts_off,
                    char id_out[HS_ID_LEN + 1], const hs_spool_hooks *hooks);

/*
 * One line of a multi-line append (hs_spool_append_many): buf[off ..
 * off + len) ending in '\n', with HS_ID_LEN placeholder bytes at off +
 * id_off and HS_TS_LEN at off + ts_off. A pre hook may set skip (a
 * duplicate): that line is not written. id receives the line's id.
 */
typedef struct hs_spool_line {
    size_t off, len, id_off, ts_off;
    int    skip;
    char   id[HS_ID_LEN + 1];
} hs_spool_line;

/*
 * Append the lines of buf[0..len), lines[0..n) in order, back to back
 * and covering buf, as hs_spool_append appends one: under one hold of
 * the lock, after the pre hook (which may mark lines skip, but must then
 * leave one or return non-zero: with none left the append is -EINVAL),
 * the remaining lines are moved together to the front of buf, each
 * stamped with its own id (consecutive stamps, so their order is the
 * batch's) and the same received_at, and written with one write at the
 * recorded end, which a failure cuts back whole: no crash leaves part of
 * a batch (issue 17, promise 2). The segment is sealed first if the
 * batch would pass rotate_bytes; a batch larger than rotate_bytes goes
 * into one segment whole. Returns what hs_spool_append returns.
 */
int hs_spool_append_many(hs_spool *sp, const hs_spool_opts *opts, char *buf, size_t len,
                         hs_spool_line *lines, size_t n, const hs_spool_hooks *hooks);

/*
 * From a hook, under the lock: the active segment as it is now, with a
 * partial tail already cut back. name gets its file name and *fd a
 * descriptor owned by sp (valid until the lock is released); *fd is -1
 * and name "" when there is no active segment.
 */
int hs_spool_current(hs_spool *sp, char name[HS_SEG_NAME_MAX], int *fd,
                     uint64_t *size);

/*
 * Seal the active segment if it is due (force: if it holds anything).
 * An empty stale segment is removed instead. Returns 0 (also when there
 * was nothing to do) or a negative errno. *sealed (may be NULL) is set to
 * 1 when a segment moved to ready/.
 */
int hs_spool_rotate(hs_spool *sp, const hs_spool_opts *opts, int force,
                    int *sealed);
/* The same with hooks->pre run under the lock before sealing (post and
 * abort are not used). */
int hs_spool_rotate_hooks(hs_spool *sp, const hs_spool_opts *opts, int force,
                          int *sealed, const hs_spool_hooks *hooks);

/*
 * Keep body[0..len) as sent in SPOOL/invalid/ for inspection, so that all
 * kept bodies together stay within `keep` bytes: the oldest are removed
 * to make room, and a body larger than keep is not kept. Names sort by
 * time like segments, with ".body". Not flushed: these are not
 * acknowledged data. Returns 0 when kept, 1 when not kept, or a negative
 * errno. Takes the spool lock.
 */
#define HS_INVALID_MAX_FILES 4096
int hs_spool_keep_invalid(hs_spool *sp, const hs_spool_opts *opts,
                          const void *body, size_t len, long long keep);

/* 1 when the spool's path still names the directory this handle has
 * open (an operator may have removed or replaced it), else 0. The open
 * directory's identity is read once; after that one stat of the path
 * answers, since an inode held open cannot be reused by another file. */
int hs_spool_valid(hs_spool *sp);

/* Bytes of partial tails cut back since the last call (for the log). */
uint64_t hs_spool_take_repaired(hs_spool *sp);

/*
 * Trust (issue 13 item 5). On shared hosting the spool's parent may be
 * writable by a neighbour, who could pre-create the spool or plant parts
 * of it (symlinks, forged segments). Every part is opened without
 * following symlinks, relative to the spool's own descriptor where it
 * can be, and refused unless:
 *  - it is of the expected type (a directory, a regular file), not a
 *    symlink;
 *  - the spool directory is owned by the effective user (or the process
 *    is root, or the umask shares the spool with the group and the
 *    directory's group is one of ours: a cron job of the web server's
 *    group); a part is owned by the effective user, the spool's owner or
 *    root, or (the umask sharing with the group) has the spool's group;
 *  - group and others may not write it beyond what the umask allows
 *    (mode & 022 & umask is 0).
 * A refusal is -HS_EUNTRUSTED, with the reason in hs_spool_problem().
 */
#define HS_EUNTRUSTED ENOTRECOVERABLE

/* The reason of this thread's last refusal ("" when none). */
const char *hs_spool_problem(void);
/* strerror(-neg_errno), or the reason for -HS_EUNTRUSTED. */
const char *hs_spool_strerror(int neg_errno);
/* Check the spool directory (its fstat in st) for this process; path
 * only names it in the reason. 0 or -HS_EUNTRUSTED. */
int hs_spool_trust_root(const struct stat *st, mode_t umask, const char *path);
/* Check a part of the spool (its fstat or lstat in st) of type type
 * (S_IFDIR or S_IFREG) in a spool whose directory's fstat is root; what
 * names it in the reason. 0 or -HS_EUNTRUSTED. */
int hs_spool_trust_part(const struct stat *st, mode_t type, const struct stat *root,
                        mode_t umask, const char *what);
/* Check spool/name by path, not following symlinks, and the spool
 * directory with it (for the parts opened by path: SQLite's files, the
 * counters). A missing name is -ENOENT. 0 or -HS_EUNTRUSTED. */
int hs_spool_trust_path(const char *spool, const char *name, mode_t type, mode_t umask);

/*
 * Open (creating it, with the spool's umask, if missing) the regular
 * file SPOOL/name for reading and writing, relative to the directory sp
 * opened and checked, never following a symlink, and check it as a part
 * of the spool (hs_spool_trust_part): for a file whose contents decide
 * about events (dedup's tail map, tailmap.h), which must not be found by
 * path again, since whoever owns the spool's parent can put another
 * directory at that path. 0 with *fd (the caller's to close) and its
 * fstat in *st, or a negative errno (-HS_EUNTRUSTED).
 */
int hs_spool_open_file(hs_spool *sp, const char *name, int *fd, struct stat *st);

/* The HS_TAG_LEN hex digits naming (host, spool path), a NUL after
 * them: the id's uniqueness across hosts and across spools of one host
 * (their stamps are independent). 0, or -ENOMEM / -EIO when libcrypto
 * fails. */
int hs_spool_tag(const char *host, const char *path, char tag[HS_TAG_LEN + 1]);

/* Format stamp (microseconds since the epoch) as an id / received_at.
 * tag is HS_TAG_LEN hex digits. Buffers get a NUL after the fixed width. */
void hs_spool_fmt_id(uint64_t stamp, const char *tag, char out[HS_ID_LEN + 1]);
void hs_spool_fmt_ts(uint64_t stamp, char out[HS_TS_LEN + 1]);

#endif
