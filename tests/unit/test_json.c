/*
 * test_json.c - hs_json_minify(), hs_json_strerror(), hs_json_pointer().
 *
 * Every input is copied into a heap block of exactly its length before
 * it is handed over, so a read one byte past the end is caught by
 * AddressSanitizer or valgrind instead of landing on a string literal's
 * NUL terminator.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "t.h"

#define NO_OFF      ((size_t)-1)    /* do not check err_off */
#define FUZZ_ROUNDS 10000
#define FUZZ_MAXLEN 24
#define BIG_DEPTH   100000

/* A heap copy of s[0..n) with nothing after it. Never NULL. */
static unsigned char *dup_exact(const void *s, size_t n)
{
    unsigned char *p = malloc(n ? n : 1);

    if (p == NULL) { perror("malloc"); exit(2); }
    if (n) memcpy(p, s, n);
    return p;
}

/* Minify s[0..n) from an exact-size copy into out (appending). */
static int minify(const void *s, size_t n, hs_buf *out, size_t *off)
{
    unsigned char *p = dup_exact(s, n);
    int rc = hs_json_minify(p, n, out, off);

    free(p);
    return rc;
}

/*
 * Expect s[0..n) to be accepted and minified to want[0..wn); also that
 * the NULL-output mode agrees and that minifying the result again gives
 * the same bytes (idempotence).
 */
static void ok_(int line, const char *s, size_t n, const char *want, size_t wn)
{
    hs_buf out = HS_BUF_INIT, again = HS_BUF_INIT;
    size_t off = NO_OFF;
    int rc;

    rc = minify(s, n, &out, &off);
    CHECK_MSG(rc == HS_JSON_OK, "line %d: %s at %zu for [%.*s]", line,
              hs_json_strerror(rc), off, (int)n, s);
    if (rc == HS_JSON_OK) {
        CHECK_MSG(out.len == wn && memcmp(out.p, want, wn) == 0,
                  "line %d: got [%.*s] want [%.*s]", line, (int)out.len, out.p,
                  (int)wn, want);
        rc = minify(out.p, out.len, &again, NULL);
        CHECK_MSG(rc == HS_JSON_OK && again.len == out.len &&
                  memcmp(again.p, out.p, out.len) == 0,
                  "line %d: not idempotent: [%.*s]", line, (int)again.len, again.p);
    }
    rc = minify(s, n, NULL, NULL);
    CHECK_MSG(rc == HS_JSON_OK, "line %d: NULL out gives %s", line, hs_json_strerror(rc));
    hs_buf_free(&out);
    hs_buf_free(&again);
}

/* Expect s[0..n) to be refused with code (and at want_off unless NO_OFF). */
static void bad_(int line, const char *s, size_t n, int code, size_t want_off)
{
    hs_buf out = HS_BUF_INIT;
    size_t off = NO_OFF, off2 = NO_OFF;
    int rc, rc2;

    rc = minify(s, n, &out, &off);
    CHECK_MSG(rc == code, "line %d: got %s want %s for [%.*s]", line,
              hs_json_strerror(rc), hs_json_strerror(code), (int)n, s);
    CHECK_MSG(off <= n, "line %d: err_off %zu past len %zu", line, off, n);
    if (want_off != NO_OFF)
        CHECK_MSG(off == want_off, "line %d: err_off %zu want %zu", line, off, want_off);
    rc2 = minify(s, n, NULL, &off2);
    CHECK_MSG(rc2 == rc && off2 == off, "line %d: NULL out gives %s at %zu", line,
              hs_json_strerror(rc2), off2);
    hs_buf_free(&out);
}

/* String literals: sizeof keeps embedded NULs and drops the terminator. */
#define ACCEPT(s)           ok_(__LINE__, (s), sizeof(s) - 1, (s), sizeof(s) - 1)
#define MINIFY(s, w)        ok_(__LINE__, (s), sizeof(s) - 1, (w), sizeof(w) - 1)
#define REJECT(s, c)        bad_(__LINE__, (s), sizeof(s) - 1, (c), NO_OFF)
#define REJECT_AT(s, c, o)  bad_(__LINE__, (s), sizeof(s) - 1, (c), (o))
#define SYN(s)              REJECT(s, HS_JSON_ESYNTAX)
#define BADUTF(s)           REJECT(s, HS_JSON_EUTF8)

static void test_literals(void)
{
    ACCEPT("true");
    ACCEPT("false");
    ACCEPT("null");
    MINIFY(" null ", "null");
    ACCEPT("[true,false,null]");
    SYN("True");
    SYN("FALSE");
    SYN("Null");
    REJECT_AT("nul", HS_JSON_ESYNTAX, 3);
    REJECT_AT("nulls", HS_JSON_ESYNTAX, 4);
    SYN("tru");
    SYN("t");
    REJECT_AT("truefalse", HS_JSON_ESYNTAX, 4);
    SYN("NaN");
    SYN("-NaN");
    SYN("Infinity");
    SYN("-Infinity");
    SYN("undefined");
    SYN("[nan]");
    SYN("nil");
}

static void test_numbers(void)
{
    ACCEPT("0");
    ACCEPT("-0");
    ACCEPT("-0.0");
    ACCEPT("1");
    ACCEPT("-1");
    ACCEPT("1234567890");
    ACCEPT("0.5");
    ACCEPT("500.00");
    ACCEPT("1e5");
    ACCEPT("1E5");
    ACCEPT("1e+5");
    ACCEPT("1e-5");
    ACCEPT("1E+2");
    ACCEPT("1E-0");
    ACCEPT("0e0");
    ACCEPT("-1.5e-10");
    ACCEPT("1e007");          /* leading zeros are fine in an exponent */
    ACCEPT("123456789012345678901234567890.123456789012345678901234567890e999");
    MINIFY("[ 500.00 , 1E+2 , -0.0 , 1e-0 ]", "[500.00,1E+2,-0.0,1e-0]");

    REJECT_AT("01", HS_JSON_ESYNTAX, 1);
    REJECT_AT("-01", HS_JSON_ESYNTAX, 2);
    REJECT_AT("00", HS_JSON_ESYNTAX, 1);
    REJECT_AT("[00]", HS_JSON_ESYNTAX, 2);
    REJECT_AT("1.", HS_JSON_ESYNTAX, 2);
    REJECT_AT("[1.]", HS_JSON_ESYNTAX, 3);
    REJECT_AT(".5", HS_JSON_ESYNTAX, 0);
    REJECT_AT("1e", HS_JSON_ESYNTAX, 2);
    SYN("1E");
    SYN("1e+");
    SYN("1e-");
    SYN("1e+-1");
    SYN("1.e5");
    SYN("1.5.3");
    REJECT_AT("+1", HS_JSON_ESYNTAX, 0);
    REJECT_AT("-", HS_JSON_ESYNTAX, 1);
    SYN("--1");
    SYN("- 1");
    SYN("-a");
    SYN("0x10");
    SYN("1_000");
    SYN("1,");
    SYN("1 2");
    SYN("[1e]");
    SYN("[-]");
}

