/*
 * status.h - the read-only status of SPEC section 5, as JSON or
 * Prometheus text.
 *
 * Collecting the status creates and deletes nothing and needs no write
 * access: it opens directories with O_PATH or O_RDONLY, lists them,
 * stats files and asks statvfs. No mkdir, no lock file, no counters
 * file, no store. A spool that does not exist yet is an empty spool with
 * the free space of its nearest existing parent directory.
 *
 * Listing a directory costs in proportion to what it holds (50,000
 * waiting segments: over 100 ms), so the status an HTTP client asks for
 * is "cached": the directory figures are scanned at most once a second
 * for all the processes of the spool and kept in the status slots of
 * SPOOL/counters (hs_counters_status), which is the one change the
 * status makes on disk, and only when that file exists and this process
 * may write it. Uncached (the shell's `hookspool status`), it changes
 * nothing at all and scans every time.
 *
 * What counts (SPEC section 6): in active/, ready/, claimed/ and failed/
 * only regular files that are segments (hs_layout_is_seg: what the
 * consumer takes for one); in invalid/ every regular file. Entries
 * that are symlinks or directories are never followed nor counted. A
 * directory that cannot be listed counts as empty: the status answers
 * whatever state the spool is in.
 */
#ifndef HS_STATUS_H
#define HS_STATUS_H

#include <stdint.h>
#include <time.h>
#include "buf.h"
#include "config.h"
#include "counters.h"

#define HS_STATUS_CT_JSON        "application/json"
#define HS_STATUS_CT_PROMETHEUS  "text/plain; version=0.0.4"
#define HS_STATUS_CT_HTML        "text/html; charset=utf-8"
/* The HTML page needs nothing from anywhere: no script, no style sheet
 * (it has no CSS at all: the chart's colours are SVG attributes, which
 * no policy governs), no image but its inline SVG, no form, no frame. */
#define HS_STATUS_HTML_CSP       "default-src 'none'; base-uri 'none'; form-action 'none'; " \
                                 "frame-ancestors 'none'"
#define HS_STATUS_HTML_EVENTS    20          /* the last events the page lists */
#define HS_STATUS_HTTP_OK        200
#define HS_STATUS_HTTP_DEGRADED  503

/* Why the status is degraded. The order is the order of "reasons". */
typedef enum {
    HS_DEG_SPOOL_UNWRITABLE = 0, /* this process could not append */
    HS_DEG_LOW_FREE_SPACE,       /* free_bytes < HOOKSPOOL_MIN_FREE */
    HS_DEG_CONSUMER_LAG,         /* oldest_ready_age_s > HOOKSPOOL_MAX_LAG */
    HS_DEG_DEAD_LETTERS,         /* failed_segments > 0 */
    HS_DEG_COUNT
} hs_degraded;

/* What hs_status_format writes. */
typedef enum {
    HS_STATUS_BRIEF = 0,     /* {"status":...,"reasons":[...]}: what anyone
                              * may see when no HOOKSPOOL_STATUS_TOKEN is
                              * set (SPEC 5) */
    HS_STATUS_FULL,          /* SPEC 5's whole JSON document */
    HS_STATUS_PROMETHEUS,    /* the whole document as Prometheus text */
    HS_STATUS_HTML           /* a page for a person: the figures, the
                              * per-minute chart of the last 24 hours,
                              * rejections by reason, the last events'
                              * ids, keys and times (never a body) */
} hs_status_form;

/* The figures of one status, as collected. */
typedef struct hs_status {
    hs_counters_snap counters;
    int      counters_err;        /* 0, or the negative errno reading them
                                   * (the counts are then 0) */
    int      spool_exists;        /* the spool directory exists */
    uint64_t active_bytes;
    uint64_t ready_segments;
    uint64_t ready_bytes;
    uint64_t oldest_ready_age_s;  /* 0 when ready/ is empty */
    uint64_t claimed_segments;
    uint64_t failed_segments;
    uint64_t invalid_bodies;
    uint64_t free_bytes;          /* 0 when statvfs failed */
    uint64_t archive_bytes;       /* archive/'s files (HOOKSPOOL_ARCHIVE_SECONDS) */
    unsigned reasons;             /* bit (1u << hs_degraded) per reason */
    time_t   now;                 /* when it was collected */
} hs_status;

/*
 * Collect the status of cfg's spool as of `now` into *st (always fully
 * set; never fails: what cannot be read counts as empty, and a spool
 * whose state cannot be determined at all is reported unwritable).
 * With `cached`, the directory figures may be up to a second old (see
 * above; free_bytes, the counts and the writability are always read
 * now); without, they are scanned now and nothing is written.
 *
 * The age of a ready segment is taken from the time in its name, not its
 * mtime (see status.c). Degraded reasons:
 *   spool_unwritable  the spool exists and this process could not
 *                     append to it: it lacks read, write and search
 *                     access (effective ids) to the spool, active/ or
 *                     ready/, or read and write access to SPOOL/lock, or
 *                     active/ or ready/ is not a directory, or the spool
 *                     is not one; or the spool does not exist and its
 *                     nearest existing parent is not a directory it may
 *                     write and search (the first POST could not create
 *                     it)
 *   low_free_space    free_bytes < cfg->min_free
 *   consumer_lag      oldest_ready_age_s > cfg->max_lag
 *   dead_letters      failed_segments > 0
 */
void hs_status_collect(const hs_config *cfg, time_t now, int cached, hs_status *st);

/*
 * Append the status st of cfg to out in `form`: HS_STATUS_BRIEF, only
 * {"status":...,"reasons":[...]} and a newline; HS_STATUS_FULL, SPEC
 * section 5's one-line JSON and a newline; HS_STATUS_PROMETHEUS,
 * Prometheus text format 0.0.4 (# HELP and # TYPE for each metric, names
 * prefixed hookspool_, counters ending _total, no timestamps). Returns 0,
 * or -ENOMEM (out->oom is then set and out holds a partial text the
 * caller must not send).
 */
int hs_status_format(const hs_config *cfg, const hs_status *st, hs_status_form form,
                     hs_buf *out);

/*
 * hs_status_collect then hs_status_format: the status of cfg's spool at
 * `now` in `form` appended to out (the caller owns out; it is not reset
 * first). *degraded (may be NULL) is set to 1 when the status is
 * degraded (answer HS_STATUS_HTTP_DEGRADED; `hookspool status` exits 1),
 * else 0. Returns 0, or -ENOMEM as hs_status_format.
 */
int hs_status_render(const hs_config *cfg, hs_status_form form, int cached, time_t now,
                     hs_buf *out, int *degraded);

#endif
