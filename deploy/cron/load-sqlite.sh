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
# parsed and re-serialised, so 500.00 stays 500.00, and escapes stay as
# sent (a lone surrogate "\ud83d" or a name starting with "\u0000" is an
# event like any other).
#
# One line never holds back the others: a line that is not an event line
# (torn, not JSON, no text "id" or no "event", or whose envelope does not
# read back byte for byte) is set aside in the table `rejects` (the same
# one load-sqlite.py fills), byte for byte, keyed by the SHA3-256 of its
# bytes so that loading it again adds nothing, and named on stderr (cron
# mails it); the rest of the segment loads and the exit status is 0, so
# consume deletes the segment instead of dead-lettering it:
#
#   line_sha3    hex SHA3-256 of the line's bytes (without its newline)
#   segment      the segment's file name ($HOOKSPOOL_SEGMENT), if known
#   reason       why it could not be loaded
#   line         the line, byte for byte (a BLOB: it may not be UTF-8)
#   rejected_at  when it was first set aside (UTC)
#
# The exit status is non-zero, with nothing of the segment committed, when
# the database fails, and when the input holds a NUL or 0x1F byte: sqlite3
# cannot import such a line whole, and hookspool never writes one (JSON
# escapes every control character), so that file is no hookspool segment;
# consume requeues it and after --max-attempts failures moves it to
# failed/ for a person to look at (load-sqlite.py sets such lines aside).
#
# Prints nothing on success without rejects; errors go to stderr.
set -eu

db=${HOOKSPOOL_DB:-${HOME:?HOME or HOOKSPOOL_DB must be set}/hookspool.db}

command -v sqlite3 >/dev/null 2>&1 || {
    echo "load-sqlite.sh: sqlite3 not found in PATH ($PATH)" >&2
    exit 1
}

# The segment is copied to a file first, so that it can be checked for
# bytes .import cannot take before anything is loaded.
umask 077
in=$(mktemp "${TMPDIR:-/tmp}/load-sqlite.XXXXXX")
trap 'rm -f "$in"' EXIT
trap 'exit 1' HUP INT TERM
cat >"$in"
if [ "$(LC_ALL=C tr -dc '\000\037' <"$in" | wc -c)" -ne 0 ]; then
    echo "load-sqlite.sh: ${HOOKSPOOL_SEGMENT:-stdin} holds a NUL or 0x1F byte:" \
         "not a hookspool segment; nothing loaded" >&2
    exit 1
fi

# The segment's name as an SQL string literal.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }
segment=${HOOKSPOOL_SEGMENT:+$(quote "${HOOKSPOOL_SEGMENT##*/}")}
segment=${segment:-NULL}

# Each line is read whole into temp.hookspool_in (the unqualified name
# finds the temp table first) by .import in ascii mode (fields end at
# 0x1F, which was refused above; rows at "\n"), so no byte of it is
# quoted, unquoted or re-encoded on the way in.
# A line is an event line when: it is a JSON object with a text "id", a
# "key" that is absent, null or an array, and an "event"; and removing
# "event" from it gives back its own first bytes, so that what follows
# `,"event":` up to the final `}` is exactly the event as spooled.
# Anything else gets a reason and goes to rejects. What sqlite3 prints
# (the set-aside lines, errors) goes to stderr: stdout is consume's.
sqlite3 -bail -batch -init /dev/null "$db" \
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
"CREATE TABLE IF NOT EXISTS rejects (
    line_sha3   TEXT PRIMARY KEY NOT NULL,
    segment     TEXT,
    reason      TEXT NOT NULL,
    line        BLOB NOT NULL,
    rejected_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);" \
"CREATE TEMP TABLE hookspool_in (line TEXT NOT NULL);" \
".mode ascii" \
".separator \"\\037\" \"\\n\"" \
".import \"$in\" hookspool_in" \
"CREATE TEMP TABLE hookspool_lines AS
 SELECT n, line, CASE
    WHEN NOT json_valid(line) THEN 'not JSON'
    WHEN json_type(line) <> 'object' THEN 'not a JSON object'
    WHEN coalesce(json_type(line, '\$.id'), '') <> 'text' THEN 'no text \"id\"'
    WHEN coalesce(json_type(line, '\$.key'), 'null') NOT IN ('null', 'array')
         THEN '\"key\" is not an array'
    WHEN json_type(line, '\$.event') IS NULL THEN 'no \"event\"'
    WHEN NOT (substr(line, -1) = '}'
              AND substr(line, 1, length(json_remove(line, '\$.event')) + 8)
                  = substr(json_remove(line, '\$.event'), 1,
                           length(json_remove(line, '\$.event')) - 1) || ',\"event\":')
         THEN 'the envelope does not read back as spooled, \"event\" last'
    END AS reason
 FROM (SELECT rowid AS n, line FROM temp.hookspool_in WHERE line <> '');" \
"INSERT OR IGNORE INTO main.rejects (line_sha3, segment, reason, line)
 SELECT lower(hex(sha3(CAST(line AS BLOB), 256))), $segment,
        'not a hookspool event line (SPEC 6): ' || reason, CAST(line AS BLOB)
 FROM temp.hookspool_lines WHERE reason IS NOT NULL ORDER BY n;" \
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
 FROM (SELECT n, line, length(json_remove(line, '\$.event')) AS envlen
       FROM temp.hookspool_lines WHERE reason IS NULL)
 ORDER BY n;" \
"COMMIT;" \
".mode list" \
".separator \"|\" \"\\n\"" \
"SELECT 'load-sqlite.sh: line ' || n || ' of ' || coalesce($segment, 'stdin') ||
        ' set aside in table rejects, line_sha3 ' ||
        lower(hex(sha3(CAST(line AS BLOB), 256))) ||
        ': not a hookspool event line (SPEC 6): ' || reason
 FROM temp.hookspool_lines WHERE reason IS NOT NULL ORDER BY n;" >&2
