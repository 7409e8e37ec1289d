#include "ctx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"

#include <openssl/crypto.h>

/* A configuration file as last read. */
struct conf_file {
    char   path[PATH_MAX];
    int    used;
    time_t checked;         /* last stat, at most once a second */
    struct stat st;
    int    missing;         /* the file does not exist */
    char   error[HS_CTX_ERR_MAX];   /* unreadable or unparsable */
    hs_buf pairs;           /* "NAME\0value\0" ... */
    unsigned long gen;      /* bumped whenever pairs are (re)read */
};

struct conf_entry {
    hs_buf        key;      /* the resolved values, canonical */
    hs_config     cfg;
    unsigned long used;     /* LRU clock */
    /* HOOKSPOOL_SECRET_FILE as last read, merged after cfg.secrets. */
    hs_secret    *all;
    size_t        nall;
    time_t        sf_checked;
    struct stat   sf_st;
    int           sf_loaded;
    char          sf_error[HS_CTX_ERR_MAX];
};

struct spool_entry {
    char      path[PATH_MAX];
    hs_spool *sp;
    unsigned long checked;  /* ctx->request when last found valid */
    hs_store *store;    /* opened on first use */
    hs_counters *cnt;   /* opened on first use */
    time_t    cnt_checked;  /* when cnt was last found to be the file */
};

struct hs_ctx {
    char               conf_dir[PATH_MAX];
    hs_log            *log;        /* own_log or the process' */
    hs_log             own_log;
    int                owns_log;
    hs_flusher        *flusher;    /* own or the process' */
    int                owns_flusher;
    unsigned long      clock;
    unsigned long      request;      /* hs_ctx_config calls: one per request */
    int                cnt_warned;   /* an unusable counters file was logged */
    struct conf_entry  confs[HS_CTX_MAX_CONFIGS];
    struct conf_file   files[HS_CTX_MAX_FILES];
    struct spool_entry spools[HS_CTX_MAX_SPOOLS];
    hs_buf             scratch;
    /* The last request's raw settings (see raw_settings) and the entry
     * they resolved to. Set together by the request that resolved them;
     * every request that does not reuse them clears them first, so an
     * entry re-parsed since is never reached through them. */
    hs_buf             raw;
    struct conf_entry *raw_entry;
    unsigned long      gen;          /* source of conf_file generations */
};

hs_ctx *hs_ctx_new_shared(const char *conf_dir, hs_log *log, hs_flusher *flusher)
{
    hs_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) return NULL;
    /* Kept only when the file's path fits, so that path is never cut. */
    if (conf_dir != NULL && strlen(conf_dir) + sizeof("/" HS_CTX_CONF_FILE) <= sizeof(ctx->conf_dir))
        strcpy(ctx->conf_dir, conf_dir);
    ctx->log = log;
    ctx->flusher = flusher;
    return ctx;
}

hs_ctx *hs_ctx_new(const char *conf_dir, int log_fd)
{
    hs_flusher *fl = hs_flusher_new();
    hs_ctx *ctx = fl ? hs_ctx_new_shared(conf_dir, NULL, fl) : NULL;
    if (ctx == NULL) { hs_flusher_free(fl); return NULL; }
    hs_log_init(&ctx->own_log, log_fd);
    ctx->log = &ctx->own_log;
    ctx->owns_log = 1;
    ctx->owns_flusher = 1;
    return ctx;
}

void hs_ctx_free(hs_ctx *ctx)
{
    size_t i;
    if (ctx == NULL) return;
    hs_log_flush(ctx->log);
    for (i = 0; i < HS_CTX_MAX_CONFIGS; i++) {
        hs_buf_free(&ctx->confs[i].key);
        free(ctx->confs[i].all);
    }
    for (i = 0; i < HS_CTX_MAX_FILES; i++) hs_buf_free(&ctx->files[i].pairs);
    for (i = 0; i < HS_CTX_MAX_SPOOLS; i++) {
        hs_store_close(ctx->spools[i].store);
        hs_counters_close(ctx->spools[i].cnt);
        hs_spool_close(ctx->spools[i].sp);
    }
    hs_buf_free(&ctx->scratch);
    hs_buf_free(&ctx->raw);
    if (ctx->owns_log) hs_log_destroy(&ctx->own_log);
    if (ctx->owns_flusher) hs_flusher_free(ctx->flusher);
    free(ctx);
}

