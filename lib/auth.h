/*
 * auth.h - authentication that is not a signature: the source address
 * (CIDR lists) and the client certificate the web server verified
 * (mutual TLS). PIX banks authenticate their deliveries this way, or
 * with a token in the query string (the query:NAME scheme, which sig.c
 * verifies through query.h) (issue 17): the body carries no signature.
 *
 * Nothing here logs, allocates, or touches a secret; the handler
 * decides what to answer.
 */
#ifndef HS_AUTH_H
#define HS_AUTH_H

#include <stddef.h>

#define HS_AUTH_MAX_NETS   32    /* CIDR blocks in HOOKSPOOL_ALLOW_FROM */
#define HS_AUTH_MAX_DN     512   /* HOOKSPOOL_MTLS_SUBJECT / _ISSUER */

/* One CIDR block: the address in network order (IPv4 in the first 4
 * bytes), the prefix length, the family. */
typedef struct hs_auth_net {
    unsigned char addr[16];
    unsigned      bits;
    int           v6;
} hs_auth_net;

/*
 * Parse a comma list of CIDR blocks ("192.0.2.0/24, 2001:db8::/32,
 * 198.51.100.7"; an address alone is /32 or /128), spaces around items
 * allowed. A block with bits set past its prefix (10.0.0.1/8) is an
 * error, not silently widened: it is most likely a typo. Returns the
 * count (1 to max), or -1 (empty list, empty item, bad address or
 * prefix, more than max).
 */
int hs_auth_parse_nets(const char *list, hs_auth_net *out, size_t max);

/*
 * 1 when the textual address addr (REMOTE_ADDR) lies in one of
 * nets[0..n), else 0 (also for NULL or an unparsable addr). An
 * IPv4-mapped IPv6 address (::ffff:192.0.2.1, what a dual-stack socket
 * reports) is matched as the IPv4 address it holds.
 */
int hs_auth_addr_allowed(const hs_auth_net *nets, size_t n, const char *addr);

typedef enum {
    HS_MTLS_OK = 0,
    HS_MTLS_NONE,       /* the server verified no certificate */
    HS_MTLS_SUBJECT,    /* verified, but the subject is not the one accepted */
    HS_MTLS_ISSUER      /* verified, but the issuer is not the one accepted */
} hs_mtls_result;

/*
 * The client certificate as the web server reports it (Apache mod_ssl
 * with SSLOptions +StdEnvVars, nginx through fastcgi_param): verify is
 * SSL_CLIENT_VERIFY ("SUCCESS" only counts), sdn and idn
 * SSL_CLIENT_S_DN and SSL_CLIENT_I_DN (any may be NULL). want_subject and
 * want_issuer are the accepted DNs, compared exactly ("" or NULL: any).
 * These are server variables, never request headers (those arrive as
 * HTTP_*), so a client cannot set them.
 */
hs_mtls_result hs_auth_mtls(const char *verify, const char *sdn, const char *idn,
                            const char *want_subject, const char *want_issuer);

#endif