static void test_strings(void)
{
    ACCEPT("\"\"");
    ACCEPT("\"abc\"");
    ACCEPT("\"a b\"");
    ACCEPT("\"'single' quotes inside\"");
    MINIFY("  \"a  b\"  ", "\"a  b\"");      /* inner spaces are kept */
    MINIFY("[ \" \" , \"\" ]", "[\" \",\"\"]");
}

static void test_string_escapes(void)
{
    ACCEPT("\"\\\"\"");
    ACCEPT("\"\\\\\"");
    ACCEPT("\"\\/\"");
    ACCEPT("\"\\b\"");
    ACCEPT("\"\\f\"");
    ACCEPT("\"\\n\"");
    ACCEPT("\"\\r\"");
    ACCEPT("\"\\t\"");
    ACCEPT("\"\\u0000\"");
    ACCEPT("\"\\u00e9\"");
    ACCEPT("\"\\u00E9\"");
    ACCEPT("\"\\uFFFF\"");
    ACCEPT("\"\\uD83D\\uDE00\"");
    ACCEPT("\"\\ud800\"");           /* lone surrogates: grammatical (8.2) */
    ACCEPT("\"\\udc00\\ud800\"");
    ACCEPT("\"a\\\\\\\"b\"");
    ACCEPT("\"\x7f\"");             /* DEL need not be escaped */
    MINIFY("[ \"\\u00E9\\n\" , \"\\/\" ]", "[\"\\u00E9\\n\",\"\\/\"]");

    REJECT_AT("\"\\x41\"", HS_JSON_ESYNTAX, 2);
    REJECT_AT("\"\\U0041\"", HS_JSON_ESYNTAX, 2);
    REJECT_AT("\"\\u12\"", HS_JSON_ESYNTAX, 5);
    REJECT_AT("\"\\u12", HS_JSON_ESYNTAX, 5);
    REJECT_AT("\"\\uGGGG\"", HS_JSON_ESYNTAX, 3);
    REJECT_AT("\"\\u", HS_JSON_ESYNTAX, 3);
    SYN("\"\\'\"");
    SYN("\"\\a\"");
    SYN("\"\\0\"");
    SYN("\"\\ \"");
    REJECT_AT("\"\\", HS_JSON_ESYNTAX, 2);
    REJECT_AT("\"\\\"", HS_JSON_ESYNTAX, 3);   /* the quote is escaped */

    /* Raw control characters 0x00..0x1f, whitespace ones included. */
    REJECT_AT("\"a\x01\"", HS_JSON_ESYNTAX, 2);
    REJECT_AT("\"a\x1f\"", HS_JSON_ESYNTAX, 2);
    REJECT_AT("\"a\nb\"", HS_JSON_ESYNTAX, 2);
    REJECT_AT("\"a\tb\"", HS_JSON_ESYNTAX, 2);
    REJECT_AT("\"a\rb\"", HS_JSON_ESYNTAX, 2);

    REJECT_AT("\"abc", HS_JSON_ESYNTAX, 4);
    REJECT_AT("\"", HS_JSON_ESYNTAX, 1);
    SYN("'abc'");
    SYN("[\"a',\"b\"");
    REJECT_AT("\"a\"b\"", HS_JSON_ESYNTAX, 3);
}

static void test_utf8(void)
{
    /* Valid: 2, 3 and 4 bytes, at the edges of each range. */
    ACCEPT("\"\xc3\xa9\"");
    ACCEPT("\"\xc2\x80\"");
    ACCEPT("\"\xdf\xbf\"");
    ACCEPT("\"\xe2\x82\xac\"");
    ACCEPT("\"\xe0\xa0\x80\"");
    ACCEPT("\"\xed\x9f\xbf\"");      /* U+D7FF, just below the surrogates */
    ACCEPT("\"\xee\x80\x80\"");      /* U+E000, just above */
    ACCEPT("\"\xef\xbf\xbf\"");
    ACCEPT("\"\xf0\x9f\x98\x80\"");
    ACCEPT("\"\xf0\x90\x80\x80\"");
    ACCEPT("\"\xf4\x8f\xbf\xbf\"");  /* U+10FFFF */
    ACCEPT("\"\xf3\xbf\xbf\xbf\"");
    ACCEPT("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    ACCEPT("\"\xef\xbb\xbf\"");      /* a BOM inside a string is a char */

    /* Overlong. */
    REJECT_AT("\"a\xc0\x80\"", HS_JSON_EUTF8, 2);
    BADUTF("\"\xc1\xbf\"");
    BADUTF("\"\xe0\x80\x80\"");
    BADUTF("\"\xe0\x9f\xbf\"");
    BADUTF("\"\xf0\x80\x80\x80\"");
    BADUTF("\"\xf0\x8f\xbf\xbf\"");
    /* Surrogates encoded in UTF-8. */
    BADUTF("\"\xed\xa0\x80\"");
    BADUTF("\"\xed\xbf\xbf\"");
    BADUTF("\"\xed\xa0\xbd\xed\xb8\x80\"");
    /* Above U+10FFFF. */
    BADUTF("\"\xf4\x90\x80\x80\"");
    BADUTF("\"\xf5\x80\x80\x80\"");
    BADUTF("\"\xf7\xbf\xbf\xbf\"");
    BADUTF("\"\xf8\x88\x80\x80\x80\"");
    BADUTF("\"\xfe\"");
    BADUTF("\"\xff\"");
    /* Stray continuation bytes. */
    REJECT_AT("\"ab\x80\"", HS_JSON_EUTF8, 3);
    BADUTF("\"\xbf\"");
    BADUTF("\"\xc3\xa9\xa9\"");
    /* Truncated: by the closing quote, by another byte, by the end. */
    BADUTF("\"\xc3\"");
    BADUTF("\"\xe2\x82\"");
    BADUTF("\"\xf0\x9f\x98\"");
    BADUTF("\"\xc3" "a\"");
    BADUTF("\"\xe2" "a\xac\"");
    BADUTF("\"\xf0\x9f" "a\x80\"");
    REJECT_AT("\"\xc3", HS_JSON_EUTF8, 1);
    REJECT_AT("\"\xf0\x9f\x98", HS_JSON_EUTF8, 1);

    /* Outside strings only ASCII belongs to the grammar. */
    REJECT_AT("\xc3\xa9", HS_JSON_ESYNTAX, 0);
    REJECT_AT("[1,\xc3\xa9]", HS_JSON_ESYNTAX, 3);
    REJECT_AT("1\x80", HS_JSON_ESYNTAX, 1);
    REJECT_AT("{\"a\"\xc2\xa0:1}", HS_JSON_ESYNTAX, 4);
    REJECT_AT("\xc2\xa0" "1", HS_JSON_ESYNTAX, 0);   /* NBSP is no whitespace */
}