hs_log *hs_ctx_log(hs_ctx *ctx) { return ctx->log; }

const char *hs_param(char *const *params, const char *name)
{
    size_t n = strlen(name);
    if (params == NULL) return NULL;
    for (; *params != NULL; params++)
        if (strncmp(*params, name, n) == 0 && (*params)[n] == '=')
            return *params + n + 1;
    return NULL;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
           a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Read a small file whole into b. 0, or -errno (-EFBIG over max). */
static int read_small(const char *path, size_t max, hs_buf *b, struct stat *st)
{
    char chunk[4096];
    int fd, rc = 0;

    hs_buf_reset(b);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return -errno;
    if (fstat(fd, st) != 0) { rc = -errno; goto out; }
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rc = -errno; break; }
        if (r == 0) break;
        if (b->len + (size_t)r > max) { rc = -EFBIG; break; }
        if (hs_buf_append(b, chunk, (size_t)r) != 0) { rc = -ENOMEM; break; }
    }
out:
    if (close(fd) != 0 && rc == 0) rc = -errno;
    return rc;
}

static int add_pair(void *arg, const char *name, const char *value)
{
    hs_buf *b = arg;
    hs_buf_append(b, name, strlen(name) + 1);
    return hs_buf_append(b, value, strlen(value) + 1);
}

/* The configuration file at path, (re)read when it changed. */
static struct conf_file *load_conf_file(hs_ctx *ctx, const char *path, time_t now)
{
    struct conf_file *f = NULL;
    struct stat st;
    hs_buf text = HS_BUF_INIT;
    size_t i;
    int rc;

    for (i = 0; i < HS_CTX_MAX_FILES; i++)
        if (ctx->files[i].used && strcmp(ctx->files[i].path, path) == 0) {
            f = &ctx->files[i];
            break;
        }
    if (f != NULL && f->checked == now) return f;
    if (f == NULL) {
        /* Take a free slot, else the one checked longest ago. */
        f = &ctx->files[0];
        for (i = 0; i < HS_CTX_MAX_FILES; i++) {
            if (!ctx->files[i].used) { f = &ctx->files[i]; break; }
            if (ctx->files[i].checked < f->checked) f = &ctx->files[i];
        }
        hs_buf_reset(&f->pairs);
        memset(&f->st, 0, sizeof(f->st));
        snprintf(f->path, sizeof(f->path), "%s", path);
        f->used = 1;
        f->missing = 0;
        f->error[0] = '\0';
        f->checked = 0;
    } else if (stat(path, &st) == 0 && !f->missing && f->error[0] == '\0' &&
               same_file(&st, &f->st)) {
        f->checked = now;
        return f;
    }
    f->checked = now;
    f->missing = 0;
    f->error[0] = '\0';
    f->gen = ++ctx->gen;
    hs_buf_reset(&f->pairs);
    rc = read_small(path, HS_CONF_MAX_FILE, &text, &f->st);
    if (rc == -ENOENT) {
        f->missing = 1;
    } else if (rc != 0) {
        snprintf(f->error, sizeof(f->error), "cannot read %.300s: %s", path,
                 rc == -EFBIG ? "larger than 64 KiB" : strerror(-rc));
    } else {
        char err[256];
        if (hs_conf_file_parse(text.p ? text.p : "", text.len, add_pair, &f->pairs,
                               err, sizeof(err)) != 0)
            snprintf(f->error, sizeof(f->error), "%.250s: %.250s", path, err);
        else if (f->pairs.oom)
            snprintf(f->error, sizeof(f->error), "%.300s: out of memory", path);
    }
    hs_buf_free(&text);
    return f;
}

