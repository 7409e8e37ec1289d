/*
 * fuzz_form.c - the form decoder (form.h) and the public-key parsers
 * (pubkey.h) on arbitrary bytes.
 *
 * Byte 0 picks the target:
 *   0..3  hs_form_parse on the rest, each name and value copied by the
 *         decoder into an allocation of exactly its size (ASan sees any
 *         read past it); then the JSON object (hs_form_json) must be
 *         valid JSON and hold every name, hs_form_sorted must hold every
 *         byte of every distinct field once, and hs_form_event with
 *         field "payload" must give HS_FORM_OK only as valid JSON.
 *   4..7  hs_pubkey_parse of the rest as each (alg, form) the rows use;
 *         a key that parses verifies nothing it did not sign (a fixed
 *         message and the input's first 64 or 72 bytes as signature
 *         never both crash and pass).
 * Checks abort (libFuzzer keeps the input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "json.h"
#include "pubkey.h"

#define REQUIRE(c, what) do { if (!(c)) { fprintf(stderr, "%s\n", what); abort(); } } while (0)

static void fuzz_form(const uint8_t *d, size_t n)
{
    hs_form f = HS_FORM_INIT;
    hs_buf j = HS_BUF_INIT, s = HS_BUF_INIT, ev = HS_BUF_INIT;
    uint8_t *copy = malloc(n ? n : 1);
    hs_form_result r, r2;
    size_t i, total = 0;

    if (copy == NULL) return;
    memcpy(copy, d, n);
    r = hs_form_parse(copy, n, &f);
    if (r == HS_FORM_OK) {
        REQUIRE(f.n <= HS_FORM_MAX_FIELDS, "too many fields");
        REQUIRE(hs_form_json(&f, &j) == 0, "json oom");
        REQUIRE(hs_json_minify((const unsigned char *)j.p, j.len, NULL, NULL) == HS_JSON_OK,
                "hs_form_json wrote invalid JSON");
        for (i = 0; i < f.n; i++) {
            REQUIRE(hs_buf_is_utf8(f.f[i].name ? f.f[i].name : "", f.f[i].nlen) &&
                    hs_buf_is_utf8(f.f[i].value ? f.f[i].value : "", f.f[i].vlen),
                    "a decoded field is not UTF-8");
            REQUIRE(f.order[i] < f.n, "order out of range");
            total += f.f[i].nlen + f.f[i].vlen;
        }
        REQUIRE(hs_form_sorted(&f, &s) == 0 && s.len <= total, "sorted bytes");
        REQUIRE(n == 0 || total <= n, "decoded more than the body");
    } else {
        REQUIRE(f.n == 0 && f.f == NULL && f.order == NULL, "a failed parse left fields");
    }
    r2 = hs_form_event(copy, n, "payload", &ev);
    if (r2 == HS_FORM_OK)
        REQUIRE(hs_json_minify((const unsigned char *)ev.p, ev.len, NULL, NULL) == HS_JSON_OK,
                "hs_form_event gave invalid JSON");
    REQUIRE(r != HS_FORM_OK || r2 == HS_FORM_OK || r2 == HS_FORM_NO_FIELD || r2 == HS_FORM_BAD_JSON,
            "hs_form_event disagrees with hs_form_parse");
    hs_form_free(&f);
    hs_buf_free(&j);
    hs_buf_free(&s);
    hs_buf_free(&ev);
    free(copy);
}

static void fuzz_key(int which, const uint8_t *d, size_t n)
{
    static const struct { hs_pk_alg alg; hs_pk_text text; } kinds[] = {
        { HS_PK_ED25519, HS_PK_TEXT_WHPK }, { HS_PK_ED25519, HS_PK_TEXT_HEX },
        { HS_PK_P256, HS_PK_TEXT_SPKI }, { HS_PK_ED25519, HS_PK_TEXT_SPKI },
    };
    char *copy = malloc(n ? n : 1), why[200];
    hs_pubkey k;
    hs_crypto_part part = { "fuzz message", 12 };

    if (copy == NULL) return;
    memcpy(copy, d, n);
    if (hs_pubkey_parse(kinds[which].alg, kinds[which].text, copy, n, "F", &k, why,
                        sizeof why) == 0) {
        REQUIRE(k.pk != NULL && k.alg == kinds[which].alg, "a parsed key without its key");
        /* Any verdict is fine; reading the signature must be bounded. */
        (void)hs_pubkey_verify(&k, &part, 1, d, n < HS_PK_MAX_SIG ? n : HS_PK_MAX_SIG);
        hs_pubkey_free(&k);
        REQUIRE(k.pk == NULL, "free left the key");
    } else {
        REQUIRE(k.pk == NULL && memchr(why, '\0', sizeof why) != NULL, "a failed parse kept a key");
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n == 0) return 0;
    if (d[0] % 8 < 4) fuzz_form(d + 1, n - 1);
    else fuzz_key(d[0] % 4, d + 1, n - 1);
    return 0;
}
