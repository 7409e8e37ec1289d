/*
 * reason.h - the outcomes of a request and their stable names.
 *
 * Every answer but success has one reason. The names are what logs, JSON
 * errors, the status document and the counters say; the answer each
 * reason gets (HTTP status, Retry-After) is the table in handler.c. The
 * counters file keeps one slot per reason, named by its value
 * (counters.h): new reasons go before HS_R_COUNT, never in the middle.
 */
#ifndef HS_REASON_H
#define HS_REASON_H

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
    HS_R_ADDRESS_REFUSED,     /* REMOTE_ADDR not in HOOKSPOOL_ALLOW_FROM */
    HS_R_CLIENT_CERT_REFUSED, /* no verified client certificate, or not the one accepted */
    HS_R_COUNT
} hs_reason;

/* The stable name of a reason ("bad_signature", ...); "unknown" for a
 * value that is not one. */
const char *hs_reason_name(hs_reason r);

#endif
