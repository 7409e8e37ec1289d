/*
 * Issue 17's parsers from memory: CIDR lists and their matcher (auth.c),
 * client-certificate checks, the query token's reader (query.c), URL
 * suffixes and the batch splitter (batch.c), content keys (dedup.c).
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "batch.h"
#include "config.h"
#include "dedup.h"
#include "query.h"
#include "t.h"

static void test_cidr(void)
{
    hs_auth_net n[HS_AUTH_MAX_NETS + 1];
    char big[4096] = "";
    int i;

    CHECK(hs_auth_parse_nets("192.0.2.0/24", n, 4) == 1 && n[0].bits == 24 && !n[0].v6);
    CHECK(hs_auth_parse_nets(" 192.0.2.0/24 , 2001:db8::/32,198.51.100.7 ", n, 4) == 3);
    CHECK(n[1].v6 && n[1].bits == 32 && !n[2].v6 && n[2].bits == 32);
    CHECK(hs_auth_parse_nets("::1", n, 4) == 1 && n[0].v6 && n[0].bits == 128);
    CHECK(hs_auth_parse_nets("0.0.0.0/0", n, 4) == 1 && n[0].bits == 0);
    CHECK(hs_auth_parse_nets("::/0", n, 4) == 1);
    /* Refused: empty, empty items, bits past the prefix, bad prefixes,
     * bad addresses, too many. */
    CHECK(hs_auth_parse_nets("", n, 4) == -1);
    CHECK(hs_auth_parse_nets("192.0.2.0/24,", n, 4) == -1);
    CHECK(hs_auth_parse_nets(",192.0.2.0/24", n, 4) == -1);
    CHECK(hs_auth_parse_nets("10.0.0.1/8", n, 4) == -1);
    CHECK(hs_auth_parse_nets("2001:db8::1/32", n, 4) == -1);
    CHECK(hs_auth_parse_nets("192.0.2.0/33", n, 4) == -1);
    CHECK(hs_auth_parse_nets("::/129", n, 4) == -1);
    CHECK(hs_auth_parse_nets("192.0.2.0/", n, 4) == -1);
    CHECK(hs_auth_parse_nets("192.0.2.0/024", n, 4) == -1);
    CHECK(hs_auth_parse_nets("192.0.2.0/-1", n, 4) == -1);
    CHECK(hs_auth_parse_nets("192.0.2.0/2a", n, 4) == -1);
    CHECK(hs_auth_parse_nets("192.0.2.256", n, 4) == -1);
    CHECK(hs_auth_parse_nets("example.com", n, 4) == -1);
    CHECK(hs_auth_parse_nets("1.2.3.4 5.6.7.8", n, 4) == -1);
    CHECK(hs_auth_parse_nets("1.1.1.1,2.2.2.2", n, 1) == -1);
    for (i = 0; i <= HS_AUTH_MAX_NETS; i++)
        snprintf(big + strlen(big), sizeof(big) - strlen(big), "%s10.0.%d.0/24", i ? "," : "", i);
    CHECK(hs_auth_parse_nets(big, n, HS_AUTH_MAX_NETS) == -1);
    CHECK(hs_auth_parse_nets(big, n, HS_AUTH_MAX_NETS + 1) == HS_AUTH_MAX_NETS + 1);

    /* Matching. */
    CHECK(hs_auth_parse_nets("192.0.2.0/24,2001:db8::/32,198.51.100.7,10.128.0.0/9", n, 8) == 4);
    CHECK(hs_auth_addr_allowed(n, 4, "192.0.2.0"));
    CHECK(hs_auth_addr_allowed(n, 4, "192.0.2.255"));
    CHECK(!hs_auth_addr_allowed(n, 4, "192.0.3.0"));
    CHECK(!hs_auth_addr_allowed(n, 4, "192.0.1.255"));
    CHECK(hs_auth_addr_allowed(n, 4, "198.51.100.7"));
    CHECK(!hs_auth_addr_allowed(n, 4, "198.51.100.8"));
    CHECK(hs_auth_addr_allowed(n, 4, "10.128.0.1"));
    CHECK(hs_auth_addr_allowed(n, 4, "10.255.255.255"));
    CHECK(!hs_auth_addr_allowed(n, 4, "10.127.255.255"));   /* the 9th bit */
    CHECK(hs_auth_addr_allowed(n, 4, "2001:db8:ffff::1"));
    CHECK(hs_auth_addr_allowed(n, 4, "2001:0DB8::"));
    CHECK(!hs_auth_addr_allowed(n, 4, "2001:db9::1"));
    /* An IPv4-mapped IPv6 address is its IPv4 address; no other mixing. */
    CHECK(hs_auth_addr_allowed(n, 4, "::ffff:192.0.2.9"));
    CHECK(!hs_auth_addr_allowed(n, 4, "::ffff:192.0.3.9"));
    CHECK(!hs_auth_addr_allowed(n, 4, "::192.0.2.9"));
    CHECK(!hs_auth_addr_allowed(n, 4, NULL));
    CHECK(!hs_auth_addr_allowed(n, 4, ""));
    CHECK(!hs_auth_addr_allowed(n, 4, "192.0.2.1 "));
    CHECK(!hs_auth_addr_allowed(n, 4, "unix:"));
    CHECK(!hs_auth_addr_allowed(n, 0, "192.0.2.1"));
    CHECK(hs_auth_parse_nets("0.0.0.0/0", n, 1) == 1);
    CHECK(hs_auth_addr_allowed(n, 1, "203.0.113.1") && !hs_auth_addr_allowed(n, 1, "::1"));
}

