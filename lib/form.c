/*
 * form.c - see form.h.
 */
#include "form.h"

#include <openssl/evp.h>

#include "codec.h"
#include "crypto.h"
#include "json.h"
#include "query.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The value of hex digit c, or -1. */
static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The decoded length of s[0..n), or (size_t)-1 on a bad escape. */
static size_t decoded_len(const unsigned char *s, size_t n)
{
    size_t i, out = 0;

    for (i = 0; i < n; i++, out++) {
        if (s[i] != '%') continue;
        if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
            return (size_t)-1;
        i += 2;
    }
    return out;
}

/* Decode s[0..n) into a new allocation of exactly its decoded size:
 * *out (NULL when empty) and *outlen. HS_FORM_OK or an error. */
static hs_form_result decode(const unsigned char *s, size_t n, char **out, size_t *outlen)
{
    size_t dl = decoded_len(s, n), i, j = 0;
    char *d;

    *out = NULL;
    *outlen = 0;
    if (dl == (size_t)-1) return HS_FORM_BAD_ESCAPE;
    if (dl == 0) return HS_FORM_OK;
    if ((d = malloc(dl)) == NULL) return HS_FORM_ENOMEM;
    for (i = 0; i < n; i++) {
        if (s[i] == '+') d[j++] = ' ';
        else if (s[i] == '%') {
            d[j++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else d[j++] = (char)s[i];
    }
    if (!hs_buf_is_utf8(d, dl)) {
        free(d);
        return HS_FORM_BAD_UTF8;
    }
    *out = d;
    *outlen = dl;
    return HS_FORM_OK;
}

void hs_form_free(hs_form *f)
{
    size_t i;

    if (f == NULL) return;
    for (i = 0; i < f->n; i++) {
        free(f->f[i].name);
        free(f->f[i].value);
    }
    free(f->f);
    free(f->order);
    f->f = NULL;
    f->order = NULL;
    f->n = 0;
}

/* Bytewise order of a[0..an) and b[0..bn), the shorter first on a tie. */
static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;

    if (c != 0) return c;
    return an < bn ? -1 : an > bn;
}

static int name_cmp(const hs_form_field *a, const hs_form_field *b)
{
    return bytes_cmp(a->name, a->nlen, b->name, b->nlen);
}

static int value_cmp(const hs_form_field *a, const hs_form_field *b)
{
    return bytes_cmp(a->value, a->vlen, b->value, b->vlen);
}

/* Sort the indices a[0..n) of f's fields by cmp, equal ones keeping
 * their order (a stable merge sort: qsort has no context argument in
 * C11). tmp holds n indices. */
static void sort_by(const hs_form *f, size_t *a, size_t *tmp, size_t n,
                    int (*cmp)(const hs_form_field *, const hs_form_field *))
{
    size_t mid = n / 2, i = 0, j = mid, k = 0;

    if (n < 2) return;
    sort_by(f, a, tmp, mid, cmp);
    sort_by(f, a + mid, tmp, n - mid, cmp);
    while (i < mid && j < n)
        tmp[k++] = cmp(&f->f[a[j]], &f->f[a[i]]) < 0 ? a[j++] : a[i++];
    while (i < mid) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

hs_form_result hs_form_parse(const unsigned char *body, size_t len, hs_form *out)
{
    size_t i = 0, j, count = 0, k;
    size_t *tmp = NULL;
    hs_form_result r = HS_FORM_OK;

    memset(out, 0, sizeof *out);
    if (body == NULL && len > 0) return HS_FORM_BAD_ESCAPE;
    /* Count the non-empty pieces first: the array is exactly that size. */
    for (i = 0; i < len; i = j + 1) {
        for (j = i; j < len && body[j] != '&'; j++)
            ;
        if (j > i && ++count > HS_FORM_MAX_FIELDS) return HS_FORM_TOO_MANY;
    }
    if (count == 0) return HS_FORM_OK;
    if ((out->f = calloc(count, sizeof *out->f)) == NULL ||
        (out->order = malloc(count * sizeof *out->order)) == NULL ||
        (tmp = malloc(count * sizeof *tmp)) == NULL) {
        r = HS_FORM_ENOMEM;
        goto fail;
    }
    for (i = 0; i < len && r == HS_FORM_OK; i = j + 1) {
        const unsigned char *eq;
        size_t pl;

        for (j = i; j < len && body[j] != '&'; j++)
            ;
        if (j == i) continue;
        pl = j - i;
        eq = memchr(body + i, '=', pl);
        k = out->n++;
        r = decode(body + i, eq ? (size_t)(eq - body - i) : pl, &out->f[k].name, &out->f[k].nlen);
        if (r == HS_FORM_OK && eq != NULL)
            r = decode(eq + 1, (size_t)(body + j - eq - 1), &out->f[k].value, &out->f[k].vlen);
    }
    if (r != HS_FORM_OK) goto fail;
    for (k = 0; k < out->n; k++) out->order[k] = k;
    sort_by(out, out->order, tmp, out->n, name_cmp);
    free(tmp);
    return HS_FORM_OK;
fail:
    free(tmp);
    hs_form_free(out);
    return r;
}

const char *hs_form_strerror(hs_form_result r)
{
    switch (r) {
    case HS_FORM_OK:         return "ok";
    case HS_FORM_BAD_ESCAPE: return "a % not followed by two hex digits";
    case HS_FORM_BAD_UTF8:   return "a field that decodes to invalid UTF-8";
    case HS_FORM_TOO_MANY:   return "more fields than the limit";
    case HS_FORM_NO_FIELD:   return "the field holding the JSON event is absent";
    case HS_FORM_BAD_JSON:   return "the field holding the JSON event is not JSON";
    default:                 return "out of memory";
    }
}

int hs_form_json(const hs_form *f, hs_buf *out)
{
    size_t i, k, first = 1, *pos = NULL;

    /* pos[i]: where field i sits in f->order, so its equal names (its
     * neighbours there) are found without a quadratic scan. */
    if (f->n > 0 && (pos = malloc(f->n * sizeof *pos)) == NULL) return -1;
    for (k = 0; k < f->n; k++) pos[f->order[k]] = k;
    hs_buf_putc(out, '{');
    for (i = 0; i < f->n; i++) {
        size_t s = pos[i], e = pos[i] + 1;

        /* Written once, at its name's first field: the group's first. */
        if (s > 0 && name_cmp(&f->f[f->order[s - 1]], &f->f[i]) == 0) continue;
        while (e < f->n && name_cmp(&f->f[f->order[e]], &f->f[i]) == 0) e++;
        if (!first) hs_buf_putc(out, ',');
        first = 0;
        hs_buf_json_str(out, f->f[i].name ? f->f[i].name : "", f->f[i].nlen);
        hs_buf_putc(out, ':');
        if (e - s > 1) hs_buf_putc(out, '[');
        for (k = s; k < e; k++) {
            const hs_form_field *v = &f->f[f->order[k]];
            if (k > s) hs_buf_putc(out, ',');
            hs_buf_json_str(out, v->value ? v->value : "", v->vlen);
        }
        if (e - s > 1) hs_buf_putc(out, ']');
    }
    hs_buf_putc(out, '}');
    free(pos);
    return out->oom ? -1 : 0;
}

int hs_form_get(const hs_form *f, const char *name, size_t nlen,
                const char **v, size_t *vlen)
{
    size_t i;

    for (i = 0; i < f->n; i++) {
        if (f->f[i].nlen == nlen && (nlen == 0 || memcmp(f->f[i].name, name, nlen) == 0)) {
            *v = f->f[i].value ? f->f[i].value : "";
            *vlen = f->f[i].vlen;
            return 1;
        }
    }
    return 0;
}

int hs_form_sorted(const hs_form *f, hs_buf *out)
{
    size_t s, e, k, *vals, *tmp;

    if (f->n == 0) return 0;
    vals = malloc(f->n * sizeof *vals);
    tmp = malloc(f->n * sizeof *tmp);
    if (vals == NULL || tmp == NULL) {
        free(vals);
        free(tmp);
        return -1;
    }
    for (s = 0; s < f->n; s = e) {
        for (e = s + 1; e < f->n && name_cmp(&f->f[f->order[e]], &f->f[f->order[s]]) == 0; e++)
            ;
        /* A repeated name: its distinct values in order, as Twilio's
         * SDK signs an array parameter. */
        memcpy(vals, f->order + s, (e - s) * sizeof *vals);
        sort_by(f, vals, tmp, e - s, value_cmp);
        for (k = 0; k < e - s; k++) {
            const hs_form_field *x = &f->f[vals[k]];
            if (k > 0 && value_cmp(&f->f[vals[k - 1]], x) == 0) continue;
            if (x->nlen) hs_buf_append(out, x->name, x->nlen);
            if (x->vlen) hs_buf_append(out, x->value, x->vlen);
        }
    }
    free(vals);
    free(tmp);
    return out->oom ? -1 : 0;
}

int hs_form_content_type(const char *ct)
{
    size_t n = sizeof(HS_FORM_CONTENT_TYPE) - 1;

    if (ct == NULL) return 0;
    while (*ct == ' ' || *ct == '\t') ct++;
    if (strncasecmp(ct, HS_FORM_CONTENT_TYPE, n) != 0) return 0;
    ct += n;
    while (*ct == ' ' || *ct == '\t') ct++;
    return *ct == '\0' || *ct == ';';
}

hs_form_result hs_form_event(const unsigned char *body, size_t len, const char *field,
                             hs_buf *ev)
{
    hs_form f = HS_FORM_INIT;
    hs_form_result r = hs_form_parse(body, len, &f);
    const char *v;
    size_t vl;
    int jr;

    if (r != HS_FORM_OK) return r;
    if (field == NULL || field[0] == '\0') {
        r = hs_form_json(&f, ev) == 0 ? HS_FORM_OK : HS_FORM_ENOMEM;
    } else if (!hs_form_get(&f, field, strlen(field), &v, &vl)) {
        r = HS_FORM_NO_FIELD;
    } else {
        jr = hs_json_minify((const unsigned char *)v, vl, ev, NULL);
        r = jr == HS_JSON_OK ? HS_FORM_OK : jr == HS_JSON_ENOMEM ? HS_FORM_ENOMEM
                                                                 : HS_FORM_BAD_JSON;
    }
    hs_form_free(&f);
    return r;
}

int hs_form_signed(const unsigned char *body, size_t len, const char *query,
                   const char *hash_param, hs_buf *out)
{
    char hv[2 * 32 + 2];
    unsigned char want[32], got[32];
    unsigned int gl = 0;
    size_t hl = 0;
    hs_form f = HS_FORM_INIT;
    int st;

    if (hash_param != NULL) {
        st = hs_query_get(query, hash_param, strlen(hash_param), hv, sizeof hv, &hl);
        if (st == HS_QUERY_OK)
            return hs_codec_decode_exact(HS_ENC_HEX, hv, hl, sizeof want, want, sizeof want) == 0 &&
                   EVP_Digest(body, len, got, &gl, hs_crypto_sha256(), NULL) == 1 &&
                   gl == sizeof got && hs_crypto_equal(want, got, sizeof got) ? 0 : -1;
        if (st != HS_QUERY_ABSENT)
            return -1;
    }
    if (hs_form_parse(body, len, &f) != HS_FORM_OK)
        return -1;
    st = hs_form_sorted(&f, out);
    hs_form_free(&f);
    return st;
}
