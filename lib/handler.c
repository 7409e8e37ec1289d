#include "handler.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "codec.h"
#include "batch.h"
#include "counters.h"
#include "dedup.h"
#include "form.h"
#include "handshake.h"
#include "json.h"
#include "crypto.h"
#include "sig.h"
#include "spool.h"
#include "status.h"


/* The one table that maps outcomes (reason.h, which also names them)
 * to answers. */
static const struct answer {
    int         status;
    int         retry;     /* send Retry-After: the sender should retry */
} answers[HS_R_COUNT] = {
    [HS_R_OK]                = { 200, 0 },
    [HS_R_BAD_METHOD]        = { 405, 0 },
    [HS_R_UNAUTHORIZED]      = { 401, 0 },
    [HS_R_MISSING_SIGNATURE] = { 401, 0 },
    [HS_R_BAD_SIGNATURE]     = { 401, 0 },
    [HS_R_EXPIRED_TIMESTAMP] = { 401, 0 },
    [HS_R_BAD_JSON]          = { 400, 0 },
    [HS_R_TOO_LARGE]         = { 413, 0 },
    [HS_R_SPOOL_FULL]        = { 503, 1 },
    [HS_R_SPOOL_UNAVAILABLE] = { 503, 1 },
    [HS_R_CONFIG_ERROR]      = { 500, 0 },
    [HS_R_INTERNAL]          = { 503, 1 },
    [HS_R_BAD_HANDSHAKE]     = { 400, 0 },
    [HS_R_HANDSHAKE_DENIED]  = { 401, 0 },
    [HS_R_ADDRESS_REFUSED]   = { 403, 0 },
    [HS_R_CLIENT_CERT_REFUSED] = { 403, 0 },
};

/* A spool errno as an answer: a full disk or quota is "full", anything
 * else (EACCES, EROFS, EIO, EMFILE, a lock timeout, ...) "unavailable";
 * both are 503 so the sender retries. */
static hs_reason spool_reason(int neg_errno)
{
    switch (-neg_errno) {
    case ENOSPC:
    case EDQUOT:
        return HS_R_SPOOL_FULL;
    case ENOMEM:
        return HS_R_INTERNAL;
    default:
        return HS_R_SPOOL_UNAVAILABLE;
    }
}

void hs_response_init(hs_response *r)
{
    r->status = 500;
    r->content_type = "application/json";
    hs_buf_init(&r->head);
    hs_buf_init(&r->body);
}

void hs_response_free(hs_response *r)
{
    hs_buf_free(&r->head);
    hs_buf_free(&r->body);
}

/* Look a request header up by its HTTP name in the CGI variables. */
static const char *header_lookup(void *arg, const char *name)
{
    char var[HS_CONF_MAX_ITEM + sizeof("HTTP_")];  /* a configured name fits */
    size_t i, n = strlen(name);

    if (n > sizeof(var) - sizeof("HTTP_")) return NULL;
    if (strcasecmp(name, "Content-Type") == 0) return hs_param(arg, "CONTENT_TYPE");
    if (strcasecmp(name, "Content-Length") == 0) return hs_param(arg, "CONTENT_LENGTH");
    memcpy(var, "HTTP_", 5);
    for (i = 0; i < n; i++) {
        char c = name[i];
        var[5 + i] = c == '-' ? '_' : (char)toupper((unsigned char)c);
    }
    var[5 + n] = '\0';
    return hs_param(arg, var);
}

static const char *remote(const hs_request *req)
{
    const char *a = hs_param(req->params, "REMOTE_ADDR");
    return a ? a : "-";
}

/* Fill resp with a JSON error answer for reason r. */
static void answer_error(const hs_request *req, hs_response *resp, hs_reason r)
{
    const char *m = hs_param(req->params, "REQUEST_METHOD");
    resp->status = answers[r].status;
    resp->content_type = "application/json";
    hs_buf_reset(&resp->body);
    if (answers[r].retry) hs_buf_printf(&resp->head, "Retry-After: %d\r\n", HS_RETRY_AFTER_S);
    if (r == HS_R_BAD_METHOD) hs_buf_puts(&resp->head, "Allow: POST, GET, HEAD\r\n");
    if (r == HS_R_UNAUTHORIZED) hs_buf_puts(&resp->head, "WWW-Authenticate: Bearer\r\n");
    if (m != NULL && strcmp(m, "HEAD") == 0) return;
    hs_buf_printf(&resp->body, "{\"ok\":false,\"error\":\"%s\"}\n", hs_reason_name(r));
}

/* Log one rejection: endpoint, status, reason, client; never a secret
 * or a MAC. `detail` may name a path or a setting. Rate-limited by the
 * limiter in the spool's counters c, shared by every process (a plain
 * CGI is a process per request); by the process's own without them. */
