/* Unit tests of lib/check: paths under the web root, `hookspool check`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "path.h"
#include "t.h"

static char root[] = "/tmp/hs-test-check-XXXXXX";

static int run_check(char **params, const char *docroot, char *out, size_t n)
{
    hs_ctx *ctx = hs_ctx_new(NULL, 2);
    FILE *f = tmpfile();
    int problems;
    size_t r;
    problems = hs_check(ctx, params, docroot, 1000, f);
    rewind(f);
    r = fread(out, 1, n - 1, f);
    out[r] = 0;
    fclose(f);
    hs_ctx_free(ctx);
    return problems;
}

int main(void)
{
    char www[300], p[600], out[4096], sf[400], s1[500], s2[500], s3[500];
    char *params[6];

    if (mkdtemp(root) == NULL) return 1;
    snprintf(www, sizeof(www), "%s/public_html", root);
    mkdir(www, 0755);
    snprintf(p, sizeof(p), "%s/hooks", www);
    mkdir(p, 0755);

    snprintf(p, sizeof(p), "%s/spool/new", www);
    CHECK(hs_path_under(p, www) == 1);                       /* not there yet */
    snprintf(p, sizeof(p), "%s/hooks/../../spool", www);
    CHECK(hs_path_under(p, www) == 0);                       /* resolved out */
    snprintf(p, sizeof(p), "%s/public_html_2/x", root);
    CHECK(hs_path_under(p, www) == 0);                       /* a prefix, not a parent */
    CHECK(hs_path_under(www, www) == 1);
    snprintf(p, sizeof(p), "%s/link", root);
    CHECK(symlink(www, p) == 0);
    snprintf(p, sizeof(p), "%s/link/spool", root);
    CHECK(hs_path_under(p, www) == 1);                       /* through a link */
    CHECK(hs_path_under("/etc", "/nonexistent-root") == 0);

    unsetenv("HOOKSPOOL_CONFIG");
    snprintf(sf, sizeof(sf), "%s/secret", www);
    {
        FILE *f = fopen(sf, "w");
        fputs("s3cr3t\n", f);
        fclose(f);
    }
    /* a good configuration outside the web root */
    snprintf(s1, sizeof(s1), "HOOKSPOOL_SPOOL=%s/spool", root);
    params[0] = s1;
    params[1] = "HOOKSPOOL_SECRET=abc";
    params[2] = NULL;
    CHECK(run_check(params, www, out, sizeof(out)) == 0 && strstr(out, "configuration OK"));
    /* ... saying, from the scheme's row, what the sender must send */
    CHECK(strstr(out, "X-Caliza-Webhook-Signature: <HMAC-SHA256 base64 of body>") != NULL);
    /* missing secret, unknown scheme: one line naming the setting */
    params[1] = NULL;
    CHECK(run_check(params, NULL, out, sizeof(out)) == 1 && strstr(out, "HOOKSPOOL_SECRET"));
    params[1] = "HOOKSPOOL_SECRET=abc";
    params[2] = "HOOKSPOOL_SCHEME=nope";
    params[3] = NULL;
    CHECK(run_check(params, NULL, out, sizeof(out)) == 1 && strstr(out, "HOOKSPOOL_SCHEME"));
    /* spool and secret file inside the web root: one line each */
    snprintf(s2, sizeof(s2), "HOOKSPOOL_SPOOL=%s/spool", www);
    snprintf(s3, sizeof(s3), "HOOKSPOOL_SECRET_FILE=%s", sf);
    params[0] = s2;
    params[1] = s3;
    params[2] = NULL;
    CHECK(run_check(params, www, out, sizeof(out)) == 2 &&
          strstr(out, "HOOKSPOOL_SPOOL:") && strstr(out, "HOOKSPOOL_SECRET_FILE:") &&
          !strstr(out, "s3cr3t"));
    /* an unreadable secret file, an unusable spool */
    snprintf(s2, sizeof(s2), "HOOKSPOOL_SPOOL=%s/spool", sf);   /* under a file */
    params[0] = s2;
    params[1] = "HOOKSPOOL_SECRET_FILE=/nonexistent/secret";
    CHECK(run_check(params, NULL, out, sizeof(out)) == 2 &&
          strstr(out, "HOOKSPOOL_SECRET_FILE") && strstr(out, "HOOKSPOOL_SPOOL"));
    /* HOOKSPOOL_THREADS is read from the process environment only */
    snprintf(s1, sizeof(s1), "HOOKSPOOL_SPOOL=%s/spool", root);
    params[0] = s1;
    params[1] = "HOOKSPOOL_SECRET=abc";
    params[2] = NULL;
    setenv("HOOKSPOOL_THREADS", "65", 1);
    CHECK(run_check(params, NULL, out, sizeof(out)) == 1 && strstr(out, "HOOKSPOOL_THREADS"));
    setenv("HOOKSPOOL_THREADS", "64", 1);
    CHECK(run_check(params, NULL, out, sizeof(out)) == 0 && strstr(out, "configuration OK"));
    unsetenv("HOOKSPOOL_THREADS");
    /* Issue 17: a scheme that authenticates nothing is refused alone,
     * accepted beside an address list or mutual TLS (no secret needed
     * then); so is the pix preset. */
    {
        static const struct { const char *a, *b; int problems; const char *says, *also; } t[] = {
            { "HOOKSPOOL_SCHEME=none", NULL, 1, "HOOKSPOOL_SCHEME", "HOOKSPOOL_ALLOW_FROM" },
            { "HOOKSPOOL_SCHEME=none", "HOOKSPOOL_ALLOW_FROM=192.0.2.0/24", 0, "no signature", "OK" },
            { "HOOKSPOOL_PRESET=pix", NULL, 1, "HOOKSPOOL_PRESET", "query:NAME" },
            { "HOOKSPOOL_PRESET=pix", "HOOKSPOOL_MTLS_SUBJECT=*", 0, "endpoint pix", "OK" },
            { "HOOKSPOOL_PRESET=pix", "HOOKSPOOL_ALLOW_FROM=10.0.0.1/8", 1, "HOOKSPOOL_ALLOW_FROM", ":" },
        };
        size_t i;
        for (i = 0; i < sizeof t / sizeof t[0]; i++) {
            params[0] = s1;
            params[1] = (char *)t[i].a;
            params[2] = (char *)t[i].b;
            params[3] = NULL;
            CHECK_MSG(run_check(params, NULL, out, sizeof(out)) == t[i].problems &&
                      strstr(out, t[i].says) && strstr(out, t[i].also), "%zu: %s", i, out);
        }
    }

    /* Short secrets (issue 13, item 8: a one-byte secret was accepted
     * silently): a warning naming the setting for every secret under
     * HS_CHECK_SECRET_MIN bytes, HMAC or token scheme alike, never the
     * secret itself; still a usable configuration. */
    params[0] = s1;
    params[1] = "HOOKSPOOL_SECRET=x";
    params[2] = NULL;
    CHECK(run_check(params, NULL, out, sizeof(out)) == 0 && strstr(out, "configuration OK") &&
          strstr(out, "warning: HOOKSPOOL_SECRET is 1 byte"));
    params[1] = "HOOKSPOOL_SECRET=s3cr3t";
    params[2] = "HOOKSPOOL_SCHEME=bearer";
    params[3] = NULL;
    CHECK(run_check(params, NULL, out, sizeof(out)) == 0 &&
          strstr(out, "warning: HOOKSPOOL_SECRET is 6 bytes") && !strstr(out, "s3cr3t"));
    params[2] = "HOOKSPOOL_SCHEME=github";
    params[3] = "HOOKSPOOL_SECRET_OLD=0123456789abcdef";   /* 16: long enough */
    params[4] = NULL;
    CHECK(run_check(params, NULL, out, sizeof(out)) == 0 &&
          strstr(out, "warning: HOOKSPOOL_SECRET is 6 bytes") &&
          !strstr(out, "HOOKSPOOL_SECRET_OLD") && !strstr(out, "s3cr3t"));
    /* measured as decoded: 8 Base64 characters are 6 bytes */
    params[1] = "HOOKSPOOL_SECRET=base64:AAAAAAAA";
    params[2] = NULL;
    CHECK(run_check(params, NULL, out, sizeof(out)) == 0 &&
          strstr(out, "warning: HOOKSPOOL_SECRET is 6 bytes"));
    /* a secret file: its short lines are named by position */
    {
        FILE *f = fopen(sf, "w");
        fputs("0123456789abcdef0123\nab\n", f);
        fclose(f);
    }
    snprintf(s3, sizeof(s3), "HOOKSPOOL_SECRET_FILE=%s", sf);
    params[1] = s3;
    params[2] = NULL;
    CHECK(run_check(params, NULL, out, sizeof(out)) == 0 &&
          strstr(out, "warning: HOOKSPOOL_SECRET_FILE (secret 2 of 2) is 2 bytes") &&
          !strstr(out, "secret 1 of 2"));
    /* long enough everywhere: no warning */
    params[1] = "HOOKSPOOL_SECRET=AXxDmWTa0fcdoT6CsR5DhmijZaaaHwY+77sVZs/x4ro=";
    CHECK(run_check(params, NULL, out, sizeof(out)) == 0 && !strstr(out, "warning"));

    snprintf(p, sizeof(p), "rm -rf '%s'", root);
    CHECK(system(p) == 0);
    return T_END();
}
