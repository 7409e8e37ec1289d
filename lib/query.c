/* query.c - see query.h. */
#include "query.h"

#include <string.h>

/* The value of one hex digit, or -1. */
static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode v[0..n) into out[0..cap), '+' as a space when plus_space.
 * Contract of the return in query.h. */
static int decode(const char *v, size_t n, char *out, size_t cap, size_t *outlen,
                  int plus_space)
{
    size_t i, o = 0;
    int hi, lo;
    char c;

    for (i = 0; i < n; i++) {
        c = v[i];
        if (c == '+' && plus_space) {
            c = ' ';
        } else if (c == '%') {
            if (n - i < 3 || (hi = hexval(v[i + 1])) < 0 || (lo = hexval(v[i + 2])) < 0)
                goto bad;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap)
            goto bad;
        out[o++] = c;
    }
    out[o] = '\0';
    *outlen = o;
    return HS_QUERY_OK;
bad:
    if (cap > 0)
        out[0] = '\0';
    return HS_QUERY_BAD;
}

/* hs_query_get and hs_query_token: plus_space says how '+' decodes. */
static int get(const char *q, const char *name, size_t nlen, char *out,
               size_t cap, size_t *outlen, int plus_space)
{
    size_t qlen = 0, i = 0, j, eq;

    if (q == NULL || name == NULL || out == NULL || cap == 0)
        return HS_QUERY_ABSENT;
    while (qlen < HS_QUERY_MAX && q[qlen] != '\0')
        qlen++;
    while (i < qlen) {
        for (j = i; j < qlen && q[j] != '&'; j++)
            ;
        for (eq = i; eq < j && q[eq] != '='; eq++)
            ;
        if (eq - i == nlen && memcmp(q + i, name, nlen) == 0)
            return decode(q + eq + (eq < j), j - eq - (eq < j), out, cap, outlen,
                          plus_space);
        i = j + 1;
    }
    return HS_QUERY_ABSENT;
}

int hs_query_get(const char *q, const char *name, size_t nlen, char *out,
                 size_t cap, size_t *outlen)
{
    return get(q, name, nlen, out, cap, outlen, 1);
}

int hs_query_token(const char *q, const char *name, size_t nlen, char *out,
                   size_t cap, size_t *outlen)
{
    return get(q, name, nlen, out, cap, outlen, 0);
}