static void log_reject(hs_ctx *ctx, hs_counters *c, const hs_config *cfg,
                       const hs_request *req, hs_reason r, const char *detail)
{
    hs_log_shared sh;
    hs_logf_shared(hs_ctx_log(ctx), hs_counters_log_shared(c, &sh) == 0 ? &sh : NULL,
                   req->now, "endpoint=%s status=%d reason=%s remote=%s%s%s",
                   cfg ? cfg->endpoint : "-", answers[r].status, hs_reason_name(r),
                   remote(req), detail ? ": " : "", detail ? detail : "");
}

/* Say when a writer cut back a partial line some killed process left. */
static void log_repaired(hs_ctx *ctx, const hs_config *cfg, const hs_request *req)
{
    hs_spool *sp;
    uint64_t cut;
    if (hs_ctx_spool(ctx, cfg, 0, &sp) != 0) return;
    cut = hs_spool_take_repaired(sp);
    if (cut > 0)
        hs_logf(hs_ctx_log(ctx), req->now, "endpoint=%s spool=%s: cut back %llu bytes of a "
                "partial line left by an interrupted writer", cfg->endpoint, cfg->spool,
                (unsigned long long)cut);
}

/* The spool's shared counters for this request (NULL: none). A POST
 * may create the spool to count itself; any other request counts only
 * in a spool that exists. A GET or HEAD is counted only when it is
 * refused (`unauthorized`): a status it answers counts nothing. */
static hs_counters *counters_of(hs_ctx *ctx, const hs_config *cfg, const hs_request *req)
{
    const char *m = hs_param(req->params, "REQUEST_METHOD");
    hs_counters *c = NULL;

    if (cfg != NULL && m != NULL)
        hs_ctx_counters(ctx, cfg, strcmp(m, "POST") == 0, req->now, &c);
    return c;
}

/* Count one outcome in the spool's shared counters: no fsync, no lock. */
static void count(hs_ctx *ctx, const hs_config *cfg, const hs_request *req, unsigned slot)
{
    hs_counters_add(counters_of(ctx, cfg, req), slot, 1);
}

static void reject(hs_ctx *ctx, const hs_config *cfg, const hs_request *req,
                   hs_response *resp, hs_reason r, const char *detail)
{
    hs_counters *c = counters_of(ctx, cfg, req);
    log_reject(ctx, c, cfg, req, r, detail);
    answer_error(req, resp, r);
    hs_counters_add(c, HS_CNT_REJECTED(r), 1);
}

/* Where a line goes and what it says beyond its event. */
typedef struct line_meta {
    const char *suffix;      /* the URL suffix ("" : none) */
    long        index;       /* position in the batch, -1: not a batch */
    size_t      count;       /* elements in the batch */
    const char *body_kind;   /* "form" or "form:FIELD" for a form body,
                              * NULL for JSON (SPEC's line, unchanged) */
} line_meta;

/*
 * Append the event line to b from the minified event ev[0..evlen), the
 * key (key == NULL: none) and m. The id and received_at are placeholders
 * of fixed width that the spool stamps under its lock; *id_off and
 * *ts_off are their offsets from the line's start. 0 or -1 (memory).
 */
static int build_line(hs_buf *b, const hs_config *cfg, const hs_request *req,
                      const char *ev, size_t evlen, const hs_buf *key,
                      const line_meta *m, size_t *id_off, size_t *ts_off)
{
    size_t i, start = b->len;
    int first = 1;

    hs_buf_puts(b, "{\"id\":\"");
    *id_off = b->len - start;
    hs_buf_fill(b, ' ', HS_ID_LEN);
    hs_buf_puts(b, "\",\"received_at\":\"");
    *ts_off = b->len - start;
    hs_buf_fill(b, ' ', HS_TS_LEN);
    hs_buf_puts(b, "\",\"endpoint\":");
    hs_buf_json_str(b, cfg->endpoint, strlen(cfg->endpoint));
    if (m->suffix[0] != '\0') {
        hs_buf_puts(b, ",\"path\":");
        hs_buf_json_str(b, m->suffix, strlen(m->suffix));
    }
    if (key != NULL) {
        hs_buf_puts(b, ",\"key\":");
        hs_buf_append(b, key->p, key->len);
    }
    if (m->index >= 0)
        hs_buf_printf(b, ",\"batch\":{\"index\":%ld,\"count\":%zu}", m->index, m->count);
    hs_buf_puts(b, ",\"headers\":{");
    for (i = 0; i < cfg->nkeep; i++) {
        const char *v = header_lookup((void *)req->params, cfg->keep[i]);
        if (v == NULL) continue;
        if (!first) hs_buf_putc(b, ',');
        first = 0;
        hs_buf_json_str(b, cfg->keep[i], strlen(cfg->keep[i]));
        hs_buf_putc(b, ':');
        hs_buf_json_str(b, v, strlen(v));
    }
    hs_buf_putc(b, '}');
    if (m->body_kind != NULL) {
        hs_buf_puts(b, ",\"body\":");
        hs_buf_json_str(b, m->body_kind, strlen(m->body_kind));
    }
    hs_buf_puts(b, ",\"event\":");
    hs_buf_append(b, ev, evlen);
    hs_buf_puts(b, "}\n");
    return b->oom ? -1 : 0;
}

