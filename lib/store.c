#include "store.h"
#include "crypto.h"
#include "keyfilter.h"
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

/*
 * The key filter's epoch (keyfilter.h), the meta row KF_EPOCH: every row
 * inserted into dedup, by any connection of any program (an older
 * hookspool, the sqlite3 shell), counts one up in the same transaction
 * (the trigger KF_TRIGGER), so a filter that says which epoch its bits
 * cover cannot miss a row written past it. Part of a new store's schema;
 * added once to a store made before, like the positions.
 */
#define KF_EPOCH "kf_epoch"
#define KF_TRIGGER \
    "CREATE TRIGGER IF NOT EXISTS dedup_kf_epoch AFTER INSERT ON dedup BEGIN" \
    " INSERT INTO meta(name, v) VALUES ('" KF_EPOCH "', 1)" \
    " ON CONFLICT(name) DO UPDATE SET v = v + 1; END"

/*
 * Two layouts of the dedup table. Issue 18: the keys are SHA-256 hashes,
 * so each recorded key lands on a random leaf of whatever B-tree is
 * ordered by it, and a batch of 4,096 keys dirtied about as many leaves
 * as the table has (each written to the WAL, then again by the
 * checkpoint): in a store of 110,000 keys, nearly all of its 1,663
 * leaves every batch. That was the gap between HOOKSPOOL_FSYNC=never
 * with dedup and without (bench/RESULTS.md, 2026-12-06, morning).
 *
 * - KEYED (stores made before): WITHOUT ROWID, the row ordered by its
 *   whole key (k PRIMARY KEY): some 66 rows a leaf.
 * - SHORT (every store made now): rows in a rowid table, in the order
 *   they were recorded (appended at its end), and an index on the
 *   key's first KEY_IX_BYTES bytes (KEY_IX, index KEY_IX_NAME): some
 *   290 entries a leaf (376 leaves for those 110,000 keys).
 *   A lookup reads the index, then the row, whose whole key it compares
 *   (two keys sharing a prefix cost one more row read, never an
 *   answer). No constraint keeps a key unique: a key recorded again
 *   (its event accepted again once its window had passed) has a second
 *   row, and the older one goes with the purge; seen looks at any row
 *   in the window, forget deletes every row of the key.
 * A store keeps the layout it was made with: rewriting every key of an
 * old store would be one long transaction, and a process of an older
 * hookspool still running after an upgrade would find no index on its
 * key. The statements that differ are in sql_short; the others serve
 * both.
 */
#define HS_STR_(x) #x
#define HS_STR(x)  HS_STR_(x)
#define KEY_IX_BYTES 4
#define KEY_IX_NAME  "dedup_k"
#define KEY_IX       "substr(k, 1, " HS_STR(KEY_IX_BYTES) ")"
#define KEY_IX_OF_1  "substr(?1, 1, " HS_STR(KEY_IX_BYTES) ")"

enum {
    Q_SEEN, Q_PUT, Q_FORGET, Q_DROP_PAST, Q_PURGE, Q_COUNT, Q_META_GET, Q_META_SET,
    Q_ATT_ADD, Q_ATT_GET, Q_ATT_CLEAR, Q_BEGIN, Q_BEGIN_READ, Q_COMMIT, Q_ROLLBACK, Q_CURSOR,
    Q_ALL_KEYS, Q_MAX
};

