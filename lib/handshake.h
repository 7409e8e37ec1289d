/*
 * handshake.h - the requests a sender makes before it delivers anything
 * (Slack url_verification, Meta's hub.* GET, Zoom endpoint.url_validation,
 * Twitch webhook_callback_verification, Microsoft Graph's validationToken,
 * Dropbox's challenge, X's crc_token, Okta's verification GET,
 * Smartsheet's Hook-Challenge), answered exactly as each provider
 * documents, from the scheme's row (scheme.h: hs_handshake_kind).
 *
 * A handshake is never appended to the spool. A challenge is echoed only
 * when it keeps its provider's rule: within HS_HSK_ALPHABET and at most
 * HS_HSK_MAX_CHALLENGE bytes (Graph's validationToken: printable ASCII,
 * at most HS_HSK_MAX_GRAPH_TOKEN bytes), as text/plain with
 * X-Content-Type-Options: nosniff, or inside the JSON the provider asks
 * for, never as HTML. Nothing here logs or counts: the handler does.
 */
#ifndef HS_HANDSHAKE_H
#define HS_HANDSHAKE_H

#include <stddef.h>
#include "buf.h"
#include "scheme.h"
#include "secret.h"
#include "sig.h"

#define HS_HSK_MAX_CHALLENGE   256   /* bytes of a challenge echoed */
#define HS_HSK_MAX_GRAPH_TOKEN 1024  /* bytes of Graph's decoded validationToken */
/* The bytes a challenge may hold besides letters and digits: what the
 * providers' random tokens (Base64, Base64url, UUIDs, decimal) use. */
#define HS_HSK_ALPHABET        "-._~+/=:"

typedef enum {
    HS_HSK_NOT = 0,    /* not a handshake: the request goes on as usual */
    HS_HSK_ANSWERED,   /* *out holds the answer */
    HS_HSK_DENIED,     /* wrong verify token or authorization: 401 */
    HS_HSK_MALFORMED   /* the challenge breaks its rule: 400 */
} hs_hsk_result;

/* What the handshake sees of the request. */
typedef struct hs_hsk_input {
    const char          *method;        /* "GET", "POST", ... */
    const char          *query;         /* QUERY_STRING or NULL */
    hs_header_fn         hdr;
    void                *arg;
    const unsigned char *body;
    size_t               len;
    const hs_secret     *secrets;       /* the first one answers Zoom and X */
    size_t               nsecrets;
    const char          *verify_token;  /* HOOKSPOOL_VERIFY_TOKEN, or NULL */
} hs_hsk_input;

/* The answer, written by a handshake that answered. */
typedef struct hs_hsk_answer {
    int         status;
    const char *content_type;
    hs_buf     *head;      /* extra header lines appended, "Name: v\r\n" */
    hs_buf     *body;
    const char *name;      /* for the log: "slack url_verification" */
    int         authenticated;  /* the request proved it is the sender's
                            * (a signature, Meta's verify token, Okta's
                            * Authorization): it may create the spool to
                            * be counted; an unauthenticated one (Dropbox,
                            * X, Graph) is counted once the spool exists */
} hs_hsk_answer;

/*
 * A handshake the provider does not sign (Meta, Dropbox, X, Okta, Graph,
 * an unsigned Smartsheet challenge): looked at before the request is
 * authenticated. HS_HSK_NOT for anything else, including every request
 * of a scheme without a handshake and every signed handshake.
 */
hs_hsk_result hs_handshake_before(const hs_scheme *sc, const hs_hsk_input *in,
                                  hs_hsk_answer *out);

/*
 * A handshake the provider signs (Slack, Zoom, Twitch, a signed
 * Smartsheet challenge): call only once in's POST has been verified
 * against the scheme. HS_HSK_NOT when it is an ordinary event.
 */
hs_hsk_result hs_handshake_after(const hs_scheme *sc, const hs_hsk_input *in,
                                 hs_hsk_answer *out);

/* 1 when s[0..n) is a challenge that may be echoed: 1 to
 * HS_HSK_MAX_CHALLENGE letters, digits or HS_HSK_ALPHABET bytes. */
int hs_handshake_challenge_ok(const char *s, size_t n);

#endif
