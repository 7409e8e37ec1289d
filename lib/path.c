#include "path.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Resolve path as far as it exists, keeping the missing rest as is:
 * /srv/www/../spool/new -> /srv/spool/new when /srv/spool exists. */
static int resolve(const char *path, char out[PATH_MAX])
{
    char buf[PATH_MAX], real[PATH_MAX];
    size_t n = strlen(path);
    char *cut;

    if (n == 0 || n >= sizeof(buf)) return -1;
    memcpy(buf, path, n + 1);
    for (;;) {
        if (realpath(buf, real) != NULL) {
            const char *rest = path + strlen(buf);
            size_t rl = strcmp(real, "/") == 0 && *rest == '/' ? 0 : strlen(real);
            size_t sl = strlen(rest);
            if (rl + sl >= PATH_MAX) return -1;
            memcpy(out, real, rl);
            memcpy(out + rl, rest, sl + 1);
            return 0;
        }
        cut = strrchr(buf, '/');
        if (cut == NULL) return -1;
        if (cut == buf) { buf[1] = '\0'; if (strcmp(path, "/") == 0) break; }
        else *cut = '\0';
    }
    return -1;
}

int hs_path_under(const char *path, const char *root)
{
    char p[PATH_MAX], r[PATH_MAX];
    size_t rl;

    if (path == NULL || root == NULL || *path == '\0' || realpath(root, r) == NULL) return 0;
    if (resolve(path, p) != 0) return 0;
    rl = strlen(r);
    if (strcmp(r, "/") == 0) return 1;
    return strncmp(p, r, rl) == 0 && (p[rl] == '\0' || p[rl] == '/');
}
