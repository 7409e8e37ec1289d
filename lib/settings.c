#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"

#include <openssl/crypto.h>

/* A configuration file as last read. */
struct conf_file {
    char   path[PATH_MAX];
    int    used;
    time_t checked;         /* last stat, at most once a second */
    struct stat st;
    int    missing;         /* the file does not exist */
    char   error[HS_SETTINGS_ERR_MAX];   /* unreadable or unparsable */
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
    char          sf_error[HS_SETTINGS_ERR_MAX];
};

struct hs_settings {
    char               conf_dir[PATH_MAX];   /* "" for none */
    unsigned long      clock;
    struct conf_entry  confs[HS_SETTINGS_MAX_CONFIGS];
    struct conf_file   files[HS_SETTINGS_MAX_FILES];
    hs_buf             scratch;
    /* The last request's raw settings (see raw_settings) and the entry
     * they resolved to. Set together by the request that resolved them;
     * every request that does not reuse them clears them first, so an
     * entry re-parsed since is never reached through them. */
    hs_buf             raw;
    struct conf_entry *raw_entry;
    unsigned long      gen;          /* source of conf_file generations */
};

hs_settings *hs_settings_new(const char *conf_dir)
{
    hs_settings *s = calloc(1, sizeof(*s));
    if (s == NULL) return NULL;
    /* Kept only when conf_dir/HS_SETTINGS_FILE fits in a path. */
    if (conf_dir != NULL && strlen(conf_dir) + sizeof("/" HS_SETTINGS_FILE) <= sizeof(s->conf_dir))
        strcpy(s->conf_dir, conf_dir);
    return s;
}

void hs_settings_free(hs_settings *s)
{
    size_t i;
    if (s == NULL) return;
    for (i = 0; i < HS_SETTINGS_MAX_CONFIGS; i++) {
        hs_buf_free(&s->confs[i].key);
        free(s->confs[i].all);
        hs_conf_free(&s->confs[i].cfg);
    }
    for (i = 0; i < HS_SETTINGS_MAX_FILES; i++) hs_buf_free(&s->files[i].pairs);
    hs_buf_free(&s->scratch);
    hs_buf_free(&s->raw);
    free(s);
}

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
static struct conf_file *load_conf_file(hs_settings *s, const char *path, time_t now)
{
    struct conf_file *f = NULL;
    struct stat st;
    hs_buf text = HS_BUF_INIT;
    size_t i;
    int rc;