static const char *const sql[Q_MAX] = {
    [Q_SEEN]     = "SELECT 1 FROM dedup WHERE k = ?1 AND t >= ?2",
    [Q_PUT]      = "INSERT OR REPLACE INTO dedup(k, t, seg, seg_end) VALUES (?1, ?2, ?3, ?4)",
    [Q_FORGET]   = "DELETE FROM dedup WHERE k = ?1",
    /* ?1 the segment's id; ?3 its name, as keys recorded before the
     * id named it (seg_row) */
    [Q_DROP_PAST]= "DELETE FROM dedup WHERE seg IN (?1, ?3) AND seg_end > ?2",
    [Q_PURGE]    = "DELETE FROM dedup WHERE k IN "
                   "(SELECT k FROM dedup WHERE t < ?1 ORDER BY t LIMIT ?2)",
    /* DISTINCT: a store of the short layout may hold a key twice. */
    [Q_COUNT]    = "SELECT count(DISTINCT k) FROM dedup",
    [Q_META_GET] = "SELECT v FROM meta WHERE name = ?1",
    [Q_META_SET] = "INSERT OR REPLACE INTO meta(name, v) VALUES (?1, ?2)",
    [Q_ATT_ADD]  = "INSERT INTO attempts(seg, n) VALUES (?1, 1) "
                   "ON CONFLICT(seg) DO UPDATE SET n = n + 1 RETURNING n",
    [Q_ATT_GET]  = "SELECT n FROM attempts WHERE seg = ?1",
    [Q_ATT_CLEAR]= "DELETE FROM attempts WHERE seg = ?1",
    [Q_BEGIN]    = "BEGIN IMMEDIATE",
    [Q_BEGIN_READ] = "BEGIN DEFERRED",
    [Q_COMMIT]   = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    /* The cursor and the key filter's epoch in one statement: a lookup's
     * read transaction needs both (hs_store_cursor_get). */
    [Q_CURSOR]   = "SELECT (SELECT v FROM meta WHERE name = 'cursor_seg'),"
                   " (SELECT v FROM meta WHERE name = 'cursor_off'),"
                   " (SELECT v FROM meta WHERE name = '" KF_EPOCH "')",
    [Q_ALL_KEYS] = "SELECT k FROM dedup",
};

/* The SHORT layout's statements (above), where they differ. */
static const char *const sql_short[Q_MAX] = {
    [Q_SEEN]     = "SELECT 1 FROM dedup WHERE " KEY_IX " = " KEY_IX_OF_1 " AND k = ?1 AND t >= ?2",
    [Q_PUT]      = "INSERT INTO dedup(k, t, seg, seg_end) VALUES (?1, ?2, ?3, ?4)",
    [Q_FORGET]   = "DELETE FROM dedup WHERE " KEY_IX " = " KEY_IX_OF_1 " AND k = ?1",
    [Q_PURGE]    = "DELETE FROM dedup WHERE rowid IN "
                   "(SELECT rowid FROM dedup WHERE t < ?1 ORDER BY t LIMIT ?2)",
};

/* Per connection (one per FastCGI worker thread). Sizes chosen for
 * small hosts and for Private_Dirty under 2 MiB: HS_STORE_CACHE_KIB of page cache,
 * and a WAL checkpointed after HS_STORE_WAL_PAGES (by the caller, see
 * store.h: never by a commit itself). SQLite cuts a restarted WAL to
 * journal_size_limit at the restart's first commit, under the spool
 * lock; the limit is above what the checkpoint cadence lets the WAL
 * grow to (32 pages are about 132 KB), so the file is reused in place
 * rather than cut and grown again each time (an ftruncate that frees
 * blocks took 230 ms on a filesystem mounted with discard), and only a
 * WAL that grew past it, behind a long reader, is cut back. */
static const char settings[] =
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA journal_size_limit=" HS_STR(HS_STORE_WAL_KEEP) ";"
    "PRAGMA cache_size=-" HS_STR(HS_STORE_CACHE_KIB) ";";

/* Written once, by create_store, into a store nobody else can see yet:
 * one transaction, so one synchronous commit. */
static const char schema[] =
    "BEGIN;"
    "CREATE TABLE IF NOT EXISTS dedup(k BLOB NOT NULL, t INTEGER NOT NULL,"
    " seg BLOB, seg_end INTEGER);"
    "CREATE INDEX IF NOT EXISTS " KEY_IX_NAME " ON dedup(" KEY_IX ");"
    "CREATE INDEX IF NOT EXISTS dedup_t ON dedup(t);"
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS attempts(seg TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
    KF_TRIGGER ";"
    "COMMIT;";

#define WAL_RETRY_MS 10   /* between tries to switch a new store to WAL */

/* Switch to WAL. Changing the journal mode needs the database to
 * itself and is not retried by the busy handler, so retry here, bounded
 * by HS_STORE_BUSY_MS. */
static int set_wal(sqlite3 *db)
{
    struct timespec d = { 0, WAL_RETRY_MS * 1000000L };
    int rc = SQLITE_BUSY, tries;

    for (tries = 0; tries * WAL_RETRY_MS < HS_STORE_BUSY_MS; tries++) {
        rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) break;
        nanosleep(&d, NULL);
    }
    return rc;
}

/* Does the dedup table have the line positions (seg, seg_end)? */
static int has_positions(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT seg, seg_end FROM dedup LIMIT 0", -1, &s, NULL);
    sqlite3_finalize(s);
    return rc == SQLITE_OK;
}

/* Does the schema have an object of this type and name? SQLITE_ROW
 * yes, SQLITE_DONE no, or SQLite's error. */
