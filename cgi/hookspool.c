/*
 * hookspool - the operator's and cron's tool (SPEC section 6).
 * Thin: parse the command line, call lib/, print, exit.
 *
 * Exit codes: 0 done, 1 the work failed (or status degraded), 2 usage or
 * configuration error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "archive.h"
#include "consumer.h"
#include "events.h"
#include "ctx.h"
#include "crypto.h"
#include "sign.h"
#include "store.h"
#include "spool.h"
#include "dedup.h"
#include "check.h"
#include "settings.h"
#include "status.h"
#include "version.h"

#include <openssl/crypto.h>

#define SIGN_MAX_BODY (64L * 1024 * 1024)

/* The consumer commands' help: each command's --help prints its own,
 * usage() prints them all. */
#define STATUS_HELP \
    "  status [-s DIR] [--prometheus]\n" \
    "      print the whole status JSON (SPEC section 5) of the spool,\n" \
    "      configured from the environment or HOOKSPOOL_CONFIG, scanned\n" \
    "      now; creates and changes nothing; exit 0 ok, 1 degraded, 2\n" \
    "      configuration error\n"
#define CHECK_HELP \
    "  check [-s DIR] [--docroot DIR]\n" \
    "      check the configuration in the environment (and HOOKSPOOL_CONFIG\n" \
    "      or hookspool.conf beside this program) as hookspool.fcgi would\n" \
    "      see it, like apachectl -t; one line per problem; exit 0 OK, 1 not\n"
#define CLAIM_HELP \
    "  claim [-s DIR] [-n N]\n" \
    "      seal a due active segment, move the N oldest ready segments\n" \
    "      (default: all) to claimed/, print their paths\n"
#define DONE_HELP \
    "  done [-s DIR] [--keep KEEPDIR] FILE...\n" \
    "      delete claimed segments and forget their attempt counts; with\n" \
    "      --keep, move them into KEEPDIR (never replacing a file) and\n" \
    "      print their new paths\n"
#define REQUEUE_HELP \
    "  requeue [-s DIR] [--older-than S]\n" \
    "      move segments claimed at least S seconds ago (default: all)\n" \
    "      back to ready/ (a consumer died), never one a running consume\n" \
    "      holds; print their paths\n"
#define CONSUME_HELP \
    "  consume [-s DIR] [-n N] [--max-attempts M] [--timeout S] -- CMD [ARG...]\n" \
    "      claim as claim does (at most N) and run CMD once per segment,\n" \
    "      with the segment on its stdin and its path in HOOKSPOOL_SEGMENT,\n" \
    "      holding a lock on it; exit 0 deletes the segment and prints its\n" \
    "      path, anything else puts it back in ready/, or in failed/ after\n" \
    "      M failures (default 5, counted across runs); a run longer than\n" \
    "      S seconds (default 3600) is killed with its process group and\n" \
    "      is a failure; exit 1 if any failed, 2 if CMD cannot be run\n" \
    "      (then no segment is touched)\n"
#define RETRY_HELP \
    "  retry-failed [-s DIR] [FILE...]\n" \
    "      move dead-letter segments (default: all of failed/) back to\n" \
    "      ready/ with their attempt counts reset; print their new paths\n"

#define EVENTS_HELP \
    "  events [-s DIR] [--endpoint E] [--key K] [--id ID] [--since T]\n" \
    "         [--until T] [--table]\n" \
    "      print the stored events (active/, ready/, claimed/, failed/ and\n" \
    "      archive/) passing every filter, oldest first, as their JSON\n" \
    "      lines, or --table: id, received_at, endpoint, key. --key matches\n" \
    "      the key's JSON or one of its values; T is a duration back from\n" \
    "      now (90s, 30m, 2h, 7d) or 2026-12-01T00:00:00Z, compared with\n" \
    "      the time in the event's id. Reads only; writes nothing\n"
#define SHOW_HELP \
    "  show [-s DIR] ID\n" \
    "      print the event with this id (its JSON line); exit 1 if none\n"
#define REPLAY_HELP \
    "  replay [-s DIR] [--endpoint E] [--key K] [--id ID] [--since T]\n" \
    "         [--until T]\n" \
    "      copy the archived events passing the filters (as for events)\n" \
    "      into one new segment in ready/, ids kept, each with\n" \
    "      \"replayed_at\"; print its path. Dedup does not apply\n"

/* The status a consumer command's lib result maps to (consumer.h). */
#define CONS_EXIT(rc) ((rc) == 0 ? 0 : 1)

