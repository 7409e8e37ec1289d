#include "dedup.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/statvfs.h>

#include <openssl/evp.h>

#include "crypto.h"
#include "json.h"
#include "layout.h"
#include "tailmap.h"

#define READ_CHUNK 65536
/* Keys a recording after the answer inserts between two sched_yield()s
 * (record_tx). */
#define YIELD_KEYS 64
/* The tail's filter (struct hs_dedup_tail): one bit per value of a
 * hash's first 18 bits (32 KiB). */
#define FILTER_BITS 262144
#define FILTER_WORDS (FILTER_BITS / 64)

_Static_assert(HS_TAILMAP_HASH == HS_STORE_KEY_LEN, "the tail map keeps the store's hashes");
_Static_assert(HS_TAILMAP_LINES >= HS_DEDUP_TAIL_MAX,
               "the tail map holds a tail that is not yet due for recording");
_Static_assert(HS_DEDUP_TAIL_ROOM > HS_DEDUP_TAIL_BYTES,
               "the appends between two catch-ups cannot fill the room kept (room_low)");
_Static_assert(2 * HS_DEDUP_TAIL_KEYS <= HS_DEDUP_TAIL_MAX &&
               HS_DEDUP_TAIL_KEYS_MIN <= HS_DEDUP_TAIL_KEYS && HS_DEDUP_TAIL_KEYS_MIN > 0,
               "a tail due under the lock at twice its batch fits the tail map");

/*
 * A header's value in a key, losslessly, so that two different byte
 * strings never make one key: valid UTF-8 as a JSON string (which keeps
 * every byte; only '"', '\\' and control characters are escaped, and
 * reversibly), anything else as {"hex":"<its bytes>"}. A JSON string and
 * an object never compare equal, so the two forms cannot collide.
 * Replacing invalid bytes by U+FFFD, as kept headers are, would merge
 * "evt-\xe9" and "evt-\xe8" into one key and lose the second event.
 */
static void put_header_value(hs_buf *out, const char *v, size_t n)
{
    if (hs_buf_is_utf8(v, n)) {
        hs_buf_json_str(out, v, n);
        return;
    }
    hs_buf_puts(out, "{\"hex\":\"");
    hs_buf_hex(out, v, n);
    hs_buf_puts(out, "\"}");
}

/* ["<hex SHA-256 of event[0..len)>"] into out: 1, or -1 (memory,
 * libcrypto). */
static int content_key(const char *event, size_t len, hs_buf *out)
{
    unsigned char h[HS_STORE_KEY_LEN];
    unsigned int n = 0;
    const EVP_MD *md = hs_crypto_sha256();

    if (md == NULL || EVP_Digest(event, len, h, &n, md, NULL) != 1 || n != sizeof h)
        return -1;
    hs_buf_puts(out, "[\"");
    hs_buf_hex(out, h, n);
    hs_buf_puts(out, "\"]");
    return out->oom ? -1 : 1;
}

int hs_dedup_key(const hs_config *cfg, const char *event, size_t len,
                 hs_header_fn hdr, void *arg, hs_buf *out)
{
    return hs_dedup_key_at(cfg, event, len, -1, hdr, arg, out);
}

int hs_dedup_key_at(const hs_config *cfg, const char *event, size_t len, long index,
                    hs_header_fn hdr, void *arg, hs_buf *out)
{
    size_t start = out->len, i;
    int found = 0;

    if (cfg->dedup == HS_DEDUP_CONTENT) return content_key(event, len, out);
    if (cfg->dedup == HS_DEDUP_OFF || cfg->ndedup == 0) return 0;
    hs_buf_putc(out, '[');
    for (i = 0; i < cfg->ndedup; i++) {
        const char *item = cfg->dedup_items[i];
        if (i > 0) hs_buf_putc(out, ',');
        if (cfg->dedup == HS_DEDUP_JSON) {
            const char *v;
            size_t vl;
            if (hs_json_pointer(event, len, item, strlen(item), &v, &vl) == 1) {
                hs_buf_append(out, v, vl);
                /* An explicit null identifies nothing: two different
                 * events with null ids must not be taken for one. */
                if (!(vl == 4 && memcmp(v, "null", 4) == 0)) found = 1;
            } else {
                hs_buf_puts(out, "null");
            }
        } else {
            const char *v = hdr(arg, item);
            if (v == NULL && cfg->scheme.kind == HS_SCHEME_STANDARD &&
                strcasecmp(item, "webhook-id") == 0)
                v = hdr(arg, "svix-id");
            if (v != NULL) {
                put_header_value(out, v, strlen(v));
                found = 1;
            } else {
                hs_buf_puts(out, "null");
            }
        }
    }
    if (found && index >= 0 && cfg->dedup == HS_DEDUP_HEADER)
        hs_buf_printf(out, ",%ld", index);
    hs_buf_putc(out, ']');
    if (out->oom) return -1;
    if (!found) {
        out->len = start;
        out->p[start] = '\0';
        return 0;
    }
    return 1;
}

int hs_dedup_hash(const char *endpoint_json, size_t elen, const char *key,
                  size_t klen, unsigned char out[HS_STORE_KEY_LEN])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    const EVP_MD *md;
    unsigned int n = 0;
    int ok = c != NULL &&
             (md = hs_crypto_sha256()) != NULL && EVP_DigestInit_ex(c, md, NULL) == 1 &&
             EVP_DigestUpdate(c, endpoint_json, elen) == 1 &&
             EVP_DigestUpdate(c, "\n", 1) == 1 &&
             EVP_DigestUpdate(c, key, klen) == 1 &&
             EVP_DigestFinal_ex(c, out, &n) == 1 && n == HS_STORE_KEY_LEN;
    EVP_MD_CTX_free(c);
    return ok ? 0 : -EIO;
}

/* A key of the tail: its hash, where its line ends, when it came. */
struct tail_key {
    unsigned char hash[HS_STORE_KEY_LEN];
    uint64_t      end;
    int64_t       t;
};

