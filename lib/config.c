#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "text.h"

/* Room for the list of scheme forms an unknown-scheme error names. */
#define SCHEME_FORMS_MAX 512

const char *const hs_conf_names[] = {
    "HOOKSPOOL_SPOOL", "HOOKSPOOL_SECRET", "HOOKSPOOL_SECRET_OLD",
    "HOOKSPOOL_SECRET_FILE", "HOOKSPOOL_SCHEME", "HOOKSPOOL_ENDPOINT",
    "HOOKSPOOL_TOLERANCE", "HOOKSPOOL_MAX_BODY", "HOOKSPOOL_ROTATE_BYTES",
    "HOOKSPOOL_ROTATE_SECONDS", "HOOKSPOOL_FSYNC", "HOOKSPOOL_DEDUP",
    "HOOKSPOOL_DEDUP_SECONDS", "HOOKSPOOL_KEEP_HEADERS",
    "HOOKSPOOL_STATUS_TOKEN", "HOOKSPOOL_MAX_LAG", "HOOKSPOOL_MIN_FREE",
    "HOOKSPOOL_UMASK", "HOOKSPOOL_INVALID_KEEP", "HOOKSPOOL_ARCHIVE_SECONDS", "HOOKSPOOL_VERIFY_TOKEN",
    "HOOKSPOOL_SIGNED", "HOOKSPOOL_SIGNATURE", "HOOKSPOOL_PUBLIC_KEY",
    "HOOKSPOOL_PUBLIC_KEY_OLD", "HOOKSPOOL_PUBLIC_URL", "HOOKSPOOL_FORM_JSON",
    "HOOKSPOOL_MTLS_SUBJECT", "HOOKSPOOL_MTLS_ISSUER", "HOOKSPOOL_ALLOW_FROM",
    "HOOKSPOOL_BATCH", "HOOKSPOOL_PRESET", "HOOKSPOOL_BASE_PATH", NULL
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int hs_conf_parse_umask(const char *v, mode_t *out)
{
    char *end;
    long m;
    errno = 0;
    m = (*v >= '0' && *v <= '7') ? strtol(v, &end, 8) : -1;
    if (m < 0 || m > 0777 || errno != 0 || *end != '\0' || strlen(v) > 4) return -1;
    *out = (mode_t)m;
    return 0;
}

int hs_conf_parse_num(const char *s, long long min, long long max,
                      long long *out)
{
    char *end;
    long long v;

    if (s == NULL || !isdigit((unsigned char)s[0])) return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/*
 * Split a comma list into items[max][HS_CONF_MAX_ITEM+1], trimming
 * spaces; each item checked by ok(). Returns the count or -1.
 */
static int split_list(const char *s, char items[][HS_CONF_MAX_ITEM + 1],
                      size_t max, int (*ok)(const char *, size_t))
{
    size_t n = 0;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        const char *b = s;
        while (len && isspace((unsigned char)*b)) { b++; len--; }
        while (len && isspace((unsigned char)b[len - 1])) len--;
        if (len == 0 || len > HS_CONF_MAX_ITEM || n == max || !ok(b, len))
            return -1;
        memcpy(items[n], b, len);
        items[n][len] = '\0';
        n++;
        if (e == NULL) break;
        s = e + 1;
        if (*s == '\0') return -1;  /* trailing comma */
    }
    return (int)n;
}

/* An RFC 6901 pointer: starts with '/', and every '~' is the escape
 * "~0" or "~1". A pointer that could never match must fail here, naming
 * the setting, rather than silently turn dedup off for every event. */
static int ok_pointer(const char *s, size_t n)
{
    size_t i;
    if (n < 1 || s[0] != '/') return 0;
    for (i = 1; i < n; i++)
        if (s[i] == '~' && (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1')))
            return 0;
    return 1;
}

static int parse_dedup(const char *v, hs_config *c)
{
    int n;
    if (strcmp(v, "off") == 0) { c->dedup = HS_DEDUP_OFF; c->ndedup = 0; return 0; }
    if (strcmp(v, "content") == 0) { c->dedup = HS_DEDUP_CONTENT; c->ndedup = 0; return 0; }
    if (strncmp(v, "json:", 5) == 0) {
        n = split_list(v + 5, c->dedup_items, HS_CONF_MAX_DEDUP, ok_pointer);
        if (n <= 0) return -1;
        c->dedup = HS_DEDUP_JSON;
        c->ndedup = (size_t)n;
        return 0;
    }
    if (strncmp(v, "header:", 7) == 0) {
        n = split_list(v + 7, c->dedup_items, HS_CONF_MAX_DEDUP, hs_text_is_token);
        if (n <= 0) return -1;
        c->dedup = HS_DEDUP_HEADER;
        c->ndedup = (size_t)n;
        return 0;
    }
    return -1;
}

static int parse_keep(const char *v, hs_config *c)
{
    int n;
    if (*v == '\0') { c->nkeep = 0; return 0; }
    n = split_list(v, c->keep, HS_CONF_MAX_KEEP, hs_text_is_token);
    if (n < 0) return -1;
    c->nkeep = (size_t)n;
    return 0;
}

/* The numeric settings: name, field offset, minimum, default, and
 * whether it says how to write the spool (hs_conf_parse_spool reads
 * those). The maximum is SPEC's 2^62 for all of them. */
static const struct {
    const char *name;
    size_t      off;
    long long   min, def;
    int         spool;
} num_settings[] = {
    { "HOOKSPOOL_TOLERANCE",      offsetof(hs_config, tolerance),      1, 300,       0 },
    { "HOOKSPOOL_MAX_BODY",       offsetof(hs_config, max_body),       1, 1048576,   0 },
    { "HOOKSPOOL_ROTATE_BYTES",   offsetof(hs_config, rotate_bytes),   1, 67108864,  1 },
    { "HOOKSPOOL_ROTATE_SECONDS", offsetof(hs_config, rotate_seconds), 1, 60,        1 },
    { "HOOKSPOOL_DEDUP_SECONDS",  offsetof(hs_config, dedup_seconds),  1, 604800,    0 },
    { "HOOKSPOOL_MAX_LAG",        offsetof(hs_config, max_lag),        1, 3600,      0 },
    { "HOOKSPOOL_MIN_FREE",       offsetof(hs_config, min_free),       1, 104857600, 0 },
    { "HOOKSPOOL_INVALID_KEEP",   offsetof(hs_config, invalid_keep),   0, 10485760,  0 },
    /* 0: no archive. Read by the consumer commands (hs_conf_parse_spool). */
    { "HOOKSPOOL_ARCHIVE_SECONDS", offsetof(hs_config, archive_seconds), 0, 0,       1 },
};
#define NUM_SETTINGS (sizeof(num_settings) / sizeof(num_settings[0]))

/* Contract in config.h. */
int hs_conf_template(hs_conf_lookup_fn lookup, void *arg, hs_scheme *sc,
                     char *err, size_t errlen)
{
    static const char *const names[] = {
        [HS_TPL_SIGNED] = "HOOKSPOOL_SIGNED", [HS_TPL_SIGNATURE] = "HOOKSPOOL_SIGNATURE",
    };
    const char *sg = lookup(arg, names[HS_TPL_SIGNED]);
    const char *sh = lookup(arg, names[HS_TPL_SIGNATURE]);
    char why[256];
    hs_tpl_setting which;

    if (sc->kind != HS_SCHEME_TEMPLATE) {
        /* Set for another scheme, they would silently mean nothing. */
        if (sg != NULL || sh != NULL) {
            seterr(err, errlen, "%s: only with HOOKSPOOL_SCHEME=template-ALG-ENC",
                   names[sg != NULL ? HS_TPL_SIGNED : HS_TPL_SIGNATURE]);
            return -1;
        }
        return 0;
    }
    if (hs_scheme_template(sc, sg, sh, &which, why, sizeof why) != 0) {
        seterr(err, errlen, "%s: %s", names[which], why);
        return -1;
    }
    return 0;
}

/* Every field of c at its default (umask: HS_CONF_UMASK_DEF). */
static void set_defaults(hs_config *c)
{
    size_t i;
    memset(c, 0, sizeof(*c));
    for (i = 0; i < NUM_SETTINGS; i++)
        *(long long *)((char *)c + num_settings[i].off) = num_settings[i].def;
    c->fsync_always = 1;
    c->umask = HS_CONF_UMASK_DEF;
}

/* The numeric settings (only those that say how to write the spool,
 * with spool_only), then HOOKSPOOL_FSYNC and HOOKSPOOL_UMASK, into c. 0,
 * or -1 with err naming the first setting at fault. */
static int parse_numbers_fsync_umask(hs_conf_lookup_fn lookup, void *arg, int spool_only,
                                     hs_config *c, char *err, size_t errlen)
{
    const char *v;
    size_t i;

    for (i = 0; i < NUM_SETTINGS; i++) {
        if (spool_only && !num_settings[i].spool) continue;
        v = lookup(arg, num_settings[i].name);
        if (v != NULL && hs_conf_parse_num(v, num_settings[i].min, HS_CONF_NUM_MAX,
                (long long *)((char *)c + num_settings[i].off)) != 0) {
            seterr(err, errlen, "%s: not a decimal integer from %lld to 2^62",
                   num_settings[i].name, num_settings[i].min);
            return -1;
        }
    }

    v = lookup(arg, "HOOKSPOOL_FSYNC");
    if (v != NULL) {
        if (strcmp(v, "always") == 0) c->fsync_always = 1;
        else if (strcmp(v, "never") == 0) c->fsync_always = 0;
        else { seterr(err, errlen, "HOOKSPOOL_FSYNC: must be always or never"); return -1; }
    }

    v = lookup(arg, "HOOKSPOOL_UMASK");
    if (v != NULL && hs_conf_parse_umask(v, &c->umask) != 0) {
        seterr(err, errlen, "HOOKSPOOL_UMASK: must be octal, 000 to 777");
        return -1;
    }
    return 0;
}

int hs_conf_parse_spool(hs_conf_lookup_fn lookup, void *arg, hs_config *c,
                        char *err, size_t errlen)
{
    set_defaults(c);
    c->umask = HS_CONF_UMASK_SHELL;
    return parse_numbers_fsync_umask(lookup, arg, 1, c, err, errlen);
}

/* A DN setting into out[HS_AUTH_MAX_DN + 1]: 0, or -1 when too long. */
static int copy_dn(const char *v, char *out)
{
    size_t n = strlen(v);
    if (n > HS_AUTH_MAX_DN) return -1;
    memcpy(out, v, n + 1);
    return 0;
}

/*
 * Issue 17: HOOKSPOOL_MTLS_SUBJECT/_ISSUER, HOOKSPOOL_ALLOW_FROM and
 * HOOKSPOOL_BATCH, then the rules that tie them to the scheme: a scheme
 * that authenticates nothing (none) needs mutual TLS or an address list,
 * and the pix preset needs one of those or a query token. 0, or -1 with
 * err naming the setting.
 */
static int parse_auth_batch(hs_conf_lookup_fn lookup, void *arg, hs_config *c,
                            char *err, size_t errlen)
{
    const char *v;
    int n;

    v = lookup(arg, "HOOKSPOOL_MTLS_SUBJECT");
    if (v != NULL && *v != '\0') {
        if (copy_dn(v, c->mtls_subject) != 0) {
            seterr(err, errlen, "HOOKSPOOL_MTLS_SUBJECT: longer than %d bytes", HS_AUTH_MAX_DN);
            return -1;
        }
        c->mtls = 1;
    }
    v = lookup(arg, "HOOKSPOOL_MTLS_ISSUER");
    if (v != NULL && *v != '\0') {
        if (copy_dn(v, c->mtls_issuer) != 0) {
            seterr(err, errlen, "HOOKSPOOL_MTLS_ISSUER: longer than %d bytes", HS_AUTH_MAX_DN);
            return -1;
        }
        c->mtls = 1;
    }
    /* "*": any certificate the server verified (its CA list decides). */
    if (strcmp(c->mtls_subject, "*") == 0) c->mtls_subject[0] = '\0';
    if (strcmp(c->mtls_issuer, "*") == 0) c->mtls_issuer[0] = '\0';

    v = lookup(arg, "HOOKSPOOL_ALLOW_FROM");
    if (v != NULL && *v != '\0') {
        n = hs_auth_parse_nets(v, c->allow, HS_AUTH_MAX_NETS);
        if (n <= 0) {
            seterr(err, errlen, "HOOKSPOOL_ALLOW_FROM: must be a comma list of at most %d "
                   "IPv4 or IPv6 addresses or CIDR blocks (no bits set past the prefix)",
                   HS_AUTH_MAX_NETS);
            return -1;
        }
        c->nallow = (size_t)n;
    }

    v = lookup(arg, "HOOKSPOOL_BATCH");
    if (v == NULL) v = c->preset_pix ? "pix" : "off";
    if (strcmp(v, "off") == 0) c->batch = HS_BATCH_OFF;
    else if (strcmp(v, "array") == 0) c->batch = HS_BATCH_ARRAY;
    else if (strcmp(v, "pix") == 0) c->batch = HS_BATCH_PIX;
    else if (strlen(v) <= HS_CONF_MAX_ITEM && ok_pointer(v, strlen(v))) {
        c->batch = HS_BATCH_POINTER;
        strcpy(c->batch_pointer, v);
    } else {
        seterr(err, errlen, "HOOKSPOOL_BATCH: must be off, array, pix or a JSON Pointer");
        return -1;
    }

    v = lookup(arg, "HOOKSPOOL_BASE_PATH");
    if (v != NULL && *v != '\0') {
        if (v[0] != '/' || strlen(v) > HS_CONF_MAX_ITEM) {
            seterr(err, errlen, "HOOKSPOOL_BASE_PATH: must be a URL path starting with / "
                   "(at most %d bytes)", HS_CONF_MAX_ITEM);
            return -1;
        }
        strcpy(c->base_path, v);
    }

    /* The preset's rule first: its message names every way out. */
    if (c->preset_pix && !c->mtls && c->nallow == 0 && !c->scheme.query) {
        seterr(err, errlen, "HOOKSPOOL_PRESET: pix needs mutual TLS (HOOKSPOOL_MTLS_SUBJECT), "
               "a query token (HOOKSPOOL_SCHEME=query:NAME) or HOOKSPOOL_ALLOW_FROM");
        return -1;
    }
    if (c->scheme.mac == HS_MAC_NONE && !c->mtls && c->nallow == 0) {
        seterr(err, errlen, "HOOKSPOOL_SCHEME: %s authenticates nothing by itself; set "
               "HOOKSPOOL_MTLS_SUBJECT (mutual TLS) or HOOKSPOOL_ALLOW_FROM", c->scheme.name);
        return -1;
    }
    return 0;
}

int hs_conf_parse(hs_conf_lookup_fn lookup, void *arg, hs_config *c,
                  char *err, size_t errlen)
{
    return hs_conf_parse_flags(lookup, arg, 0, c, err, errlen);
}

void hs_conf_free(hs_config *c)
{
    size_t i;

    if (c == NULL) return;
    for (i = 0; i < sizeof c->pub / sizeof c->pub[0]; i++)
        hs_pubkey_free(&c->pub[i]);
    c->npub = 0;
}

/* 1 when sc signs the URL it was sent to (HS_PART_URL). */
static int needs_url(const hs_scheme *sc)
{
    size_t i;
    for (i = 0; i < HS_SCHEME_MAX_PARTS && sc->parts[i].kind != HS_PART_END; i++)
        if (sc->parts[i].kind == HS_PART_URL) return 1;
    return 0;
}

/* HOOKSPOOL_PUBLIC_KEY, _OLD, HOOKSPOOL_PUBLIC_URL and HOOKSPOOL_FORM_JSON
 * (after the scheme); has_secret: some secret is configured. 0, or -1
 * with err naming the setting. */
static int parse_keys_url_form(hs_conf_lookup_fn lookup, void *arg, unsigned flags,
                               int has_secret, hs_config *c, char *err, size_t errlen)
{
    static const char *const names[] = { "HOOKSPOOL_PUBLIC_KEY", "HOOKSPOOL_PUBLIC_KEY_OLD" };
    const hs_scheme *sc = &c->scheme;
    const char *v;
    char why[200];
    size_t i, n;

    for (i = 0; i < 2; i++) {
        v = lookup(arg, names[i]);
        if (v == NULL || *v == '\0') continue;
        if (sc->pk_alg == HS_PK_NONE) {
            seterr(err, errlen, "%s: only with a scheme that verifies with a public key "
                   "(standard, discord, sendgrid)", names[i]);
            return -1;
        }
        if (hs_pubkey_parse(sc->pk_alg, sc->pk_text, v, strlen(v), names[i],
                            &c->pub[c->npub], why, sizeof why) != 0) {
            seterr(err, errlen, "%s: %s", names[i], why);
            return -1;
        }
        c->npub++;
    }
    if (sc->mac == HS_MAC_PUBKEY && has_secret) {
        seterr(err, errlen, "HOOKSPOOL_SECRET: %s verifies with a public key, not a secret "
               "(set HOOKSPOOL_PUBLIC_KEY)", sc->name);
        return -1;
    }
    if (sc->mac == HS_MAC_PUBKEY && c->npub == 0 && !(flags & HS_CONF_NO_SECRET)) {
        seterr(err, errlen, "HOOKSPOOL_PUBLIC_KEY: not set (%s verifies with the sender's "
               "public key)", sc->name);
        return -1;
    }
    if (sc->mac != HS_MAC_PUBKEY && sc->mac != HS_MAC_NONE && !has_secret && c->npub == 0 &&
        !(flags & HS_CONF_NO_SECRET)) {
        seterr(err, errlen, "HOOKSPOOL_SECRET: no secret configured (set "
               "HOOKSPOOL_SECRET or HOOKSPOOL_SECRET_FILE%s)",
               sc->pk_alg != HS_PK_NONE ? ", or HOOKSPOOL_PUBLIC_KEY" : "");
        return -1;
    }

    v = lookup(arg, "HOOKSPOOL_PUBLIC_URL");
    if (v != NULL && *v != '\0') {
        n = strlen(v);
        if (!needs_url(sc)) {
            seterr(err, errlen, "HOOKSPOOL_PUBLIC_URL: only with a scheme that signs the "
                   "URL (twilio, square)");
            return -1;
        }
        if (n > HS_CONF_MAX_URL || (strncmp(v, "https://", 8) != 0 &&
                                    strncmp(v, "http://", 7) != 0) ||
            strpbrk(v, "?# \t\r\n") != NULL) {
            seterr(err, errlen, "HOOKSPOOL_PUBLIC_URL: must be the http:// or https:// URL "
                   "the sender calls, without query or fragment, at most %d bytes",
                   HS_CONF_MAX_URL);
            return -1;
        }
        for (i = 0; i < n; i++)
            if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e) {
                seterr(err, errlen, "HOOKSPOOL_PUBLIC_URL: only visible ASCII (percent-encode "
                       "the rest as the sender does)");
                return -1;
            }
        memcpy(c->public_url, v, n + 1);
    } else if (needs_url(sc)) {
        seterr(err, errlen, "HOOKSPOOL_PUBLIC_URL: not set (%s signs the URL it calls: set it "
               "to that URL exactly, as configured at the sender)", sc->name);
        return -1;
    }

    v = lookup(arg, "HOOKSPOOL_FORM_JSON");
    if (v != NULL && *v != '\0') {
        n = strlen(v);
        if (n > HS_CONF_MAX_ITEM) {
            seterr(err, errlen, "HOOKSPOOL_FORM_JSON: longer than %d bytes", HS_CONF_MAX_ITEM);
            return -1;
        }
        memcpy(c->form_json, v, n + 1);
    }
    return 0;
}

static int conf_parse(hs_conf_lookup_fn lookup, void *arg, unsigned flags,
                      hs_config *c, char *err, size_t errlen);

int hs_conf_parse_flags(hs_conf_lookup_fn lookup, void *arg, unsigned flags,
                        hs_config *c, char *err, size_t errlen)
{
    int rc = conf_parse(lookup, arg, flags, c, err, errlen);

    if (rc != 0) hs_conf_free(c);
    return rc;
}

static int conf_parse(hs_conf_lookup_fn lookup, void *arg, unsigned flags,
                      hs_config *c, char *err, size_t errlen)
{
    const char *v, *sv, *svo, *sf;
    size_t n;

    set_defaults(c);

    /* The preset first: it changes the defaults below. */
    v = lookup(arg, "HOOKSPOOL_PRESET");
    if (v != NULL && *v != '\0') {
        if (strcmp(v, "pix") != 0) {
            seterr(err, errlen, "HOOKSPOOL_PRESET: unknown preset (pix)");
            return -1;
        }
        c->preset_pix = 1;
    }

    /* The scheme next: secrets and defaults depend on it. */
    v = lookup(arg, "HOOKSPOOL_SCHEME");
    if (v == NULL) v = c->preset_pix ? "none" : "caliza";
    if (hs_scheme_parse(v, strlen(v), &c->scheme) != 0) {
        char forms[SCHEME_FORMS_MAX];
        seterr(err, errlen, "HOOKSPOOL_SCHEME: unknown scheme (%s)",
               hs_scheme_forms(forms, sizeof(forms)));
        return -1;
    }
    if (hs_conf_template(lookup, arg, &c->scheme, err, errlen) != 0)
        return -1;

    v = lookup(arg, "HOOKSPOOL_SPOOL");
    if (v == NULL || *v == '\0') {
        seterr(err, errlen, "HOOKSPOOL_SPOOL: not set (the spool directory is required)");
        return -1;
    }
    /* Shorter than HS_SPOOL_PATH_MAX: room for the names opened below it. */
    if (v[0] != '/' || strlen(v) >= HS_SPOOL_PATH_MAX) {
        seterr(err, errlen, "HOOKSPOOL_SPOOL: must be an absolute path");
        return -1;
    }
    strcpy(c->spool, v);

    v = lookup(arg, "HOOKSPOOL_ENDPOINT");
    if (v == NULL) v = c->preset_pix ? "pix" : c->scheme.name;
    n = strlen(v);
    if (n == 0 || n > HS_CONF_MAX_ENDPOINT) {
        seterr(err, errlen, "HOOKSPOOL_ENDPOINT: must be 1 to %d bytes", HS_CONF_MAX_ENDPOINT);
        return -1;
    }
    memcpy(c->endpoint, v, n + 1);

    if (parse_numbers_fsync_umask(lookup, arg, 0, c, err, errlen) != 0) return -1;

    v = lookup(arg, "HOOKSPOOL_DEDUP");
    if (v == NULL) v = c->preset_pix ? "content" : hs_scheme_default_dedup(&c->scheme);
    if (parse_dedup(v, c) != 0) {
        seterr(err, errlen, "HOOKSPOOL_DEDUP: must be off, content, json:/pointer[,/pointer] "
               "or header:Name (at most %d parts)", HS_CONF_MAX_DEDUP);
        return -1;
    }

    v = lookup(arg, "HOOKSPOOL_KEEP_HEADERS");
    if (v == NULL) v = hs_scheme_default_keep(&c->scheme);
    if (parse_keep(v, c) != 0) {
        seterr(err, errlen, "HOOKSPOOL_KEEP_HEADERS: must be a comma list of at most "
               "%d header names", HS_CONF_MAX_KEEP);
        return -1;
    }

    v = lookup(arg, "HOOKSPOOL_STATUS_TOKEN");
    if (v != NULL && *v != '\0') {
        n = strlen(v);
        if (n > HS_CONF_MAX_TOKEN) {
            seterr(err, errlen, "HOOKSPOOL_STATUS_TOKEN: longer than %d bytes", HS_CONF_MAX_TOKEN);
            return -1;
        }
        memcpy(c->status_token, v, n + 1);
        c->has_status_token = 1;
    }

    /* What the operator typed as Meta's verify token: compared with
     * hub.verify_token, never a key. */
    v = lookup(arg, "HOOKSPOOL_VERIFY_TOKEN");
    if (v != NULL && *v != '\0') {
        n = strlen(v);
        if (n > HS_CONF_MAX_TOKEN) {
            seterr(err, errlen, "HOOKSPOOL_VERIFY_TOKEN: longer than %d bytes", HS_CONF_MAX_TOKEN);
            return -1;
        }
        memcpy(c->verify_token, v, n + 1);
    }

    sv = lookup(arg, "HOOKSPOOL_SECRET");
    svo = lookup(arg, "HOOKSPOOL_SECRET_OLD");
    sf = lookup(arg, "HOOKSPOOL_SECRET_FILE");
    if (sv != NULL && *sv != '\0') {
        if (hs_secret_decode(&c->scheme, sv, strlen(sv), "HOOKSPOOL_SECRET",
                             &c->secrets[c->nsecrets]) != 0) {
            seterr(err, errlen, "HOOKSPOOL_SECRET: empty, longer than %d bytes "
                   "or badly encoded after its base64:/hex: prefix", HS_SECRET_MAX);
            return -1;
        }
        c->nsecrets++;
    }
    if (svo != NULL && *svo != '\0') {
        if (hs_secret_decode(&c->scheme, svo, strlen(svo), "HOOKSPOOL_SECRET_OLD",
                             &c->secrets[c->nsecrets]) != 0) {
            seterr(err, errlen, "HOOKSPOOL_SECRET_OLD: empty, longer than %d bytes "
                   "or badly encoded after its base64:/hex: prefix", HS_SECRET_MAX);
            return -1;
        }
        c->nsecrets++;
    }
    if (sf != NULL && *sf != '\0') {
        if (sf[0] != '/' || strlen(sf) >= sizeof(c->secret_file)) {
            seterr(err, errlen, "HOOKSPOOL_SECRET_FILE: must be an absolute path");
            return -1;
        }
        strcpy(c->secret_file, sf);
    }
    if (parse_auth_batch(lookup, arg, c, err, errlen) != 0) return -1;
    return parse_keys_url_form(lookup, arg, flags, c->nsecrets > 0 || c->secret_file[0] != '\0',
                               c, err, errlen);
}

static int known_name(const char *name)
{
    size_t i;
    if (strcmp(name, "HOOKSPOOL_CONFIG") == 0) return 1;
    for (i = 0; hs_conf_names[i] != NULL; i++)
        if (strcmp(name, hs_conf_names[i]) == 0) return 1;
    return 0;
}

int hs_conf_file_parse(const char *text, size_t len,
                       int (*pair)(void *arg, const char *name, const char *value),
                       void *arg, char *err, size_t errlen)
{
    char line[HS_CONF_MAX_FILE + 1];
    size_t pos = 0, lineno = 0;

    if (len > HS_CONF_MAX_FILE) {
        seterr(err, errlen, "larger than %d bytes", HS_CONF_MAX_FILE);
        return -1;
    }
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        char *b, *eq, *name, *val;
        size_t vl;

        lineno++;
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos += n + (nl != NULL);
        if (memchr(line, '\0', n) != NULL) {
            seterr(err, errlen, "line %zu: NUL byte", lineno);
            return -1;
        }
        b = line;
        while (isspace((unsigned char)*b)) b++;
        if (*b == '\0' || *b == '#') continue;
        eq = strchr(b, '=');
        if (eq == NULL) {
            seterr(err, errlen, "line %zu: expected NAME=value", lineno);
            return -1;
        }
        *eq = '\0';
        name = b;
        vl = strlen(name);
        while (vl && isspace((unsigned char)name[vl - 1])) name[--vl] = '\0';
        if (strncmp(name, "HOOKSPOOL_", 10) != 0 || !known_name(name)) {
            seterr(err, errlen, "line %zu: unknown setting %.64s", lineno, name);
            return -1;
        }
        val = eq + 1;
        vl = strlen(val);
        while (vl && isspace((unsigned char)val[vl - 1])) val[--vl] = '\0';
        while (isspace((unsigned char)*val)) { val++; vl--; }
        if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && val[vl - 1] == val[0]) {
            val[vl - 1] = '\0';
            val++;
        }
        if (pair(arg, name, val) != 0) return -1;
    }
    return 0;
}