static int find_object(sqlite3 *db, const char *type, const char *name)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = ?1 AND name = ?2",
                                -1, &s, NULL);
    if (rc == SQLITE_OK && (sqlite3_bind_text(s, 1, type, -1, SQLITE_STATIC) != SQLITE_OK ||
                            sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC) != SQLITE_OK))
        rc = SQLITE_ERROR;
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc;
}

/* Does the store have the key filter's epoch trigger (KF_TRIGGER)? 0
 * also when it cannot tell: add_once then asks again under the lock, and
 * its DDL is IF NOT EXISTS. */
static int has_kf_trigger(sqlite3 *db)
{
    return find_object(db, "trigger", "dedup_kf_epoch") == SQLITE_ROW;
}

/* A store made before a part of the schema (has says whether it is
 * there) gets it, once, by whichever connection comes first (checked
 * again under the write lock). The parts: the line positions (old rows
 * keep NULL there: a key without a position counts as seen, as every
 * key did before) and the key filter's epoch trigger. */
static int add_once(sqlite3 *db, int (*has)(sqlite3 *), const char *ddl)
{
    int rc;
    if (has(db)) return SQLITE_OK;
    if ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK) return rc;
    if (!has(db)) rc = sqlite3_exec(db, ddl, NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

struct hs_store {
    sqlite3      *db;
    sqlite3_stmt *q[Q_MAX];
    int           wal_pages;   /* after our last commit (the WAL hook) */
    int           ckpt_pages;  /* of them, checkpointed by our last checkpoint */
    dev_t         dev;         /* the file opened (hs_store_id) */
    ino_t         ino;
    /* The last segment a key was recorded for, and its id (seg_row):
     * a recording's keys share one segment. */
    char          seg[HS_STORE_SEG_MAX];
    unsigned char seg_id[HS_STORE_SEG_ID_LEN];
    /* The key filter (keyfilter.h), NULL without one; the spool and
     * umask to open it again when it was deleted or replaced. */
    hs_keyfilter *kf;
    char          spool[PATH_MAX];
    mode_t        umask;
    /* The epoch this transaction read (epoch_ok): a read transaction's,
     * with its cursor (hs_store_cursor_get); a write transaction's, at
     * its start (w_epoch) and whether it wrote rows (puts). A build in
     * this write transaction is published only once it commits
     * (build_keys). */
    int64_t       epoch;
    int           epoch_ok;
    int64_t       w_epoch;
    int           w_epoch_ok;
    int           puts;
    int           built;
    uint64_t      build_keys;
};

/* Replaces SQLite's automatic checkpoint (store.h, "Durability order"):
 * only note the WAL's length. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    ((hs_store *)arg)->wal_pages = pages;
    return SQLITE_OK;
}

/* One table from SQLite's result codes to errno (see store.h). An I/O
 * or open error carries the system's errno (ENOSPC, EDQUOT, EACCES...),
 * which decides between "full" and "unavailable": use it when there. */
static int err_of_db(sqlite3 *db, int rc)
{
    int se;
    if (db != NULL && ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN) &&
        (se = sqlite3_system_errno(db)) > 0)
        return -se;
    switch (rc & 0xff) {
    case SQLITE_OK: case SQLITE_ROW: case SQLITE_DONE: return 0;
    case SQLITE_FULL:     return -ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:   return -ETIMEDOUT;
    case SQLITE_READONLY: return -EROFS;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:     return -EACCES;
    case SQLITE_NOMEM:    return -ENOMEM;
    default:              return -EIO;
    }
}


void hs_store_process_init(void)
{
    /* Before SQLite initialises (it refuses afterwards: then the
     * defaults stay, which only costs memory). */
    (void)sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0);
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
}

void hs_store_id(const hs_store *st, dev_t *dev, ino_t *ino)
{
    *dev = st->dev;
    *ino = st->ino;
}

void hs_store_close(hs_store *st)
{
    int i;
    if (st == NULL) return;
    for (i = 0; i < Q_MAX; i++) sqlite3_finalize(st->q[i]);
    hs_keyfilter_close(st->kf);
    /* Nothing is pending: every transaction was committed or rolled back
     * by the call that began it. */
    sqlite3_close(st->db);
    free(st);
}

static int open_once(const char *spool, mode_t umask, int create, hs_store **out);

