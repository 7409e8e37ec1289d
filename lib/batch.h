/*
 * batch.h - a request whose body holds several events (issue 17: a PIX
 * bank groups payments as {"pix":[...]}, {"recs":[...]},
 * {"cobsr":[...]}, some banks as a bare array), and the URL suffix that
 * says which kind of body it is.
 *
 * Everything works on the *valid, minified* body (json.h), so each
 * element is found byte for byte as sent, less whitespace.
 */
#ifndef HS_BATCH_H
#define HS_BATCH_H

#include <stddef.h>

#define HS_BATCH_MAX_SUFFIX 64    /* bytes of a recorded suffix */
#define HS_BATCH_MAX        1000  /* elements of one batch; more is bad_json */

/*
 * The suffix a request came to below its endpoint, into out[0..outlen).
 * With base (HOOKSPOOL_BASE_PATH, the endpoint's URL path) set and not
 * empty: what the request's path, script_name then path_info, has
 * beyond base (lighttpd, serving every endpoint under /hooks/ from one
 * backend, passes SCRIPT_NAME=/hooks and PATH_INFO=/caliza/pix); a path
 * that does not start with base, or continues it without a '/', has
 * none. Without base: path_info. When that gives nothing, the value of
 * the query string's last parameter when it starts with '/' (a bank
 * that appends "/pix" to a registered "...?t=X&ignorar=" puts it there).
 * Only '/' and [A-Za-z0-9._-] are taken, at most outlen - 1 bytes; any
 * other suffix gives "" (none), as does outlen 0. Returns strlen(out).
 */
size_t hs_batch_suffix(const char *base, const char *script_name, const char *path_info,
                       const char *qs, char *out, size_t outlen);

/* The JSON Pointer to a PIX body's array for the URL suffix: "/pix"
 * for "/pix", "/recs" for "/rec", "/cobsr" for "/cobr" (a trailing '/'
 * ignored), "/pix" for anything else (the registered URL itself). */
const char *hs_batch_pix_pointer(const char *suffix);

/*
 * Where the batch is in the minified body ev[0..len): the body itself
 * when it is an array, else the value at pointer (NULL or "": none) when
 * that is an array. Returns 1 with *arr, *arrlen set to the array's
 * bytes ("[...]"), or 0: not a batch (the body is one event).
 */
int hs_batch_find(const char *ev, size_t len, const char *pointer,
                  const char **arr, size_t *arrlen);

/*
 * Iterate the elements of a minified array arr[0..len) ("[...]"):
 * start with *pos = 0; each call returns 1 with the next element's bytes
 * in *el, *ellen, or 0 at the end (or on bytes that are not a minified
 * array: the caller passed a validated one).
 */
int hs_batch_next(const char *arr, size_t len, size_t *pos, const char **el, size_t *ellen);

#endif
