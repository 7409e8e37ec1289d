/*
 * events.h - finding stored events: `hookspool events`, `show`, the
 * archive's replay and the status page's last events.
 *
 * Reads only: directories are listed with hs_layout_each (read-only, no
 * access time, never through a symlink), segments opened O_RDONLY |
 * O_NOFOLLOW and checked as the spool's own (spool.h, "Trust"); nothing
 * is created, locked or written, so a user who may only read the spool
 * can search it.
 *
 * Times: --since and --until compare an event's id time (the stamp its
 * id starts with, microseconds). That is its received_at, except after
 * the clock was set back, when the id runs ahead (spool.h). Ids and
 * segment names sort by that time, and one spool's stamps only go
 * forward, so the events of a segment lie between its name's second and
 * the next segment's (all directories together): a segment outside the
 * asked range is skipped by its name, unread. Replayed segments
 * (layout.h) hold older events than their names say and are always read.
 *
 * Lines are the handler's: {"id":"<HS_ID_LEN>","received_at":
 * "<HS_TS_LEN>","endpoint":"...",["key":<JSON>,]["replayed_at":
 * "<HS_TS_LEN>",]"headers":{...},"event":...}. A line not in that shape
 * (a torn tail, a hand-made file) is passed over and counted.
 *
 * Every function returns 0 or a negative errno unless it says otherwise.
 */
#ifndef HS_EVENTS_H
#define HS_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "spool.h"

#define HS_EV_TIME_MIN    INT64_MIN      /* an open --since */
#define HS_EV_TIME_MAX    INT64_MAX      /* an open --until */
#define HS_EV_LAST_MAX    100            /* hs_ev_last: events at most */
#define HS_EV_KEY_SHOWN   256            /* hs_ev_last: key bytes kept */
#define HS_EV_TAIL_BYTES  (4u << 20)     /* hs_ev_last: bytes read per segment at most */
#define HS_EV_REPLAYED_FIELD "replayed_at"

/* What to find. NULL strings and open times match everything. */
typedef struct hs_ev_filter {
    const char *endpoint;      /* the endpoint's name, exactly */
    const char *key;           /* the key's JSON text, or one of its elements'
                                * values (a string's text, unquoted) */
    const char *id;            /* the id, exactly */
    int64_t     since_us;      /* id time >= since (HS_EV_TIME_MIN: open) */
    int64_t     until_us;      /* id time <= until (HS_EV_TIME_MAX: open) */
} hs_ev_filter;

/* The parts of one stored line, pointing into it. */
typedef struct hs_ev_line {
    const char *id;                       /* HS_ID_LEN bytes */
    const char *received_at;              /* HS_TS_LEN bytes */
    const char *endpoint;                 /* the JSON string, quotes included */
    size_t      endpoint_len;
    const char *key;                      /* its JSON text, or NULL */
    size_t      key_len;
    const char *replayed_at;              /* HS_TS_LEN bytes, or NULL */
    int64_t     id_us;                    /* the id's time */
} hs_ev_line;

/* Where the events are: the directories hs_ev_scan reads. */
#define HS_EV_DIRS_ALL ((1u << HS_DIR_ACTIVE) | (1u << HS_DIR_READY) | \
                        (1u << HS_DIR_CLAIMED) | (1u << HS_DIR_FAILED) | \
                        (1u << HS_DIR_ARCHIVE))

void hs_ev_filter_init(hs_ev_filter *f);

/* Parse line[0..len) (no newline) into *out. 0, or -1: not a line of
 * the handler's shape. */
int hs_ev_parse(const char *line, size_t len, hs_ev_line *out);

/* The time of an id (its first 23 bytes, "YYYYMMDDTHHMMSS.uuuuuuZ") in
 * microseconds since the epoch. 0, or -1 when it is not in that form. */
int hs_ev_id_time(const char *id, size_t len, int64_t *us);

/* 1 when the parsed line l passes f, else 0. */
int hs_ev_match(const hs_ev_filter *f, const hs_ev_line *l);

/*
 * A time argument into *us (microseconds since the epoch): a duration
 * back from now_s, digits then s, m, h or d ("90s", "2h", "7d"), or an
 * RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SS[.frac]Z" (a space for the T,
 * or "+00:00" for the Z, also taken). 0, or -1 (nothing else; a number
 * past the range included).
 */
int hs_ev_parse_time(const char *s, int64_t now_s, int64_t *us);

/* 1 when a segment named `name` (an archive's too) may hold events of
 * [since, until] given the name of the segment after it in time, `next`
 * (NULL: none, it is the newest). Replayed segments always may. */
int hs_ev_seg_may_match(const char *name, const char *next, int64_t since_us,
                        int64_t until_us);

/* One matching line: the directory's name, the segment's file name, the
 * line (no newline) and its parts. Non-zero stops the scan and is
 * returned. */
typedef int (*hs_ev_fn)(void *arg, const char *dir, const char *seg,
                        const char *line, size_t len, const hs_ev_line *l);

/* What a scan met besides events; messages go to warn (may be NULL). */
typedef struct hs_ev_scan_stats {
    uint64_t segments_read;
    uint64_t segments_skipped;        /* by name */
    uint64_t lines_bad;               /* not of the handler's shape */
} hs_ev_scan_stats;

typedef void (*hs_ev_warn_fn)(void *arg, const char *msg);

/*
 * Call fn for every line passing f in the directories `dirs` (a mask of
 * 1u << hs_layout_dir) of the spool at path, in time order (segment by
 * segment, by name; replayed segments where their names put them).
 * umask is the spool's (trust checks). A segment that cannot be read or
 * is not the spool's own is reported through warn and the scan goes on;
 * the return is then 1 (else 0, or fn's non-zero value, or a negative
 * errno when the spool cannot be read at all). *st may be NULL.
 */
int hs_ev_scan(const char *path, mode_t umask, unsigned dirs, const hs_ev_filter *f,
               hs_ev_fn fn, void *arg, hs_ev_warn_fn warn, void *warn_arg,
               hs_ev_scan_stats *st);

/* One of the last events, copied. */
typedef struct hs_ev_brief {
    char   id[HS_ID_LEN + 1];
    char   received_at[HS_TS_LEN + 1];
    char   key[HS_EV_KEY_SHOWN + 1];   /* the key's JSON text, cut to fit; "" none */
    int    key_cut;                    /* 1: key was longer */
} hs_ev_brief;

/*
 * The last n (<= HS_EV_LAST_MAX) events received by the spool at path,
 * newest first, into out[0..*got): from the newest segments of active/,
 * ready/, claimed/ and failed/ (not replays, not the archive), reading
 * each from its end, at most HS_EV_TAIL_BYTES of each. Never a body.
 */
int hs_ev_last(const char *path, mode_t umask, size_t n, hs_ev_brief *out, size_t *got);

#endif
