/*
 * shim.c - an LD_PRELOAD fault injector for hookspool's fault tests.
 *
 *   cc -shared -fPIC -o shim.so tests/fault/shim.c -ldl
 *   LD_PRELOAD=shim.so HSFAULT_PATH=/tmp/x/spool HSFAULT_CALL=pwrite \
 *       HSFAULT_NTH=2 HSFAULT_ERRNO=ENOSPC build/hookspool.fcgi
 *
 * Wraps the libc entry points hookspool and its SQLite call for files
 * (SQLite reaches them through its syscall table, whose pointers the
 * dynamic linker binds to these definitions when the program is linked
 * dynamically; a static program is out of reach). Only calls on a path,
 * or on a descriptor whose /proc/self/fd link is, under HSFAULT_PATH are
 * counted; everything else passes straight through.
 *
 * Call kinds (HSFAULT_CALL), with the symbols each one covers:
 *   open (open, open64, __open_2, __open64_2)   openat (openat, openat64,
 *   __openat_2, __openat64_2)   write   pwrite (pwrite, pwrite64)
 *   fsync   fdatasync   rename   renameat   renameat2   link   linkat
 *   flock   ftruncate (ftruncate, ftruncate64)
 *   fcntl (fcntl, fcntl64: the lock commands F_SETLK, F_SETLKW and the
 *   F_OFD_ ones only)
 *
 * Environment:
 *   HSFAULT_PATH=DIR     prefix of the paths that count (without it, every
 *                        absolute path counts; give it canonical)
 *   HSFAULT_CALL=KIND    the kind to fail
 *   HSFAULT_NTH=N        fail the N-th counted call of that kind (1-based)
 *   HSFAULT_ERRNO=NAME   EIO, ENOSPC, EDQUOT, EINTR, ENOLCK, EACCES, EROFS
 *                        or a number (default EIO)
 *   HSFAULT_EVERY=K      instead of NTH: fail every K-th counted call of
 *                        the kind (K, 2K, 3K...), for long-lived processes
 *   HSFAULT_SHORT=1      write/pwrite only: the N-th call writes half of
 *                        its bytes and succeeds short; the next counted
 *                        call of the kind then fails with the errno
 *   HSFAULT_LOG=FILE     one line per injected fault is appended:
 *                        "fault KIND NTH ERRNO short=0|1 TARGET"
 *   HSFAULT_COUNT=1      count only (inject nothing) ...
 *   HSFAULT_COUNT_FILE=FILE  ... and write "KIND N" lines there at exit
 *   HSFAULT_TRACE=FILE   append "KIND N TARGET" for every counted call
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/types.h>
#include <unistd.h>

enum {
    K_OPEN, K_OPENAT, K_WRITE, K_PWRITE, K_FSYNC, K_FDATASYNC, K_RENAME,
    K_RENAMEAT, K_RENAMEAT2, K_LINK, K_LINKAT, K_FLOCK, K_FTRUNCATE, K_FCNTL,
    K_MAX
};

static const char *const kind_names[K_MAX] = {
    "open", "openat", "write", "pwrite", "fsync", "fdatasync", "rename",
    "renameat", "renameat2", "link", "linkat", "flock", "ftruncate", "fcntl",
};

static struct {
    int    inited;
    int    kind;            /* -1: inject nothing */
    long   nth;
    long   every;
    int    err;
    int    short_mode;
    int    short_pending;   /* the short write happened: fail the next */
    int    count_only;
    char   prefix[PATH_MAX];
    size_t prefix_len;
    char   log[PATH_MAX], count_file[PATH_MAX], trace[PATH_MAX];
    long   counts[K_MAX];
} S;

/* The real functions, looked up lazily. */
#define REAL(name) real_##name
#define DECL_REAL(ret, name, args) static ret (*real_##name) args
DECL_REAL(int, open, (const char *, int, ...));
DECL_REAL(int, open64, (const char *, int, ...));
DECL_REAL(int, openat, (int, const char *, int, ...));
DECL_REAL(int, openat64, (int, const char *, int, ...));
DECL_REAL(int, __open_2, (const char *, int));
DECL_REAL(int, __open64_2, (const char *, int));
DECL_REAL(int, __openat_2, (int, const char *, int));
DECL_REAL(int, __openat64_2, (int, const char *, int));
DECL_REAL(ssize_t, write, (int, const void *, size_t));
DECL_REAL(ssize_t, pwrite, (int, const void *, size_t, off_t));
DECL_REAL(ssize_t, pwrite64, (int, const void *, size_t, off64_t));
DECL_REAL(int, fsync, (int));
DECL_REAL(int, fdatasync, (int));
DECL_REAL(int, rename, (const char *, const char *));
DECL_REAL(int, renameat, (int, const char *, int, const char *));
DECL_REAL(int, renameat2, (int, const char *, int, const char *, unsigned));
DECL_REAL(int, link, (const char *, const char *));
DECL_REAL(int, linkat, (int, const char *, int, const char *, int));
DECL_REAL(int, flock, (int, int));
DECL_REAL(int, ftruncate, (int, off_t));
DECL_REAL(int, ftruncate64, (int, off64_t));
DECL_REAL(int, fcntl, (int, int, ...));
DECL_REAL(int, fcntl64, (int, int, ...));

