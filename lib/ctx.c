#include "ctx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "docroot.h"
#include "recorder.h"

struct spool_entry {
    char      path[PATH_MAX];
    mode_t    umask;        /* the configuration's that opened sp */
    hs_spool *sp;
    unsigned long checked;  /* ctx->request when last found valid */
    hs_store *store;    /* opened on first use */
    hs_dedup_tail *tail;  /* what this process read of the dedup tail */
    int       tail_shared;  /* tail is the recorder's (hs_recorder_tail) */
    hs_counters *cnt;   /* opened on first use */
    time_t    cnt_checked;  /* when cnt was last found to be the file */
};

struct hs_ctx {
    hs_settings       *settings;   /* the configurations (settings.h) */
    hs_log            *log;        /* own_log or the process' */
    hs_log             own_log;
    int                owns_log;
    hs_flusher        *flusher;    /* own or the process' */
    int                owns_flusher;
    unsigned long      request;      /* hs_ctx_config calls: one per request */
    int                cnt_warned;   /* an unusable counters file was logged */
    struct spool_entry spools[HS_CTX_MAX_SPOOLS];
    hs_recorder       *recorder;   /* the process' (FastCGI), or NULL */
    int                workers;    /* how many offer it their tails */
};

hs_ctx *hs_ctx_new_shared(const char *conf_dir, hs_log *log, hs_flusher *flusher)
{
    hs_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) return NULL;
    if ((ctx->settings = hs_settings_new(conf_dir)) == NULL) {
        free(ctx);
        return NULL;
    }
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

void hs_ctx_set_recorder(hs_ctx *ctx, hs_recorder *r, int workers)
{
    ctx->recorder = r;
    ctx->workers = workers;
}

void hs_ctx_idle(hs_ctx *ctx)
{
    int64_t now = (int64_t)time(NULL);
    size_t i;
    for (i = 0; i < HS_CTX_MAX_SPOOLS; i++) {
        struct spool_entry *e = &ctx->spools[i];
        if (ctx->recorder == NULL || e->tail == NULL || e->store == NULL ||
            hs_recorder_offer(ctx->recorder, e->store, e->path, e->umask, e->tail) < 0)
            (void)hs_dedup_idle(e->store, e->tail, now);
        (void)hs_store_checkpoint_if_due(e->store);
    }
}

void hs_ctx_park(hs_ctx *ctx)
{
    size_t i;
    for (i = 0; i < HS_CTX_MAX_SPOOLS; i++) hs_spool_idle(ctx->spools[i].sp);
}

void hs_ctx_free(hs_ctx *ctx)
{
    size_t i;
    if (ctx == NULL) return;
    hs_log_flush(ctx->log);
    hs_settings_free(ctx->settings);
    for (i = 0; i < HS_CTX_MAX_SPOOLS; i++) {
        hs_store_close(ctx->spools[i].store);
        if (!ctx->spools[i].tail_shared) hs_dedup_tail_free(ctx->spools[i].tail);
        hs_counters_close(ctx->spools[i].cnt);
        hs_spool_close(ctx->spools[i].sp);
    }
    if (ctx->owns_log) hs_log_destroy(&ctx->own_log);
    if (ctx->owns_flusher) hs_flusher_free(ctx->flusher);
    free(ctx);
}

hs_log *hs_ctx_log(hs_ctx *ctx) { return ctx->log; }

/* A spool or secret file that the web server would serve to anyone
 * (docroot.h) is worth a line in the error log, once per process. */
struct docroot_warn {
    hs_log     *log;
    const char *docroot;
};

static void warn_in_docroot(void *arg, const char *setting, const char *path,
                            const char *what)
{
    const struct docroot_warn *w = arg;
    /* A key holds a whole path: a cut key could stand for two files.
     * setting is HOOKSPOOL_SPOOL or HOOKSPOOL_SECRET_FILE, path at most
     * PATH_MAX, so it fits; were it cut, the warning is still logged,
     * only not limited to once. */
    char key[sizeof("docroot::HOOKSPOOL_SECRET_FILE") + PATH_MAX];

    if (snprintf(key, sizeof(key), "docroot:%s:%s", setting, path) >= (int)sizeof(key)) {
        hs_logf(w->log, time(NULL), "warning: %s %s lies inside DOCUMENT_ROOT %s: anyone could "
                "download %s; move it outside", setting, path, w->docroot, what);
        return;
    }
    hs_log_once(w->log, key, "warning: %s %s lies inside DOCUMENT_ROOT %s: anyone could "
                "download %s; move it outside", setting, path, w->docroot, what);
}

const hs_config *hs_ctx_config(hs_ctx *ctx, char *const *params, time_t now,
                               char *err, size_t errlen)
{
    const hs_config *cfg;
    int fresh;

    ctx->request++;
    cfg = hs_settings_config(ctx->settings, params, 0, now, &fresh, err, errlen);
    /* Warned when first parsed in this thread; hs_log_once keeps it to
     * once per process. */
    if (cfg != NULL && fresh) {
        struct docroot_warn w = { ctx->log, hs_param(params, "DOCUMENT_ROOT") };
        hs_docroot_exposed(cfg, w.docroot, warn_in_docroot, &w);
    }
    return cfg;
}

int hs_ctx_secrets(hs_ctx *ctx, const hs_config *cfg, time_t now,
                   const hs_secret **out, char *err, size_t errlen)
{
    return hs_settings_secrets(ctx->settings, cfg, now, out, err, errlen);
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
    if (!e->tail_shared) hs_dedup_tail_free(e->tail);
    e->tail = NULL;
    e->tail_shared = 0;
    hs_counters_close(e->cnt);
    e->cnt = NULL;
    hs_spool_close(e->sp);
    e->sp = NULL;
    rc = hs_spool_open(cfg->spool, &o, create, &e->sp);
    if (rc != 0) return rc;
    hs_spool_set_flusher(e->sp, ctx->flusher);
    snprintf(e->path, sizeof(e->path), "%s", cfg->spool);
    e->umask = cfg->umask;
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

hs_dedup_tail *hs_ctx_dedup_tail(hs_ctx *ctx, const hs_config *cfg)
{
    size_t i;
    for (i = 0; i < HS_CTX_MAX_SPOOLS; i++) {
        struct spool_entry *e = &ctx->spools[i];
        if (e->sp == NULL || strcmp(e->path, cfg->spool) != 0) continue;
        /* The process' workers share one tail for the spool
         * (hs_recorder_tail); failing that, and without a recorder (the
         * worker then records after its own answers), one of its own. */
        if (e->tail == NULL && ctx->recorder != NULL &&
            (e->tail = hs_recorder_tail(ctx->recorder, e->path)) != NULL)
            e->tail_shared = 1;
        if (e->tail == NULL && (e->tail = hs_dedup_tail_new()) != NULL)
            hs_dedup_tail_set_workers(e->tail, ctx->recorder != NULL ? ctx->workers : 0);
        return e->tail;
    }
    return NULL;
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