/*
 * Opening reads the schema and may find another connection recovering or
 * switching the WAL: SQLite then answers SQLITE_BUSY without calling the
 * busy handler. Retry the whole open, bounded by HS_STORE_BUSY_MS.
 */
int hs_store_open(const char *spool, mode_t umask, int create, hs_store **out)
{
    struct timespec d = { 0, WAL_RETRY_MS * 1000000L };
    int rc, tries;

    for (tries = 0;; tries++) {
        rc = open_once(spool, umask, create, out);
        if (rc != -ETIMEDOUT || (tries + 1) * WAL_RETRY_MS >= HS_STORE_BUSY_MS) return rc;
        nanosleep(&d, NULL);
    }
}

/*
 * Make a new store the qmail way: build it complete under a unique name
 * (created with exactly fmode, switched to WAL, schema written), close it,
 * then link() it into place; whoever links first wins and the others
 * drop their copy. Nobody ever opens a half-made store: when several
 * processes opened a brand new, empty file together, SQLite's
 * rollback-journal start-up raced on the shared journal and answered
 * SQLITE_IOERR (RDLOCK, DELETE_NOENT) now and then.
 */
/* fsync the directory holding path. */
static int fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : (size_t)(slash - path);
    int fd, rc;

    if (n == 0 || n >= sizeof(dir)) return -EINVAL;
    memcpy(dir, path, n);
    dir[n] = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    rc = fsync(fd) != 0 ? -errno : 0;
    if (close(fd) != 0 && rc == 0) rc = -errno;
    return rc;
}

static int create_store(const char *path, mode_t umask)
{
    static unsigned counter;
    /* Files SQLite may leave beside tmp; the first two mean a write it
     * did not finish (-shm is only the shared index, always removable). */
    static const char *const sidecar[] = { "-wal", "-journal", "-shm" };
    char tmp[PATH_MAX], side[PATH_MAX + 16];
    struct timespec ts;
    mode_t fmode = 0666 & ~umask;
    sqlite3 *db = NULL;
    size_t i;
    int fd, rc;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -errno;
    if (snprintf(tmp, sizeof(tmp), "%s.new-%ld-%ld-%u-%ld", path, (long)getpid(),
                 (long)ts.tv_sec, __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED),
                 (long)ts.tv_nsec) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, fmode);
    if (fd < 0) return -errno;
    rc = fchmod(fd, fmode) != 0 ? -errno : 0;
    if (close(fd) != 0 && rc == 0) rc = -errno;
    if (rc != 0) goto out;
    /* The schema in a rollback-journal transaction (synchronous=FULL:
     * on disk when COMMIT returns, every write error reported), then the
     * switch to WAL, which only rewrites the header. Nothing is ever left
     * in a WAL, so closing has nothing to checkpoint that could fail
     * unreported. */
    rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;",
                          NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, schema, NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    rc = rc == SQLITE_OK ? 0 : err_of_db(db, rc);
    if (sqlite3_close(db) != SQLITE_OK && rc == 0) rc = -EIO;
    for (i = 0; rc == 0 && i < 2; i++) {
        snprintf(side, sizeof(side), "%s%s", tmp, sidecar[i]);
        if (access(side, F_OK) == 0) rc = -EIO;
    }
    if (rc == 0 && link(tmp, path) != 0 && errno != EEXIST) rc = -errno;
    /* The new name is durable only once its directory is flushed: a
     * power cut would otherwise take the store (every key of the sealed
     * segments) while the segments stay. */
    if (rc == 0) rc = fsync_parent(path);
out:
    for (i = 0; i < sizeof(sidecar) / sizeof(sidecar[0]); i++) {
        snprintf(side, sizeof(side), "%s%s", tmp, sidecar[i]);
        (void)unlink(side);   /* normally absent: nothing to report */
    }
    if (unlink(tmp) != 0 && rc == 0) rc = -errno;
    return rc;
}

