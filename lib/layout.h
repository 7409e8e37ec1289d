/*
 * layout.h - the spool's layout (SPEC 6): the one owner of its names.
 *
 *   SPOOL/active/    the segment being appended to
 *   SPOOL/ready/     sealed segments
 *   SPOOL/claimed/   segments a consumer has taken
 *   SPOOL/failed/    dead letters
 *   SPOOL/invalid/   bodies kept for inspection (*.body)
 *   SPOOL/archive/   consumed segments kept for replay, compressed
 *                    (*.jsonl.gz, gzip), with HOOKSPOOL_ARCHIVE_SECONDS
 *   SPOOL/lock       the appenders' lock (flock), its last stamp (bytes
 *                    0-7) and its wake-up words (HS_LOCK_WAKE_OFF)
 *
 * A segment is named YYYYMMDDTHHMMSSZ-<host>-<usec>.jsonl: the UTC time
 * of its first stamp, the host that made it, the stamp's microseconds.
 * Names sort by time. A segment `hookspool replay` writes is named
 * YYYYMMDDTHHMMSSZ-<host>-<usec>-replay.jsonl (the time it was
 * replayed): its events are older than its name says, so whatever skips
 * segments by their names' times must not skip these. Whatever lists, counts, takes or creates segments
 * (spool, consumer, status, check) asks this module what a segment is,
 * where it lives and whether the spool can be written; no other file
 * spells a directory name or the suffix.
 *
 * Every function returns 0 or a negative errno unless it says otherwise,
 * and neither logs nor answers.
 */
#ifndef HS_LAYOUT_H
#define HS_LAYOUT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* The spool's directories. */
typedef enum hs_layout_dir {
    HS_DIR_ACTIVE, HS_DIR_READY, HS_DIR_CLAIMED, HS_DIR_FAILED, HS_DIR_INVALID,
    HS_DIR_ARCHIVE, HS_DIR_COUNT
} hs_layout_dir;

/* A mask of directories: 1u << hs_layout_dir. */
#define HS_DIRS_ALL      ((1u << HS_DIR_COUNT) - 1)
/* What an appender writes in: a new segment in active/, sealed into ready/. */
#define HS_DIRS_APPEND   ((1u << HS_DIR_ACTIVE) | (1u << HS_DIR_READY))

#define HS_LAYOUT_LOCK   "lock"
/* In SPOOL/lock: two 32-bit words, a count of unlocks and a count of
 * waiters, that lock waiters sleep on (a futex) and unlockers wake
 * (spool.c, lock_spool). They decide nothing: what holds the lock is
 * flock alone. */
#define HS_LOCK_WAKE_OFF 64
#define HS_LOCK_WAKE_END (HS_LOCK_WAKE_OFF + 8)
#define HS_SEG_SUFFIX    ".jsonl"
#define HS_BODY_SUFFIX   ".body"       /* a kept body in invalid/ */
#define HS_ARCH_SUFFIX   ".jsonl.gz"   /* an archived segment: its name + ".gz" */
#define HS_GZ_SUFFIX     ".gz"
#define HS_REPLAY_SUFFIX "-replay.jsonl" /* a replayed segment */
#define HS_SEG_NAME_MAX  96            /* a name's bytes with its NUL */
#define HS_HOST_MAX      32            /* the host part of a name */
#define HS_SEG_TIME_LEN  16            /* "YYYYMMDDTHHMMSSZ" */
/* A spool's path is shorter than this: room below PATH_MAX for the
 * longest name opened by path under it, the store's temporary copy and
 * its journal ("/state.db.new-<pid>-<s>-<n>-<ns>-journal", at most 61
 * bytes). Longer paths a consumer prints are refused where it opens the
 * spool (ENAMETOOLONG). */
#define HS_SPOOL_PATH_MAX (PATH_MAX - 64)
/* Names one listing holds at most (hs_layout_list). */
#define HS_LAYOUT_LIST_MAX 262144

/* The name of directory d ("active", ...); d < HS_DIR_COUNT. */
const char *hs_layout_dir_name(hs_layout_dir d);

/* 1 when name can be a segment: "*.jsonl" with something before the
 * suffix, no '/', shorter than HS_SEG_NAME_MAX. Else 0. */
int hs_layout_is_seg(const char *name);

/* 1 when name is a replayed segment's (or its archive's): it ends with
 * HS_REPLAY_SUFFIX, or that and HS_GZ_SUFFIX. */
int hs_layout_is_replay(const char *name);

/* The name of a replayed segment, stamped `stamp` by host: as
 * hs_layout_name with HS_REPLAY_SUFFIX. */
void hs_layout_replay_name(uint64_t stamp, const char *host, char out[HS_SEG_NAME_MAX]);

/* 1 when name ends with suf and has something before it. */
int hs_layout_has_suffix(const char *name, const char *suf);

/* This machine's host name as a name's host part: up to the first dot,
 * at most HS_HOST_MAX bytes, every byte not [A-Za-z0-9-] as '-'; "host"
 * when the name is empty. */
void hs_layout_host(char out[HS_HOST_MAX + 1]);

/* The name of a file stamped `stamp` (microseconds since the epoch) by
 * host: "YYYYMMDDTHHMMSSZ-<host>-<usec><suffix>" (suffix HS_SEG_SUFFIX
 * or HS_BODY_SUFFIX; host at most HS_HOST_MAX bytes). */
void hs_layout_name(uint64_t stamp, const char *host, const char *suffix,
                    char out[HS_SEG_NAME_MAX]);

/* The UTC time (seconds since the epoch) a name starts with, the form
 * hs_layout_name writes. 0, or -1 when name is not in that form (then
 * *out is untouched). */
