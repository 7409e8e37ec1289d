#include "check.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "counters.h"
#include "docroot.h"
#include "layout.h"
#include "spool.h"
#include "store.h"
#include "tailmap.h"
#include "keyfilter.h"

/* Room for the description of a scheme in the OK line. */
#define HS_CHECK_DESCRIBE_MAX 512   /* the one-line sender description */

/* One part of the spool, of type type, as spool_trust checks it: 1 when
 * a problem was printed, else 0 (also when it is missing). */
static int part_trust(const hs_config *cfg, const char *name, mode_t type, FILE *out)
{
    int rc = hs_spool_trust_path(cfg->spool, name, type, cfg->umask);
    if (rc == 0 || rc == -ENOENT) return 0;
    fprintf(out, "hookspool: HOOKSPOOL_SPOOL: %s\n", hs_spool_strerror(rc));
    return 1;
}

/* The spool's trust (spool.h, "Trust"), part by part as the receiver
 * checks it: each problem is printed; returns how many. */
static int spool_trust(const hs_config *cfg, FILE *out)
{
    static const char *const files[] = {
        HS_LAYOUT_LOCK, HS_STORE_FILE, HS_STORE_FILE "-wal", HS_STORE_FILE "-shm", HS_CNT_FILE,
        HS_TAILMAP_FILE, HS_KF_FILE,
    };
    struct stat root;
    size_t i;
    int n = 0;

    /* Others (every user of a shared host) must neither write the spool
     * (plant events) nor read it (payment data). */
    if ((cfg->umask & 006) != 006) {
        fprintf(out, "hookspool: HOOKSPOOL_UMASK: %03o lets others %s the spool (any user "
                "of the host could %s): use 077, or 007 to share with the group\n",
                (unsigned)cfg->umask, (cfg->umask & 002) ? "read" : "write",
                (cfg->umask & 002) ? "read the events" : "plant events");
        n++;
    }
    if (lstat(cfg->spool, &root) != 0) return n;   /* missing: spool_problem says */
    if (S_ISLNK(root.st_mode)) {
        fprintf(out, "hookspool: HOOKSPOOL_SPOOL: %s is a symbolic link\n", cfg->spool);
        return n + 1;
    }
    if (hs_spool_trust_root(&root, cfg->umask, cfg->spool) != 0) {
        fprintf(out, "hookspool: HOOKSPOOL_SPOOL: %s\n", hs_spool_problem());
        return n + 1;
    }
    for (i = 0; i < HS_DIR_COUNT; i++)
        n += part_trust(cfg, hs_layout_dir_name((hs_layout_dir)i), S_IFDIR, out);
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        n += part_trust(cfg, files[i], S_IFREG, out);
    return n;
}

/*
 * Warn about each of sec[0..n) shorter than HS_CHECK_SECRET_MIN bytes.
 * For an HMAC scheme a short key can be guessed offline from one signed
 * request; a token scheme's token is the credential itself, so a short
 * one is as weak: every scheme is warned about alike. Names the setting
 * (and the position in a secret file), never the secret.
 */
static void warn_short_secrets(FILE *out, const hs_secret *sec, size_t n)
{
    size_t i, j, pos, of;

    for (i = 0; i < n; i++) {
        if (sec[i].key_len >= HS_CHECK_SECRET_MIN) continue;
        /* Its position among the secrets from the same setting. */
        for (pos = 0, of = 0, j = 0; j < n; j++) {
            if (strcmp(sec[j].source, sec[i].source) != 0) continue;
            of++;
            if (j <= i) pos++;
        }
        if (of > 1)
            fprintf(out, "hookspool: warning: %s (secret %zu of %zu) is %zu byte%s; use at "
                    "least %d random bytes\n", sec[i].source, pos, of, sec[i].key_len,
                    sec[i].key_len == 1 ? "" : "s", HS_CHECK_SECRET_MIN);
        else
            fprintf(out, "hookspool: warning: %s is %zu byte%s; use at least %d random "
                    "bytes\n", sec[i].source, sec[i].key_len, sec[i].key_len == 1 ? "" : "s",
                    HS_CHECK_SECRET_MIN);
    }
}

/* hs_docroot_exposed's report, as a problem line of `hookspool check`. */
struct in_docroot {
    FILE       *out;
    const char *docroot;
};

static void print_in_docroot(void *arg, const char *setting, const char *path,
                             const char *what)
{
    const struct in_docroot *d = arg;
    fprintf(d->out, "hookspool: %s: %s lies inside the web root %s: anyone could "
            "download %s; move it outside\n", setting, path, d->docroot, what);
}

int hs_check(hs_ctx *ctx, char *const *params, const char *docroot, time_t now,
             FILE *out)
{
    char err[HS_CTX_ERR_MAX];
    const hs_config *cfg;
    const hs_secret *sec;
    const char *why;
    int problems = 0, nsec;

    cfg = hs_ctx_config(ctx, params, now, err, sizeof(err));
    if (cfg == NULL) {
        fprintf(out, "hookspool: %s\n", err);
        return 1;
    }
    if ((nsec = hs_ctx_secrets(ctx, cfg, now, &sec, err, sizeof(err))) < 0) {
        fprintf(out, "hookspool: %s\n", err);
        problems++;
    } else {
        warn_short_secrets(out, sec, (size_t)nsec);
    }
    /* Every directory: the consumers (claim, consume) write in all of
     * them, and are often the same user. */
    if ((why = hs_layout_unwritable(cfg->spool, HS_DIRS_ALL)) != NULL) {
        fprintf(out, "hookspool: HOOKSPOOL_SPOOL: %s %s\n", cfg->spool, why);
        problems++;
    }
    problems += spool_trust(cfg, out);
    {
        /* A process setting: only the environment can carry it. */
        int n;
        if (hs_conf_threads(getenv("HOOKSPOOL_THREADS"), getenv("HOOKSPOOL_FSYNC"), &n) != 0) {
            fprintf(out, "hookspool: HOOKSPOOL_THREADS: not a decimal integer from 1 to %d "
                    "(hookspool.fcgi would not start)\n", HS_CONF_THREADS_MAX);
            problems++;
        }
    }
    if (docroot != NULL) {
        struct stat st;
        if (stat(docroot, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(out, "hookspool: --docroot %s is not a directory\n", docroot);
            problems++;
        } else {
            struct in_docroot d = { out, docroot };
            problems += hs_docroot_exposed(cfg, docroot, print_in_docroot, &d);
        }
    }
    if (problems == 0) {
        /* What the sender must send, from the scheme's row: the way to
         * see that the scheme chosen is the sender's. */
        char what[HS_CHECK_DESCRIBE_MAX];
        fprintf(out, "hookspool: configuration OK (endpoint %s, scheme %s, the sender sends %s, spool %s)\n",
                cfg->endpoint, cfg->scheme.name,
                hs_scheme_describe(&cfg->scheme, cfg->tolerance, what, sizeof(what)), cfg->spool);
    }
    return problems;
}