/* A correctly signed body that is not JSON: answered 400, and kept as
 * sent in SPOOL/invalid/ (within HOOKSPOOL_INVALID_KEEP) for inspection. */
static void keep_invalid(hs_ctx *ctx, const hs_config *cfg, const hs_request *req)
{
    hs_spool_opts opts = hs_ctx_spool_opts(cfg);
    hs_spool *sp;
    int rc;

    if (cfg->invalid_keep <= 0) return;
    rc = hs_ctx_spool(ctx, cfg, 1, &sp);
    if (rc == 0) rc = hs_spool_keep_invalid(sp, &opts, req->body, req->body_len, cfg->invalid_keep);
    if (rc < 0)
        hs_logf(hs_ctx_log(ctx), req->now, "endpoint=%s spool=%s: invalid body not kept: %s",
                cfg->endpoint, cfg->spool, strerror(-rc));
}

/* The lines of one request, built before the spool is touched: one
 * per event (per element of a batch), back to back in buf. */
typedef struct event_set {
    hs_buf         buf;
    hs_spool_line *lines;
    hs_dedup_item *items;
    size_t         n, cap;
    int            batch;     /* the body was a batch: answer with ids */
    const char    *body_kind; /* line_meta's, for every line */
} event_set;

static void event_set_free(event_set *es)
{
    hs_buf_free(&es->buf);
    free(es->lines);
    free(es->items);
    memset(es, 0, sizeof(*es));
}

/* Add the line of event ev[0..len) (element index of a batch of count,
 * index -1: not a batch) with its key. 0 or -ENOMEM. */
static int add_event(event_set *es, const hs_config *cfg, const hs_request *req,
                     const char *ev, size_t len, long index, size_t count,
                     const char *suffix)
{
    hs_buf key = HS_BUF_INIT, ep = HS_BUF_INIT;
    line_meta m = { suffix, index, count, es->body_kind };
    hs_spool_line *l;
    hs_dedup_item *it;
    int has_key, rc = -ENOMEM;

    if (es->n == es->cap) {
        size_t cap = es->cap ? es->cap * 2 : 4;
        hs_spool_line *nl = realloc(es->lines, cap * sizeof(*nl));
        hs_dedup_item *ni;
        if (nl == NULL) return -ENOMEM;
        es->lines = nl;
        ni = realloc(es->items, cap * sizeof(*ni));
        if (ni == NULL) return -ENOMEM;
        es->items = ni;
        es->cap = cap;
    }
    l = &es->lines[es->n];
    it = &es->items[es->n];
    memset(l, 0, sizeof(*l));
    memset(it, 0, sizeof(*it));
    has_key = hs_dedup_key_at(cfg, ev, len, index, header_lookup, (void *)req->params, &key);
    if (has_key < 0) goto out;
    l->off = es->buf.len;
    if (build_line(&es->buf, cfg, req, ev, len, has_key ? &key : NULL, &m,
                   &l->id_off, &l->ts_off) != 0)
        goto out;
    l->len = es->buf.len - l->off;
    if (has_key) {
        hs_buf_json_str(&ep, cfg->endpoint, strlen(cfg->endpoint));
        if (ep.oom) goto out;
        if ((rc = hs_dedup_hash(ep.p, ep.len, key.p, key.len, it->hash)) != 0) goto out;
        it->has_key = 1;
    }
    es->n++;
    rc = 0;
out:
    hs_buf_free(&key);
    hs_buf_free(&ep);
    return rc;
}

/*
 * Append the lines of es, each with its key, in one write (duplicates
 * left out under the lock). Keyless or not, the append goes through the
 * dedup hooks whenever the spool has a store: the lines a stopped writer
 * left unindexed are indexed before this append or the seal it may cause
 * (issue 13 item 1). Returns 0 (stored: each line's id filled, or skip
 * set for a duplicate), HS_DEDUP_DUPLICATE (all were), or a negative
 * errno.
 */
