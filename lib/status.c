#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "events.h"
#include "layout.h"
#include "reason.h"
#include "spool.h"
#include "version.h"

#define LAST_MS_MAX     UINT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

_Static_assert(HS_R_COUNT <= HS_CNT_MAX_REASONS, "a counter per reason");

static const char *const degraded_names[HS_DEG_COUNT] = {
    [HS_DEG_SPOOL_UNWRITABLE] = "spool_unwritable",
    [HS_DEG_LOW_FREE_SPACE]   = "low_free_space",
    [HS_DEG_CONSUMER_LAG]     = "consumer_lag",
    [HS_DEG_DEAD_LETTERS]     = "dead_letters",
};

/* What one directory holds. */
typedef struct tally {
    uint64_t files;
    uint64_t bytes;
    int      have_oldest;
    int64_t  oldest;      /* seconds since the epoch */
} tally;

/*
 * Count the regular files of root/sub into *t: only segments when
 * `segments`, and with `ages` the oldest segment's time. A missing
 * directory is empty (0). Returns 0 or a negative errno (*t then holds
 * what was counted before the error).
 */
/* What tally_dir passes to its callback. */
typedef struct tally_arg {
    tally *t;
    int    segments, ages;
} tally_arg;

static int tally_one(void *arg, int dfd, const char *entry, unsigned char type)
{
    const tally_arg *a = arg;
    tally *t = a->t;
    struct stat sb;
    int64_t born;

    (void)type;
    if (a->segments && !hs_layout_is_seg(entry)) return 0;
    if (fstatat(dfd, entry, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -errno;   /* ENOENT: a consumer moved it meanwhile */
    if (!S_ISREG(sb.st_mode)) return 0;
    t->files++;
    t->bytes += (uint64_t)sb.st_size;
    if (!a->ages) return 0;
    /* Why the name and not the mtime: the name is stamped with the
     * segment's first line, i.e. the arrival of the oldest event in it,
     * and a segment keeps its name until it is deleted (SPEC 6). The
     * mtime is the time of the last append, so it understates the wait
     * of the first event by up to HOOKSPOOL_ROTATE_SECONDS, and copying
     * or touching a file resets it. A name not in the form (put there by
     * hand) falls back to the mtime, the best figure left. */
    if (hs_layout_name_time(entry, &born) != 0) born = (int64_t)sb.st_mtime;
    if (!t->have_oldest || born < t->oldest) {
        t->oldest = born;
        t->have_oldest = 1;
    }
    return 0;
}

static int tally_dir(int root_fd, hs_layout_dir sub, int segments, int ages, tally *t)
{
    tally_arg a;
    int rc;

    a.t = t;
    a.segments = segments;
    a.ages = ages;
    /* Read-only, no access time, a symlinked subdirectory not followed
     * (a planted spool, spool.h "Trust"): an error, as it is to the
     * appender. */
    rc = hs_layout_each(root_fd, hs_layout_dir_name(sub), tally_one, &a);
    return rc == -ENOENT ? 0 : rc;
}

/* Free bytes for an unprivileged writer of the filesystem holding path;
 * 0 when statvfs fails (which then reads as low free space). */
static uint64_t free_bytes(const char *path)
{
    struct statvfs vfs;
    uint64_t avail, frsize;
    if (statvfs(path, &vfs) != 0) return 0;
    avail = (uint64_t)vfs.f_bavail;
    frsize = (uint64_t)vfs.f_frsize;
    if (frsize != 0 && avail > UINT64_MAX / frsize) return UINT64_MAX;
    return avail * frsize;
}

/* What the directory scan needs: the spool's descriptor. */
typedef struct scan_arg {
    int root_fd;
} scan_arg;

/* Scan the spool's directories into *out (an hs_counters_scan_fn). A
 * directory that cannot be listed counts as empty and makes the scan
 * incomplete (not kept for others). */
static int scan_spool(void *arg, hs_counters_scan *out)
{
    const scan_arg *a = arg;
    tally active = { 0, 0, 0, 0 }, ready = { 0, 0, 0, 0 }, claimed = { 0, 0, 0, 0 },
          failed = { 0, 0, 0, 0 }, invalid = { 0, 0, 0, 0 }, archive = { 0, 0, 0, 0 };
    int rc = 0, r;

    if ((r = tally_dir(a->root_fd, HS_DIR_ACTIVE, 1, 0, &active)) != 0) rc = r;
    if ((r = tally_dir(a->root_fd, HS_DIR_READY, 1, 1, &ready)) != 0) rc = r;
    if ((r = tally_dir(a->root_fd, HS_DIR_CLAIMED, 1, 0, &claimed)) != 0) rc = r;
    if ((r = tally_dir(a->root_fd, HS_DIR_FAILED, 1, 0, &failed)) != 0) rc = r;
    if ((r = tally_dir(a->root_fd, HS_DIR_INVALID, 0, 0, &invalid)) != 0) rc = r;
    if ((r = tally_dir(a->root_fd, HS_DIR_ARCHIVE, 0, 0, &archive)) != 0) rc = r;
    out->active_bytes = active.bytes;
    out->ready_segments = ready.files;
    out->ready_bytes = ready.bytes;
    out->archive_bytes = archive.bytes;
    out->oldest_ready = ready.have_oldest ? ready.oldest : HS_CNT_NO_OLDEST;
    out->claimed_segments = claimed.files;
    out->failed_segments = failed.files;
    out->invalid_bodies = invalid.files;
    return rc;
}

/* The figures of the existing spool directory at path (scanned now, or
 * from the shared cache with `cached`) and its counts. */
static void collect_spool(const char *path, time_t now, int cached, hs_status *st)
{
    hs_counters_scan fig;
    scan_arg a;

    /* O_PATH: a handle to resolve names under, needing no read access
     * and opening nothing for reading. */
    a.root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (a.root_fd < 0) {
        st->counters_err = hs_counters_read(path, &st->counters);
        return;
    }
    if (cached) {
        st->counters_err = hs_counters_status(path, now, scan_spool, &a, &st->counters, &fig);
    } else {
        memset(&fig, 0, sizeof(fig));
        fig.oldest_ready = HS_CNT_NO_OLDEST;
        (void)scan_spool(&a, &fig);
        st->counters_err = hs_counters_read(path, &st->counters);
    }
    (void)hs_layout_close(a.root_fd);   /* O_PATH: nothing to lose */
    st->active_bytes = fig.active_bytes;
    st->ready_segments = fig.ready_segments;
    st->ready_bytes = fig.ready_bytes;
    st->archive_bytes = fig.archive_bytes;
    /* 0: a cache an older hookspool stored, with nothing in ready/ */
    if (fig.oldest_ready != HS_CNT_NO_OLDEST && fig.oldest_ready > 0 &&
        (int64_t)now > fig.oldest_ready)
        st->oldest_ready_age_s = (uint64_t)((int64_t)now - fig.oldest_ready);
    st->claimed_segments = fig.claimed_segments;
    st->failed_segments = fig.failed_segments;
    st->invalid_bodies = fig.invalid_bodies;
}

void hs_status_collect(const hs_config *cfg, time_t now, int cached, hs_status *st)
{
    char anc[PATH_MAX];
    struct stat sb;
    int where, clean;

    memset(st, 0, sizeof(*st));
    st->now = now;
    where = hs_layout_nearest(cfg->spool, anc, &sb, &clean);
    if (where >= 0) st->free_bytes = free_bytes(anc);
    if (where == 0 && S_ISDIR(sb.st_mode)) {
        st->spool_exists = 1;
        collect_spool(cfg->spool, now, cached, st);
    }
    /* What the appender needs (a spool not created yet: mkdir -p). */
    if (hs_layout_unwritable(cfg->spool, HS_DIRS_APPEND) != NULL)
        st->reasons |= 1u << HS_DEG_SPOOL_UNWRITABLE;
    if (cfg->min_free > 0 && st->free_bytes < (uint64_t)cfg->min_free)
        st->reasons |= 1u << HS_DEG_LOW_FREE_SPACE;
    if (cfg->max_lag >= 0 && st->oldest_ready_age_s > (uint64_t)cfg->max_lag)
        st->reasons |= 1u << HS_DEG_CONSUMER_LAG;
    if (st->failed_segments > 0) st->reasons |= 1u << HS_DEG_DEAD_LETTERS;
}

/* ms since the epoch as received_at ("2026-11-22T10:00:00.123Z"). */
static void fmt_ms(uint64_t ms, char out[HS_TS_LEN + 1])
{
    if (ms > LAST_MS_MAX) ms = LAST_MS_MAX;   /* a damaged file: keep the width */
    hs_spool_fmt_ts(ms * 1000u, out);
}

/* SPEC 5's JSON: with full 0 only "status" and "reasons" (what a client
 * without the token may see), else the whole document. */
static void json_status(const hs_config *cfg, const hs_status *st, int full, hs_buf *b)
{
    char ts[HS_TS_LEN + 1];
    int r, first = 1;

    hs_buf_printf(b, "{\"status\":\"%s\",\"reasons\":[", st->reasons ? "degraded" : "ok");
    for (r = 0; r < HS_DEG_COUNT; r++) {
        if (!(st->reasons & (1u << r))) continue;
        hs_buf_printf(b, "%s\"%s\"", first ? "" : ",", degraded_names[r]);
        first = 0;
    }
    if (!full) {
        hs_buf_puts(b, "]}\n");
        return;
    }
    hs_buf_puts(b, "],\"version\":\"" HS_VERSION "\",\"endpoint\":");
    hs_buf_json_str(b, cfg->endpoint, strlen(cfg->endpoint));
    hs_buf_puts(b, ",\"scheme\":");
    hs_buf_json_str(b, cfg->scheme.name, strlen(cfg->scheme.name));
    if (st->counters.last_accepted_ms == 0) {
        hs_buf_puts(b, ",\"last_accepted_at\":null");
    } else {
        fmt_ms(st->counters.last_accepted_ms, ts);
        hs_buf_printf(b, ",\"last_accepted_at\":\"%s\"", ts);
    }
    hs_buf_printf(b, ",\"counters\":{\"accepted\":%" PRIu64 ",\"duplicate\":%" PRIu64
                  ",\"handshakes\":%" PRIu64 ",\"probes\":%" PRIu64 ",\"rejected\":{",
                  st->counters.accepted, st->counters.duplicate, st->counters.handshakes,
                  st->counters.probes);
    for (r = HS_R_BAD_METHOD; r < HS_R_COUNT; r++)
        hs_buf_printf(b, "%s\"%s\":%" PRIu64, r == HS_R_BAD_METHOD ? "" : ",",
                      hs_reason_name((hs_reason)r), st->counters.rejected[r]);
    hs_buf_printf(b, "}},\"spool\":{\"active_bytes\":%" PRIu64 ",\"ready_segments\":%" PRIu64
                  ",\"ready_bytes\":%" PRIu64 ",\"oldest_ready_age_s\":%" PRIu64
                  ",\"claimed_segments\":%" PRIu64 ",\"failed_segments\":%" PRIu64
                  ",\"invalid_bodies\":%" PRIu64 ",\"free_bytes\":%" PRIu64
                  ",\"archive_bytes\":%" PRIu64 "}}\n",
                  st->active_bytes, st->ready_segments, st->ready_bytes,
                  st->oldest_ready_age_s, st->claimed_segments, st->failed_segments,
                  st->invalid_bodies, st->free_bytes, st->archive_bytes);
}

/* A label value per text format 0.0.4: backslash, double quote and
 * newline escaped; every other byte as it is. */
static void prom_label(hs_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '\\': hs_buf_puts(b, "\\\\"); break;
        case '"':  hs_buf_puts(b, "\\\""); break;
        case '\n': hs_buf_puts(b, "\\n"); break;
        default:   hs_buf_putc(b, *s); break;
        }
    }
}