static void test_bom_empty_ws(void)
{
    REJECT_AT("\xef\xbb\xbf{}", HS_JSON_EUTF8, 0);
    REJECT_AT("\xef\xbb\xbf", HS_JSON_EUTF8, 0);
    REJECT_AT("\xef\xbb\xbf 1", HS_JSON_EUTF8, 0);
    SYN(" \xef\xbb\xbf" "1");
    SYN("\xef\xbb" "1");

    REJECT_AT("", HS_JSON_EEMPTY, 0);
    REJECT_AT(" ", HS_JSON_EEMPTY, 1);
    REJECT_AT(" \t\r\n \n", HS_JSON_EEMPTY, 6);

    MINIFY(" \t\r\n1\n\r\t ", "1");
    SYN("\f1");
    SYN("\v1");
    SYN("1\f");
    SYN("[1,\v2]");
}

static void test_nul_bytes(void)
{
    hs_buf out = HS_BUF_INIT;
    static const char tail[] = "[1]xyz";

    REJECT_AT("\0", HS_JSON_ESYNTAX, 0);
    REJECT_AT("1\0", HS_JSON_ESYNTAX, 1);
    REJECT_AT("{}\0", HS_JSON_ESYNTAX, 2);
    REJECT_AT("\"a\0b\"", HS_JSON_ESYNTAX, 2);
    REJECT_AT("[\0]", HS_JSON_ESYNTAX, 1);
    ACCEPT("\"a\\u0000b\"");
    /* The length decides, not a terminator: only "[1]" is looked at. */
    CHECK(minify(tail, 3, &out, NULL) == HS_JSON_OK);
    CHECK(out.len == 3 && memcmp(out.p, "[1]", 3) == 0);
    hs_buf_free(&out);
    CHECK(minify(tail, 2, NULL, NULL) == HS_JSON_ESYNTAX);
}

static void test_arrays(void)
{
    ACCEPT("[]");
    MINIFY("[ ]", "[]");
    MINIFY("[\n]", "[]");
    ACCEPT("[1]");
    ACCEPT("[1,2]");
    ACCEPT("[[]]");
    ACCEPT("[[],[[]],{}]");
    ACCEPT("[1,\"a\",{},[],null,true,false,-0.5]");
    MINIFY("[ 1 , 2 ]", "[1,2]");

    REJECT_AT("[", HS_JSON_ESYNTAX, 1);
    REJECT_AT("]", HS_JSON_ESYNTAX, 0);
    REJECT_AT("[1,]", HS_JSON_ESYNTAX, 3);
    REJECT_AT("[1 , ]", HS_JSON_ESYNTAX, 5);
    REJECT_AT("[,1]", HS_JSON_ESYNTAX, 1);
    REJECT_AT("[,]", HS_JSON_ESYNTAX, 1);
    REJECT_AT("[1 2]", HS_JSON_ESYNTAX, 3);
    REJECT_AT("[1,,2]", HS_JSON_ESYNTAX, 3);
    REJECT_AT("[}", HS_JSON_ESYNTAX, 1);
    REJECT_AT("[1}", HS_JSON_ESYNTAX, 2);
    REJECT_AT("[[]", HS_JSON_ESYNTAX, 3);
    REJECT_AT("[1:2]", HS_JSON_ESYNTAX, 2);
    SYN("[1,2");
    SYN("[1,");
}

static void test_objects(void)
{
    ACCEPT("{}");
    MINIFY("{ }", "{}");
    ACCEPT("{\"a\":1}");
    ACCEPT("{\"\":0}");
    ACCEPT("{\"a\":{\"b\":[]},\"c\":[{}]}");
    ACCEPT("{\"a\":1,\"a\":2}");          /* duplicates: grammatical */
    MINIFY("{ \"a\" : 1 , \"b\" : [ ] }", "{\"a\":1,\"b\":[]}");

    REJECT_AT("{", HS_JSON_ESYNTAX, 1);
    REJECT_AT("}", HS_JSON_ESYNTAX, 0);
    REJECT_AT("{\"a\"}", HS_JSON_ESYNTAX, 4);
    REJECT_AT("{\"a\" 1}", HS_JSON_ESYNTAX, 5);
    REJECT_AT("{\"a\":}", HS_JSON_ESYNTAX, 5);
    REJECT_AT("{\"a\":1,}", HS_JSON_ESYNTAX, 7);
    REJECT_AT("{,}", HS_JSON_ESYNTAX, 1);
    REJECT_AT("{a:1}", HS_JSON_ESYNTAX, 1);
    REJECT_AT("{1:1}", HS_JSON_ESYNTAX, 1);
    REJECT_AT("{null:1}", HS_JSON_ESYNTAX, 1);
    REJECT_AT("{[]:1}", HS_JSON_ESYNTAX, 1);
    REJECT_AT("{{}:1}", HS_JSON_ESYNTAX, 1);
    REJECT_AT("{'a':1}", HS_JSON_ESYNTAX, 1);
    REJECT_AT("{\"a\":1 \"b\":2}", HS_JSON_ESYNTAX, 7);
    REJECT_AT("{\"a\"::1}", HS_JSON_ESYNTAX, 5);
    REJECT_AT("{\"a\":1]", HS_JSON_ESYNTAX, 6);
    REJECT_AT("{\"a\",1}", HS_JSON_ESYNTAX, 4);
    REJECT_AT("{\"a\"=1}", HS_JSON_ESYNTAX, 4);
    SYN("{\"a\":1");
    SYN("{\"a\":");
    SYN("{\"a\"");
}