static void test_mtls(void)
{
    const char *s = "CN=bank.example,O=Bank,C=BR", *i = "CN=Test CA,O=Test";
    CHECK(hs_auth_mtls("SUCCESS", s, i, "", "") == HS_MTLS_OK);
    CHECK(hs_auth_mtls("SUCCESS", s, i, s, i) == HS_MTLS_OK);
    CHECK(hs_auth_mtls("SUCCESS", s, i, NULL, i) == HS_MTLS_OK);
    CHECK(hs_auth_mtls(NULL, s, i, "", "") == HS_MTLS_NONE);
    CHECK(hs_auth_mtls("NONE", NULL, NULL, "", "") == HS_MTLS_NONE);
    CHECK(hs_auth_mtls("FAILED:unable to get issuer", s, i, "", "") == HS_MTLS_NONE);
    CHECK(hs_auth_mtls("success", s, i, "", "") == HS_MTLS_NONE);
    CHECK(hs_auth_mtls("SUCCESS", "CN=other", i, s, "") == HS_MTLS_SUBJECT);
    CHECK(hs_auth_mtls("SUCCESS", NULL, i, s, "") == HS_MTLS_SUBJECT);
    CHECK(hs_auth_mtls("SUCCESS", "CN=bank.example,O=Bank,C=BRX", i, s, "") == HS_MTLS_SUBJECT);
    CHECK(hs_auth_mtls("SUCCESS", s, "CN=Other CA", "", i) == HS_MTLS_ISSUER);
    CHECK(hs_auth_mtls("SUCCESS", s, NULL, s, i) == HS_MTLS_ISSUER);
}

/* The query:NAME token's reader, hs_query_token (query.c, main's query
 * plumbing; it replaced auth.c's own parser in the merge): '+' kept. A
 * name without '=' is present with an empty value there (as for every
 * query parameter), which sig.c answers as a bad token. */
static int qt(const char *q, char *v, size_t cap)
{
    size_t n;
    return hs_query_token(q, "hmac", 4, v, cap, &n);
}

static void test_query(void)
{
    char v[16];
    CHECK(qt("hmac=abc&ignorar=/pix", v, sizeof v) == HS_QUERY_OK && strcmp(v, "abc") == 0);
    CHECK(qt("x=1&hmac=a%2Bb%2f+c", v, sizeof v) == HS_QUERY_OK && strcmp(v, "a+b/+c") == 0);
    CHECK(qt("hmacx=1&xhmac=2", v, sizeof v) == HS_QUERY_ABSENT);
    CHECK(qt("hmac", v, sizeof v) == HS_QUERY_OK && v[0] == '\0');
    CHECK(qt("hmac=", v, sizeof v) == HS_QUERY_OK && v[0] == '\0');
    CHECK(qt("hmac=1&hmac=2", v, sizeof v) == HS_QUERY_OK && strcmp(v, "1") == 0);
    CHECK(qt("", v, sizeof v) == HS_QUERY_ABSENT);
    CHECK(qt(NULL, v, sizeof v) == HS_QUERY_ABSENT);
    CHECK(qt("hmac=%", v, sizeof v) == HS_QUERY_BAD);
    CHECK(qt("hmac=%4", v, sizeof v) == HS_QUERY_BAD);
    CHECK(qt("hmac=%zz", v, sizeof v) == HS_QUERY_BAD);
    CHECK(qt("hmac=a%00b", v, sizeof v) == HS_QUERY_BAD);
    CHECK(qt("hmac=0123456789abcde", v, sizeof v) == HS_QUERY_OK);
    CHECK(qt("hmac=0123456789abcdef", v, sizeof v) == HS_QUERY_BAD);
}

