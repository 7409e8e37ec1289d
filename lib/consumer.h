/*
 * consumer.h - the consumers' side of the spool (SPEC 6): claim, done,
 * requeue, consume, retry-failed.
 *
 * A segment moves between ready/, claimed/ and failed/ by
 * renameat2(RENAME_NOREPLACE) under its own name, so a move never
 * overwrites and exactly one of two racing movers wins; the loser sees
 * ENOENT and skips the segment silently. "Claimed at" is the mtime of a
 * file in claimed/ (set when it is claimed).
 *
 * Segment locks: a process moving a segment out of ready/ or claimed/
 * holds flock(LOCK_EX) on the segment's inode (the lock travels with
 * the file through renames). `consume` keeps it while its command runs
 * and until the segment's final move or deletion; `requeue` only takes
 * segments whose lock it gets without waiting, so it never takes one a
 * running consumer holds.
 *
 * Attempt counts live in the store (SPOOL/state.db), keyed by segment
 * name; nothing is ever written beside a segment.
 *
 * Nothing here parses arguments or prints: results (absolute paths) and
 * messages (one line, no prefix, no newline) go through the hs_cons_io
 * callbacks. Not thread-safe: one hs_cons per thread.
 */
#ifndef HS_CONSUMER_H
#define HS_CONSUMER_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "spool.h"

#define HS_CONS_MSG_MAX       (2 * PATH_MAX + 256)  /* one message */
#define HS_CONS_SCAN_MAX      HS_LAYOUT_LIST_MAX  /* segments listed per directory */
#define HS_CONS_ATTEMPTS_DEF  5       /* consume --max-attempts default */
#define HS_CONS_TIMEOUT_DEF   3600    /* consume --timeout default, seconds */
#define HS_CONS_KILL_GRACE_S  5       /* SIGTERM, then this long, then SIGKILL */
#define HS_CONS_BAD_COMMAND   2       /* hs_cons_consume: CMD cannot be run */

typedef struct hs_cons_io {
    /* One result: an absolute path, NUL-terminated, valid for the call.
     * Returns 0, or -1 when it cannot be delivered (stdout closed): the
     * command then stops before taking anything more. */
    int  (*path)(void *arg, const char *path);
    /* One message for the operator (a failure, or a segment skipped for
     * a reason worth knowing), valid for the call. May be NULL. */
    void (*warn)(void *arg, const char *msg);
    void  *arg;
} hs_cons_io;

typedef struct hs_cons hs_cons;

/*
 * Open the spool at `spool` for consuming: its ready/, claimed/ and
 * failed/ must exist. opts gives the rotation settings used to seal a
 * due active segment (claim, consume); it and io are copied. Nothing is
 * created and the store is not opened here. Returns 0, or a negative
 * errno (-ENOENT: the spool or one of its directories is missing), with
 * nothing reported. *out is the caller's: release with hs_cons_close().
 */
int  hs_cons_open(const char *spool, const hs_spool_opts *opts,
                  const hs_cons_io *io, hs_cons **out);
void hs_cons_close(hs_cons *c);

/*
 * The commands. Each returns 0 when everything it found to do was done
 * (also when there was nothing to do), 1 when some segment or FILE
 * failed while the others were handled, or a negative errno when it
 * could not work at all. Every failure has been reported through
 * io->warn by the time it returns.
 */

/* Seal a due active segment, then move the `max` oldest segments of
 * ready/ (0: all) to claimed/, set their mtime to now, report each
 * claimed/ path. */
int hs_cons_claim(hs_cons *c, long long max);

/* Each of files[0..n) must be a segment in this spool's claimed/:
 * delete it (keep_dir non-NULL: move it into keep_dir, never replacing a
 * file, and report its new path) and clear its attempt count. A FILE
 * that is not in claimed/ is reported and the others are still done. A
 * store that cannot be opened is reported but does not fail the command
 * (a stale count is harmless: names are never reused). */
int hs_cons_done(hs_cons *c, const char *const *files, size_t n,
                 const char *keep_dir);

/* Move the segments claimed at least older_than seconds ago (0: all)
 * back to ready/, except those whose lock another process holds; report
 * each ready/ path. */
int hs_cons_requeue(hs_cons *c, long long older_than);

/*
 * Is there an executable regular file for the command `file`, found as
 * posix_spawnp finds it (a name without '/' is looked up in PATH, or in
 * the C library's default path when PATH is unset)? 0, or -ENOENT (none)
 * or -EACCES (found, but not an executable regular file).
 */
int hs_cons_find_command(const char *file);

/*
 * How long consume lets one run of its command take, in seconds (>= 1;
 * HS_CONS_TIMEOUT_DEF unless set).
 */
void hs_cons_set_timeout(hs_cons *c, long long seconds);

/*
 * Keep consumed segments for `seconds` (HOOKSPOOL_ARCHIVE_SECONDS; 0, the
 * default: delete them). With a retention, `done` (without --keep) and
 * a successful `consume` compress a segment into SPOOL/archive/ before
 * deleting it (archive.h), and `claim` deletes archived segments older
 * than the retention. A segment that cannot be archived stays in
 * claimed/ and the failure is reported.
 */
void hs_cons_set_archive(hs_cons *c, long long seconds);

/* Delete the archived segments older than the retention (nothing
 * without one): what claim does first, and rotate after sealing. A
 * failure is reported. */
int hs_cons_prune_archive(hs_cons *c);

/*
 * Take segments as hs_cons_claim does (at most max, 0: all), each under
 * its lock, and run argv (argv[0] looked up in PATH, argv NULL-terminated)
 * once per segment, in a process group of its own: stdin is the segment
 * from its first byte, stdout and stderr are inherited, HOOKSPOOL_SEGMENT
 * is its claimed/ path. Exit 0: the segment is deleted, its count
 * cleared and its path reported. Otherwise its count is incremented and
 * it goes back to ready/, or to failed/ once the count reaches
 * max_attempts; the other segments go on. A run that outlasts the
 * timeout (hs_cons_set_timeout) is such a failure: its process group
 * gets SIGTERM, HS_CONS_KILL_GRACE_S seconds later SIGKILL.
 *
 * A command that cannot be run at all (argv[0] not found or not
 * executable, or its exec fails, e.g. a missing interpreter) is a
 * configuration error, not a failure of a segment: it is reported, no
 * count changes, a segment already taken goes back to ready/, nothing
 * more is taken, and HS_CONS_BAD_COMMAND is returned (also when ready/
 * is empty). SIGINT, SIGTERM or SIGHUP while the command runs is passed
 * on to its process group; its segment goes back to ready/ uncounted
 * and -EINTR is returned.
 *
 * The store is opened (created if need be) only when ready/ holds a
 * segment, and must open (without counts a poison segment would loop
 * forever): if it cannot, nothing is taken. The caller flushes its own
 * buffered output in the path callback: the command's output goes
 * straight to the inherited descriptors.
 */
int hs_cons_consume(hs_cons *c, long long max, long long max_attempts,
                    char *const argv[]);

/* Move the segments of failed/ (n == 0: all; else files[0..n), each of
 * which must be in this spool's failed/) back to ready/ with their count
 * reset, reporting each ready/ path. Needs the store (opened, created if
 * need be, only when there is something to move). */
int hs_cons_retry_failed(hs_cons *c, const char *const *files, size_t n);

#endif