static void usage(FILE *f)
{
    fputs("usage: hookspool COMMAND [options]\n"
          "\n"
          "  sign --scheme S [--time T] [--id ID] [--query Q] [--url URL]\n"
          "       [--signed TEMPLATE] [--signature SHAPE] [--key FILE]\n"
          "      read a body on stdin, print the headers a sender would send,\n"
          "      signed with HOOKSPOOL_SECRET (or the first line of\n"
          "      HOOKSPOOL_SECRET_FILE); for testing with curl -H. Q is the\n"
          "      query string of the URL (mercadopago signs its data.id).\n"
          "      For mailgun and graph, whose proof is in the body, an empty\n"
          "      line and the body to send follow the headers. For\n"
          "      template-ALG-ENC, TEMPLATE and SHAPE are HOOKSPOOL_SIGNED and\n"
          "      HOOKSPOOL_SIGNATURE (taken from the environment when not given).\n"
          "      URL is the URL twilio and square sign (else HOOKSPOOL_PUBLIC_URL).\n"
          "      With --key FILE (or HOOKSPOOL_PRIVATE_KEY naming it), a PEM\n"
          "      private key signs instead of the secret: discord and standard\n"
          "      (v1a) take Ed25519, sendgrid ECDSA P-256\n"
          "  rotate [-s DIR]\n"
          "      seal the active segment now\n", f);
    fputs(CLAIM_HELP DONE_HELP REQUEUE_HELP CONSUME_HELP RETRY_HELP STATUS_HELP CHECK_HELP, f);
    fputs(EVENTS_HELP SHOW_HELP REPLAY_HELP, f);
    fputs("\n"
          "The spool is -s DIR or HOOKSPOOL_SPOOL; HOOKSPOOL_ROTATE_SECONDS\n"
          "(default 60) says when an active segment is due for sealing.\n"
          "Paths are printed absolute, one per line; nothing is printed when\n"
          "there is nothing to do.\n"
          "Exit status: 0 done, 1 failed, 2 usage or configuration error.\n", f);
}

/* Read all of fd into b (at most max bytes). 0, -1 on error/too big. */
static int read_fd(int fd, hs_buf *b, size_t max)
{
    char chunk[65536];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) return 0;
        if (b->len + (size_t)r > max || hs_buf_append(b, chunk, (size_t)r) != 0) return -1;
    }
}

static int read_stdin(hs_buf *b, size_t max)
{
    return read_fd(STDIN_FILENO, b, max);
}

/* A private key's PEM file (at most 64 KiB) into b. 0 or -1. */
static int read_key_file(const char *path, hs_buf *b)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc;

    if (fd < 0) return -1;
    rc = read_fd(fd, b, 65536);
    if (close(fd) != 0) rc = -1;
    return rc;
}

/* The first secret for scheme sc from the environment: HOOKSPOOL_SECRET,
 * else the first of HOOKSPOOL_SECRET_FILE, read as the receiver reads it
 * (settings.h: a file over its limit is an error, never cut short). */
static int env_secret(const hs_scheme *sc, hs_secret *out)
{
    const char *v = getenv("HOOKSPOOL_SECRET");
    const char *f = getenv("HOOKSPOOL_SECRET_FILE");
    hs_secret *all;
    char err[HS_SETTINGS_ERR_MAX];
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
    if ((all = calloc(HS_CONF_MAX_SECRETS, sizeof(*all))) == NULL) {
        fputs("hookspool sign: out of memory\n", stderr);
        return -1;
    }
    n = hs_settings_read_secrets(sc, f, all, HS_CONF_MAX_SECRETS, NULL, err, sizeof(err));
    if (n >= 1) *out = all[0];
    else fprintf(stderr, "hookspool sign: %s\n", err);
    OPENSSL_cleanse(all, HS_CONF_MAX_SECRETS * sizeof(*all));
    free(all);
    return n >= 1 ? 0 : -1;
}

/* What `hookspool sign` reads HOOKSPOOL_SIGNED and HOOKSPOOL_SIGNATURE
 * from: its options, else the environment. */
struct sign_tpl { const char *sig_bytes, *shape; };

static const char *sign_lookup(void *arg, const char *name)
{
    const struct sign_tpl *t = arg;
    const char *v = strcmp(name, "HOOKSPOOL_SIGNED") == 0 ? t->sig_bytes
                  : strcmp(name, "HOOKSPOOL_SIGNATURE") == 0 ? t->shape : NULL;

    return v != NULL ? v : getenv(name);
}

