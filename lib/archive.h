/*
 * archive.h - consumed segments kept for replay (HOOKSPOOL_ARCHIVE_SECONDS).
 *
 * With a retention set, `done` and `consume` keep a consumed segment as
 * SPOOL/archive/<name>.gz (gzip, readable with zcat) instead of deleting
 * it; `claim` and `rotate` delete archived segments older than the
 * retention (by the archive file's mtime: when it was archived).
 * `replay` copies archived events back into ready/ as a new segment.
 *
 * Files are written the maildir way: a temporary name in archive/ (a
 * name no listing takes: it does not end in a segment's suffix),
 * created O_EXCL, written, fsync'ed, then linked under its final name,
 * which never replaces a file, and the directory fsync'ed. archive/ is
 * a part of the spool like the others: created with the spool's modes,
 * and refused when it is a symlink, another's, or open to others
 * (spool.h, "Trust").
 *
 * Every function returns 0 or a negative errno unless it says otherwise.
 */
#ifndef HS_ARCHIVE_H
#define HS_ARCHIVE_H

#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "events.h"
#include "layout.h"

#define HS_ARCHIVE_TMP_PREFIX ".tmp-"    /* a file being written */
#define HS_ARCHIVE_NAME_TRIES 1000       /* replay: stamps tried for a free name */
#define HS_ARCHIVE_LEVEL      6          /* zlib's default compression */

/*
 * The archive directory of the spool whose directory is root_fd (its
 * fstat root_st; `path` names the spool in messages) into *fd (the
 * caller's): opened O_RDONLY | O_DIRECTORY | O_NOFOLLOW and checked as
 * a part of the spool; with `create`, made first when missing (mode
 * 0777 & ~umask, set explicitly). -ENOENT: missing and not created.
 */
int hs_archive_open(int root_fd, const struct stat *root_st, mode_t umask, const char *path,
                    int create, int *fd);

/* Compress from_fd/name (a directory descriptor and a segment's name)
 * into arch_fd/name.gz, mode 0666 & ~umask. -EEXIST: already archived
 * (never replaced). The source is left where it is. */
int hs_archive_put(int from_fd, const char *name, int arch_fd, mode_t umask);

/* Delete the archived segments of arch_fd (and temporary files left by
 * a killed writer) whose mtime is more than keep_seconds before now;
 * *deleted (may be NULL) counts them. */
int hs_archive_prune(int arch_fd, long long keep_seconds, time_t now, unsigned *deleted);

/*
 * Copy the archived events of the spool at `path` passing f into one
 * new segment in ready/, each line with "replayed_at" (now, as
 * received_at is written) after its key (replacing an earlier one), its
 * id and everything else kept. The segment is named by
 * hs_layout_replay_name for now's stamp (the next free one), written
 * and fsync'ed under a temporary name in archive/, then linked into
 * ready/. No match: nothing is written, *events 0. Dedup is not asked:
 * a replay is a redelivery. out_name gets the segment's name.
 */
int hs_archive_replay(const char *path, mode_t umask, const hs_ev_filter *f, uint64_t now_us,
                      char out_name[HS_SEG_NAME_MAX], uint64_t *events,
                      hs_ev_warn_fn warn, void *warn_arg);

#endif
