/*
 * auth.h - authentication that is not a signature: the source address
 * (CIDR lists), the client certificate the web server verified (mutual
 * TLS), and a token in the query string. PIX banks authenticate their
 * deliveries this way (issue 17): the body carries no signature.
 *
 * Nothing here logs, allocates, or touches a secret beyond comparing it
 * in constant time; the handler decides what to answer.
 */
#ifndef HS_AUTH_H
#define HS_AUTH_H

#include <stddef.h>

#define HS_AUTH_MAX_NETS   32    /* CIDR blocks in HOOKSPOOL_ALLOW_FROM */
#define HS_AUTH_MAX_DN     512   /* HOOKSPOOL_MTLS_SUBJECT / _ISSUER */
#define HS_AUTH_MAX_QUERY  512   /* a query parameter's value, decoded */

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

/*
 * Find parameter name in the query string qs (a=1&b=2; NULL: none) and
 * write its value, percent-decoded ("%2B" is '+'; '+' itself is kept,
 * since a token is not form text), NUL-terminated, to out[0..outlen).
 * The first occurrence wins. Returns 1 (found), 0 (absent), or -1 (a
 * bad %-escape, a NUL, or longer than outlen - 1: a wrong token).
 */
int hs_auth_query_param(const char *qs, const char *name, char *out, size_t outlen);

#endif