static int open_once(const char *spool, mode_t umask, int create, hs_store **out)
{
    char path[PATH_MAX];
    struct stat sb;
    hs_store *st;
    int rc, i, short_ix;

    *out = NULL;
    if (snprintf(path, sizeof(path), "%s/" HS_STORE_FILE, spool) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    if (lstat(path, &sb) != 0) {
        if (errno != ENOENT || !create) return -errno;
        if ((rc = create_store(path, umask)) != 0) return rc;
    }
    /* SQLite opens by path: the spool directory, the store and its WAL
     * and shared-memory files must be ours and not symlinks (spool.h,
     * "Trust"), and SQLITE_OPEN_NOFOLLOW refuses a symlinked store. */
    if ((rc = hs_spool_trust_path(spool, HS_STORE_FILE, S_IFREG, umask)) != 0) return rc;
    for (i = 0; i < 2; i++) {
        rc = hs_spool_trust_path(spool, i == 0 ? HS_STORE_FILE "-wal" : HS_STORE_FILE "-shm",
                                 S_IFREG, umask);
        if (rc != 0 && rc != -ENOENT) return rc;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) return -ENOMEM;
    rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                         SQLITE_OPEN_NOFOLLOW, NULL);
    if (rc != SQLITE_OK) goto fail;
    sqlite3_busy_timeout(st->db, HS_STORE_BUSY_MS);
    /* Already WAL (create_store made it so, and the mode persists); this
     * only repairs a store switched back by hand. */
    if ((rc = set_wal(st->db)) != SQLITE_OK) goto fail;
    if ((rc = sqlite3_exec(st->db, settings, NULL, NULL, NULL)) != SQLITE_OK) goto fail;
    if ((rc = add_once(st->db, has_positions, "ALTER TABLE dedup ADD COLUMN seg BLOB;"
                                              "ALTER TABLE dedup ADD COLUMN seg_end INTEGER;")) !=
            SQLITE_OK ||
        (rc = add_once(st->db, has_kf_trigger, KF_TRIGGER ";")) != SQLITE_OK)
        goto fail;
    /* wal_pages stays 0 until this connection's first commit, whose
     * hook says how many pages the WAL holds, so a one-request process
     * (CGI) that writes checkpoints when the WAL is due. The WAL file's
     * size says nothing: it is reused in place (HS_STORE_WAL_KEEP). */
    sqlite3_wal_hook(st->db, wal_hook, st);
    /* The file SQLite has open by now (the pragmas above read it), as far
     * as a path can say: replaced in between, the two differ, and a
     * recorder comparing them skips (recorder.h). */
    if (lstat(path, &sb) != 0) {
        rc = -errno;
        hs_store_close(st);
        return rc;
    }
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    /* The layout the store was made with (sql_short); it never changes.
     * Not guessed: the keyed purge on a short store would delete a key's
     * row in the window with its older row. */
    rc = find_object(st->db, "index", KEY_IX_NAME);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) goto fail;
    short_ix = rc == SQLITE_ROW;
    for (i = 0; i < Q_MAX; i++) {
        const char *text = short_ix && sql_short[i] != NULL ? sql_short[i] : sql[i];
        rc = sqlite3_prepare_v3(st->db, text, -1, SQLITE_PREPARE_PERSISTENT, &st->q[i], NULL);
        if (rc != SQLITE_OK) goto fail;
    }
    /* Best effort: without the filter every lookup asks SQLite. The
     * spool path fits (it made the store's path above). */
    memcpy(st->spool, spool, strlen(spool) + 1);
    st->umask = umask;
    if (hs_keyfilter_open(spool, umask, &st->kf) != 0) st->kf = NULL;
    *out = st;
    return 0;
fail:
    rc = err_of_db(st->db, rc ? rc : SQLITE_ERROR);
    hs_store_close(st);
    return rc ? rc : -EIO;
}

/* Run a prepared statement to completion; *row gets the first column of
 * the first row when row is non-NULL (and *got whether there was one). */
static int run(hs_store *st, int q, int64_t *row, int *got)
{
    sqlite3_stmt *s = st->q[q];
    int rc, r = 0;
    if (got) *got = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (row && got && !*got) {
            *row = sqlite3_column_int64(s, 0);
            *got = 1;
        }
    }
    if (rc != SQLITE_DONE) r = err_of_db(st->db, rc);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return r;
}

/* Forget what the last transaction knew of the key filter's epoch. */
static void tx_reset(hs_store *st)
{
    st->epoch_ok = 0;
    st->w_epoch_ok = 0;
    st->puts = 0;
    st->built = 0;
}

/* A write transaction has begun (the write lock is held): the filter
 * this connection sets bits in is the spool's file (opened again when
 * it was deleted or replaced, or could not be opened before), and the
 * epoch the transaction starts from. Neither can fail the transaction:
 * without them the filter is not moved on, and is built again. */
static void tx_write_begun(hs_store *st)
{
    if (st->kf != NULL && !hs_keyfilter_linked(st->kf)) {
        hs_keyfilter_close(st->kf);
        st->kf = NULL;
    }
    if (st->kf == NULL && hs_keyfilter_open(st->spool, st->umask, &st->kf) != 0) st->kf = NULL;
    st->w_epoch_ok = hs_store_meta_get(st, KF_EPOCH, &st->w_epoch) == 0;
}

