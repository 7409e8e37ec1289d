/*
 * config.h - the settings of SPEC section 2, parsed into a const struct.
 *
 * This module only turns (name -> value) lookups into a checked struct;
 * where the values come from (request parameters, environment, file) is
 * the context's business (ctx.h). Nothing here touches the disk except
 * hs_conf_file_parse(), which parses text the caller has read.
 */
#ifndef HS_CONFIG_H
#define HS_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>
#include "auth.h"
#include "scheme.h"
#include "pubkey.h"
#include "secret.h"

#define HS_CONF_MAX_SECRETS   16      /* secrets per setting or file */
#define HS_CONF_MAX_KEEP      16      /* kept headers */
#define HS_CONF_MAX_DEDUP     8       /* dedup key parts */
#define HS_CONF_THREADS_FLUSH 4       /* FastCGI requests one process serves at
                                         once, by default, when lines are flushed */
#define HS_CONF_THREADS_NOFLUSH 1     /* ... and with HOOKSPOOL_FSYNC=never */
#define HS_CONF_THREADS_MAX   64
#define HS_CONF_MAX_ITEM      128     /* one header name or JSON Pointer */
#define HS_CONF_MAX_ENDPOINT  128
#define HS_CONF_MAX_TOKEN     512     /* status token */
#define HS_CONF_MAX_FILE      65536   /* bytes of a config or secret file */
#define HS_CONF_MAX_URL       1024    /* HOOKSPOOL_PUBLIC_URL */
#define HS_CONF_NUM_MAX       (1LL << 62)
#define HS_CONF_UMASK_DEF     077     /* HOOKSPOOL_UMASK: the receiver's default */
#define HS_CONF_UMASK_SHELL   007     /* ... and the spool commands' (see
                                         hs_conf_parse_spool) */

/* HS_DEDUP_CONTENT: the key is the SHA-256 of the event's minified bytes
 * (each element's, in a batch): a retry is a duplicate, a re-notice with
 * anything changed is new (issue 17). */
typedef enum { HS_DEDUP_OFF, HS_DEDUP_JSON, HS_DEDUP_HEADER, HS_DEDUP_CONTENT } hs_dedup_kind;

/* HOOKSPOOL_BATCH: which bodies are split into one line per element. */
typedef enum {
    HS_BATCH_OFF = 0,  /* never: the body is one event */
    HS_BATCH_ARRAY,    /* "array": a body that is itself an array */
    HS_BATCH_POINTER,  /* "/pointer": the array there, or a bare array */
    HS_BATCH_PIX       /* "pix": the pointer by the URL's suffix (batch.h) */
} hs_batch_kind;

typedef struct hs_config {
    char          spool[PATH_MAX];
    hs_scheme     scheme;
    char          endpoint[HS_CONF_MAX_ENDPOINT + 1];
    hs_secret     secrets[2];          /* HOOKSPOOL_SECRET, _SECRET_OLD */
    size_t        nsecrets;
    char          secret_file[PATH_MAX];   /* "" when not set */
    long long     tolerance, max_body, rotate_bytes, rotate_seconds;
    long long     dedup_seconds, max_lag, min_free, invalid_keep;
    long long     archive_seconds;   /* keep consumed segments this long; 0: not at all */
    int           fsync_always;
    hs_dedup_kind dedup;
    char          dedup_items[HS_CONF_MAX_DEDUP][HS_CONF_MAX_ITEM + 1];
    size_t        ndedup;
    char          keep[HS_CONF_MAX_KEEP][HS_CONF_MAX_ITEM + 1];
    size_t        nkeep;
    char          status_token[HS_CONF_MAX_TOKEN + 1];
    int           has_status_token;
    char          verify_token[HS_CONF_MAX_TOKEN + 1];  /* Meta's hub.verify_token,
                                        "" when not set */
    mode_t        umask;
    hs_pubkey     pub[2];              /* HOOKSPOOL_PUBLIC_KEY, _OLD: parsed
                                        * once here, freed by hs_conf_free */
    size_t        npub;
    char          public_url[HS_CONF_MAX_URL + 1];  /* HOOKSPOOL_PUBLIC_URL, "" unset */
    char          form_json[HS_CONF_MAX_ITEM + 1];  /* HOOKSPOOL_FORM_JSON, "" unset */
    /* Authentication beside the scheme (auth.h); all that are set must
     * pass. */
    char          mtls_subject[HS_AUTH_MAX_DN + 1];  /* "" : any */
    char          mtls_issuer[HS_AUTH_MAX_DN + 1];   /* "" : any */
    int           mtls;                /* either set: a verified client
                                        * certificate is required */
    hs_auth_net   allow[HS_AUTH_MAX_NETS];           /* HOOKSPOOL_ALLOW_FROM */
    size_t        nallow;
    hs_batch_kind batch;
    char          batch_pointer[HS_CONF_MAX_ITEM + 1];  /* HS_BATCH_POINTER */
    int           preset_pix;          /* HOOKSPOOL_PRESET=pix */
    char          base_path[HS_CONF_MAX_ITEM + 1];  /* HOOKSPOOL_BASE_PATH, "" : none */
} hs_config;

/* Free what a parsed configuration holds (its public keys); c is then
 * as after a failed parse. NULL or a zeroed struct: nothing. */
void hs_conf_free(hs_config *c);

/* Returns the value of setting `name` (e.g. "HOOKSPOOL_SPOOL") or NULL. */
typedef const char *(*hs_conf_lookup_fn)(void *arg, const char *name);

