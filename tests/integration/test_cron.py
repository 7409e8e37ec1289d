"""
test_cron.py - the cron-side consumers in deploy/cron/ against a real
spool filled through lighttpd + hookspool.fcgi (SPEC 6).

Signed Caliza events (one with "value": 500.00, one with escapes and a
4-byte character, one delivered twice; three more on a route with dedup
off, so their lines have no key) are posted, the spool is sealed with
`hookspool rotate`, and then each loader runs under
`hookspool consume -s SPOOL -- LOADER` over a copy of the sealed
segments:

    load-sqlite.sh   (sh + sqlite3)     into a SQLite file
    load-sqlite.py   (Python stdlib)    into a SQLite file
    load-mysql.php   (PHP CLI + PDO)    into a private MariaDB server

Each must hold every 200-answered event exactly once, its event text
byte for byte as spooled (500.00 stays 500.00), keyed by endpoint and key, or by id; a
second run over the same segments adds nothing; a loader that fails
leaves consume exiting non-zero with every segment back in ready/ and
nothing loaded. The consume lines of deploy/cron/crontab.example are run
as cron would (sh -c, the crontab's variables, a home of their own).

One line never holds back the others (issue 13 item 3): a segment mixing
good events with events hookspool accepted but that once stopped a
loader (lone surrogate escapes, also in the dedup key; a key and an
object member name starting with \u0000; a 5 MB event) and with two lines
no loader can read (a torn line cut inside a UTF-8 character, JSON that
is no event) is loaded by each loader with exit 0: every event line in
`events` once, byte for byte; what it cannot store in table `rejects`
once, byte for byte, keyed by the line's SHA3-256, each named on stderr
(cron mails it); the segment deleted, never dead-lettered; a second run
changes nothing. The MariaDB server runs with max_allowed_packet 4 MiB
(MySQL 5.7's default, still common on shared hosts), so the 5 MB event
cannot be a row of `events` there and is set aside in pieces.

The MariaDB server is private: its own datadir and unix socket in the
temp dir, no TCP (--skip-networking), stopped at the end whatever
happens. php, pdo_mysql and MariaDB must be installed beforehand (this
test installs nothing); without them the PHP checks FAIL.
"""
import hashlib
import json
import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402

CRON = os.path.join(hs.ROOT, "deploy", "cron")
LOAD_SH = os.path.join(CRON, "load-sqlite.sh")
LOAD_PY = os.path.join(CRON, "load-sqlite.py")
LOAD_PHP = os.path.join(CRON, "load-mysql.php")
CRONTAB = os.path.join(CRON, "crontab.example")

SECRET = "cron-test-secret-7f3e9a1c5b2d4e6f"
SUBDIRS = ("active", "ready", "claimed", "failed", "invalid")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RUN_TIMEOUT = 120         # one consume / loader / client run
DB_START_TIMEOUT = 60     # MariaDB: install-db, then the socket answering
DB_STOP_TIMEOUT = 30
MIXED_MAX_BODY = 8 << 20  # the spool that takes a 5 MB event
BIG_EVENT = 5 << 20       # bytes: above the test MariaDB's max_allowed_packet
MAX_PACKET = 4 << 20      # the test MariaDB's max_allowed_packet


def base_env(**kw):
    return hs.cli_env(PATH=PATH, LANG="C", HOME="/nonexistent-home", **kw)


def run(args, env, stdin=None, timeout=RUN_TIMEOUT, cwd=None):
    """(returncode, stdout, stderr); returncode None on a timeout."""
    try:
        r = subprocess.run(args, input=stdin, capture_output=True, env=env,
                           timeout=timeout, cwd=cwd)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        return None, e.stdout or b"", (e.stderr or b"") + b"\n(timed out)"
    except OSError as e:
        return None, b"", repr(e).encode()


# ---------------------------------------------------------------- filling