    for (i = 0; i < HS_SETTINGS_MAX_FILES; i++)
        if (s->files[i].used && strcmp(s->files[i].path, path) == 0) {
            f = &s->files[i];
            break;
        }
    if (f != NULL && f->checked == now) return f;
    if (f == NULL) {
        /* Take a free slot, else the one checked longest ago. */
        f = &s->files[0];
        for (i = 0; i < HS_SETTINGS_MAX_FILES; i++) {
            if (!s->files[i].used) { f = &s->files[i]; break; }
            if (s->files[i].checked < f->checked) f = &s->files[i];
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
    f->gen = ++s->gen;
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
 * Everything a request's settings are resolved from, raw: the flags they
 * are parsed with, the configuration file (which one, and which reading of it) and the
 * HOOKSPOOL_ entries of the parameters and of the environment, in order.
 * Equal raw settings resolve to equal values, so a request whose raw
 * settings are the last request's skips the ~25 lookups. Written into
 * out; 0, or -1 when they were too many to index (then no shortcut).
 */
static int raw_settings(const struct chain *c, unsigned flags, hs_buf *out)
{
    size_t i;
    uintptr_t fp = (uintptr_t)c->file;
    unsigned long gen = c->file != NULL ? c->file->gen : 0;

    if (c->p_all || c->e_all) return -1;
    hs_buf_reset(out);
    hs_buf_append(out, &flags, sizeof(flags));
    hs_buf_append(out, &fp, sizeof(fp));
    hs_buf_append(out, &gen, sizeof(gen));
    for (i = 0; i < c->np; i++) hs_buf_append(out, c->pv[i], strlen(c->pv[i]) + 1);
    hs_buf_putc(out, '\001');   /* no entry starts with it: ends the parameters */
    for (i = 0; i < c->ne; i++) hs_buf_append(out, c->ev[i], strlen(c->ev[i]) + 1);
    return out->oom ? -1 : 0;
}

/* s->raw (this request's raw settings, when they could be indexed)
 * resolved to e. */
static void remember_raw(hs_settings *s, struct conf_entry *e)
{
    if (s->raw.len != 0) s->raw_entry = e;
}

const hs_config *hs_settings_config(hs_settings *s, char *const *params, unsigned flags,
                                    time_t now, int *fresh, char *err, size_t errlen)
{
    struct chain ch;
    const struct conf_file *file = NULL;
    struct conf_entry *e, *victim;
    const char *cpath;
    char path[PATH_MAX + sizeof("/" HS_SETTINGS_FILE)];
    hs_buf *key = &s->scratch;
    size_t i;
    int raw_ok;

    if (fresh != NULL) *fresh = 0;
    cpath = hs_param(params, "HOOKSPOOL_CONFIG");
    if (cpath == NULL) cpath = getenv("HOOKSPOOL_CONFIG");
    if (cpath != NULL && *cpath != '\0') {
        file = load_conf_file(s, cpath, now);
        if (file->missing) {
            snprintf(err, errlen, "HOOKSPOOL_CONFIG: %.300s does not exist", cpath);
            return NULL;
        }
    } else if (s->conf_dir[0] != '\0') {
        /* Fits path, and a path: hs_settings_new kept conf_dir only if so. */
        snprintf(path, sizeof(path), "%s/" HS_SETTINGS_FILE, s->conf_dir);
        file = load_conf_file(s, path, now);
        if (file->missing) file = NULL;
    }
    if (file != NULL && file->error[0] != '\0') {
        snprintf(err, errlen, "configuration file %.480s", file->error);
        return NULL;
    }
    chain_init(&ch, params, file);

    /* The same raw settings as the last request: the same configuration. */
    raw_ok = raw_settings(&ch, flags, key) == 0;
    if (raw_ok && s->raw_entry != NULL && key->len == s->raw.len &&
        memcmp(key->p, s->raw.p, key->len) == 0) {
        s->raw_entry->used = ++s->clock;
        return &s->raw_entry->cfg;
    }
    /* Otherwise keep these raw settings (none when they could not be
     * indexed) for the entry they resolve to below: the buffers trade
     * places, and key is rebuilt next. */
    s->raw_entry = NULL;
    if (raw_ok) {
        hs_buf t = s->raw;
        s->raw = *key;
        *key = t;
    } else {
        hs_buf_reset(&s->raw);
    }

    /* The canonical key: the flags, then every setting's resolved value. */
    hs_buf_reset(key);
    hs_buf_append(key, &flags, sizeof(flags));
    for (i = 0; hs_conf_names[i] != NULL; i++) {
        const char *v = chain_lookup(&ch, hs_conf_names[i]);
        if (v == NULL) { hs_buf_putc(key, '\001'); continue; }
        hs_buf_putc(key, '=');
        hs_buf_append(key, v, strlen(v) + 1);
    }
    if (key->oom) { snprintf(err, errlen, "out of memory"); return NULL; }

    victim = &s->confs[0];
    for (i = 0; i < HS_SETTINGS_MAX_CONFIGS; i++) {
        e = &s->confs[i];
        if (e->key.len == key->len && e->key.len > 0 &&
            memcmp(e->key.p, key->p, key->len) == 0) {
            e->used = ++s->clock;
            remember_raw(s, e);
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
    hs_conf_free(&e->cfg);   /* the public keys of the configuration it held */
    if (hs_conf_parse_flags(chain_lookup, &ch, flags, &e->cfg, err, errlen) != 0) return NULL;
    if (hs_buf_append(&e->key, key->p, key->len) != 0) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->used = ++s->clock;
    remember_raw(s, e);
    if (fresh != NULL) *fresh = 1;
    return &e->cfg;
}

static struct conf_entry *entry_of(hs_settings *s, const hs_config *cfg)
{
    size_t i;
    for (i = 0; i < HS_SETTINGS_MAX_CONFIGS; i++)
        if (&s->confs[i].cfg == cfg) return &s->confs[i];
    return NULL;
}

int hs_settings_secrets(hs_settings *s, const hs_config *cfg, time_t now,
                        const hs_secret **out, char *err, size_t errlen)
{
    struct conf_entry *e = entry_of(s, cfg);
    hs_secret *all;
    struct stat st;
    int n;

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
            n = hs_settings_read_secrets(&cfg->scheme, cfg->secret_file, all + cfg->nsecrets,
                                         HS_CONF_MAX_SECRETS, &st, e->sf_error,
                                         sizeof(e->sf_error));
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

int hs_settings_read_secrets(const hs_scheme *sc, const char *path, hs_secret *out,
                             size_t max, struct stat *st, char *err, size_t errlen)
{
    hs_buf text = HS_BUF_INIT;
    struct stat own;
    char perr[256];
    int rc, n = -1;

    rc = read_small(path, HS_CONF_MAX_FILE, &text, st != NULL ? st : &own);
    if (rc != 0)
        snprintf(err, errlen, "HOOKSPOOL_SECRET_FILE: cannot read %.300s: %s", path,
                 rc == -EFBIG ? "larger than 64 KiB" : strerror(-rc));
    else if ((n = hs_conf_secret_file_parse(sc, text.p ? text.p : "", text.len,
                                            "HOOKSPOOL_SECRET_FILE", out, max,
                                            perr, sizeof(perr))) < 0)
        snprintf(err, errlen, "HOOKSPOOL_SECRET_FILE: %.200s: %.200s", path, perr);
    /* Wipe the file's text: it held secrets. */
    if (text.p) OPENSSL_cleanse(text.p, text.cap);
    hs_buf_free(&text);
    return n;
}
