/*
 * test_fuzz_regress.c - inputs the libFuzzer harnesses (tests/fuzz/) found
 * to break a property, replayed as plain unit tests so that a fix stays
 * fixed without running the fuzzers.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "dedup.h"
#include "json.h"
#include "scheme.h"
#include "t.h"

struct kv {
    const char *dedup;
    const char *preset;   /* NULL: unset, and then the scheme is caliza's */
};

static const char *lookup(void *arg, const char *name)
{
    const struct kv *kv = arg;
    if (strcmp(name, "HOOKSPOOL_SPOOL") == 0) return "/srv/spool";
    if (strcmp(name, "HOOKSPOOL_SECRET") == 0) return "s3cret";
    if (strcmp(name, "HOOKSPOOL_DEDUP") == 0) return kv->dedup;
    if (strcmp(name, "HOOKSPOOL_PRESET") == 0) return kv->preset;
    if (strcmp(name, "HOOKSPOOL_SCHEME") == 0 && kv->preset != NULL) return "query:token";
    return NULL;
}

static const char *no_header(void *arg, const char *name)
{
    (void)arg;
    (void)name;
    return NULL;
}

/*
 * fuzz_config: HOOKSPOOL_DEDUP=json:/~ was accepted. Its item "/~" is not
 * an RFC 6901 pointer (a '~' must be followed by 0 or 1), so
 * hs_json_pointer refuses it (-1), hs_dedup_key writes null for it, and
 * with every item like that no key is ever made: dedup is off while the
 * configuration says json:. A typo such as /id~2 for /id~1 must be a
 * configuration error naming the setting, like any other bad value.
 */
static void test_dedup_pointer_must_be_valid(void)
{
    static const char *const bad[] = { "json:/~", "json:/id~2", "json:/ok,/a~" };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kv kv = { bad[i], NULL };
        hs_config c;
        char err[256] = "";
        int rc = hs_conf_parse(lookup, &kv, &c, err, sizeof(err));
        CHECK_MSG(rc == -1, "%s accepted", bad[i]);
        CHECK_MSG(strncmp(err, "HOOKSPOOL_DEDUP", 15) == 0, "%s: [%s]", bad[i], err);
    }

    /* What the accepted value did: the event holds the member the
     * operator meant ("id~2" spelled as sent), yet no key comes out. */
    {
        struct kv kv = { "json:/id~2", NULL };
        static const char ev[] = "{\"id~2\":\"evt_1\"}";
        hs_config c;
        hs_buf key = HS_BUF_INIT;
        char err[256] = "";
        if (hs_conf_parse(lookup, &kv, &c, err, sizeof(err)) == 0) {
            const char *v;
            size_t vl;
            CHECK(hs_json_pointer(ev, sizeof(ev) - 1, c.dedup_items[0],
                                  strlen(c.dedup_items[0]), &v, &vl) == -1);
            CHECK_MSG(hs_dedup_key(&c, ev, sizeof(ev) - 1, no_header, NULL, &key) != 0,
                      "configured for dedup, yet no key");
        }
        hs_buf_free(&key);
    }

    /* Valid pointers, escapes included, stay accepted. */
    {
        struct kv kv = { "json:/id,/a~1b/0,/m~0n,/", NULL };
        hs_config c;
        char err[256] = "";
        CHECK_MSG(hs_conf_parse(lookup, &kv, &c, err, sizeof(err)) == 0, "[%s]", err);
        CHECK(c.dedup == HS_DEDUP_JSON && c.ndedup == 4);
    }
}

/*
 * fuzz_config (CI, crash-a1233ac8): the harness's property wanted items
 * for every dedup mode but off, and its endpoint the scheme's name. The
 * parser was right and the property wrong: HOOKSPOOL_DEDUP=content keys
 * by the event's own bytes and has no items, and HOOKSPOOL_PRESET=pix
 * names the endpoint "pix" (README, the settings table). This pins what
 * the mended property now expects, so neither side drifts alone.
 */
static void test_content_dedup_and_pix_defaults(void)
{
    static const char ev[] = "{\"valor\":\"500.00\"}";
    hs_buf key = HS_BUF_INIT;
    hs_config c;
    char err[256] = "";
    struct kv content = { "content", NULL }, pix = { NULL, "pix" };

    CHECK_MSG(hs_conf_parse(lookup, &content, &c, err, sizeof(err)) == 0, "[%s]", err);
    CHECK(c.dedup == HS_DEDUP_CONTENT && c.ndedup == 0);
    CHECK(strcmp(c.endpoint, "caliza") == 0);
    CHECK(hs_dedup_key(&c, ev, sizeof(ev) - 1, no_header, NULL, &key) == 1);
    /* ["<64 hex digits>"] */
    CHECK(key.len == 68 && key.p[0] == '[' && key.p[67] == ']');
    hs_buf_free(&key);

    err[0] = '\0';
    CHECK_MSG(hs_conf_parse(lookup, &pix, &c, err, sizeof(err)) == 0, "[%s]", err);
    CHECK(c.preset_pix == 1 && c.dedup == HS_DEDUP_CONTENT && c.ndedup == 0);
    CHECK(strcmp(c.endpoint, "pix") == 0);
}

