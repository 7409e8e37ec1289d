#!/usr/bin/env python3
"""load-sqlite.py - load one hookspool segment (on stdin) into SQLite.

    hookspool consume -s "$HOME/spool" -- "$HOME/hookspool/load-sqlite.py"

Python 3 standard library only. The database is $HOOKSPOOL_DB (default:
$HOME/hookspool.db); the table `events` (the same one load-sqlite.sh
fills) is created on first use:

    key_or_id    "ENDPOINT KEY": the line's endpoint, a space and its "key"
                 as JSON text; or its "id" when it has no key. The endpoint
                 is part of it because hookspool deduplicates per endpoint:
                 two endpoints may each hold an event with the same key.
    id, received_at, endpoint      as in the line
    key, headers                   JSON text as in the line (key NULL if none)
    event        the request body exactly as spooled, byte for byte

Idempotent: INSERT OR IGNORE on key_or_id, the whole segment in one
transaction. Loading a segment twice (consume requeues it when this
script fails or is killed) leaves the table as loading it once did; an
event delivered twice keeps its first row.

Money is never touched: each line is walked member by member with the
json module only to find where every top-level value starts and ends;
what is stored are those slices of the original text, never a value
re-serialised by json.dumps (which would write 500.00 as 500.0 or, as a
Decimal, lose escapes as sent). Escapes stay as sent, so a lone
surrogate ("\\ud83d", valid JSON) or a name starting with "\\u0000" is
stored like any other event.

One line never holds back the others: a line that is not an event line
(torn, not UTF-8, not JSON, no text "id" or no "event") is set aside in
the table `rejects` (the same one load-sqlite.sh fills), byte for byte,
keyed by the SHA3-256 of its bytes so that loading it again adds
nothing, and named on stderr (cron mails it); the rest of the segment
loads and the exit status is 0, so consume deletes the segment instead of
dead-lettering it. The exit status is 1, with nothing of the segment
committed, only when the database fails (consume requeues the segment):

    line_sha3    hex SHA3-256 of the line's bytes (without its newline)
    segment      the segment's file name ($HOOKSPOOL_SEGMENT), if known
    reason       why it could not be loaded
    line         the line, byte for byte (a BLOB: it may not be UTF-8)
    rejected_at  when it was first set aside (UTC)

Prints nothing on success without rejects; errors go to stderr.
"""
import decimal
import hashlib
import json
import os
import sqlite3
import sys

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    key_or_id   TEXT PRIMARY KEY NOT NULL,
    id          TEXT NOT NULL,
    received_at TEXT,
    endpoint    TEXT,
    key         TEXT,
    headers     TEXT,
    event       TEXT NOT NULL
)"""

REJECTS = """
CREATE TABLE IF NOT EXISTS rejects (
    line_sha3   TEXT PRIMARY KEY NOT NULL,
    segment     TEXT,
    reason      TEXT NOT NULL,
    line        BLOB NOT NULL,
    rejected_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)"""

REJECT = """
INSERT OR IGNORE INTO rejects (line_sha3, segment, reason, line) VALUES (?, ?, ?, ?)"""

INSERT = """
INSERT OR IGNORE INTO events
    (key_or_id, id, received_at, endpoint, key, headers, event)
