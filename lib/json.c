/*
 * json.c - strict RFC 8259 validation and minifying, byte for byte;
 * RFC 6901 JSON Pointer lookup on the minified text.
 *
 * One forward pass, no recursion, no allocation besides the caller's
 * output buffer: the nesting is a bit stack of HS_JSON_MAX_DEPTH bits.
 * Output is never re-encoded; the minifier copies the input in runs and
 * only cuts a run where whitespace between tokens is dropped, so a body
 * that is already minified costs one memcpy.
 */
#include "json.h"

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>   /* baseline on x86-64: no CPU dispatch needed */
#endif

/* Bytes needed for one bit per nesting level. */
#define DEPTH_BYTES ((HS_JSON_MAX_DEPTH + 7) / 8)

/* Hex digits after "\u". */
#define UESC_DIGITS 4

/*
 * Byte classes inside a string. SC_OK is the common case the scanner
 * loops over; the UTF-8 lead classes carry the allowed range of the
 * second byte (Unicode 15, table 3-7) so overlongs, surrogates and code
 * points above U+10FFFF are refused by the same range check.
 */
enum {
    SC_OK = 0,  /* 0x20..0x7f except '"' and '\\': copied as is */
    SC_QT,      /* '"' ends the string */
    SC_BS,      /* '\\' starts an escape */
    SC_CT,      /* control character < 0x20: must be escaped */
    SC_U2,      /* c2..df: one continuation byte */
    SC_E0,      /* e0: a0..bf then one more (no overlong) */
    SC_U3,      /* e1..ec, ee..ef: two continuation bytes */
    SC_ED,      /* ed: 80..9f then one more (no surrogates) */
    SC_F0,      /* f0: 90..bf then two more (no overlong) */
    SC_U4,      /* f1..f3: three continuation bytes */
    SC_F4,      /* f4: 80..8f then two more (<= U+10FFFF) */
    SC_XX       /* 80..c1, f5..ff: never valid as a first byte */
};

#define O SC_OK
#define Q SC_QT
#define B SC_BS
#define C SC_CT
#define X SC_XX
static const unsigned char str_class[256] = {
    C, C, C, C, C, C, C, C, C, C, C, C, C, C, C, C,  /* 00 */
    C, C, C, C, C, C, C, C, C, C, C, C, C, C, C, C,  /* 10 */
    O, O, Q, O, O, O, O, O, O, O, O, O, O, O, O, O,  /* 20 */
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,  /* 30 */
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,  /* 40 */
    O, O, O, O, O, O, O, O, O, O, O, O, B, O, O, O,  /* 50 */
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,  /* 60 */
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,  /* 70 */
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,  /* 80 */
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,  /* 90 */
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,  /* a0 */
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,  /* b0 */
    X, X, SC_U2, SC_U2, SC_U2, SC_U2, SC_U2, SC_U2,  /* c0 */
    SC_U2, SC_U2, SC_U2, SC_U2, SC_U2, SC_U2, SC_U2, SC_U2,
    SC_U2, SC_U2, SC_U2, SC_U2, SC_U2, SC_U2, SC_U2, SC_U2,  /* d0 */
    SC_U2, SC_U2, SC_U2, SC_U2, SC_U2, SC_U2, SC_U2, SC_U2,
    SC_E0, SC_U3, SC_U3, SC_U3, SC_U3, SC_U3, SC_U3, SC_U3,  /* e0 */
    SC_U3, SC_U3, SC_U3, SC_U3, SC_U3, SC_ED, SC_U3, SC_U3,
    SC_F0, SC_U4, SC_U4, SC_U4, SC_F4, X, X, X,              /* f0 */
    X, X, X, X, X, X, X, X
};
#undef O
#undef Q
#undef B
#undef C
#undef X

/* Parser states: what the next token may be. */
enum {
    ST_VALUE,       /* a value (top level, after ':' or an array's ',') */
    ST_ARR_FIRST,   /* a value or ']' (just after '[') */
    ST_KEY,         /* a member name (after an object's ',') */
    ST_OBJ_FIRST,   /* a member name or '}' (just after '{') */
    ST_COLON,       /* ':' after a member name */
    ST_AFTER        /* ',' or the closing bracket, or the end at top level */
};

