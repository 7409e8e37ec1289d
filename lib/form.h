/*
 * form.h - application/x-www-form-urlencoded bodies (Slack slash
 * commands and interactivity, Twilio, Mailgun's form format, GitHub
 * hooks set to `form`), decoded into fields and written as the JSON
 * object hookspool stores as the event.
 *
 * Decoding is strict: '+' is a space, %XX two hex digits; a '%' not
 * followed by two hex digits, a decoded name or value that is not UTF-8
 * (no overlong forms, no surrogates), or more than
 * HS_FORM_MAX_FIELDS fields make the body invalid. Every decoded name
 * and value lives in an allocation of exactly its size (none for an empty
 * one), so a read past its end is an ASan report, not a silent overread.
 * Nothing here authenticates: call it on a body whose signature verified.
 */
#ifndef HS_FORM_H
#define HS_FORM_H

#include <stddef.h>
#include "buf.h"

#define HS_FORM_MAX_FIELDS 4096   /* fields in one body */
#define HS_FORM_CONTENT_TYPE "application/x-www-form-urlencoded"

typedef enum {
    HS_FORM_OK = 0,
    HS_FORM_BAD_ESCAPE,   /* '%' not followed by two hex digits */
    HS_FORM_BAD_UTF8,     /* a decoded name or value is not UTF-8 */
    HS_FORM_TOO_MANY,     /* more than HS_FORM_MAX_FIELDS fields */
    HS_FORM_NO_FIELD,     /* hs_form_event: the named field is absent */
    HS_FORM_BAD_JSON,     /* hs_form_event: the named field is not JSON */
    HS_FORM_ENOMEM
} hs_form_result;

typedef struct hs_form_field {
    char  *name;     /* exactly nlen bytes, not terminated (NULL when 0) */
    size_t nlen;
    char  *value;    /* exactly vlen bytes, not terminated (NULL when 0) */
    size_t vlen;
} hs_form_field;

typedef struct hs_form {
    hs_form_field *f;      /* in body order */
    size_t         n;
    size_t        *order;  /* indices of f sorted by name (bytes), equal
                            * names in body order */
} hs_form;

#define HS_FORM_INIT { NULL, 0, NULL }

/*
 * Decode body[0..len) into *out (HS_FORM_INIT or freed). Fields are
 * split at '&'; empty pieces ("a=1&&b=2", a trailing '&') are skipped;
 * a piece without '=' is a name with an empty value. Returns HS_FORM_OK,
 * or another result with *out left empty.
 */
hs_form_result hs_form_parse(const unsigned char *body, size_t len, hs_form *out);

void hs_form_free(hs_form *f);

/* A short English text for a result (for the log). */
const char *hs_form_strerror(hs_form_result r);

/*
 * Append the JSON object of f to out: one member per distinct name in
 * the order of its first field, its value a JSON string, or, for a name
 * that comes more than once, an array of its values in body order.
 * Returns 0, or -1 out of memory.
 */
int hs_form_json(const hs_form *f, hs_buf *out);

/* The value of the first field named name[0..nlen): 1 with *v, *vlen
 * set, 0 when there is none. */
int hs_form_get(const hs_form *f, const char *name, size_t nlen,
                const char **v, size_t *vlen);

/* Append every field's name then value, fields in name order; a name
 * that comes more than once, once per distinct value, values in order:
 * what Twilio signs after the URL (its SDK's rule for an array
 * parameter). Order is bytewise. 0 or -1. */
int hs_form_sorted(const hs_form *f, hs_buf *out);

/*
 * The event of form body[0..len), appended to ev: with field NULL or
 * empty, the JSON object of its fields (hs_form_json); otherwise the
 * value of the first field named field (GitHub's and Slack's payload=),
 * which must be JSON and becomes the event exactly as the same JSON sent
 * as the body would (json.h: minified). HS_FORM_OK or why not.
 */
hs_form_result hs_form_event(const unsigned char *body, size_t len, const char *field,
                             hs_buf *ev);

/*
 * HS_PART_FORM's bytes (Twilio) appended to out: when hash_param is not
 * NULL and the query string query has it, nothing, once its value is the
 * hex SHA-256 of body[0..len) (a JSON body, bound through the signed
 * URL); otherwise the body decoded as a form, hs_form_sorted. 0, or -1
 * when the hash differs or the body is no form.
 */
int hs_form_signed(const unsigned char *body, size_t len, const char *query,
                   const char *hash_param, hs_buf *out);

/* 1 when a Content-Type value names a form body (the media type,
 * case-insensitive, parameters ignored). */
int hs_form_content_type(const char *ct);

#endif
