#include "layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define RWX_OK           (R_OK | W_OK | X_OK)
#define LIST_FIRST_CAP   64
#define HOSTNAME_BUF     256

static const char *const dir_names[HS_DIR_COUNT] = {
    [HS_DIR_ACTIVE]  = "active",
    [HS_DIR_READY]   = "ready",
    [HS_DIR_CLAIMED] = "claimed",
    [HS_DIR_FAILED]  = "failed",
    [HS_DIR_INVALID] = "invalid",
    [HS_DIR_ARCHIVE] = "archive",
};

_Static_assert(HS_SEG_TIME_LEN + 1 + HS_HOST_MAX + 1 + 6 + sizeof(HS_SEG_SUFFIX) <= HS_SEG_NAME_MAX,
               "every name hs_layout_name writes fits");
_Static_assert(sizeof(HS_BODY_SUFFIX) <= sizeof(HS_SEG_SUFFIX), "a body's name fits too");
_Static_assert(HS_SEG_TIME_LEN + 1 + HS_HOST_MAX + 1 + 6 + sizeof(HS_REPLAY_SUFFIX) +
               sizeof(HS_GZ_SUFFIX) <= HS_SEG_NAME_MAX + 1,
               "an archived replayed segment's name fits");

const char *hs_layout_dir_name(hs_layout_dir d)
{
    return dir_names[d];
}

int hs_layout_has_suffix(const char *name, const char *suf)
{
    size_t n = strlen(name), m = strlen(suf);
    return n > m && memcmp(name + n - m, suf, m) == 0;
}

int hs_layout_is_seg(const char *name)
{
    return strnlen(name, HS_SEG_NAME_MAX) < HS_SEG_NAME_MAX &&
           hs_layout_has_suffix(name, HS_SEG_SUFFIX) && strchr(name, '/') == NULL;
}

int hs_layout_is_replay(const char *name)
{
    size_t n = strnlen(name, HS_SEG_NAME_MAX), g = strlen(HS_GZ_SUFFIX);
    char base[HS_SEG_NAME_MAX];

    if (n >= HS_SEG_NAME_MAX) return 0;
    if (hs_layout_has_suffix(name, HS_REPLAY_SUFFIX)) return 1;
    if (!hs_layout_has_suffix(name, HS_GZ_SUFFIX)) return 0;
    memcpy(base, name, n - g);
    base[n - g] = '\0';
    return hs_layout_has_suffix(base, HS_REPLAY_SUFFIX);
}

int hs_layout_open_rw(int dirfd, const char *name, mode_t mode, int *fd)
{
    const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;

    *fd = openat(dirfd, name, flags | O_CREAT | O_EXCL, mode);
    if (*fd >= 0) {
        if (fchmod(*fd, mode) != 0) {
            int e = errno;
            (void)close(*fd);   /* failing already; the file stays, usable */
            *fd = -1;
            return -e;
        }
        return 0;
    }
    if (errno != EEXIST) return -errno;
    *fd = openat(dirfd, name, flags);
    return *fd >= 0 ? 0 : -errno;
}

int hs_layout_boot_id(char out[HS_BOOT_ID_SIZE])
{
    char b[HS_BOOT_ID_SIZE];
    ssize_t r;
    int fd, rc = 0;

    if ((fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)) < 0) return -errno;
    do r = read(fd, b, sizeof(b)); while (r < 0 && errno == EINTR);
    if (r < 0) rc = -errno;
    else if (r < HS_BOOT_ID_LEN || (r > HS_BOOT_ID_LEN && b[HS_BOOT_ID_LEN] != '\n')) rc = -EINVAL;
    if (close(fd) != 0 && rc == 0) rc = -errno;
    if (rc != 0) return rc;
    memset(out, 0, HS_BOOT_ID_SIZE);
    memcpy(out, b, HS_BOOT_ID_LEN);
    return 0;
}

int hs_layout_room_below(int fd, unsigned long long bytes)
{
    struct statvfs v;
    if (fstatvfs(fd, &v) != 0 || v.f_frsize == 0) return 1;
    return (unsigned long long)v.f_bavail < bytes / v.f_frsize;
}

int hs_layout_close(int fd)
{
    return (fd >= 0 && close(fd) != 0) ? -errno : 0;
}

/* ------------------------------------------------------------ names */