/* RFC 8259 section 2: the only four insignificant whitespace bytes. */
static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Value of one hex digit, or -1. */
static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/*
 * Length (2..4) of the multi-byte UTF-8 sequence at in[i], whose first
 * byte has string class cls, or 0 if it is invalid or cut off by the end
 * of the input at len. Only the second byte's range depends on the lead
 * byte; the others are plain continuation bytes 80..bf.
 */
static size_t utf8_seq(const unsigned char *in, size_t i, size_t len, int cls)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n, k;

    switch (cls) {
    case SC_U2: n = 2; break;
    case SC_E0: n = 3; lo = 0xa0; break;
    case SC_U3: n = 3; break;
    case SC_ED: n = 3; hi = 0x9f; break;
    case SC_F0: n = 4; lo = 0x90; break;
    case SC_U4: n = 4; break;
    case SC_F4: n = 4; hi = 0x8f; break;
    default: return 0;
    }
    if (len - i < n) return 0;
    if (in[i + 1] < lo || in[i + 1] > hi) return 0;
    for (k = 2; k < n; k++)
        if ((in[i + k] & 0xc0) != 0x80) return 0;
    return n;
}

/*
 * Index of the first byte at or after i that is not plain string ASCII
 * (a quote, a backslash, a control character or a byte >= 0x80), or
 * len. Sixteen bytes per step with SSE2: read as signed bytes, every
 * byte >= 0x80 and every control character compares less than 0x20.
 */
static size_t skip_plain(const unsigned char *in, size_t i, size_t len)
{
#if defined(__SSE2__)
    const __m128i sp = _mm_set1_epi8(0x20), qt = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
    while (len - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
        int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(v, sp),
                                               _mm_or_si128(_mm_cmpeq_epi8(v, qt),
                                                            _mm_cmpeq_epi8(v, bs))));
        if (m != 0) return i + (size_t)__builtin_ctz((unsigned)m);
        i += 16;
    }
#endif
    while (i < len && str_class[in[i]] == SC_OK)
        i++;
    return i;
}

/* Index of the first byte at or after i that is not JSON whitespace, or
 * len; SSE2 as above for the long indentation runs of pretty JSON. */
static size_t skip_ws(const unsigned char *in, size_t i, size_t len)
{
#if defined(__SSE2__)
    const __m128i a = _mm_set1_epi8(' '), b = _mm_set1_epi8('\n'),
                  c = _mm_set1_epi8('\t'), d = _mm_set1_epi8('\r');
    while (len - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
        __m128i w = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, a), _mm_cmpeq_epi8(v, b)),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, c), _mm_cmpeq_epi8(v, d)));
        unsigned m = (unsigned)_mm_movemask_epi8(w) ^ 0xffffu;
        if (m != 0) return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
#endif
    while (i < len && is_ws(in[i]))
        i++;
    return i;
}

/*
 * Scan the string whose opening quote is at in[*pos]. On success
 * returns HS_JSON_OK with *pos just past the closing quote. On error
 * returns HS_JSON_ESYNTAX or HS_JSON_EUTF8 with *pos at the first
 * offending byte (len when the input ends inside the string). Escapes
 * are checked, never decoded: the caller copies the bytes as sent.
 */
static int scan_string(const unsigned char *in, size_t len, size_t *pos)
{
    size_t i = *pos + 1, n, k;
    int cls;

    for (;;) {
        /* The hot loop: plain ASCII. */
        i = skip_plain(in, i, len);
        if (i == len) break;
        cls = str_class[in[i]];
        switch (cls) {
        case SC_QT:
            *pos = i + 1;
            return HS_JSON_OK;
        case SC_BS:
            if (len - i < 2) { i = len; goto syntax; }
            switch (in[i + 1]) {
            case '"': case '\\': case '/':
            case 'b': case 'f': case 'n': case 'r': case 't':
                i += 2;
                break;
            case 'u':
                for (k = 0; k < UESC_DIGITS; k++) {
                    if (i + 2 + k >= len) { i = len; goto syntax; }
                    if (hex_val(in[i + 2 + k]) < 0) { i += 2 + k; goto syntax; }
                }
                i += 2 + UESC_DIGITS;
                break;
            default:
                i++;
                goto syntax;
            }
            break;
        case SC_CT:
            goto syntax;
        default:
            if ((n = utf8_seq(in, i, len, cls)) == 0) {
                *pos = i;
                return HS_JSON_EUTF8;
            }
            i += n;
            break;
        }
    }
syntax:
    *pos = i;
    return HS_JSON_ESYNTAX;
}

