"""
test_events.py - issue 19: `hookspool events`, `show`, the archive
(HOOKSPOOL_ARCHIVE_SECONDS) and `replay`, through real lighttpd with
hookspool.fcgi writing the spool:

1. events lists every stored line as it is on disk (active/, ready/,
   claimed/); --key (one value of the key), --id, --endpoint, --table;
   show ID prints the line, an unknown id exits 1.
2. --since / --until against a segment named (and its event stamped) in
   2020: a duration leaves it out, an RFC 3339 --until finds only it.
3. events and show write nothing: the tree (names, sizes, modes, mtimes)
   is unchanged, also when run as nobody on a 0755 spool
   (HOOKSPOOL_UMASK=022), who may not write it.
4. With HOOKSPOOL_ARCHIVE_SECONDS, done keeps the segment in archive/ as
   gzip (its bytes decompress to the segment's), the status counts
   archive_bytes, events still finds its events; replay --key puts a new
   -replay segment in ready/ whose line has the same id and a
   replayed_at; claim and rotate delete an archived segment past the
   retention and keep a fresh one.
"""
import gzip
import json
import os
import pwd
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402


def cli(args, env=None, user=None):
    e = hs.cli_env(**(env or {}))
    pre = []
    if user:
        pre = ["setpriv", "--reuid", user, "--regid", "nogroup" if user == "nobody" else user, "--clear-groups"]
    return subprocess.run(pre + [hs.CLI] + args, env=e, capture_output=True, timeout=60)


def tree(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mode, st.st_mtime_ns, st.st_uid)
    return out


def post_events(T, srv, n):
    rids, ids = [], []
    for _ in range(n):
        body, rid = hs.caliza_event()
        st, a, raw, _h = hs.post_signed(srv, body)
        T.check(st == 200 and a and a.get("ok"), "POST accepted", raw)
        rids.append(rid)
        ids.append((a or {}).get("id"))
    return rids, ids


def section_list(T, tmp):
    sp = os.path.join(tmp.path, "s1")
    srv = T.server(tmp, env=hs.receiver_env(sp), name="s1")
    rids, ids = post_events(T, srv, 3)
    T.check(cli(["rotate", "-s", sp]).returncode == 0, "rotate")
    r2, i2 = post_events(T, srv, 3)
    rids += r2
    ids += i2
    claimed = cli(["claim", "-s", sp, "-n", "1"]).stdout.decode().split()
    T.check(len(claimed) == 1, "one segment claimed", claimed)
    disk = hs.spool_lines(sp, ("claimed", "ready", "active"))
    r = cli(["events", "-s", sp])
    got = r.stdout.decode().splitlines()
    T.check(r.returncode == 0 and sorted(got) == sorted(ln.decode().rstrip("\n") for _p, ln in disk),
            "events prints every stored line as stored", (r.returncode, len(got), len(disk)))
    T.check([json.loads(l)["id"] for l in got] == ids, "in id order")
    r = cli(["events", "-s", sp, "--key", rids[4]])
    got = r.stdout.decode().splitlines()
    T.check(len(got) == 1 and json.loads(got[0])["id"] == ids[4], "--key one value of the key", got)
    r = cli(["events", "-s", sp, "--key", json.dumps(["TRANSACTION_COMPLETED", rids[1]],
                                                     separators=(",", ":"))])
    T.check(len(r.stdout.decode().splitlines()) == 1, "--key the key's whole JSON")
    r = cli(["events", "-s", sp, "--id", ids[2]])
    T.check(len(r.stdout.decode().splitlines()) == 1, "--id")
    T.check(cli(["events", "-s", sp, "--endpoint", "nope"]).stdout == b"", "--endpoint other: none")
    T.check(len(cli(["events", "-s", sp, "--endpoint", "caliza"]).stdout.splitlines()) == 6,
            "--endpoint caliza: all")
    r = cli(["events", "-s", sp, "--table"])
    rows = r.stdout.decode().splitlines()
    T.check(len(rows) == 6 and rows[0].split()[0] == ids[0] and rids[0] in rows[0],
            "--table: id ... key", rows[:1])
    r = cli(["show", "-s", sp, ids[3]])
    T.check(r.returncode == 0 and json.loads(r.stdout)["id"] == ids[3], "show ID", r.stderr)
    r = cli(["show", "-s", sp, ids[3][:-1] + ("0" if ids[3][-1] != "0" else "1")])
    T.check(r.returncode == 1 and b"no such event" in r.stderr, "show: unknown id exits 1", r)
    T.check(cli(["events", "-s", sp, "--since", "yesterday"]).returncode == 2, "bad --since: usage")
    return sp, ids


