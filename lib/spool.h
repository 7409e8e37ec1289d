/*
 * spool.h - the spool directory: append, seal, and the layout of SPEC 6.
 *
 *   SPOOL/active/   the one segment being appended to
 *   SPOOL/ready/    sealed segments, never written again
 *   SPOOL/claimed/, failed/, invalid/   consumers' and inspection dirs
 *   SPOOL/lock      flock(2) serialising appends and sealing; its first
 *                   8 bytes hold the last stamp issued (microseconds),
 *                   so ids and segment names only go forward
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

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HS_ID_LEN          36     /* 20261122T100000.123456Z-0123456789ab */
#define HS_TS_LEN          24     /* 2026-11-22T10:00:00.123Z */
#define HS_SEG_NAME_MAX    96
#define HS_HOST_MAX        32
#define HS_LOCK_TIMEOUT_MS 10000  /* then ETIMEDOUT: the sender retries */

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
const char *hs_spool_path(const hs_spool *sp);

/*
 * Append one event line. line[0..len) must end with '\n' and hold
 * HS_ID_LEN bytes at id_off and HS_TS_LEN bytes at ts_off, which are
 * overwritten under the lock with the event id and received_at taken from
 * the same stamp (so id order is append order). The id is also copied to
 * id_out[HS_ID_LEN + 1]. Under the lock: a partial tail left by a killed
 * writer is cut back first; the segment is sealed first if this line would
 * pass rotate_bytes or it is rotate_seconds old. The write is cut back to
 * its recorded offset if it fails. With fsync_always, the data is flushed
 * after the lock is released (concurrent writers share flushes) and a
 * failed flush is an error: the line is then in the spool but the caller
 * must not acknowledge it.
 * `pre` (may be NULL) is called under the lock before anything is written,
 * with the stamp; a non-zero return aborts the append with that value.
 */
int hs_spool_append(hs_spool *sp, const hs_spool_opts *opts,
                    char *line, size_t len, size_t id_off, size_t ts_off,
                    char id_out[HS_ID_LEN + 1],
                    int (*pre)(void *arg, hs_spool *sp), void *pre_arg);

/*
 * Seal the active segment if it is due (force: if it holds anything).
 * An empty stale segment is removed instead. Returns 0 (also when there
 * was nothing to do) or a negative errno. *sealed (may be NULL) is set to
 * 1 when a segment moved to ready/.
 */
int hs_spool_rotate(hs_spool *sp, const hs_spool_opts *opts, int force,
                    int *sealed);

/* 1 when the spool's path still names the directory this handle has
 * open (an operator may have removed or replaced it), else 0. */
int hs_spool_valid(const hs_spool *sp);

/* Bytes of partial tails cut back since the last call (for the log). */
uint64_t hs_spool_take_repaired(hs_spool *sp);

/* Format stamp (microseconds since the epoch) as an id / received_at.
 * tag is 12 hex digits. Buffers get a NUL after the fixed width. */
void hs_spool_fmt_id(uint64_t stamp, const char *tag, char out[HS_ID_LEN + 1]);
void hs_spool_fmt_ts(uint64_t stamp, char out[HS_TS_LEN + 1]);

#endif
