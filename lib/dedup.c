#include "dedup.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "json.h"
#include "crypto.h"

#define READ_CHUNK 65536

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

/* Record the key of one line of ours, if it has one; the line ends at
 * offset end of segment seg. */
static int index_line(hs_dedup_op *op, const char *seg, uint64_t end,
                      const char *line, size_t len)
{
    const char *ep, *key;
    size_t el, kl;
    unsigned char h[HS_STORE_KEY_LEN];

    if (hs_json_pointer(line, len, "/key", 4, &key, &kl) != 1) return 0;
    if (hs_json_pointer(line, len, "/endpoint", 9, &ep, &el) != 1) return 0;
    if (hs_dedup_hash(ep, el, key, kl, h) != 0) return -EIO;
    op->indexed++;
    return hs_store_key_put(op->store, h, op->now, seg, (int64_t)end);
}

/* Index the keys of the active segment's lines past the cursor (under
 * the spool lock, inside a store transaction). Counts them in
 * op->indexed. Returns 0 or a negative errno. */
static int hs_dedup_catch_up(hs_dedup_op *op, hs_spool *sp)
{
    char name[HS_SEG_NAME_MAX], cseg[HS_STORE_SEG_MAX], chunk[READ_CHUNK];
    hs_buf pending = HS_BUF_INIT;
    int64_t coff;
    uint64_t size, pos;
    int fd, rc;

    if ((rc = hs_spool_current(sp, name, &fd, &size)) != 0) return rc;
    if (fd < 0) return 0;
    if ((rc = hs_store_cursor_get(op->store, cseg, &coff)) != 0) return rc;
    /* A segment other than the cursor's is read from its start: the
     * cursor's own was fully indexed before it was sealed. */
    pos = (strcmp(cseg, name) == 0 && coff >= 0) ? (uint64_t)coff : 0;
    if (pos > size) {
        /* The segment is shorter than what was indexed: a power cut took
         * lines whose keys a checkpoint had made durable (a kill never
         * shortens it past a recorded line). Their senders were never
         * answered 2xx, so their retries must get in: drop those keys. */
        if ((rc = hs_store_keys_drop_past(op->store, name, (int64_t)size)) < 0) return rc;
        return hs_store_cursor_set(op->store, name, (int64_t)size);
    }
    if (pos == size) return 0;
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
                rc = index_line(op, name, pos + i + 1, pending.p, pending.len);
                hs_buf_reset(&pending);
            } else {
                rc = index_line(op, name, pos + i + 1, chunk + start, i - start);
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
    /* hs_spool_current cut any partial tail: the segment ends in '\n'. */
    rc = hs_store_cursor_set(op->store, name, (int64_t)size);
out:
    hs_buf_free(&pending);
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

/* Release what the hooks opened (an owned store), after a checkpoint
 * when its WAL is long (a store the caller owns is the caller's to
 * checkpoint: hs_ctx_idle, after the answer). Called outside the spool
 * lock, so a checkpoint (three flushes) stalls no other writer; it may
 * make keys durable before their lines, which their positions make
 * harmless (store.h, "Durability order"). A failed checkpoint changes
 * no answer: the WAL grows until a later one succeeds. */
static void hs_dedup_op_done(hs_dedup_op *op)
{
    if (op->own) (void)hs_store_checkpoint_if_due(op->store);
    if (op->own) hs_store_close(op->store);
    if (op->own) op->store = NULL;
    op->own = 0;
}

/* Does any line of the append have a key? */
static int any_key(const hs_dedup_op *op)
{
    size_t i;
    for (i = 0; i < op->nitems; i++)
        if (op->items[i].has_key) return 1;
    return 0;
}

/* Is line i a duplicate: its key seen by the store, or by an earlier
 * line of this append that is written? 1, 0 or a negative errno. */
static int line_seen(hs_dedup_op *op, size_t i)
{
    size_t j;
    if (!op->items[i].has_key) return 0;
    for (j = 0; j < i; j++)
        if (op->items[j].has_key && !op->lines[j].skip &&
            memcmp(op->items[j].hash, op->items[i].hash, HS_STORE_KEY_LEN) == 0)
            return 1;
    return hs_store_key_seen(op->store, op->items[i].hash, op->now, op->ttl);
}

static int pre_hook(void *arg, hs_spool *sp)
{
    hs_dedup_op *op = arg;
    size_t i, left = 0;
    int rc, seen, keyed = any_key(op);

    if ((rc = find_store(op)) <= 0) return keyed && rc == 0 ? -EIO : rc;
    if ((rc = hs_store_begin(op->store)) != 0) return rc;
    if ((rc = hs_dedup_catch_up(op, sp)) != 0) goto fail;
    if (!keyed) return 0;
    for (i = 0; i < op->nitems; i++) {
        if ((seen = line_seen(op, i)) < 0) { rc = seen; goto fail; }
        op->lines[i].skip = seen;
        left += !seen;
    }
    if (left == 0) {
        /* Keep what the catch-up indexed; append nothing. */
        if ((rc = hs_store_commit(op->store)) != 0) return rc;
        return HS_DEDUP_DUPLICATE;
    }
    return 0;
fail:
    hs_store_rollback(op->store);
    return rc;
}

static int post_hook(void *arg, const char *seg, uint64_t end)
{
    hs_dedup_op *op = arg;
    int64_t last;
    uint64_t added = 0;
    size_t i;
    int rc, want;

    if (op->store == NULL) return 0;   /* the spool has no store */
    /* Each key with where its line ends (store.h: a key whose line a
     * power cut took is dropped by the next catch-up). The written lines
     * are the ones not skipped, back to back, ending at end. */
    {
        uint64_t total = 0, at;
        for (i = 0; i < op->nitems; i++)
            if (!op->lines[i].skip) total += op->lines[i].len;
        if (total > end) return -EIO;
        at = end - total;
        for (i = 0; i < op->nitems; i++) {
            if (op->lines[i].skip) continue;
            at += op->lines[i].len;
            if (!op->items[i].has_key) continue;
            if ((rc = hs_store_key_put(op->store, op->items[i].hash, op->now, seg,
                                       (int64_t)at)) != 0)
                return rc;
            added++;
        }
    }
    if ((rc = hs_store_cursor_set(op->store, seg, (int64_t)end)) != 0) return rc;
    /* Forget keys older than the window, in the same transaction. Each
     * key added here lets HS_DEDUP_PURGE_PER_KEY expired ones go, so
     * purging keeps pace with any intake; a sweep of HS_DEDUP_PURGE_MAX
     * now and then works a backlog off when few events come. Both are
     * bounded, so no append holds the spool lock long. */
    added += op->indexed;
    want = added > HS_DEDUP_PURGE_MAX / HS_DEDUP_PURGE_PER_KEY ? HS_DEDUP_PURGE_MAX
           : (int)added * HS_DEDUP_PURGE_PER_KEY;
    if ((rc = hs_store_meta_get(op->store, "last_purge", &last)) != 0) return rc;
    if (op->now - last >= HS_DEDUP_PURGE_EVERY) {
        want = HS_DEDUP_PURGE_MAX;
        if ((rc = hs_store_meta_set(op->store, "last_purge", op->now)) != 0) return rc;
    }
    if (want > 0 && (rc = hs_store_purge(op->store, op->now - op->ttl, want)) < 0) return rc;
    if ((rc = hs_store_commit(op->store)) != 0) return rc;
    op->recorded = any_key(op);
    return 0;
}

/* The active segment (flushed) is about to be sealed: the catch-up of
 * this operation indexed it to its end, and that index must be durable
 * before the segment leaves active/, since the catch-up never reads a
 * sealed segment again (a power cut would otherwise lose its keys and
 * let their retries in as new events). */
static int seal_hook(void *arg, const char *seg, uint64_t end)
{
    hs_dedup_op *op = arg;
    int rc, in_tx;

    (void)seg;
    (void)end;
    if (op->store == NULL) return 0;
    in_tx = hs_store_in_tx(op->store);
    if (in_tx && (rc = hs_store_commit(op->store)) != 0) return rc;
    if ((rc = hs_store_sync(op->store)) != 0) return rc;
    return in_tx ? hs_store_begin(op->store) : 0;
}

static void abort_hook(void *arg)
{
    hs_dedup_op *op = arg;
    if (op->store != NULL) hs_store_rollback(op->store);
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
    if (rc == 0) memcpy(id_out, one.id, sizeof(one.id));
    return rc;
}

static int rotate_pre(void *arg, hs_spool *sp)
{
    hs_dedup_op *op = arg;
    int rc;
    if ((rc = find_store(op)) <= 0) return rc;
    if ((rc = hs_store_begin(op->store)) != 0) return rc;
    if ((rc = hs_dedup_catch_up(op, sp)) != 0) {
        hs_store_rollback(op->store);
        return rc;
    }
    return hs_store_commit(op->store);
}

int hs_dedup_rotate(hs_spool *sp, const hs_spool_opts *opts, int force, int *sealed)
{
    hs_dedup_op op;
    hs_spool_hooks h;
    int rc;

    memset(&op, 0, sizeof(op));
    op.spool = hs_spool_path(sp);
    op.umask = opts->umask;
    op.now = (int64_t)time(NULL);
    memset(&h, 0, sizeof(h));
    h.pre = rotate_pre;
    h.seal = seal_hook;
    h.arg = &op;
    rc = hs_spool_rotate_hooks(sp, opts, force, sealed, &h);
    hs_dedup_op_done(&op);
    return rc;
}
