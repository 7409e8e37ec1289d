/*
 * auth.c - source addresses and client certificates
 * (contracts in auth.h).
 */
#include "auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define ADDR_TEXT_MAX 64   /* longer than any IPv6 text form */

/* Parse one address text s[0..n) into a 16-byte buffer; *v6 says which
 * family. 0 or -1. */
static int parse_addr(const char *s, size_t n, unsigned char out[16], int *v6)
{
    char t[ADDR_TEXT_MAX];

    if (n == 0 || n >= sizeof t) return -1;
    memcpy(t, s, n);
    t[n] = '\0';
    memset(out, 0, 16);
    if (inet_pton(AF_INET, t, out) == 1) { *v6 = 0; return 0; }
    if (inet_pton(AF_INET6, t, out) == 1) { *v6 = 1; return 0; }
    return -1;
}

/* Does a[0..16) agree with the block's address on its first bits? */
static int in_block(const hs_auth_net *net, const unsigned char a[16])
{
    unsigned full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(a, net->addr, full) != 0) return 0;
    if (rest == 0) return 1;
    return ((a[full] ^ net->addr[full]) & (unsigned char)(0xff << (8 - rest))) == 0;
}

/* One item s[0..n), spaces trimmed: address[/bits]. */
static int parse_net(const char *s, size_t n, hs_auth_net *out)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    unsigned maxbits, bits, i;

    if (parse_addr(s, alen, out->addr, &out->v6) != 0) return -1;
    maxbits = out->v6 ? 128 : 32;
    bits = maxbits;
    if (slash != NULL) {
        const char *d = slash + 1;
        size_t dl = n - alen - 1;
        if (dl == 0 || dl > 3) return -1;
        for (bits = 0, i = 0; i < dl; i++) {
            if (!isdigit((unsigned char)d[i])) return -1;
            bits = bits * 10 + (unsigned)(d[i] - '0');
        }
        if (dl > 1 && d[0] == '0') return -1;
        if (bits > maxbits) return -1;
    }
    out->bits = bits;
    /* No bits past the prefix: compare the address with itself masked. */
    {
        hs_auth_net masked = *out;
        unsigned full = bits / 8, rest = bits % 8;
        memset(masked.addr + full, 0, 16 - full);
        if (rest && full < 16)
            masked.addr[full] = (unsigned char)(out->addr[full] & (0xff << (8 - rest)));
        if (memcmp(masked.addr, out->addr, 16) != 0) return -1;
    }
    return 0;
}

int hs_auth_parse_nets(const char *list, hs_auth_net *out, size_t max)
{
    size_t n = 0;
    const char *s = list;

    if (list == NULL) return -1;
    for (;;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        const char *b = s;
        while (len && isspace((unsigned char)*b)) { b++; len--; }
        while (len && isspace((unsigned char)b[len - 1])) len--;
        if (len == 0 || n == max || parse_net(b, len, &out[n]) != 0) return -1;
        n++;
        if (e == NULL) break;
        s = e + 1;
    }
    return (int)n;
}

int hs_auth_addr_allowed(const hs_auth_net *nets, size_t n, const char *addr)
{
    static const unsigned char mapped[12] = { 0,0,0,0, 0,0,0,0, 0,0,0xff,0xff };
    unsigned char a[16];
    size_t i;
    int v6;

    if (addr == NULL || parse_addr(addr, strlen(addr), a, &v6) != 0) return 0;
    if (v6 && memcmp(a, mapped, sizeof mapped) == 0) {
        memmove(a, a + 12, 4);
        memset(a + 4, 0, 12);
        v6 = 0;
    }
    for (i = 0; i < n; i++)
        if (nets[i].v6 == v6 && in_block(&nets[i], a)) return 1;
    return 0;
}

hs_mtls_result hs_auth_mtls(const char *verify, const char *sdn, const char *idn,
                            const char *want_subject, const char *want_issuer)
{
    if (verify == NULL || strcmp(verify, "SUCCESS") != 0) return HS_MTLS_NONE;
    if (want_subject != NULL && *want_subject != '\0' &&
        (sdn == NULL || strcmp(sdn, want_subject) != 0))
        return HS_MTLS_SUBJECT;
    if (want_issuer != NULL && *want_issuer != '\0' &&
        (idn == NULL || strcmp(idn, want_issuer) != 0))
        return HS_MTLS_ISSUER;
    return HS_MTLS_OK;
}