/*
 * Scan the number starting at in[*pos] ('-' or a digit):
 *   -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * On success *pos is just past it; what may follow is the caller's
 * business, so "01" is a "0" followed by an unexpected "1". On error
 * *pos is the offending byte (len if the input ends too soon).
 */
static int scan_number(const unsigned char *in, size_t len, size_t *pos)
{
    size_t i = *pos;

    if (in[i] == '-') i++;
    if (i == len) goto syntax;
    if (in[i] == '0') {
        i++;
    } else if (is_digit(in[i])) {
        while (i < len && is_digit(in[i])) i++;
    } else {
        goto syntax;
    }
    if (i < len && in[i] == '.') {
        i++;
        if (i == len || !is_digit(in[i])) goto syntax;
        while (i < len && is_digit(in[i])) i++;
    }
    if (i < len && (in[i] == 'e' || in[i] == 'E')) {
        i++;
        if (i < len && (in[i] == '+' || in[i] == '-')) i++;
        if (i == len || !is_digit(in[i])) goto syntax;
        while (i < len && is_digit(in[i])) i++;
    }
    *pos = i;
    return HS_JSON_OK;
syntax:
    *pos = i;
    return HS_JSON_ESYNTAX;
}

/*
 * Scan the literal lit (true, false or null) at in[*pos]. On error
 * *pos is the first byte that differs (len if the input ends).
 */
static int scan_literal(const unsigned char *in, size_t len, size_t *pos,
                        const char *lit)
{
    size_t i = *pos;

    for (; *lit != '\0'; lit++, i++) {
        if (i == len || in[i] != (unsigned char)*lit) {
            *pos = i;
            return HS_JSON_ESYNTAX;
        }
    }
    *pos = i;
    return HS_JSON_OK;
}

/* Append n bytes to out, whose room hs_json_minify reserved up front
 * (the output never exceeds the input): a plain copy per run, without
 * hs_buf_append's check and NUL per call. The NUL is written at the end. */
static void put(hs_buf *out, const unsigned char *src, size_t n)
{
    memcpy(out->p + out->len, src, n);
    out->len += n;
}

/*
 * Validate in[0..len) as exactly one JSON text and, if out is non-NULL,
 * append it with the whitespace between tokens removed. See json.h for
 * the full contract. err_off gets 0 for HS_JSON_ENOMEM raised before
 * the first byte is read (out could not take len more bytes).
 */
