#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hs_buf_init(hs_buf *b) { b->p = NULL; b->len = b->cap = 0; b->oom = 0; }

void hs_buf_free(hs_buf *b) { free(b->p); hs_buf_init(b); }

void hs_buf_reset(hs_buf *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->p) b->p[0] = '\0';
}

int hs_buf_reserve(hs_buf *b, size_t extra)
{
    size_t need, ncap;
    char *np;

    if (b->oom) return -1;
    if (extra > SIZE_MAX - 1 - b->len) goto fail;
    need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) { ncap = need; break; }
        ncap *= 2;
    }
    np = realloc(b->p, ncap);
    if (np == NULL) goto fail;
    b->p = np;
    b->cap = ncap;
    return 0;
fail:
    b->oom = 1;
    return -1;
}

int hs_buf_append(hs_buf *b, const void *data, size_t n)
{
    if (hs_buf_reserve(b, n) != 0) return -1;
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int hs_buf_puts(hs_buf *b, const char *s) { return hs_buf_append(b, s, strlen(s)); }

int hs_buf_putc(hs_buf *b, char c) { return hs_buf_append(b, &c, 1); }

int hs_buf_fill(hs_buf *b, char c, size_t n)
{
    if (hs_buf_reserve(b, n) != 0) return -1;
    memset(b->p + b->len, c, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int hs_buf_put_u(hs_buf *b, unsigned long long v)
{
    char d[20];   /* 2^64 - 1 has 20 digits */
    size_t i = sizeof(d);
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return hs_buf_append(b, d + i, sizeof(d) - i);
}

int hs_buf_printf(hs_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->oom) return -1;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || hs_buf_reserve(b, (size_t)n) != 0) { b->oom = 1; return -1; }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return (n >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) return 0;
        if (c == 0xe0 && s[1] < 0xa0) return 0;  /* overlong */
        if (c == 0xed && s[1] >= 0xa0) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
            (s[3] & 0xc0) != 0x80) return 0;
        if (c == 0xf0 && s[1] < 0x90) return 0;
        if (c == 0xf4 && s[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

int hs_buf_is_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run;
    while (i < n) {
        if ((run = utf8_seq(u + i, n - i)) == 0) return 0;
        i += run;
    }
    return 1;
}

int hs_buf_hex(hs_buf *b, const void *s, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *u = s;
    size_t i;
    /* Overflow check before doubling the size. */
    if (n > SIZE_MAX / 2 || hs_buf_reserve(b, 2 * n) != 0) { b->oom = 1; return -1; }
    for (i = 0; i < n; i++) {
        b->p[b->len++] = digits[u[i] >> 4];
        b->p[b->len++] = digits[u[i] & 15];
    }
    b->p[b->len] = '\0';
    return 0;
}

int hs_buf_json_str(hs_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run;

    hs_buf_putc(b, '"');
    while (i < n) {
        unsigned c = u[i];
        if (c == '"' || c == '\\') {
            hs_buf_putc(b, '\\');
            hs_buf_putc(b, (char)c);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\n': hs_buf_puts(b, "\\n"); break;
            case '\r': hs_buf_puts(b, "\\r"); break;
            case '\t': hs_buf_puts(b, "\\t"); break;
            default:   hs_buf_printf(b, "\\u%04x", c); break;
            }
            i++;
        } else if ((run = utf8_seq(u + i, n - i)) == 0) {
            hs_buf_puts(b, "\\ufffd");
            i++;
        } else {
            hs_buf_append(b, u + i, run);
            i += run;
        }
    }
    return hs_buf_putc(b, '"');
}