static int cmd_sign(int argc, char **argv)
{
    static const struct option lo[] = {
        { "scheme", required_argument, NULL, 'S' },
        { "time",   required_argument, NULL, 't' },
        { "id",     required_argument, NULL, 'i' },
        { "query",  required_argument, NULL, 'q' },
        { "signed", required_argument, NULL, 'T' },
        { "signature", required_argument, NULL, 'G' },
        { "url",    required_argument, NULL, 'u' },
        { "key",    required_argument, NULL, 'k' },
        { "help",   no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *scheme = getenv("HOOKSPOOL_SCHEME"), *id = NULL, *query = NULL;
    const char *url = getenv("HOOKSPOOL_PUBLIC_URL"), *keyfile = getenv("HOOKSPOOL_PRIVATE_KEY");
    hs_buf pem = HS_BUF_INIT;
    long long t = (long long)time(NULL);
    hs_scheme sc;
    hs_secret *sec;
    hs_buf body = HS_BUF_INIT, out = HS_BUF_INIT, sent = HS_BUF_INIT;
    hs_sig_input in;
    struct sign_tpl tpl = { NULL, NULL };
    char err[512];
    int c, rc = 1;

    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'S': scheme = optarg; break;
        case 'i': id = optarg; break;
        case 'q': query = optarg; break;
        case 'T': tpl.sig_bytes = optarg; break;
        case 'G': tpl.shape = optarg; break;
        case 'u': url = optarg; break;
        case 'k': keyfile = optarg; break;
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
    if (hs_conf_template(sign_lookup, &tpl, &sc, err, sizeof err) != 0) {
        fprintf(stderr, "hookspool sign: %s\n", err);
        return 2;
    }
    sec = calloc(1, sizeof(*sec));
    if (sec == NULL) return 1;
    if (keyfile != NULL && *keyfile != '\0') {
        if (sc.pk_alg == HS_PK_NONE) {
            fprintf(stderr, "hookspool sign: %s signs with no private key\n", scheme);
            free(sec);
            return 2;
        }
        if (read_key_file(keyfile, &pem) != 0) {
            fprintf(stderr, "hookspool sign: cannot read the key %s\n", keyfile);
            free(sec);
            return 2;
        }
    } else if (sc.mac == HS_MAC_PUBKEY) {
        fprintf(stderr, "hookspool sign: %s signs with a private key: --key FILE\n", scheme);
        free(sec);
        return 2;
    } else if (env_secret(&sc, sec) != 0) {
        free(sec);
        return 2;
    }
    if (read_stdin(&body, SIGN_MAX_BODY) != 0) {
        fputs("hookspool sign: cannot read the body on stdin\n", stderr);
        goto out;
    }
    in = (hs_sig_input){ NULL, NULL, query, (const unsigned char *)body.p, body.len,
                         NULL, 0, url };
    if ((pem.len > 0 ? hs_sign_request_pk(&sc, pem.p, pem.len, &in, (time_t)t, id, &out, &sent)
                     : hs_sign_request(&sc, sec, &in, (time_t)t, id, &out, &sent)) != 0 ||
        (sc.envelope != NULL && (hs_buf_putc(&out, '\n') != 0 ||
                                 hs_buf_append(&out, sent.p, sent.len) != 0)) ||
        fwrite(out.p ? out.p : "", 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
        fputs("hookspool sign: failed\n", stderr);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(sec, sizeof(*sec));
    free(sec);
    if (pem.p != NULL) OPENSSL_cleanse(pem.p, pem.cap);
    hs_buf_free(&pem);
    hs_buf_free(&body);
    hs_buf_free(&out);
    hs_buf_free(&sent);
    return rc;
}

/* Is the directory that would hold path (its last component dropped,
 * trailing slashes ignored; "." for a bare name) an existing directory? */
static int parent_exists(const char *path)
{
    char dir[PATH_MAX];
    struct stat st;
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(dir)) return 0;
    memcpy(dir, path, n + 1);
    while (n > 1 && dir[n - 1] == '/') dir[--n] = '\0';
    while (n > 0 && dir[n - 1] != '/') n--;          /* drop the last component */
    if (n == 0) memcpy(dir, ".", 2);
    else {
        while (n > 1 && dir[n - 1] == '/') n--;      /* "a//b" -> "a"; "/b" -> "/" */
        dir[n] = '\0';
    }
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* hs_conf_lookup_fn over the process environment. */
static const char *env_lookup(void *arg, const char *name)
{
    (void)arg;
    return getenv(name);
}

/* The spool s (-s DIR, or NULL for HOOKSPOOL_SPOOL) made absolute into
 * path[PATH_MAX] ("" when it does not exist yet: nothing to do), and the
 * spool settings from the environment, with the library's defaults and
 * checks (hs_conf_parse_spool): the spool commands need nothing else.
 * Returns 0, or 2 with a message (also when the spool does not exist and
 * neither does its parent directory). */
static int spool_setup(const char *cmd, const char *s, char path[PATH_MAX],
                       hs_spool_opts *o, long long *archive_seconds)
{
    hs_config *cfg;
    char err[HS_SETTINGS_ERR_MAX];
    int rc;

    path[0] = '\0';
    if (s == NULL) s = getenv("HOOKSPOOL_SPOOL");
    if (s == NULL || s[0] == '\0') {
        fprintf(stderr, "hookspool %s: no spool: give -s DIR or set HOOKSPOOL_SPOOL\n", cmd);
        return 2;
    }
    /* hs_config is large: not on the stack. */
    if ((cfg = malloc(sizeof(*cfg))) == NULL) {
        fprintf(stderr, "hookspool %s: out of memory\n", cmd);
        return 1;
    }
    rc = hs_conf_parse_spool(env_lookup, NULL, cfg, err, sizeof(err));
    if (rc == 0) *o = hs_ctx_spool_opts(cfg);
    if (rc == 0 && archive_seconds != NULL) *archive_seconds = cfg->archive_seconds;
    free(cfg);
    if (rc != 0) {
        fprintf(stderr, "hookspool %s: %s\n", cmd, err);
        return 2;
    }
    if (realpath(s, path) == NULL) {
        path[0] = '\0';
        if (errno != ENOENT) {
            fprintf(stderr, "hookspool %s: %s: %s\n", cmd, s, strerror(errno));
            return 2;
        }
        /* Not created yet (the first POST makes it) is an empty spool;
         * but when its parent is missing too, -s is most likely a typo:
         * saying nothing would hide it. */
        if (!parent_exists(s)) {
            fprintf(stderr, "hookspool %s: %s: no such spool, and its parent directory "
                    "does not exist\n", cmd, s);
            return 2;
        }
        return 0;   /* nothing there: nothing to do */
    }
    return 0;
}

/* The options of rotate (-s DIR) and the spool they name: see
 * spool_setup. Returns 0, or 2 with a message. */
static int spool_args(int argc, char **argv, const char *cmd, char path[PATH_MAX],
                      hs_spool_opts *o, long long *archive_seconds)
{
    const char *s = NULL;
    int c;

    while ((c = getopt(argc, argv, "s:h")) != -1) {
        if (c == 's') s = optarg;
        else if (c == 'h') { usage(stdout); exit(0); }
        else { usage(stderr); return 2; }
    }
    if (optind != argc) { usage(stderr); return 2; }
    return spool_setup(cmd, s, path, o, archive_seconds);
}

static int prune_after_rotate(const char *path);

static int cmd_rotate(int argc, char **argv)
{
    char path[PATH_MAX] = "";
    hs_spool_opts o;
    hs_spool *sp;
    long long archive = 0;
    int rc, sealed = 0;

    if ((rc = spool_args(argc, argv, "rotate", path, &o, &archive)) != 0) return rc;
    if (path[0] == '\0') return 0;
    if ((rc = hs_spool_open(path, &o, 0, &sp)) != 0) {
        if (rc == -ENOENT) return 0;
        fprintf(stderr, "hookspool rotate: %s: %s\n", path, hs_spool_strerror(rc));
        return 1;
    }
    rc = hs_dedup_rotate(sp, &o, 1, &sealed);
    hs_spool_close(sp);
    if (rc != 0) {
        fprintf(stderr, "hookspool rotate: %s: %s\n", path, hs_spool_strerror(rc));
        return 1;
    }
    return archive > 0 ? prune_after_rotate(path) : 0;
}

/* ------------------------------------------------------------ consumers */

/* The consumer commands' output (consumer.h hs_cons_io): each path on
 * its own line, flushed at once, so a reader of a pipe sees it when it
 * happens and it never lands after output of a command consume runs
 * (which writes to the same descriptor). arg is the command's name. */
static int out_path(void *arg, const char *path)
{
    (void)arg;
    if (fputs(path, stdout) == EOF || putchar('\n') == EOF || fflush(stdout) != 0)
        return -1;
    return 0;
}

static void out_warn(void *arg, const char *msg)
{
    const char *cmd = arg;
    fprintf(stderr, "hookspool %s: %s\n", cmd, msg);
}

/* A count option: a decimal number from min. 0, or 2 with a message. */
static int num_arg(const char *cmd, const char *opt, const char *v, long long min,
                   long long *out)
{
    if (hs_conf_parse_num(v, min, HS_CONF_NUM_MAX, out) == 0) return 0;
    fprintf(stderr, "hookspool %s: %s takes a whole number from %lld, not \"%s\"\n",
            cmd, opt, min, v);
    return 2;
}

/* A command's own help, on --help (to stdout) or a usage error. */
static int cmd_usage(FILE *f, const char *text, int rc)
{
    fputs("usage: hookspool", f);
    fputs(text + 1, f);   /* the help starts with two spaces: keep one */
    fputs("The spool is -s DIR or HOOKSPOOL_SPOOL. Exit status: 0 done,\n"
          "1 failed, 2 usage or configuration error.\n", f);
    return rc;
}

/* cons_open's answer when the spool does not exist yet. */
#define NO_SPOOL (-1)

/* Open the consumer side of the spool s (see spool_setup) for command
 * cmd, whose name (static storage) messages are prefixed with. Returns
 * 0 with *c (the caller's: hs_cons_close), NO_SPOOL when there is no
 * spool yet (nothing to do), or an exit status after a message. */
static int cons_open(const char *cmd, const char *s, hs_cons **c)
{
    char path[PATH_MAX];
    hs_spool_opts o;
    hs_cons_io io;
    long long archive = 0;
    int rc;

    *c = NULL;
    if ((rc = spool_setup(cmd, s, path, &o, &archive)) != 0) return rc;
    if (path[0] == '\0') return NO_SPOOL;
    io.path = out_path;
    io.warn = out_warn;
    io.arg = (void *)(uintptr_t)cmd;   /* only ever read back as const */
    if ((rc = hs_cons_open(path, &o, &io, c)) == 0) {
        hs_cons_set_archive(*c, archive);
        return 0;
    }
    if (rc == -ENOENT) {
        fprintf(stderr, "hookspool %s: %s: not a spool (no ready/, claimed/ or failed/)\n",
                cmd, path);
        return 2;
    }
    fprintf(stderr, "hookspool %s: %s: %s\n", cmd, path, hs_spool_strerror(rc));
    return 1;
}

/* rotate with HOOKSPOOL_ARCHIVE_SECONDS: delete what is past it. */
static int prune_after_rotate(const char *path)
{
    hs_cons *c;
    int rc;

    if ((rc = cons_open("rotate", path, &c)) != 0) return rc == NO_SPOOL ? 0 : rc;
    rc = hs_cons_prune_archive(c);
    hs_cons_close(c);
    return CONS_EXIT(rc);
}

static int cmd_claim(int argc, char **argv)
{
    static const struct option lo[] = {
        { "spool", required_argument, NULL, 's' },
        { "help",  no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *s = NULL;
    long long n = 0;
    hs_cons *c;
    int o, rc;

    while ((o = getopt_long(argc, argv, "s:n:h", lo, NULL)) != -1) {
        switch (o) {
        case 's': s = optarg; break;
        case 'n': if (num_arg("claim", "-n", optarg, 1, &n) != 0) return 2; break;
        case 'h': return cmd_usage(stdout, CLAIM_HELP, 0);
        default: return cmd_usage(stderr, CLAIM_HELP, 2);
        }
    }
    if (optind != argc) return cmd_usage(stderr, CLAIM_HELP, 2);
    if ((rc = cons_open("claim", s, &c)) != 0) return rc == NO_SPOOL ? 0 : rc;
    rc = hs_cons_claim(c, n);
    hs_cons_close(c);
    return CONS_EXIT(rc);
}

static int cmd_requeue(int argc, char **argv)
{
    static const struct option lo[] = {
        { "spool",      required_argument, NULL, 's' },
        { "older-than", required_argument, NULL, 'o' },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *s = NULL;
    long long older = 0;
    hs_cons *c;
    int o, rc;

    while ((o = getopt_long(argc, argv, "s:h", lo, NULL)) != -1) {
        switch (o) {
        case 's': s = optarg; break;
        case 'o':
            if (num_arg("requeue", "--older-than", optarg, 0, &older) != 0) return 2;
            break;
        case 'h': return cmd_usage(stdout, REQUEUE_HELP, 0);
        default: return cmd_usage(stderr, REQUEUE_HELP, 2);
        }
    }
    if (optind != argc) return cmd_usage(stderr, REQUEUE_HELP, 2);
    if ((rc = cons_open("requeue", s, &c)) != 0) return rc == NO_SPOOL ? 0 : rc;
    rc = hs_cons_requeue(c, older);
    hs_cons_close(c);
    return CONS_EXIT(rc);
}

/* done and retry-failed name FILEs of a spool that does not exist: none
 * of them is a segment there. */
static int no_such_segments(const char *cmd, const char *s, char **files, int n)
{
    int i;
    for (i = 0; i < n; i++)
        fprintf(stderr, "hookspool %s: %s: not a segment of %s (no such spool)\n",
                cmd, files[i], s ? s : getenv("HOOKSPOOL_SPOOL"));
    return 1;
}

static int cmd_done(int argc, char **argv)
{
    static const struct option lo[] = {
        { "spool", required_argument, NULL, 's' },
        { "keep",  required_argument, NULL, 'k' },
        { "help",  no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *s = NULL, *keep = NULL;
    hs_cons *c;
    int o, rc;

    while ((o = getopt_long(argc, argv, "s:h", lo, NULL)) != -1) {
        switch (o) {
        case 's': s = optarg; break;
        case 'k': keep = optarg; break;
        case 'h': return cmd_usage(stdout, DONE_HELP, 0);
        default: return cmd_usage(stderr, DONE_HELP, 2);
        }
    }
    if (optind == argc) return cmd_usage(stderr, DONE_HELP, 2);
    if ((rc = cons_open("done", s, &c)) != 0)
        return rc == NO_SPOOL ? no_such_segments("done", s, argv + optind, argc - optind) : rc;
    rc = hs_cons_done(c, (const char *const *)(argv + optind), (size_t)(argc - optind), keep);
    hs_cons_close(c);
    return CONS_EXIT(rc);
}

static int cmd_retry_failed(int argc, char **argv)
{
    static const struct option lo[] = {
        { "spool", required_argument, NULL, 's' },
        { "help",  no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *s = NULL;
    hs_cons *c;
    int o, rc;

    while ((o = getopt_long(argc, argv, "s:h", lo, NULL)) != -1) {
        switch (o) {
        case 's': s = optarg; break;
        case 'h': return cmd_usage(stdout, RETRY_HELP, 0);
        default: return cmd_usage(stderr, RETRY_HELP, 2);
        }
    }
    if ((rc = cons_open("retry-failed", s, &c)) != 0) {
        if (rc != NO_SPOOL) return rc;
        return optind == argc ? 0 :
               no_such_segments("retry-failed", s, argv + optind, argc - optind);
    }
    rc = hs_cons_retry_failed(c, (const char *const *)(argv + optind),
                              (size_t)(argc - optind));
    hs_cons_close(c);
    return CONS_EXIT(rc);
}

static int cmd_consume(int argc, char **argv)
{
    static const struct option lo[] = {
        { "spool",        required_argument, NULL, 's' },
        { "max-attempts", required_argument, NULL, 'm' },
        { "timeout",      required_argument, NULL, 't' },
        { "help",         no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *s = NULL;
    long long n = 0, max_attempts = HS_CONS_ATTEMPTS_DEF, timeout = HS_CONS_TIMEOUT_DEF;
    hs_cons *c;
    int o, rc;

    /* "+": stop at CMD, so its own options are not taken for ours. */
    while ((o = getopt_long(argc, argv, "+s:n:h", lo, NULL)) != -1) {
        switch (o) {
        case 's': s = optarg; break;
        case 'n': if (num_arg("consume", "-n", optarg, 1, &n) != 0) return 2; break;
        case 'm':
            if (num_arg("consume", "--max-attempts", optarg, 1, &max_attempts) != 0) return 2;
            break;
        case 't':
            if (num_arg("consume", "--timeout", optarg, 1, &timeout) != 0) return 2;
            break;
        case 'h': return cmd_usage(stdout, CONSUME_HELP, 0);
        default: return cmd_usage(stderr, CONSUME_HELP, 2);
        }
    }
    if (optind == argc) {
        fputs("hookspool consume: no command: give -- CMD [ARG...]\n", stderr);
        return cmd_usage(stderr, CONSUME_HELP, 2);
    }
    /* A command that cannot be run is a configuration error, reported
     * even when there is nothing to consume (or no spool yet). */
    if ((rc = hs_cons_find_command(argv[optind])) != 0) {
        fprintf(stderr, "hookspool consume: %s cannot be run: %s (nothing taken)\n",
                argv[optind], strerror(-rc));
        return 2;
    }
    if ((rc = cons_open("consume", s, &c)) != 0) return rc == NO_SPOOL ? 0 : rc;
    hs_cons_set_timeout(c, timeout);
    rc = hs_cons_consume(c, n, max_attempts, argv + optind);
    hs_cons_close(c);
    /* A command that cannot be run is a configuration error. */
    return rc == HS_CONS_BAD_COMMAND ? 2 : CONS_EXIT(rc);
}

/* ------------------------------------------------ events, show, replay */

/* What events and show print, and how many. */
typedef struct ev_out {
    int      table;
    uint64_t n;
} ev_out;

static int print_event(void *arg, const char *dir, const char *seg, const char *line,
                       size_t len, const hs_ev_line *l)
{
    ev_out *o = arg;
    (void)dir;
    (void)seg;
    o->n++;
    if (!o->table) {
        if (fwrite(line, 1, len, stdout) != len || putchar('\n') == EOF) return -EIO;
        return 0;
    }
    if (printf("%.*s  %.*s  %.*s  %.*s\n", HS_ID_LEN, l->id, HS_TS_LEN, l->received_at,
               (int)l->endpoint_len, l->endpoint, l->key ? (int)l->key_len : 1,
               l->key ? l->key : "-") < 0)
        return -EIO;
    return 0;
}

static void ev_warn(void *arg, const char *msg)
{
    fprintf(stderr, "hookspool %s: %s\n", (const char *)arg, msg);
}

/* The filters of events and replay (and -s, --table) into *f; optind
 * is left after them. 0, or an exit status after a message. */
static int ev_args(const char *cmd, const char *help, int argc, char **argv, hs_ev_filter *f,
                   const char **s, int *table)
{
    static const struct option lo[] = {
        { "spool",    required_argument, NULL, 's' },
        { "endpoint", required_argument, NULL, 'e' },
        { "key",      required_argument, NULL, 'k' },
        { "id",       required_argument, NULL, 'i' },
        { "since",    required_argument, NULL, 'S' },
        { "until",    required_argument, NULL, 'U' },
        { "table",    no_argument,       NULL, 't' },
        { "help",     no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int o;

    hs_ev_filter_init(f);
    while ((o = getopt_long(argc, argv, "s:h", lo, NULL)) != -1) {
        switch (o) {
        case 's': *s = optarg; break;
        case 'e': f->endpoint = optarg; break;
        case 'k': f->key = optarg; break;
        case 'i': f->id = optarg; break;
        case 'S':
        case 'U':
            if (hs_ev_parse_time(optarg, (int64_t)time(NULL),
                                 o == 'S' ? &f->since_us : &f->until_us) != 0) {
                fprintf(stderr, "hookspool %s: %s takes 90s, 30m, 2h, 7d or "
                        "2026-12-01T00:00:00Z, not \"%s\"\n", cmd,
                        o == 'S' ? "--since" : "--until", optarg);
                return 2;
            }
            break;
        case 't':
            if (table == NULL) return cmd_usage(stderr, help, 2);
            *table = 1;
            break;
        case 'h': return cmd_usage(stdout, help, 0) == 0 ? -1 : 2;
        default: return cmd_usage(stderr, help, 2);
        }
    }
    /* An id says its time: whole segments are skipped by it. */
    if (f->id != NULL && hs_ev_id_time(f->id, strlen(f->id), &f->since_us) == 0)
        f->until_us = f->since_us;
    return 0;
}

/* Scan the spool s for cmd with f, printing through o. */
static int ev_run(const char *cmd, const char *s, const hs_ev_filter *f, ev_out *o)
{
    char path[PATH_MAX];
    hs_spool_opts opts;
    int rc;

    if ((rc = spool_setup(cmd, s, path, &opts, NULL)) != 0) return rc;
    if (path[0] == '\0') return 0;
    rc = hs_ev_scan(path, opts.umask, HS_EV_DIRS_ALL, f, print_event, o, ev_warn,
                    (void *)(uintptr_t)cmd, NULL);
    if (fflush(stdout) != 0 && rc == 0) rc = -EIO;
    if (rc < 0) {
        fprintf(stderr, "hookspool %s: %s: %s\n", cmd, path, hs_spool_strerror(rc));
        return 1;
    }
    return rc == 0 ? 0 : 1;
}

static int cmd_events(int argc, char **argv)
{
    hs_ev_filter f;
    const char *s = NULL;
    ev_out o = { 0, 0 };
    int rc;

    if ((rc = ev_args("events", EVENTS_HELP, argc, argv, &f, &s, &o.table)) != 0)
        return rc < 0 ? 0 : rc;
    if (optind != argc) return cmd_usage(stderr, EVENTS_HELP, 2);
    return ev_run("events", s, &f, &o);
}

static int cmd_show(int argc, char **argv)
{
    hs_ev_filter f;
    const char *s = NULL;
    ev_out o = { 0, 0 };
    int rc;

    if ((rc = ev_args("show", SHOW_HELP, argc, argv, &f, &s, NULL)) != 0) return rc < 0 ? 0 : rc;
    if (optind + 1 != argc) return cmd_usage(stderr, SHOW_HELP, 2);
    f.id = argv[optind];
    if (hs_ev_id_time(f.id, strlen(f.id), &f.since_us) != 0) {
        fprintf(stderr, "hookspool show: %s: not an event id\n", f.id);
        return 2;
    }
    f.until_us = f.since_us;
    if ((rc = ev_run("show", s, &f, &o)) != 0) return rc;
    if (o.n == 0) {
        fprintf(stderr, "hookspool show: %s: no such event\n", f.id);
        return 1;
    }
    return 0;
}

static int cmd_replay(int argc, char **argv)
{
    char path[PATH_MAX], name[HS_SEG_NAME_MAX];
    hs_ev_filter f;
    hs_spool_opts opts;
    struct timespec ts;
    const char *s = NULL;
    uint64_t n = 0;
    int rc;

    if ((rc = ev_args("replay", REPLAY_HELP, argc, argv, &f, &s, NULL)) != 0)
        return rc < 0 ? 0 : rc;
    if (optind != argc) return cmd_usage(stderr, REPLAY_HELP, 2);
    if ((rc = spool_setup("replay", s, path, &opts, NULL)) != 0) return rc;
    if (path[0] == '\0') return 0;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 1;
    rc = hs_archive_replay(path, opts.umask, &f,
                           (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u,
                           name, &n, ev_warn, (void *)"replay");
    if (rc == -ENOENT && n == 0) return 0;   /* no archive: nothing to replay */
    if (rc < 0) {
        fprintf(stderr, "hookspool replay: %s: %s\n", path, hs_spool_strerror(rc));
        return 1;
    }
    if (n > 0 && (printf("%s/%s/%s\n", path, hs_layout_dir_name(HS_DIR_READY), name) < 0 ||
                  fflush(stdout) != 0))
        return 1;
    if (n > 0) fprintf(stderr, "hookspool replay: %llu event%s\n", (unsigned long long)n, n == 1 ? "" : "s");
    return rc == 0 ? 0 : 1;
}

/* ------------------------------------------------------ status, check */

/* The directory of this program: hookspool.conf is looked for there, as
 * hookspool.fcgi does beside itself. */
static void program_dir(char *out, size_t n)
{
    char path[PATH_MAX];
    ssize_t r = readlink("/proc/self/exe", path, sizeof(path) - 1);
    char *slash;

    out[0] = '\0';
    if (r <= 0) return;
    path[r] = '\0';
    if ((slash = strrchr(path, '/')) == NULL) return;
    *slash = '\0';
    snprintf(out, n, "%s", path[0] ? path : "/");
}

static int cmd_status(int argc, char **argv)
{
    static const struct option lo[] = {
        { "spool",      required_argument, NULL, 's' },
        { "prometheus", no_argument,       NULL, 'p' },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    char dir[PATH_MAX], sp[PATH_MAX + 32], err[HS_SETTINGS_ERR_MAX];
    char *params[2];
    const char *s = NULL;
    const hs_config *cfg;
    hs_settings *set;
    hs_buf out = HS_BUF_INIT;
    int c, prom = 0, degraded = 0, n = 0, rc;

    while ((c = getopt_long(argc, argv, "s:h", lo, NULL)) != -1) {
        if (c == 's') s = optarg;
        else if (c == 'p') prom = 1;
        else if (c == 'h') return cmd_usage(stdout, STATUS_HELP, 0);
        else return cmd_usage(stderr, STATUS_HELP, 2);
    }
    if (optind != argc) return cmd_usage(stderr, STATUS_HELP, 2);
    if (s != NULL) {
        snprintf(sp, sizeof(sp), "HOOKSPOOL_SPOOL=%s", s);
        params[n++] = sp;
    }
    params[n] = NULL;
    program_dir(dir, sizeof(dir));
    if ((set = hs_settings_new(dir[0] ? dir : NULL)) == NULL) return 1;
    /* The status verifies nothing: it needs no secret, so a shell that
     * has none (a cron job, a monitor) can still ask. */
    cfg = hs_settings_config(set, params, HS_CONF_NO_SECRET, time(NULL), NULL, err, sizeof(err));
    if (cfg == NULL) {
        fprintf(stderr, "hookspool status: %s\n", err);
        hs_settings_free(set);
        return 2;
    }
    /* The shell always gets the whole document (whoever can run this can
     * read the spool), scanned now: uncached, so nothing is written. */
    rc = hs_status_render(cfg, prom ? HS_STATUS_PROMETHEUS : HS_STATUS_FULL, 0, time(NULL),
                          &out, &degraded);
    if (rc == 0 && (fwrite(out.p, 1, out.len, stdout) != out.len || fflush(stdout) != 0))
        rc = -EIO;
    hs_buf_free(&out);
    hs_settings_free(set);
    if (rc != 0) {
        fprintf(stderr, "hookspool status: %s\n", strerror(-rc));
        return 2;
    }
    return degraded ? 1 : 0;
}

static int cmd_check(int argc, char **argv)
{
    static const struct option lo[] = {
        { "spool",   required_argument, NULL, 's' },
        { "docroot", required_argument, NULL, 'd' },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    char dir[PATH_MAX], sp[PATH_MAX + 32];
    char *params[2] = { NULL, NULL };
    const char *docroot = NULL;
    hs_ctx *ctx;
    int c, problems;

    while ((c = getopt_long(argc, argv, "s:h", lo, NULL)) != -1) {
        if (c == 's') {
            snprintf(sp, sizeof(sp), "HOOKSPOOL_SPOOL=%s", optarg);
            params[0] = sp;
        } else if (c == 'd') {
            docroot = optarg;
        } else if (c == 'h') {
            return cmd_usage(stdout, CHECK_HELP, 0);
        } else {
            return cmd_usage(stderr, CHECK_HELP, 2);
        }
    }
    if (optind != argc) return cmd_usage(stderr, CHECK_HELP, 2);
    program_dir(dir, sizeof(dir));
    if ((ctx = hs_ctx_new(dir[0] ? dir : NULL, STDERR_FILENO)) == NULL) return 1;
    problems = hs_check(ctx, params, docroot, time(NULL), stdout);
    hs_ctx_free(ctx);
    if (fflush(stdout) != 0) return 1;
    return problems ? 1 : 0;
}

int main(int argc, char **argv)
{
    hs_crypto_process_init();
    hs_store_process_init();
    if (argc < 2) { usage(stderr); return 2; }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) { puts("hookspool " HS_VERSION); return 0; }
    if (strcmp(argv[1], "sign") == 0) return cmd_sign(argc - 1, argv + 1);
    if (strcmp(argv[1], "rotate") == 0) return cmd_rotate(argc - 1, argv + 1);
    if (strcmp(argv[1], "claim") == 0) return cmd_claim(argc - 1, argv + 1);
    if (strcmp(argv[1], "done") == 0) return cmd_done(argc - 1, argv + 1);
    if (strcmp(argv[1], "requeue") == 0) return cmd_requeue(argc - 1, argv + 1);
    if (strcmp(argv[1], "consume") == 0) return cmd_consume(argc - 1, argv + 1);
    if (strcmp(argv[1], "retry-failed") == 0) return cmd_retry_failed(argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0) return cmd_status(argc - 1, argv + 1);
    if (strcmp(argv[1], "check") == 0) return cmd_check(argc - 1, argv + 1);
    if (strcmp(argv[1], "events") == 0) return cmd_events(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0) return cmd_show(argc - 1, argv + 1);
    if (strcmp(argv[1], "replay") == 0) return cmd_replay(argc - 1, argv + 1);
    fprintf(stderr, "hookspool: unknown command %s\n", argv[1]);
    usage(stderr);
    return 2;
}
