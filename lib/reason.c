#include "reason.h"

#include <stddef.h>

static const char *const names[HS_R_COUNT] = {
    [HS_R_OK]                = "ok",
    [HS_R_BAD_METHOD]        = "bad_method",
    [HS_R_UNAUTHORIZED]      = "unauthorized",
    [HS_R_MISSING_SIGNATURE] = "missing_signature",
    [HS_R_BAD_SIGNATURE]     = "bad_signature",
    [HS_R_EXPIRED_TIMESTAMP] = "expired_timestamp",
    [HS_R_BAD_JSON]          = "bad_json",
    [HS_R_TOO_LARGE]         = "too_large",
    [HS_R_SPOOL_FULL]        = "spool_full",
    [HS_R_SPOOL_UNAVAILABLE] = "spool_unavailable",
    [HS_R_CONFIG_ERROR]      = "config_error",
    [HS_R_INTERNAL]          = "internal_error",
    [HS_R_BAD_HANDSHAKE]     = "bad_handshake",
    [HS_R_HANDSHAKE_DENIED]  = "handshake_denied",
    [HS_R_ADDRESS_REFUSED]   = "address_refused",
    [HS_R_CLIENT_CERT_REFUSED] = "client_cert_refused",
};

const char *hs_reason_name(hs_reason r)
{
    return (r >= 0 && r < HS_R_COUNT && names[r] != NULL) ? names[r] : "unknown";
}