static int store_events(hs_ctx *ctx, const hs_config *cfg, event_set *es, time_t now)
{
    hs_spool_opts opts = hs_ctx_spool_opts(cfg);
    hs_spool *sp;
    hs_dedup_op op;
    size_t i;
    int rc, keyed = 0;

    for (i = 0; i < es->n; i++) keyed |= es->items[i].has_key;
    if ((rc = hs_ctx_spool(ctx, cfg, 1, &sp)) != 0) return rc;
    memset(&op, 0, sizeof(op));
    op.spool = cfg->spool;
    op.umask = cfg->umask;
    op.now = (int64_t)now;
    op.ttl = cfg->dedup_seconds;
    /* A keyed event creates the store; a keyless one only uses it (the
     * pre hook looks again under the lock when there is none yet). */
    rc = hs_ctx_store(ctx, cfg, keyed, &op.store);
    if (rc == -ENOENT && !keyed) op.store = NULL;
    else if (rc != 0) return rc;
    op.tail = hs_ctx_dedup_tail(ctx, cfg);
    rc = hs_dedup_append_many(&op, sp, &opts, es->buf.p, es->buf.len, es->lines,
                              es->items, es->n);
    if (rc < 0 && op.recorded) {
        /* The flush failed after keyed lines were written: the sender
         * will retry events we did not acknowledge, so forget their keys
         * (the one way a key may appear twice, SPEC promise 5). */
        int frc = hs_dedup_forget(&op, sp, &opts);
        if (frc != 0)
            hs_logf(hs_ctx_log(ctx), now, "endpoint=%s spool=%s: cannot forget the keys "
                    "of unflushed events: %s", cfg->endpoint, cfg->spool, strerror(-frc));
    }
    return rc;
}

/*
 * The checks on where a request comes from, all that is configured: the
 * source address (HOOKSPOOL_ALLOW_FROM), then the client certificate the
 * web server verified. Returns 0 when they pass, else the reason with
 * *why the log's detail. Every POST and every handshake passes them (an
 * unsigned handshake too: the address list and mTLS restrict the whole
 * endpoint, not only its events).
 */
static hs_reason source_refused(const hs_config *cfg, const hs_request *req, const char **why)
{
    static const char *const mtls_why[] = {
        [HS_MTLS_NONE] = "no client certificate verified by the web server",
        [HS_MTLS_SUBJECT] = "client certificate subject is not HOOKSPOOL_MTLS_SUBJECT",
        [HS_MTLS_ISSUER] = "client certificate issuer is not HOOKSPOOL_MTLS_ISSUER",
    };
    hs_mtls_result m;

    if (cfg->nallow > 0 &&
        !hs_auth_addr_allowed(cfg->allow, cfg->nallow, hs_param(req->params, "REMOTE_ADDR"))) {
        *why = "not in HOOKSPOOL_ALLOW_FROM";
        return HS_R_ADDRESS_REFUSED;
    }
    if (!cfg->mtls) return 0;
    m = hs_auth_mtls(hs_param(req->params, "SSL_CLIENT_VERIFY"),
                     hs_param(req->params, "SSL_CLIENT_S_DN"),
                     hs_param(req->params, "SSL_CLIENT_I_DN"),
                     cfg->mtls_subject, cfg->mtls_issuer);
    if (m == HS_MTLS_OK) return 0;
    *why = mtls_why[m];
    return HS_R_CLIENT_CERT_REFUSED;
}

/* Which handshakes answer_handshake looks for. */
enum { HSK_BEFORE, HSK_AFTER };

/*
 * Answer req when it is a handshake of cfg's scheme (handshake.h):
 * HSK_BEFORE those the provider does not sign, HSK_AFTER (once a POST
 * verified) those it signs. Returns 1 when req was a handshake and resp
 * holds its answer or its refusal; 0 when it is not one. An answered
 * handshake is counted and logged once, never appended.
 */
static int answer_handshake(hs_ctx *ctx, const hs_config *cfg, const hs_request *req,
                            hs_response *resp, int when)
{
    const hs_secret *secrets = NULL;
    hs_hsk_input in;
    hs_hsk_answer out = { 0, NULL, &resp->head, &resp->body, NULL, 0 };
    hs_hsk_result r;
    hs_counters *c;
    hs_reason refused;
    const char *why = NULL;
    char err[HS_CTX_ERR_MAX];
    int n;

    if (cfg->scheme.handshake == HS_HSK_NONE) return 0;
    n = hs_ctx_secrets(ctx, cfg, req->now, &secrets, err, sizeof(err));
    in = (hs_hsk_input){ hs_param(req->params, "REQUEST_METHOD"),
                         hs_param(req->params, "QUERY_STRING"), header_lookup,
                         (void *)req->params, req->body, req->body_len,
                         n > 0 ? secrets : NULL, n > 0 ? (size_t)n : 0,
                         cfg->verify_token };
    r = when == HSK_BEFORE ? hs_handshake_before(&cfg->scheme, &in, &out)
                           : hs_handshake_after(&cfg->scheme, &in, &out);
    if (r != HS_HSK_NOT && when == HSK_BEFORE &&
        (refused = source_refused(cfg, req, &why)) != 0) {
        /* Not through authenticate() yet: refused like a POST would be,
         * without the handshake's own headers. */
        hs_buf_reset(&resp->head);
        reject(ctx, cfg, req, resp, refused, why);
        return 1;
    }
    switch (r) {
    case HS_HSK_NOT:
        return 0;
    case HS_HSK_DENIED:
        reject(ctx, cfg, req, resp, HS_R_HANDSHAKE_DENIED, cfg->verify_token[0] == '\0' &&
               cfg->scheme.handshake == HS_HSK_META ? "HOOKSPOOL_VERIFY_TOKEN is not set" : NULL);
        return 1;
    case HS_HSK_MALFORMED:
        reject(ctx, cfg, req, resp, HS_R_BAD_HANDSHAKE, "the challenge breaks its "
               "provider's rule (alphabet or length)");
        return 1;
    default:
        resp->status = out.status;
        resp->content_type = out.content_type;
        hs_logf(hs_ctx_log(ctx), req->now, "endpoint=%s status=%d handshake=%s remote=%s",
                cfg->endpoint, out.status, out.name ? out.name : "?", remote(req));
        hs_ctx_counters(ctx, cfg, when == HSK_AFTER || out.authenticated, req->now, &c);
        hs_counters_add(c, HS_CNT_HANDSHAKES, 1);
        return 1;
    }
}

