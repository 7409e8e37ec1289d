#include "handler.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "dedup.h"
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

/*
 * Build the event line into b from the minified event ev[0..evlen) and
 * the key (key == NULL: none). The id and received_at are placeholders
 * of fixed width that the spool stamps under its lock. 0 or -1 (memory).
 */
static int build_line(hs_buf *b, const hs_config *cfg, const hs_request *req,
                      const hs_buf *ev, const hs_buf *key, size_t *id_off, size_t *ts_off)
{
    size_t i;
    int first = 1;

    hs_buf_reset(b);
    hs_buf_puts(b, "{\"id\":\"");
    *id_off = b->len;
    hs_buf_fill(b, ' ', HS_ID_LEN);
    hs_buf_puts(b, "\",\"received_at\":\"");
    *ts_off = b->len;
    hs_buf_fill(b, ' ', HS_TS_LEN);
    hs_buf_puts(b, "\",\"endpoint\":");
    hs_buf_json_str(b, cfg->endpoint, strlen(cfg->endpoint));
    if (key != NULL) {
        hs_buf_puts(b, ",\"key\":");
        hs_buf_append(b, key->p, key->len);
    }
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
    hs_buf_puts(b, "},\"event\":");
    hs_buf_append(b, ev->p, ev->len);
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

/* Append line, with its key when key is non-NULL. Keyless or not, the
 * append goes through the dedup hooks whenever the spool has a store:
 * the lines a stopped writer left unindexed are indexed before this
 * append or the seal it may cause (issue 13 item 1). Returns 0 (stored:
 * id filled), HS_DEDUP_DUPLICATE, or a negative errno. */
static int store_event(hs_ctx *ctx, const hs_config *cfg, hs_buf *line,
                       size_t id_off, size_t ts_off, const hs_buf *key,
                       time_t now, char id[HS_ID_LEN + 1])
{
    hs_spool_opts opts = hs_ctx_spool_opts(cfg);
    hs_spool *sp;
    hs_dedup_op op;
    hs_buf ep = HS_BUF_INIT;
    int rc;

    if ((rc = hs_ctx_spool(ctx, cfg, 1, &sp)) != 0) return rc;
    memset(&op, 0, sizeof(op));
    op.spool = cfg->spool;
    op.umask = cfg->umask;
    op.now = (int64_t)now;
    op.ttl = cfg->dedup_seconds;
    /* A keyed event creates the store; a keyless one only uses it (the
     * pre hook looks again under the lock when there is none yet). */
    rc = hs_ctx_store(ctx, cfg, key != NULL, &op.store);
    if (rc == -ENOENT && key == NULL) op.store = NULL;
    else if (rc != 0) return rc;
    if (key != NULL) {
        hs_buf_json_str(&ep, cfg->endpoint, strlen(cfg->endpoint));
        rc = ep.oom ? -ENOMEM : hs_dedup_hash(ep.p, ep.len, key->p, key->len, op.hash);
        hs_buf_free(&ep);
        if (rc != 0) return rc;
        op.has_key = 1;
    }
    rc = hs_dedup_append(&op, sp, &opts, line->p, line->len, id_off, ts_off, id);
    if (rc < 0 && op.recorded) {
        /* The flush failed after the key was recorded: the sender will
         * retry an event we did not acknowledge, so forget its key (the
         * one way a key may appear twice, SPEC promise 5). op.store is
         * the context's (a keyed event never has the hook open it). */
        int frc = hs_store_key_forget(op.store, op.hash);
        if (frc != 0)
            hs_logf(hs_ctx_log(ctx), now, "endpoint=%s spool=%s: cannot forget the key of "
                    "an unflushed event: %s", cfg->endpoint, cfg->spool, strerror(-frc));
    }
    return rc;
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

static void handle_post(hs_ctx *ctx, const hs_config *cfg, const hs_request *req,
                        hs_response *resp)
{
    const hs_secret *secrets;
    hs_sig_verdict v;
    hs_buf ev = HS_BUF_INIT, key = HS_BUF_INIT, line = HS_BUF_INIT;
    size_t id_off, ts_off;
    char err[HS_CTX_ERR_MAX], id[HS_ID_LEN + 1], detail[HS_CTX_ERR_MAX + 64];
    int n, rc, has_key;

    if (req->body_over || req->body_len > (unsigned long long)cfg->max_body) {
        snprintf(detail, sizeof(detail), "body over HOOKSPOOL_MAX_BODY=%lld", cfg->max_body);
        reject(ctx, cfg, req, resp, HS_R_TOO_LARGE, detail);
        return;
    }

    /* Authenticate before parsing anything of the body. */
    n = hs_ctx_secrets(ctx, cfg, req->now, &secrets, err, sizeof(err));
    if (n < 0) {
        reject(ctx, cfg, req, resp, HS_R_CONFIG_ERROR, err);
        return;
    }
    {
        hs_sig_input in = { header_lookup, (void *)req->params,
                            hs_param(req->params, "QUERY_STRING"), req->body, req->body_len };
        v = hs_sig_verify_input(&cfg->scheme, secrets, (size_t)n, &in, req->now, cfg->tolerance);
    }
    switch (v.result) {
    case HS_SIG_OK:
        break;
    case HS_SIG_MISSING:
        reject(ctx, cfg, req, resp, HS_R_MISSING_SIGNATURE, NULL);
        return;
    case HS_SIG_EXPIRED:
        snprintf(detail, sizeof(detail), "timestamp outside HOOKSPOOL_TOLERANCE=%lld s "
                 "(check this host's clock)", cfg->tolerance);
        reject(ctx, cfg, req, resp, HS_R_EXPIRED_TIMESTAMP, detail);
        return;
    default:
        if (v.hint_index >= 0 && v.hint_index < n) {
            snprintf(detail, sizeof(detail), "the signature would match with %s read the "
                     "other way: %s", secrets[v.hint_index].source,
                     secrets[v.hint_index].alt_hint ? secrets[v.hint_index].alt_hint : "");
            reject(ctx, cfg, req, resp, HS_R_BAD_SIGNATURE, detail);
        } else {
            reject(ctx, cfg, req, resp, HS_R_BAD_SIGNATURE, NULL);
        }
        return;
    }

    if (answer_handshake(ctx, cfg, req, resp, HSK_AFTER)) goto done;

    rc = hs_json_minify(req->body, req->body_len, &ev, NULL);
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
    has_key = hs_dedup_key(cfg, ev.p ? ev.p : "", ev.len, header_lookup,
                           (void *)req->params, &key);
    if (has_key < 0 ||
        build_line(&line, cfg, req, &ev, has_key ? &key : NULL, &id_off, &ts_off) != 0) {
        reject(ctx, cfg, req, resp, HS_R_INTERNAL, "out of memory");
        goto done;
    }
    hs_buf_free(&ev);   /* the line holds it now: do not keep two copies */

    rc = store_event(ctx, cfg, &line, id_off, ts_off, has_key ? &key : NULL, req->now, id);
    log_repaired(ctx, cfg, req);
    if (rc == HS_DEDUP_DUPLICATE) {
        count(ctx, cfg, req, HS_CNT_DUPLICATE);
        resp->status = 200;
        hs_buf_puts(&resp->body, "{\"ok\":true,\"duplicate\":true}\n");
        goto done;
    }
    if (rc != 0) {
        snprintf(detail, sizeof(detail), "spool %.300s: %s", cfg->spool, hs_spool_strerror(rc));
        reject(ctx, cfg, req, resp, spool_reason(rc), detail);
        goto done;
    }
    resp->status = 200;
    hs_buf_puts(&resp->body, "{\"ok\":true,\"id\":\"");
    hs_buf_puts(&resp->body, id);
    hs_buf_puts(&resp->body, "\"}\n");
    {
        hs_counters *c;
        struct timespec ts;
        hs_ctx_counters(ctx, cfg, 1, req->now, &c);
        hs_counters_add(c, HS_CNT_ACCEPTED, 1);
        if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
            hs_counters_set_last_accepted(c, (uint64_t)ts.tv_sec * 1000u +
                                             (uint64_t)ts.tv_nsec / 1000000u);
    }
done:
    hs_buf_free(&ev);
    hs_buf_free(&key);
    hs_buf_free(&line);
}

/* Is the status token right? Constant time in the token's bytes. Only
 * called when a token is configured. */
static int status_authorized(const hs_config *cfg, const hs_request *req)
{
    const char *a = hs_param(req->params, "HTTP_AUTHORIZATION");
    if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0) return 0;
    a += 7;
    while (*a == ' ') a++;
    return hs_crypto_token_equal(a, strlen(a), cfg->status_token, strlen(cfg->status_token));
}

/* Does the query string ask for Prometheus text (format=prometheus)? */
static int wants_prometheus(const char *q)
{
    size_t n = strlen("format=prometheus");
    while (q != NULL && *q) {
        size_t len = strcspn(q, "&");
        if (len == n && strncmp(q, "format=prometheus", n) == 0) return 1;
        q += len;
        if (*q == '&') q++;
    }
    return 0;
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

    form = wants_prometheus(hs_param(req->params, "QUERY_STRING")) ? HS_STATUS_PROMETHEUS
                                                                     : HS_STATUS_FULL;
    if (!cfg->has_status_token) {
        if (form == HS_STATUS_PROMETHEUS) {
            reject(ctx, cfg, req, resp, HS_R_UNAUTHORIZED, "Prometheus status without "
                   "HOOKSPOOL_STATUS_TOKEN set");
            return;
        }
        form = HS_STATUS_BRIEF;
    } else if (!status_authorized(cfg, req)) {
        reject(ctx, cfg, req, resp, HS_R_UNAUTHORIZED, "status without the right "
               "HOOKSPOOL_STATUS_TOKEN");
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
                                                      : HS_STATUS_CT_JSON;
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