def section_times(T, sp, ids):
    old = "20200101T000000Z-elsewhere-000001.jsonl"
    line = ('{"id":"20200101T000000.000001Z-0123456789ab","received_at":"2020-01-01T00:00:00.000Z",'
            '"endpoint":"caliza","headers":{},"event":{"old":true}}\n')
    p = os.path.join(sp, "ready", old)
    with open(p, "w") as f:
        f.write(line)
    os.chmod(p, 0o600)
    r = cli(["events", "-s", sp, "--since", "2h"])
    got = [json.loads(l)["id"] for l in r.stdout.decode().splitlines()]
    T.check(got == ids, "--since 2h leaves the 2020 event out", got)
    r = cli(["events", "-s", sp, "--until", "2021-01-01T00:00:00Z"])
    got = [json.loads(l)["id"] for l in r.stdout.decode().splitlines()]
    T.check(got == ["20200101T000000.000001Z-0123456789ab"], "--until 2021: only it", got)
    r = cli(["events", "-s", sp, "--since", "2019-12-31T23:59:59Z", "--until",
             "2020-01-01T00:00:00.000001Z"])
    T.check(len(r.stdout.splitlines()) == 1, "a range of one microsecond holds it")


def section_readonly(T, tmp, sp, ids):
    before = tree(sp)
    cli(["events", "-s", sp])
    cli(["show", "-s", sp, ids[0]])
    cli(["events", "-s", sp, "--table", "--since", "1d"])
    T.check(tree(sp) == before, "events and show change nothing in the tree")
    # As nobody on a 0755 spool: can read, may not write.
    sp2 = os.path.join(tmp.path, "ro")
    env = hs.receiver_env(sp2, HOOKSPOOL_UMASK="022")
    srv = T.server(tmp, env=env, name="ro", umask=0o022)
    _r, rid_ids = post_events(T, srv, 2)
    os.chmod(tmp.path, 0o755)
    before = tree(sp2)
    r = cli(["events", "-s", sp2], env={"HOOKSPOOL_UMASK": "022"}, user="nobody")
    got = [json.loads(l)["id"] for l in r.stdout.decode().splitlines()]
    T.check(r.returncode == 0 and got == rid_ids, "events as nobody (no write access)",
            (r.returncode, r.stderr))
    r = cli(["show", "-s", sp2, rid_ids[1]], env={"HOOKSPOOL_UMASK": "022"}, user="nobody")
    T.check(r.returncode == 0, "show as nobody", r.stderr)
    T.check(tree(sp2) == before, "nothing changed by nobody's reads")
    os.chmod(tmp.path, 0o700)