/*
 * The lines of the minified body ev[0..len): one per element when the
 * configuration batches and the body is a batch (batch.h), else one.
 * 0, -ENOMEM, or -E2BIG (more than HS_BATCH_MAX elements).
 */
static int split_events(event_set *es, const hs_config *cfg, const hs_request *req,
                        const char *ev, size_t len, const char *suffix)
{
    const char *ptr = NULL, *arr, *el;
    size_t arrlen, ellen, pos = 0, count = 0;
    long i = 0;
    int rc;

    switch (cfg->batch) {
    case HS_BATCH_OFF:     return add_event(es, cfg, req, ev, len, -1, 0, suffix);
    case HS_BATCH_ARRAY:   ptr = NULL; break;
    case HS_BATCH_POINTER: ptr = cfg->batch_pointer; break;
    case HS_BATCH_PIX:     ptr = hs_batch_pix_pointer(suffix); break;
    }
    if (!hs_batch_find(ev, len, ptr, &arr, &arrlen))
        return add_event(es, cfg, req, ev, len, -1, 0, suffix);
    es->batch = 1;
    while (hs_batch_next(arr, arrlen, &pos, &el, &ellen))
        if (++count > HS_BATCH_MAX) return -E2BIG;
    pos = 0;
    while (hs_batch_next(arr, arrlen, &pos, &el, &ellen))
        if ((rc = add_event(es, cfg, req, el, ellen, i++, count, suffix)) != 0) return rc;
    return 0;
}

/*
 * Everything that authenticates a POST, all that is configured: the
 * source address, the client certificate the web server verified, then
 * the scheme's signature or token. 0, or -1 after answering.
 */
static int authenticate(hs_ctx *ctx, const hs_config *cfg, const hs_request *req,
                        hs_response *resp)
{
    const hs_secret *secrets;
    hs_sig_verdict v;
    hs_reason refused;
    const char *why = NULL;
    char err[HS_CTX_ERR_MAX], detail[HS_CTX_ERR_MAX + 64];
    int n;

    if ((refused = source_refused(cfg, req, &why)) != 0) {
        reject(ctx, cfg, req, resp, refused, why);
        return -1;
    }
    if (cfg->scheme.mac == HS_MAC_NONE) return 0;   /* config.c: one of the above is set */

    n = hs_ctx_secrets(ctx, cfg, req->now, &secrets, err, sizeof(err));
    if (n < 0) {
        reject(ctx, cfg, req, resp, HS_R_CONFIG_ERROR, err);
        return -1;
    }
    {
        hs_sig_input in = { header_lookup, (void *)req->params,
                            hs_param(req->params, "QUERY_STRING"), req->body, req->body_len,
                            cfg->pub, cfg->npub, cfg->public_url };
        v = hs_sig_verify_input(&cfg->scheme, secrets, (size_t)n, &in, req->now, cfg->tolerance);
    }
    switch (v.result) {
    case HS_SIG_OK:
        return 0;
    case HS_SIG_MISSING:
        reject(ctx, cfg, req, resp, HS_R_MISSING_SIGNATURE, NULL);
        return -1;
    case HS_SIG_EXPIRED:
        snprintf(detail, sizeof(detail), "timestamp outside HOOKSPOOL_TOLERANCE=%lld s "
                 "(check this host's clock)", cfg->tolerance);
        reject(ctx, cfg, req, resp, HS_R_EXPIRED_TIMESTAMP, detail);
        return -1;
    default:
        if (v.hint_index >= 0 && v.hint_index < n) {
            snprintf(detail, sizeof(detail), "the signature would match with %s read the "
                     "other way: %s", secrets[v.hint_index].source,
                     secrets[v.hint_index].alt_hint ? secrets[v.hint_index].alt_hint : "");
            reject(ctx, cfg, req, resp, HS_R_BAD_SIGNATURE, detail);
        } else {
            reject(ctx, cfg, req, resp, HS_R_BAD_SIGNATURE, NULL);
        }
        return -1;
    }
}

