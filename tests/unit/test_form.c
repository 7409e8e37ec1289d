/* Unit tests of lib/form: decoding application/x-www-form-urlencoded
 * bodies, the JSON object stored as the event, and Twilio's sorted
 * name+value bytes. Every input is copied into an allocation of exactly
 * its size first, so ASan (make test SANITIZE=1) sees any read past it. */
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "t.h"

/* Parse s (copied to an exact-size allocation); the result. */
static hs_form_result parse(const char *s, hs_form *f)
{
    size_t n = strlen(s);
    unsigned char *copy = malloc(n ? n : 1);
    hs_form_result r;

    if (copy == NULL) abort();
    memcpy(copy, s, n);
    r = hs_form_parse(copy, n, f);
    free(copy);
    return r;
}

/* The JSON event of form body s equals want. */
static void json_is(const char *s, const char *want)
{
    hs_form f = HS_FORM_INIT;
    hs_buf b = HS_BUF_INIT;

    CHECK_MSG(parse(s, &f) == HS_FORM_OK, "parse [%s]", s);
    CHECK(hs_form_json(&f, &b) == 0);
    CHECK_MSG(b.len == strlen(want) && memcmp(b.p, want, b.len) == 0, "[%s] gave [%.*s], want [%s]",
              s, (int)b.len, b.p ? b.p : "", want);
    hs_buf_free(&b);
    hs_form_free(&f);
}

static void test_json(void)
{
    json_is("", "{}");
    json_is("&&", "{}");
    json_is("a=1", "{\"a\":\"1\"}");
    json_is("a", "{\"a\":\"\"}");
    json_is("a=", "{\"a\":\"\"}");
    json_is("=v", "{\"\":\"v\"}");
    json_is("b=2&a=1", "{\"b\":\"2\",\"a\":\"1\"}");
    json_is("text=hello+world%21&x=%2B%26%3D", "{\"text\":\"hello world!\",\"x\":\"+&=\"}");
    json_is("a=1&b=2&a=3", "{\"a\":[\"1\",\"3\"],\"b\":\"2\"}");
    json_is("b=x&a=1&b=y&b=z", "{\"b\":[\"x\",\"y\",\"z\"],\"a\":\"1\"}");
    json_is("q=%22%5C%0A", "{\"q\":\"\\\"\\\\\\n\"}");
    json_is("caf%C3%A9=%E2%82%AC", "{\"caf\xc3\xa9\":\"\xe2\x82\xac\"}");
    json_is("n=a%00b", "{\"n\":\"a\\u0000b\"}");
    json_is("a=1&&b=2&", "{\"a\":\"1\",\"b\":\"2\"}");
    json_is("a=b=c", "{\"a\":\"b=c\"}");
    json_is("%61=1&a=2", "{\"a\":[\"1\",\"2\"]}");
    json_is("ab=1&a=2", "{\"ab\":\"1\",\"a\":\"2\"}");
}

static void test_invalid(void)
{
    hs_form f = HS_FORM_INIT;
    static const char *const bad_escape[] = { "a=%", "a=%4", "a=%G1", "%zz=1", "a=1&b=%%" };
    static const char *const bad_utf8[] = { "a=%FF", "a=%C3", "%C0%AF=1", "a=%ED%A0%80",
                                            "a=%F4%90%80%80", "a=\xff" };
    size_t i;
    char *big;

    for (i = 0; i < sizeof bad_escape / sizeof *bad_escape; i++)
        CHECK_MSG(parse(bad_escape[i], &f) == HS_FORM_BAD_ESCAPE && f.n == 0 && f.f == NULL,
                  "[%s]", bad_escape[i]);
    for (i = 0; i < sizeof bad_utf8 / sizeof *bad_utf8; i++)
        CHECK_MSG(parse(bad_utf8[i], &f) == HS_FORM_BAD_UTF8 && f.n == 0 && f.f == NULL,
                  "[%s]", bad_utf8[i]);
    /* HS_FORM_MAX_FIELDS fields pass, one more does not. */
    big = malloc(2 * (HS_FORM_MAX_FIELDS + 1) + 1);
    if (big == NULL) abort();
    for (i = 0; i < HS_FORM_MAX_FIELDS; i++) memcpy(big + 2 * i, "a&", 2);
    big[2 * HS_FORM_MAX_FIELDS - 1] = '\0';
    CHECK(parse(big, &f) == HS_FORM_OK && f.n == HS_FORM_MAX_FIELDS);
    hs_form_free(&f);
    memcpy(big + 2 * HS_FORM_MAX_FIELDS - 1, "&a", 3);
    CHECK(parse(big, &f) == HS_FORM_TOO_MANY && f.n == 0);
    free(big);
}

static void test_get_sorted(void)
{
    hs_form f = HS_FORM_INIT;
    hs_buf b = HS_BUF_INIT;
    const char *v;
    size_t vl;

    /* Twilio's documented example (Security: "How to validate"): the
     * parameters sorted by name, each name then its value. */
    CHECK(parse("CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030"
                "&To=%2B18005551212", &f) == HS_FORM_OK);
    CHECK(hs_form_sorted(&f, &b) == 0);
    CHECK(b.len == strlen("CallSidCA1234567890ABCDECaller+12349013030Digits1234From+12349013030"
                          "To+18005551212") &&
          memcmp(b.p, "CallSidCA1234567890ABCDECaller+12349013030Digits1234From+12349013030"
                      "To+18005551212", b.len) == 0);
    CHECK(hs_form_get(&f, "Digits", 6, &v, &vl) == 1 && vl == 4 && memcmp(v, "1234", 4) == 0);
    CHECK(hs_form_get(&f, "Digit", 5, &v, &vl) == 0);
    hs_buf_free(&b);
    hs_form_free(&f);
    CHECK(parse("b=2&a=z&a=y&A=0", &f) == HS_FORM_OK);
    CHECK(hs_form_sorted(&f, &b) == 0 && b.len == 8 && memcmp(b.p, "A0ayazb2", 8) == 0);
    CHECK(hs_form_get(&f, "a", 1, &v, &vl) == 1 && vl == 1 && v[0] == 'z');
    hs_buf_free(&b);
    hs_form_free(&f);
    /* A value repeated under one name is signed once. */
    CHECK(parse("t=b&t=a&t=b", &f) == HS_FORM_OK);
    CHECK(hs_form_sorted(&f, &b) == 0 && b.len == 4 && memcmp(b.p, "tatb", 4) == 0);
    hs_buf_free(&b);
    hs_form_free(&f);
}

static void test_content_type(void)
{
    CHECK(hs_form_content_type("application/x-www-form-urlencoded"));
    CHECK(hs_form_content_type("Application/X-WWW-Form-Urlencoded; charset=utf-8"));
    CHECK(hs_form_content_type(" application/x-www-form-urlencoded ;charset=UTF-8"));
    CHECK(!hs_form_content_type("application/json"));
    CHECK(!hs_form_content_type("application/x-www-form-urlencodedx"));
    CHECK(!hs_form_content_type(NULL));
}

int main(void)
{
    test_json();
    test_invalid();
    test_get_sorted();
    test_content_type();
    return T_END();
}
