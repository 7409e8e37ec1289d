/* Unit tests of lib/events: the line parser, the filters, the time
 * arguments and skipping a segment by its name. */
#include <stdint.h>
#include <string.h>

#include "events.h"
#include "t.h"

#define LINE_KEYED "{\"id\":\"20261122T100000.123456Z-3f2a9c1b7e40\",\"received_at\":" \
    "\"2026-11-22T10:00:00.123Z\",\"endpoint\":\"caliza\",\"key\":[\"TRANSACTION_COMPLETED\"," \
    "\"632a\",4711],\"headers\":{},\"event\":{\"a\":\"}\"}}"
#define LINE_BARE "{\"id\":\"20261122T100001.000001Z-3f2a9c1b7e40\",\"received_at\":" \
    "\"2026-11-22T10:00:01.000Z\",\"endpoint\":\"gh\",\"replayed_at\":\"2026-11-23T00:00:00.000Z\"," \
    "\"headers\":{},\"event\":1}"
#define T_1000 INT64_C(1795341600)   /* 2026-11-22T10:00:00Z */

static void test_parse(void)
{
    hs_ev_line l;
    CHECK(hs_ev_parse(LINE_KEYED, strlen(LINE_KEYED), &l) == 0);
    CHECK(memcmp(l.id, "20261122T100000.123456Z", 23) == 0);
    CHECK(l.id_us == T_1000 * 1000000 + 123456);
    CHECK(l.endpoint_len == 8 && memcmp(l.endpoint, "\"caliza\"", 8) == 0);
    CHECK(l.key != NULL && l.key_len == strlen("[\"TRANSACTION_COMPLETED\",\"632a\",4711]"));
    CHECK(l.replayed_at == NULL);
    CHECK(hs_ev_parse(LINE_BARE, strlen(LINE_BARE), &l) == 0);
    CHECK(l.key == NULL && l.replayed_at != NULL && memcmp(l.replayed_at, "2026-11-23", 10) == 0);
    /* torn, or not ours */
    CHECK(hs_ev_parse(LINE_KEYED, 60, &l) == -1);
    CHECK(hs_ev_parse("{\"a\":1}", 7, &l) == -1);
    CHECK(hs_ev_parse("", 0, &l) == -1);
}

static void test_match(void)
{
    hs_ev_filter f;
    hs_ev_line l;
    CHECK(hs_ev_parse(LINE_KEYED, strlen(LINE_KEYED), &l) == 0);
    hs_ev_filter_init(&f);
    CHECK(hs_ev_match(&f, &l) == 1);
    f.key = "632a";
    CHECK(hs_ev_match(&f, &l) == 1);
    f.key = "4711";
    CHECK(hs_ev_match(&f, &l) == 1);
    f.key = "632";
    CHECK(hs_ev_match(&f, &l) == 0);
    f.key = "[\"TRANSACTION_COMPLETED\",\"632a\",4711]";
    CHECK(hs_ev_match(&f, &l) == 1);
    f.key = NULL;
    f.endpoint = "caliza";
    CHECK(hs_ev_match(&f, &l) == 1);
    f.endpoint = "cal";
    CHECK(hs_ev_match(&f, &l) == 0);
    f.endpoint = NULL;
    f.id = "20261122T100000.123456Z-3f2a9c1b7e40";
    CHECK(hs_ev_match(&f, &l) == 1);
    f.id = "20261122T100000.123456Z-3f2a9c1b7e41";
    CHECK(hs_ev_match(&f, &l) == 0);
    f.id = NULL;
    f.since_us = l.id_us;
    f.until_us = l.id_us;
    CHECK(hs_ev_match(&f, &l) == 1);
    f.since_us = l.id_us + 1;
    CHECK(hs_ev_match(&f, &l) == 0);
    f.since_us = HS_EV_TIME_MIN;
    f.until_us = l.id_us - 1;
    CHECK(hs_ev_match(&f, &l) == 0);
    /* keyless line: any --key misses */
    CHECK(hs_ev_parse(LINE_BARE, strlen(LINE_BARE), &l) == 0);
    hs_ev_filter_init(&f);
    f.key = "x";
    CHECK(hs_ev_match(&f, &l) == 0);
}