#define CHAIN_MAX 64   /* HOOKSPOOL_ entries indexed; more: plain scans */
#define PREFIX "HOOKSPOOL_"

extern char **environ;

/*
 * Where settings come from, in SPEC order. Every request resolves each of
 * the ~25 setting names, so the request's parameters and the environment
 * are first cut down to their HOOKSPOOL_ entries (usually a handful) in
 * one pass each, instead of a strncmp scan of all of them per name.
 */
struct chain {
    char *const            *params;
    const struct conf_file *file;
    const char             *pv[CHAIN_MAX], *ev[CHAIN_MAX];
    size_t                  np, ne;
    int                     p_all, e_all;   /* too many: scan everything */
};

static void chain_index(const char *const *from, const char **to, size_t *n, int *all)
{
    *n = 0;
    *all = 0;
    if (from == NULL) return;
    for (; *from != NULL; from++) {
        if (strncmp(*from, PREFIX, sizeof(PREFIX) - 1) != 0) continue;
        if (*n == CHAIN_MAX) { *all = 1; return; }
        to[(*n)++] = *from;
    }
}

static const char *find_in(const char *const *v, size_t n, const char *name)
{
    size_t i, len = strlen(name);
    for (i = 0; i < n; i++)
        if (strncmp(v[i], name, len) == 0 && v[i][len] == '=') return v[i] + len + 1;
    return NULL;
}

static void chain_init(struct chain *c, char *const *params, const struct conf_file *file)
{
    c->params = params;
    c->file = file;
    chain_index((const char *const *)params, c->pv, &c->np, &c->p_all);
    chain_index((const char *const *)environ, c->ev, &c->ne, &c->e_all);
}

static const char *chain_lookup(void *arg, const char *name)
{
    const struct chain *c = arg;
    const char *v;
    size_t pos = 0;
    int indexed = strncmp(name, PREFIX, sizeof(PREFIX) - 1) == 0;

    v = indexed && !c->p_all ? find_in(c->pv, c->np, name) : hs_param(c->params, name);
    if (v != NULL) return v;
    v = indexed && !c->e_all ? find_in(c->ev, c->ne, name) : getenv(name);
    if (v != NULL) return v;
    if (c->file == NULL || c->file->pairs.len == 0) return NULL;
    while (pos < c->file->pairs.len) {
        const char *n = c->file->pairs.p + pos;
        const char *val = n + strlen(n) + 1;
        if (strcmp(n, name) == 0) v = val;   /* the last line wins */
        pos = (size_t)(val + strlen(val) + 1 - c->file->pairs.p);
    }
    return v;
}

/*
 * Everything a request's settings are resolved from, raw: the
 * configuration file (which one, and which reading of it) and the
 * HOOKSPOOL_ entries of the parameters and of the environment, in order.
 * Equal raw settings resolve to equal values, so a request whose raw
 * settings are the last request's skips the ~25 lookups. Written into
 * out; 0, or -1 when they were too many to index (then no shortcut).
 */
static int raw_settings(const struct chain *c, hs_buf *out)
{
    size_t i;
    uintptr_t fp = (uintptr_t)c->file;
    unsigned long gen = c->file != NULL ? c->file->gen : 0;

    if (c->p_all || c->e_all) return -1;
    hs_buf_reset(out);
    hs_buf_append(out, &fp, sizeof(fp));
    hs_buf_append(out, &gen, sizeof(gen));
    for (i = 0; i < c->np; i++) hs_buf_append(out, c->pv[i], strlen(c->pv[i]) + 1);
    hs_buf_putc(out, '\001');   /* no entry starts with it: ends the parameters */
    for (i = 0; i < c->ne; i++) hs_buf_append(out, c->ev[i], strlen(c->ev[i]) + 1);
    return out->oom ? -1 : 0;
}

/* Once per process (whichever thread parses the configuration first): a
 * spool or secret file that the web server would serve to anyone is
 * worth a line in the error log. */