def fill_spool(T, tmp):
    """Post the events through lighttpd; seal everything. Returns
    (spool, {id: minified body}, [(name, bytes)] of the sealed segments,
    {id: parsed line})."""
    T.section("fill a spool through lighttpd + hookspool.fcgi")
    spool = tmp.join("spool")
    srv = T.server(tmp, name="cron", max_procs=1, env={
        "HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": SECRET,
        "HOOKSPOOL_ROTATE_BYTES": "4096"},
        routes=[{"url": "/hook", "setenv": {}},
                {"url": "/nodedup", "setenv": {"HOOKSPOOL_DEDUP": "off",
                                               "HOOKSPOOL_ENDPOINT": "nodedup"}},
                {"url": "/second", "setenv": {"HOOKSPOOL_ENDPOINT": "second"}}])
    expected = {}             # id -> minified body (bytes)
    bodies = []
    names = hs.CALIZA_EXAMPLES
    for i in range(30):
        body, _rid = hs.caliza_event(names[i % len(names)])
        bodies.append(body)
    # The money event: TRANSACTION_COMPLETED carries "value": 500.00.
    money, money_rid = hs.caliza_event("TRANSACTION_COMPLETED.json")
    T.check(b'"value": 500.00' in money, "the example holds \"value\": 500.00")
    bodies[3] = money
    # Escapes as sent, a 4-byte UTF-8 character, an apostrophe (SQL quoting).
    odd, _ = hs.caliza_event("TRANSACTION_FAILED.json")
    odd = odd.replace(b"{\n", ('{\n  "note": "caf\\u00e9 \\/ \\"q\\" it\'s '
                               '\u2615 \U0001F600 1E+02",\n').encode(), 1)
    bodies[7] = odd
    for b in bodies:
        st, _h, ans = srv.post(b, hs.sign(b, secret=SECRET))
        a = hs.one_line_json(ans) or {}
        if T.check(st == 200 and a.get("ok") is True and a.get("id"),
                   "POST %d: 200 with an id" % len(expected), (st, ans)):
            expected[a["id"]] = hs.minify(b)
    # The same delivery again: 200, duplicate, nothing appended.
    st, _h, ans = srv.post(money, hs.sign(money, secret=SECRET))
    a = hs.one_line_json(ans) or {}
    T.check(st == 200 and a.get("duplicate") is True and "id" not in a,
            "the duplicate delivery: 200 duplicate, no new event", (st, ans))
    # Dedup off: no key in the line; the same body twice is two events.
    nd, _ = hs.caliza_event("BENEFICIARY_APPROVED.json")
    for b in (nd, nd, hs.caliza_event("PAY_IN_ACCOUNT_CREATED.json")[0]):
        st, _h, ans = srv.post(b, hs.sign(b, secret=SECRET), path="/nodedup")
        a = hs.one_line_json(ans) or {}
        if T.check(st == 200 and a.get("id"), "POST without dedup: 200 with an id", (st, ans)):
            expected[a["id"]] = hs.minify(b)
    # A second keyed endpoint gets an event whose key the first one has
    # too: the spool keeps both (dedup is per endpoint), and so must a
    # loader filling one database from both endpoints.
    st, _h, ans = srv.post(money, hs.sign(money, secret=SECRET), path="/second")
    a = hs.one_line_json(ans) or {}
    if T.check(st == 200 and a.get("id"), "the same key on a second endpoint: 200 with an id",
               (st, ans)):
        expected[a["id"]] = hs.minify(money)
    srv.stop()

    rc, out, err = run([hs.CLI, "rotate", "-s", spool], base_env())
    T.check(rc == 0, "hookspool rotate", (rc, err))
    ready = hs.spool_files(spool, "ready")
    T.check(not hs.spool_files(spool, "active") and len(ready) >= 3,
            "everything sealed, in several segments (%d)" % len(ready),
            (hs.spool_files(spool, "active"), ready))
    objs, bad = hs.parse_lines(hs.spool_lines(spool, subs=("ready",)))
    lines = {o.get("id"): o for o in objs}
    T.check(not bad and len(objs) == len(expected) and set(lines) == set(expected),
            "the sealed segments hold the %d answered events, once each" % len(expected),
            (bad[:3], len(objs), len(expected)))
    raw = b"".join(hs.read_bytes(p) for p in ready)
    T.check(b'"value":500.00' in raw, "the spool itself holds 500.00 as sent")
    keyed = [o for o in objs if "key" in o]
    T.check(len(keyed) == len(expected) - 3 and
            sum(1 for o in keyed if o.get("endpoint") == "second") == 1 and
            all("key" not in o for o in objs if o.get("endpoint") == "nodedup"),
            "dedup-on lines carry a key, dedup-off lines none",
            [(o.get("endpoint"), o.get("key")) for o in objs][:5])
    segs = [(os.path.basename(p), hs.read_bytes(p)) for p in ready]
    return spool, expected, segs, lines, money_rid


def fill_mixed(T, tmp):
    """One sealed segment, through lighttpd + hookspool.fcgi, holding good
    events and the events that once stopped a loader, all answered 200;
    then two lines no loader can read are put among its lines by hand (a
    damaged copy; hookspool never writes them). Returns ((name, bytes) of
    the segment, {id: minified body} of its events, {id: 5 MB event's id},
    [the two unreadable lines, without their newline])."""
    T.section("fill a segment with lines that once stopped the loaders")
    spool = tmp.join("mixed-spool")
    srv = T.server(tmp, name="mixed", max_procs=1, env={
        "HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": SECRET,
        "HOOKSPOOL_MAX_BODY": str(MIXED_MAX_BODY)},
        routes=[{"url": "/hook", "setenv": {}}])

    def with_member(body, member):
        return body.replace(b"{\n", b"{\n  " + member + b",\n", 1)

    names = hs.CALIZA_EXAMPLES
    good = [hs.caliza_event(names[i % len(names)])[0] for i in range(4)]
    # Raw 4-byte characters, to cut a line inside one below.
    good[2] = with_member(good[2], '"note": "\u2615 \U0001F600 raw"'.encode())
    surrogate, _ = hs.caliza_event("TRANSACTION_FAILED.json",
                                   resource_id="\\ud83d-" + hs.unique_hex())
    surrogate = with_member(surrogate, b'"note": "half an emoji \\ud83d, a low half '
                            b'\\ude00, reversed \\ude00\\ud83d, a pair \\ud83d\\ude00"')
    nul_key, _ = hs.caliza_event("TRANSACTION_COMPLETED.json",
                                 resource_id="\\u0000" + hs.unique_hex())
    nul_member = with_member(hs.caliza_event("BENEFICIARY_APPROVED.json")[0],
                             b'"\\u0000member": {"\\u0000": "names starting with NUL"}')
    big, _ = hs.caliza_event("TRANSACTION_COMPLETED.json", pad_to=BIG_EVENT)
    order = [("good 1", good[0]), ("lone surrogates", surrogate), ("good 2", good[1]),
             ("a key starting with \\u0000", nul_key), ("good 3", good[2]),
             ("a member name starting with \\u0000", nul_member), ("5 MB", big),
             ("good 4", good[3])]
    expected, ids = {}, {}
    for what, b in order:
        st, _h, ans = srv.post(b, hs.sign(b, secret=SECRET))
        a = hs.one_line_json(ans) or {}
        if T.check(st == 200 and a.get("ok") is True and a.get("id"),
                   "POST %s (%d bytes): 200 with an id" % (what, len(b)), (st, ans[:300])):
            expected[a["id"]] = hs.minify(b)
            ids[what] = a["id"]
    srv.stop()
    rc, out, err = run([hs.CLI, "rotate", "-s", spool], base_env())
    ready = hs.spool_files(spool, "ready")
    T.check(rc == 0 and len(ready) == 1, "sealed into one segment", (rc, err, ready))
    if not ready:
        return None, expected, ids, []
    data = hs.read_bytes(ready[0])
    lines = data.splitlines()
    by_id = {json.loads(ln)["id"]: ln for ln in lines}
    T.check(set(by_id) == set(expected) and len(lines) == len(expected),
            "the segment holds the %d answered events" % len(expected), (len(lines),))
    T.check(b"\\ud83d" in by_id.get(ids.get("lone surrogates"), b"") and
            b'"key":["' in by_id.get(ids.get("lone surrogates"), b"") and
            b'\\u0000' in by_id.get(ids.get("a key starting with \\u0000"), b"").split(
                b',"headers":')[0],
            "the lone surrogates and the NUL are in the spooled lines and keys")
    # A torn line, cut inside the raw U+1F600 (invalid UTF-8), and a JSON
    # line that is no event: put among the others, not at the end.
    g3 = by_id.get(ids.get("good 3"), b"")
    cut = g3.find("\U0001F600".encode())
    torn = g3[:cut + 2] if cut > 0 else g3[:-20]
    alien = b'{"note":"JSON, but no hookspool event line"}'
    # An event line whose id is longer than MySQL's id column: SQLite
    # stores it, MySQL refuses the row (the loader sets it aside).
    long_id = "long-" + "i" * 300
    long_line = ('{"id":"%s","received_at":"2026-01-01T00:00:00.000Z","endpoint":"caliza",'
                 '"event":{"value":1.10}}' % long_id).encode()
    lines.insert(2, torn)
    lines.insert(5, alien)
    lines.insert(7, long_line)
    expected[long_id] = b'{"value":1.10}'
    ids["long id"] = long_id
    seg = (os.path.basename(ready[0]), b"".join(ln + b"\n" for ln in lines))
    return seg, expected, ids, [torn, alien]


