/*
 * fuzz_json.c - hs_json_minify and hs_json_pointer against an independent
 * recursive-descent parser written here (nothing of lib/json.c is reused,
 * so a shared misreading of RFC 8259 cannot hide).
 *
 * The whole input is the JSON text. Properties:
 *  1. differential: the reference parser accepts exactly when minify does,
 *     with the same HS_JSON_* code and the same error offset (json.h: "the
 *     first offending byte"); the depth limit is part of the grammar both
 *     sides implement, so nothing is exempt;
 *  2. minify with and without an output buffer agree;
 *  3. accepted: the output is the input less its insignificant whitespace,
 *     parses to the same normalised token stream (strings as code points
 *     after decoding escapes, numbers as their exact text), is accepted
 *     again and minifies to itself byte for byte;
 *  4. hs_json_pointer on the output, with pointers built from the input
 *     (paths to nodes, raw bytes of the input, both mixed), answers what
 *     a reference resolver over the reference parse answers, with the
 *     span inside the text; on the raw input (not minified, maybe not
 *     JSON) it must stay in bounds all the same (json.c promises every
 *     read is bounded by len). Texts are copied into exact-size heap
 *     blocks first so ASan sees any read past the end.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Abort with a message: libFuzzer records the input as a crash. */
#define REQUIRE(cond, ...) do { \
    if (!(cond)) { \
        fprintf(stderr, "fuzz_json: property failed: %s: ", #cond); \
        fprintf(stderr, __VA_ARGS__); \
        fputc('\n', stderr); \
        abort(); \
    } \
} while (0)

/* Pointers tried per input: node paths, and how long a raw one may be. */
#define NODE_PICKS   8
#define RAW_PTR_MAX  128

/* ------------------------------------------------------------------ */
/* A growable byte array (the harness's own, not hs_buf). */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} bytes;

static void b_put(bytes *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->len + n) nc *= 2;
        b->p = realloc(b->p, nc);
        if (b->p == NULL) abort();
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void b_byte(bytes *b, unsigned char c) { b_put(b, &c, 1); }

static void b_u32(bytes *b, uint32_t v)
{
    unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8), (unsigned char)v };
    b_put(b, x, 4);
}

/* A copy of p[0..n) in a block of exactly n bytes (1 for n == 0, as
 * malloc(0) may return NULL), so ASan flags a read at p[n]. */
static char *exact_copy(const void *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (c == NULL) abort();
    if (n) memcpy(c, p, n);
    return c;
}

/* ------------------------------------------------------------------ */
/* The reference parser. */

typedef struct {
    size_t start, end;      /* the value's bytes in the text */
    size_t parent;          /* SIZE_MAX for the root */
    size_t key_off, key_len;/* member name, decoded to UTF-8, in names */
    int    key_lone;        /* the name holds a lone surrogate */
    size_t index;           /* position among its parent's values */
    unsigned char kind;     /* '{' '[' '"' '0' (number) 't' 'f' 'n' */
} node;

typedef struct {
    const unsigned char *s;
    size_t n, i;
    int    err;             /* HS_JSON_* */
    size_t err_off;
    unsigned depth;
    size_t ws;              /* insignificant whitespace bytes */
    bytes  toks;            /* normalised token stream */
    bytes  names;
    node  *nodes;
    size_t nnodes, ncap;
} ref;

static int ref_fail(ref *r, int code, size_t off)
{
    if (r->err == HS_JSON_OK) {
        r->err = code;
        r->err_off = off;
    }
    return -1;
}

static void ref_ws(ref *r)
{
    while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' ||
                           r->s[r->i] == '\n' || r->s[r->i] == '\r')) {
        r->i++;
        r->ws++;
    }
}

static size_t ref_node(ref *r, size_t parent, unsigned char kind)
{
    node *nd;
    if (r->nnodes == r->ncap) {
        r->ncap = r->ncap ? 2 * r->ncap : 64;
        r->nodes = realloc(r->nodes, r->ncap * sizeof(*r->nodes));
        if (r->nodes == NULL) abort();
    }
    nd = &r->nodes[r->nnodes];
    memset(nd, 0, sizeof(*nd));
    nd->start = r->i;
    nd->parent = parent;
    nd->kind = kind;
    return r->nnodes++;
}

