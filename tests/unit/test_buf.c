/* Unit tests of lib/buf: growth, the sticky out-of-memory flag, and the
 * printf-free helpers the request path uses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "t.h"

static void test_put_u(void)
{
    static const unsigned long long vals[] = {
        0, 1, 9, 10, 99, 100, 413, 4294967295ULL, 4294967296ULL, 18446744073709551615ULL
    };
    hs_buf b = HS_BUF_INIT;
    char want[32];
    size_t i;
    for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        hs_buf_reset(&b);
        CHECK(hs_buf_put_u(&b, vals[i]) == 0);
        snprintf(want, sizeof(want), "%llu", vals[i]);
        CHECK_STR(b.p, want);
        CHECK(b.len == strlen(want));
    }
    /* appends after what is there */
    hs_buf_reset(&b);
    hs_buf_puts(&b, "Content-Length: ");
    hs_buf_put_u(&b, 56);
    CHECK_STR(b.p, "Content-Length: 56");
    hs_buf_free(&b);
}

static void test_fill(void)
{
    hs_buf b = HS_BUF_INIT;
    CHECK(hs_buf_fill(&b, ' ', 0) == 0 && b.len == 0);
    CHECK(hs_buf_puts(&b, "[") == 0 && hs_buf_fill(&b, ' ', 36) == 0 && hs_buf_puts(&b, "]") == 0);
    CHECK(b.len == 38 && b.p[0] == '[' && b.p[37] == ']' && b.p[38] == '\0');
    CHECK(strspn(b.p + 1, " ") == 36);
    /* past the first allocation: grows */
    CHECK(hs_buf_fill(&b, 'x', 5000) == 0 && b.len == 5038 && b.p[5037] == 'x' && b.p[5038] == '\0');
    /* a size that cannot be: refused, and every later call fails too */
    CHECK(hs_buf_fill(&b, 'x', SIZE_MAX) == -1 && b.oom);
    CHECK(hs_buf_put_u(&b, 1) == -1 && hs_buf_puts(&b, "y") == -1 && b.len == 5038);
    hs_buf_reset(&b);
    CHECK(!b.oom && hs_buf_put_u(&b, 7) == 0 && strcmp(b.p, "7") == 0);
    hs_buf_free(&b);
}

int main(void)
{
    test_put_u();
    test_fill();
    return T_END();
}