def raw_member_texts(segs):
    """{id: (raw key text or None, the loaders' idempotency text)} cut out
    of the spooled lines: "ENDPOINT KEY" for a keyed line (the spool
    deduplicates per endpoint and key), the id for one without a key."""
    out = {}
    for _n, data in segs:
        for ln in data.splitlines():
            o = json.loads(ln)
            k = None
            if "key" in o:
                m = re.search(rb',"key":(\[.*?\]),"headers":', ln)
                k = m.group(1).decode() if m else None
            out[o["id"]] = (k, "%s %s" % (o.get("endpoint") or "", k) if k is not None else o["id"])
    return out


def new_spool(tmp, name, segs):
    """A fresh spool tree holding copies of the sealed segments in ready/."""
    root = tmp.mkdir(name, mode=0o700)
    spool = os.path.join(root, "spool")
    for d in SUBDIRS:
        os.makedirs(os.path.join(spool, d), mode=0o700, exist_ok=True)
    put_back(spool, segs)
    return spool


def put_back(spool, segs):
    for n, data in segs:
        p = os.path.join(spool, "ready", n)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, 0o600)


def consume(spool, loader_argv, env):
    return run([hs.CLI, "consume", "-s", spool, "--"] + loader_argv, env)


def check_consumed(T, what, spool, segs, res):
    rc, out, err = res
    got = sorted(os.path.basename(l) for l in out.decode("utf-8", "replace").splitlines())
    T.check(rc == 0, "%s: consume exits 0" % what, (rc, err[-800:]))
    T.check(got == sorted(n for n, _ in segs),
            "%s: consume printed every segment's path" % what, (got, out[-300:]))
    T.check(err == b"", "%s: nothing on stderr (cron mails nothing)" % what, err[-800:])
    left = {d: hs.spool_files(spool, d) for d in ("ready", "claimed", "failed")}
    T.check(not any(left.values()), "%s: every segment loaded and deleted" % what, left)


def check_failed(T, what, spool, segs, res):
    rc, out, err = res
    T.check(rc not in (0, None), "%s: consume exits non-zero" % what, (rc, out, err[-500:]))
    T.check(err != b"", "%s: the failure is on stderr (cron mails it)" % what)
    back = {os.path.basename(p): hs.read_bytes(p) for p in hs.spool_files(spool, "ready")}
    T.check(back == dict(segs), "%s: every segment back in ready/, unchanged" % what,
            sorted(back))
    left = {d: hs.spool_files(spool, d) for d in ("claimed", "failed")}
    T.check(not any(left.values()), "%s: nothing left in claimed/ or failed/" % what, left)


def check_rows(T, what, rows, expected, keys, money_rid):
    """rows: [(key_or_id, id, key text or None, event bytes)]."""
    ids = [r[1] for r in rows]
    T.check(len(rows) == len(expected) and set(ids) == set(expected),
            "%s: %d rows, exactly the answered events" % (what, len(expected)),
            (len(rows), len(expected), sorted(set(ids) ^ set(expected))[:5]))
    bad_ev = [r[1] for r in rows if expected.get(r[1]) != r[3]]
    T.check(not bad_ev, "%s: every event stored byte for byte as spooled" % what,
            [(i, next((r[3][:200] for r in rows if r[1] == i), None),
              expected.get(i, b"")[:200]) for i in bad_ev[:2]])
    # The money event was answered twice with an id: once on the main
    # endpoint, once on the second one (same key, other endpoint).
    money = [r for r in rows if money_rid.encode() in r[3]]
    n_money = sum(1 for b in expected.values() if money_rid.encode() in b)
    T.check(n_money == 2 and len(money) == n_money and
            all(b'"value":500.00' in m[3] and b'"value":14.80' in m[3] for m in money),
            "%s: 500.00 and 14.80 stored as sent, in both endpoints' rows" % what,
            [m[3][:300] for m in money])
    bad_key = [r for r in rows if r[2] != keys.get(r[1], (None, None))[0] or
               r[0] != keys.get(r[1], (None, None))[1]]
    T.check(not bad_key, "%s: keyed by the line's endpoint and key text, or its id without "
            "a key" % what, bad_key[:3])