/* The 200 of a stored request: {"ok":true,"id":...} for one event; for a
 * batch, the ids of the lines written and how many were duplicates. */
static void answer_stored(hs_response *resp, const event_set *es, size_t dups)
{
    size_t i;
    int first = 1;

    resp->status = 200;
    if (!es->batch) {
        hs_buf_puts(&resp->body, "{\"ok\":true,\"id\":\"");
        hs_buf_puts(&resp->body, es->lines[0].id);
        hs_buf_puts(&resp->body, "\"}\n");
        return;
    }
    hs_buf_puts(&resp->body, "{\"ok\":true,\"ids\":[");
    for (i = 0; i < es->n; i++) {
        if (es->lines[i].skip) continue;
        hs_buf_printf(&resp->body, "%s\"%s\"", first ? "" : ",", es->lines[i].id);
        first = 0;
    }
    hs_buf_printf(&resp->body, "],\"duplicates\":%zu}\n", dups);
}

static void handle_post(hs_ctx *ctx, const hs_config *cfg, const hs_request *req,
                        hs_response *resp)
{
    hs_buf ev = HS_BUF_INIT;
    event_set es;
    char detail[HS_CTX_ERR_MAX + 64], suffix[HS_BATCH_MAX_SUFFIX + 1];
    char body_kind[HS_CONF_MAX_ITEM + 8] = "";
    size_t i, dups = 0, stored = 0;
    int rc;

    memset(&es, 0, sizeof(es));
    if (req->body_over || req->body_len > (unsigned long long)cfg->max_body) {
        snprintf(detail, sizeof(detail), "body over HOOKSPOOL_MAX_BODY=%lld", cfg->max_body);
        reject(ctx, cfg, req, resp, HS_R_TOO_LARGE, detail);
        return;
    }

    /* Authenticate before parsing anything of the body. */
    if (authenticate(ctx, cfg, req, resp) != 0) return;

    /* A signed handshake first: an empty one is not a probe. */
    if (answer_handshake(ctx, cfg, req, resp, HSK_AFTER)) return;

    /* A probe: a sender checking the URL with an empty POST (a PIX bank
     * will not register a URL that does not answer it 2xx). Only where
     * nothing signs the body: under an HMAC scheme an empty body is a
     * signed event, and not JSON. */
    if (req->body_len == 0 && cfg->scheme.mac != HS_MAC_HMAC) {
        count(ctx, cfg, req, HS_CNT_PROBES);
        resp->status = 200;
        hs_buf_puts(&resp->body, "{\"ok\":true,\"probe\":true}\n");
        return;
    }


    rc = hs_json_minify(req->body, req->body_len, &ev, NULL);
    if (rc != HS_JSON_OK && rc != HS_JSON_ENOMEM &&
        hs_form_content_type(header_lookup((void *)req->params, "Content-Type"))) {
        /* Not JSON, sent as a form: its fields (or the field holding
         * JSON) become the event. */
        hs_form_result fr;
        hs_buf_free(&ev);
        fr = hs_form_event(req->body, req->body_len, cfg->form_json, &ev);
        if (fr != HS_FORM_OK && fr != HS_FORM_ENOMEM) {
            snprintf(detail, sizeof(detail), "form body is invalid (%s)", hs_form_strerror(fr));
            reject(ctx, cfg, req, resp, HS_R_BAD_JSON, detail);
            keep_invalid(ctx, cfg, req);
            goto done;
        }
        rc = fr == HS_FORM_OK ? HS_JSON_OK : HS_JSON_ENOMEM;
        snprintf(body_kind, sizeof(body_kind), "form%s%.*s", cfg->form_json[0] ? ":" : "",
                 (int)(sizeof(body_kind) - 8), cfg->form_json);
        es.body_kind = body_kind;
    }
    if (rc == HS_JSON_ENOMEM) {
        reject(ctx, cfg, req, resp, HS_R_INTERNAL, "out of memory");
        goto done;
    }
    if (rc != HS_JSON_OK) {
        snprintf(detail, sizeof(detail), "body is not valid JSON (%s)", hs_json_strerror(rc));
        reject(ctx, cfg, req, resp, HS_R_BAD_JSON, detail);
        keep_invalid(ctx, cfg, req);
        goto done;
    }
    hs_batch_suffix(cfg->base_path, hs_param(req->params, "SCRIPT_NAME"),
                    hs_param(req->params, "PATH_INFO"), hs_param(req->params, "QUERY_STRING"),
                    suffix, sizeof(suffix));
    rc = split_events(&es, cfg, req, ev.p ? ev.p : "", ev.len, suffix);
    if (rc == -E2BIG) {
        snprintf(detail, sizeof(detail), "a batch of more than %d elements", HS_BATCH_MAX);
        reject(ctx, cfg, req, resp, HS_R_TOO_LARGE, detail);
        goto done;
    }
    if (rc != 0) {
        reject(ctx, cfg, req, resp, HS_R_INTERNAL, "out of memory");
        goto done;
    }
    hs_buf_free(&ev);   /* the lines hold it now: do not keep two copies */
    if (es.n == 0) {
        /* An empty batch: nothing to append, and nothing lost. */
        answer_stored(resp, &es, 0);
        goto done;
    }

    rc = store_events(ctx, cfg, &es, req->now);
    log_repaired(ctx, cfg, req);
    if (rc == HS_DEDUP_DUPLICATE) {
        for (i = 0; i < es.n; i++) es.lines[i].skip = 1;
        hs_counters_add(counters_of(ctx, cfg, req), HS_CNT_DUPLICATE, es.n);
        resp->status = 200;
        if (es.batch) answer_stored(resp, &es, es.n);
        else hs_buf_puts(&resp->body, "{\"ok\":true,\"duplicate\":true}\n");
        goto done;
    }
    if (rc != 0) {
        snprintf(detail, sizeof(detail), "spool %.300s: %s", cfg->spool, hs_spool_strerror(rc));
        reject(ctx, cfg, req, resp, spool_reason(rc), detail);
        goto done;
    }
    for (i = 0; i < es.n; i++) {
        if (es.lines[i].skip) dups++;
        else stored++;
    }
    answer_stored(resp, &es, dups);
    {
        hs_counters *c;
        struct timespec ts;
        hs_ctx_counters(ctx, cfg, 1, req->now, &c);
        hs_counters_add(c, HS_CNT_ACCEPTED, stored);
        if (dups > 0) hs_counters_add(c, HS_CNT_DUPLICATE, dups);
        if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
            hs_counters_set_last_accepted(c, (uint64_t)ts.tv_sec * 1000u +
                                             (uint64_t)ts.tv_nsec / 1000000u);
    }
done:
    hs_buf_free(&ev);
    event_set_free(&es);
}

