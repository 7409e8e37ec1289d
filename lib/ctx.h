/*
 * ctx.h - what one process keeps between requests, in one place:
 * parsed configurations (one per distinct set of values), the
 * configuration-file and secret-file caches, open spool handles and the
 * log limiter. Nothing else in lib/ keeps state across requests.
 *
 * Settings are looked up, first match wins, in the request's parameters
 * (FastCGI params / CGI environment), the process environment, then the
 * configuration file: HOOKSPOOL_CONFIG, else hookspool.conf in the
 * program's own directory if it exists.
 */
#ifndef HS_CTX_H
#define HS_CTX_H

#include <stddef.h>
#include <time.h>
#include "config.h"
#include "log.h"
#include "spool.h"
#include "store.h"
#include "counters.h"

#define HS_CTX_MAX_CONFIGS 8   /* distinct configurations kept parsed */
#define HS_CTX_MAX_FILES   4   /* configuration files kept */
#define HS_CTX_MAX_SPOOLS  4   /* spool handles kept open */
#define HS_CTX_ERR_MAX     512
#define HS_CTX_CONF_FILE   "hookspool.conf"   /* looked for in conf_dir */

typedef struct hs_ctx hs_ctx;

/* conf_dir: where HS_CTX_CONF_FILE is looked for (the program's
 * directory), or NULL for none; a directory too long for the file's
 * path (PATH_MAX) counts as none. log_fd: where log lines go (2). The
 * context has its own log limiter and flusher. */
hs_ctx *hs_ctx_new(const char *conf_dir, int log_fd);
/* A context for one thread of several: the log limiter and the flusher
 * are the process', shared (they must outlive the context). Everything
 * else (caches, descriptors, the SQLite connection) is the thread's own,
 * so no other lock is needed. */
hs_ctx *hs_ctx_new_shared(const char *conf_dir, hs_log *log, hs_flusher *flusher);
void    hs_ctx_free(hs_ctx *ctx);
hs_log *hs_ctx_log(hs_ctx *ctx);

/*
 * The configuration for a request whose parameters are params (a
 * NULL-terminated "NAME=value" array, or NULL). Parsed once per distinct
 * set of values and cached; the file is re-checked at most once a second.
 * Returns a pointer owned by ctx, valid until the next call, or NULL
 * with a one-line message in err naming the setting at fault.
 */
const hs_config *hs_ctx_config(hs_ctx *ctx, char *const *params, time_t now,
                               char *err, size_t errlen);

/*
 * Every accepted secret of cfg (which must come from hs_ctx_config on
 * this ctx): HOOKSPOOL_SECRET, _OLD, then the lines of
 * HOOKSPOOL_SECRET_FILE, which is re-read when it changes (checked at
 * most once a second). Returns the count and sets *out (owned by ctx),
 * or -1 with err set (unreadable or empty secret file).
 */
int hs_ctx_secrets(hs_ctx *ctx, const hs_config *cfg, time_t now,
                   const hs_secret **out, char *err, size_t errlen);

/*
 * An open handle on cfg's spool, cached per path and reopened if the
 * directory was replaced. With create, missing directories are made.
 * Returns 0 or a negative errno (-ENOENT: no spool yet, without create).
 */
int hs_ctx_spool(hs_ctx *ctx, const hs_config *cfg, int create, hs_spool **out);

/*
 * The dedup store of cfg's spool (SPOOL/state.db), opened on first use
 * and kept with the spool handle; call after hs_ctx_spool(create=1).
 * Without create, a spool that has no store yet is -ENOENT and nothing
 * is created. Returns 0 or a negative errno.
 */
int hs_ctx_store(hs_ctx *ctx, const hs_config *cfg, int create, hs_store **out);

/*
 * The shared counters of cfg's spool (SPOOL/counters), opened on first
 * use with the spool handle (create: the spool and the file are created
 * if missing). *out is NULL when they cannot be had: counting is then a
 * no-op (hs_counters_add accepts NULL) and never fails a request; the
 * reason is logged once per process.
 */
void hs_ctx_counters(hs_ctx *ctx, const hs_config *cfg, int create, time_t now,
                     hs_counters **out);

/* Spool options of cfg. */
hs_spool_opts hs_ctx_spool_opts(const hs_config *cfg);

/* Value of NAME in a NULL-terminated "NAME=value" array, or NULL. */
const char *hs_param(char *const *params, const char *name);

#endif