/* The names of SPEC section 2, NULL-terminated (HOOKSPOOL_CONFIG is not
 * among them: it says where the file is, it is not a setting in it). */
extern const char *const hs_conf_names[];

/*
 * For a template-ALG-ENC scheme sc, give it its shape from
 * HOOKSPOOL_SIGNED and HOOKSPOOL_SIGNATURE (scheme.h hs_scheme_template);
 * for any other scheme, refuse either setting being set. Returns 0, or
 * -1 with a message in err[0..errlen) naming the setting at fault.
 * hs_conf_parse calls it; so does `hookspool sign`.
 */
int hs_conf_template(hs_conf_lookup_fn lookup, void *arg, hs_scheme *sc,
                     char *err, size_t errlen);

/*
 * Fill *out from lookup. Returns 0, or -1 with a one-line message in
 * err[0..errlen) naming the setting at fault (never its value: it may be
 * a secret). Every number is decimal, parsed with an end pointer, within
 * SPEC's ranges. *out is fully initialised either way (defaults first).
 * A configuration without any secret (HOOKSPOOL_SECRET, _OLD or
 * _SECRET_FILE) is an error, except for a scheme that verifies with a
 * public key (HOOKSPOOL_PUBLIC_KEY). A configuration that parsed holds
 * its public keys: release it with hs_conf_free (a failed parse holds
 * nothing).
 */
int hs_conf_parse(hs_conf_lookup_fn lookup, void *arg, hs_config *out,
                  char *err, size_t errlen);

/* hs_conf_parse's flags. */
#define HS_CONF_NO_SECRET 1u   /* no secret required: for what verifies no
                                * request (the shell's `hookspool status`);
                                * secrets that are set are still checked */

/* hs_conf_parse with flags (0: exactly hs_conf_parse). */
int hs_conf_parse_flags(hs_conf_lookup_fn lookup, void *arg, unsigned flags,
                        hs_config *out, char *err, size_t errlen);

/*
 * What the spool commands of `hookspool` (rotate, claim, done, requeue,
 * consume, retry-failed) read: HOOKSPOOL_ROTATE_BYTES, _ROTATE_SECONDS,
 * _FSYNC and _UMASK, with hs_conf_parse's defaults and checks, and
 * nothing else required (no spool path, no secret). The umask default
 * is HS_CONF_UMASK_SHELL: in a consumer the umask says what group and
 * others may write in the spool (spool.h, "Trust"), and a cron job of
 * the web server's group must accept a spool made with 007 even when its
 * own environment does not say so (it creates nothing with it but the
 * store, whose mode follows the spool's). The other fields of *out are
 * hs_conf_parse's defaults. 0, or -1 with err naming the setting.
 */
int hs_conf_parse_spool(hs_conf_lookup_fn lookup, void *arg, hs_config *out,
                        char *err, size_t errlen);

/*
 * Parse text[0..len) of a configuration file: NAME=value lines, blank
 * lines and lines starting with '#' ignored, whitespace around NAME and
 * at the end of the value dropped, one pair of matching quotes around the
 * value dropped. Calls pair(arg, name, value) for each setting (name and
 * value NUL-terminated, valid for the call only); pair returns 0 or -1 to
 * stop. Returns 0, or -1 with err set ("line N: ...") on a line without
 * '=' or an unknown HOOKSPOOL_ name (a typo must not silently fall back
 * to a default).
 */
int hs_conf_file_parse(const char *text, size_t len,
                       int (*pair)(void *arg, const char *name, const char *value),
                       void *arg, char *err, size_t errlen);

/*
 * Parse text[0..len) of a secret file for scheme sc: one secret per
 * line, blank and '#' lines skipped, trailing whitespace dropped.
 * Fills out[0..max) with `source` as each secret's source. Returns the
 * count (>= 1), or -1 with err set (no secret, too many, bad encoding).
 */
int hs_conf_secret_file_parse(const hs_scheme *sc, const char *text,
                              size_t len, const char *source,
                              hs_secret *out, size_t max,
                              char *err, size_t errlen);

/* Parse a decimal integer s within [min, max]; 0 or -1. No sign, no
 * spaces, no trailing bytes. */
/* HOOKSPOOL_UMASK's form: octal, 000 to 777 (at most 4 digits). 0 with
 * *out, or -1. */
int hs_conf_parse_umask(const char *v, mode_t *out);

int hs_conf_parse_num(const char *s, long long min, long long max,
                      long long *out);

/*
 * HOOKSPOOL_THREADS, a process setting (read from the FastCGI process's
 * environment at start, never per request). v is its value, fsync the
 * same environment's HOOKSPOOL_FSYNC; either may be NULL (unset).
 * v NULL gives the default: HS_CONF_THREADS_NOFLUSH when fsync is
 * exactly "never", else HS_CONF_THREADS_FLUSH. Threads exist so that
 * requests appending at once share one fdatasync (group commit); with
 * nothing to flush they only contend for the spool lock, which cost
 * about 10 us of CPU per request in bench/RESULTS.md. An endpoint that
 * sets HOOKSPOOL_FSYNC per request or in a configuration file gets
 * HS_CONF_THREADS_FLUSH: the safe side, since it may flush.
 * 0 and *n set, or -1 when v is not a decimal integer from 1 to
 * HS_CONF_THREADS_MAX.
 */
int hs_conf_threads(const char *v, const char *fsync, int *n);

#endif