VALUES (?, ?, ?, ?, ?, ?, ?)"""



def not_json(name):
    raise ValueError("%s is not JSON (RFC 8259)" % name)


# Floats as Decimal: nothing read here is ever rounded (not that any
# number is stored from a parsed value). NaN and Infinity, which the json
# module takes by default, are not JSON.
DECODER = json.JSONDecoder(parse_float=decimal.Decimal, parse_constant=not_json)
WS = " \t\r\n"


class BadLine(ValueError):
    pass


def members(text):
    """{name: (value, raw text)} of the top-level object `text`, the raw
    text being the exact slice of `text` that holds the value."""
    n = len(text)
    i = 0
    while i < n and text[i] in WS:
        i += 1
    if i >= n or text[i] != "{":
        raise BadLine("not a JSON object")
    i += 1
    out = {}
    while True:
        while i < n and text[i] in WS:
            i += 1
        if i < n and text[i] == "}" and not out:
            i += 1
            break
        if i >= n or text[i] != '"':
            raise BadLine("member name expected at offset %d" % i)
        name, i = DECODER.raw_decode(text, i)
        while i < n and text[i] in WS:
            i += 1
        if i >= n or text[i] != ":":
            raise BadLine("':' expected at offset %d" % i)
        i += 1
        while i < n and text[i] in WS:
            i += 1
        start = i
        value, i = DECODER.raw_decode(text, i)
        out[name] = (value, text[start:i])
        while i < n and text[i] in WS:
            i += 1
        if i < n and text[i] == ",":
            i += 1
            continue
        if i < n and text[i] == "}":
            i += 1
            break
        raise BadLine("',' or '}' expected at offset %d" % i)
    while i < n and text[i] in WS:
        i += 1
    if i != n:
        raise BadLine("text after the object at offset %d" % i)
    return out


def row(text):
    m = members(text)
    if "id" not in m or not isinstance(m["id"][0], str):
        raise BadLine('no text "id"')
    if "event" not in m:
        raise BadLine('no "event"')
    key = m.get("key")
    if key is not None and key[0] is None:
        key = None
    if key is not None and not isinstance(key[0], list):
        raise BadLine('"key" is not an array')

    def text_of(name):
        v = m.get(name)
        return None if v is None or not isinstance(v[0], str) else v[0]

    ident = m["id"][0]
    return ("%s %s" % (text_of("endpoint") or "", key[1]) if key else ident,
            ident,
            text_of("received_at"),
            text_of("endpoint"),
            key[1] if key else None,
            m["headers"][1] if "headers" in m else None,
            m["event"][1])


def main():
    db = os.environ.get("HOOKSPOOL_DB") or os.path.join(
        os.environ.get("HOME") or "", "hookspool.db")
    if not os.environ.get("HOOKSPOOL_DB") and not os.environ.get("HOME"):
        print("load-sqlite.py: HOME or HOOKSPOOL_DB must be set", file=sys.stderr)
        return 1
    try:
        con = sqlite3.connect(db, timeout=60.0, isolation_level=None)
    except sqlite3.Error as e:
        print("load-sqlite.py: %s: %s" % (db, e), file=sys.stderr)
        return 1
    segment = os.path.basename(os.environ.get("HOOKSPOOL_SEGMENT") or "") or None
    lineno = 0
    set_aside = []
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute(SCHEMA)
        con.execute(REJECTS)
        for raw in sys.stdin.buffer:
            lineno += 1
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            if not raw:
                continue
            try:
                text = raw.decode("utf-8")      # strict: slices stay exact
                con.execute(INSERT, row(text))
            except (ValueError, RecursionError) as e:
                # Not an event line (UnicodeError is a ValueError, and so
                # is a lone surrogate in a text sqlite3 cannot bind): kept
                # as it is in rejects. A database error is not caught here.
                h = hashlib.sha3_256(raw).hexdigest()
                reason = "not a hookspool event line (SPEC 6): %s" % (e,)
                con.execute(REJECT, (h, segment, reason, raw))
                set_aside.append("load-sqlite.py: line %d of %s set aside in table rejects "
                                 "of %s, line_sha3 %s: %s"
                                 % (lineno, segment or "stdin", db, h, reason))
        con.execute("COMMIT")
        for msg in set_aside:
            print(msg, file=sys.stderr)
        return 0
    except (sqlite3.Error, OSError) as e:
        print("load-sqlite.py: %s: nothing of this segment loaded (line %d): %s"
              % (db, lineno, e), file=sys.stderr)
        try:
            con.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        return 1
    finally:
        con.close()

if __name__ == "__main__":
    sys.exit(main())