#define RESOLVE(name) (real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name))

static void resolve_all(void)
{
    RESOLVE(open); RESOLVE(open64); RESOLVE(openat); RESOLVE(openat64);
    RESOLVE(__open_2); RESOLVE(__open64_2); RESOLVE(__openat_2); RESOLVE(__openat64_2);
    RESOLVE(write); RESOLVE(pwrite); RESOLVE(pwrite64); RESOLVE(fsync); RESOLVE(fdatasync);
    RESOLVE(rename); RESOLVE(renameat); RESOLVE(renameat2); RESOLVE(link); RESOLVE(linkat);
    RESOLVE(flock); RESOLVE(ftruncate); RESOLVE(ftruncate64); RESOLVE(fcntl); RESOLVE(fcntl64);
}

/* init() resolves every real function first (a sequence point). */
#define LOAD(name) (init(), real_##name)

static const struct { const char *name; int value; } errnos[] = {
    { "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT }, { "EINTR", EINTR },
    { "ENOLCK", ENOLCK }, { "EACCES", EACCES }, { "EROFS", EROFS }, { "EAGAIN", EAGAIN },
    { "ENOMEM", ENOMEM }, { "EMFILE", EMFILE }, { NULL, 0 },
};

static void copy_env(char *dst, size_t n, const char *name)
{
    const char *v = getenv(name);
    dst[0] = '\0';
    if (v != NULL && strlen(v) < n) memcpy(dst, v, strlen(v) + 1);
}

static void init(void)
{
    const char *v;
    int i;

    if (S.inited) return;
    S.inited = 1;
    resolve_all();
    S.kind = -1;
    S.err = EIO;
    copy_env(S.prefix, sizeof(S.prefix), "HSFAULT_PATH");
    S.prefix_len = strlen(S.prefix);
    while (S.prefix_len > 1 && S.prefix[S.prefix_len - 1] == '/')
        S.prefix[--S.prefix_len] = '\0';
    copy_env(S.log, sizeof(S.log), "HSFAULT_LOG");
    copy_env(S.count_file, sizeof(S.count_file), "HSFAULT_COUNT_FILE");
    copy_env(S.trace, sizeof(S.trace), "HSFAULT_TRACE");
    v = getenv("HSFAULT_COUNT");
    S.count_only = v != NULL && strcmp(v, "1") == 0;
    v = getenv("HSFAULT_SHORT");
    S.short_mode = v != NULL && strcmp(v, "1") == 0;
    v = getenv("HSFAULT_NTH");
    S.nth = v != NULL ? strtol(v, NULL, 10) : 0;
    v = getenv("HSFAULT_EVERY");
    S.every = v != NULL ? strtol(v, NULL, 10) : 0;
    v = getenv("HSFAULT_ERRNO");
    if (v != NULL) {
        for (i = 0; errnos[i].name != NULL; i++)
            if (strcmp(v, errnos[i].name) == 0) { S.err = errnos[i].value; break; }
        if (errnos[i].name == NULL && atoi(v) > 0) S.err = atoi(v);
    }
    v = getenv("HSFAULT_CALL");
    if (v != NULL && !S.count_only)
        for (i = 0; i < K_MAX; i++)
            if (strcmp(v, kind_names[i]) == 0) S.kind = i;
}

__attribute__((constructor)) static void shim_start(void) { init(); }

/* Append one line to file with the real open/write (never counted). */
static void append_line(const char *file, const char *line)
{
    int fd;
    size_t n = strlen(line);
    init();
    if (file[0] == '\0' || real_open == NULL || real_write == NULL) return;
    fd = real_open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    while (n > 0) {
        ssize_t w = real_write(fd, line, n);
        if (w <= 0) break;
        line += w;
        n -= (size_t)w;
    }
    close(fd);
}

__attribute__((destructor)) static void shim_end(void)
{
    char buf[64 * K_MAX], *p = buf;
    int i;
    if (S.count_file[0] == '\0') return;
    for (i = 0; i < K_MAX; i++)
        p += snprintf(p, sizeof(buf) - (size_t)(p - buf), "%s %ld\n", kind_names[i], S.counts[i]);
    append_line(S.count_file, buf);
}

static int under(const char *path)
{
    if (S.prefix_len == 0) return path[0] == '/';
    return strncmp(path, S.prefix, S.prefix_len) == 0 &&
           (path[S.prefix_len] == '\0' || path[S.prefix_len] == '/');
}

/* The path of an open descriptor ("" when unknown). */
static void fd_path(int fd, char out[PATH_MAX])
{
    char link[64];
    ssize_t r;
    out[0] = '\0';
    if (fd < 0) return;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    r = readlink(link, out, PATH_MAX - 1);
    out[r > 0 ? r : 0] = '\0';
}

/* The absolute path of (dirfd, path) without resolving it. */
static void at_path(int dirfd, const char *path, char out[PATH_MAX])
{
    char dir[PATH_MAX];
    out[0] = '\0';
    if (path == NULL || strlen(path) >= PATH_MAX / 2) return;
    if (path[0] == '/') { snprintf(out, PATH_MAX, "%s", path); return; }
    if (dirfd == AT_FDCWD) {
        if (getcwd(dir, sizeof(dir)) == NULL) return;
    } else {
        fd_path(dirfd, dir);
        if (dir[0] == '\0') return;
    }
    if (strlen(dir) >= PATH_MAX / 2) return;
    {
        size_t dl = strlen(dir), pl = strlen(path);
        memcpy(out, dir, dl);
        out[dl] = '/';
        memcpy(out + dl + 1, path, pl + 1);
    }
}

/*
 * Count one call of kind k on target; returns 0 to proceed, 1 to fail it
 * with S.err (errno is set), 2 to make it short (write kinds only).
 */
static int decide(int k, const char *target)
{
    long n;
    char line[PATH_MAX + 128];

    init();
    if (!under(target)) return 0;
    n = __atomic_add_fetch(&S.counts[k], 1, __ATOMIC_SEQ_CST);
    if (S.trace[0]) {
        snprintf(line, sizeof(line), "%s %ld %s\n", kind_names[k], n, target);
        append_line(S.trace, line);
    }
    if (S.kind != k) return 0;
    if (S.short_pending) {
        S.short_pending = 0;
        snprintf(line, sizeof(line), "fault %s %ld %d short=1-rest %s\n", kind_names[k], n,
                 S.err, target);
        append_line(S.log, line);
        errno = S.err;
        return 1;
    }
    if (S.every > 0 ? n % S.every != 0 : n != S.nth) return 0;
    if (S.short_mode && (k == K_WRITE || k == K_PWRITE)) {
        S.short_pending = 1;
        snprintf(line, sizeof(line), "fault %s %ld %d short=1 %s\n", kind_names[k], n, S.err,
                 target);
        append_line(S.log, line);
        return 2;
    }
    snprintf(line, sizeof(line), "fault %s %ld %d short=0 %s\n", kind_names[k], n, S.err,
             target);
    append_line(S.log, line);
    errno = S.err;
    return 1;
}

static int decide_fd(int k, int fd)
{
    char p[PATH_MAX];
    init();
    fd_path(fd, p);
    if (p[0] == '\0') return 0;
    return decide(k, p);
}

static int decide_at(int k, int dirfd, const char *path)
{
    char p[PATH_MAX];
    init();
    at_path(dirfd, path, p);
    if (p[0] == '\0') return 0;
    return decide(k, p);
}

/* Two paths: counts once, on whichever of them is under the prefix. */
static int decide_at2(int k, int d1, const char *p1, int d2, const char *p2)
{
    char a[PATH_MAX], b[PATH_MAX];
    init();
    at_path(d1, p1, a);
    at_path(d2, p2, b);
    if (under(a)) return decide(k, a);
    if (under(b)) return decide(k, b);
    return 0;
}

static int wants_mode(int flags)
{
    return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

/* ------------------------------------------------------------- open */

#define OPEN_BODY(fn, pathexpr, ...)                                      \
    mode_t mode = 0;                                                      \
    if (wants_mode(flags)) {                                              \
        va_list ap;                                                       \
        va_start(ap, flags);                                              \
        mode = (mode_t)va_arg(ap, int);                                   \
        va_end(ap);                                                       \
    }                                                                     \
    if (pathexpr == 1) return -1;                                         \
    if (LOAD(fn) == NULL) { errno = ENOSYS; return -1; }                  \
    return real_##fn(__VA_ARGS__, flags, mode);

int open(const char *path, int flags, ...)
{
    OPEN_BODY(open, decide_at(K_OPEN, AT_FDCWD, path), path)
}

int open64(const char *path, int flags, ...)
{
    OPEN_BODY(open64, decide_at(K_OPEN, AT_FDCWD, path), path)
}

int openat(int dirfd, const char *path, int flags, ...)
{
    OPEN_BODY(openat, decide_at(K_OPENAT, dirfd, path), dirfd, path)
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    OPEN_BODY(openat64, decide_at(K_OPENAT, dirfd, path), dirfd, path)
}

int __open_2(const char *path, int flags)
{
    if (decide_at(K_OPEN, AT_FDCWD, path) == 1) return -1;
    return LOAD(__open_2)(path, flags);
}

int __open64_2(const char *path, int flags)
{
    if (decide_at(K_OPEN, AT_FDCWD, path) == 1) return -1;
    return LOAD(__open64_2)(path, flags);
}

int __openat_2(int dirfd, const char *path, int flags)
{
    if (decide_at(K_OPENAT, dirfd, path) == 1) return -1;
    return LOAD(__openat_2)(dirfd, path, flags);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
    if (decide_at(K_OPENAT, dirfd, path) == 1) return -1;
    return LOAD(__openat64_2)(dirfd, path, flags);
}

/* ------------------------------------------------------------ writes */

ssize_t write(int fd, const void *buf, size_t n)
{
    int d = fd > 2 ? decide_fd(K_WRITE, fd) : 0;
    if (d == 1) return -1;
    if (d == 2 && n > 1) n /= 2;
    return LOAD(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    int d = decide_fd(K_PWRITE, fd);
    if (d == 1) return -1;
    if (d == 2 && n > 1) n /= 2;
    return LOAD(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    int d = decide_fd(K_PWRITE, fd);
    if (d == 1) return -1;
    if (d == 2 && n > 1) n /= 2;
    return LOAD(pwrite64)(fd, buf, n, off);
}

/* ------------------------------------------------------------ flushes */

int fsync(int fd)
{
    if (decide_fd(K_FSYNC, fd) == 1) return -1;
    return LOAD(fsync)(fd);
}

int fdatasync(int fd)
{
    if (decide_fd(K_FDATASYNC, fd) == 1) return -1;
    return LOAD(fdatasync)(fd);
}

/* ------------------------------------------------------------ names */

int rename(const char *a, const char *b)
{
    if (decide_at2(K_RENAME, AT_FDCWD, a, AT_FDCWD, b) == 1) return -1;
    return LOAD(rename)(a, b);
}

int renameat(int da, const char *a, int db, const char *b)
{
    if (decide_at2(K_RENAMEAT, da, a, db, b) == 1) return -1;
    return LOAD(renameat)(da, a, db, b);
}

int renameat2(int da, const char *a, int db, const char *b, unsigned flags)
{
    if (decide_at2(K_RENAMEAT2, da, a, db, b) == 1) return -1;
    return LOAD(renameat2)(da, a, db, b, flags);
}

int link(const char *a, const char *b)
{
    if (decide_at2(K_LINK, AT_FDCWD, a, AT_FDCWD, b) == 1) return -1;
    return LOAD(link)(a, b);
}

int linkat(int da, const char *a, int db, const char *b, int flags)
{
    if (decide_at2(K_LINKAT, da, a, db, b) == 1) return -1;
    return LOAD(linkat)(da, a, db, b, flags);
}

/* ------------------------------------------------------------ locks, sizes */

int flock(int fd, int op)
{
    if (decide_fd(K_FLOCK, fd) == 1) return -1;
    return LOAD(flock)(fd, op);
}

int ftruncate(int fd, off_t len)
{
    if (decide_fd(K_FTRUNCATE, fd) == 1) return -1;
    return LOAD(ftruncate)(fd, len);
}

int ftruncate64(int fd, off64_t len)
{
    if (decide_fd(K_FTRUNCATE, fd) == 1) return -1;
    return LOAD(ftruncate64)(fd, len);
}

static int is_lock_cmd(int cmd)
{
    return cmd == F_SETLK || cmd == F_SETLKW
#ifdef F_OFD_SETLK
           || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW
#endif
        ;
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    void *arg;
    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (is_lock_cmd(cmd) && decide_fd(K_FCNTL, fd) == 1) return -1;
    return LOAD(fcntl)(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    void *arg;
    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (is_lock_cmd(cmd) && decide_fd(K_FCNTL, fd) == 1) return -1;
    if (LOAD(fcntl64) == NULL) return LOAD(fcntl)(fd, cmd, arg);
    return real_fcntl64(fd, cmd, arg);
}