static int hexd(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* UTF-8 (or WTF-8 for a lone surrogate) of cp appended to b. */
static void put_utf8(bytes *b, uint32_t cp)
{
    if (cp < 0x80) {
        b_byte(b, (unsigned char)cp);
    } else if (cp < 0x800) {
        b_byte(b, (unsigned char)(0xc0 | cp >> 6));
        b_byte(b, (unsigned char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        b_byte(b, (unsigned char)(0xe0 | cp >> 12));
        b_byte(b, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
        b_byte(b, (unsigned char)(0x80 | (cp & 0x3f)));
    } else {
        b_byte(b, (unsigned char)(0xf0 | cp >> 18));
        b_byte(b, (unsigned char)(0x80 | ((cp >> 12) & 0x3f)));
        b_byte(b, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
        b_byte(b, (unsigned char)(0x80 | (cp & 0x3f)));
    }
}

/*
 * Decode one UTF-8 sequence at s[i] from first principles (lead byte
 * gives the length; continuation bytes 10xxxxxx; then the code point must
 * not be overlong, a surrogate or above U+10FFFF). 0 when invalid or cut.
 */
static size_t utf8_decode(const unsigned char *s, size_t n, size_t i, uint32_t *cp)
{
    unsigned char c = s[i];
    size_t len, k;
    uint32_t v, min;

    if (c >= 0xc0 && c < 0xe0) { len = 2; v = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c < 0xf0) { len = 3; v = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c < 0xf8) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if (n - i < len) return 0;
    for (k = 1; k < len; k++) {
        if ((s[i + k] & 0xc0) != 0x80) return 0;
        v = v << 6 | (s[i + k] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

/* Four hex digits at s[i]: the value, or -1 with the error set at the
 * first bad digit (or at the end of the text). */
static long ref_hex4(ref *r, size_t i)
{
    long v = 0;
    int k, d;
    for (k = 0; k < 4; k++) {
        if (i + (size_t)k >= r->n) { ref_fail(r, HS_JSON_ESYNTAX, r->n); return -1; }
        if ((d = hexd(r->s[i + (size_t)k])) < 0) {
            ref_fail(r, HS_JSON_ESYNTAX, i + (size_t)k);
            return -1;
        }
        v = v << 4 | d;
    }
    return v;
}

/*
 * The string at s[i] == '"'. Emits 's', the code points, and an end
 * marker (0xffffffff, no code point) to the token stream; with name,
 * also the decoded UTF-8 to names and whether a lone surrogate was met.
 */
static int ref_string(ref *r, size_t *name_off, size_t *name_len, int *lone)
{
    uint32_t cp;
    size_t k;
    long hi, lo;

    b_byte(&r->toks, 's');
    if (name_off) *name_off = r->names.len;
    if (lone) *lone = 0;
    r->i++;
    for (;;) {
        unsigned char c;
        if (r->i >= r->n) return ref_fail(r, HS_JSON_ESYNTAX, r->n);
        c = r->s[r->i];
        if (c == '"') { r->i++; break; }
        if (c < 0x20) return ref_fail(r, HS_JSON_ESYNTAX, r->i);
        if (c == '\\') {
            if (r->i + 1 >= r->n) return ref_fail(r, HS_JSON_ESYNTAX, r->n);
            switch (r->s[r->i + 1]) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = 8; break;
            case 'f': cp = 12; break;
            case 'n': cp = 10; break;
            case 'r': cp = 13; break;
            case 't': cp = 9; break;
            case 'u':
                if ((hi = ref_hex4(r, r->i + 2)) < 0) return -1;
                r->i += 6;
                cp = (uint32_t)hi;
                /* A high surrogate escape directly followed by a low one
                 * is one code point; anything else stays lone. */
                if (hi >= 0xd800 && hi <= 0xdbff && r->n - r->i >= 6 &&
                    r->s[r->i] == '\\' && r->s[r->i + 1] == 'u') {
                    int ok = 1;
                    lo = 0;
                    for (k = 0; k < 4; k++) {
                        int d = hexd(r->s[r->i + 2 + k]);
                        if (d < 0) { ok = 0; break; }
                        lo = lo << 4 | d;
                    }
                    if (ok && lo >= 0xdc00 && lo <= 0xdfff) {
                        cp = 0x10000 + (uint32_t)((hi - 0xd800) << 10) + (uint32_t)(lo - 0xdc00);
                        r->i += 6;
                    }
                }
                if (cp >= 0xd800 && cp <= 0xdfff && lone) *lone = 1;
                b_u32(&r->toks, cp);
                if (name_off) put_utf8(&r->names, cp);
                continue;
            default:
                return ref_fail(r, HS_JSON_ESYNTAX, r->i + 1);
            }
            r->i += 2;
        } else if (c < 0x80) {
            cp = c;
            r->i++;
        } else {
            size_t l = utf8_decode(r->s, r->n, r->i, &cp);
            if (l == 0) return ref_fail(r, HS_JSON_EUTF8, r->i);
            r->i += l;
        }
        b_u32(&r->toks, cp);
        if (name_off) put_utf8(&r->names, cp);
    }
    b_u32(&r->toks, 0xffffffffu);
    if (name_len) *name_len = r->names.len - *name_off;
    return 0;
}

static int isdig(unsigned char c) { return c >= '0' && c <= '9'; }

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, emitted as its text. */
static int ref_number(ref *r)
{
    size_t st = r->i;
    if (r->s[r->i] == '-') r->i++;
    if (r->i >= r->n) return ref_fail(r, HS_JSON_ESYNTAX, r->n);
    if (r->s[r->i] == '0') r->i++;
    else if (isdig(r->s[r->i])) while (r->i < r->n && isdig(r->s[r->i])) r->i++;
    else return ref_fail(r, HS_JSON_ESYNTAX, r->i);
    if (r->i < r->n && r->s[r->i] == '.') {
        r->i++;
        if (r->i >= r->n) return ref_fail(r, HS_JSON_ESYNTAX, r->n);
        if (!isdig(r->s[r->i])) return ref_fail(r, HS_JSON_ESYNTAX, r->i);
        while (r->i < r->n && isdig(r->s[r->i])) r->i++;
    }
    if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
        r->i++;
        if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-')) r->i++;
        if (r->i >= r->n) return ref_fail(r, HS_JSON_ESYNTAX, r->n);
        if (!isdig(r->s[r->i])) return ref_fail(r, HS_JSON_ESYNTAX, r->i);
        while (r->i < r->n && isdig(r->s[r->i])) r->i++;
    }
    b_byte(&r->toks, 'n');
    b_u32(&r->toks, (uint32_t)(r->i - st));
    b_put(&r->toks, r->s + st, r->i - st);
    return 0;
}

static int ref_literal(ref *r, const char *lit)
{
    for (; *lit; lit++, r->i++) {
        if (r->i >= r->n) return ref_fail(r, HS_JSON_ESYNTAX, r->n);
        if (r->s[r->i] != (unsigned char)*lit) return ref_fail(r, HS_JSON_ESYNTAX, r->i);
    }
    return 0;
}

/* One value at r->i (whitespace already skipped), a child of parent. */
static int ref_value(ref *r, size_t parent, size_t *out_node)
{
    size_t me, count = 0, child, koff = 0, klen = 0;
    int lone = 0;
    unsigned char c;

    if (r->i >= r->n) return ref_fail(r, HS_JSON_ESYNTAX, r->n);
    c = r->s[r->i];
    switch (c) {
    case '{':
    case '[':
        if (r->depth == HS_JSON_MAX_DEPTH) return ref_fail(r, HS_JSON_EDEPTH, r->i);
        me = ref_node(r, parent, c);
        r->depth++;
        b_byte(&r->toks, c);
        r->i++;
        ref_ws(r);
        if (r->i < r->n && r->s[r->i] == (c == '{' ? '}' : ']')) {
            r->i++;
        } else {
            for (;;) {
                if (c == '{') {
                    if (r->i >= r->n) return ref_fail(r, HS_JSON_ESYNTAX, r->n);
                    if (r->s[r->i] != '"') return ref_fail(r, HS_JSON_ESYNTAX, r->i);
                    if (ref_string(r, &koff, &klen, &lone) != 0) return -1;
                    ref_ws(r);
                    if (r->i >= r->n) return ref_fail(r, HS_JSON_ESYNTAX, r->n);
                    if (r->s[r->i] != ':') return ref_fail(r, HS_JSON_ESYNTAX, r->i);
                    b_byte(&r->toks, ':');
                    r->i++;
                    ref_ws(r);
                }
                if (ref_value(r, me, &child) != 0) return -1;
                r->nodes[child].index = count++;
                if (c == '{') {
                    r->nodes[child].key_off = koff;
                    r->nodes[child].key_len = klen;
                    r->nodes[child].key_lone = lone;
                }
                ref_ws(r);
                if (r->i >= r->n) return ref_fail(r, HS_JSON_ESYNTAX, r->n);
                if (r->s[r->i] == ',') {
                    b_byte(&r->toks, ',');
                    r->i++;
                    ref_ws(r);
                    continue;
                }
                if (r->s[r->i] == (c == '{' ? '}' : ']')) { r->i++; break; }
                return ref_fail(r, HS_JSON_ESYNTAX, r->i);
            }
        }
        r->depth--;
        b_byte(&r->toks, c == '{' ? '}' : ']');
        r->nodes[me].end = r->i;
        *out_node = me;
        return 0;
    case '"':
        me = ref_node(r, parent, '"');
        if (ref_string(r, NULL, NULL, NULL) != 0) return -1;
        break;
    case 't':
        me = ref_node(r, parent, 't');
        b_byte(&r->toks, 't');
        if (ref_literal(r, "true") != 0) return -1;
        break;
    case 'f':
        me = ref_node(r, parent, 'f');
        b_byte(&r->toks, 'f');
        if (ref_literal(r, "false") != 0) return -1;
        break;
    case 'n':
        me = ref_node(r, parent, 'n');
        b_byte(&r->toks, 'z');
        if (ref_literal(r, "null") != 0) return -1;
        break;
    default:
        if (c != '-' && !isdig(c)) return ref_fail(r, HS_JSON_ESYNTAX, r->i);
        me = ref_node(r, parent, '0');
        if (ref_number(r) != 0) return -1;
        break;
    }
    r->nodes[me].end = r->i;
    *out_node = me;
    return 0;
}

/* Parse s[0..n) as one JSON text. Returns r->err. */
static int ref_parse(ref *r, const unsigned char *s, size_t n)
{
    size_t root;
    memset(r, 0, sizeof(*r));
    r->s = s;
    r->n = n;
    /* RFC 8259 section 8.1: no byte-order mark; json.h counts it as UTF-8 misuse. */
    if (n >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf) {
        ref_fail(r, HS_JSON_EUTF8, 0);
    } else {
        ref_ws(r);
        if (r->i == n) {
            ref_fail(r, HS_JSON_EEMPTY, n);
        } else if (ref_value(r, SIZE_MAX, &root) == 0) {
            ref_ws(r);
            if (r->i != n) ref_fail(r, HS_JSON_ESYNTAX, r->i);
        }
    }
    return r->err;
}

static void ref_free(ref *r)
{
    free(r->toks.p);
    free(r->names.p);
    free(r->nodes);
}

/* ------------------------------------------------------------------ */
/* The reference pointer resolver over a parse of a valid text. */

/* Decode the pointer token t[0..tn) (~0 ~1 already checked) into out. */
static void token_decode(const char *t, size_t tn, bytes *out)
{
    size_t k;
    out->len = 0;
    for (k = 0; k < tn; k++) {
        if (t[k] == '~') { b_byte(out, t[k + 1] == '0' ? '~' : '/'); k++; }
        else b_byte(out, (unsigned char)t[k]);
    }
}

/* RFC 6901 array index: "0" or [1-9][0-9]* that fits; else -1. */
static int token_idx(const char *t, size_t tn, size_t *idx)
{
    size_t k, v = 0;
    if (tn == 0 || (tn > 1 && t[0] == '0')) return -1;
    for (k = 0; k < tn; k++) {
        if (!isdig((unsigned char)t[k])) return -1;
        if (v > (SIZE_MAX - (size_t)(t[k] - '0')) / 10) return -1;
        v = v * 10 + (size_t)(t[k] - '0');
    }
    *idx = v;
    return 0;
}

/* -1 invalid pointer, 0 nothing, 1 found (node index in *out). */
static int ref_resolve(const ref *r, const char *p, size_t pn, size_t *out)
{
    size_t k, ts, te, cur = 0, j, idx;
    bytes tok = { NULL, 0, 0 };
    int rc = 1;

    if (pn > 0 && p[0] != '/') return -1;
    for (k = 0; k < pn; k++)
        if (p[k] == '~' && (k + 1 == pn || (p[k + 1] != '0' && p[k + 1] != '1'))) return -1;
    for (ts = 1; ts <= pn && rc == 1; ts = te + 1) {
        size_t found = SIZE_MAX;
        for (te = ts; te < pn && p[te] != '/'; te++)
            ;
        if (r->nodes[cur].kind == '{') {
            token_decode(p + ts, te - ts, &tok);
            /* The first member of that name wins (json.h). */
            for (j = cur + 1; j < r->nnodes && r->nodes[j].start < r->nodes[cur].end; j++) {
                const node *c = &r->nodes[j];
                if (c->parent != cur || c->key_lone || c->key_len != tok.len) continue;
                if (tok.len == 0 || memcmp(r->names.p + c->key_off, tok.p, tok.len) == 0) {
                    found = j;
                    break;
                }
            }
        } else if (r->nodes[cur].kind == '[' && token_idx(p + ts, te - ts, &idx) == 0) {
            for (j = cur + 1; j < r->nnodes && r->nodes[j].start < r->nodes[cur].end; j++)
                if (r->nodes[j].parent == cur && r->nodes[j].index == idx) { found = j; break; }
        }
        if (found == SIZE_MAX) rc = 0;
        else cur = found;
    }
    free(tok.p);
    if (rc == 1) *out = cur;
    return rc;
}

/* The pointer to node k: its path from the root, escaped. 0, or -1 when
 * a name on the way has a lone surrogate (no pointer can spell it). */
static int node_path(const ref *r, size_t k, bytes *out)
{
    size_t chain[HS_JSON_MAX_DEPTH + 2], nc = 0, i, j;
    char num[32];

    out->len = 0;
    while (k != 0 && nc < sizeof(chain) / sizeof(chain[0])) {
        chain[nc++] = k;
        k = r->nodes[k].parent;
    }
    for (i = nc; i-- > 0;) {
        const node *nd = &r->nodes[chain[i]];
        b_byte(out, '/');
        if (r->nodes[nd->parent].kind == '[') {
            int l = snprintf(num, sizeof(num), "%zu", nd->index);
            b_put(out, num, (size_t)l);
            continue;
        }
        if (nd->key_lone) return -1;
        for (j = 0; j < nd->key_len; j++) {
            unsigned char c = r->names.p[nd->key_off + j];
            if (c == '~') b_put(out, "~0", 2);
            else if (c == '/') b_put(out, "~1", 2);
            else b_byte(out, c);
        }
    }
    return 0;
}

/* hs_json_pointer on the exact-size text against the reference. */
static void check_pointer(const ref *r, const char *text, size_t tn,
                          const unsigned char *ptr, size_t pn)
{
    char *pc = exact_copy(ptr, pn);
    const char *val = NULL;
    size_t vl = 0, want_node = 0;
    int got = hs_json_pointer(text, tn, pc, pn, &val, &vl);
    int want = ref_resolve(r, pc, pn, &want_node);

    REQUIRE(got == want, "pointer [%.*s]: hs_json_pointer %d, reference %d",
            (int)pn, (const char *)ptr, got, want);
    if (got == 1) {
        const node *nd = &r->nodes[want_node];
        REQUIRE(val >= text && vl <= tn && (size_t)(val - text) <= tn - vl,
                "span outside the text");
        REQUIRE((size_t)(val - text) == nd->start && vl == nd->end - nd->start,
                "pointer [%.*s]: span %zu+%zu, reference %zu+%zu", (int)pn,
                (const char *)ptr, (size_t)(val - text), vl, nd->start, nd->end - nd->start);
    }
    free(pc);
}

/* hs_json_pointer on text that is not (known to be) minified JSON: only
 * bounds matter. */
static void probe_pointer(const char *text, size_t tn, const unsigned char *ptr, size_t pn)
{
    char *pc = exact_copy(ptr, pn);
    const char *val = NULL;
    size_t vl = 0;
    int got = hs_json_pointer(text, tn, pc, pn, &val, &vl);
    REQUIRE(got >= -1 && got <= 1, "result %d", got);
    if (got == 1)
        REQUIRE(val >= text && vl <= tn && (size_t)(val - text) <= tn - vl,
                "span outside the text");
    free(pc);
}

/* FNV-1a: picks which nodes and bytes to try, stable per input. */
static uint64_t fnv(const uint8_t *d, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ d[i]) * 1099511628211ull;
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_buf out = HS_BUF_INIT, again = HS_BUF_INIT;
    ref rin, rout;
    size_t off = (size_t)-1, off2 = (size_t)-1, i, rawlen = 0;
    const unsigned char *raw = NULL;
    bytes ptr = { NULL, 0, 0 };
    char *text, *input;
    uint64_t h = fnv(data, size);
    int rc, rc2, want;

    rc = hs_json_minify(data, size, &out, &off);
    rc2 = hs_json_minify(data, size, NULL, &off2);
    want = ref_parse(&rin, data, size);
    REQUIRE(rc == rc2 && (rc == HS_JSON_OK || off == off2),
            "with output %d@%zu, without %d@%zu", rc, off, rc2, off2);
    REQUIRE(rc == want, "hs_json_minify %s, reference %s (at %zu / %zu)",
            hs_json_strerror(rc), hs_json_strerror(want), off, rin.err_off);
    if (rc != HS_JSON_OK)
        REQUIRE(off == rin.err_off, "%s at %zu, reference at %zu",
                hs_json_strerror(rc), off, rin.err_off);

    /* A raw pointer from the input: from its first '/', a bounded run. */
    for (i = 0; i < size; i++)
        if (data[i] == '/') {
            raw = data + i;
            rawlen = size - i < RAW_PTR_MAX ? size - i : RAW_PTR_MAX;
            break;
        }

    /* Whatever the input, the lookup stays inside it. */
    input = exact_copy(data, size);
    probe_pointer(input, size, (const unsigned char *)"", 0);
    if (raw) probe_pointer(input, size, raw, rawlen);
    probe_pointer(input, size, (const unsigned char *)"/0/a/1", 6);
    free(input);

    if (rc == HS_JSON_OK) {
        REQUIRE(out.len == size - rin.ws, "output %zu bytes, input %zu less %zu whitespace",
                out.len, size, rin.ws);
        text = exact_copy(out.p, out.len);
        REQUIRE(ref_parse(&rout, (const unsigned char *)text, out.len) == HS_JSON_OK,
                "output rejected by the reference: %s at %zu",
                hs_json_strerror(rout.err), rout.err_off);
        REQUIRE(rout.ws == 0, "output keeps %zu whitespace bytes", rout.ws);
        REQUIRE(rout.toks.len == rin.toks.len &&
                memcmp(rout.toks.p, rin.toks.p, rin.toks.len) == 0,
                "output is a different value");
        REQUIRE(hs_json_minify((const unsigned char *)text, out.len, &again, NULL) == HS_JSON_OK,
                "output rejected");
        REQUIRE(again.len == out.len && memcmp(again.p, out.p, out.len) == 0,
                "minifying twice changed the text");

        check_pointer(&rout, text, out.len, (const unsigned char *)"", 0);
        for (i = 0; i < NODE_PICKS && rout.nnodes > 0; i++) {
            size_t k = (size_t)((h + i * 7919u) % rout.nnodes);
            if (node_path(&rout, k, &ptr) != 0) continue;
            check_pointer(&rout, text, out.len, ptr.p, ptr.len);
            if (raw) {
                /* The path, then input bytes: a near miss of real names. */
                b_put(&ptr, raw, rawlen);
                check_pointer(&rout, text, out.len, ptr.p, ptr.len);
            }
        }
        if (raw) check_pointer(&rout, text, out.len, raw, rawlen);
        free(text);
        ref_free(&rout);
    }
    free(ptr.p);
    ref_free(&rin);
    hs_buf_free(&out);
    hs_buf_free(&again);
    return 0;
}