def sha3(line):
    return hashlib.sha3_256(line).hexdigest()


def check_mixed(T, what, spool, seg, argv, env, read_rows, read_rejects, expected, rejected):
    """Load the mixed segment twice under consume. read_rows() gives
    [(idempotency text, id, key text, event bytes)], read_rejects()
    [(line_sha3, line bytes, reason)], one per set-aside line. expected:
    {id: event} that must be rows; rejected: the lines set aside."""
    event_lines = b"".join(ln + b"\n" for ln in seg[1].splitlines()
                           if ln not in rejected and b'"id":"' in ln[:12])
    keys = raw_member_texts([(seg[0], event_lines)])
    want_rej = {sha3(ln): ln for ln in rejected}
    first = None
    for n in (1, 2):
        label = "%s, %s run" % (what, ("first", "second")[n - 1])
        put_back(spool, [seg])
        rc, out, err = consume(spool, argv, env)
        T.check(rc == 0, "%s: consume exits 0 (the loader loaded what it could)" % label,
                (rc, err[-800:]))
        left = {d: hs.spool_files(spool, d) for d in ("ready", "claimed", "failed")}
        T.check(not any(left.values()), "%s: the segment is deleted: not requeued, not "
                "dead-lettered" % label, left)
        rows = read_rows()
        rej = read_rejects()
        if rows is None or rej is None:
            return
        ids = [r[1] for r in rows]
        T.check(len(ids) == len(set(ids)) and set(ids) == set(expected),
                "%s: every event it can store is a row, once (%d)" % (label, len(expected)),
                (len(ids), sorted(set(ids) ^ set(expected))))
        bad = [r[1] for r in rows if expected.get(r[1]) != r[3]]
        T.check(not bad, "%s: each event byte for byte as spooled (lone surrogates and "
                "\\u0000 escapes as sent)" % label,
                [(i, next(r[3][:200] for r in rows if r[1] == i)) for i in bad[:2]])
        bad = [r for r in rows if (r[2], r[0]) != keys.get(r[1])]
        T.check(not bad, "%s: keyed by endpoint and key text as spooled, or the id" % label,
                (bad[:2], keys))
        got = {r[0]: r[1] for r in rej}
        T.check(len(rej) == len(got) == len(want_rej) and got == want_rej,
                "%s: the %d lines it cannot store are in rejects, once each, byte for byte"
                % (label, len(want_rej)),
                ([(h, want_rej.get(h, b"")[:80], got.get(h, b"")[:80])
                  for h in set(got) | set(want_rej) if got.get(h) != want_rej.get(h)][:3],
                 len(rej)))
        T.check(all(r[2] for r in rej), "%s: each reject says why" % label,
                [r[::2] for r in rej])
        elines = err.decode("utf-8", "replace").splitlines()
        T.check(len(elines) == len(want_rej) and
                all(sum(1 for e in elines if h in e and "set aside" in e) == 1
                    for h in want_rej),
                "%s: stderr (cron's mail) names each set-aside line once, and nothing else"
                % label, elines)
        if first is None:
            first = (rows, rej)
        else:
            T.check((rows, rej) == first, "%s: nothing doubled or changed" % label)


# ---------------------------------------------------------------- SQLite

def sqlite_rows(db):
    con = sqlite3.connect(db)
    try:
        con.text_factory = bytes
        rows = con.execute(
            "SELECT key_or_id, id, key, event, received_at, endpoint, headers "
            "FROM events ORDER BY key_or_id").fetchall()
    finally:
        con.close()
    dec = (lambda v: None if v is None else v.decode())
    return [(dec(r[0]), dec(r[1]), dec(r[2]), r[3], dec(r[4]), dec(r[5]), dec(r[6]))
            for r in rows]