int hs_store_begin(hs_store *st)
{
    int rc;
    tx_reset(st);
    if ((rc = run(st, Q_BEGIN, NULL, NULL)) == 0) tx_write_begun(st);
    return rc;
}
int hs_store_begin_read(hs_store *st)
{
    tx_reset(st);
    return run(st, Q_BEGIN_READ, NULL, NULL);
}
int hs_store_try_begin(hs_store *st)
{
    int rc;
    tx_reset(st);
    (void)sqlite3_busy_timeout(st->db, 0);
    rc = run(st, Q_BEGIN, NULL, NULL);
    (void)sqlite3_busy_timeout(st->db, HS_STORE_BUSY_MS);
    if (rc == 0) tx_write_begun(st);
    return rc;
}
int hs_store_commit(hs_store *st)
{
    int64_t after = 0;
    int after_ok = 0, rc;

    /* The epoch this transaction leaves, read before it commits (after,
     * another writer may have moved it on). */
    if ((st->puts || st->built) && st->kf != NULL)
        after_ok = hs_store_meta_get(st, KF_EPOCH, &after) == 0;
    rc = run(st, Q_COMMIT, NULL, NULL);
    /* A failed COMMIT (SQLITE_FULL) leaves the transaction open. */
    if (rc != 0 && !sqlite3_get_autocommit(st->db)) hs_store_rollback(st);
    if (rc == 0 && after_ok && st->built)
        hs_keyfilter_build_end(st->kf, st->dev, st->ino, (uint64_t)after, st->build_keys);
    else if (rc == 0 && after_ok && st->puts && st->w_epoch_ok)
        hs_keyfilter_advance(st->kf, (uint64_t)st->w_epoch, (uint64_t)after);
    tx_reset(st);
    return rc;
}
void hs_store_rollback(hs_store *st)
{
    if (!sqlite3_get_autocommit(st->db)) (void)run(st, Q_ROLLBACK, NULL, NULL);
    tx_reset(st);
}

int hs_store_in_tx(hs_store *st) { return !sqlite3_get_autocommit(st->db); }

int hs_store_checkpoint(hs_store *st)
{
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    /* Another connection is checkpointing: it does this one's work. */
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) return 0;
    if (rc != SQLITE_OK) return err_of_db(st->db, rc);
    st->wal_pages = log > 0 ? log : 0;
    st->ckpt_pages = done > 0 ? done : 0;
    return 1;
}

/* Pages committed since our last checkpoint. A WAL shorter than what
 * that checkpoint copied has been restarted: all of it is new. While
 * another connection reads, the WAL cannot restart and our commits
 * append to it, so its length alone would make every commit "due". */
static int pages_since_checkpoint(const hs_store *st)
{
    return st->wal_pages >= st->ckpt_pages ? st->wal_pages - st->ckpt_pages : st->wal_pages;
}

int hs_store_checkpoint_if_due(hs_store *st)
{
    if (st == NULL || hs_store_in_tx(st) || pages_since_checkpoint(st) < HS_STORE_WAL_PAGES)
        return 0;
    return hs_store_checkpoint(st);
}

int hs_store_sync(hs_store *st)
{
    /* Commits run with synchronous=NORMAL: in WAL mode their frames are
     * written to SPOOL/state.db-wal but not flushed. An fsync of that
     * file makes every commit so far durable and, unlike a transaction
     * of its own under synchronous=FULL, writes nothing: it works on a
     * full disk too, where `hookspool rotate` must still seal so that
     * the operator can make room. No WAL file: nothing is unflushed. */
    const char *db = sqlite3_db_filename(st->db, "main");
    char path[PATH_MAX];
    int fd, rc = 0;

    if (db == NULL || *db == '\0') return -EIO;
    if (snprintf(path, sizeof(path), "%s-wal", db) >= (int)sizeof(path)) return -ENAMETOOLONG;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -errno;
    if (fsync(fd) != 0) rc = -errno;
    if (close(fd) != 0 && rc == 0) rc = -errno;
    return rc;
}

static int bind_key(sqlite3_stmt *s, const unsigned char *k)
{
    return sqlite3_bind_blob(s, 1, k, HS_STORE_KEY_LEN, SQLITE_STATIC);
}