static void test_comments_trailing(void)
{
    REJECT_AT("/* c */ 1", HS_JSON_ESYNTAX, 0);
    REJECT_AT("1 // c", HS_JSON_ESYNTAX, 2);
    REJECT_AT("[1 /* c */]", HS_JSON_ESYNTAX, 3);
    REJECT_AT("# c\n1", HS_JSON_ESYNTAX, 0);

    REJECT_AT("{} {}", HS_JSON_ESYNTAX, 3);
    REJECT_AT("1 2", HS_JSON_ESYNTAX, 2);
    REJECT_AT("[]]", HS_JSON_ESYNTAX, 2);
    REJECT_AT("\"a\"\"b\"", HS_JSON_ESYNTAX, 3);
    REJECT_AT("null x", HS_JSON_ESYNTAX, 5);
    REJECT_AT("{}x", HS_JSON_ESYNTAX, 2);
    REJECT_AT("{},", HS_JSON_ESYNTAX, 2);
    REJECT_AT("truetrue", HS_JSON_ESYNTAX, 4);
}

/* n copies of c into a heap block. */
static char *repeat(char *p, char c, size_t n)
{
    memset(p, c, n);
    return p + n;
}

static void test_depth(void)
{
    size_t d = HS_JSON_MAX_DEPTH, n, off;
    char *s = malloc(2 * BIG_DEPTH + 16), *e;
    hs_buf out = HS_BUF_INIT;

    if (s == NULL) { perror("malloc"); exit(2); }

    /* Exactly the limit: accepted, and copied as it is. */
    e = repeat(repeat(s, '[', d), ']', d);
    n = (size_t)(e - s);
    CHECK(minify(s, n, &out, NULL) == HS_JSON_OK);
    CHECK(out.len == n && memcmp(out.p, s, n) == 0);
    hs_buf_reset(&out);

    /* One more: refused at the bracket that goes too deep. */
    e = repeat(repeat(s, '[', d + 1), ']', d + 1);
    n = (size_t)(e - s);
    off = 0;
    CHECK(minify(s, n, NULL, &off) == HS_JSON_EDEPTH);
    CHECK(off == d);

    /* Objects count as much as arrays: {"a":{"a":...[]...}}. */
    e = s;
    for (n = 0; n + 1 < d; n++) { memcpy(e, "{\"a\":", 5); e += 5; }
    e = repeat(repeat(e, '[', 1), ']', 1);
    e = repeat(e, '}', d - 1);
    CHECK(minify(s, (size_t)(e - s), NULL, NULL) == HS_JSON_OK);
    e = s;
    for (n = 0; n < d; n++) { memcpy(e, "{\"a\":", 5); e += 5; }
    e = repeat(repeat(e, '[', 1), ']', 1);
    e = repeat(e, '}', d);
    CHECK(minify(s, (size_t)(e - s), NULL, NULL) == HS_JSON_EDEPTH);

    /* The stack pops: two full-depth arrays side by side. */
    e = repeat(s, '[', 1);
    e = repeat(repeat(e, '[', d - 1), ']', d - 1);
    e = repeat(e, ',', 1);
    e = repeat(repeat(e, '[', d - 1), ']', d - 1);
    e = repeat(e, ']', 1);
    CHECK(minify(s, (size_t)(e - s), NULL, NULL) == HS_JSON_OK);

    /* At the limit but never closed: a syntax error at the end. */
    e = repeat(s, '[', d);
    CHECK(minify(s, d, NULL, &off) == HS_JSON_ESYNTAX);
    CHECK(off == d);

    /* A hostile depth: no recursion, so no crash. */
    e = repeat(s, '[', BIG_DEPTH);
    off = 0;
    CHECK(minify(s, BIG_DEPTH, &out, &off) == HS_JSON_EDEPTH);
    CHECK(off == d);
    e = repeat(e, ']', BIG_DEPTH);
    CHECK(minify(s, (size_t)(e - s), NULL, NULL) == HS_JSON_EDEPTH);
    e = s;
    for (n = 0; n < BIG_DEPTH / 8; n++) { memcpy(e, "{\"a\":[ ", 7); e += 7; }
    CHECK(minify(s, (size_t)(e - s), NULL, NULL) == HS_JSON_EDEPTH);

    hs_buf_free(&out);
    free(s);
}

/* A Caliza payment event as a sender pretty-prints it. */
static const char caliza_pretty[] =
    "{\n"
    "  \"id\": \"evt_01HZX3\",\n"
    "  \"type\": \"payment.succeeded\",\n"
    "  \"created\": 1718000000,\n"
    "  \"data\": {\n"
    "    \"amount\": {\n"
    "      \"value\": 500.00,\n"
    "      \"currency\": \"EUR\"\n"
    "    },\n"
    "    \"fee\": { \"value\": -0.0, \"rate\": 1E+2 },\n"
    "    \"description\": \"Caf\\u00e9 \\\"Sol\\\"  two  spaces\\n\",\n"
    "    \"merchant\": \"Caf\xc3\xa9 M\xc3\xbcller \xe2\x82\xac\",\n"
    "    \"path\": \"a\\/b\",\n"
    "    \"tags\": [ \"a\" , \"b c\" ],\n"
    "    \"refunded\": false,\n"
    "    \"metadata\": {},\n"
    "    \"notes\": [],\n"
    "    \"parent\": null\r\n"
    "  }\n"
    "}\n";