struct hs_dedup_tail {
    char             seg[HS_SEG_NAME_MAX];  /* "": nothing known */
    uint64_t         upto;                  /* read up to here, a line's end */
    struct tail_key *k;                     /* the keyed lines in [cursor, upto) */
    size_t           n, cap;
    int64_t          next_purge;            /* this process' next sweep */
    uint64_t         near_at;               /* the seal is near past here (0: unknown) */
    int              eager;                 /* record every append (room_low) */
    int64_t          ttl;                   /* the last append's window */
    size_t           batch;                 /* keys recorded at once (set_workers) */
    hs_tailmap      *map;                   /* the spool's tail map, or NULL */
    int              map_tried;             /* map opened, or given up */
    /* Bit filter_bit(h) is set for the hash h of every key in k[0..n)
     * (and maybe for a few no longer there): a lookup whose bit is clear
     * skips the walk over the tail. Issue 18: that walk, under the spool
     * lock for every keyed event, grows with the tail that is recorded
     * HS_DEDUP_TAIL_KEYS keys at a time; with the tail at most
     * HS_DEDUP_TAIL_MAX keys, at most 1 in 32 new keys walks it. */
    uint64_t         filter[FILTER_WORDS];
    /* The spool directory the tail describes (tail_bind). */
    int              sp_known;
    dev_t            sp_dev;
    ino_t            sp_ino;
    /* The cursor and the key filter's epoch as a look under the lock last
     * read them from the store (cursor_cached), while the tail holds
     * every key of segment c_seg past c_off: a look may take them again
     * instead of a read transaction (issue 18). Anything that drops keys
     * past c_off, or the tail's segment, drops them too. */
    int              c_ok;
    char             c_seg[HS_SEG_NAME_MAX];
    uint64_t         c_off;
    int64_t          c_epoch;
    dev_t            c_dev;                 /* the store file they were read from */
    ino_t            c_ino;
    unsigned         c_uses;                /* looks that took them since */
    /* hs_dedup_tail_new_shared: every use holds mu (tail_hold). */
    int              shared;
    pthread_mutex_t  mu;
};

hs_dedup_tail *hs_dedup_tail_new(void)
{
    hs_dedup_tail *t = calloc(1, sizeof(hs_dedup_tail));
    if (t != NULL) {
        t->eager = 1;        /* until a catch-up has looked */
        t->batch = HS_DEDUP_TAIL_KEYS;
    }
    return t;
}

hs_dedup_tail *hs_dedup_tail_new_shared(void)
{
    hs_dedup_tail *t = hs_dedup_tail_new();
    if (t == NULL) return NULL;
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return NULL;
    }
    t->shared = 1;
    return t;
}

/* Hold t for one use (a hook, a copy, a recording): 0, or a negative
 * errno when its mutex cannot be taken (t is then not held). A tail of
 * one worker needs no holding. */
static int tail_hold(hs_dedup_tail *t)
{
    int e;
    if (t == NULL || !t->shared) return 0;
    return (e = pthread_mutex_lock(&t->mu)) == 0 ? 0 : -e;
}

/* tail_hold without waiting: 0 held, 1 another thread holds t, or a
 * negative errno. */
static int tail_try_hold(hs_dedup_tail *t)
{
    int e;
    if (t == NULL || !t->shared) return 0;
    e = pthread_mutex_trylock(&t->mu);
    return e == 0 ? 0 : e == EBUSY ? 1 : -e;
}

static void tail_release(hs_dedup_tail *t)
{
    if (t != NULL && t->shared) (void)pthread_mutex_unlock(&t->mu);
}

void hs_dedup_tail_set_workers(hs_dedup_tail *t, int workers)
{
    size_t b = workers > 1 ? HS_DEDUP_TAIL_KEYS / (size_t)workers
             : workers == 1 ? HS_DEDUP_TAIL_KEYS : HS_DEDUP_TAIL_KEYS_MIN;
    t->batch = b < HS_DEDUP_TAIL_KEYS_MIN ? HS_DEDUP_TAIL_KEYS_MIN : b;
}

void hs_dedup_tail_free(hs_dedup_tail *t)
{
    if (t == NULL) return;
    hs_tailmap_close(t->map);
    free(t->k);
    if (t->shared) (void)pthread_mutex_destroy(&t->mu);
    free(t);
}

static size_t filter_bit(const unsigned char h[HS_STORE_KEY_LEN])
{
    return ((size_t)h[0] << 10 | (size_t)h[1] << 2 | (size_t)h[2] >> 6) % FILTER_BITS;
}

static void filter_set(hs_dedup_tail *t, const unsigned char h[HS_STORE_KEY_LEN])
{
    size_t b = filter_bit(h);
    t->filter[b / 64] |= (uint64_t)1 << (b % 64);
}

/* 0: no key of the tail has hash h; 1: one may have. */
static int filter_may_have(const hs_dedup_tail *t, const unsigned char h[HS_STORE_KEY_LEN])
{
    size_t b = filter_bit(h);
    return (int)(t->filter[b / 64] >> (b % 64) & 1);
}

/* The filter made again from the keys the tail holds now. */
static void filter_rebuild(hs_dedup_tail *t)
{
    size_t i;
    memset(t->filter, 0, sizeof(t->filter));
    for (i = 0; i < t->n; i++) filter_set(t, t->k[i].hash);
}

/* Know nothing of seg but that it holds no keys before offset at. */
static void tail_reset(hs_dedup_tail *t, const char *seg, uint64_t at)
{
    size_t n = strlen(seg);
    if (n >= sizeof(t->seg)) n = 0;    /* never: names are shorter */
    memcpy(t->seg, seg, n);
    t->seg[n] = '\0';
    t->upto = at;
    t->n = 0;
    t->c_ok = 0;
    filter_rebuild(t);
}

/* Know nothing: the next look reads the tail from the cursor. */
static void tail_forget(hs_dedup_tail *t)
{
    t->seg[0] = '\0';
    t->upto = 0;
    t->n = 0;
    t->c_ok = 0;
    filter_rebuild(t);
}

/* Held, under sp's lock: t describes sp's directory from now on. A tail
 * that described another (an operator replaced the spool at the path,
 * and one worker's handle is the new directory's) starts over as a new
 * tail: its tail map is the other spool's, and so are its keys. */
