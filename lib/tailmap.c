#include "tailmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "counters.h"
#include "layout.h"
#include "spool.h"


/* The file: this head, then the ring of lines. Read back, every field is
 * checked before it is used (usable), as a crash or another version
 * may have left anything in it. */
struct map_head {
    uint64_t magic;                  /* HS_TAILMAP_MAGIC (hs_counters_map_file) */
    uint64_t busy;                   /* 1 while a writer changes the map */
    char     boot[HS_BOOT_ID_SIZE];  /* the boot it was written in */
    char     seg[HS_SEG_NAME_MAX];   /* the segment its lines are of; "": none */
    uint64_t base;                   /* where the oldest line kept starts */
    uint64_t first;                  /* its slot */
    uint64_t count;                  /* lines kept */
};

struct map_file {
    struct map_head h;
    hs_tailmap_line l[HS_TAILMAP_LINES];
};

struct hs_tailmap {
    struct map_file *f;
    char             boot[HS_BOOT_ID_SIZE];
};

_Static_assert(HS_TAILMAP_LINES > 0, "a ring of no lines");

int hs_tailmap_open(hs_spool *sp, hs_tailmap **out)
{
    hs_tailmap *m;
    uint64_t *p = NULL;
    struct stat st;
    int fd, rc;

    *out = NULL;
    if ((m = calloc(1, sizeof(*m))) == NULL) return -ENOMEM;
    if ((rc = hs_layout_boot_id(m->boot)) != 0) goto fail;
    if ((rc = hs_spool_open_file(sp, HS_TAILMAP_FILE, &fd, &st)) != 0) goto fail;
    rc = hs_counters_map_fd(fd, &st, sizeof(struct map_file), HS_TAILMAP_MAGIC, &p);
    /* The mapping keeps the file; the descriptor is not needed. */
    if (close(fd) != 0 && rc == 0) rc = -errno;
    if (rc != 0) goto fail;
    m->f = (struct map_file *)p;
    *out = m;
    return 0;
fail:
    /* munmap fails only for arguments we never got wrong. */
    if (p != NULL) (void)munmap(p, sizeof(struct map_file));
    free(m);
    return rc;
}

void hs_tailmap_close(hs_tailmap *m)
{
    if (m == NULL) return;
    /* munmap fails only for arguments we never got wrong; nothing in the
     * map needs writing back (it is rebuilt from the segment). */
    if (m->f != NULL) (void)munmap(m->f, sizeof(struct map_file));
    free(m);
}

/* Can the head be believed (busy aside)? Written in this boot, its
 * fields in range. */
static int usable(const hs_tailmap *m)
{
    const struct map_head *h = &m->f->h;
    return memcmp(h->boot, m->boot, sizeof(h->boot)) == 0 && h->count <= HS_TAILMAP_LINES &&
           h->first < HS_TAILMAP_LINES && memchr(h->seg, '\0', sizeof(h->seg)) != NULL;
}

/* The i-th line kept, oldest first (i < count). */
static hs_tailmap_line *line_at(hs_tailmap *m, uint64_t i)
{
    return &m->f->l[(m->f->h.first + i) % HS_TAILMAP_LINES];
}

/* Where the newest line kept ends: where the next one starts. */
static uint64_t end_of(hs_tailmap *m)
{
    const struct map_head *h = &m->f->h;
    return h->count == 0 ? h->base : line_at(m, h->count - 1)->end;
}

static void start_over(hs_tailmap *m, const char *seg, uint64_t from)
{
    struct map_head *h = &m->f->h;
    memset(h->seg, 0, sizeof(h->seg));
    memcpy(h->seg, seg, strlen(seg));
    memcpy(h->boot, m->boot, sizeof(h->boot));
    h->base = from;
    h->first = 0;
    h->count = 0;
}

void hs_tailmap_add(hs_tailmap *m, const char *seg, uint64_t from, const hs_tailmap_line *lines,
                    size_t n)
{
    struct map_head *h;
    size_t i;
    int was_busy;

    if (m == NULL) return;
    h = &m->f->h;
    if (strlen(seg) >= sizeof(h->seg)) {
        hs_tailmap_clear(m);
        return;
    }
    /* busy first, so a writer killed halfway leaves a map nobody
     * believes; the atomics keep the compiler from moving the stores
     * of the lines across it. */
    was_busy = __atomic_load_n(&h->busy, __ATOMIC_SEQ_CST) != 0;
    __atomic_store_n(&h->busy, 1, __ATOMIC_SEQ_CST);
    if (was_busy || !usable(m) || strcmp(h->seg, seg) != 0 || end_of(m) != from)
        start_over(m, seg, from);
    for (i = 0; i < n; i++) {
        if (h->count == HS_TAILMAP_LINES) {     /* the oldest goes */
            h->base = line_at(m, 0)->end;
            h->first = (h->first + 1) % HS_TAILMAP_LINES;
            h->count--;
        }
        *line_at(m, h->count) = lines[i];
        h->count++;
    }
    __atomic_store_n(&h->busy, 0, __ATOMIC_SEQ_CST);
}

void hs_tailmap_clear(hs_tailmap *m)
{
    struct map_head *h;
    if (m == NULL) return;
    h = &m->f->h;
    __atomic_store_n(&h->busy, 1, __ATOMIC_SEQ_CST);
    memset(h->seg, 0, sizeof(h->seg));
    h->count = 0;
    __atomic_store_n(&h->busy, 0, __ATOMIC_SEQ_CST);
}

int hs_tailmap_get(hs_tailmap *m, const char *seg, uint64_t from, uint64_t to,
                   int (*fn)(void *arg, const hs_tailmap_line *line), void *arg)
{
    const struct map_head *h;
    uint64_t lo, hi, mid, i, at;
    int rc;

    if (m == NULL) return 0;
    h = &m->f->h;
    if (__atomic_load_n(&h->busy, __ATOMIC_SEQ_CST) != 0 || !usable(m) || seg[0] == '\0' ||
        strcmp(h->seg, seg) != 0 || from < h->base || from > to || end_of(m) != to)
        return 0;
    if (from == to) return 1;
    /* The first line ending past from; it must start at from. */
    lo = 0;
    hi = h->count;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (line_at(m, mid)->end > from) hi = mid;
        else lo = mid + 1;
    }
    if (lo == h->count || (lo == 0 ? h->base : line_at(m, lo - 1)->end) != from) return 0;
    /* Back to back up to `to`, or not believed at all. */
    for (i = lo, at = from; i < h->count; i++) {
        if (line_at(m, i)->end <= at) return 0;
        at = line_at(m, i)->end;
    }
    for (i = lo; i < h->count; i++)
        if (line_at(m, i)->has_key && (rc = fn(arg, line_at(m, i))) < 0) return rc;
    return 1;
}
