#include "status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "handler.h"
#include "spool.h"

#define SEG_SUFFIX      ".jsonl"
#define SEG_SUFFIX_LEN  (sizeof(SEG_SUFFIX) - 1)
#define NAME_TIME_LEN   16                      /* "YYYYMMDDTHHMMSSZ" */
#define LAST_MS_MAX     UINT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */
#define RWX_OK          (R_OK | W_OK | X_OK)

_Static_assert(HS_R_COUNT <= HS_CNT_MAX_REASONS, "a counter per reason");

static const char *const degraded_names[HS_DEG_COUNT] = {
    [HS_DEG_SPOOL_UNWRITABLE] = "spool_unwritable",
    [HS_DEG_LOW_FREE_SPACE]   = "low_free_space",
    [HS_DEG_CONSUMER_LAG]     = "consumer_lag",
    [HS_DEG_DEAD_LETTERS]     = "dead_letters",
};

const char *hs_degraded_name(hs_degraded d)
{
    return ((unsigned)d < HS_DEG_COUNT) ? degraded_names[d] : "unknown";
}

/* What one directory holds. */
typedef struct tally {
    uint64_t files;
    uint64_t bytes;
    int      have_oldest;
    int64_t  oldest;      /* seconds since the epoch */
} tally;

/* n decimal digits at s as a number, or -1 if any is not a digit. */
static long num_at(const char *s, size_t n)
{
    long v = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/*
 * The time a segment's name starts with ("YYYYMMDDTHHMMSSZ-..."), UTC.
 * 0, or -1 when the name is not in that form.
 *
 * Why the name and not the mtime: the name is stamped with the segment's
 * first line, i.e. the arrival of the oldest event in it, and a segment
 * keeps its name until it is deleted (SPEC 6). The mtime is the time of
 * the last append, so it understates the wait of the first event by up
 * to HOOKSPOOL_ROTATE_SECONDS, and copying or touching a file resets it.
 */
static int name_time(const char *name, int64_t *out)
{
    long y, mo, d, h, mi, s;
    if (strlen(name) < NAME_TIME_LEN || name[8] != 'T' || name[15] != 'Z') return -1;
    y = num_at(name, 4);
    mo = num_at(name + 4, 2);
    d = num_at(name + 6, 2);
    h = num_at(name + 9, 2);
    mi = num_at(name + 11, 2);
    s = num_at(name + 13, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || s < 0 || s > 60)
        return -1;
    *out = hs_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
           (int64_t)h * 3600 + (int64_t)mi * 60 + s;
    return 0;
}

/* A segment's name, as the consumer (consumer.c) sees one: "*.jsonl"
 * and shorter than HS_SEG_NAME_MAX, so the status counts what "claim"
 * would take. */
static int is_segment(const char *name)
{
    size_t n = strlen(name);
    return n > SEG_SUFFIX_LEN && n < HS_SEG_NAME_MAX &&
           memcmp(name + n - SEG_SUFFIX_LEN, SEG_SUFFIX, SEG_SUFFIX_LEN) == 0;
}

/* openat read-only, without touching the access time where the kernel
 * lets us (O_NOATIME needs ownership): the status changes nothing. A
 * symlinked subdirectory is followed, as the appender follows it. */
static int open_dir_ro(int dfd, const char *name)
{
    const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    int fd = openat(dfd, name, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = openat(dfd, name, flags);
    return fd;
}

/*
 * Count the regular files of root/sub into *t: only segments when
 * `segments`, and with `ages` the oldest segment's time. A missing
 * directory is empty (0). Returns 0 or a negative errno (*t then holds
 * what was counted before the error).
 */
static int tally_dir(int root_fd, const char *sub, int segments, int ages, tally *t)
{
    struct dirent *de;
    struct stat sb;
    DIR *d;
    int fd, rc = 0;

    fd = open_dir_ro(root_fd, sub);
    if (fd < 0) return errno == ENOENT ? 0 : -errno;
    d = fdopendir(fd);
    if (d == NULL) {
        rc = -errno;
        (void)close(fd);   /* failing already; nothing was written */
        return rc;
    }
    for (;;) {
        int64_t born;
        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            rc = errno != 0 ? -errno : 0;
            break;
        }
        if (segments ? !is_segment(de->d_name)
                     : (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0))
            continue;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue;   /* a consumer moved it meanwhile */
            rc = -errno;
            break;
        }
        if (!S_ISREG(sb.st_mode)) continue;
        t->files++;
        t->bytes += (uint64_t)sb.st_size;
        if (!ages) continue;
        /* A name not in the form (put there by hand) falls back to the
         * mtime, the best figure left. */
        if (name_time(de->d_name, &born) != 0) born = (int64_t)sb.st_mtime;
        if (!t->have_oldest || born < t->oldest) {
            t->oldest = born;
            t->have_oldest = 1;
        }
    }
    if (closedir(d) != 0 && rc == 0) rc = -errno;
    return rc;
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

/*
 * Trim anc (a copy of path, PATH_MAX) to the nearest existing ancestor
 * of path, path itself included, and stat it into *sb. Returns 0 when
 * path itself exists, 1 for a proper ancestor, -1 when nothing could be
 * stat'ed. *clean is 1 when every missing level was simply missing
 * (ENOENT), so mkdir -p from anc could create path.
 */
static int nearest_existing(const char *path, char anc[PATH_MAX], struct stat *sb,
                            int *clean)
{
    size_t n = strlen(path);
    int level = 0;

    *clean = 1;
    if (n == 0 || n >= PATH_MAX) return -1;
    memcpy(anc, path, n + 1);
    for (;;) {
        char *slash;
        if (stat(anc, sb) == 0) return level == 0 ? 0 : 1;
        if (errno != ENOENT) *clean = 0;
        while (n > 1 && anc[n - 1] == '/') anc[--n] = '\0';
        slash = strrchr(anc, '/');
        if (slash == NULL) {
            if (strcmp(anc, ".") == 0) return -1;
            memcpy(anc, ".", 2);          /* relative: the working directory */
            n = 1;
        } else if (slash == anc) {
            if (n == 1) return -1;        /* even "/" failed */
            anc[1] = '\0';
            n = 1;
        } else {
            *slash = '\0';
            n = (size_t)(slash - anc);
        }
        level++;
    }
}

/*
 * Could this process append to the existing spool at root_fd (path
 * spool)? hs_spool_open opens the spool, active/ and ready/ read-only
 * and the lock read-write; appending creates files in active/ and
 * sealing renames into ready/; the spool itself gets missing subdirs and
 * state files. So: rwx on the spool, on active/ and ready/ where they
 * exist (and they must be directories), rw on the lock where it exists.
 * Missing ones would be created, which the spool's w covers.
 * Effective ids (AT_EACCESS), as open(2) would use.
 */
static int spool_writable(int root_fd, const char *spool)
{
    static const char *const dirs[] = { "active", "ready" };
    struct stat sb;
    size_t i;

    if (faccessat(AT_FDCWD, spool, RWX_OK, AT_EACCESS) != 0) return 0;
    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if (fstatat(root_fd, dirs[i], &sb, 0) != 0) {
            if (errno == ENOENT) continue;
            return 0;
        }
        if (!S_ISDIR(sb.st_mode) || faccessat(root_fd, dirs[i], RWX_OK, AT_EACCESS) != 0)
            return 0;
    }
    if (faccessat(root_fd, "lock", R_OK | W_OK, AT_EACCESS) != 0 && errno != ENOENT)
        return 0;
    return 1;
}