static void test_time(void)
{
    int64_t us;
    CHECK(hs_ev_parse_time("2h", T_1000, &us) == 0 && us == (T_1000 - 7200) * 1000000);
    CHECK(hs_ev_parse_time("90s", T_1000, &us) == 0 && us == (T_1000 - 90) * 1000000);
    CHECK(hs_ev_parse_time("7d", T_1000, &us) == 0 && us == (T_1000 - 7 * 86400) * 1000000);
    CHECK(hs_ev_parse_time("30m", T_1000, &us) == 0 && us == (T_1000 - 1800) * 1000000);
    CHECK(hs_ev_parse_time("2026-11-22T10:00:00Z", 0, &us) == 0 && us == T_1000 * 1000000);
    CHECK(hs_ev_parse_time("2026-11-22T10:00:00.5Z", 0, &us) == 0 &&
          us == T_1000 * 1000000 + 500000);
    CHECK(hs_ev_parse_time("2026-11-22 10:00:00+00:00", 0, &us) == 0 && us == T_1000 * 1000000);
    CHECK(hs_ev_parse_time("2026-11-22T10:00:00+01:00", 0, &us) == -1);
    CHECK(hs_ev_parse_time("2026-13-22T10:00:00Z", 0, &us) == -1);
    CHECK(hs_ev_parse_time("2026-11-22T10:00:00", 0, &us) == -1);
    CHECK(hs_ev_parse_time("h", 0, &us) == -1);
    CHECK(hs_ev_parse_time("-2h", T_1000, &us) == -1);
    CHECK(hs_ev_parse_time("99999999999999999999d", T_1000, &us) == -1);
    CHECK(hs_ev_parse_time("yesterday", T_1000, &us) == -1);
    CHECK(hs_ev_id_time("20261122T100000.123456Z-x", 25, &us) == 0 &&
          us == T_1000 * 1000000 + 123456);
    CHECK(hs_ev_id_time("20261122T100000Z-x", 18, &us) == -1);
}

static void test_skip(void)
{
    const char *a = "20261122T100000Z-h-123456.jsonl", *b = "20261122T100500Z-h-000001.jsonl";
    const char *rp = "20261122T110000Z-h-000001-replay.jsonl";
    int64_t t = T_1000 * 1000000;
    CHECK(hs_ev_seg_may_match(a, b, HS_EV_TIME_MIN, HS_EV_TIME_MAX) == 1);
    /* a holds [10:00:00, 10:05:01) */
    CHECK(hs_ev_seg_may_match(a, b, t + 301 * INT64_C(1000000), HS_EV_TIME_MAX) == 0);
    CHECK(hs_ev_seg_may_match(a, b, t + 300 * INT64_C(1000000), HS_EV_TIME_MAX) == 1);
    CHECK(hs_ev_seg_may_match(a, b, HS_EV_TIME_MIN, t - 1) == 0);
    CHECK(hs_ev_seg_may_match(a, b, HS_EV_TIME_MIN, t) == 1);
    /* the newest: no upper bound */
    CHECK(hs_ev_seg_may_match(b, NULL, t + INT64_C(86400000000), HS_EV_TIME_MAX) == 1);
    /* archived names too */
    CHECK(hs_ev_seg_may_match("20261122T100000Z-h-123456.jsonl.gz", b, HS_EV_TIME_MIN, t - 1) == 0);
    /* a replay holds older events than its name: never skipped */
    CHECK(hs_ev_seg_may_match(rp, NULL, HS_EV_TIME_MIN, t) == 1);
    CHECK(hs_ev_seg_may_match(rp, NULL, t + INT64_C(86400000000), HS_EV_TIME_MAX) == 1);
    CHECK(hs_layout_is_replay(rp) == 1 && hs_layout_is_replay("x-replay.jsonl.gz") == 1);
    CHECK(hs_layout_is_replay(a) == 0);
    /* a name not in the form: read */
    CHECK(hs_ev_seg_may_match("hand-made.jsonl", b, t + INT64_C(86400000000), t) == 1);
}

int main(void)
{
    test_parse();
    test_match();
    test_time();
    test_skip();
    return T_END();
}