static const char caliza_min[] =
    "{\"id\":\"evt_01HZX3\",\"type\":\"payment.succeeded\",\"created\":1718000000,"
    "\"data\":{\"amount\":{\"value\":500.00,\"currency\":\"EUR\"},"
    "\"fee\":{\"value\":-0.0,\"rate\":1E+2},"
    "\"description\":\"Caf\\u00e9 \\\"Sol\\\"  two  spaces\\n\","
    "\"merchant\":\"Caf\xc3\xa9 M\xc3\xbcller \xe2\x82\xac\","
    "\"path\":\"a\\/b\",\"tags\":[\"a\",\"b c\"],\"refunded\":false,"
    "\"metadata\":{},\"notes\":[],\"parent\":null}}";

static void test_output(void)
{
    hs_buf out = HS_BUF_INIT;
    size_t off;

    MINIFY(caliza_pretty, caliza_min);
    MINIFY(" {\n\t\"a b\" : \"c  d\" \r\n} ", "{\"a b\":\"c  d\"}");
    MINIFY("\"x\"", "\"x\"");
    MINIFY("\n\"  \"\n", "\"  \"");

    /* Appends after what the caller already wrote, as the handler does. */
    hs_buf_puts(&out, "{\"event\":");
    CHECK(minify("[ 1 ,\n2 ]", 9, &out, NULL) == HS_JSON_OK);
    CHECK_STR(out.p, "{\"event\":[1,2]");
    hs_buf_free(&out);

    /* An out that may not grow. */
    hs_buf_puts(&out, "x");
    out.oom = 1;
    off = NO_OFF;
    CHECK(minify("[1]", 3, &out, &off) == HS_JSON_ENOMEM);
    CHECK(off == 0);
    hs_buf_free(&out);

    /* err_off may be NULL. */
    CHECK(minify("[", 1, &out, NULL) == HS_JSON_ESYNTAX);
    hs_buf_free(&out);
}

static void test_strerror(void)
{
    CHECK_STR(hs_json_strerror(HS_JSON_OK), "ok");
    CHECK_STR(hs_json_strerror(HS_JSON_EEMPTY), "empty");
    CHECK_STR(hs_json_strerror(HS_JSON_ESYNTAX), "syntax");
    CHECK_STR(hs_json_strerror(HS_JSON_EUTF8), "utf8");
    CHECK_STR(hs_json_strerror(HS_JSON_EDEPTH), "depth");
    CHECK_STR(hs_json_strerror(HS_JSON_ENOMEM), "nomem");
    CHECK(hs_json_strerror(-1) != NULL);
    CHECK(hs_json_strerror(99) != NULL);
}

/*
 * Pointer lookups. Expect rc, and for rc 1 the value's bytes want.
 */
static void ptr_(int line, const char *doc, size_t dn, const char *p, size_t pn,
                 int want_rc, const char *want)
{
    char *d = (char *)dup_exact(doc, dn), *pp = (char *)dup_exact(p, pn);
    const char *val = NULL;
    size_t vl = 0;
    int rc = hs_json_pointer(d, dn, pp, pn, &val, &vl);

    CHECK_MSG(rc == want_rc, "line %d: pointer [%.*s] gives %d want %d", line,
              (int)pn, p, rc, want_rc);
    if (rc == 1 && want_rc == 1) {
        CHECK_MSG(val >= d && vl <= dn && (size_t)(val - d) <= dn - vl &&
                  vl == strlen(want) && memcmp(val, want, vl) == 0,
                  "line %d: pointer [%.*s] gives [%.*s] want [%s]", line,
                  (int)pn, p, (int)vl, val, want);
    }
    free(d);
    free(pp);
}

#define PTR(doc, p, rc, want) \
    ptr_(__LINE__, (doc), strlen(doc), (p), sizeof(p) - 1, (rc), (want))

static const char pdoc[] =
    "{\"a\":{\"b\":[10,{\"c\":\"x\"},[1,2]],\"\":\"empty\"},"
    "\"a/b\":1,\"m~n\":2,\"caf\\u00e9\":3,\"k\\\"q\":4,\"t\\\\u\":5,"
    "\"dup\":1,\"dup\":2,\"nul\":null,\"num\":-1.5e3,\"str\":\"s\\\"t\","
    "\"obj\":{\"z\":[]},\"\\ud83d\\ude00\":\"smile\",\"lone\\ud800\":6,"
    "\"sl\\/ash\":7,\"\\u002F\":8,\"\\u00C9t\\u00e9\":9,\"nl\\n\":10,"
    "\"n\\u0000\":11,\"lo\\udc00\":13,"
    "\"\\u007f\\u0080\\u07FF\\u0800\\uffff\":14,"
    "\"k\\\\\":{\"x\":12},\"big\":[0,1,2,3,4,5,6,7,8,9,10,11]}";