/* The figures of the existing spool directory at path; 1 when this
 * process could append to it, else 0. A directory that cannot be listed
 * counts as empty (active/ and ready/ unreadable also make it unwritable). */
static int collect_spool(const char *path, time_t now, hs_status *st)
{
    tally active = { 0, 0, 0, 0 }, ready = { 0, 0, 0, 0 }, claimed = { 0, 0, 0, 0 },
          failed = { 0, 0, 0, 0 }, invalid = { 0, 0, 0, 0 };
    int root_fd, writable;

    /* O_PATH: a handle to resolve names under, needing no read access
     * and opening nothing for reading. */
    root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) return 0;
    writable = spool_writable(root_fd, path);
    (void)tally_dir(root_fd, "active", 1, 0, &active);
    (void)tally_dir(root_fd, "ready", 1, 1, &ready);
    (void)tally_dir(root_fd, "claimed", 1, 0, &claimed);
    (void)tally_dir(root_fd, "failed", 1, 0, &failed);
    (void)tally_dir(root_fd, "invalid", 0, 0, &invalid);
    if (close(root_fd) != 0) writable = 0;   /* an O_PATH close cannot fail sanely */
    st->active_bytes = active.bytes;
    st->ready_segments = ready.files;
    st->ready_bytes = ready.bytes;
    if (ready.have_oldest && (int64_t)now > ready.oldest)
        st->oldest_ready_age_s = (uint64_t)((int64_t)now - ready.oldest);
    st->claimed_segments = claimed.files;
    st->failed_segments = failed.files;
    st->invalid_bodies = invalid.files;
    return writable;
}

