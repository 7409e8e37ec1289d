/*
 * batch.c - batches and URL suffixes (contracts in batch.h).
 */
#include "batch.h"

#include <stdio.h>
#include <string.h>

#include "json.h"

static int suffix_char(int c)
{
    return c == '/' || c == '.' || c == '_' || c == '-' || (c >= '0' && c <= '9') ||
           (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Copy s[0..n) to out when every byte is a suffix byte and it fits. */
static size_t take_suffix(const char *s, size_t n, char *out, size_t outlen)
{
    size_t i;
    if (n == 0 || n >= outlen || s[0] != '/') return 0;
    for (i = 0; i < n; i++)
        if (!suffix_char((unsigned char)s[i])) return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    return n;
}

/* The part of script_name + path_info beyond base, into out. */
static size_t beyond_base(const char *base, const char *sn, const char *pi,
                          char *out, size_t outlen)
{
    size_t bl = strlen(base), sl = sn ? strlen(sn) : 0;
    const char *rest;

    if (sl >= bl) {
        if (memcmp(sn, base, bl) != 0) return 0;
        rest = sn + bl;    /* then the rest of script_name, then path_info */
        if (*rest != '\0') {
            char whole[HS_BATCH_MAX_SUFFIX + 2];
            int w = snprintf(whole, sizeof whole, "%s%s", rest, pi ? pi : "");
            if (w < 0 || (size_t)w >= sizeof whole) return 0;
            return take_suffix(whole, (size_t)w, out, outlen);
        }
        rest = pi ? pi : "";
    } else {
        if (memcmp(base, sn ? sn : "", sl) != 0 || pi == NULL ||
            strncmp(pi, base + sl, bl - sl) != 0)
            return 0;
        rest = pi + (bl - sl);
    }
    return take_suffix(rest, strlen(rest), out, outlen);
}

size_t hs_batch_suffix(const char *base, const char *script_name, const char *path_info,
                       const char *qs, char *out, size_t outlen)
{
    size_t n;

    if (outlen == 0) return 0;
    out[0] = '\0';
    if (base != NULL && *base != '\0') n = beyond_base(base, script_name, path_info, out, outlen);
    else n = path_info ? take_suffix(path_info, strlen(path_info), out, outlen) : 0;
    if (n > 0) return n;
    if (qs != NULL && *qs != '\0') {
        const char *last = strrchr(qs, '&');
        const char *eq;
        last = last ? last + 1 : qs;
        eq = strchr(last, '=');
        if (eq != NULL) return take_suffix(eq + 1, strlen(eq + 1), out, outlen);
    }
    return 0;
}

const char *hs_batch_pix_pointer(const char *suffix)
{
    static const struct { const char *suffix, *pointer; } map[] = {
        { "/pix", "/pix" }, { "/rec", "/recs" }, { "/cobr", "/cobsr" },
    };
    size_t i, n = suffix ? strlen(suffix) : 0;

    if (n > 1 && suffix[n - 1] == '/') n--;
    for (i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strlen(map[i].suffix) == n && memcmp(suffix, map[i].suffix, n) == 0)
            return map[i].pointer;
    return "/pix";
}

int hs_batch_find(const char *ev, size_t len, const char *pointer,
                  const char **arr, size_t *arrlen)
{
    if (len > 0 && ev[0] == '[') {
        *arr = ev;
        *arrlen = len;
        return 1;
    }
    if (pointer == NULL || *pointer == '\0') return 0;
    if (hs_json_pointer(ev, len, pointer, strlen(pointer), arr, arrlen) == 1 &&
        *arrlen > 0 && (*arr)[0] == '[')
        return 1;
    return 0;
}

int hs_batch_next(const char *arr, size_t len, size_t *pos, const char **el, size_t *ellen)
{
    size_t i = *pos, start;
    int depth = 0, in_str = 0;

    if (len < 2 || arr[0] != '[' || arr[len - 1] != ']') return 0;
    if (i == 0) i = 1;                      /* past '[' */
    else if (i < len && arr[i] == ',') i++; /* past the separator */
    if (i >= len - 1) { *pos = len; return 0; }
    start = i;
    for (; i < len - 1; i++) {
        char c = arr[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
            continue;
        }
        if (c == '"') in_str = 1;
        else if (c == '[' || c == '{') depth++;
        else if (c == ']' || c == '}') depth--;
        else if (c == ',' && depth == 0) break;
    }
    if (depth != 0 || in_str || i == start) return 0;
    *el = arr + start;
    *ellen = i - start;
    *pos = i;
    return 1;
}