static void tail_bind(hs_dedup_tail *t, hs_spool *sp)
{
    dev_t dev;
    ino_t ino;

    hs_spool_id(sp, &dev, &ino);
    if (t->sp_known && t->sp_dev == dev && t->sp_ino == ino) return;
    if (t->sp_known) {
        hs_tailmap_close(t->map);
        t->map = NULL;
        t->map_tried = 0;
        tail_forget(t);
        t->next_purge = 0;
        t->near_at = 0;
        t->eager = 1;
    }
    t->sp_known = 1;
    t->sp_dev = dev;
    t->sp_ino = ino;
}

/* Give back what the key array holds past keep keys once t holds no
 * more than keep, when that is at least SHED_MIN_BYTES. A tail grows
 * past its batch while the recording after the answer is behind; kept,
 * a late growth of a one-worker tail (192 KiB) would stay the process'
 * for good (issue 18's memory target: at most 64 KiB of growth). Smaller arrays stay: four workers' tails of
 * 1,024 keys shrunk and grown again left the heap 150 KiB larger,
 * fragmented, than keeping them. A failed shrink keeps the array as it
 * was, which is still correct. */
#define SHED_MIN_BYTES (128 * 1024)
static void tail_shed(hs_dedup_tail *t, size_t keep)
{
    struct tail_key *k;
    if (t->cap <= keep || t->n > keep || (t->cap - keep) * sizeof(*k) < SHED_MIN_BYTES)
        return;
    if ((k = realloc(t->k, keep * sizeof(*k))) == NULL) return;
    t->k = k;
    t->cap = keep;
}

void hs_dedup_tail_shed(hs_dedup_tail *t)
{
    if (t == NULL) return;
    t->n = 0;
    filter_rebuild(t);
    free(t->k);
    t->k = NULL;
    t->cap = 0;
}

static int tail_add(hs_dedup_tail *t, const unsigned char h[HS_STORE_KEY_LEN], uint64_t end,
                    int64_t when)
{
    struct tail_key *k;
    if (t->n == t->cap) {
        size_t cap = t->batch;
        if (t->cap != 0) {
            if (t->cap > SIZE_MAX / 2 / sizeof(*k)) return -ENOMEM;
            cap = t->cap * 2;
        }
        if ((k = realloc(t->k, cap * sizeof(*k))) == NULL) return -ENOMEM;
        t->k = k;
        t->cap = cap;
    }
    k = &t->k[t->n++];
    memcpy(k->hash, h, HS_STORE_KEY_LEN);
    k->end = end;
    k->t = when;
    filter_set(t, h);
    return 0;
}

/* Drop the keys whose lines end at or before the cursor: the store has
 * them, or forgot them on purpose (hs_dedup_forget). The keys are in
 * line order (tail_read and post_hook add them as the lines lie in the
 * file; record_tx sorts a copy), so those are a prefix: a lock hold that
 * trims nothing costs one comparison, not a pass over the tail. */
static void tail_trim(hs_dedup_tail *t, uint64_t from)
{
    size_t i = 0;
    if (from > t->c_off) t->c_ok = 0;
    while (i < t->n && t->k[i].end <= from) i++;
    if (i == 0) return;
    memmove(t->k, t->k + i, (t->n - i) * sizeof(*t->k));
    t->n -= i;
    filter_rebuild(t);
    tail_shed(t, t->batch);
}

/* How many of the tail's keys have lines ending past from. */
static size_t tail_count_past(const hs_dedup_tail *t, uint64_t from)
{
    size_t i, n = 0;
    for (i = 0; i < t->n; i++) n += t->k[i].end > from;
    return n;
}

/* Where in a segment its seal gets near: its last eighth of
 * rotate_bytes, at most HS_DEDUP_NEAR_BYTES of it; 0 (never) without a
 * size limit. */
static uint64_t near_seal(long long rotate_bytes)
{
    uint64_t r = rotate_bytes > 0 ? (uint64_t)rotate_bytes : 0, near = r / 8;
    if (near > HS_DEDUP_NEAR_BYTES) near = HS_DEDUP_NEAR_BYTES;
    return r - near;
}

/* Is a tail of t's with n keys past the cursor due for recording after
 * the answer (hs_dedup_idle)? At its batch of keys; in the last
 * stretch of its segment (near_at) already at HS_DEDUP_NEAR_KEYS. The
 * seal records what is left of the tail under the spool lock and
 * flushes the store there (seal_hook); recorded sooner near the seal,
 * little is left for it (issue 18: up to 1,023 keys and their WAL frames
 * made each seal a stall of 10-60 ms for every writer). */
static int idle_due(const hs_dedup_tail *t, size_t n)
{
    return n >= t->batch ||
           (t->near_at != 0 && t->upto >= t->near_at && n >= HS_DEDUP_NEAR_KEYS);
}

/* When a line of ours was received, in seconds, at most now (a test's
 * clock, or a clock stepped back, is never passed); now when the line
 * says nothing readable. */
static int64_t line_time(const char *line, size_t len, int64_t now)
{
    const char *v;
    size_t vl;
    int64_t s;

    /* "YYYY-MM-DDThh:mm:ss.mmmZ" with its quotes (spool.h, HS_TS_LEN). */
    if (hs_json_pointer(line, len, "/received_at", 12, &v, &vl) != 1 || vl != HS_TS_LEN + 2 ||
        hs_layout_civil(hs_layout_digits(v + 1, 4), hs_layout_digits(v + 6, 2),
                        hs_layout_digits(v + 9, 2), hs_layout_digits(v + 12, 2),
                        hs_layout_digits(v + 15, 2), hs_layout_digits(v + 18, 2), &s) != 0)
        return now;
    return s < now ? s : now;
}

/* Add the key of one line of ours (line[0..len), its '\n' not included),
 * if it has one, to the tail, and the line to the tail map (read from
 * the file, it goes there for the next writer); the line ends at
 * offset end. */
static int tail_line(hs_dedup_op *op, uint64_t end, const char *line, size_t len)
{
    hs_dedup_tail *t = op->tail;
    const char *ep, *key;
    size_t el, kl;
    hs_tailmap_line l;

    memset(&l, 0, sizeof(l));
    l.end = end;
    if (hs_json_pointer(line, len, "/key", 4, &key, &kl) == 1 &&
        hs_json_pointer(line, len, "/endpoint", 9, &ep, &el) == 1) {
        if (hs_dedup_hash(ep, el, key, kl, l.hash) != 0) return -EIO;
        l.t = line_time(line, len, op->now);
        l.has_key = 1;
    }
    hs_tailmap_add(t->map, t->seg, end - len - 1, &l, 1);
    return l.has_key ? tail_add(t, l.hash, end, l.t) : 0;
}