int hs_store_key_seen(hs_store *st, const unsigned char k[HS_STORE_KEY_LEN],
                      int64_t now, int64_t ttl)
{
    int64_t one;
    int got, rc;
    if (bind_key(st->q[Q_SEEN], k) != SQLITE_OK ||
        sqlite3_bind_int64(st->q[Q_SEEN], 2, now - ttl) != SQLITE_OK)
        return -EIO;
    rc = run(st, Q_SEEN, &one, &got);
    return rc != 0 ? rc : got;
}

/*
 * The id by which a key's row names the segment seg (a name): the first
 * HS_STORE_SEG_ID_LEN bytes of its SHA-256, as a blob. Issue 18: the
 * name made a row half as long again, and each key dirties a leaf of a
 * B-tree whose leaves hold fewer rows the longer they are: recording a
 * key cost about 20% more (bench/RESULTS.md, 2026-12-05 night). The id
 * is only ever compared with the active segment's (drop-past); two names
 * sharing one would at worst let a retry of a line a power cut took in
 * as new where it was not lost. A blob, so that a store made before,
 * whose column has TEXT affinity, keeps it as it is. 0 or -EIO.
 */
static int seg_row(hs_store *st, const char *seg)
{
    size_t len = strlen(seg);
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    const struct evp_md_st *md;

    if (len >= sizeof(st->seg)) return -EIO;    /* never: HS_SEG_NAME_MAX is less */
    if (st->seg[0] != '\0' && strcmp(st->seg, seg) == 0) return 0;
    st->seg[0] = '\0';
    if ((md = hs_crypto_sha256()) == NULL || EVP_Digest(seg, len, h, &n, md, NULL) != 1 ||
        n < HS_STORE_SEG_ID_LEN)
        return -EIO;
    memcpy(st->seg_id, h, HS_STORE_SEG_ID_LEN);
    memcpy(st->seg, seg, len + 1);
    return 0;
}

int hs_store_key_put(hs_store *st, const unsigned char k[HS_STORE_KEY_LEN], int64_t t,
                     const char *seg, int64_t end)
{
    sqlite3_stmt *s = st->q[Q_PUT];
    /* The key's bits before its row (keyfilter.h), under the write lock
     * that hs_store_begin took. */
    if (st->kf != NULL) hs_keyfilter_add(st->kf, k);
    st->puts = 1;
    if (seg_row(st, seg) != 0 || bind_key(s, k) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, t) != SQLITE_OK ||
        sqlite3_bind_blob(s, 3, st->seg_id, HS_STORE_SEG_ID_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, 4, end) != SQLITE_OK)
        return -EIO;
    return run(st, Q_PUT, NULL, NULL);
}

int hs_store_keys_drop_past(hs_store *st, const char *seg, int64_t end)
{
    sqlite3_stmt *s = st->q[Q_DROP_PAST];
    int rc;
    if (seg_row(st, seg) != 0 ||
        sqlite3_bind_blob(s, 1, st->seg_id, HS_STORE_SEG_ID_LEN, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, end) != SQLITE_OK ||
        sqlite3_bind_text(s, 3, seg, -1, SQLITE_STATIC) != SQLITE_OK)
        return -EIO;
    rc = run(st, Q_DROP_PAST, NULL, NULL);
    return rc != 0 ? rc : sqlite3_changes(st->db);
}

int hs_store_key_forget(hs_store *st, const unsigned char k[HS_STORE_KEY_LEN])
{
    if (bind_key(st->q[Q_FORGET], k) != SQLITE_OK) return -EIO;
    return run(st, Q_FORGET, NULL, NULL);
}

int hs_store_purge(hs_store *st, int64_t before, int max)
{
    int rc;
    if (sqlite3_bind_int64(st->q[Q_PURGE], 1, before) != SQLITE_OK ||
        sqlite3_bind_int(st->q[Q_PURGE], 2, max) != SQLITE_OK)
        return -EIO;
    rc = run(st, Q_PURGE, NULL, NULL);
    return rc != 0 ? rc : sqlite3_changes(st->db);
}

int64_t hs_store_key_count(hs_store *st)
{
    int64_t n = 0;
    int got;
    return run(st, Q_COUNT, &n, &got) == 0 ? n : -1;
}

