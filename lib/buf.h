/*
 * buf.h - a growable byte buffer with an explicit length (after Redis sds).
 *
 * Contract: p is NUL-terminated for convenience but may hold NUL bytes;
 * len is authoritative. Every append checks for size_t overflow before
 * growing. After any failed append, `oom` is set and later appends are
 * no-ops, so a caller may build a whole answer and check once.
 * The buffer owns p; hs_buf_free() releases it and resets the struct.
 */
#ifndef HS_BUF_H
#define HS_BUF_H

#include <stddef.h>

typedef struct hs_buf {
    char  *p;
    size_t len;
    size_t cap;
    int    oom;
} hs_buf;

#define HS_BUF_INIT { NULL, 0, 0, 0 }

void hs_buf_init(hs_buf *b);
void hs_buf_free(hs_buf *b);
/* Drop the contents, keep the allocation. */
void hs_buf_reset(hs_buf *b);
/* Ensure room for `extra` more bytes plus the NUL. 0 ok, -1 on overflow/ENOMEM. */
int  hs_buf_reserve(hs_buf *b, size_t extra);
int  hs_buf_append(hs_buf *b, const void *data, size_t n);
int  hs_buf_puts(hs_buf *b, const char *s);
int  hs_buf_putc(hs_buf *b, char c);
/* n copies of c. */
int  hs_buf_fill(hs_buf *b, char c, size_t n);
/* v in decimal (no printf on the request path). */
int  hs_buf_put_u(hs_buf *b, unsigned long long v);
int  hs_buf_printf(hs_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Append s[0..n) as a JSON string literal with its quotes. Bytes are
 * copied as they are except '"', '\\' and control characters (< 0x20,
 * 0x7f), which are escaped; invalid UTF-8 is replaced by \ufffd so the
 * result is always valid JSON whatever the input (header values are
 * attacker controlled).
 */
int  hs_buf_json_str(hs_buf *b, const char *s, size_t n);
/* 1 when s[0..n) is valid UTF-8 as hs_buf_json_str judges it (no
 * overlong forms, no surrogates, nothing past U+10FFFF), else 0. Where
 * this holds, hs_buf_json_str keeps every byte: its output decodes back
 * to exactly s. */
int  hs_buf_is_utf8(const char *s, size_t n);
/* Append s[0..n) as lowercase hexadecimal digits, two per byte. */
int  hs_buf_hex(hs_buf *b, const void *s, size_t n);

#endif