/* hs_tailmap_get's walk: one keyed line into the tail, its time at most
 * the clock (as line_time). */
static int map_line(void *arg, const hs_tailmap_line *l)
{
    hs_dedup_op *op = arg;
    return tail_add(op->tail, l->hash, l->end, l->t < op->now ? l->t : op->now);
}

/* Read the lines of the active segment (fd) from the tail's end to size
 * (a line's end: hs_spool_current cut any partial tail) into the tail. */
static int tail_read(hs_dedup_op *op, int fd, uint64_t size)
{
    char chunk[READ_CHUNK];
    hs_buf pending = HS_BUF_INIT;
    uint64_t pos = op->tail->upto;
    int rc;

    /* What the others appended, from the tail map when it has it all. */
    if ((rc = hs_tailmap_get(op->tail->map, op->tail->seg, pos, size, map_line, op)) != 0) {
        if (rc == 1) op->tail->upto = size;
        return rc == 1 ? 0 : rc;
    }
    while (pos < size) {
        size_t want = size - pos > sizeof(chunk) ? sizeof(chunk) : (size_t)(size - pos);
        ssize_t r = pread(fd, chunk, want, (off_t)pos);
        size_t i, start = 0;
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { rc = r < 0 ? -errno : -EIO; goto out; }
        for (i = 0; i < (size_t)r; i++) {
            if (chunk[i] != '\n') continue;
            if (pending.len > 0) {
                hs_buf_append(&pending, chunk + start, i - start);
                if (pending.oom) { rc = -ENOMEM; goto out; }
                rc = tail_line(op, pos + i + 1, pending.p, pending.len);
                hs_buf_reset(&pending);
            } else {
                rc = tail_line(op, pos + i + 1, chunk + start, i - start);
            }
            if (rc != 0) goto out;
            start = i + 1;
        }
        if (start < (size_t)r && hs_buf_append(&pending, chunk + start, (size_t)r - start) != 0) {
            rc = -ENOMEM;
            goto out;
        }
        pos += (uint64_t)r;
    }
    op->tail->upto = size;
out:
    hs_buf_free(&pending);
    return rc;
}

/* Can a look take the cursor and epoch the tail keeps instead of
 * reading them from the store (a read transaction and its file locks,
 * most of what dedup cost a new event under the lock)? While the tail
 * holds every key of the active segment past the kept cursor, they are
 * as good as a fresh read for the verdict: a key recorded since in the
 * store is either in the tail (its line is past the kept cursor) or was
 * recorded with its bits in the key filter; the filter itself is used
 * only while it covers exactly the kept epoch (keyfilter.h), and a key
 * it may have is looked up in the store. Read again every
 * HS_DEDUP_CURSOR_USES looks, so that the tail is trimmed of what
 * others recorded. */
static int cursor_cached(const hs_dedup_op *op, const char *name)
{
    const hs_dedup_tail *t = op->tail;
    dev_t dev;
    ino_t ino;

    if (!t->c_ok || t->c_uses >= HS_DEDUP_CURSOR_USES || strcmp(t->c_seg, name) != 0)
        return 0;
    hs_store_id(op->store, &dev, &ino);
    return dev == t->c_dev && ino == t->c_ino;
}

/* Keep the cursor and epoch just read (op->from, op->epoch, of segment
 * name) for the next looks (cursor_cached). */
static void cursor_keep(hs_dedup_op *op, const char *name)
{
    hs_dedup_tail *t = op->tail;
    size_t n = strlen(name);

    if (n >= sizeof(t->c_seg)) return;
    memcpy(t->c_seg, name, n + 1);
    t->c_off = op->from;
    t->c_epoch = op->epoch;
    hs_store_id(op->store, &t->c_dev, &t->c_ino);
    t->c_uses = 0;
    t->c_ok = 1;
}

/*
 * Under the spool lock: the cursor into op->from, and op->tail brought
 * up to the active segment's end (name, *fd, *size; *fd -1 when there is
 * none). What the tail knew is kept when it is still the segment's: the
 * same name, read no further than the segment is long and no less far
 * than the cursor (a line once complete under the lock never changes
 * before the segment is sealed). Returns 0; 1 when the cursor is past
 * the segment's end (a power cut took lines whose keys a checkpoint had
 * made durable), which catch_up_tx repairs; or a negative errno.
 */
static int tail_sync(hs_dedup_op *op, char name[HS_SEG_NAME_MAX], int *fd, uint64_t *size,
                     int cached)
{
    char cseg[HS_STORE_SEG_MAX];
    hs_dedup_tail *t = op->tail;
    int64_t coff;
    int rc, keep = 0;

    op->epoch = -1;
    if (!t->map_tried) {
        /* Once per tail, under the lock; without a map (no room, no
         * boot id, a tail for one operation) the file is read. */
        t->map_tried = 1;
        if (!op->own_tail) (void)hs_tailmap_open(op->sp, &t->map);   /* NULL on failure */
    }
    if ((rc = hs_spool_current(op->sp, name, fd, size)) != 0) return rc;
    if (*fd < 0) {
        tail_forget(t);
        op->from = 0;
        return 0;
    }
    if (cached && cursor_cached(op, name)) {
        op->from = t->c_off;
        op->epoch = t->c_epoch;
        t->c_uses++;
    } else {
        if (!hs_store_in_tx(op->store) && (rc = hs_store_begin_read(op->store)) != 0) return rc;
        if ((rc = hs_store_cursor_get(op->store, cseg, &coff)) != 0) return rc;
        (void)hs_store_epoch(op->store, &op->epoch);
        /* A segment other than the cursor's is read from its start: the
         * cursor's own was fully indexed before it was sealed. */
        op->from = (strcmp(cseg, name) == 0 && coff >= 0) ? (uint64_t)coff : 0;
        keep = cached && strcmp(cseg, name) == 0 && coff >= 0;
    }
    if (op->from > *size) return 1;
    if (strcmp(t->seg, name) != 0 || t->upto > *size || t->upto < op->from)
        tail_reset(t, name, op->from);
    tail_trim(t, op->from);
    if (t->upto < *size && (rc = tail_read(op, *fd, *size)) != 0) {
        tail_forget(t);
        return rc;
    }
    /* The tail holds every key of this segment past op->from now. */
    if (keep) cursor_keep(op, name);
    return 0;
}

