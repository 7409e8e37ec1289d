/*
 * check.h - `hookspool check`: the configuration as the web server's
 * program would see it, checked like `apachectl -t`.
 */
#ifndef HS_CHECK_H
#define HS_CHECK_H

#include <stdio.h>
#include <time.h>
#include "ctx.h"

/* Secrets shorter than this many bytes (as decoded) draw a warning. */
#define HS_CHECK_SECRET_MIN 16

/*
 * Check the configuration ctx resolves from params (NULL: the process
 * environment and configuration file only): settings, secrets, the spool
 * (writable, or creatable), and with docroot non-NULL that neither the
 * spool nor the secret file lies in the web root. Prints one line per
 * problem to out, each naming the setting, or "hookspool: configuration
 * OK" when there is none. Warnings (a secret under HS_CHECK_SECRET_MIN
 * bytes, whatever the scheme) are printed too but are not problems.
 * Returns the number of problems.
 */
int hs_check(hs_ctx *ctx, char *const *params, const char *docroot, time_t now,
             FILE *out);

#endif