static void warn_docroot(hs_ctx *ctx, const hs_config *cfg, const char *docroot)
{
    /* A key holds a whole path (a cut key could stand for two files). */
    char key[sizeof("docroot-secret:") + PATH_MAX];
    if (docroot == NULL || *docroot == '\0') return;
    if (hs_path_under(cfg->spool, docroot)) {
        snprintf(key, sizeof(key), "docroot-spool:%s", cfg->spool);
        hs_log_once(ctx->log, key, "warning: HOOKSPOOL_SPOOL %s lies inside DOCUMENT_ROOT %s: "
                    "anyone could download the events; move it outside", cfg->spool, docroot);
    }
    if (cfg->secret_file[0] != '\0' && hs_path_under(cfg->secret_file, docroot)) {
        snprintf(key, sizeof(key), "docroot-secret:%s", cfg->secret_file);
        hs_log_once(ctx->log, key, "warning: HOOKSPOOL_SECRET_FILE %s lies inside "
                    "DOCUMENT_ROOT %s: anyone could download the secret; move it outside",
                    cfg->secret_file, docroot);
    }
}

/* ctx->raw (this request's raw settings, when they could be indexed)
 * resolved to e. */
static void remember_raw(hs_ctx *ctx, struct conf_entry *e)
{
    if (ctx->raw.len != 0) ctx->raw_entry = e;
}

const hs_config *hs_ctx_config(hs_ctx *ctx, char *const *params, time_t now,
                               char *err, size_t errlen)
{
    struct chain ch;
    const struct conf_file *file = NULL;
    struct conf_entry *e, *victim;
    const char *cpath;
    char path[PATH_MAX];
    hs_buf *key = &ctx->scratch;
    size_t i;
    int raw_ok;

    ctx->request++;
    cpath = hs_param(params, "HOOKSPOOL_CONFIG");
    if (cpath == NULL) cpath = getenv("HOOKSPOOL_CONFIG");
    if (cpath != NULL && *cpath != '\0') {
        file = load_conf_file(ctx, cpath, now);
        if (file->missing) {
            snprintf(err, errlen, "HOOKSPOOL_CONFIG: %.300s does not exist", cpath);
            return NULL;
        }
    } else if (ctx->conf_dir[0] != '\0') {
        /* Cannot be cut: conf_dir was kept only when it fits. */
        if (snprintf(path, sizeof(path), "%s/" HS_CTX_CONF_FILE, ctx->conf_dir) < (int)sizeof(path)) {
            file = load_conf_file(ctx, path, now);
            if (file->missing) file = NULL;
        }
    }
    if (file != NULL && file->error[0] != '\0') {
        snprintf(err, errlen, "configuration file %.480s", file->error);
        return NULL;
    }
    chain_init(&ch, params, file);

    /* The same raw settings as the last request: the same configuration. */
    raw_ok = raw_settings(&ch, key) == 0;
    if (raw_ok && ctx->raw_entry != NULL && key->len == ctx->raw.len &&
        memcmp(key->p, ctx->raw.p, key->len) == 0) {
        ctx->raw_entry->used = ++ctx->clock;
        return &ctx->raw_entry->cfg;
    }
    /* Otherwise keep these raw settings (none when they could not be
     * indexed) for the entry they resolve to below: the buffers trade
     * places, and key is rebuilt next. */
    ctx->raw_entry = NULL;
    if (raw_ok) {
        hs_buf t = ctx->raw;
        ctx->raw = *key;
        *key = t;
    } else {
        hs_buf_reset(&ctx->raw);
    }

    /* The canonical key: every setting's resolved value. */
    hs_buf_reset(key);
    for (i = 0; hs_conf_names[i] != NULL; i++) {
        const char *v = chain_lookup(&ch, hs_conf_names[i]);
        if (v == NULL) { hs_buf_putc(key, '\001'); continue; }
        hs_buf_putc(key, '=');
        hs_buf_append(key, v, strlen(v) + 1);
    }
    if (key->oom) { snprintf(err, errlen, "out of memory"); return NULL; }

    victim = &ctx->confs[0];
    for (i = 0; i < HS_CTX_MAX_CONFIGS; i++) {
        e = &ctx->confs[i];
        if (e->key.len == key->len && e->key.len > 0 &&
            memcmp(e->key.p, key->p, key->len) == 0) {
            e->used = ++ctx->clock;
            remember_raw(ctx, e);
            return &e->cfg;
        }
        if (e->used < victim->used) victim = e;
    }
    /* Not seen yet: parse into the least recently used slot. Errors are
     * not cached, so a fixed setting takes effect on the next request. */
    e = victim;
    hs_buf_reset(&e->key);
    e->used = 0;
    free(e->all);
    e->all = NULL;
    e->nall = 0;
    e->sf_loaded = 0;
    e->sf_checked = 0;
    e->sf_error[0] = '\0';
    if (hs_conf_parse(chain_lookup, &ch, &e->cfg, err, errlen) != 0) return NULL;
    if (hs_buf_append(&e->key, key->p, key->len) != 0) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->used = ++ctx->clock;
    remember_raw(ctx, e);
    warn_docroot(ctx, &e->cfg, hs_param(params, "DOCUMENT_ROOT"));
    return &e->cfg;
}

