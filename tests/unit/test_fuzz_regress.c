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
#include "t.h"

struct kv {
    const char *dedup;
};

static const char *lookup(void *arg, const char *name)
{
    const struct kv *kv = arg;
    if (strcmp(name, "HOOKSPOOL_SPOOL") == 0) return "/srv/spool";
    if (strcmp(name, "HOOKSPOOL_SECRET") == 0) return "s3cret";
    if (strcmp(name, "HOOKSPOOL_DEDUP") == 0) return kv->dedup;
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
        struct kv kv = { bad[i] };
        hs_config c;
        char err[256] = "";
        int rc = hs_conf_parse(lookup, &kv, &c, err, sizeof(err));
        CHECK_MSG(rc == -1, "%s accepted", bad[i]);
        CHECK_MSG(strncmp(err, "HOOKSPOOL_DEDUP", 15) == 0, "%s: [%s]", bad[i], err);
    }

    /* What the accepted value did: the event holds the member the
     * operator meant ("id~2" spelled as sent), yet no key comes out. */
    {
        struct kv kv = { "json:/id~2" };
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
        struct kv kv = { "json:/id,/a~1b/0,/m~0n,/" };
        hs_config c;
        char err[256] = "";
        CHECK_MSG(hs_conf_parse(lookup, &kv, &c, err, sizeof(err)) == 0, "[%s]", err);
        CHECK(c.dedup == HS_DEDUP_JSON && c.ndedup == 4);
    }
}

int main(void)
{
    test_dedup_pointer_must_be_valid();
    return T_END();
}