def section_sqlite(T, tmp, name, argv, expected, segs, keys, lines, money_rid):
    T.section("%s under hookspool consume" % name)
    spool = new_spool(tmp, "run-" + name, segs)
    db = tmp.join("run-" + name, "events.db")
    env = base_env(HOOKSPOOL_DB=db)
    t0 = time.monotonic()
    check_consumed(T, name, spool, segs, consume(spool, argv, env))
    T.note("%s loaded %d segments in %.2f s" % (name, len(segs), time.monotonic() - t0))
    rows = sqlite_rows(db)
    check_rows(T, name, [r[:4] for r in rows], expected, keys, money_rid)
    meta_ok = all(r[4] == lines[r[1]].get("received_at") and r[5] == lines[r[1]].get("endpoint")
                  and json.loads(r[6]) == lines[r[1]].get("headers") for r in rows
                  if r[1] in lines)
    T.check(meta_ok, "%s: received_at, endpoint, headers as in the line" % name)

    put_back(spool, segs)
    check_consumed(T, name + " again", spool, segs, consume(spool, argv, env))
    T.check(sqlite_rows(db) == rows, "%s: the same segments again: no new or changed row" % name)

    # One segment twice in one run, beside the others: still no change.
    put_back(spool, segs[:1])
    with open(os.path.join(spool, "ready", "20000101T000000Z-copy-x.jsonl"), "wb") as f:
        f.write(segs[0][1])
    res = consume(spool, argv, env)
    T.check(res[0] == 0 and sqlite_rows(db) == rows,
            "%s: a segment loaded twice in one run: no change" % name, res[2][-300:])

    # A loader that cannot write its database: consume fails, requeues.
    spool2 = new_spool(tmp, "fail-" + name, segs)
    notdir = tmp.write("fail-%s/not-a-dir" % name, b"x")
    res = consume(spool2, argv, base_env(HOOKSPOOL_DB=os.path.join(notdir, "events.db")))
    check_failed(T, name + " with an unwritable database", spool2, segs, res)

    # A torn line: set aside in rejects; the rest of its segment and the
    # other segment load, and both segments are done (issue 13 item 3:
    # one line never holds back or dead-letters the others).
    spool3 = new_spool(tmp, "bad-" + name, [])
    good_n, good = segs[0]
    bad_n, bad = segs[1]
    lines1 = bad.splitlines(keepends=True)
    torn = lines1[-1][:-20]
    broken = b"".join(lines1[:-1]) + torn + b"\n"
    put_back(spool3, [(good_n, good), (bad_n, broken)])
    db3 = tmp.join("bad-" + name, "events.db")
    rc, out, err = consume(spool3, argv, base_env(HOOKSPOOL_DB=db3))
    got = sqlite_rows(db3)
    want = {json.loads(l)["id"] for l in good.splitlines() + lines1[:-1]}
    T.check(rc == 0 and {r[1] for r in got} == want and len(got) == len(want) and
            not any(hs.spool_files(spool3, d) for d in ("ready", "claimed", "failed")),
            "%s: a segment with a torn line: its other lines and the other segment load, "
            "both segments done" % name,
            (rc, len(got), len(want), hs.spool_files(spool3, "ready"), err[-300:]))
    T.check([r[:2] for r in sqlite_rejects(db3)] == [(sha3(torn), torn)] and
            sha3(torn).encode() in err,
            "%s: the torn line is in rejects and named on stderr" % name, err[-300:])


def sqlite_rejects(db):
    con = sqlite3.connect(db)
    try:
        con.text_factory = bytes
        rows = con.execute("SELECT line_sha3, line, reason FROM rejects "
                           "ORDER BY line_sha3").fetchall()
    except sqlite3.Error as e:
        return [("(%s)" % e, b"", b"")]
    finally:
        con.close()
    return [(r[0].decode(), bytes(r[1]), r[2]) for r in rows]


def section_sqlite_mixed(T, tmp, name, argv, mixed):
    seg, expected, _ids, rejected = mixed
    T.section("%s: a segment with lines that once stopped the loaders" % name)
    spool = new_spool(tmp, "mixed-" + name, [])
    db = tmp.join("mixed-" + name, "events.db")
    check_mixed(T, name, spool, seg, argv, base_env(HOOKSPOOL_DB=db),
                lambda: [r[:4] for r in sqlite_rows(db)], lambda: sqlite_rejects(db),
                expected, rejected)

    # A segment holding a 0x1F or NUL byte, which hookspool never writes
    # (JSON escapes control characters): sqlite3's .import cannot read such
    # a line whole, so load-sqlite.sh refuses the file and loads nothing;
    # load-sqlite.py sets those lines aside like any other.
    lines = [ln for ln in seg[1].splitlines(keepends=True) if ln[:-1] not in rejected]
    odd = [b'{"note":"a unit separator \x1f raw"}', b'{"note":"a NUL \x00 raw"}']
    seg2 = ("20000101T000000Z-odd-x.jsonl", b"".join(lines[:2]) + odd[0] + b"\n" +
            lines[2] + odd[1] + b"\n")
    spool2 = new_spool(tmp, "odd-" + name, [seg2])
    db2 = tmp.join("odd-" + name, "events.db")
    res = consume(spool2, argv, base_env(HOOKSPOOL_DB=db2))
    if name == "load-sqlite.sh":
        check_failed(T, name + " on a segment holding 0x1F and NUL bytes", spool2, [seg2], res)
        T.check(not os.path.exists(db2) or not sqlite_rows(db2),
                "%s: nothing of it loaded" % name)
    else:
        rej = sqlite_rejects(db2)
        T.check(res[0] == 0 and [r[1] for r in rej] == sorted(odd, key=sha3) and
                len(sqlite_rows(db2)) == 3,
                "%s: lines holding 0x1F and NUL bytes are set aside, byte for byte, "
                "the others load" % name, (res, rej))