static void test_suffix(void)
{
    char s[HS_BATCH_MAX_SUFFIX + 1];
    CHECK(hs_batch_suffix(NULL, NULL, "/pix", NULL, s, sizeof s) == 4 && strcmp(s, "/pix") == 0);
    CHECK(hs_batch_suffix(NULL, NULL, "/pix", "t=1&ignorar=/rec", s, sizeof s) == 4 && strcmp(s, "/pix") == 0);
    CHECK(hs_batch_suffix(NULL, NULL, "", "t=1&ignorar=/rec", s, sizeof s) == 4 && strcmp(s, "/rec") == 0);
    CHECK(hs_batch_suffix(NULL, NULL, NULL, "ignorar=/cobr", s, sizeof s) == 5 && strcmp(s, "/cobr") == 0);
    CHECK(hs_batch_suffix(NULL, NULL, NULL, "t=1&ignorar=", s, sizeof s) == 0 && s[0] == '\0');
    CHECK(hs_batch_suffix(NULL, NULL, NULL, "t=/pix&x=1", s, sizeof s) == 0);
    CHECK(hs_batch_suffix(NULL, NULL, NULL, NULL, s, sizeof s) == 0);
    CHECK(hs_batch_suffix(NULL, NULL, "/a b", NULL, s, sizeof s) == 0 && s[0] == '\0');
    CHECK(hs_batch_suffix(NULL, NULL, "/a\"b", NULL, s, sizeof s) == 0);
    CHECK(hs_batch_suffix(NULL, NULL, "pix", NULL, s, sizeof s) == 0);
    CHECK(hs_batch_suffix(NULL, NULL, "/pix/x_y-1.2", NULL, s, sizeof s) == 12);
    CHECK(hs_batch_suffix(NULL, NULL, "/0123456789012345678901234567890123456789012345678901234567890123",
                          NULL, s, sizeof s) == 0);
    /* With HOOKSPOOL_BASE_PATH: lighttpd's SCRIPT_NAME=/hooks,
     * PATH_INFO=/caliza/pix; Apache's SCRIPT_NAME=/hooks/caliza. */
    CHECK(hs_batch_suffix("/hooks/caliza", "/hooks", "/caliza/pix", NULL, s, sizeof s) == 4 &&
          strcmp(s, "/pix") == 0);
    CHECK(hs_batch_suffix("/hooks/caliza", "/hooks", "/caliza", NULL, s, sizeof s) == 0);
    CHECK(hs_batch_suffix("/hooks/caliza", "/hooks", "/calizax/pix", NULL, s, sizeof s) == 0);
    CHECK(hs_batch_suffix("/hooks/caliza", "/hooks", "/other/pix", NULL, s, sizeof s) == 0);
    CHECK(hs_batch_suffix("/hooks/caliza", "/hooks/caliza", "/rec", NULL, s, sizeof s) == 4 &&
          strcmp(s, "/rec") == 0);
    CHECK(hs_batch_suffix("/hooks/caliza", "/hooks/caliza/pix", NULL, NULL, s, sizeof s) == 4 &&
          strcmp(s, "/pix") == 0);
    CHECK(hs_batch_suffix("/hooks/caliza", "/hooks/calizax", NULL, NULL, s, sizeof s) == 0);
    CHECK(hs_batch_suffix("/hooks/caliza", "/elsewhere", "/x", NULL, s, sizeof s) == 0);
    CHECK(hs_batch_suffix("/hooks/caliza", "/hooks", "/caliza", "a=1&i=/cobr", s, sizeof s) == 5 &&
          strcmp(s, "/cobr") == 0);
    CHECK(strcmp(hs_batch_pix_pointer("/pix"), "/pix") == 0);
    CHECK(strcmp(hs_batch_pix_pointer("/pix/"), "/pix") == 0);
    CHECK(strcmp(hs_batch_pix_pointer("/rec"), "/recs") == 0);
    CHECK(strcmp(hs_batch_pix_pointer("/cobr"), "/cobsr") == 0);
    CHECK(strcmp(hs_batch_pix_pointer(""), "/pix") == 0);
    CHECK(strcmp(hs_batch_pix_pointer(NULL), "/pix") == 0);
    CHECK(strcmp(hs_batch_pix_pointer("/recx"), "/pix") == 0);
}

/* Split arr and join the elements with '|'. */
static int split_join(const char *arr, char *out, size_t outlen)
{
    const char *el;
    size_t pos = 0, ellen, used = 0;
    int n = 0;
    out[0] = '\0';
    while (hs_batch_next(arr, strlen(arr), &pos, &el, &ellen)) {
        if (used + ellen + 2 > outlen) return -1;
        if (n++) out[used++] = '|';
        memcpy(out + used, el, ellen);
        used += ellen;
        out[used] = '\0';
    }
    return n;
}

