/* text.c - see text.h. */
#include "text.h"

#include <string.h>

int hs_text_eq(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);

    return n == l && memcmp(s, lit, l) == 0;
}

int hs_text_prefix(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);

    return n >= l && memcmp(s, lit, l) == 0;
}

/* ASCII lowercase, independent of the locale. */
static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

int hs_text_prefix_ci(const char *s, size_t n, const char *lit)
{
    size_t i, l = strlen(lit);

    if (n < l)
        return 0;
    for (i = 0; i < l; i++)
        if (lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
            return 0;
    return 1;
}

int hs_text_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

void hs_text_trim_ows(const char **s, size_t *n)
{
    while (*n > 0 && hs_text_is_ows((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && hs_text_is_ows((*s)[*n - 1]))
        (*n)--;
}

/* 1 for an RFC 7230 tchar. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int hs_text_is_token(const char *s, size_t n)
{
    size_t i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

int hs_text_alnum_or(const char *s, size_t n, const char *extra)
{
    size_t i;
    char c;

    for (i = 0; i < n; i++) {
        c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c != '\0' && strchr(extra, c) != NULL)))
            return 0;
    }
    return 1;
}

size_t hs_text_field_len(const char *a, size_t cap)
{
    const char *z = memchr(a, '\0', cap);

    return z ? (size_t)(z - a) : cap;
}
