/*
 * docroot.h - which configured paths the web server would serve to
 * anyone: a spool or a secret file inside the web root (DOCUMENT_ROOT)
 * can be downloaded by whoever guesses its URL. `hookspool check
 * --docroot` counts each as a problem; the receiver logs each once per
 * process (ctx.c).
 */
#ifndef HS_DOCROOT_H
#define HS_DOCROOT_H

#include "config.h"

/* What lies inside the web root: the setting that names it, its path as
 * configured, and what anyone could download ("the events", "the
 * secret"). */
typedef void (*hs_docroot_fn)(void *arg, const char *setting, const char *path,
                              const char *what);

/*
 * Calls found(arg, ...) for each path of cfg (HOOKSPOOL_SPOOL, then
 * HOOKSPOOL_SECRET_FILE when set) that lies inside docroot, as
 * hs_path_under (path.h) decides. docroot NULL or "" finds nothing.
 * Returns how many were found.
 */
int hs_docroot_exposed(const hs_config *cfg, const char *docroot, hs_docroot_fn found,
                       void *arg);

#endif
