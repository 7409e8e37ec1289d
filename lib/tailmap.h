/*
 * tailmap.h - dedup's tail, shared between the spool's writers.
 *
 * Issue 18: under the spool lock every writer (each thread of each
 * FastCGI process, each CGI process) brought its own copy of the tail
 * (dedup.h) up to the segment's end by reading back and parsing the
 * lines the others had appended, and hashing their keys: with four
 * threads in each of two processes that was most of what dedup cost in
 * the default configuration (each line read seven times over, under the
 * lock). The tail map is SPOOL/tailmap, a small file mapped shared by
 * every writer: the last HS_TAILMAP_LINES lines of the active segment,
 * each as where it ends, when it came and its key's hash, written by
 * the writer that appended it, while it still holds the lock. A writer
 * then takes the lines it has not read from the map instead of the
 * file.
 *
 * The map is a cache, never the record: the segment is. Every use is
 * under the spool lock, and a lookup answers only when the map holds,
 * contiguously, exactly the lines from where the caller has read to the
 * segment's end as the caller sees it (name and size): anything else
 * (a writer killed between its write and the map, a cut-back, another
 * segment, a map written in an earlier boot, which a power cut may have
 * left half on disk, a map a writer was changing when it died) and the
 * caller reads the file, as before, and writes what it read into the
 * map, so the next writer finds it there again.
 */
#ifndef HS_TAILMAP_H
#define HS_TAILMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HS_TAILMAP_FILE  "tailmap"   /* name inside the spool */
#define HS_TAILMAP_MAGIC "HSTAIL01"  /* layout version: bump on change */
#define HS_TAILMAP_LINES 8192        /* lines kept (a ring): dedup.h's HS_DEDUP_TAIL_MAX */
#define HS_TAILMAP_HASH  32          /* a key's hash: HS_STORE_KEY_LEN */

typedef struct hs_tailmap hs_tailmap;

/* One line of the active segment, as the map keeps it. */
typedef struct hs_tailmap_line {
    uint64_t      end;        /* offset just past its '\n' */
    int64_t       t;          /* when it came, seconds */
    unsigned char hash[HS_TAILMAP_HASH];
    uint64_t      has_key;    /* 0: a line without a key (hash unused) */
} hs_tailmap_line;

/*
 * Map sp's SPOOL/tailmap (created if missing), opened through the
 * directory sp opened (hs_spool_open_file), never by path: what the map
 * holds decides which events are duplicates. The process must be able to
 * tell which boot it runs in (/proc/sys/kernel/random/boot_id). 0 with
 * *out, or a negative errno: the caller then goes without (reads the
 * file). Under the spool lock or not: opening changes nothing in it.
 */
typedef struct hs_spool hs_spool;
int  hs_tailmap_open(hs_spool *sp, hs_tailmap **out);
void hs_tailmap_close(hs_tailmap *m);

/*
 * Under the spool lock: the lines of segment seg from offset `from` (a
 * line's start) to `to` (the segment's size) are lines[0..n), back to
 * back. Appended to the map when it ends at `from` in seg in this boot,
 * else the map starts again with them. Never fails: the map is a cache.
 */
void hs_tailmap_add(hs_tailmap *m, const char *seg, uint64_t from, const hs_tailmap_line *lines,
                    size_t n);

/*
 * Under the spool lock: when the map holds every line of segment seg
 * from offset `from` to exactly `to` (the segment's size), call fn on
 * each of those lines that has a key, in order, and return 1 (or the
 * first negative value fn returns, which ends the walk). Otherwise 0,
 * fn never called: read the file.
 */
int hs_tailmap_get(hs_tailmap *m, const char *seg, uint64_t from, uint64_t to,
                   int (*fn)(void *arg, const hs_tailmap_line *line), void *arg);

/* Under the spool lock: forget every line (an append was cut back after
 * its lines were added). */
void hs_tailmap_clear(hs_tailmap *m);

#endif
