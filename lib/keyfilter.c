#include "keyfilter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "counters.h"
#include "layout.h"

#define WORDS (HS_KF_BITS / 64)
#define BOOT_WORDS (HS_BOOT_ID_SIZE / 8)

/* The head, in the file's first HS_KF_HEAD bytes. Read back, every field
 * is compared before it is believed (a crash, another version, a power
 * cut may have left anything in it). */
struct head {
    uint64_t magic;                  /* HS_KF_MAGIC (hs_counters_map_fd) */
    uint64_t gen;                    /* odd: being built (or never was) */
    uint64_t boot[BOOT_WORDS];       /* the boot it was built in */
    uint64_t dev;                    /* the store file it describes */
    uint64_t ino;
    uint64_t epoch;                  /* the store's epoch its bits cover */
    uint64_t built;                  /* keys it was built with */
    uint64_t added;                  /* keys added since */
};

_Static_assert(sizeof(struct head) <= HS_KF_HEAD, "the head fits its page");
_Static_assert(HS_BOOT_ID_SIZE % 8 == 0, "a boot id in whole words");
_Static_assert((HS_KF_BITS & (HS_KF_BITS - 1)) == 0 && HS_KF_BITS % 64 == 0,
               "a power of two of bits, in whole words");
/* Each probe takes 4 bytes of the hash as its bit number. */
_Static_assert(HS_KF_PROBES * 4 <= HS_KF_HASH && HS_KF_BITS <= (UINT64_C(1) << 32),
               "the probes' bit numbers come from distinct bytes of the hash");

struct hs_keyfilter {
    uint64_t *map;                   /* HS_KF_FILE_SIZE bytes */
    int       fd;                    /* kept for hs_keyfilter_linked */
    uint64_t  boot[BOOT_WORDS];      /* this boot's */
};

static struct head *head_of(const hs_keyfilter *f)
{
    return (struct head *)(void *)f->map;
}

static uint64_t *bits_of(const hs_keyfilter *f)
{
    return f->map + HS_KF_HEAD / sizeof(uint64_t);
}

/* Probe i's bit: bytes 4i..4i+3 of the hash, which is a SHA-256, so its
 * bytes are already uniform and independent. */
static uint64_t probe(const unsigned char *h, int i)
{
    uint32_t v;
    memcpy(&v, h + 4 * i, sizeof(v));
    return (uint64_t)v & (HS_KF_BITS - 1);
}

