/*
 * handler.h - one request in, one answer out (SPEC section 4).
 *
 * The entry points in cgi/ read the request (parameters and body) and
 * write the answer; everything in between happens here, so tests drive
 * the whole request path from memory.
 */
#ifndef HS_HANDLER_H
#define HS_HANDLER_H

#include <stddef.h>
#include <time.h>
#include "buf.h"
#include "config.h"
#include "ctx.h"

#define HS_VERSION "1.0.0"
#define HS_RETRY_AFTER_S 30   /* Retry-After on 503 */

/* Every answer but success, with one row each in the answer table. The
 * names are what logs, JSON errors and (later) the counters say. */
typedef enum {
    HS_R_OK = 0,
    HS_R_BAD_METHOD,
    HS_R_UNAUTHORIZED,        /* status token */
    HS_R_MISSING_SIGNATURE,
    HS_R_BAD_SIGNATURE,
    HS_R_EXPIRED_TIMESTAMP,
    HS_R_BAD_JSON,
    HS_R_TOO_LARGE,
    HS_R_SPOOL_FULL,          /* ENOSPC, EDQUOT, a full store */
    HS_R_SPOOL_UNAVAILABLE,   /* unwritable, EIO, lock timeout, ... */
    HS_R_CONFIG_ERROR,
    HS_R_INTERNAL,            /* out of memory */
    HS_R_BAD_HANDSHAKE,       /* a challenge outside its provider's rule */
    HS_R_HANDSHAKE_DENIED,    /* a handshake with the wrong verify token */
    HS_R_COUNT
} hs_reason;

/* The stable name of a reason ("bad_signature", ...). */
const char *hs_reason_name(hs_reason r);

typedef struct hs_request {
    char *const         *params;     /* NULL-terminated "NAME=value": CGI vars and HTTP_* headers */
    const unsigned char *body;       /* the raw body as read, may be NULL when body_len is 0 */
    size_t               body_len;
    int                  body_over;  /* the reader stopped: the body passes max_body */
    time_t               now;
} hs_request;

typedef struct hs_response {
    int         status;
    const char *content_type;
    hs_buf      head;    /* extra header lines, each "Name: value\r\n" */
    hs_buf      body;    /* empty for HEAD */
} hs_response;

void hs_response_init(hs_response *r);
void hs_response_free(hs_response *r);

/*
 * Answer req. cfg is what hs_ctx_config() gave for req.params, or NULL
 * with cfg_err its message (the answer is then 500 and the message is
 * logged). Never fails: every outcome is an answer in *resp, which the
 * caller has initialised and owns. Writes to the spool and the log of ctx.
 */
void hs_handle(hs_ctx *ctx, const hs_config *cfg, const char *cfg_err,
               const hs_request *req, hs_response *resp);

/*
 * How much of the body the entry point should read for this request:
 * 0 when it needs none (not a POST, no configuration), else max_body + 1
 * so an oversized body is noticed after one byte too many. *over is set
 * when CONTENT_LENGTH alone already passes max_body (no need to read).
 */
size_t hs_body_limit(const hs_config *cfg, char *const *params, int *over);

#endif
