/*
 * sign.h - the headers a sender of a scheme would send, for `hookspool
 * sign` and the tests.
 *
 * Only the command-line tool signs: nothing that hookspool.fcgi links
 * refers to this module, so its code stays out of the program that
 * faces the network (test_http.py checks the program's symbols).
 */
#ifndef HS_SIGN_H
#define HS_SIGN_H

#include <stddef.h>
#include <time.h>
#include "buf.h"
#include "scheme.h"
#include "secret.h"
#include "sig.h"

/*
 * Produce the headers a sender of scheme sc would send for
 * body[0..len) with secret s at time now, appending lines
 * "Name: value\n" to out, in this order: the id header, the timestamp
 * header, the signature header (each when the row has it). A scheme
 * with an id header signs msg_id, or a generated id (the row's id_new
 * and 32 random hex digits) when msg_id is NULL; msg_id is ignored
 * otherwise. For the token schemes the line is the token header itself.
 * Returns 0, or -1 when the row cannot be signed, now cannot be written
 * as a timestamped scheme's timestamp (negative; in milliseconds past
 * LLONG_MAX; as RFC 3339 past what gmtime_r takes), msg_id or a token cannot be sent as a header
 * value (empty, control bytes, surrounding spaces, or msg_id over 256
 * bytes), or memory runs out; out is then as it was (unless it ran out
 * of memory, which it records itself).
 */
int hs_sign_headers(const hs_scheme *sc, const hs_secret *s,
                    const unsigned char *body, size_t len, time_t now,
                    const char *msg_id, hs_buf *out);

/*
 * As hs_sign_headers, for every row: in gives the body as read, the
 * query string (a row that signs a query parameter takes it from there,
 * Mercado Pago's data.id) and the headers (HS_PART_HEADER; hdr may be
 * NULL when the row signs none). The body to send is appended to
 * body_out: the body as read, or the row's envelope around it (Mailgun's
 * signature object, Graph's clientState). Returns 0, or -1 as
 * hs_sign_headers, also when a part the row signs is not in in; on
 * failure neither buffer is changed (unless memory ran out).
 */
int hs_sign_request(const hs_scheme *sc, const hs_secret *s, const hs_sig_input *in,
                    time_t now, const char *msg_id, hs_buf *headers, hs_buf *body_out);

/*
 * As hs_sign_request, with the PEM private key pem[0..n) of the row's
 * pk_alg instead of a secret (pubkey.h hs_pubkey_sign): Discord's and
 * SendGrid's signature header, Standard Webhooks' "v1a,<Base64>". A row
 * without a pk_alg, or a key of another type: -1.
 */
int hs_sign_request_pk(const hs_scheme *sc, const char *pem, size_t n, const hs_sig_input *in,
                       time_t now, const char *msg_id, hs_buf *headers, hs_buf *body_out);

#endif
