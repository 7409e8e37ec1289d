/*
 * hookspool - the operator's and cron's tool (SPEC section 6).
 * Thin: parse the command line, call lib/, print, exit.
 *
 * Exit codes: 0 done, 1 the work failed (or status degraded), 2 usage or
 * configuration error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "ctx.h"
#include "sig.h"
#include "spool.h"

#include <openssl/crypto.h>

#define SIGN_MAX_BODY (64L * 1024 * 1024)

static void usage(FILE *f)
{
    fputs("usage: hookspool COMMAND [options]\n"
          "\n"
          "  sign --scheme S [--time T] [--id ID]\n"
          "      read a body on stdin, print the headers a sender would send,\n"
          "      signed with HOOKSPOOL_SECRET (or the first line of\n"
          "      HOOKSPOOL_SECRET_FILE); for testing with curl -H\n"
          "  rotate [-s DIR]\n"
          "      seal the active segment now (the spool is -s DIR or\n"
          "      HOOKSPOOL_SPOOL)\n"
          "\n"
          "Exit status: 0 done, 1 failed, 2 usage or configuration error.\n", f);
}

/* Read all of stdin into b (at most max bytes). 0, -1 on error/too big. */
static int read_stdin(hs_buf *b, size_t max)
{
    char chunk[65536];
    for (;;) {
        ssize_t r = read(STDIN_FILENO, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) return 0;
        if (b->len + (size_t)r > max || hs_buf_append(b, chunk, (size_t)r) != 0) return -1;
    }
}

/* The first secret for scheme sc from the environment: HOOKSPOOL_SECRET,
 * else the first of HOOKSPOOL_SECRET_FILE. */
static int env_secret(const hs_scheme *sc, hs_secret *out)
{
    const char *v = getenv("HOOKSPOOL_SECRET");
    const char *f = getenv("HOOKSPOOL_SECRET_FILE");
    hs_secret *all;
    char err[256];
    FILE *fp;
    hs_buf text = HS_BUF_INIT;
    int n;

    if (v != NULL && *v != '\0') {
        if (hs_secret_decode(sc, v, strlen(v), "HOOKSPOOL_SECRET", out) == 0) return 0;
        fputs("hookspool sign: HOOKSPOOL_SECRET is empty or badly encoded\n", stderr);
        return -1;
    }
    if (f == NULL || *f == '\0') {
        fputs("hookspool sign: set HOOKSPOOL_SECRET (or HOOKSPOOL_SECRET_FILE)\n", stderr);
        return -1;
    }
    if ((fp = fopen(f, "r")) == NULL) {
        fprintf(stderr, "hookspool sign: HOOKSPOOL_SECRET_FILE: cannot read %s: %s\n",
                f, strerror(errno));
        return -1;
    }
    for (;;) {
        char chunk[4096];
        size_t r = fread(chunk, 1, sizeof(chunk), fp);
        if (r == 0) break;
        if (text.len + r > HS_CONF_MAX_FILE) break;
        hs_buf_append(&text, chunk, r);
    }
    fclose(fp);
    all = calloc(HS_CONF_MAX_SECRETS, sizeof(*all));
    n = all ? hs_conf_secret_file_parse(sc, text.p ? text.p : "", text.len,
                                        "HOOKSPOOL_SECRET_FILE", all,
                                        HS_CONF_MAX_SECRETS, err, sizeof(err)) : -1;
    hs_buf_free(&text);
    if (n < 1) {
        fprintf(stderr, "hookspool sign: HOOKSPOOL_SECRET_FILE: %s\n", all ? err : "out of memory");
        free(all);
        return -1;
    }
    *out = all[0];
    free(all);
    return 0;
}