void hs_status_collect(const hs_config *cfg, time_t now, hs_status *st)
{
    char anc[PATH_MAX];
    struct stat sb;
    int where, clean, writable = 0;

    memset(st, 0, sizeof(*st));
    where = nearest_existing(cfg->spool, anc, &sb, &clean);
    if (where >= 0) st->free_bytes = free_bytes(anc);
    if (where == 0 && S_ISDIR(sb.st_mode)) {
        st->spool_exists = 1;
        writable = collect_spool(cfg->spool, now, st);
        st->counters_err = hs_counters_read(cfg->spool, &st->counters);
    } else if (where == 1) {
        /* Not created yet: the first POST runs mkdir -p from anc. */
        writable = clean && S_ISDIR(sb.st_mode) &&
                   faccessat(AT_FDCWD, anc, W_OK | X_OK, AT_EACCESS) == 0;
    }
    if (!writable) st->reasons |= 1u << HS_DEG_SPOOL_UNWRITABLE;
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

static void json_status(const hs_config *cfg, const hs_status *st, hs_buf *b)
{
    char ts[HS_TS_LEN + 1];
    int r, first = 1;

    hs_buf_printf(b, "{\"status\":\"%s\",\"reasons\":[", st->reasons ? "degraded" : "ok");
    for (r = 0; r < HS_DEG_COUNT; r++) {
        if (!(st->reasons & (1u << r))) continue;
        hs_buf_printf(b, "%s\"%s\"", first ? "" : ",", degraded_names[r]);
        first = 0;
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
                  ",\"handshakes\":%" PRIu64 ",\"rejected\":{", st->counters.accepted,
                  st->counters.duplicate, st->counters.handshakes);
    for (r = HS_R_BAD_METHOD; r < HS_R_COUNT; r++)
        hs_buf_printf(b, "%s\"%s\":%" PRIu64, r == HS_R_BAD_METHOD ? "" : ",",
                      hs_reason_name((hs_reason)r), st->counters.rejected[r]);
    hs_buf_printf(b, "}},\"spool\":{\"active_bytes\":%" PRIu64 ",\"ready_segments\":%" PRIu64
                  ",\"ready_bytes\":%" PRIu64 ",\"oldest_ready_age_s\":%" PRIu64
                  ",\"claimed_segments\":%" PRIu64 ",\"failed_segments\":%" PRIu64
                  ",\"invalid_bodies\":%" PRIu64 ",\"free_bytes\":%" PRIu64 "}}\n",
                  st->active_bytes, st->ready_segments, st->ready_bytes,
                  st->oldest_ready_age_s, st->claimed_segments, st->failed_segments,
                  st->invalid_bodies, st->free_bytes);
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
}

int hs_status_format(const hs_config *cfg, const hs_status *st, int prometheus,
                     hs_buf *out)
{
    if (prometheus) prom_status(cfg, st, out);
    else json_status(cfg, st, out);
    return out->oom ? -ENOMEM : 0;
}

int hs_status_render(const hs_config *cfg, int prometheus, time_t now,
                     hs_buf *out, int *degraded)
{
    hs_status st;

    hs_status_collect(cfg, now, &st);
    if (degraded != NULL) *degraded = st.reasons != 0;
    return hs_status_format(cfg, &st, prometheus, out);
}
