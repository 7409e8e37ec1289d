/*
 * ctx.h - what one process (or one of its threads) keeps between
 * requests, in one place: its configurations (settings.h: where
 * settings come from, parsed once per distinct set of values), open
 * spool handles with their store and counters, the log limiter and the
 * flusher. Nothing else in lib/ keeps state across requests.
 */
#ifndef HS_CTX_H
#define HS_CTX_H

#include <stddef.h>
#include <time.h>
#include "config.h"
#include "log.h"
#include "settings.h"
#include "spool.h"
#include "store.h"
#include "counters.h"

#define HS_CTX_MAX_CONFIGS HS_SETTINGS_MAX_CONFIGS
#define HS_CTX_MAX_SPOOLS  4   /* spool handles kept open */
#define HS_CTX_ERR_MAX     HS_SETTINGS_ERR_MAX   /* room for any message */

typedef struct hs_ctx hs_ctx;

/* conf_dir: where hookspool.conf is looked for (the program's
 * directory), or NULL for none (hs_settings_new). log_fd: where log lines go (2). The
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
 * NULL-terminated "NAME=value" array, or NULL): hs_settings_config with
 * no flags, counted as one request. The first time this thread parses a
 * configuration, a spool or secret file inside the request's
 * DOCUMENT_ROOT is logged (once per process). Returns a pointer owned by
 * ctx, valid until the next call, or NULL with a one-line message in err
 * naming the setting at fault.
 */
const hs_config *hs_ctx_config(hs_ctx *ctx, char *const *params, time_t now,
                               char *err, size_t errlen);

/*
 * Every accepted secret of cfg (which must come from hs_ctx_config on
 * this ctx): hs_settings_secrets. Returns the count and sets *out (owned
 * by ctx), or -1 with err set (unreadable or empty secret file).
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
 * What this process read of the dedup tail of cfg's spool (dedup.h);
 * call after hs_ctx_spool. With a recorder, the tail the process'
 * workers share (hs_recorder_tail: the recorder's, only borrowed here);
 * otherwise, or when the recorder has none to give, one kept with the
 * spool handle (and dropped with it). NULL when out of memory or there
 * is no handle: the append then reads the tail itself.
 */
typedef struct hs_dedup_tail hs_dedup_tail;
hs_dedup_tail *hs_ctx_dedup_tail(hs_ctx *ctx, const hs_config *cfg);

/*
 * Between requests, after the answer is out and outside every spool
 * lock: have a long dedup tail recorded in its store (offered to the
 * recorder when the context has one, else hs_dedup_idle here), then
 * checkpoint each open store whose WAL is long (store.h, "Durability
 * order"), so neither a request nor a writer waits for them. A failure
 * is left to the next call (the tail or the WAL grows).
 */
void hs_ctx_idle(hs_ctx *ctx);

/*
 * Between requests, outside every spool lock, by whoever owns ctx at the
 * time (FastCGI: the worker when it finds no request waiting, and the
 * signal thread every PARK_SECONDS for each worker not serving one): let
 * go of what the context keeps only to make the next request cheaper
 * (each spool's segment descriptor, hs_spool_idle), so that an idle
 * process pins no segment a consumer has deleted.
 */
void hs_ctx_park(hs_ctx *ctx);

/* The process' recorder (recorder.h; NULL: none), which must outlive
 * ctx (it owns the shared tails ctx borrows), and how many workers offer
 * it their tails (hs_dedup_tail_set_workers, for a tail of ctx's own). */
typedef struct hs_recorder hs_recorder;
void hs_ctx_set_recorder(hs_ctx *ctx, hs_recorder *r, int workers);

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

#endif