int hs_json_minify(const unsigned char *in, size_t len, hs_buf *out,
                   size_t *err_off)
{
    unsigned char stack[DEPTH_BYTES];   /* bit set: that level is an object */
    size_t depth = 0, i = 0, run = 0;
    int state = ST_VALUE, rc = HS_JSON_OK, obj;
    unsigned char c;

    /* RFC 8259 section 8.1: a sender must not add a BOM; refuse it
     * outright rather than let it pass as a stray byte. */
    if (len >= 3 && in[0] == 0xef && in[1] == 0xbb && in[2] == 0xbf) {
        rc = HS_JSON_EUTF8;
        goto fail;
    }
    /* The output is never longer than the input: reserve once so the
     * appends below cannot fail half way and never reallocate. */
    if (out != NULL && hs_buf_reserve(out, len) != 0) {
        rc = HS_JSON_ENOMEM;
        goto fail;
    }

    for (;;) {
        if (i < len && is_ws(in[i])) {
            /* Cut the run here: everything before is kept as sent. */
            if (out != NULL && i > run) put(out, in + run, i - run);
            i = skip_ws(in, i + 1, len);
            run = i;
        }
        if (i == len) break;
        c = in[i];

        switch (state) {
        case ST_OBJ_FIRST:
        case ST_ARR_FIRST:
            if (c == (state == ST_OBJ_FIRST ? '}' : ']')) {
                depth--;
                i++;
                state = ST_AFTER;
                break;
            }
            if (state == ST_OBJ_FIRST) goto key;
            goto value;
        case ST_KEY:
        key:
            if (c != '"') { rc = HS_JSON_ESYNTAX; goto fail; }
            if ((rc = scan_string(in, len, &i)) != HS_JSON_OK) goto fail;
            state = ST_COLON;
            break;
        case ST_COLON:
            if (c != ':') { rc = HS_JSON_ESYNTAX; goto fail; }
            i++;
            state = ST_VALUE;
            break;
        case ST_VALUE:
        value:
            switch (c) {
            case '{':
            case '[':
                if (depth == HS_JSON_MAX_DEPTH) { rc = HS_JSON_EDEPTH; goto fail; }
                if (c == '{')
                    stack[depth / 8] |= (unsigned char)(1u << (depth % 8));
                else
                    stack[depth / 8] &= (unsigned char)~(1u << (depth % 8));
                depth++;
                i++;
                state = c == '{' ? ST_OBJ_FIRST : ST_ARR_FIRST;
                continue;   /* the container's contents come next */
            case '"':
                rc = scan_string(in, len, &i);
                break;
            case 't': rc = scan_literal(in, len, &i, "true"); break;
            case 'f': rc = scan_literal(in, len, &i, "false"); break;
            case 'n': rc = scan_literal(in, len, &i, "null"); break;
            case '-': case '0': case '1': case '2': case '3': case '4':
            case '5': case '6': case '7': case '8': case '9':
                rc = scan_number(in, len, &i);
                break;
            default:
                rc = HS_JSON_ESYNTAX;
                break;
            }
            if (rc != HS_JSON_OK) goto fail;
            state = ST_AFTER;
            break;
        case ST_AFTER:
            /* At top level the value is complete: anything but
             * whitespace (a second value included) is trailing garbage. */
            if (depth == 0) { rc = HS_JSON_ESYNTAX; goto fail; }
            obj = (stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
            if (c == ',') {
                i++;
                state = obj ? ST_KEY : ST_VALUE;
            } else if (c == (obj ? '}' : ']')) {
                depth--;
                i++;
            } else {
                rc = HS_JSON_ESYNTAX;
                goto fail;
            }
            break;
        }
    }

    /* End of input: only a complete top-level value will do. */
    if (state != ST_AFTER || depth != 0) {
        rc = (state == ST_VALUE && depth == 0) ? HS_JSON_EEMPTY : HS_JSON_ESYNTAX;
        goto fail;
    }
    if (out != NULL) {
        if (len > run) put(out, in + run, len - run);
        out->p[out->len] = '\0';
    }
    return HS_JSON_OK;

fail:
    if (out != NULL && out->p != NULL && !out->oom) out->p[out->len] = '\0';
    if (err_off != NULL) *err_off = i;
    return rc;
}

/* A short stable name for an HS_JSON_* code, for logs. */
const char *hs_json_strerror(int code)
{
    switch (code) {
    case HS_JSON_OK:      return "ok";
    case HS_JSON_EEMPTY:  return "empty";
    case HS_JSON_ESYNTAX: return "syntax";
    case HS_JSON_EUTF8:   return "utf8";
    case HS_JSON_EDEPTH:  return "depth";
    case HS_JSON_ENOMEM:  return "nomem";
    default:              return "unknown";
    }
}

/*
 * JSON Pointer.
 *
 * The text is trusted to be what hs_json_minify() produced, but every
 * read is still bounded by len: on anything unexpected the lookup finds
 * nothing rather than wander off. Nothing is allocated; member names and
 * pointer tokens are decoded on the fly while comparing.
 */

/*
 * End of the string whose opening quote is at s[pos]: the offset just
 * past its closing quote, or 0 if the text ends first (0 can never be a
 * real end, as a string takes at least two bytes).
 */
static size_t str_end(const char *s, size_t len, size_t pos)
{
    size_t i = pos + 1;

    while (i < len) {
        if (s[i] == '"') return i + 1;
        /* An escape is two bytes at least; skipping the byte after the
         * backslash is what makes "\"" not end the string. */
        i += s[i] == '\\' ? 2 : 1;
    }
    return 0;
}

/* A byte that may appear in a number or literal. */
static int is_scalar(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '-' || c == '+' || c == '.';
}

/*
 * End of the value starting at s[pos] (just past its last byte), or 0
 * if s[pos..len) does not start with one. Iterative: nesting is just a
 * counter, brackets of both kinds counted alike (the text was already
 * validated; this only needs to find where the value stops).
 */
static size_t value_end(const char *s, size_t len, size_t pos)
{
    size_t depth = 0, i = pos, start;

    for (;;) {
        if (i >= len) return 0;
        switch (s[i]) {
        case '"':
            if ((i = str_end(s, len, i)) == 0) return 0;
            break;
        case '{':
        case '[':
            depth++;
            i++;
            break;
        case '}':
        case ']':
            if (depth == 0) return 0;
            depth--;
            i++;
            break;
        case ',':
        case ':':
            if (depth == 0) return 0;
            i++;
            continue;
        default:
            start = i;
            while (i < len && is_scalar((unsigned char)s[i])) i++;
            if (i == start) return 0;
            break;
        }
        if (depth == 0) return i;
    }
}

/*
 * Read four hex digits at s[i..i+4) within len into *cp. 0 on success,
 * -1 if they are not there.
 */
static int hex4(const char *s, size_t len, size_t i, unsigned *cp)
{
    size_t k;
    int v;

    if (i > len || len - i < UESC_DIGITS) return -1;
    *cp = 0;
    for (k = 0; k < UESC_DIGITS; k++) {
        if ((v = hex_val((unsigned char)s[i + k])) < 0) return -1;
        *cp = *cp << 4 | (unsigned)v;
    }
    return 0;
}

/*
 * Decode one character of a JSON string body s[*pos..end) into u[]
 * (UTF-8, 1..4 bytes) and advance *pos. Returns the byte count, or 0
 * if the escape is malformed or is a lone surrogate (no UTF-8 spelling
 * exists, so such a name can match no pointer token).
 */
static size_t name_char(const char *s, size_t end, size_t *pos,
                        unsigned char u[4])
{
    size_t i = *pos;
    unsigned cp, lo;

    if (s[i] != '\\') {
        u[0] = (unsigned char)s[i];
        *pos = i + 1;
        return 1;
    }
    if (end - i < 2) return 0;
    switch (s[i + 1]) {
    case '"': case '\\': case '/': u[0] = (unsigned char)s[i + 1]; break;
    case 'b': u[0] = '\b'; break;
    case 'f': u[0] = '\f'; break;
    case 'n': u[0] = '\n'; break;
    case 'r': u[0] = '\r'; break;
    case 't': u[0] = '\t'; break;
    case 'u':
        if (hex4(s, end, i + 2, &cp) != 0) return 0;
        i += 2 + UESC_DIGITS;
        if (cp >= 0xdc00 && cp <= 0xdfff) return 0;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            /* Only a high surrogate directly followed by a low one. */
            if (end - i < 2 || s[i] != '\\' || s[i + 1] != 'u' ||
                hex4(s, end, i + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
                return 0;
            i += 2 + UESC_DIGITS;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        *pos = i;
        if (cp < 0x80) {
            u[0] = (unsigned char)cp;
            return 1;
        }
        if (cp < 0x800) {
            u[0] = (unsigned char)(0xc0 | cp >> 6);
            u[1] = (unsigned char)(0x80 | (cp & 0x3f));
            return 2;
        }
        if (cp < 0x10000) {
            u[0] = (unsigned char)(0xe0 | cp >> 12);
            u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
            u[2] = (unsigned char)(0x80 | (cp & 0x3f));
            return 3;
        }
        u[0] = (unsigned char)(0xf0 | cp >> 18);
        u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        u[3] = (unsigned char)(0x80 | (cp & 0x3f));
        return 4;
    default:
        return 0;
    }
    *pos = i + 2;
    return 1;
}

/*
 * Whether the member name s[ns..ne) (a string body, without quotes,
 * escapes as sent) equals the pointer token t[0..tn) (~0 and ~1 as
 * sent, already checked to be the only '~' forms) once both are decoded.
 */
static int name_eq(const char *s, size_t ns, size_t ne, const char *t, size_t tn)
{
    unsigned char u[4], tc;
    size_t i = ns, j = 0, n, k;

    while (i < ne) {
        if ((n = name_char(s, ne, &i, u)) == 0) return 0;
        for (k = 0; k < n; k++) {
            if (j == tn) return 0;
            tc = (unsigned char)t[j++];
            if (tc == '~') {
                if (j == tn) return 0;
                tc = t[j++] == '0' ? '~' : '/';
            }
            if (tc != u[k]) return 0;
        }
    }
    return j == tn;
}

/*
 * The array index spelled by the token t[0..tn): "0" or [1-9][0-9]*.
 * Returns 0 and sets *idx, or -1 for anything else ("-", a leading
 * zero, a sign, an empty token) or a value too large for size_t (no
 * array in memory could have that many elements anyway).
 */
static int token_index(const char *t, size_t tn, size_t *idx)
{
    size_t k, v = 0, d;

    if (tn == 0 || (t[0] == '0' && tn > 1)) return -1;
    for (k = 0; k < tn; k++) {
        if (!is_digit((unsigned char)t[k])) return -1;
        d = (size_t)(t[k] - '0');
        if (v > (SIZE_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *idx = v;
    return 0;
}

/*
 * Within the value at json[cur] (an object or array), the offset of the
 * child named by token t[0..tn), or 0 if there is none (0 is never a
 * child's offset: the container's bracket is there or before).
 */
static size_t child(const char *json, size_t len, size_t cur,
                    const char *t, size_t tn)
{
    size_t i = cur + 1, ke, idx, n = 0;

    if (json[cur] == '{') {
        if (i < len && json[i] == '}') return 0;
        for (;;) {
            if (i >= len || json[i] != '"') return 0;
            if ((ke = str_end(json, len, i)) == 0) return 0;
            if (ke >= len || json[ke] != ':') return 0;
            if (name_eq(json, i + 1, ke - 1, t, tn)) return ke + 1;
            if ((i = value_end(json, len, ke + 1)) == 0) return 0;
            if (i >= len || json[i] != ',') return 0;
            i++;
        }
    }
    if (json[cur] == '[') {
        if (token_index(t, tn, &idx) != 0) return 0;
        if (i < len && json[i] == ']') return 0;
        for (;;) {
            if (n == idx) return i < len ? i : 0;
            if ((i = value_end(json, len, i)) == 0) return 0;
            if (i >= len || json[i] != ',') return 0;
            i++;
            n++;
        }
    }
    return 0;
}

/*
 * Resolve ptr[0..ptrlen) in json[0..len); see json.h. The pointer is
 * checked whole before any lookup so that an invalid one is always -1,
 * whatever the document holds.
 */
int hs_json_pointer(const char *json, size_t len, const char *ptr,
                    size_t ptrlen, const char **val, size_t *vallen)
{
    size_t k, cur = 0, ts, te, end;

    if (ptrlen > 0 && ptr[0] != '/') return -1;
    for (k = 0; k < ptrlen; k++) {
        if (ptr[k] == '~' && (k + 1 == ptrlen || (ptr[k + 1] != '0' && ptr[k + 1] != '1')))
            return -1;
    }

    for (ts = 1; ts <= ptrlen; ts = te + 1) {
        for (te = ts; te < ptrlen && ptr[te] != '/'; te++)
            ;
        if (cur >= len) return 0;
        if ((cur = child(json, len, cur, ptr + ts, te - ts)) == 0) return 0;
    }

    if ((end = value_end(json, len, cur)) == 0) return 0;
    *val = json + cur;
    *vallen = end - cur;
    return 1;
}

int hs_json_plain_text(const char *val, size_t n, const char **s, size_t *sn)
{
    size_t i;

    if (val == NULL || n == 0)
        return 0;
    if (val[0] == '"') {
        if (n < 2 || val[n - 1] != '"' || memchr(val + 1, '\\', n - 2) != NULL)
            return 0;
        *s = val + 1;
        *sn = n - 2;
        return 1;
    }
    for (i = 0; i < n; i++)
        if (!((val[i] >= '0' && val[i] <= '9') || val[i] == '-' || val[i] == '.' ||
              val[i] == 'e' || val[i] == 'E' || val[i] == '+'))
            return 0;
    *s = val;
    *sn = n;
    return 1;
}