/* In the catch-up's transaction: forget keys older than the window.
 * Each key recorded lets HS_DEDUP_PURGE_PER_KEY expired ones go, so
 * purging keeps pace with any intake; a sweep of at least
 * HS_DEDUP_PURGE_MAX every HS_DEDUP_PURGE_EVERY seconds works a backlog
 * off when few events come. Both are bounded (a transaction records at
 * most a tail, HS_DEDUP_TAIL_MAX keys and what came while it waited), so
 * no catch-up holds the store long. Only an append knows the window
 * (ttl > 0). The allowance was once capped at HS_DEDUP_PURGE_MAX a
 * transaction: with HS_DEDUP_TAIL_KEYS keys a transaction that no longer
 * kept pace (test_purge_keeps_pace). */
#define PURGE_TX_MAX ((uint64_t)HS_DEDUP_PURGE_PER_KEY * HS_DEDUP_TAIL_MAX * 2)
_Static_assert(PURGE_TX_MAX <= INT_MAX && PURGE_TX_MAX >= HS_DEDUP_PURGE_MAX,
               "a purge's size is an int, and the sweep fits in it");
static int purge_tx(hs_store *st, int64_t now, int64_t ttl, uint64_t added)
{
    int64_t last;
    int rc, want;

    if (ttl <= 0) return 0;
    want = added > PURGE_TX_MAX / HS_DEDUP_PURGE_PER_KEY ? (int)PURGE_TX_MAX
           : (int)added * HS_DEDUP_PURGE_PER_KEY;
    if ((rc = hs_store_meta_get(st, "last_purge", &last)) != 0) return rc;
    if (now - last >= HS_DEDUP_PURGE_EVERY) {
        if (want < HS_DEDUP_PURGE_MAX) want = HS_DEDUP_PURGE_MAX;
        if ((rc = hs_store_meta_set(st, "last_purge", now)) != 0) return rc;
    }
    if (want > 0 && (rc = hs_store_purge(st, now - ttl, want)) < 0) return rc;
    return 0;
}

/*
 * Is the filesystem of fd (the active segment's, the store's) short of
 * HS_DEDUP_TAIL_ROOM free bytes? The tail must go into the store before
 * its segment is sealed, and on a full disk the store could not take it:
 * `rotate` could then not seal, and no consumer could free the space.
 * While room is short every append records its keys with its line, as
 * the store then still has room or the append is refused; with more
 * room, the appends between two catch-ups cannot fill it (the tail is
 * recorded at HS_DEDUP_TAIL_BYTES). A failed look counts as short.
 */
static int room_low(int fd)
{
    return hs_layout_room_below(fd, HS_DEDUP_TAIL_ROOM);
}

static int key_order(const void *a, const void *b)
{
    return memcmp((*(const struct tail_key *const *)a)->hash,
                  (*(const struct tail_key *const *)b)->hash, HS_STORE_KEY_LEN);
}

/* Inside a store transaction: record the tail's keys whose lines end
 * past from (each with where its line ends, store.h "Durability order"),
 * move the cursor to the tail's end, then purge. The caller has made
 * sure that from is the cursor, or 0 in a segment after the cursor's.
 * The keys go in hash order, so that each B-tree leaf is read and
 * written once however many of them land on it (the page cache,
 * HS_STORE_CACHE_KIB, holds far fewer leaves than a batch touches: in
 * arrival order a leaf is spilled and read back); sorted through
 * pointers, so the tail stays in line order (tail_trim).
 * With background (hs_dedup_idle: the recorder thread, or a CGI process
 * after its answer), it yields the CPU every YIELD_KEYS keys: a batch is
 * milliseconds of CPU, and on a small host the workers that answer
 * requests wait for it (issue 18: fsync=never with dedup had a p99 over
 * 5x its p50, with the recorder's batches the cause; the yields brought
 * it under, bench/RESULTS.md). Never under the spool lock, where every
 * writer would wait. */
static int record_tx(hs_store *st, hs_dedup_tail *t, uint64_t from, int64_t now, int64_t ttl,
                     int background)
{
    const struct tail_key **o;
    size_t i, m = 0;
    int rc = 0;

    if (t->n > SIZE_MAX / sizeof(*o) - 1 || (o = malloc((t->n + 1) * sizeof(*o))) == NULL)
        return -ENOMEM;
    for (i = 0; i < t->n; i++)
        if (t->k[i].end > from) o[m++] = &t->k[i];
    qsort(o, m, sizeof(*o), key_order);
    for (i = 0; i < m && rc == 0; i++) {
        rc = hs_store_key_put(st, o[i]->hash, o[i]->t, t->seg, (int64_t)o[i]->end);
        /* A hint: it cannot fail on Linux, and nothing depends on it. */
        if (background && i % YIELD_KEYS == YIELD_KEYS - 1) (void)sched_yield();
    }
    free(o);
    if (rc != 0) return rc;
    if (t->upto != from && (rc = hs_store_cursor_set(st, t->seg, (int64_t)t->upto)) != 0)
        return rc;
    return purge_tx(st, now, ttl, (uint64_t)m);
}

/* Inside a store transaction, under the spool lock: the tail read to
 * the active segment's end, and recorded. */
static int catch_up_tx(hs_dedup_op *op)
{
    char name[HS_SEG_NAME_MAX];
    hs_dedup_tail *t = op->tail;
    uint64_t size;
    int fd, rc;

    if ((rc = tail_sync(op, name, &fd, &size, 0)) < 0) return rc;
    if (rc == 1) {
        /* The segment is shorter than what was indexed: a power cut took
         * lines whose keys a checkpoint had made durable (a kill never
         * shortens it past a recorded line). Their senders were never
         * answered 2xx, so their retries must get in: drop those keys. */
        if ((rc = hs_store_keys_drop_past(op->store, name, (int64_t)size)) < 0) return rc;
        if ((rc = hs_store_cursor_set(op->store, name, (int64_t)size)) != 0) return rc;
        tail_reset(t, name, size);
        return purge_tx(op->store, op->now, op->ttl, 0);
    }
    if (fd < 0) return purge_tx(op->store, op->now, op->ttl, 0);
    if ((rc = record_tx(op->store, t, op->from, op->now, op->ttl, 0)) != 0)
        return rc;
    t->eager = room_low(fd);
    return 0;
}

