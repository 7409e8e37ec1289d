/*
 * query.h - reading one parameter of a request's query string
 * (QUERY_STRING), for the signed bytes of some senders (Mercado Pago's
 * data.id), the handshakes (hub.challenge, validationToken, ...) and the
 * query:NAME scheme's token.
 */
#ifndef HS_QUERY_H
#define HS_QUERY_H

#include <stddef.h>

#define HS_QUERY_MAX 8192   /* bytes of a query string looked at */

enum { HS_QUERY_OK = 0, HS_QUERY_ABSENT = -1, HS_QUERY_BAD = -2 };

/*
 * Find the first parameter of q (name=value pairs split by '&'; NULL is
 * an empty query) whose name is exactly name[0..nlen) as sent (names are
 * compared undecoded), and write its value URL-decoded ("%XX" and '+'
 * for a space) into out[0..cap) with *outlen its length, NUL-terminated.
 * Returns HS_QUERY_OK; HS_QUERY_ABSENT when no such parameter is in the
 * first HS_QUERY_MAX bytes; HS_QUERY_BAD when its value is not valid
 * percent-encoding, decodes to a NUL byte, or does not fit in cap - 1
 * bytes (out then holds no partial value).
 */
int hs_query_get(const char *q, const char *name, size_t nlen, char *out,
                 size_t cap, size_t *outlen);

/*
 * hs_query_get for a secret sent in the query string (query:NAME, issue
 * 17): '+' stays '+', since a token is not form text and base64 tokens
 * hold '+'; "%2B" decodes to '+' too. Same returns as hs_query_get.
 */
int hs_query_token(const char *q, const char *name, size_t nlen, char *out,
                   size_t cap, size_t *outlen);

#endif
