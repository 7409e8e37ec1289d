/*
 * text.h - small byte-string tests shared by the parsers of settings and
 * of request headers.
 *
 * Every function takes an explicit length, never reads past it, and
 * ignores the locale (ASCII only): a header or a setting means the same
 * bytes on every machine.
 */
#ifndef HS_TEXT_H
#define HS_TEXT_H

#include <stddef.h>

/* 1 when s[0..n) equals the NUL-terminated lit exactly. */
int hs_text_eq(const char *s, size_t n, const char *lit);

/* 1 when s[0..n) starts with the NUL-terminated lit exactly. */
int hs_text_prefix(const char *s, size_t n, const char *lit);

/* 1 when s[0..n) starts with lit, ignoring ASCII letter case. */
int hs_text_prefix_ci(const char *s, size_t n, const char *lit);

/* 1 for HTTP optional whitespace (SP, HTAB). */
int hs_text_is_ows(char c);

/* Narrow s[0..*n) to exclude leading and trailing OWS. */
void hs_text_trim_ows(const char **s, size_t *n);

/* 1 when s[0..n) is an RFC 7230 token (what a header name may be):
 * at least one byte, every byte a tchar. */
int hs_text_is_token(const char *s, size_t n);

/* 1 when every byte of s[0..n) is an ASCII letter or digit, or one of
 * the bytes of extra (never NUL); 1 for n == 0. */
int hs_text_alnum_or(const char *s, size_t n, const char *extra);

/* Length of the string in the fixed array a[0..cap), or cap when it has
 * no NUL (a hand-built struct): never reads past the array. */
size_t hs_text_field_len(const char *a, size_t cap);

#endif
