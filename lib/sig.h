/*
 * sig.h - verifying a request's signature or token (SPEC section 3), as
 * its scheme's row (scheme.h) describes it.
 *
 * Everything here works on raw bytes with explicit lengths; nothing
 * knows about FastCGI or the environment, and nothing logs: the caller
 * decides what to say, and is never handed a secret or a MAC.
 */
#ifndef HS_SIG_H
#define HS_SIG_H

#include <stddef.h>
#include <time.h>
#include "scheme.h"
#include "secret.h"

#define HS_SIG_MAX_HEADER_VAL 8192 /* longer signature headers are wrong */

/* Looks up a request header by its HTTP name (case-insensitive, e.g.
 * "X-Hub-Signature-256"); returns its NUL-terminated value or NULL. */
typedef const char *(*hs_header_fn)(void *arg, const char *name);

typedef enum {
    HS_SIG_OK = 0,
    HS_SIG_MISSING,   /* the header(s) the scheme needs are absent */
    HS_SIG_BAD,       /* present but no secret matches (or malformed) */
    HS_SIG_EXPIRED    /* timestamped scheme: |now - t| > tolerance */
} hs_sig_result;

typedef struct hs_sig_verdict {
    hs_sig_result result;
    /* When result is HS_SIG_BAD and some secret's alt would have
     * matched: that secret's index, else -1. */
    int hint_index;
} hs_sig_verdict;

/*
 * Verify a request: body[0..len) is the raw body exactly as read.
 * Every secret of secrets[0..n) is tried; MACs are compared in constant
 * time over decoded bytes; hex is case-insensitive; a header of the wrong
 * length or alphabet is HS_SIG_BAD, never an error. Every header the
 * scheme reads (signature, timestamp, id) must be present (else
 * HS_SIG_MISSING) and well formed (else HS_SIG_BAD). A timestamp must
 * lie within [now - tolerance, now + tolerance] (else HS_SIG_EXPIRED).
 * Allocates nothing that outlives the call.
 */
hs_sig_verdict hs_sig_verify(const hs_scheme *sc, const hs_secret *secrets,
                             size_t n, hs_header_fn hdr, void *arg,
                             const unsigned char *body, size_t len,
                             time_t now, long long tolerance);

#endif