int hs_keyfilter_open(const char *spool, mode_t umask, hs_keyfilter **out)
{
    char boot[HS_BOOT_ID_SIZE];
    hs_keyfilter *f;
    struct stat st;
    int rc;

    *out = NULL;
    if ((f = calloc(1, sizeof(*f))) == NULL) return -ENOMEM;
    f->fd = -1;
    if ((rc = hs_layout_boot_id(boot)) == 0) memcpy(f->boot, boot, sizeof(f->boot));
    if (rc != 0 ||
        (rc = hs_counters_map_file(spool, HS_KF_FILE, HS_KF_FILE_SIZE, HS_KF_MAGIC, umask, &f->map,
                                   &st, &f->fd)) != 0) {
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

void hs_keyfilter_close(hs_keyfilter *f)
{
    if (f == NULL) return;
    /* munmap fails only for arguments we never got wrong; nothing needs
     * writing back (a filter from before a power cut is built again). A
     * failed close of a descriptor only read by fstat loses nothing. */
    (void)munmap(f->map, HS_KF_FILE_SIZE);
    (void)hs_layout_close(f->fd);
    free(f);
}

int hs_keyfilter_linked(const hs_keyfilter *f)
{
    struct stat st;
    return f != NULL && fstat(f->fd, &st) == 0 && st.st_nlink > 0;
}

void hs_keyfilter_add(hs_keyfilter *f, const unsigned char hash[HS_KF_HASH])
{
    uint64_t *b = bits_of(f);
    int i;

    for (i = 0; i < HS_KF_PROBES; i++) {
        uint64_t p = probe(hash, i);
        __atomic_fetch_or(&b[p / 64], UINT64_C(1) << (p % 64), __ATOMIC_SEQ_CST);
    }
    __atomic_fetch_add(&head_of(f)->added, 1, __ATOMIC_RELAXED);
}

/* Does the head describe store file (dev, ino) at epoch, built in this
 * boot? The generation is the caller's to check. */
static int describes(const hs_keyfilter *f, dev_t dev, ino_t ino, uint64_t epoch)
{
    const struct head *h = head_of(f);
    int i;
    for (i = 0; i < BOOT_WORDS; i++)
        if (__atomic_load_n(&h->boot[i], __ATOMIC_RELAXED) != f->boot[i]) return 0;
    return __atomic_load_n(&h->dev, __ATOMIC_RELAXED) == (uint64_t)dev &&
           __atomic_load_n(&h->ino, __ATOMIC_RELAXED) == (uint64_t)ino &&
           __atomic_load_n(&h->epoch, __ATOMIC_ACQUIRE) == epoch;
}

int hs_keyfilter_absent(const hs_keyfilter *f, dev_t dev, ino_t ino, uint64_t epoch,
                        const unsigned char hash[HS_KF_HASH])
{
    const struct head *h;
    const uint64_t *b;
    uint64_t g;
    int i, absent = 0;

    if (f == NULL) return 0;
    h = head_of(f);
    b = bits_of(f);
    g = __atomic_load_n(&h->gen, __ATOMIC_ACQUIRE);
    if ((g & 1) != 0 || !describes(f, dev, ino, epoch)) return 0;
    for (i = 0; i < HS_KF_PROBES && !absent; i++) {
        uint64_t p = probe(hash, i);
        if ((__atomic_load_n(&b[p / 64], __ATOMIC_ACQUIRE) & (UINT64_C(1) << (p % 64))) == 0)
            absent = 1;
    }
    /* A build that began after the first read cleared bits: the answer
     * above may be the cleared filter's. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&h->gen, __ATOMIC_RELAXED) != g) return 0;
    /* Deleted or replaced: the writers have moved to another file. */
    if (absent && !hs_keyfilter_linked(f)) return 0;
    return absent;
}

int hs_keyfilter_due(const hs_keyfilter *f, dev_t dev, ino_t ino, uint64_t epoch)
{
    const struct head *h;
    uint64_t added, built;

    if (f == NULL) return 0;
    h = head_of(f);
    if ((__atomic_load_n(&h->gen, __ATOMIC_ACQUIRE) & 1) != 0 || !describes(f, dev, ino, epoch))
        return 1;
    added = __atomic_load_n(&h->added, __ATOMIC_RELAXED);
    built = __atomic_load_n(&h->built, __ATOMIC_RELAXED);
    return added >= HS_KF_REBUILD_AT && added >= built;
}

void hs_keyfilter_advance(hs_keyfilter *f, uint64_t from, uint64_t to)
{
    if (f != NULL)
        (void)__atomic_compare_exchange_n(&head_of(f)->epoch, &from, to, 0, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED);
}

void hs_keyfilter_build_begin(hs_keyfilter *f)
{
    struct head *h = head_of(f);
    uint64_t *b = bits_of(f);
    uint64_t g = __atomic_load_n(&h->gen, __ATOMIC_RELAXED);
    size_t i;

    /* Odd first (a builder killed earlier left it odd already), then the
     * bits: a reader that saw the old even generation sees it change. */
    if ((g & 1) == 0) __atomic_store_n(&h->gen, g + 1, __ATOMIC_RELAXED);
    /* The seqlock's writer side: no cleared bit is seen before the odd
     * generation by a reader whose acquire fence follows its bit loads. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (i = 0; i < WORDS; i++) __atomic_store_n(&b[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->added, 0, __ATOMIC_RELAXED);
}

void hs_keyfilter_build_end(hs_keyfilter *f, dev_t dev, ino_t ino, uint64_t epoch,
                            uint64_t keys)
{
    struct head *h = head_of(f);
    uint64_t g = __atomic_load_n(&h->gen, __ATOMIC_RELAXED);
    int i;

    /* Only the builder writes these, under the store's write lock, and
     * readers believe none of them before the generation is even. */
    for (i = 0; i < BOOT_WORDS; i++) __atomic_store_n(&h->boot[i], f->boot[i], __ATOMIC_RELAXED);
    __atomic_store_n(&h->dev, (uint64_t)dev, __ATOMIC_RELAXED);
    __atomic_store_n(&h->ino, (uint64_t)ino, __ATOMIC_RELAXED);
    __atomic_store_n(&h->epoch, epoch, __ATOMIC_RELAXED);
    __atomic_store_n(&h->built, keys, __ATOMIC_RELAXED);
    __atomic_store_n(&h->added, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->gen, (g | 1) + 1, __ATOMIC_RELEASE);
}
