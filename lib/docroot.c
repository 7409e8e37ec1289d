#include "docroot.h"

#include <stddef.h>

#include "path.h"

int hs_docroot_exposed(const hs_config *cfg, const char *docroot, hs_docroot_fn found,
                       void *arg)
{
    int n = 0;

    if (docroot == NULL || *docroot == '\0') return 0;
    if (hs_path_under(cfg->spool, docroot)) {
        found(arg, "HOOKSPOOL_SPOOL", cfg->spool, "the events");
        n++;
    }
    if (cfg->secret_file[0] != '\0' && hs_path_under(cfg->secret_file, docroot)) {
        found(arg, "HOOKSPOOL_SECRET_FILE", cfg->secret_file, "the secret");
        n++;
    }
    return n;
}