/* The tail is in the store: it is empty now, the cursor at its end. */
static void caught_up(hs_dedup_op *op)
{
    hs_dedup_tail *t = op->tail;
    if (t->seg[0] != '\0') op->from = t->upto;
    tail_trim(t, op->from);
    t->next_purge = op->now + HS_DEDUP_PURGE_EVERY;
}

/* Record the tail in the store in one transaction (under the lock). */
static int catch_up(hs_dedup_op *op)
{
    int rc;
    if ((rc = hs_store_begin(op->store)) != 0) return rc;
    if ((rc = catch_up_tx(op)) != 0 || (rc = hs_store_commit(op->store)) != 0) {
        hs_store_rollback(op->store);
        tail_forget(op->tail);
        return rc;
    }
    caught_up(op);
    return 0;
}

/* Is recording the tail due before this append, under the lock? A tail
 * made for this operation alone is recorded at once (nothing would keep
 * it); a long one (twice its batch, at most HS_DEDUP_TAIL_MAX keys, or
 * HS_DEDUP_TAIL_BYTES bytes:
 * hs_dedup_idle has not kept up),
 * while room is short, and for the sweep once a minute. A tail of
 * its batch of keys is recorded by hs_dedup_idle, after the answer
 * and outside the lock. */
static int catch_up_due(const hs_dedup_op *op, uint64_t size)
{
    const hs_dedup_tail *t = op->tail;
    return op->own_tail || (t->eager && t->upto != op->from) ||
           t->n >= 2 * t->batch || size - op->from > HS_DEDUP_TAIL_BYTES ||
           (op->ttl > 0 && op->now >= t->next_purge);
}

int hs_dedup_idle(hs_store *st, hs_dedup_tail *t, int64_t now)
{
    char cseg[HS_STORE_SEG_MAX];
    uint64_t from;
    int64_t coff;
    int rc, c;

    if (st == NULL || t == NULL) return 0;
    if ((rc = tail_hold(t)) != 0) return rc;
    if (!idle_due(t, t->n) || t->seg[0] == '\0') goto release;
    /* Another connection writing is most likely another process or
     * thread recording this same tail: leave it to them. */
    if ((rc = hs_store_try_begin(st)) != 0) {
        if (rc == -ETIMEDOUT) rc = 0;
        goto release;
    }
    if ((rc = hs_store_cursor_get(st, cseg, &coff)) != 0) goto fail;
    /* Under SQLite's write lock the cursor is what it is: in a later
     * segment, or at or past the tail's end, others recorded the tail
     * (a seal, a writer under the spool lock, another process); in an
     * earlier one, that segment was recorded whole before it was sealed,
     * and this one is not recorded at all yet. */
    c = strcmp(cseg, t->seg);
    if (c > 0 || (c == 0 && (coff < 0 || (uint64_t)coff >= t->upto))) goto done;
    from = c == 0 ? (uint64_t)coff : 0;
    /* Others recorded most of it (every process keeps its own tail, and
     * so does a worker the recorder had no shared tail for): the rest
     * waits, so that the keys go in large transactions. */
    if (!idle_due(t, tail_count_past(t, from))) goto done;
    if ((rc = record_tx(st, t, from, now, t->ttl, 1)) != 0) goto fail;
    /* Outside the spool lock, in the recording's transaction: the key
     * filter built again when it cannot be used (a new boot, a store
     * written without it) or has grown stale (keyfilter.h). */
    if ((rc = hs_store_keyfilter_build(st)) < 0) goto fail;
    if ((rc = hs_store_commit(st)) != 0) goto fail;
    tail_trim(t, t->upto);
    goto release;
done:
    rc = 0;
fail:
    hs_store_rollback(st);
release:
    tail_release(t);
    return rc;
}

int hs_dedup_tail_take(hs_dedup_tail *dst, hs_dedup_tail *src)
{
    struct tail_key *k;
    int rc;

    /* A worker offers the tail after its answer and must not wait for
     * another one's hook (a catch-up under the lock takes milliseconds):
     * a tail in use is not worth it now, and is offered again after the
     * next answer. */
    if ((rc = tail_try_hold(src)) != 0) return rc > 0 ? 0 : rc;
    if (!idle_due(src, src->n) || src->seg[0] == '\0') goto release;
    if (strcmp(dst->seg, src->seg) == 0 && dst->upto >= src->upto) goto release;
    rc = -ENOMEM;
    if (dst->cap < src->n) {
        if (src->n > SIZE_MAX / sizeof(*k)) goto release;
        if ((k = realloc(dst->k, src->n * sizeof(*k))) == NULL) goto release;
        dst->k = k;
        dst->cap = src->n;
    }
    memcpy(dst->seg, src->seg, sizeof(dst->seg));
    memcpy(dst->k, src->k, src->n * sizeof(*k));
    memcpy(dst->filter, src->filter, sizeof(dst->filter));
    dst->n = src->n;
    dst->batch = src->batch;
    dst->upto = src->upto;
    dst->ttl = src->ttl;
    dst->near_at = src->near_at;
    rc = 1;
release:
    tail_release(src);
    return rc;
}

/* Under the spool lock: make sure op->store is open when the spool has a
 * store. 1: there is one (open); 0: there is none, so nothing can need
 * indexing (a keyed event creates the store before it appends); or a
 * negative errno. Looking here, under the lock, and not before taking
 * it, closes the window in which another process creates the store and
 * appends a keyed line. */
static int find_store(hs_dedup_op *op)
{
    int rc;
    if (op->store != NULL) return 1;
    if (op->spool == NULL) return 0;
    rc = hs_store_open(op->spool, op->umask, 0, &op->store);
    if (rc == -ENOENT) return 0;
    if (rc != 0) return rc;
    op->own = 1;
    return 1;
}

/* Under the lock, with a store: op->sp and a tail (the caller's, or one
 * for this operation), held and bound to sp (tail_bind). On 0 the
 * caller releases the tail (tail_release) before it returns. */