static int cmd_sign(int argc, char **argv)
{
    static const struct option lo[] = {
        { "scheme", required_argument, NULL, 'S' },
        { "time",   required_argument, NULL, 't' },
        { "id",     required_argument, NULL, 'i' },
        { "help",   no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *scheme = getenv("HOOKSPOOL_SCHEME"), *id = NULL;
    long long t = (long long)time(NULL);
    hs_scheme sc;
    hs_secret *sec;
    hs_buf body = HS_BUF_INIT, out = HS_BUF_INIT;
    int c, rc = 1;

    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'S': scheme = optarg; break;
        case 'i': id = optarg; break;
        case 't':
            if (hs_conf_parse_num(optarg, 0, HS_CONF_NUM_MAX, &t) != 0) {
                fputs("hookspool sign: --time takes seconds since the epoch\n", stderr);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) { usage(stderr); return 2; }
    if (scheme == NULL) scheme = "caliza";
    if (hs_scheme_parse(scheme, strlen(scheme), &sc) != 0) {
        fprintf(stderr, "hookspool sign: unknown scheme %s\n", scheme);
        return 2;
    }
    sec = calloc(1, sizeof(*sec));
    if (sec == NULL) return 1;
    if (env_secret(&sc, sec) != 0) { free(sec); return 2; }
    if (read_stdin(&body, SIGN_MAX_BODY) != 0) {
        fputs("hookspool sign: cannot read the body on stdin\n", stderr);
        goto out;
    }
    if (hs_sig_sign(&sc, sec, (const unsigned char *)body.p, body.len, (time_t)t, id, &out) != 0 ||
        fwrite(out.p, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
        fputs("hookspool sign: failed\n", stderr);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(sec, sizeof(*sec));
    free(sec);
    hs_buf_free(&body);
    hs_buf_free(&out);
    return rc;
}

/* The spool of -s DIR or HOOKSPOOL_SPOOL, and the rotation settings from
 * the environment (defaults otherwise): the spool commands need nothing
 * else. Returns 0, or 2 with a message. */
static int spool_args(int argc, char **argv, const char *cmd, char *path, size_t pathlen,
                      hs_spool_opts *o)
{
    const char *s = getenv("HOOKSPOOL_SPOOL"), *v;
    long long n;
    int c;

    while ((c = getopt(argc, argv, "s:h")) != -1) {
        if (c == 's') s = optarg;
        else if (c == 'h') { usage(stdout); exit(0); }
        else { usage(stderr); return 2; }
    }
    if (optind != argc) { usage(stderr); return 2; }
    if (s == NULL || s[0] == '\0') {
        fprintf(stderr, "hookspool %s: no spool: give -s DIR or set HOOKSPOOL_SPOOL\n", cmd);
        return 2;
    }
    if (realpath(s, path) == NULL) {
        if (errno == ENOENT) return 0;   /* nothing there: nothing to do */
        fprintf(stderr, "hookspool %s: %s: %s\n", cmd, s, strerror(errno));
        return 2;
    }
    (void)pathlen;
    o->rotate_bytes = 67108864;
    o->rotate_seconds = 60;
    o->fsync_always = 1;
    o->umask = 077;
    if ((v = getenv("HOOKSPOOL_ROTATE_SECONDS")) != NULL) {
        if (hs_conf_parse_num(v, 1, HS_CONF_NUM_MAX, &n) != 0) {
            fprintf(stderr, "hookspool %s: HOOKSPOOL_ROTATE_SECONDS: not a number of seconds\n", cmd);
            return 2;
        }
        o->rotate_seconds = n;
    }
    if ((v = getenv("HOOKSPOOL_FSYNC")) != NULL) o->fsync_always = strcmp(v, "never") != 0;
    return 0;
}

static int cmd_rotate(int argc, char **argv)
{
    char path[PATH_MAX] = "";
    hs_spool_opts o;
    hs_spool *sp;
    int rc, sealed = 0;

    if ((rc = spool_args(argc, argv, "rotate", path, sizeof(path), &o)) != 0) return rc;
    if (path[0] == '\0') return 0;
    if ((rc = hs_spool_open(path, &o, 0, &sp)) != 0) {
        if (rc == -ENOENT) return 0;
        fprintf(stderr, "hookspool rotate: %s: %s\n", path, strerror(-rc));
        return 1;
    }
    rc = hs_spool_rotate(sp, &o, 1, &sealed);
    hs_spool_close(sp);
    if (rc != 0) {
        fprintf(stderr, "hookspool rotate: %s: %s\n", path, strerror(-rc));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return 2; }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) { puts("hookspool 1.0.0"); return 0; }
    if (strcmp(argv[1], "sign") == 0) return cmd_sign(argc - 1, argv + 1);
    if (strcmp(argv[1], "rotate") == 0) return cmd_rotate(argc - 1, argv + 1);
    fprintf(stderr, "hookspool: unknown command %s\n", argv[1]);
    usage(stderr);
    return 2;
}