static struct conf_entry *entry_of(hs_ctx *ctx, const hs_config *cfg)
{
    size_t i;
    for (i = 0; i < HS_CTX_MAX_CONFIGS; i++)
        if (&ctx->confs[i].cfg == cfg) return &ctx->confs[i];
    return NULL;
}

int hs_ctx_secrets(hs_ctx *ctx, const hs_config *cfg, time_t now,
                   const hs_secret **out, char *err, size_t errlen)
{
    struct conf_entry *e = entry_of(ctx, cfg);
    hs_secret *all;
    hs_buf text = HS_BUF_INIT;
    struct stat st;
    char perr[256];
    int rc, n;

    if (e == NULL) { snprintf(err, errlen, "internal: unknown configuration"); return -1; }
    if (cfg->secret_file[0] == '\0') {
        *out = cfg->secrets;
        return (int)cfg->nsecrets;
    }
    if (e->sf_checked != now) {
        e->sf_checked = now;
        if (!(e->sf_loaded && stat(cfg->secret_file, &st) == 0 && same_file(&st, &e->sf_st))) {
            all = calloc(2 + HS_CONF_MAX_SECRETS, sizeof(*all));
            if (all == NULL) { snprintf(err, errlen, "out of memory"); return -1; }
            memcpy(all, cfg->secrets, cfg->nsecrets * sizeof(*all));
            rc = read_small(cfg->secret_file, HS_CONF_MAX_FILE, &text, &st);
            n = -1;
            if (rc != 0)
                snprintf(e->sf_error, sizeof(e->sf_error),
                         "HOOKSPOOL_SECRET_FILE: cannot read %.300s: %s", cfg->secret_file,
                         rc == -EFBIG ? "larger than 64 KiB" : strerror(-rc));
            else if ((n = hs_conf_secret_file_parse(&cfg->scheme, text.p ? text.p : "",
                            text.len, "HOOKSPOOL_SECRET_FILE", all + cfg->nsecrets,
                            HS_CONF_MAX_SECRETS, perr, sizeof(perr))) < 0)
                snprintf(e->sf_error, sizeof(e->sf_error),
                         "HOOKSPOOL_SECRET_FILE: %.200s: %.200s", cfg->secret_file, perr);
            /* Wipe the file's text: it held secrets. */
            if (text.p) OPENSSL_cleanse(text.p, text.cap);
            hs_buf_free(&text);
            if (n < 0) {
                free(all);
                e->sf_loaded = 0;
            } else {
                free(e->all);
                e->all = all;
                e->nall = cfg->nsecrets + (size_t)n;
                e->sf_st = st;
                e->sf_loaded = 1;
                e->sf_error[0] = '\0';
            }
        }
    }
    if (!e->sf_loaded) {
        snprintf(err, errlen, "%s", e->sf_error[0] ? e->sf_error : "HOOKSPOOL_SECRET_FILE: not read");
        return -1;
    }
    *out = e->all;
    return (int)e->nall;
}