static int op_begin(hs_dedup_op *op, hs_spool *sp)
{
    int rc;
    op->sp = sp;
    if (op->tail == NULL) {
        if ((op->tail = hs_dedup_tail_new()) == NULL) return -ENOMEM;
        op->own_tail = 1;
    }
    if ((rc = tail_hold(op->tail)) != 0) return rc;
    tail_bind(op->tail, sp);
    return 0;
}

/* Release what the hooks opened (an owned store and tail), after a
 * checkpoint when its WAL is long (a store the caller owns is the
 * caller's to checkpoint: hs_ctx_idle, after the answer). Called outside
 * the spool lock, so a checkpoint (three flushes) stalls no other
 * writer; it may make keys durable before their lines, which their
 * positions make harmless (store.h, "Durability order"). A failed
 * checkpoint changes no answer: the WAL grows until a later one
 * succeeds. */
static void hs_dedup_op_done(hs_dedup_op *op)
{
    if (op->own) (void)hs_store_checkpoint_if_due(op->store);
    if (op->own) hs_store_close(op->store);
    if (op->own) op->store = NULL;
    op->own = 0;
    if (op->own_tail) hs_dedup_tail_free(op->tail);
    if (op->own_tail) op->tail = NULL;
    op->own_tail = 0;
    op->sp = NULL;
}

/* Does any line of the append have a key? */
static int any_key(const hs_dedup_op *op)
{
    size_t i;
    for (i = 0; i < op->nitems; i++)
        if (op->items[i].has_key) return 1;
    return 0;
}

/* Is line i a duplicate: its key seen by an earlier line of this append
 * that is written, by the tail, or by the store? 1, 0 or a negative
 * errno. */
static int line_seen(hs_dedup_op *op, size_t i)
{
    const hs_dedup_tail *t = op->tail;
    const unsigned char *h = op->items[i].hash;
    size_t j;

    if (!op->items[i].has_key) return 0;
    for (j = 0; j < i; j++)
        if (op->items[j].has_key && !op->lines[j].skip &&
            memcmp(op->items[j].hash, h, HS_STORE_KEY_LEN) == 0)
            return 1;
    if (filter_may_have(t, h))
        for (j = 0; j < t->n; j++)
            if (t->k[j].end > op->from && t->k[j].t >= op->now - op->ttl &&
                memcmp(t->k[j].hash, h, HS_STORE_KEY_LEN) == 0)
                return 1;
    /* Most keys are new: the key filter says so without a lookup. */
    if (hs_store_key_absent(op->store, op->epoch, h)) return 0;
    /* A read transaction of its own when the cursor came from the tail
     * (or a catch-up ended the first): a newer snapshot than the cursor's
     * is as good, since every key recorded since is in the tail. */
    if (!hs_store_in_tx(op->store)) {
        int rc = hs_store_begin_read(op->store);
        if (rc != 0) return rc;
    }
    return hs_store_key_seen(op->store, h, op->now, op->ttl);
}

/* Under the lock, before the append: read the tail, record it when that
 * is due, then decide. The reads (the cursor, the lookups) share one
 * store read transaction; a catch-up ends it and writes in its own. */
static int pre_hook(void *arg, hs_spool *sp)
{
    hs_dedup_op *op = arg;
    char name[HS_SEG_NAME_MAX];
    uint64_t size;
    size_t i, left = 0;
    int rc, fd, seen, keyed = any_key(op);

    if ((rc = find_store(op)) <= 0) return keyed && rc == 0 ? -EIO : rc;
    if ((rc = op_begin(op, sp)) != 0) return rc;
    if (op->ttl > 0) op->tail->ttl = op->ttl;
    if ((rc = tail_sync(op, name, &fd, &size, 1)) < 0) goto out;
    if (rc == 1 || (fd >= 0 && catch_up_due(op, size))) {
        hs_store_rollback(op->store);
        if ((rc = catch_up(op)) != 0) goto release;
        op->epoch = -1;      /* the catch-up wrote: the filter is checked afresh */
    }
    rc = 0;
    for (i = 0; keyed && i < op->nitems; i++) {
        if ((seen = line_seen(op, i)) < 0) { rc = seen; goto out; }
        op->lines[i].skip = seen;
        left += !seen;
    }
    if (keyed && left == 0) rc = HS_DEDUP_DUPLICATE;
out:
    hs_store_rollback(op->store);      /* ends the read transaction */
release:
    tail_release(op->tail);
    return rc;
}

/* The lines written (those not skipped, back to back from offset at of
 * segment seg) into the tail map, for the other writers. */
static void map_lines(hs_dedup_op *op, const char *seg, uint64_t at)
{
    hs_tailmap_line l;
    size_t i;

    if (op->tail->map == NULL) return;
    for (i = 0; i < op->nitems; i++) {
        if (op->lines[i].skip) continue;
        memset(&l, 0, sizeof(l));
        l.end = at + op->lines[i].len;
        l.t = op->now;
        l.has_key = op->items[i].has_key != 0;
        if (l.has_key) memcpy(l.hash, op->items[i].hash, sizeof(l.hash));
        hs_tailmap_add(op->tail->map, seg, at, &l, 1);
        at = l.end;
    }
}

/* The lines written (those not skipped, back to back, ending at offset
 * end of segment seg) join the tail and the tail map, so this process
 * need not read them back (unless the tail does not end where they
 * begin: it is then read again next time). While room is short
 * (room_low), or for a tail made for this operation alone, they are
 * recorded in the store at once: a failure then cuts the append back. */
static int post_hook(void *arg, const char *seg, uint64_t end)
{
    hs_dedup_op *op = arg;
    hs_dedup_tail *t = op->tail;
    uint64_t total = 0, at;
    size_t i;
    int rc;

    if (op->store == NULL) return 0;   /* the spool has no store */
    op->recorded = any_key(op);
    for (i = 0; i < op->nitems; i++)
        if (!op->lines[i].skip) total += op->lines[i].len;
    if (total > end) return -EIO;
    if ((rc = tail_hold(t)) != 0) return rc;
    t->near_at = near_seal(op->rotate_bytes);
    at = end - total;
    map_lines(op, seg, at);
    if (strcmp(t->seg, seg) != 0 && at == 0) tail_reset(t, seg, 0);
    if (strcmp(t->seg, seg) != 0 || t->upto != at) {
        tail_forget(t);
    } else {
        for (i = 0; i < op->nitems; i++) {
            if (op->lines[i].skip) continue;
            at += op->lines[i].len;
            if (op->items[i].has_key && tail_add(t, op->items[i].hash, at, op->now) != 0) {
                tail_forget(t);
                break;
            }
        }
        if (t->seg[0] != '\0') t->upto = end;
    }
    rc = op->own_tail || t->eager ? catch_up(op) : 0;
    tail_release(t);
    return rc;
}