/* hs_scheme_template on a template-sha256-hex scheme; err is 256 bytes. */
static int template(const char *sgn, const char *shape, hs_tpl_setting *which, char *err)
{
    hs_scheme sc;
    err[0] = '\0';
    if (hs_scheme_parse("template-sha256-hex", 19, &sc) != 0)
        return -2;
    return hs_scheme_template(&sc, sgn, shape, which, err, 256);
}

/*
 * fuzz_sig (mode D, its first run): every template holding {body} or
 * {ts} made hs_scheme_template call memcpy(text, NULL, 0) for that part
 * (tpl_part copies a part's name, and BODY and TS have none). A null
 * source is undefined behaviour even for 0 bytes: UBSan aborts on it
 * (make test SANITIZE=1, make fuzz), and a compiler may assume the
 * pointer is not null. The replay is the crash file's input, then the
 * shapes the README documents.
 */
static void test_template_part_without_text(void)
{
    static const struct { const char *sgn, *shape; int rc; } cases[] = {
        { "{body}{body}{json:id}{", "X-Sig: {mac}", -1 },   /* the crash file */
        { "{body}", "X-Sig: {mac}", 0 },
        { "{ts}.{body}", "X-Sig: t={ts},v1={mac}", 0 },
        { "v0:{ts:X-Ts}:{body}", "X-Sig: v0={mac}", 0 },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hs_tpl_setting which;
        char err[256];
        CHECK_MSG(template(cases[i].sgn, cases[i].shape, &which, err) == cases[i].rc,
                  "[%s] [%s]: [%s]", cases[i].sgn, cases[i].shape, err);
    }
}

/* One printable ASCII line, as every configuration message must be. */
static int printable_line(const char *s)
{
    if (*s == '\0') return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) return 0;
    return 1;
}

/*
 * fuzz_config and fuzz_sig (their first runs with templates): an unknown
 * placeholder was quoted into the message as written, control bytes
 * included: HOOKSPOOL_SIGNED={que<ESC>...ry:id} put terminal escapes
 * (or a newline, a second log line) into what `hookspool check` prints
 * and the error log. The message names a placeholder only when it is
 * printable; otherwise it says what the placeholders are.
 */
static void test_template_message_printable(void)
{
    static const char *const bad[] = {
        "{ts}.{header:X-Id}{que\x1b\x1b\x1bry:id}{json:/a/0}{body}",   /* the crash file */
        "{ts_m\xf1s:X-Ts}{body}",
        "{a\nb}{body}",
    };
    size_t i;

    hs_tpl_setting which;
    char err[256];

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(template(bad[i], "X-Sig: t={ts_ms}, v1={mac}", &which, err) == -1 &&
              which == HS_TPL_SIGNED);
        CHECK_MSG(printable_line(err), "case %zu: [%s]", i, err);
        CHECK_MSG(strstr(err, "{body}, {ts}") != NULL, "case %zu: [%s]", i, err);
    }
    /* A printable one is still named. */
    CHECK(template("{Body}", "X-Sig: {mac}", &which, err) == -1);
    CHECK_MSG(strstr(err, "unknown placeholder {Body}") != NULL, "[%s]", err);
}

/*
 * fuzz_sig (mode B, CI at 054ef5c): template-sha512-base64 with
 * HOOKSPOOL_SIGNED={ts_ms:X}{body}AAAAAz and HOOKSPOOL_SIGNATURE=X: {mac}
 * was accepted. The timestamp's header is the signature's own, so the
 * signer wrote header X twice (the milliseconds, then the MAC) and the
 * verifier, reading X for both, refused the signature it made: every
 * event would be refused. {header:Name} already refuses the signature
 * header; {ts:Name} and {ts_ms:Name} must too (a timestamp inside the
 * signature header is {ts} in its shape). Whatever the case of the name.
 */
static void test_template_ts_header_is_not_sig_header(void)
{
    static const struct { const char *sgn, *shape; int rc; } cases[] = {
        { "{ts_ms:X}{body}AAAAAz", "X: {mac}", -1 },       /* the crash file */
        { "{ts:x-sig}.{body}", "X-Sig: {mac}", -1 },
        { "{ts_ms:X-SIG}{body}", "x-sig: v1={mac}", -1 },
        { "{ts:X-Ts}.{body}", "X-Sig: {mac}", 0 },
        { "{ts}.{body}", "X-Sig: t={ts},v1={mac}", 0 },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hs_tpl_setting which;
        char err[256];
        int rc = template(cases[i].sgn, cases[i].shape, &which, err);
        CHECK_MSG(rc == cases[i].rc, "[%s] [%s]: %d [%s]", cases[i].sgn, cases[i].shape, rc,
                  err);
        if (cases[i].rc != 0)
            CHECK_MSG(which == HS_TPL_SIGNED && strstr(err, "signature header") != NULL,
                      "[%s]: [%s]", cases[i].sgn, err);
    }
}

int main(void)
{
    test_dedup_pointer_must_be_valid();
    test_content_dedup_and_pix_defaults();
    test_template_part_without_text();
    test_template_message_printable();
    test_template_ts_header_is_not_sig_header();
    return T_END();
}