int hs_layout_name_time(const char *name, int64_t *out);

/* The fixed-width UTC date and time of stamp at p: "YYYYMMDDTHHMMSS"
 * (15 bytes) or with seps "YYYY-MM-DDTHH:MM:SS" (19 bytes), years past
 * 9999 clamped so the width never changes. *usec gets the stamp's
 * microseconds. No NUL; returns the end. Arithmetic, not gmtime_r (which
 * reads /etc/localtime on its first call: a cost per CGI request). */
char *hs_layout_put_time(char *p, uint64_t stamp, int seps, unsigned *usec);

/* v as exactly w decimal digits at p (the caller keeps v < 10^w); returns
 * the end. */
char *hs_layout_put_digits(char *p, unsigned v, int w);
/* n decimal digits at s as a number, or -1 if any is not a digit. */
int64_t hs_layout_digits(const char *s, size_t n);
/* Seconds since the epoch of y-mo-d h:mi:s (UTC, years 0 to 9999, a leap
 * second allowed) into *out: 0, or -1 (out untouched) when any field is
 * out of range (a -1 from hs_layout_digits included). */
int hs_layout_civil(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi, int64_t s,
                    int64_t *out);

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil): pure arithmetic, no time zone, unlike
 * mktime, and no dependency on timegm. m 1..12, d 1..31. */
int64_t hs_days_from_civil(int64_t y, unsigned m, unsigned d);

/*
 * Why this process could not create or write the spool at path, or NULL
 * when it could. Permissions are the effective ids' (AT_EACCESS, as
 * open(2) checks them).
 *  - An existing spool (symlinks followed: trust is checked apart, see
 *    spool.h): a directory with rwx; each directory of `dirs` (a mask,
 *    HS_DIRS_*) that exists, a directory with rwx; the lock, where it
 *    exists, rw. A missing one would be created, which the spool's w
 *    covers.
 *  - A missing spool: its nearest existing ancestor is a directory with
 *    wx and every level between is simply missing (mkdir -p works).
 * The answer is a phrase to follow the path ("is not a directory").
 */
const char *hs_layout_unwritable(const char *path, unsigned dirs);

/*
 * The nearest existing ancestor of path, path itself included, copied to
 * anc (trimmed) with its stat in *sb. Returns 0 when path itself exists,
 * 1 for a proper ancestor, -1 when nothing could be stat'ed. *clean is 1
 * when every missing level was simply missing (ENOENT).
 */
int hs_layout_nearest(const char *path, char anc[PATH_MAX], struct stat *sb, int *clean);

/*
 * Call fn(arg, dfd, entry, d_type) for each entry of directory name
 * (relative to dfd; "." for dfd itself) but "." and "..". dfd is the
 * listed directory's descriptor, valid for the call. The directory is
 * opened read-only on a descriptor of its own, never through a symlink,
 * without touching its access time where the kernel lets us. Stops at
 * fn's first non-zero value and returns it; else 0, or a negative errno
 * (-ENOENT: the directory is missing).
 */
typedef int (*hs_layout_each_fn)(void *arg, int dfd, const char *entry, unsigned char d_type);
int hs_layout_each(int dfd, const char *name, hs_layout_each_fn fn, void *arg);

/* Names of one directory, sorted (names sort by time: oldest first). */
typedef struct hs_layout_names {
    char   (*name)[HS_SEG_NAME_MAX];
    size_t n, cap;
} hs_layout_names;

/*
 * The segment names (hs_layout_is_seg) of directory name under dfd into
 * *l, sorted, leaving out entries known not to be regular files or
 * symlinks (DT_UNKNOWN is kept: the caller checks what it opens). More
 * than HS_LAYOUT_LIST_MAX: -EOVERFLOW. On error l is empty. Release with
 * hs_layout_names_free.
 */
int hs_layout_list(int dfd, const char *name, hs_layout_names *l);

/* As hs_layout_list, for the names ending with `suffix` (no '/',
 * shorter than HS_SEG_NAME_MAX): HS_ARCH_SUFFIX lists the archive. */
int hs_layout_list_suffix(int dfd, const char *name, const char *suffix, hs_layout_names *l);
void hs_layout_names_free(hs_layout_names *l);

/* Open dir/name (dirfd AT_FDCWD: name is a path) for reading and
 * writing, creating it with mode if missing (fchmod'ed, so the process
 * umask does not narrow it); never through a symlink (O_NOFOLLOW) and
 * never blocking on a FIFO planted under the name (O_NONBLOCK). 0 with
 * *fd, or a negative errno (*fd -1). */
int hs_layout_open_rw(int dirfd, const char *name, mode_t mode, int *fd);

/* 1 when the filesystem of fd has fewer than `bytes` free for an
 * unprivileged writer (f_bavail), or when that cannot be told; else 0. */
int hs_layout_room_below(int fd, unsigned long long bytes);

/* This boot's id (/proc/sys/kernel/random/boot_id: HS_BOOT_ID_LEN
 * characters, then NULs to the end of out). 0, or a negative errno:
 * without it a shared file written before a power cut cannot be told
 * from one written in this boot (tailmap.h, keyfilter.h). */
#define HS_BOOT_ID_LEN  36      /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
#define HS_BOOT_ID_SIZE (HS_BOOT_ID_LEN + 4)
int hs_layout_boot_id(char out[HS_BOOT_ID_SIZE]);

/* close(fd) unless fd < 0: 0 or -errno. Linux closes the descriptor
 * even when close() fails, so the caller never retries. */
int hs_layout_close(int fd);

#endif
