#!/bin/sh
# load-sqlite.sh - load one hookspool segment (on stdin) into SQLite.
#
#   hookspool consume -s "$HOME/spool" -- "$HOME/hookspool/load-sqlite.sh"
#
# Needs only sh and the sqlite3 command-line shell with its JSON functions
# (tested with 3.40; jq is not needed). The database is
# $HOOKSPOOL_DB (default: $HOME/hookspool.db); the table `events` is
# created on first use:
#
#   key_or_id    "ENDPOINT KEY": the line's endpoint, a space and its "key"
#                as JSON text; or its "id" when it has no key. The endpoint
#                is part of it because hookspool deduplicates per endpoint:
#                two endpoints may each hold an event with the same key.
#   id, received_at, endpoint      as in the line
#   key, headers                   JSON text as in the line (key NULL if none)
#   event        the request body exactly as spooled, byte for byte
#
# Idempotent: INSERT OR IGNORE on key_or_id, the whole segment in one
# transaction. Loading a segment twice (consume requeues it when this
# script fails or is killed) leaves the table as loading it once did; an
# event delivered twice keeps its first row.
#
# Money is never touched: `event` is cut out of the raw line as a
# substring (the line is `{...,"event":EVENT}`, event last, SPEC 6), never
# parsed and re-serialised, so 500.00 stays 500.00. A line that is not an
# event line, or whose envelope does not read back byte for byte, fails
# the whole segment: nothing of it is committed, the exit status is
# non-zero and consume requeues the segment (and after --max-attempts
# failures moves it to failed/ for a person to look at).
#
# Prints nothing on success; errors go to stderr (cron mails them).
set -eu

db=${HOOKSPOOL_DB:-${HOME:?HOME or HOOKSPOOL_DB must be set}/hookspool.db}

command -v sqlite3 >/dev/null 2>&1 || {
    echo "load-sqlite.sh: sqlite3 not found in PATH ($PATH)" >&2
    exit 1
}

# Each line is read whole into temp.hookspool_in (the unqualified name
# finds the temp table first) by .import in ascii mode
# (fields end at 0x1F, which valid JSON never holds raw; rows at "\n"), so
# no byte of it is quoted, unquoted or re-encoded on the way in. The
# trigger rejects a bad line with its line number before anything is
# loaded.
# A line is accepted when: it is a JSON object with a text "id", a
# "key" that is absent, null or an array, and an "event"; and removing
# "event" from it gives back its own first bytes, so that what follows
# `,"event":` up to the final `}` is exactly the event as spooled.
exec sqlite3 -bail -batch -init /dev/null "$db" \
".timeout 60000" \
"BEGIN IMMEDIATE;" \
"CREATE TABLE IF NOT EXISTS events (
    key_or_id   TEXT PRIMARY KEY NOT NULL,
    id          TEXT NOT NULL,
    received_at TEXT,
    endpoint    TEXT,
    key         TEXT,
    headers     TEXT,
    event       TEXT NOT NULL
);" \
"CREATE TEMP TABLE hookspool_in (line TEXT NOT NULL);" \
"CREATE TEMP TRIGGER hookspool_in_check BEFORE INSERT ON hookspool_in
 WHEN NEW.line <> '' AND NOT (
        json_valid(NEW.line)
    AND json_type(NEW.line) = 'object'
    AND json_type(NEW.line, '\$.id') = 'text'
    AND coalesce(json_type(NEW.line, '\$.key'), 'null') IN ('null', 'array')
    AND json_type(NEW.line, '\$.event') IS NOT NULL
    AND substr(NEW.line, -1) = '}'
    AND substr(NEW.line, 1, length(json_remove(NEW.line, '\$.event')) + 8)
        = substr(json_remove(NEW.line, '\$.event'), 1,
                 length(json_remove(NEW.line, '\$.event')) - 1) || ',\"event\":'
 )
 BEGIN SELECT RAISE(ABORT, 'not a hookspool event line (SPEC 6)'); END;" \
".mode ascii" \
".separator \"\\037\" \"\\n\"" \
".import /dev/stdin hookspool_in" \
"INSERT OR IGNORE INTO main.events
        (key_or_id, id, received_at, endpoint, key, headers, event)
 SELECT CASE WHEN json_type(line, '\$.key') = 'array'
             THEN coalesce(json_extract(line, '\$.endpoint'), '') || ' ' ||
                  json_extract(line, '\$.key')
             ELSE json_extract(line, '\$.id') END,
        json_extract(line, '\$.id'),
        json_extract(line, '\$.received_at'),
        json_extract(line, '\$.endpoint'),
        CASE WHEN json_type(line, '\$.key') = 'array'
             THEN json_extract(line, '\$.key') END,
        json_extract(line, '\$.headers'),
        substr(line, envlen + 9, length(line) - envlen - 9)
 FROM (SELECT rowid AS n, line, length(json_remove(line, '\$.event')) AS envlen
       FROM temp.hookspool_in WHERE line <> '')
 ORDER BY n;" \
"COMMIT;"