void hs_layout_host(char out[HS_HOST_MAX + 1])
{
    char h[HOSTNAME_BUF];
    size_t i, n = 0;
    if (gethostname(h, sizeof(h)) != 0) h[0] = '\0';
    h[sizeof(h) - 1] = '\0';
    for (i = 0; h[i] && h[i] != '.' && n < HS_HOST_MAX; i++) {
        char c = h[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '-';
        out[n++] = ok ? c : '-';
    }
    if (n == 0) { memcpy(out, "host", 4); n = 4; }
    out[n] = '\0';
}

char *hs_layout_put_digits(char *p, unsigned v, int w)
{
    int i;
    for (i = w - 1; i >= 0; i--) { p[i] = (char)('0' + v % 10); v /= 10; }
    return p + w;
}

int64_t hs_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse (H. Hinnant's civil_from_days), for days >= 0. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;
    z += 719468;
    era = z / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

char *hs_layout_put_time(char *p, uint64_t stamp, int seps, unsigned *usec)
{
    uint64_t s = stamp / 1000000u;
    int64_t y;
    unsigned m, d, sod = (unsigned)(s % 86400u);

    civil_from_days((int64_t)(s / 86400u), &y, &m, &d);
    *usec = (unsigned)(stamp % 1000000u);
    p = hs_layout_put_digits(p, (unsigned)(y > 9999 ? 9999 : y), 4);
    if (seps) *p++ = '-';
    p = hs_layout_put_digits(p, m, 2);
    if (seps) *p++ = '-';
    p = hs_layout_put_digits(p, d, 2);
    *p++ = 'T';
    p = hs_layout_put_digits(p, sod / 3600, 2);
    if (seps) *p++ = ':';
    p = hs_layout_put_digits(p, sod / 60 % 60, 2);
    if (seps) *p++ = ':';
    return hs_layout_put_digits(p, sod % 60, 2);
}

void hs_layout_name(uint64_t stamp, const char *host, const char *suffix,
                    char out[HS_SEG_NAME_MAX])
{
    size_t hl = strnlen(host, HS_HOST_MAX);
    unsigned us;
    char *p = hs_layout_put_time(out, stamp, 0, &us);

    *p++ = 'Z';
    *p++ = '-';
    memcpy(p, host, hl);
    p += hl;
    *p++ = '-';
    p = hs_layout_put_digits(p, us, 6);
    memcpy(p, suffix, strlen(suffix) + 1);
}

void hs_layout_replay_name(uint64_t stamp, const char *host, char out[HS_SEG_NAME_MAX])
{
    hs_layout_name(stamp, host, HS_REPLAY_SUFFIX, out);
}

int64_t hs_layout_digits(const char *s, size_t n)
{
    int64_t v = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int hs_layout_civil(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi, int64_t s,
                    int64_t *out)
{
    if (y < 0 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || s < 0 || s > 60)
        return -1;
    *out = hs_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s;
    return 0;
}

int hs_layout_name_time(const char *name, int64_t *out)
{
    if (strnlen(name, HS_SEG_TIME_LEN) < HS_SEG_TIME_LEN || name[8] != 'T' || name[15] != 'Z')
        return -1;
    return hs_layout_civil(hs_layout_digits(name, 4), hs_layout_digits(name + 4, 2),
                           hs_layout_digits(name + 6, 2), hs_layout_digits(name + 9, 2),
                           hs_layout_digits(name + 11, 2), hs_layout_digits(name + 13, 2), out);
}

/* ------------------------------------------------------- writability */

int hs_layout_nearest(const char *path, char anc[PATH_MAX], struct stat *sb, int *clean)
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

/* The parts of the existing spool directory at root_fd, as
 * hs_layout_unwritable describes them. */
static const char *parts_unwritable(int root_fd, unsigned dirs)
{
    struct stat sb;
    int i;

    for (i = 0; i < HS_DIR_COUNT; i++) {
        if (!(dirs & (1u << i))) continue;
        if (fstatat(root_fd, dir_names[i], &sb, 0) != 0) {
            if (errno == ENOENT) continue;
            return "has a subdirectory that cannot be examined";
        }
        if (!S_ISDIR(sb.st_mode) || faccessat(root_fd, dir_names[i], RWX_OK, AT_EACCESS) != 0)
            return "has a subdirectory not writable by this user";
    }
    if (faccessat(root_fd, HS_LAYOUT_LOCK, R_OK | W_OK, AT_EACCESS) != 0 && errno != ENOENT)
        return "has a lock file not writable by this user";
    return NULL;
}

const char *hs_layout_unwritable(const char *path, unsigned dirs)
{
    char anc[PATH_MAX];
    struct stat sb;
    const char *why;
    int where, clean, fd;

    where = hs_layout_nearest(path, anc, &sb, &clean);
    if (where == 0) {
        if (!S_ISDIR(sb.st_mode)) return "is not a directory";
        if (faccessat(AT_FDCWD, path, RWX_OK, AT_EACCESS) != 0)
            return "is not writable by this user";
        /* O_PATH: a handle to resolve names under, needing no read
         * access and opening nothing for reading. */
        if ((fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) return "cannot be examined";
        why = parts_unwritable(fd, dirs);
        if (hs_layout_close(fd) != 0 && why == NULL) why = "cannot be examined";
        return why;
    }
    if (where < 0) return "does not exist and cannot be created";
    /* The path itself failed other than by being missing (a level of it
     * is a file, or cannot be searched). */
    if (!clean) return stat(path, &sb) != 0 && errno != ENOENT ? "cannot be examined"
                       : "does not exist and cannot be created by this user";
    return S_ISDIR(sb.st_mode) && faccessat(AT_FDCWD, anc, W_OK | X_OK, AT_EACCESS) == 0
           ? NULL : "does not exist and cannot be created by this user";
}

/* --------------------------------------------------------- listing */

int hs_layout_each(int dfd, const char *name, hs_layout_each_fn fn, void *arg)
{
    const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    struct dirent *de;
    DIR *d;
    int fd, rc = 0;

    /* A descriptor of our own: closedir() closes what fdopendir() got. */
    fd = openat(dfd, name, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = openat(dfd, name, flags);   /* not the owner */
    if (fd < 0) return -errno;
    if ((d = fdopendir(fd)) == NULL) {
        rc = -errno;
        (void)hs_layout_close(fd);   /* failing already; nothing was written */
        return rc;
    }
    for (;;) {
        errno = 0;
        if ((de = readdir(d)) == NULL) {
            if (errno != 0) rc = -errno;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if ((rc = fn(arg, dirfd(d), de->d_name, de->d_type)) != 0) break;
    }
    if (closedir(d) != 0 && rc == 0) rc = -errno;
    return rc;
}

/* What list_one collects into, and which names. */
typedef struct list_arg {
    hs_layout_names *l;
    const char      *suffix;
} list_arg;

static int list_one(void *arg, int dfd, const char *entry, unsigned char type)
{
    const list_arg *a = arg;
    hs_layout_names *l = a->l;
    (void)dfd;
    if (strnlen(entry, HS_SEG_NAME_MAX) >= HS_SEG_NAME_MAX ||
        !hs_layout_has_suffix(entry, a->suffix))
        return 0;
    /* Known not to be a regular file: not a segment. DT_UNKNOWN is
     * checked when the file is opened; a symlink is kept for the caller
     * to refuse (a planted spool). */
    if (type != DT_REG && type != DT_UNKNOWN && type != DT_LNK) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : LIST_FIRST_CAP;
        void *p;
        if (l->cap >= HS_LAYOUT_LIST_MAX) return -EOVERFLOW;
        if (cap > HS_LAYOUT_LIST_MAX) cap = HS_LAYOUT_LIST_MAX;
        if ((p = realloc(l->name, cap * sizeof(*l->name))) == NULL) return -ENOMEM;
        l->name = p;
        l->cap = cap;
    }
    memcpy(l->name[l->n++], entry, strlen(entry) + 1);
    return 0;
}

/* qsort comparison of two char[HS_SEG_NAME_MAX] names. */
static int cmp_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

void hs_layout_names_free(hs_layout_names *l)
{
    free(l->name);
    l->name = NULL;
    l->n = l->cap = 0;
}

int hs_layout_list(int dfd, const char *name, hs_layout_names *l)
{
    return hs_layout_list_suffix(dfd, name, HS_SEG_SUFFIX, l);
}

int hs_layout_list_suffix(int dfd, const char *name, const char *suffix, hs_layout_names *l)
{
    list_arg a;
    int rc;

    l->name = NULL;
    l->n = l->cap = 0;
    a.l = l;
    a.suffix = suffix;
    if ((rc = hs_layout_each(dfd, name, list_one, &a)) != 0) {
        hs_layout_names_free(l);
        return rc;
    }
    if (l->n > 1) qsort(l->name, l->n, sizeof(*l->name), cmp_names);
    return 0;
}