int hs_store_meta_get(hs_store *st, const char *name, int64_t *v)
{
    int got, rc;
    *v = 0;
    if (sqlite3_bind_text(st->q[Q_META_GET], 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
        return -EIO;
    rc = run(st, Q_META_GET, v, &got);
    if (!got) *v = 0;
    return rc;
}

int hs_store_meta_set(hs_store *st, const char *name, int64_t v)
{
    if (sqlite3_bind_text(st->q[Q_META_SET], 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st->q[Q_META_SET], 2, v) != SQLITE_OK)
        return -EIO;
    return run(st, Q_META_SET, NULL, NULL);
}

int hs_store_cursor_get(hs_store *st, char seg[HS_STORE_SEG_MAX], int64_t *off)
{
    sqlite3_stmt *s = st->q[Q_CURSOR];
    int rc;

    seg[0] = '\0';
    *off = 0;
    st->epoch_ok = 0;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        int n = sqlite3_column_bytes(s, 0);
        if (t != NULL && n > 0 && n < HS_STORE_SEG_MAX) {
            memcpy(seg, t, (size_t)n);
            seg[n] = '\0';
        }
        *off = sqlite3_column_int64(s, 1);
        st->epoch = sqlite3_column_int64(s, 2);
        st->epoch_ok = 1;
        rc = sqlite3_step(s);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        st->epoch_ok = 0;
        return err_of_db(st->db, rc);
    }
    return 0;
}

int hs_store_epoch(const hs_store *st, int64_t *epoch)
{
    *epoch = st->epoch_ok ? st->epoch : -1;
    return st->epoch_ok && st->epoch >= 0;
}

int hs_store_key_absent(const hs_store *st, int64_t epoch, const unsigned char k[HS_STORE_KEY_LEN])
{
    return epoch >= 0 && hs_keyfilter_absent(st->kf, st->dev, st->ino, (uint64_t)epoch, k);
}

int hs_store_keyfilter_build(hs_store *st)
{
    sqlite3_stmt *s = st->q[Q_ALL_KEYS];
    uint64_t n = 0;
    int rc;

    /* Due against the epoch the transaction began with: that is the one
     * the filter covers when it is in step, this transaction's own rows
     * having their bits already (hs_store_key_put). */
    if (st->kf == NULL || !hs_store_in_tx(st) || !st->w_epoch_ok || st->w_epoch < 0 ||
        !hs_keyfilter_due(st->kf, st->dev, st->ino, (uint64_t)st->w_epoch))
        return 0;
    hs_keyfilter_build_begin(st->kf);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        /* A key is always HS_STORE_KEY_LEN bytes; a row with anything else
         * (a store written by hand) is no key any lookup could ask for. */
        if (sqlite3_column_bytes(s, 0) == HS_STORE_KEY_LEN && sqlite3_column_blob(s, 0) != NULL) {
            hs_keyfilter_add(st->kf, sqlite3_column_blob(s, 0));
            n++;
        }
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return err_of_db(st->db, rc);
    st->built = 1;
    st->build_keys = n;
    return 1;
}

int hs_store_cursor_set(hs_store *st, const char *seg, int64_t off)
{
    sqlite3_stmt *s = st->q[Q_META_SET];
    int rc;
    if (sqlite3_bind_text(s, 1, "cursor_seg", -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 2, seg, -1, SQLITE_STATIC) != SQLITE_OK)
        return -EIO;
    if ((rc = run(st, Q_META_SET, NULL, NULL)) != 0) return rc;
    return hs_store_meta_set(st, "cursor_off", off);
}

int hs_store_attempts_add(hs_store *st, const char *seg, int64_t *n)
{
    int got, rc;
    if (sqlite3_bind_text(st->q[Q_ATT_ADD], 1, seg, -1, SQLITE_STATIC) != SQLITE_OK)
        return -EIO;
    rc = run(st, Q_ATT_ADD, n, &got);
    if (rc == 0 && !got) rc = -EIO;
    return rc;
}

int hs_store_attempts_get(hs_store *st, const char *seg, int64_t *n)
{
    int got, rc;
    *n = 0;
    if (sqlite3_bind_text(st->q[Q_ATT_GET], 1, seg, -1, SQLITE_STATIC) != SQLITE_OK)
        return -EIO;
    rc = run(st, Q_ATT_GET, n, &got);
    if (!got) *n = 0;
    return rc;
}

int hs_store_attempts_clear(hs_store *st, const char *seg)
{
    if (sqlite3_bind_text(st->q[Q_ATT_CLEAR], 1, seg, -1, SQLITE_STATIC) != SQLITE_OK)
        return -EIO;
    return run(st, Q_ATT_CLEAR, NULL, NULL);
}