#define BASIC_MAX 1024   /* bytes of a Basic credential decoded at most */

/* Is the status token right? Constant time in the token's bytes. Only
 * called when a token is configured. "Bearer <token>"; with basic (the
 * HTML page only, so a browser can open it) also HTTP Basic with the
 * token as the password and any user name. The JSON and Prometheus
 * forms stay Bearer only, as they always were. (Apache passes
 * Authorization only with CGIPassAuth.) */
static int status_authorized(const hs_config *cfg, const hs_request *req, int basic)
{
    const char *a = hs_param(req->params, "HTTP_AUTHORIZATION");
    unsigned char dec[BASIC_MAX];
    const char *colon;
    size_t n, len;
    int ok;

    if (a == NULL) return 0;
    if (strncasecmp(a, "Bearer ", 7) == 0) {
        a += 7;
        while (*a == ' ') a++;
        return hs_crypto_token_equal(a, strlen(a), cfg->status_token, strlen(cfg->status_token));
    }
    if (!basic || strncasecmp(a, "Basic ", 6) != 0) return 0;
    a += 6;
    while (*a == ' ') a++;
    n = strlen(a);
    if (n == 0 || n > BASIC_MAX / 3 * 4 - 4 ||
        hs_codec_b64_decode(a, n, dec, sizeof(dec), &len) != 0)
        return 0;
    colon = memchr(dec, ':', len);
    if (colon == NULL) return 0;
    colon++;
    ok = hs_crypto_token_equal(colon, len - (size_t)(colon - (const char *)dec),
                               cfg->status_token, strlen(cfg->status_token));
    explicit_bzero(dec, sizeof(dec));   /* it held the token */
    return ok;
}

/* The status form a query string asks for: format=prometheus or
 * format=html, else the JSON document. */
static hs_status_form wanted_form(const char *q)
{
    while (q != NULL && *q) {
        size_t len = strcspn(q, "&");
        if (len == 17 && strncmp(q, "format=prometheus", len) == 0) return HS_STATUS_PROMETHEUS;
        if (len == 11 && strncmp(q, "format=html", len) == 0) return HS_STATUS_HTML;
        q += len;
        if (*q == '&') q++;
    }
    return HS_STATUS_FULL;
}

/*
 * GET and HEAD (SPEC 5). Who sees what: with HOOKSPOOL_STATUS_TOKEN set,
 * the right Bearer token gets the whole document or Prometheus text and
 * anyone else 401. With none set, anyone gets only "status" and
 * "reasons" (the same 200/503), never the scheme, counters, times or
 * free space, which tell a stranger who pays this site, how often and
 * when; Prometheus, which is all figures, then answers 401.
 */