/* The # HELP and # TYPE lines of one metric. */
static void prom_head(hs_buf *b, const char *name, const char *type, const char *help)
{
    hs_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_one(hs_buf *b, const char *name, const char *type, const char *help,
                     uint64_t v)
{
    prom_head(b, name, type, help);
    hs_buf_printf(b, "%s %" PRIu64 "\n", name, v);
}

static void prom_status(const hs_config *cfg, const hs_status *st, hs_buf *b)
{
    uint64_t ms = st->counters.last_accepted_ms;
    int r;

    prom_head(b, "hookspool_info", "gauge", "Version, endpoint and scheme of this status (always 1).");
    hs_buf_puts(b, "hookspool_info{version=\"" HS_VERSION "\",endpoint=\"");
    prom_label(b, cfg->endpoint);
    hs_buf_puts(b, "\",scheme=\"");
    prom_label(b, cfg->scheme.name);
    hs_buf_puts(b, "\"} 1\n");

    prom_one(b, "hookspool_degraded", "gauge",
             "1 when the status is degraded (HTTP 503), else 0.", st->reasons ? 1 : 0);
    prom_head(b, "hookspool_degraded_reason", "gauge",
              "1 for each reason the status is degraded, else 0.");
    for (r = 0; r < HS_DEG_COUNT; r++)
        hs_buf_printf(b, "hookspool_degraded_reason{reason=\"%s\"} %d\n", degraded_names[r],
                      (st->reasons & (1u << r)) ? 1 : 0);

    prom_one(b, "hookspool_accepted_total", "counter",
             "Events appended to the spool since it was created.", st->counters.accepted);
    prom_one(b, "hookspool_duplicate_total", "counter",
             "Requests answered as duplicates since the spool was created.",
             st->counters.duplicate);
    prom_one(b, "hookspool_handshakes_total", "counter",
             "Handshakes answered since the spool was created.", st->counters.handshakes);
    prom_one(b, "hookspool_probes_total", "counter",
             "Authenticated empty POSTs (a sender's probe) since the spool was created.",
             st->counters.probes);
    prom_head(b, "hookspool_rejected_total", "counter",
              "Requests rejected since the spool was created, by reason.");
    for (r = HS_R_BAD_METHOD; r < HS_R_COUNT; r++)
        hs_buf_printf(b, "hookspool_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
                      hs_reason_name((hs_reason)r), st->counters.rejected[r]);

    /* 0 before the first event, so the series exists from the start. */
    if (ms > LAST_MS_MAX) ms = LAST_MS_MAX;
    prom_head(b, "hookspool_last_accepted_timestamp_seconds", "gauge",
              "When the last event was accepted, seconds since the epoch (0: never).");
    hs_buf_printf(b, "hookspool_last_accepted_timestamp_seconds %" PRIu64 ".%03u\n",
                  ms / 1000u, (unsigned)(ms % 1000u));

    prom_one(b, "hookspool_active_bytes", "gauge",
             "Bytes in the segment being appended to.", st->active_bytes);
    prom_one(b, "hookspool_ready_segments", "gauge",
             "Sealed segments waiting for a consumer.", st->ready_segments);
    prom_one(b, "hookspool_ready_bytes", "gauge",
             "Bytes in sealed segments waiting for a consumer.", st->ready_bytes);
    prom_one(b, "hookspool_oldest_ready_age_seconds", "gauge",
             "Age of the oldest waiting segment's first event (0: none waiting).",
             st->oldest_ready_age_s);
    prom_one(b, "hookspool_claimed_segments", "gauge",
             "Segments a consumer has taken.", st->claimed_segments);
    prom_one(b, "hookspool_failed_segments", "gauge",
             "Dead-letter segments whose consumer failed too often.", st->failed_segments);
    prom_one(b, "hookspool_invalid_bodies", "gauge",
             "Correctly signed bodies kept because they were not valid JSON.",
             st->invalid_bodies);
    prom_one(b, "hookspool_free_bytes", "gauge",
             "Free bytes for the spool in its filesystem.", st->free_bytes);
    prom_one(b, "hookspool_archive_bytes", "gauge",
             "Bytes of consumed segments kept in archive/ (compressed).", st->archive_bytes);
}

/* ------------------------------------------------------------ HTML */

#define CHART_W      HS_MIN_SPAN     /* one unit per minute */
#define CHART_H      200
#define CHART_TOP    10              /* room above the tallest bar */

/* s[0..n) as HTML text: & < > " ' escaped, every other byte kept. */
static void html_esc(hs_buf *b, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        switch (s[i]) {
        case '&':  hs_buf_puts(b, "&amp;"); break;
        case '<':  hs_buf_puts(b, "&lt;"); break;
        case '>':  hs_buf_puts(b, "&gt;"); break;
        case '"':  hs_buf_puts(b, "&quot;"); break;
        case '\'': hs_buf_puts(b, "&#39;"); break;
        default:   hs_buf_putc(b, s[i]); break;
        }
    }
}

