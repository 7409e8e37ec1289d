/*
 * settings.h - where a request's settings come from, and the parsed
 * configurations kept for the next request.
 *
 * Settings are looked up, first match wins, in the request's parameters
 * (FastCGI params / CGI environment), the process environment, then the
 * configuration file: HOOKSPOOL_CONFIG, else HS_SETTINGS_FILE in the
 * program's own directory if it exists. A configuration is parsed
 * (config.h) once per distinct set of values and kept; the file and a
 * HOOKSPOOL_SECRET_FILE are re-checked at most once a second.
 *
 * An hs_settings is used by one thread at a time (each thread of a
 * FastCGI process has its own, inside its hs_ctx).
 */
#ifndef HS_SETTINGS_H
#define HS_SETTINGS_H

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>
#include "config.h"

#define HS_SETTINGS_FILE        "hookspool.conf"  /* beside the program */
#define HS_SETTINGS_MAX_CONFIGS 8   /* distinct configurations kept parsed */
#define HS_SETTINGS_MAX_FILES   4   /* configuration files kept */
#define HS_SETTINGS_ERR_MAX     512 /* room for any message here */

typedef struct hs_settings hs_settings;

/* conf_dir: where HS_SETTINGS_FILE is looked for (the program's
 * directory), or NULL for none (also when it is too long to name a file
 * in). NULL when out of memory. */
hs_settings *hs_settings_new(const char *conf_dir);
void         hs_settings_free(hs_settings *s);

/*
 * The configuration for a request whose parameters are params (a
 * NULL-terminated "NAME=value" array, or NULL), parsed with flags
 * (hs_conf_parse_flags: 0, or HS_CONF_NO_SECRET; configurations parsed
 * with different flags are kept apart). Returns a pointer owned by s,
 * valid until the next call, or NULL with a one-line message in err
 * naming the setting at fault. *fresh (may be NULL) is set to 1 when
 * this call parsed it (the first request with these values), else 0.
 */
const hs_config *hs_settings_config(hs_settings *s, char *const *params, unsigned flags,
                                    time_t now, int *fresh, char *err, size_t errlen);

/*
 * Every accepted secret of cfg (which must come from hs_settings_config
 * on s): HOOKSPOOL_SECRET, _OLD, then the lines of HOOKSPOOL_SECRET_FILE,
 * which is re-read when it changes (checked at most once a second).
 * Returns the count and sets *out (owned by s), or -1 with err set
 * (unreadable or empty secret file).
 */
int hs_settings_secrets(hs_settings *s, const hs_config *cfg, time_t now,
                        const hs_secret **out, char *err, size_t errlen);

/*
 * Read the secret file at path for scheme sc, as HOOKSPOOL_SECRET_FILE
 * is read: at most HS_CONF_MAX_FILE bytes (a larger file is an error,
 * never cut short), then hs_conf_secret_file_parse into out[0..max).
 * The file's text is wiped from memory after parsing. *st (may be NULL)
 * gets the file's fstat. Returns the count (>= 1), or -1 with err set
 * ("HOOKSPOOL_SECRET_FILE: ..." naming the path, never a secret).
 */
int hs_settings_read_secrets(const hs_scheme *sc, const char *path, hs_secret *out,
                             size_t max, struct stat *st, char *err, size_t errlen);

/* Value of NAME in a NULL-terminated "NAME=value" array, or NULL. */
const char *hs_param(char *const *params, const char *name);

#endif