/* The active segment (flushed) is about to be sealed: record its tail,
 * and make the store durable before the segment leaves active/, since
 * the catch-up never reads a sealed segment again (a power cut would
 * otherwise lose its keys and let their retries in as new events). */
static int seal_hook(void *arg, const char *seg, uint64_t end)
{
    hs_dedup_op *op = arg;
    int rc;

    (void)seg;
    (void)end;
    if (op->store == NULL) return 0;
    if ((rc = tail_hold(op->tail)) != 0) return rc;
    rc = catch_up(op);
    tail_release(op->tail);
    return rc != 0 ? rc : hs_store_sync(op->store);
}

static void abort_hook(void *arg)
{
    hs_dedup_op *op = arg;
    /* The lines post_hook put in the tail map may be cut back out. A
     * tail whose mutex fails is cleared all the same: the spool lock is
     * held, and no other writer of this spool uses the map meanwhile. */
    if (op->tail != NULL) {
        int held = tail_hold(op->tail) == 0;
        hs_tailmap_clear(op->tail->map);
        if (held) tail_release(op->tail);
    }
    if (op->store != NULL && hs_store_in_tx(op->store)) hs_store_rollback(op->store);
}

/* The hooks for hs_spool_append, on op. */
static hs_spool_hooks hs_dedup_hooks(hs_dedup_op *op)
{
    hs_spool_hooks h;
    h.pre = pre_hook;
    h.post = post_hook;
    h.seal = seal_hook;
    h.abort = abort_hook;
    h.arg = op;
    return h;
}

int hs_dedup_append_many(hs_dedup_op *op, hs_spool *sp, const hs_spool_opts *opts,
                         char *buf, size_t len, hs_spool_line *lines,
                         hs_dedup_item *items, size_t n)
{
    hs_spool_hooks h = hs_dedup_hooks(op);
    int rc;

    op->items = items;
    op->lines = lines;
    op->nitems = n;
    op->recorded = 0;
    op->rotate_bytes = opts->rotate_bytes;
    rc = hs_spool_append_many(sp, opts, buf, len, lines, n, &h);
    hs_dedup_op_done(op);
    return rc;
}

int hs_dedup_append(hs_dedup_op *op, hs_spool *sp, const hs_spool_opts *opts,
                    char *line, size_t len, size_t id_off, size_t ts_off,
                    char id_out[HS_ID_LEN + 1])
{
    hs_spool_line one;
    hs_dedup_item item;
    int rc;

    memset(&one, 0, sizeof(one));
    one.len = len;
    one.id_off = id_off;
    one.ts_off = ts_off;
    memcpy(item.hash, op->hash, sizeof(item.hash));
    item.has_key = op->has_key;
    rc = hs_dedup_append_many(op, sp, opts, line, len, &one, &item, 1);
    /* items and lines were ours: hs_dedup_forget uses op->hash. */
    op->items = NULL;
    op->lines = NULL;
    op->nitems = 0;
    if (rc == 0) memcpy(id_out, one.id, sizeof(one.id));
    return rc;
}

static int rotate_pre(void *arg, hs_spool *sp)
{
    hs_dedup_op *op = arg;
    int rc;
    if ((rc = find_store(op)) <= 0) return rc;
    if ((rc = op_begin(op, sp)) != 0) return rc;
    rc = catch_up(op);
    tail_release(op->tail);
    return rc;
}

/* Seal as hs_spool_rotate_hooks does, with pre as the pre hook. */
static int locked_rotate(hs_dedup_op *op, hs_spool *sp, const hs_spool_opts *opts, int force,
                         int *sealed, int (*pre)(void *, hs_spool *))
{
    hs_spool_hooks h;
    int rc;

    memset(&h, 0, sizeof(h));
    h.pre = pre;
    h.seal = seal_hook;
    h.arg = op;
    rc = hs_spool_rotate_hooks(sp, opts, force, sealed, &h);
    hs_dedup_op_done(op);
    return rc;
}

int hs_dedup_rotate(hs_spool *sp, const hs_spool_opts *opts, int force, int *sealed)
{
    hs_dedup_op op;

    memset(&op, 0, sizeof(op));
    op.spool = hs_spool_path(sp);
    op.umask = opts->umask;
    op.now = (int64_t)time(NULL);
    return locked_rotate(&op, sp, opts, force, sealed, rotate_pre);
}

/* Record the tail, then forget the keys of the lines the append wrote,
 * in one transaction: no other writer can see the tail in between. */
static int forget_pre(void *arg, hs_spool *sp)
{
    hs_dedup_op *op = arg;
    size_t i;
    int rc;

    if ((rc = find_store(op)) <= 0) return rc == 0 ? -EIO : rc;
    if ((rc = op_begin(op, sp)) != 0) return rc;
    if ((rc = hs_store_begin(op->store)) != 0) goto release;
    if ((rc = catch_up_tx(op)) != 0) goto fail;
    if (op->nitems == 0 && op->has_key && (rc = hs_store_key_forget(op->store, op->hash)) != 0)
        goto fail;
    for (i = 0; i < op->nitems; i++)
        if (op->items[i].has_key && !op->lines[i].skip &&
            (rc = hs_store_key_forget(op->store, op->items[i].hash)) != 0)
            goto fail;
    if ((rc = hs_store_commit(op->store)) != 0) goto fail;
    caught_up(op);
    goto release;
fail:
    hs_store_rollback(op->store);
    tail_forget(op->tail);
release:
    tail_release(op->tail);
    return rc;
}

int hs_dedup_forget(hs_dedup_op *op, hs_spool *sp, const hs_spool_opts *opts)
{
    return locked_rotate(op, sp, opts, 0, NULL, forget_pre);
}