static void test_splitter(void)
{
    char j[512];
    const char *a;
    size_t al;
    static const char pix[] =
        "{\"pix\":[{\"endToEndId\":\"E1\",\"valor\":\"110.00\",\"x\":\"a,]}\\\"b\"},"
        "{\"endToEndId\":\"E2\",\"valor\":\"110.00\",\"d\":[1,[2,{\"k\":[]}]]}]}";

    CHECK(split_join("[]", j, sizeof j) == 0);
    CHECK(split_join("[1]", j, sizeof j) == 1 && strcmp(j, "1") == 0);
    CHECK(split_join("[1,\"a,b\",{\"c\":[1,2]},[],null]", j, sizeof j) == 5 &&
          strcmp(j, "1|\"a,b\"|{\"c\":[1,2]}|[]|null") == 0);
    CHECK(split_join("[\"\\\\\",\"\\\"]\"]", j, sizeof j) == 2 &&
          strcmp(j, "\"\\\\\"|\"\\\"]\"") == 0);
    CHECK(split_join("{}", j, sizeof j) == 0);
    CHECK(split_join("", j, sizeof j) == 0);

    CHECK(hs_batch_find(pix, sizeof pix - 1, "/pix", &a, &al) == 1);
    {
        char *copy = strndup(a, al);
        CHECK(copy != NULL && split_join(copy, j, sizeof j) == 2);
        free(copy);
    }
    CHECK(strcmp(j, "{\"endToEndId\":\"E1\",\"valor\":\"110.00\",\"x\":\"a,]}\\\"b\"}|"
                    "{\"endToEndId\":\"E2\",\"valor\":\"110.00\",\"d\":[1,[2,{\"k\":[]}]]}") == 0);
    CHECK(hs_batch_find(pix, sizeof pix - 1, "/recs", &a, &al) == 0);
    CHECK(hs_batch_find(pix, sizeof pix - 1, NULL, &a, &al) == 0);
    CHECK(hs_batch_find("[1,2]", 5, NULL, &a, &al) == 1 && al == 5);
    CHECK(hs_batch_find("[1,2]", 5, "/pix", &a, &al) == 1 && al == 5);
    CHECK(hs_batch_find("{\"pix\":{\"a\":1}}", 15, "/pix", &a, &al) == 0);
    CHECK(hs_batch_find("{\"pix\":\"[1]\"}", 13, "/pix", &a, &al) == 0);
}

static const char *no_header(void *arg, const char *name) { (void)arg; (void)name; return NULL; }

static void test_content_key(void)
{
    hs_config *c = calloc(1, sizeof(*c));
    hs_buf k1 = HS_BUF_INIT, k2 = HS_BUF_INIT, k3 = HS_BUF_INIT;
    static const char a[] = "{\"endToEndId\":\"E1\",\"devolucoes\":{\"status\":\"EM_PROCESSAMENTO\"}}";
    static const char b[] = "{\"endToEndId\":\"E1\",\"devolucoes\":{\"status\":\"DEVOLVIDO\"}}";

    if (c == NULL) { CHECK(c != NULL); return; }
    c->dedup = HS_DEDUP_CONTENT;
    CHECK(hs_dedup_key(c, a, sizeof a - 1, no_header, NULL, &k1) == 1);
    CHECK(hs_dedup_key_at(c, a, sizeof a - 1, 3, no_header, NULL, &k2) == 1);
    CHECK(hs_dedup_key(c, b, sizeof b - 1, no_header, NULL, &k3) == 1);
    /* ["<64 hex digits>"], the same for the same bytes wherever they sit
     * in a batch, different for a re-notice with anything changed. */
    CHECK(k1.len == 68 && k1.p[0] == '[' && k1.p[1] == '"' && k1.p[66] == '"' && k1.p[67] == ']');
    CHECK(k1.len == k2.len && memcmp(k1.p, k2.p, k1.len) == 0);
    CHECK(k3.len == 68 && memcmp(k1.p, k3.p, k1.len) != 0);
    /* SHA-256 of "{}" */
    hs_buf_reset(&k1);
    CHECK(hs_dedup_key(c, "{}", 2, no_header, NULL, &k1) == 1 &&
          strcmp(k1.p, "[\"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\"]") == 0);
    hs_buf_free(&k1);
    hs_buf_free(&k2);
    hs_buf_free(&k3);
    free(c);
}

int main(void)
{
    test_cidr();
    test_mtls();
    test_query();
    test_suffix();
    test_splitter();
    test_content_key();
    return T_END();
}