static void html_row(hs_buf *b, const char *name, uint64_t v)
{
    hs_buf_printf(b, "<tr><th scope=\"row\">%s</th><td>%" PRIu64 "</td></tr>\n", name, v);
}

/* The minute first + i as "YYYY-MM-DDTHH:MMZ". */
static void minute_label(int64_t m, char out[24])
{
    unsigned us;
    char *p = hs_layout_put_time(out, (uint64_t)(m < 0 ? 0 : m) * 60000000u, 1, &us);
    p -= 3;                      /* drop ":SS" */
    *p++ = 'Z';
    *p = '\0';
}

/*
 * The chart: per minute, accepted, duplicate and rejected stacked as
 * bars (x = the minute's place in the 24 hours, one unit wide), drawn
 * only where a minute has counts. Each bar says what it is in its
 * data-* attributes and a <title> a browser shows on hover.
 */
static void html_chart(hs_buf *b, const hs_counters_minutes *m)
{
    static const char *const kind[HS_MIN_KINDS] = { "accepted", "duplicate", "rejected" };
    static const char *const fill[HS_MIN_KINDS] = { "#2e7d32", "#9e9e9e", "#c62828" };
    uint64_t max = 0, tot;
    char label[24];
    int i, k;

    for (i = 0; i < HS_MIN_SPAN; i++) {
        tot = (uint64_t)m->n[i][0] + m->n[i][1] + m->n[i][2];
        if (tot > max) max = tot;
    }
    minute_label(m->first, label);
    hs_buf_printf(b, "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"1200\" "
                  "height=\"%d\" viewBox=\"0 0 %d %d\" preserveAspectRatio=\"none\" role=\"img\" "
                  "aria-label=\"events per minute, last 24 hours\" data-first-minute=\"%s\" "
                  "data-max=\"%" PRIu64 "\">\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
                  "fill=\"#fafafa\" stroke=\"#bbbbbb\"/>\n",
                  CHART_H, CHART_W, CHART_H, label, max, CHART_W, CHART_H);
    for (i = 0; max > 0 && i < HS_MIN_SPAN; i++) {
        uint64_t below = 0;
        minute_label(m->first + i, label);
        for (k = 0; k < HS_MIN_KINDS; k++) {
            uint64_t n = m->n[i][k], y0, y1;
            if (n == 0) continue;
            /* heights in units of (CHART_H - CHART_TOP) / max, bottom up */
            y0 = (uint64_t)CHART_H - below * (CHART_H - CHART_TOP) / max;
            below += n;
            y1 = (uint64_t)CHART_H - below * (CHART_H - CHART_TOP) / max;
            if (y1 == y0) y1 = y0 - 1;   /* never invisible */
            hs_buf_printf(b, "<rect class=\"bar\" x=\"%d\" y=\"%" PRIu64 "\" width=\"1\" "
                          "height=\"%" PRIu64 "\" fill=\"%s\" data-minute=\"%s\" "
                          "data-kind=\"%s\" data-count=\"%" PRIu64 "\"><title>%s %s: %" PRIu64
                          "</title></rect>\n", i, y1, y0 - y1, fill[k], label, kind[k], n,
                          label, kind[k], n);
        }
    }
    hs_buf_puts(b, "</svg>\n");
}