hs_spool_opts hs_ctx_spool_opts(const hs_config *cfg)
{
    hs_spool_opts o;
    o.rotate_bytes = cfg->rotate_bytes;
    o.rotate_seconds = cfg->rotate_seconds;
    o.fsync_always = cfg->fsync_always;
    o.umask = cfg->umask;
    return o;
}

int hs_ctx_spool(hs_ctx *ctx, const hs_config *cfg, int create, hs_spool **out)
{
    struct spool_entry *e = NULL;
    hs_spool_opts o = hs_ctx_spool_opts(cfg);
    size_t i;
    int rc;

    for (i = 0; i < HS_CTX_MAX_SPOOLS; i++)
        if (ctx->spools[i].sp != NULL && strcmp(ctx->spools[i].path, cfg->spool) == 0) {
            e = &ctx->spools[i];
            break;
        }
    /* Still the directory at that path (not deleted or replaced by an
     * operator)? Asked once per request: one stat call. */
    if (e != NULL && ((ctx->request != 0 && e->checked == ctx->request) ||
                      hs_spool_valid(e->sp))) {
        e->checked = ctx->request;
        *out = e->sp;
        return 0;
    }
    if (e == NULL) {
        e = &ctx->spools[0];
        for (i = 0; i < HS_CTX_MAX_SPOOLS; i++)
            if (ctx->spools[i].sp == NULL) { e = &ctx->spools[i]; break; }
    }
    hs_store_close(e->store);
    e->store = NULL;
    hs_counters_close(e->cnt);
    e->cnt = NULL;
    hs_spool_close(e->sp);
    e->sp = NULL;
    rc = hs_spool_open(cfg->spool, &o, create, &e->sp);
    if (rc != 0) return rc;
    hs_spool_set_flusher(e->sp, ctx->flusher);
    snprintf(e->path, sizeof(e->path), "%s", cfg->spool);
    e->checked = ctx->request;
    *out = e->sp;
    return 0;
}

int hs_ctx_store(hs_ctx *ctx, const hs_config *cfg, int create, hs_store **out)
{
    size_t i;
    for (i = 0; i < HS_CTX_MAX_SPOOLS; i++) {
        struct spool_entry *e = &ctx->spools[i];
        if (e->sp == NULL || strcmp(e->path, cfg->spool) != 0) continue;
        if (e->store == NULL) {
            int rc = hs_store_open(cfg->spool, cfg->umask, create, &e->store);
            if (rc != 0) return rc;
        }
        *out = e->store;
        return 0;
    }
    return -ENOENT;
}

void hs_ctx_counters(hs_ctx *ctx, const hs_config *cfg, int create, time_t now,
                     hs_counters **out)
{
    hs_spool *sp;
    size_t i;
    int rc;

    *out = NULL;
    if (hs_ctx_spool(ctx, cfg, create, &sp) != 0) return;
    for (i = 0; i < HS_CTX_MAX_SPOOLS; i++) {
        struct spool_entry *e = &ctx->spools[i];
        if (e->sp != sp) continue;
        /* Replaced or deleted by an operator (resetting the counts)? A
         * stat a second is enough: counts are statistics, not events. */
        if (e->cnt != NULL && e->cnt_checked != now && !hs_counters_valid(e->cnt)) {
            hs_counters_close(e->cnt);
            e->cnt = NULL;
        }
        e->cnt_checked = now;
        if (e->cnt == NULL) {
            rc = hs_counters_open(cfg->spool, cfg->umask, &e->cnt);
            if (rc != 0) {
                e->cnt = NULL;
                if (!ctx->cnt_warned) {
                    ctx->cnt_warned = 1;
                    hs_logf(ctx->log, now, "spool=%s: counters not kept: %s",
                            cfg->spool, hs_spool_strerror(rc));
                }
            }
        }
        *out = e->cnt;
        return;
    }
}