def section_parallel(T, tmp, expected, segs):
    """Two consumes at once (cron runs overlapping), both loading into one
    SQLite file: each segment is taken by one of them, every event lands
    once, neither fails on the other's lock."""
    T.section("two consumes at once into one SQLite file")
    spool = new_spool(tmp, "parallel", segs)
    db = tmp.join("parallel", "events.db")
    res = [None, None]

    def one(i, argv):
        res[i] = consume(spool, argv, base_env(HOOKSPOOL_DB=db))

    threads = [threading.Thread(target=one, args=(0, [LOAD_SH])),
               threading.Thread(target=one, args=(1, [LOAD_PY]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RUN_TIMEOUT + 10)
    T.check(all(r is not None for r in res), "both consumes finished", res)
    res = [r for r in res if r is not None]
    # Two consumes starting together both open the store: neither may
    # give up (it once did, with SQLITE_BUSY while switching to WAL).
    T.check(all(r[0] == 0 and r[2] == b"" for r in res),
            "both concurrent consumes exit 0 with nothing on stderr", res)
    taken = [os.path.basename(l) for r in res
             for l in r[1].decode("utf-8", "replace").splitlines()]
    T.check(len(taken) == len(set(taken)), "no segment taken by both", taken)
    more = consume(spool, [LOAD_SH], base_env(HOOKSPOOL_DB=db))
    taken += [os.path.basename(l) for l in more[1].decode("utf-8", "replace").splitlines()]
    T.check(more[0] == 0 and sorted(taken) == sorted(n for n, _ in segs),
            "each segment loaded by exactly one consume", (more, taken))
    rows = sqlite_rows(db)
    T.check(len(rows) == len(expected) and {r[1] for r in rows} == set(expected),
            "every event loaded once", (len(rows), len(expected)))


# ---------------------------------------------------------------- MariaDB

def which(*names):
    for n in names:
        p = shutil.which(n, path=PATH)
        if p:
            return p
    return None


class MariaDB:
    """A private mariadbd: datadir and unix socket in `d`, no TCP."""

    def __init__(self, d):
        self.d = d
        self.sock = os.path.join(d, "mysql.sock")
        self.proc = None
        self.client = which("mariadb", "mysql")

    def start(self):
        install = which("mariadb-install-db", "mysql_install_db")
        server = which("mariadbd", "mysqld")
        if not (install and server and self.client):
            raise RuntimeError("MariaDB not installed (mariadb-install-db %s, mariadbd %s, "
                               "client %s)" % (install, server, self.client))
        me = pwd.getpwuid(os.getuid()).pw_name
        data = os.path.join(self.d, "data")
        rc, out, err = run([install, "--no-defaults", "--user=" + me, "--datadir=" + data,
                            "--auth-root-authentication-method=normal",
                            # no DNS look-up of this host's name, which
                            # may not resolve (a container, no network)
                            "--skip-name-resolve"],
                           base_env(), timeout=DB_START_TIMEOUT)
        if rc != 0:
            raise RuntimeError("mariadb-install-db failed (%s): %s" % (rc, (out + err)[-800:]))
        self.log = os.path.join(self.d, "mariadbd.err")
        with open(os.path.join(self.d, "mariadbd.out"), "ab") as o:
            self.proc = subprocess.Popen(
                [server, "--no-defaults", "--datadir=" + data, "--socket=" + self.sock,
                 "--skip-networking", "--pid-file=" + os.path.join(self.d, "mysqld.pid"),
                 "--user=" + me, "--log-error=" + self.log, "--tmpdir=" + self.d,
                 "--innodb-buffer-pool-size=32M", "--skip-name-resolve",
                 "--max-allowed-packet=%d" % MAX_PACKET],
                stdin=subprocess.DEVNULL, stdout=o, stderr=subprocess.STDOUT,
                env=base_env(), start_new_session=True)
        deadline = time.monotonic() + DB_START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if os.path.exists(self.sock):
                rc, out, err = self.sql("SELECT 1", db=None)
                if rc == 0:
                    return
                last = err
            time.sleep(0.2)
        raise RuntimeError("mariadbd did not answer on %s: %r %s" % (self.sock, last,
                                                                    self.tail()))

    def tail(self):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-800:].decode("utf-8", "replace")
        except (OSError, AttributeError):
            return ""

    def sql(self, query, db="hooks"):
        args = [self.client, "--no-defaults", "--socket=" + self.sock, "--user=root",
                "--batch", "--raw", "--skip-column-names", "-e", query]
        if db:
            args.append(db)
        return run(args, base_env(), timeout=60)

    def stop(self):
        p = self.proc
        if p is None:
            return
        self.proc = None
        hs.stop_group(p, DB_STOP_TIMEOUT)


def mysql_rows(T, m, db):
    rc, out, err = m.sql("SELECT uniq, id, HEX(key_json), HEX(event_json), received_at, "
                         "endpoint, headers_json FROM events ORDER BY uniq", db=db)
    if rc != 0:
        T.check(False, "read the MariaDB table", err[-500:])
        return None
    rows = []
    for ln in out.decode().splitlines():
        f = ln.split("\t")
        key = None if f[2] == "NULL" else bytes.fromhex(f[2]).decode()
        rows.append((f[0], f[1], key, bytes.fromhex(f[3]), f[4], f[5], f[6]))
    return rows


def mysql_rejects(T, m, db):
    """[(line_sha3, line, reason)], the line put together from its parts."""
    rc, out, err = m.sql("SELECT line_sha3, part, parts, HEX(line_part), reason FROM rejects "
                         "ORDER BY line_sha3, part", db=db)
    if not T.check(rc == 0, "read the MariaDB rejects table", err[-500:]):
        return None
    parts = {}
    for ln in out.decode().splitlines():
        f = ln.split("\t")
        parts.setdefault(f[0], []).append((int(f[1]), int(f[2]), bytes.fromhex(f[3]), f[4]))
    res = []
    for h, ps in sorted(parts.items()):
        whole = [p[0] for p in ps] == list(range(ps[0][1]))
        res.append((h, b"".join(p[2] for p in ps) if whole else b"(parts missing)",
                    ps[0][3]))
    return res


def section_mysql_mixed(T, tmp, m, argv, mixed):
    seg, expected, ids, rejected = mixed
    T.section("load-mysql.php: a segment with lines that once stopped the loaders")
    rc, out, err = m.sql("CREATE DATABASE hooks_mixed", db=None)
    T.check(rc == 0, "created the database", err)
    big = ids.get("5 MB")
    lines = {json.loads(ln)["id"]: ln for ln in seg[1].splitlines()
             if ln not in rejected and ln.startswith(b'{"id":"')}
    # max_allowed_packet is below the 5 MB event: it cannot be a row.
    want = {i: e for i, e in expected.items() if i not in (big, ids.get("long id"))}
    keys = raw_member_texts([("", b"\n".join(lines.values()))])
    spool = new_spool(tmp, "mixed-php", [])

    def rows():
        r = mysql_rows(T, m, "hooks_mixed")
        if r is None:
            return None
        # uniq is sha256 of the idempotency text: check_mixed wants the text.
        out = []
        for x in r:
            k = keys.get(x[1])
            u = k[1] if k and hashlib.sha256(k[1].encode()).hexdigest() == x[0] else x[0]
            out.append((u, x[1], x[2], x[3]))
        return out

    check_mixed(T, "load-mysql.php", spool, seg, argv, php_env(m, "hooks_mixed"), rows,
                lambda: mysql_rejects(T, m, "hooks_mixed"), want,
                rejected + [lines.get(big, b"(no 5 MB line)"),
                            lines.get(ids.get("long id"), b"(no long id line)")])


def php_env(m, db, **kw):
    return base_env(HOOKSPOOL_PDO_DSN="mysql:unix_socket=%s;dbname=%s" % (m.sock, db),
                    HOOKSPOOL_PDO_USER="root", HOOKSPOOL_PDO_PASSWORD="", **kw)


def section_mysql(T, tmp, expected, segs, keys, lines, money_rid, mixed):
    T.section("load-mysql.php (PHP + PDO) into a private MariaDB under hookspool consume")
    php = which("php")
    if not T.check(php is not None, "php (PHP CLI) installed", "apt-get install php-cli php-mysql"):
        return
    rc, out, err = run([php, "-r", 'exit(extension_loaded("pdo_mysql") ? 0 : 1);'], base_env())
    if not T.check(rc == 0, "PHP has pdo_mysql", "apt-get install php-mysql"):
        return
    m = MariaDB(tmp.mkdir("mariadb", mode=0o700))
    T.on_cleanup("mariadbd", m.stop)
    try:
        m.start()
    except RuntimeError as e:
        T.check(False, "private MariaDB started (apt-get install mariadb-server)", str(e))
        return
    rc, out, err = m.sql("SELECT @@skip_networking, @@max_allowed_packet", db=None)
    T.check(rc == 0 and out.split() == [b"1", str(MAX_PACKET).encode()],
            "private MariaDB answers on its unix socket, no TCP, max_allowed_packet %d"
            % MAX_PACKET, (rc, out, err))
    rc, out, err = m.sql("CREATE DATABASE hooks; CREATE DATABASE hooks_cron", db=None)
    T.check(rc == 0, "created the databases", err)

    argv = [php, LOAD_PHP]
    env = php_env(m, "hooks")
    spool = new_spool(tmp, "run-php", segs)
    t0 = time.monotonic()
    check_consumed(T, "load-mysql.php", spool, segs, consume(spool, argv, env))
    T.note("load-mysql.php loaded %d segments in %.2f s" % (len(segs), time.monotonic() - t0))
    rows = mysql_rows(T, m, "hooks")
    if rows is None:
        return
    # uniq is sha256 of "ENDPOINT KEY" or of the id; check_rows wants the
    # text itself.
    want = {i: u for i, (_k, u) in keys.items()}
    bad_uniq = [r for r in rows if r[1] not in want or
                r[0] != hashlib.sha256(want[r[1]].encode()).hexdigest()]
    T.check(not bad_uniq, "load-mysql.php: uniq is sha256 of endpoint and key, or of the id",
            bad_uniq[:2])
    check_rows(T, "load-mysql.php",
               [(want.get(r[1]) if hashlib.sha256(want.get(r[1], "").encode()).hexdigest() == r[0]
                 else r[0], r[1], r[2], r[3]) for r in rows],
               expected, keys, money_rid)
    meta_ok = all(r[4] == lines[r[1]].get("received_at") and r[5] == lines[r[1]].get("endpoint")
                  and json.loads(r[6]) == lines[r[1]].get("headers") for r in rows
                  if r[1] in lines)
    T.check(meta_ok, "load-mysql.php: received_at, endpoint, headers as in the line")

    put_back(spool, segs)
    check_consumed(T, "load-mysql.php again", spool, segs, consume(spool, argv, env))
    T.check(mysql_rows(T, m, "hooks") == rows,
            "load-mysql.php: the same segments again: no new or changed row")

    # A database that does not exist: consume fails and requeues.
    spool2 = new_spool(tmp, "fail-php", segs)
    res = consume(spool2, argv, php_env(m, "no_such_db"))
    check_failed(T, "load-mysql.php with a missing database", spool2, segs, res)
    # A torn line: set aside in rejects, the rest of the segment loads.
    spool3 = new_spool(tmp, "bad-php", [])
    lines1 = segs[1][1].splitlines(keepends=True)
    torn = lines1[-1][:-20]
    put_back(spool3, [(segs[1][0], b"".join(lines1[:-1]) + torn + b"\n")])
    m.sql("CREATE DATABASE hooks_bad", db=None)
    rc, out, err = consume(spool3, argv, php_env(m, "hooks_bad"))
    n = m.sql("SELECT COUNT(*) FROM events", db="hooks_bad")
    T.check(rc == 0 and n[0] == 0 and n[1].strip() == str(len(lines1) - 1).encode() and
            not any(hs.spool_files(spool3, d) for d in ("ready", "claimed", "failed")),
            "load-mysql.php: a segment with a torn line: its other lines load, the segment "
            "is done", (rc, n, err[-300:]))
    rej = mysql_rejects(T, m, "hooks_bad")
    T.check(rej is not None and [r[:2] for r in rej] == [(sha3(torn), torn)] and
            sha3(torn).encode() in err,
            "load-mysql.php: the torn line is in rejects and named on stderr",
            (rej and [r[:2] for r in rej], err[-300:]))

    section_mysql_mixed(T, tmp, m, argv, mixed)

    section_crontab(T, tmp, expected, segs, only="php", mariadb=m)


# ---------------------------------------------------------------- crontab

def crontab_jobs():
    """(variables, [(command, active)]) of crontab.example; commented-out
    jobs count too (a user picks one)."""
    env, jobs = {}, []
    with open(CRONTAB) as f:
        for ln in f:
            ln = ln.rstrip("\n")
            m = re.match(r"^([A-Z_]+)=(.*)$", ln)
            if m:
                env[m.group(1)] = m.group(2)
                continue
            m = re.match(r"^(#)?(\S+\s+\S+\s+\S+\s+\S+\s+\S+)\s+(.*\bhookspool\s+\w+.*)$", ln)
            if m and re.match(r"^[*/0-9,-]+(\s+[*/0-9,-]+){4}$", m.group(2)):
                jobs.append((m.group(3), m.group(1) is None))
    return env, jobs


def section_crontab(T, tmp, expected, segs, only, mariadb=None):
    """Run the crontab.example lines as cron would: sh -c, with the
    crontab's variables, HOME a fresh home holding the spool, the
    programs in $HOME/hookspool/ and the spool in $HOME/spool."""
    env_lines, jobs = crontab_jobs()
    consumes = [(c, a) for c, a in jobs if " consume " in c]
    if only == "sqlite":
        T.section("crontab.example lines, run as cron would")
        T.check(len(consumes) == 3 and sum(a for _c, a in consumes) == 1,
                "crontab.example: three consume lines (sh, python, php), one active",
                consumes)
        T.check(any(" requeue " in c for c, a in jobs if a),
                "crontab.example: an active requeue line", jobs)
        T.check(env_lines.get("HOOKSPOOL_UMASK") == "007" and "PATH" in env_lines,
                "crontab.example sets PATH and HOOKSPOOL_UMASK=007", env_lines)
    for cmd, _active in consumes:
        kind = "php" if "load-mysql.php" in cmd else "sqlite"
        if kind != only:
            continue
        home = tmp.mkdir("home-%d" % len(os.listdir(tmp.path)), mode=0o700)
        prog = os.path.join(home, "hookspool")
        os.makedirs(prog)
        for src in (hs.CLI, LOAD_SH, LOAD_PY, LOAD_PHP):
            shutil.copy2(src, prog)
        spool = os.path.join(home, "spool")
        for d in SUBDIRS:
            os.makedirs(os.path.join(spool, d), mode=0o700)
        put_back(spool, segs)
        env = {k: v.replace("/home/USER", home) for k, v in env_lines.items()}
        env.update(HOME=home, SHELL="/bin/sh", LOGNAME="root", LANG="C")
        env.pop("MAILTO", None)
        # cron's PATH holds only /usr/bin:/bin; the crontab's PATH line is
        # what must make hookspool (and php) found. Tools in /usr/sbin are
        # not needed by any loader.
        if kind == "php":
            with open(os.path.join(prog, "mysql.env"), "w") as f:
                f.write("export HOOKSPOOL_PDO_DSN='mysql:unix_socket=%s;dbname=hooks_cron'\n"
                        "export HOOKSPOOL_PDO_USER='root'\nexport HOOKSPOOL_PDO_PASSWORD=''\n"
                        % mariadb.sock)
            os.chmod(os.path.join(prog, "mysql.env"), 0o600)
        what = "crontab line %s" % re.sub(r"^.*-- ", "", cmd).split(">")[0].strip()
        rc, out, err = run(["/bin/sh", "-c", cmd], env, cwd=home)
        T.check(rc == 0 and out == b"" and err == b"",
                "%s: exits 0 and prints nothing (no cron mail)" % what, (rc, out, err[-500:]))
        T.check(not hs.spool_files(spool, "ready") and not hs.spool_files(spool, "claimed"),
                "%s: the spool is emptied" % what)
        if kind == "php":
            rc, out, err = mariadb.sql("SELECT COUNT(*) FROM events", db="hooks_cron")
            n = int(out.strip() or -1) if rc == 0 else -1
        else:
            n = len(sqlite_rows(os.path.join(home, "hookspool.db")))
        T.check(n == len(expected), "%s: %d events loaded" % (what, len(expected)),
                (n, len(expected)))


# ---------------------------------------------------------------- main

def main(T):
    for p in (LOAD_SH, LOAD_PY, LOAD_PHP, CRONTAB):
        T.check(os.path.isfile(p), "deploy/cron/%s exists" % os.path.basename(p))
    T.check(os.access(LOAD_SH, os.X_OK) and os.access(LOAD_PY, os.X_OK),
            "the loaders are executable")
    tmp = T.tempdir()
    spool, expected, segs, lines, money_rid = fill_spool(T, tmp)
    if not expected or not segs:
        T.check(False, "events to load")
        return
    keys = raw_member_texts(segs)
    mixed = fill_mixed(T, tmp)
    # Each section on its own: one that crashes counts as a failure and
    # the others still run (the PHP part must never be skipped silently).
    sections = [
        ("load-sqlite.sh", lambda: section_sqlite(T, tmp, "load-sqlite.sh", [LOAD_SH], expected,
                                                  segs, keys, lines, money_rid)),
        ("load-sqlite.py", lambda: section_sqlite(T, tmp, "load-sqlite.py", [LOAD_PY], expected,
                                                  segs, keys, lines, money_rid)),
        ("load-sqlite.sh mixed", lambda: section_sqlite_mixed(T, tmp, "load-sqlite.sh",
                                                              [LOAD_SH], mixed)),
        ("load-sqlite.py mixed", lambda: section_sqlite_mixed(T, tmp, "load-sqlite.py",
                                                              [LOAD_PY], mixed)),
        ("parallel", lambda: section_parallel(T, tmp, expected, segs)),
        ("crontab", lambda: section_crontab(T, tmp, expected, segs, only="sqlite")),
        ("load-mysql.php", lambda: section_mysql(T, tmp, expected, segs, keys, lines, money_rid,
                                                 mixed)),
    ]
    for name, fn in sections:
        try:
            fn()
        except Exception:
            T.check(False, "section %s crashed" % name, traceback.format_exc())


if __name__ == "__main__":
    hs.Suite("test_cron").run(main)