static void html_status(const hs_config *cfg, const hs_status *st, hs_buf *b)
{
    hs_counters_minutes *m = calloc(1, sizeof(*m));
    hs_ev_brief *last = calloc(HS_STATUS_HTML_EVENTS, sizeof(*last));
    size_t got = 0, i;
    uint64_t sums[HS_MIN_KINDS] = { 0, 0, 0 };
    char ts[HS_TS_LEN + 1];
    int r, first = 1;

    if (m == NULL || last == NULL) {
        free(m);
        free(last);
        b->oom = 1;
        return;
    }
    (void)hs_counters_read_minutes(cfg->spool, st->now, m);   /* zeros when none */
    if (st->spool_exists)
        (void)hs_ev_last(cfg->spool, cfg->umask, HS_STATUS_HTML_EVENTS, last, &got);
    for (i = 0; i < HS_MIN_SPAN; i++) {
        sums[0] += m->n[i][0];
        sums[1] += m->n[i][1];
        sums[2] += m->n[i][2];
    }
    hs_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width\">\n<title>hookspool: ");
    html_esc(b, cfg->endpoint, strlen(cfg->endpoint));
    hs_buf_puts(b, "</title>\n</head>\n<body>\n<h1>hookspool: ");
    html_esc(b, cfg->endpoint, strlen(cfg->endpoint));
    hs_buf_printf(b, "</h1>\n<p id=\"state\"><strong>%s</strong>",
                  st->reasons ? "degraded" : "ok");
    for (r = 0; r < HS_DEG_COUNT; r++) {
        if (!(st->reasons & (1u << r))) continue;
        hs_buf_printf(b, "%s%s", first ? ": " : ", ", degraded_names[r]);
        first = 0;
    }
    hs_buf_puts(b, "</p>\n<p>version " HS_VERSION ", scheme ");
    html_esc(b, cfg->scheme.name, strlen(cfg->scheme.name));
    if (st->counters.last_accepted_ms != 0) {
        fmt_ms(st->counters.last_accepted_ms, ts);
        hs_buf_printf(b, ", last event accepted at %s", ts);
    }
    hs_buf_printf(b, "</p>\n<h2>Last 24 hours, per minute (UTC)</h2>\n<p>"
                  "<font color=\"#2e7d32\">accepted %" PRIu64 "</font>, "
                  "<font color=\"#757575\">duplicates %" PRIu64 "</font>, "
                  "<font color=\"#c62828\">rejected %" PRIu64 "</font></p>\n",
                  sums[0], sums[1], sums[2]);
    html_chart(b, m);
    hs_buf_puts(b, "<h2>Spool</h2>\n<table id=\"spool\" border=\"1\" cellpadding=\"3\">\n");
    html_row(b, "waiting segments (ready/)", st->ready_segments);
    html_row(b, "waiting bytes", st->ready_bytes);
    html_row(b, "lag: oldest waiting event, seconds", st->oldest_ready_age_s);
    html_row(b, "claimed segments", st->claimed_segments);
    html_row(b, "failed segments (dead letters)", st->failed_segments);
    html_row(b, "bytes being appended (active/)", st->active_bytes);
    html_row(b, "invalid bodies kept", st->invalid_bodies);
    html_row(b, "archived bytes", st->archive_bytes);
    html_row(b, "free bytes", st->free_bytes);
    hs_buf_puts(b, "</table>\n<h2>Since the spool was created</h2>\n"
                "<table id=\"counts\" border=\"1\" cellpadding=\"3\">\n");
    html_row(b, "accepted", st->counters.accepted);
    html_row(b, "duplicates", st->counters.duplicate);
    for (r = HS_R_BAD_METHOD; r < HS_R_COUNT; r++) {
        char name[64];
        snprintf(name, sizeof(name), "rejected: %s", hs_reason_name((hs_reason)r));
        html_row(b, name, st->counters.rejected[r]);
    }
    hs_buf_printf(b, "</table>\n<h2>Last %d events</h2>\n<table id=\"events\" border=\"1\" "
                  "cellpadding=\"3\">\n<tr><th>id</th><th>key</th><th>received_at</th></tr>\n",
                  HS_STATUS_HTML_EVENTS);
    for (i = 0; i < got; i++) {
        hs_buf_puts(b, "<tr><td><code>");
        html_esc(b, last[i].id, strlen(last[i].id));
        hs_buf_puts(b, "</code></td><td><code>");
        html_esc(b, last[i].key, strlen(last[i].key));
        if (last[i].key_cut) hs_buf_puts(b, "&hellip;");
        hs_buf_puts(b, "</code></td><td>");
        html_esc(b, last[i].received_at, strlen(last[i].received_at));
        hs_buf_puts(b, "</td></tr>\n");
    }
    hs_buf_puts(b, "</table>\n</body>\n</html>\n");
    free(m);
    free(last);
}

int hs_status_format(const hs_config *cfg, const hs_status *st, hs_status_form form,
                     hs_buf *out)
{
    if (form == HS_STATUS_HTML) html_status(cfg, st, out);
    else if (form == HS_STATUS_PROMETHEUS) prom_status(cfg, st, out);
    else json_status(cfg, st, form == HS_STATUS_FULL, out);
    return out->oom ? -ENOMEM : 0;
}

int hs_status_render(const hs_config *cfg, hs_status_form form, int cached, time_t now,
                     hs_buf *out, int *degraded)
{
    hs_status st;

    hs_status_collect(cfg, now, cached, &st);
    if (degraded != NULL) *degraded = st.reasons != 0;
    return hs_status_format(cfg, &st, form, out);
}