static void test_pointer(void)
{
    static const char arr[] = "[1,[2,3],{\"a\":[]},\"s\"]";
    hs_buf out = HS_BUF_INIT;

    ACCEPT(pdoc);   /* the document is valid and already minified */

    /* The empty pointer is the whole text. */
    PTR(pdoc, "", 1, pdoc);
    PTR("\"x\"", "", 1, "\"x\"");
    PTR("7", "", 1, "7");
    PTR("", "", 0, NULL);

    /* Nested objects and arrays. */
    PTR(pdoc, "/a", 1, "{\"b\":[10,{\"c\":\"x\"},[1,2]],\"\":\"empty\"}");
    PTR(pdoc, "/a/b", 1, "[10,{\"c\":\"x\"},[1,2]]");
    PTR(pdoc, "/a/b/0", 1, "10");
    PTR(pdoc, "/a/b/1", 1, "{\"c\":\"x\"}");
    PTR(pdoc, "/a/b/1/c", 1, "\"x\"");
    PTR(pdoc, "/a/b/2/1", 1, "2");
    PTR(pdoc, "/a/", 1, "\"empty\"");
    PTR(pdoc, "/big/10", 1, "10");
    PTR(pdoc, "/big/11", 1, "11");
    PTR(arr, "/0", 1, "1");
    PTR(arr, "/1/1", 1, "3");
    PTR(arr, "/2/a", 1, "[]");
    PTR(arr, "/3", 1, "\"s\"");

    /* What each kind of value looks like. */
    PTR(pdoc, "/nul", 1, "null");
    PTR(pdoc, "/num", 1, "-1.5e3");
    PTR(pdoc, "/str", 1, "\"s\\\"t\"");
    PTR(pdoc, "/obj", 1, "{\"z\":[]}");
    PTR(pdoc, "/obj/z", 1, "[]");

    /* ~0 and ~1. */
    PTR(pdoc, "/a~1b", 1, "1");
    PTR(pdoc, "/m~0n", 1, "2");
    PTR(pdoc, "/~1", 1, "8");
    PTR(pdoc, "/m~1n", 0, NULL);
    PTR(pdoc, "/a~0b", 0, NULL);
    PTR(pdoc, "/a/b~1", 0, NULL);

    /* Member names are compared decoded. */
    PTR(pdoc, "/caf\xc3\xa9", 1, "3");
    PTR(pdoc, "/k\"q", 1, "4");
    PTR(pdoc, "/t\\u", 1, "5");
    PTR(pdoc, "/\xf0\x9f\x98\x80", 1, "\"smile\"");
    PTR(pdoc, "/sl~1ash", 1, "7");
    PTR(pdoc, "/\xc3\x89t\xc3\xa9", 1, "9");
    PTR(pdoc, "/nl\n", 1, "10");
    PTR(pdoc, "/n\0", 1, "11");
    PTR(pdoc, "/k\\/x", 1, "12");
    PTR(pdoc, "/caf\\u00e9", 0, NULL);   /* the escape is not the name */
    PTR(pdoc, "/caf", 0, NULL);
    PTR(pdoc, "/cafe", 0, NULL);
    PTR(pdoc, "/caf\xc3\xa9!", 0, NULL);
    PTR(pdoc, "/n", 0, NULL);
    /* A lone surrogate has no UTF-8 spelling: nothing names it. */
    PTR(pdoc, "/lone\xed\xa0\x80", 0, NULL);
    PTR(pdoc, "/lone\xef\xbf\xbd", 0, NULL);
    PTR(pdoc, "/lone", 0, NULL);
    PTR(pdoc, "/lo\xed\xb0\x80", 0, NULL);
    PTR(pdoc, "/lo", 0, NULL);
    /* \u escapes at the edges of the 1, 2 and 3 byte forms. */
    PTR(pdoc, "/\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 1, "14");

    /* The first of duplicate members wins. */
    PTR(pdoc, "/dup", 1, "1");

    /* Nothing there. */
    PTR(pdoc, "/missing", 0, NULL);
    PTR(pdoc, "/A", 0, NULL);
    PTR(pdoc, "/a/b/3", 0, NULL);
    PTR(pdoc, "/big/12", 0, NULL);
    PTR(pdoc, "/a/b/01", 0, NULL);
    PTR(pdoc, "/a/b/00", 0, NULL);
    PTR(pdoc, "/a/b/-", 0, NULL);
    PTR(pdoc, "/a/b/-1", 0, NULL);
    PTR(pdoc, "/a/b/+1", 0, NULL);
    PTR(pdoc, "/a/b/ 1", 0, NULL);
    PTR(pdoc, "/a/b/1 ", 0, NULL);
    PTR(pdoc, "/a/b/", 0, NULL);
    PTR(pdoc, "/a/b/0x1", 0, NULL);
    PTR(pdoc, "/a/b/99999999999999999999999999999", 0, NULL);
    PTR(pdoc, "/obj/z/0", 0, NULL);
    PTR(pdoc, "/num/0", 0, NULL);
    PTR(pdoc, "/str/0", 0, NULL);
    PTR(pdoc, "/nul/x", 0, NULL);
    PTR(pdoc, "/a/b/1/c/d", 0, NULL);
    PTR(pdoc, "/0", 0, NULL);
    PTR(arr, "/a", 0, NULL);
    PTR(arr, "/4", 0, NULL);
    PTR("[]", "/0", 0, NULL);
    PTR("{}", "/", 0, NULL);
    PTR("{}", "/a", 0, NULL);
    PTR("\"abc\"", "/0", 0, NULL);

    /* Not a pointer at all: -1 whatever the document holds. */
    PTR(pdoc, "a", -1, NULL);
    PTR(pdoc, "#/a", -1, NULL);
    PTR(pdoc, "/~", -1, NULL);
    PTR(pdoc, "/~2", -1, NULL);
    PTR(pdoc, "/a~", -1, NULL);
    PTR(pdoc, "/m~n", -1, NULL);
    PTR(pdoc, "/missing/~x", -1, NULL);
    PTR(pdoc, "/a/b/~", -1, NULL);
    PTR("", "x", -1, NULL);

    /* On a text straight out of the minifier. */
    CHECK(minify(caliza_pretty, sizeof(caliza_pretty) - 1, &out, NULL) == HS_JSON_OK);
    ptr_(__LINE__, out.p, out.len, "/data/amount/value", 18, 1, "500.00");
    ptr_(__LINE__, out.p, out.len, "/data/tags/1", 12, 1, "\"b c\"");
    ptr_(__LINE__, out.p, out.len, "/data/parent", 12, 1, "null");
    ptr_(__LINE__, out.p, out.len, "/type", 5, 1, "\"payment.succeeded\"");
    hs_buf_free(&out);
}

/*
 * Robustness of the pointer on texts that are not valid: every prefix of
 * a document (exact-size copies) and a few broken ones. The only promise
 * is staying in bounds and answering 0 or 1 with a span inside the text.
 */
static void test_pointer_robust(void)
{
    static const char *const ptrs[] = {
        "", "/a", "/a/b", "/a/b/1", "/a/b/1/c", "/a/b/2/1", "/str", "/big/11",
        "/caf\xc3\xa9", "/\xf0\x9f\x98\x80", "/zz", "/lone", "/k\\/x", "/obj/z/0",
    };
    static const char *const broken[] = {
        "{\"a\"", "{\"a\":", "{\"a\":[1,", "{\"a\":\"x", "{\"a\\", "[1 ,2]", "{ \"a\":1}",
        "{\"a\":1 }", "]", "}", ",", ":", "{\"a\"1}", "[[[[[", "\"", "{\"a\\u12\":1}",
        "{\"a\\ud800\\u", "{\"a\\ud800\\u12", "{\"\\", "[1]]]", "{\"a\":}}",
    };
    const char *val;
    size_t dn = sizeof(pdoc) - 1, n, k, vl, bad = 0;
    char *d;
    int rc;

    for (n = 0; n <= dn; n++) {
        d = (char *)dup_exact(pdoc, n);
        for (k = 0; k < sizeof(ptrs) / sizeof(ptrs[0]); k++) {
            rc = hs_json_pointer(d, n, ptrs[k], strlen(ptrs[k]), &val, &vl);
            if (rc < 0 || rc > 1 ||
                (rc == 1 && (val < d || vl > n || (size_t)(val - d) > n - vl)))
                bad++;
        }
        free(d);
    }
    for (n = 0; n < sizeof(broken) / sizeof(broken[0]); n++) {
        d = (char *)dup_exact(broken[n], strlen(broken[n]));
        for (k = 0; k < sizeof(ptrs) / sizeof(ptrs[0]); k++) {
            rc = hs_json_pointer(d, strlen(broken[n]), ptrs[k], strlen(ptrs[k]), &val, &vl);
            if (rc < 0 || rc > 1 ||
                (rc == 1 && (val < d || vl > strlen(broken[n]) ||
                             (size_t)(val - d) > strlen(broken[n]) - vl)))
                bad++;
        }
        free(d);
    }
    CHECK_MSG(bad == 0, "%zu out-of-bounds or bad answers", bad);
}

/*
 * A reference validator for the fuzz test: plain recursive descent, and
 * UTF-8 checked by decoding the code point rather than by byte ranges,
 * so it shares as little as possible with the implementation under test.
 * Inputs are short, so its recursion is bounded by FUZZ_MAXLEN-ish.
 */
typedef struct ref { const unsigned char *s; size_t n, i; int depth; } ref;

static int r_peek(const ref *r) { return r->i < r->n ? r->s[r->i] : -1; }

static void r_ws(ref *r)
{
    int c;

    while ((c = r_peek(r)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        r->i++;
}

static int r_digits(ref *r)
{
    size_t st = r->i;
    int c;

    while ((c = r_peek(r)) >= '0' && c <= '9') r->i++;
    return r->i > st;
}

static int r_number(ref *r)
{
    int c;

    if (r_peek(r) == '-') r->i++;
    c = r_peek(r);
    if (c == '0') r->i++;
    else if (c >= '1' && c <= '9') r_digits(r);
    else return 0;
    if (r_peek(r) == '.') { r->i++; if (!r_digits(r)) return 0; }
    c = r_peek(r);
    if (c == 'e' || c == 'E') {
        r->i++;
        c = r_peek(r);
        if (c == '+' || c == '-') r->i++;
        if (!r_digits(r)) return 0;
    }
    return 1;
}

static int r_utf8(ref *r)
{
    unsigned c = r->s[r->i], cp;
    size_t n, k;

    if (c >= 0xf0 && c < 0xf8) { n = 4; cp = c & 0x07; }
    else if (c >= 0xe0 && c < 0xf0) { n = 3; cp = c & 0x0f; }
    else if (c >= 0xc0 && c < 0xe0) { n = 2; cp = c & 0x1f; }
    else return 0;
    if (r->n - r->i < n) return 0;
    for (k = 1; k < n; k++) {
        if ((r->s[r->i + k] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (r->s[r->i + k] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
        return 0;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    r->i += n;
    return 1;
}

static int r_string(ref *r)
{
    int c;
    size_t k;

    r->i++;
    for (;;) {
        if ((c = r_peek(r)) < 0) return 0;
        if (c == '"') { r->i++; return 1; }
        if (c < 0x20) return 0;
        if (c >= 0x80) { if (!r_utf8(r)) return 0; continue; }
        r->i++;
        if (c != '\\') continue;
        c = r_peek(r);
        if (c < 0 || !strchr("\"\\/bfnrtu", c) || c == 0) return 0;
        r->i++;
        if (c != 'u') continue;
        for (k = 0; k < 4; k++) {
            c = r_peek(r);
            if (c < 0 || !strchr("0123456789abcdefABCDEF", c) || c == 0) return 0;
            r->i++;
        }
    }
}

static int r_value(ref *r);

static int r_container(ref *r, int close)
{
    if (++r->depth > HS_JSON_MAX_DEPTH) return 0;
    r->i++;
    r_ws(r);
    if (r_peek(r) == close) { r->i++; r->depth--; return 1; }
    for (;;) {
        if (close == '}') {
            if (r_peek(r) != '"' || !r_string(r)) return 0;
            r_ws(r);
            if (r_peek(r) != ':') return 0;
            r->i++;
        }
        if (!r_value(r)) return 0;
        r_ws(r);
        if (r_peek(r) == close) { r->i++; r->depth--; return 1; }
        if (r_peek(r) != ',') return 0;
        r->i++;
        r_ws(r);
    }
}

static int r_lit(ref *r, const char *l)
{
    size_t k = strlen(l);

    if (r->n - r->i < k || memcmp(r->s + r->i, l, k) != 0) return 0;
    r->i += k;
    return 1;
}

static int r_value(ref *r)
{
    int ok;

    r_ws(r);
    switch (r_peek(r)) {
    case '{': ok = r_container(r, '}'); break;
    case '[': ok = r_container(r, ']'); break;
    case '"': ok = r_string(r); break;
    case 't': ok = r_lit(r, "true"); break;
    case 'f': ok = r_lit(r, "false"); break;
    case 'n': ok = r_lit(r, "null"); break;
    default: ok = r_number(r); break;
    }
    r_ws(r);
    return ok;
}

static int ref_valid(const unsigned char *s, size_t n)
{
    ref r = { s, n, 0, 0 };

    return r_value(&r) && r.i == n;
}

/* in[0..n) with the whitespace outside strings removed, into out. */
static void strip_ws(const unsigned char *in, size_t n, hs_buf *out)
{
    size_t i;
    int instr = 0, esc = 0;

    for (i = 0; i < n; i++) {
        unsigned char c = in[i];
        if (instr) {
            if (esc) esc = 0;
            else if (c == '\\') esc = 1;
            else if (c == '"') instr = 0;
        } else if (c == '"') {
            instr = 1;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            continue;
        }
        hs_buf_putc(out, (char)c);
    }
}

/* Whether s[0..n) has whitespace outside strings. */
static int ws_outside(const char *s, size_t n)
{
    size_t i;
    int instr = 0, esc = 0;

    for (i = 0; i < n; i++) {
        char c = s[i];
        if (instr) {
            if (esc) esc = 0;
            else if (c == '\\') esc = 1;
            else if (c == '"') instr = 0;
        } else if (c == '"') {
            instr = 1;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            return 1;
        }
    }
    return 0;
}

/* xorshift64: deterministic, so a failure is reproducible. */
static uint64_t rnd(uint64_t *st)
{
    *st ^= *st << 13;
    *st ^= *st >> 7;
    *st ^= *st << 17;
    return *st;
}

static void test_fuzz(void)
{
    static const char alpha[] =
        "{}[]\",:0123456789-+.eEtrufalsn \t\n\r\\/uAb\x01\x7f\xc3\xa9\xe2\x82\xac"
        "\xf0\x9f\x80\xed\xa0\xc0\xff";
    static const char *const seeds[] = {
        "{\"a\":[1,2.5e-3,true,null],\"b\":{\"c\":\"d\\u00e9\\n\"}}",
        "[ 500.00 , -0.0 , 1E+2 , \"x y\" ]",
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \\\" \\\\ \\/\"",
        "{ \"k\" : { \"l\" : [ [ ] , { } ] } }",
        "[\"\\uD83D\\uDE00\",false,0,-1,10]",
        "\n{\n\t\"id\": \"evt\",\n\t\"v\": 1e5\n}\n",
    };
    unsigned char s[FUZZ_MAXLEN + 64];
    uint64_t st = 0x9e3779b97f4a7c15u;
    hs_buf out = HS_BUF_INIT, again = HS_BUF_INIT, strip = HS_BUF_INIT;
    size_t n, k, m, off, accepted = 0, bad_ref = 0, bad_out = 0, bad_idem = 0,
           bad_ws = 0, bad_null = 0, bad_off = 0, bad_ptr = 0, vl;
    const char *val;
    int round, rc, rc2;

    for (round = 0; round < FUZZ_ROUNDS; round++) {
        if (round % 2 == 0) {
            /* Random bytes from a JSON-ish alphabet. */
            n = rnd(&st) % (FUZZ_MAXLEN + 1);
            for (k = 0; k < n; k++) s[k] = (unsigned char)alpha[rnd(&st) % (sizeof(alpha) - 1)];
        } else {
            /* A few random edits to a valid document. */
            const char *seed = seeds[rnd(&st) % (sizeof(seeds) / sizeof(seeds[0]))];
            n = strlen(seed);
            memcpy(s, seed, n);
            for (m = rnd(&st) % 3 + 1; m > 0; m--) {
                k = n ? rnd(&st) % n : 0;
                unsigned char c = (unsigned char)alpha[rnd(&st) % (sizeof(alpha) - 1)];
                switch (rnd(&st) % 3) {
                case 0: if (n) s[k] = c; break;
                case 1: if (n) { memmove(s + k, s + k + 1, n - k - 1); n--; } break;
                default:
                    if (n < sizeof(s)) { memmove(s + k + 1, s + k, n - k); s[k] = c; n++; }
                    break;
                }
            }
        }

        hs_buf_reset(&out);
        off = NO_OFF;
        rc = minify(s, n, &out, &off);
        rc2 = minify(s, n, NULL, NULL);
        if (rc != rc2) bad_null++;
        if ((rc == HS_JSON_OK) != ref_valid(s, n)) {
            if (bad_ref++ == 0)
                fprintf(stderr, "fuzz: minify says %s, reference disagrees: [%.*s]\n",
                        hs_json_strerror(rc), (int)n, (const char *)s);
        }
        if (rc != HS_JSON_OK) {
            if (off > n) bad_off++;
            continue;
        }
        accepted++;
        hs_buf_reset(&strip);
        strip_ws(s, n, &strip);
        if (strip.len != out.len || memcmp(strip.p, out.p, out.len) != 0) bad_out++;
        if (ws_outside(out.p, out.len)) bad_ws++;
        hs_buf_reset(&again);
        if (minify(out.p, out.len, &again, NULL) != HS_JSON_OK || again.len != out.len ||
            memcmp(again.p, out.p, out.len) != 0)
            bad_idem++;
        /* The whole-text pointer and any child found are valid texts. */
        if (hs_json_pointer(out.p, out.len, "", 0, &val, &vl) != 1 || val != out.p ||
            vl != out.len)
            bad_ptr++;
        if (hs_json_pointer(out.p, out.len, "/0", 2, &val, &vl) == 1 &&
            minify(val, vl, NULL, NULL) != HS_JSON_OK)
            bad_ptr++;
        if (hs_json_pointer(out.p, out.len, "/a", 2, &val, &vl) == 1 &&
            minify(val, vl, NULL, NULL) != HS_JSON_OK)
            bad_ptr++;
    }
    CHECK_MSG(accepted >= FUZZ_ROUNDS / 20, "only %zu accepted: the test tests little", accepted);
    CHECK_MSG(bad_ref == 0, "%zu disagreements with the reference", bad_ref);
    CHECK_MSG(bad_null == 0, "%zu differ with out == NULL", bad_null);
    CHECK_MSG(bad_off == 0, "%zu err_off past the end", bad_off);
    CHECK_MSG(bad_out == 0, "%zu outputs not the input less whitespace", bad_out);
    CHECK_MSG(bad_ws == 0, "%zu outputs with whitespace outside strings", bad_ws);
    CHECK_MSG(bad_idem == 0, "%zu outputs not idempotent", bad_idem);
    CHECK_MSG(bad_ptr == 0, "%zu bad pointer answers", bad_ptr);
    hs_buf_free(&out);
    hs_buf_free(&again);
    hs_buf_free(&strip);
}

int main(void)
{
    test_literals();
    test_numbers();
    test_strings();
    test_string_escapes();
    test_utf8();
    test_bom_empty_ws();
    test_nul_bytes();
    test_arrays();
    test_objects();
    test_comments_trailing();
    test_depth();
    test_output();
    test_strerror();
    test_pointer();
    test_pointer_robust();
    test_fuzz();
    return T_END();
}
