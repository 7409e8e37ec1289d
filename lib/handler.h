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

#include "reason.h"

#define HS_RETRY_AFTER_S 30   /* Retry-After on 503 */

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