int hs_conf_secret_file_parse(const hs_scheme *sc, const char *text,
                              size_t len, const char *source,
                              hs_secret *out, size_t max,
                              char *err, size_t errlen)
{
    size_t pos = 0, lineno = 0, n = 0;

    if (len > HS_CONF_MAX_FILE) {
        seterr(err, errlen, "larger than %d bytes", HS_CONF_MAX_FILE);
        return -1;
    }
    while (pos < len) {
        const char *l = text + pos;
        const char *nl = memchr(l, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - l) : len - pos;

        lineno++;
        pos += ll + (nl != NULL);
        while (ll && isspace((unsigned char)l[ll - 1])) ll--;
        while (ll && isspace((unsigned char)*l)) { l++; ll--; }
        if (ll == 0 || l[0] == '#') continue;
        if (n == max) {
            seterr(err, errlen, "more than %zu secrets", max);
            return -1;
        }
        if (memchr(l, '\0', ll) != NULL ||
            hs_secret_decode(sc, l, ll, source, &out[n]) != 0) {
            seterr(err, errlen, "line %zu: secret too long or badly encoded", lineno);
            return -1;
        }
        n++;
    }
    if (n == 0) {
        seterr(err, errlen, "holds no secret");
        return -1;
    }
    return (int)n;
}

int hs_conf_threads(const char *v, const char *fsync, int *n)
{
    long long t;
    *n = fsync != NULL && strcmp(fsync, "never") == 0 ? HS_CONF_THREADS_NOFLUSH
                                                      : HS_CONF_THREADS_FLUSH;
    if (v == NULL) return 0;
    if (hs_conf_parse_num(v, 1, HS_CONF_THREADS_MAX, &t) != 0) return -1;
    *n = (int)t;
    return 0;
}
