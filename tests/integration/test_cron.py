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
import signal
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


def base_env(**kw):
    env = {"PATH": PATH, "LANG": "C", "HOME": "/nonexistent-home"}
    env.update({k: v for k, v in kw.items() if v is not None})
    return env


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

    # A broken line: that segment fails whole (nothing of it loaded), the
    # others load; it is back in ready/.
    spool3 = new_spool(tmp, "bad-" + name, [])
    good_n, good = segs[0]
    bad_n, bad = segs[1]
    lines1 = bad.splitlines(keepends=True)
    broken = b"".join(lines1[:-1]) + lines1[-1][:-20] + b"\n"
    put_back(spool3, [(good_n, good), (bad_n, broken)])
    db3 = tmp.join("bad-" + name, "events.db")
    rc, out, err = consume(spool3, argv, base_env(HOOKSPOOL_DB=db3))
    got = sqlite_rows(db3)
    want = {json.loads(l)["id"] for l in good.splitlines()}
    T.check(rc not in (0, None) and {r[1] for r in got} == want and
            [os.path.basename(p) for p in hs.spool_files(spool3, "ready")] == [bad_n],
            "%s: a segment with a torn line is not loaded at all and goes back to ready/" % name,
            (rc, len(got), len(want), hs.spool_files(spool3, "ready"), err[-300:]))


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
                            "--auth-root-authentication-method=normal"],
                           base_env(), timeout=DB_START_TIMEOUT)
        if rc != 0:
            raise RuntimeError("mariadb-install-db failed (%s): %s" % (rc, (out + err)[-800:]))
        self.log = os.path.join(self.d, "mariadbd.err")
        with open(os.path.join(self.d, "mariadbd.out"), "ab") as o:
            self.proc = subprocess.Popen(
                [server, "--no-defaults", "--datadir=" + data, "--socket=" + self.sock,
                 "--skip-networking", "--pid-file=" + os.path.join(self.d, "mysqld.pid"),
                 "--user=" + me, "--log-error=" + self.log, "--tmpdir=" + self.d,
                 "--innodb-buffer-pool-size=32M"],
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
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=DB_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=DB_STOP_TIMEOUT)


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


def php_env(m, db, **kw):
    return base_env(HOOKSPOOL_PDO_DSN="mysql:unix_socket=%s;dbname=%s" % (m.sock, db),
                    HOOKSPOOL_PDO_USER="root", HOOKSPOOL_PDO_PASSWORD="", **kw)


def section_mysql(T, tmp, expected, segs, keys, lines, money_rid):
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
    T.check(True, "private MariaDB started on a unix socket, no TCP")
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
    # A torn line: that segment is not loaded at all (one transaction).
    spool3 = new_spool(tmp, "bad-php", [])
    lines1 = segs[1][1].splitlines(keepends=True)
    put_back(spool3, [(segs[1][0], b"".join(lines1[:-1]) + lines1[-1][:-20] + b"\n")])
    m.sql("CREATE DATABASE hooks_bad", db=None)
    rc, out, err = consume(spool3, argv, php_env(m, "hooks_bad"))
    n = m.sql("SELECT COUNT(*) FROM events", db="hooks_bad")
    T.check(rc not in (0, None) and n[0] == 0 and n[1].strip() == b"0" and
            len(hs.spool_files(spool3, "ready")) == 1,
            "load-mysql.php: a segment with a torn line is not loaded at all, back in ready/",
            (rc, n, err[-300:]))

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
    # Each section on its own: one that crashes counts as a failure and
    # the others still run (the PHP part must never be skipped silently).
    sections = [
        ("load-sqlite.sh", lambda: section_sqlite(T, tmp, "load-sqlite.sh", [LOAD_SH], expected,
                                                  segs, keys, lines, money_rid)),
        ("load-sqlite.py", lambda: section_sqlite(T, tmp, "load-sqlite.py", [LOAD_PY], expected,
                                                  segs, keys, lines, money_rid)),
        ("parallel", lambda: section_parallel(T, tmp, expected, segs)),
        ("crontab", lambda: section_crontab(T, tmp, expected, segs, only="sqlite")),
        ("load-mysql.php", lambda: section_mysql(T, tmp, expected, segs, keys, lines, money_rid)),
    ]
    for name, fn in sections:
        try:
            fn()
        except Exception:
            T.check(False, "section %s crashed" % name, traceback.format_exc())


if __name__ == "__main__":
    hs.Suite("test_cron").run(main)