def section_archive(T, tmp):
    sp = os.path.join(tmp.path, "arch")
    env = {"HOOKSPOOL_ARCHIVE_SECONDS": "3600"}
    srv = T.server(tmp, env=hs.receiver_env(sp, HOOKSPOOL_STATUS_TOKEN="tok"), name="arch")
    rids, ids = post_events(T, srv, 3)
    cli(["rotate", "-s", sp])
    seg = cli(["claim", "-s", sp]).stdout.decode().split()
    T.check(len(seg) == 1, "claimed", seg)
    raw = open(seg[0], "rb").read()
    r = cli(["done", "-s", sp] + seg, env=env)
    name = os.path.basename(seg[0])
    gz = os.path.join(sp, "archive", name + ".gz")
    T.check(r.returncode == 0 and not os.path.exists(seg[0]) and os.path.exists(gz),
            "done keeps it as archive/NAME.gz", r.stderr)
    T.check(gzip.decompress(open(gz, "rb").read()) == raw, "the archive is the segment, gzip")
    T.check(hs.mode_of(gz) == 0o600, "archive file mode 0600 (HOOKSPOOL_UMASK 077)", oct(hs.mode_of(gz)))
    st, _h, b = srv.get(headers={"Authorization": "Bearer tok"})
    ab = json.loads(b).get("spool", {}).get("archive_bytes")
    T.check(ab == os.path.getsize(gz), "status counts archive_bytes", ab)
    r = cli(["events", "-s", sp])
    T.check([json.loads(l)["id"] for l in r.stdout.decode().splitlines()] == ids,
            "events reads the archive")
    r = cli(["replay", "-s", sp, "--key", rids[1]], env=env)
    out = r.stdout.decode().split()
    T.check(r.returncode == 0 and len(out) == 1 and out[0].endswith("-replay.jsonl") and
            os.path.dirname(out[0]) == os.path.join(sp, "ready"), "replay: a new segment in ready/",
            (r.returncode, out, r.stderr))
    if out:
        lines = open(out[0]).read().splitlines()
        ev = json.loads(lines[0]) if lines else {}
        T.check(len(lines) == 1 and ev.get("id") == ids[1] and hs.TS_RE.match(ev.get("replayed_at", "")),
                "the replayed line keeps its id and says when", lines)
        orig = [l for l in raw.decode().splitlines() if json.loads(l)["id"] == ids[1]][0]
        T.check(json.loads(orig)["event"] == ev.get("event") and
                json.loads(orig)["key"] == ev.get("key"), "event and key kept")
        T.check(hs.mode_of(out[0]) == 0o600, "replayed segment mode 0600")
    T.check(cli(["replay", "-s", sp, "--key", "none-such"], env=env).stdout == b"",
            "replay without a match writes nothing")
    # Retention: an archive 2 h old goes at claim; a fresh one stays.
    old = time.time() - 7200
    os.utime(gz, (old, old))
    post_events(T, srv, 1)
    cli(["rotate", "-s", sp])
    seg2 = cli(["claim", "-s", sp], env=env).stdout.decode().split()
    T.check(not os.path.exists(gz), "claim deletes an archive past the retention")
    cli(["done", "-s", sp] + seg2, env=env)
    left = sorted(os.listdir(os.path.join(sp, "archive")))
    T.check(len(left) == len(seg2) and all(n.endswith(".jsonl.gz") for n in left),
            "the fresh ones stay", left)
    for n in left:
        p = os.path.join(sp, "archive", n)
        os.utime(p, (old, old))
    r = cli(["rotate", "-s", sp], env=env)
    T.check(r.returncode == 0 and os.listdir(os.path.join(sp, "archive")) == [],
            "rotate deletes them past the retention", r.stderr)
    # Without the setting, done deletes as before.
    post_events(T, srv, 1)
    cli(["rotate", "-s", sp])
    seg3 = cli(["claim", "-s", sp]).stdout.decode().split()
    cli(["done", "-s", sp] + seg3)
    T.check(os.listdir(os.path.join(sp, "archive")) == [], "no retention: nothing archived")


def main(T):
    tmp = T.tempdir()
    sp, ids = section_list(T, tmp)
    section_times(T, sp, ids)
    section_readonly(T, tmp, sp, ids)
    section_archive(T, tmp)


if __name__ == "__main__":
    hs.Suite("test_events").run(main)