static void handle_status(hs_ctx *ctx, const hs_config *cfg, const hs_request *req,
                          hs_response *resp, int head)
{
    const hs_secret *secrets;
    char err[HS_CTX_ERR_MAX];
    hs_status_form form;
    int degraded = 0;

    form = wanted_form(hs_param(req->params, "QUERY_STRING"));
    if (!cfg->has_status_token) {
        if (form == HS_STATUS_PROMETHEUS || form == HS_STATUS_HTML) {
            reject(ctx, cfg, req, resp, HS_R_UNAUTHORIZED, form == HS_STATUS_HTML ?
                   "HTML status without HOOKSPOOL_STATUS_TOKEN set" :
                   "Prometheus status without HOOKSPOOL_STATUS_TOKEN set");
            return;
        }
        form = HS_STATUS_BRIEF;
    } else if (!status_authorized(cfg, req, form == HS_STATUS_HTML)) {
        reject(ctx, cfg, req, resp, HS_R_UNAUTHORIZED, "status without the right "
               "HOOKSPOOL_STATUS_TOKEN");
        /* A browser asks for the token on a Basic challenge alone:
         * Apache folds two WWW-Authenticate lines into one ("Bearer,
         * Basic ..."), which Chromium does not take. */
        if (form == HS_STATUS_HTML) {
            hs_buf_reset(&resp->head);
            hs_buf_puts(&resp->head, "Cache-Control: no-store\r\n"
                        "WWW-Authenticate: Basic realm=\"hookspool status\", "
                        "charset=\"UTF-8\"\r\n");
        }
        return;
    }
    /* An unreadable secret file fails every POST: the monitor must see
     * that as the configuration error it is, not as "ok". */
    if (hs_ctx_secrets(ctx, cfg, req->now, &secrets, err, sizeof(err)) < 0) {
        hs_logf(hs_ctx_log(ctx), req->now, "configuration error: %s", err);
        answer_error(req, resp, HS_R_CONFIG_ERROR);
        return;
    }
    /* Cached: a flood of GETs scans the spool's directories at most once
     * a second between all processes, however many segments wait. */
    if (hs_status_render(cfg, form, 1, req->now, &resp->body, &degraded) != 0) {
        answer_error(req, resp, HS_R_INTERNAL);
        return;
    }
    resp->status = degraded ? HS_STATUS_HTTP_DEGRADED : HS_STATUS_HTTP_OK;
    resp->content_type = form == HS_STATUS_PROMETHEUS ? HS_STATUS_CT_PROMETHEUS
                       : form == HS_STATUS_HTML ? HS_STATUS_CT_HTML : HS_STATUS_CT_JSON;
    if (form == HS_STATUS_HTML) {
        hs_buf_puts(&resp->head, "Content-Security-Policy: " HS_STATUS_HTML_CSP "\r\n"
                    "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n");
    }
    if (head) hs_buf_reset(&resp->body);
}

void hs_handle(hs_ctx *ctx, const hs_config *cfg, const char *cfg_err,
               const hs_request *req, hs_response *resp)
{
    const char *m = hs_param(req->params, "REQUEST_METHOD");

    hs_buf_reset(&resp->head);
    hs_buf_reset(&resp->body);
    resp->content_type = "application/json";
    hs_buf_puts(&resp->head, "Cache-Control: no-store\r\n");
    if (m == NULL) m = "";
    if (strcmp(m, "POST") != 0 && strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        reject(ctx, cfg, req, resp, HS_R_BAD_METHOD, NULL);
    } else if (cfg == NULL) {
        hs_logf(hs_ctx_log(ctx), req->now, "configuration error: %s",
                cfg_err ? cfg_err : "unknown");
        answer_error(req, resp, HS_R_CONFIG_ERROR);
    } else if (answer_handshake(ctx, cfg, req, resp, HSK_BEFORE)) {
        /* answered or refused: never appended, never the status */
    } else if (strcmp(m, "POST") == 0) {
        handle_post(ctx, cfg, req, resp);
    } else {
        handle_status(ctx, cfg, req, resp, strcmp(m, "HEAD") == 0);
    }
    if (resp->head.oom || resp->body.oom) {
        hs_buf_reset(&resp->head);
        hs_buf_reset(&resp->body);
        resp->status = 503;
        hs_buf_printf(&resp->head, "Retry-After: %d\r\n", HS_RETRY_AFTER_S);
    }
}

size_t hs_body_limit(const hs_config *cfg, char *const *params, int *over)
{
    const char *m = hs_param(params, "REQUEST_METHOD");
    const char *cl = hs_param(params, "CONTENT_LENGTH");
    long long n;

    *over = 0;
    if (cfg == NULL || m == NULL || strcmp(m, "POST") != 0) return 0;
    /* CONTENT_LENGTH only ever shortens the work: a body larger than it
     * claims is still counted as read, never trusted. */
    if (cl != NULL && hs_conf_parse_num(cl, 0, HS_CONF_NUM_MAX, &n) == 0 &&
        n > cfg->max_body) {
        *over = 1;
        return 0;
    }
    if ((unsigned long long)cfg->max_body >= (unsigned long long)SIZE_MAX) return SIZE_MAX;
    return (size_t)cfg->max_body + 1;
}
