"""
test_dedup.py - SPEC section 6, promise 5 (dedup), and the dedup rows of
sections 2 and 4, through real lighttpd with hookspool.fcgi (max-procs 2):

1. The same signed event POSTed 10 times at once: all 200, exactly one
   with an "id", the others {"ok":true,"duplicate":true}, one line whose
   "key" is ["TRANSACTION_COMPLETED","<resourceId>"] (values as sent);
   an event with only "operation" has key [..., null]; an event with
   neither has no "key" and is never deduplicated.
   The same on 20 fresh spools at once (routes with their own
   HOOKSPOOL_SPOOL), where both processes open a new state.db together.
2. Remembered across processes and restarts: a plain CGI run of the same
   binary, then lighttpd stopped and started again on the same spool.
3. HOOKSPOOL_DEDUP_SECONDS=2: a duplicate inside the window, a new line
   after it. HOOKSPOOL_DEDUP=header:X-Request-Id, json:/data/id, off.
4. A writer killed between its append and recording the key (simulated:
   a complete line with a key appended to the active segment): the next
   POST of that key is a duplicate, also after `hookspool rotate` sealed
   such a line.
5. SIGKILL of the FastCGI processes while 4 clients deliver 50 events
   each twice (retrying): no two lines share a key, every event answered
   200 is in exactly one line.
6. A 1 MiB tmpfs spool: at least 20 accepted before the first 503 (with
   Retry-After); after sealing and deleting ready/ segments, accepted
   again; every line parses.
Every spool's SPOOL/state.db exists and passes PRAGMA integrity_check.

Lookup cost as the number of keys grows is a benchmark's matter, not
tested here.
"""
import collections
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402

DUP = {"ok": True, "duplicate": True}
ENV_PATH = hs.cli_env()


# ---------------------------------------------------------------- helpers

sig = hs.caliza_sig            # checked once against hookspool sign
base_env = hs.receiver_env
post = hs.post_signed


def lines_of(spool):
    objs, bad = hs.parse_lines(hs.spool_lines(spool, ("ready", "active", "claimed", "failed")))
    return objs, bad


def raw_lines(spool):
    return [ln for _, ln in hs.spool_lines(spool, ("ready", "active", "claimed", "failed"))]


def key_of(o):
    return json.dumps(o["key"], sort_keys=True) if "key" in o else None


def with_rid(o, rid):
    return isinstance(o.get("event"), dict) and o["event"].get("resourceId") == rid


def check_store(T, spool, label):
    db = os.path.join(spool, "state.db")
    if not T.check(os.path.isfile(db), "%s: SPOOL/state.db exists" % label, db):
        return
    res = hs.store_integrity(db, readonly=True)
    T.check(res == [("ok",)], "%s: state.db PRAGMA integrity_check says ok" % label, res)


def cgi_post(spool, body, extra_env=None):
    """One POST through the binary run as a plain CGI (a process of its
    own): (status line, answer JSON or None, raw output)."""
    env = dict(ENV_PATH)
    env.update(base_env(spool))
    env.update({"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "POST",
                "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
                "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
                "SCRIPT_NAME": "/hook", "REQUEST_URI": "/hook",
                "HTTP_X_CALIZA_WEBHOOK_SIGNATURE": sig(body)[hs.CALIZA_HEADER]})
    env.update(extra_env or {})
    # A value may be bytes: a header that is not UTF-8, passed as it is.
    env = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in env.items()}
    r = subprocess.run([hs.FCGI], input=body, capture_output=True, env=env, timeout=60)
    out = r.stdout.decode("utf-8", "replace")
    head, _, rest = out.replace("\r\n", "\n").partition("\n\n")
    status = ""
    for ln in head.splitlines():
        if ln.lower().startswith("status:"):
            status = ln.split(":", 1)[1].strip()
    return status, hs.one_line_json(rest.encode()), out


# ---------------------------------------------------------------- 1 + 2

def section_concurrent_same(T):
    T.section("the same event 10 times at once; keys as sent; restart")
    tmp = T.tempdir()
    spool = tmp.join("spool")
    env = base_env(spool)
    srv = T.server(tmp, name="same", max_procs=2, env=env)
    pids = srv.wait_backends(2)
    T.check(len(pids) == 2, "2 FastCGI processes", pids)

    body, rid = hs.caliza_event()
    T.check(hs.sign(body) == sig(body), "hookspool sign --scheme caliza gives the header "
            "computed here", (hs.sign(body), sig(body)))
    barrier = threading.Barrier(10)
    res = [None] * 10

    def one(i):
        try:
            barrier.wait(30)
        except threading.BrokenBarrierError:
            pass
        res[i] = post(srv, body)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    sts = [r[0] if r else None for r in res]
    T.check(sts == [200] * 10, "10 concurrent identical POSTs: all 200", sts)
    ids = [r[1]["id"] for r in res if r and isinstance(r[1], dict) and "id" in r[1]]
    dups = [r for r in res if r and r[1] == DUP]
    T.check(len(ids) == 1, "exactly one answer carries an id", [r[2] for r in res if r])
    T.check(len(dups) == 9, 'the other 9 are exactly {"ok":true,"duplicate":true}',
            [r[2] for r in res if r])
    objs, bad = lines_of(spool)
    T.check(not bad, "every line parses", bad[:3])
    T.check(len(objs) == 1, "exactly one line in the spool", len(objs))
    if objs:
        T.check(ids and objs[0].get("id") == ids[0], "the line has the answered id",
                (objs[0].get("id"), ids))
        T.check(objs[0].get("key") == ["TRANSACTION_COMPLETED", rid],
                'its key is ["TRANSACTION_COMPLETED","<resourceId>"]', objs[0].get("key"))
    rl = raw_lines(spool)
    T.check(len(rl) == 1 and (b'"key":["TRANSACTION_COMPLETED","%s"]' % rid.encode()) in rl[0],
            "the key is written as sent, minified", rl[:1])

    # Values as sent: a number keeps its spelling, an escape stays escaped.
    rid2 = hs.unique_hex()
    body2 = ('{ "operation" : "TRANSACTION_COMPLETED", "resourceId": "%s\\u0041" , '
             '"n": 1 }' % rid2).encode()
    st, a, b, _ = post(srv, body2)
    T.check(st == 200 and a and "id" in a, "an event whose resourceId has an escape: 200", (st, b))
    mine = [ln for ln in raw_lines(spool) if rid2.encode() in ln]
    T.check(len(mine) == 1 and (b'"key":["TRANSACTION_COMPLETED","%s\\u0041"]' % rid2.encode())
            in mine[0], "its key keeps the escape byte for byte", mine)
    num = int(time.time() * 1000) % 10 ** 9
    body3 = ('{"operation":"TRANSACTION_COMPLETED","resourceId":%d.50}' % num).encode()
    st, a, b, _ = post(srv, body3)
    T.check(st == 200 and a and "id" in a, "an event with a numeric resourceId: 200", (st, b))
    mine = [ln for ln in raw_lines(spool) if (b"%d.50" % num) in ln]
    T.check(len(mine) == 1 and (b'"key":["TRANSACTION_COMPLETED",%d.50]' % num) in mine[0],
            "a numeric key value keeps its spelling (%d.50)" % num, mine)
    st, a, b, _ = post(srv, body3)
    T.check(st == 200 and a == DUP, "the numeric one again: duplicate", (st, b))

    # Only "operation": key [op, null], and deduplicated on it.
    op = "OP_ONLY_" + hs.unique_hex(12)
    b_op1 = ('{"operation":"%s","a":1}' % op).encode()
    b_op2 = ('{"operation":"%s","a":2}' % op).encode()
    st, a, b, _ = post(srv, b_op1)
    T.check(st == 200 and a and "id" in a, "an event with only operation: 200 with an id", (st, b))
    mine = [o for o in lines_of(spool)[0] if isinstance(o.get("event"), dict)
            and o["event"].get("operation") == op]
    T.check(len(mine) == 1 and mine[0].get("key") == [op, None],
            "its key is [operation, null]", [o.get("key") for o in mine])
    st, a, b, _ = post(srv, b_op2)
    T.check(st == 200 and a == DUP, "another body with the same operation and no resourceId: "
            "duplicate", (st, b))

    # Neither: no key, never deduplicated.
    nk = ('{"hello":"%s"}' % hs.unique_hex()).encode()
    r1 = post(srv, nk)
    r2 = post(srv, nk)
    T.check(r1[0] == 200 and r1[1] and "id" in r1[1] and r2[0] == 200 and r2[1]
            and "id" in r2[1] and r1[1]["id"] != r2[1]["id"],
            "an event with neither, twice: two 200s with two ids", (r1[2], r2[2]))
    mine = [o for o in lines_of(spool)[0] if o.get("event") == json.loads(nk)]
    T.check(len(mine) == 2, "... and two lines", len(mine))
    T.check(all("key" not in o for o in mine), "... neither has a key field",
            [sorted(o) for o in mine])
    # Explicit nulls identify nothing: two such events are two events
    # (taking the second for a duplicate would lose it).
    empty = b'{"operation":null,"resourceId":null}'
    r1 = post(srv, empty)
    r2 = post(srv, empty)
    T.check(all(r[0] == 200 and r[1] and "id" in r[1] for r in (r1, r2)),
            "operation and resourceId both JSON null, twice: two 200s with ids", (r1[2], r2[2]))
    mine = [o for o in lines_of(spool)[0] if o.get("event") == json.loads(empty)]
    T.check(len(mine) == 2 and all("key" not in o for o in mine),
            "... two lines without a key field", [sorted(o) for o in mine])

    before = len(lines_of(spool)[0])
    # Another process: the same binary as a plain CGI.
    status, a, out = cgi_post(spool, body)
    T.check(status.startswith("200") and a == DUP, "the first event through a plain CGI "
            "process: duplicate", out[-400:])
    # A restart.
    srv.stop()
    srv2 = T.server(tmp, name="same2", max_procs=2, env=env)
    st, a, b, _ = post(srv2, body)
    T.check(st == 200 and a == DUP, "after a lighttpd restart on the same spool: still a "
            "duplicate", (st, b))
    st, a, b, _ = post(srv2, body3)
    T.check(st == 200 and a == DUP, "... and so is the numeric one", (st, b))
    objs, bad = lines_of(spool)
    T.check(not bad and len(objs) == before, "nothing appended by the duplicates",
            (len(objs), before, bad[:2]))
    srv2.stop()
    check_store(T, spool, "concurrent")
    hs.check_no_leaks(T, [srv, srv2], [tmp.path])


FRESH_ROUNDS = 20


def section_fresh_spools(T):
    T.section("%d fresh spools, each first hit by 10 identical POSTs at once" % FRESH_ROUNDS)
    tmp = T.tempdir()
    routes = [{"url": "/fresh%02d" % i, "setenv": {"HOOKSPOOL_SPOOL": tmp.join("spool%02d" % i)}}
              for i in range(FRESH_ROUNDS)]
    srv = T.server(tmp, name="fresh", max_procs=2, env={"HOOKSPOOL_SECRET": hs.DEMO_SECRET},
                   routes=routes)
    bad, wrong = [], []
    for i in range(FRESH_ROUNDS):
        body, rid = hs.caliza_event()
        barrier = threading.Barrier(10)
        res = [None] * 10

        def one(j):
            try:
                barrier.wait(30)
            except threading.BrokenBarrierError:
                pass
            res[j] = post(srv, body, path="/fresh%02d" % i)
        ths = [threading.Thread(target=one, args=(j,), daemon=True) for j in range(10)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(120)
        bad += [(i, r[0], r[2]) for r in res if r is None or r[0] != 200]
        objs, probs = lines_of(tmp.join("spool%02d" % i))
        if probs or len(objs) != 1:
            wrong.append((i, len(objs), probs[:1]))
    T.check(not bad, "every POST answered 200 (%d rounds x 10)" % FRESH_ROUNDS, bad[:5])
    T.check(not wrong, "every fresh spool holds exactly one line", wrong[:5])
    if bad:
        T.note("log: %s" % [l for l in srv.log().splitlines() if "hookspool:" in l][:3])
    srv.stop()


# ---------------------------------------------------------------- 3

def section_variants(T):
    T.section("HOOKSPOOL_DEDUP_SECONDS, header:, json:, off")
    tmp = T.tempdir()
    sp = {n: tmp.join("spool-" + n) for n in ("win", "hdr", "jsn", "off", "bytes")}
    routes = [
        {"url": "/win", "setenv": {}, "env": {"HOOKSPOOL_SPOOL": sp["win"],
                                              "HOOKSPOOL_DEDUP_SECONDS": "2"}},
        {"url": "/hdr", "setenv": {}, "env": {"HOOKSPOOL_SPOOL": sp["hdr"],
                                              "HOOKSPOOL_DEDUP": "header:X-Request-Id"}},
        {"url": "/jsn", "setenv": {}, "env": {"HOOKSPOOL_SPOOL": sp["jsn"],
                                              "HOOKSPOOL_DEDUP": "json:/data/id"}},
        {"url": "/off", "setenv": {}, "env": {"HOOKSPOOL_SPOOL": sp["off"],
                                              "HOOKSPOOL_DEDUP": "off"}},
        {"url": "/bytes", "setenv": {}, "env": {"HOOKSPOOL_SPOOL": sp["bytes"],
                                                "HOOKSPOOL_DEDUP": "header:X-Request-Id"}},
    ]
    srv = T.server(tmp, name="var", max_procs=1, env={"HOOKSPOOL_SECRET": hs.DEMO_SECRET},
                   routes=routes)

    # The window: a duplicate right away, a new line after 3 s.
    ok_dup = False
    for attempt in range(3):
        body, rid = hs.caliza_event()
        st1, a1, b1, _ = post(srv, body, path="/win")
        t1 = time.monotonic()
        st2, a2, b2, _ = post(srv, body, path="/win")
        if time.monotonic() - t1 < 1.0 or (st2 == 200 and a2 == DUP):
            ok_dup = True
            break
        T.note("second POST came %.1f s after the first; trying again" % (time.monotonic() - t1))
    T.check(st1 == 200 and a1 and "id" in a1, "DEDUP_SECONDS=2: first POST stored", (st1, b1))
    T.check(ok_dup and st2 == 200 and a2 == DUP, "DEDUP_SECONDS=2: the same at once is a "
            "duplicate", (st2, b2))
    time.sleep(3.0)
    st3, a3, b3, _ = post(srv, body, path="/win")
    T.check(st3 == 200 and a3 and "id" in a3, "DEDUP_SECONDS=2: after 3 s it is new again",
            (st3, b3))
    st4, a4, b4, _ = post(srv, body, path="/win")
    T.check(st4 == 200 and a4 == DUP, "... and is remembered again from then", (st4, b4))
    mine = [o for o in lines_of(sp["win"])[0] if with_rid(o, rid)]
    T.check(len(mine) == 2 and len({o["id"] for o in mine}) == 2,
            "DEDUP_SECONDS=2: two lines for it, one per window", len(mine))

    # header:X-Request-Id
    body, rid = hs.caliza_event()
    r1, r2 = "req-" + hs.unique_hex(), "req-" + hs.unique_hex()
    st, a, b, _ = post(srv, body, {"X-Request-Id": r1}, path="/hdr")
    T.check(st == 200 and a and "id" in a, "header: first X-Request-Id stored", (st, b))
    st, a, b, _ = post(srv, body, {"X-Request-Id": r2}, path="/hdr")
    T.check(st == 200 and a and "id" in a, "header: the same body with another X-Request-Id "
            "is new (the scheme's json default is replaced)", (st, b))
    other, _ = hs.caliza_event()
    st, a, b, _ = post(srv, other, {"X-Request-Id": r1}, path="/hdr")
    T.check(st == 200 and a == DUP, "header: another body with the first X-Request-Id is a "
            "duplicate", (st, b))
    st, a, b, _ = post(srv, other, {"x-request-id": r1}, path="/hdr")
    T.check(st == 200 and a == DUP, "header: the header name matches in any case", (st, b))
    st, a, b, _ = post(srv, other, path="/hdr")
    T.check(st == 200 and a and "id" in a, "header: without the header: stored, no key", (st, b))
    st, a, b, _ = post(srv, other, path="/hdr")
    T.check(st == 200 and a and "id" in a, "header: without the header again: stored again",
            (st, b))
    objs, bad = lines_of(sp["hdr"])
    keys = sorted(key_of(o) or "-" for o in objs)
    T.check(not bad and keys == sorted(["-", "-", json.dumps([r1]), json.dumps([r2])]),
            "header: lines with keys [r1], [r2] and two without", keys)

    # header: values that are not UTF-8 (issue 13, item 2): different
    # bytes are different keys; the same bytes again are a duplicate.
    body, rid = hs.caliza_event()
    ids = [b"evt-\xe9", b"evt-\xe8", "evt-\u00e9".encode(), b"evt-\xef\xbf\xbd"]
    first = [post(srv, body, {"X-Request-Id": v}, path="/bytes") for v in ids]
    T.check(all(r[0] == 200 and r[1] and "id" in r[1] for r in first),
            "header: X-Request-Id evt-\\xe9, evt-\\xe8, evt-\u00e9, evt-\ufffd (raw bytes "
            "through lighttpd): four events, each stored", [r[2] for r in first])
    again = [post(srv, body, {"X-Request-Id": v}, path="/bytes") for v in ids]
    T.check(all(r[0] == 200 and r[1] == DUP for r in again),
            "header: the same four byte strings again: each a duplicate", [r[2] for r in again])
    st, a, b = cgi_post(sp["bytes"], body, {"HOOKSPOOL_DEDUP": "header:X-Request-Id",
                                            "HTTP_X_REQUEST_ID": b"evt-\xe7"})
    T.check(st.startswith("200") and a and "id" in a,
            "header: evt-\\xe7 through a plain CGI: stored", b)
    st, a, b = cgi_post(sp["bytes"], body, {"HOOKSPOOL_DEDUP": "header:X-Request-Id",
                                            "HTTP_X_REQUEST_ID": b"evt-\xe9"})
    T.check(st.startswith("200") and a == DUP,
            "header: evt-\\xe9 through a plain CGI: the duplicate it is", b)
    objs, bad = lines_of(sp["bytes"])
    keys = sorted(key_of(o) for o in objs)
    want = sorted(json.dumps(k, sort_keys=True) for k in (
        [{"hex": "6576742de9"}], [{"hex": "6576742de8"}], [{"hex": "6576742de7"}],
        ["evt-\u00e9"], ["evt-\ufffd"]))
    T.check(not bad and keys == want, "header: five lines, invalid UTF-8 keyed as "
            "{\"hex\": bytes}, valid UTF-8 as the string", keys)

    # json:/data/id
    did = "did-" + hs.unique_hex()
    b1 = json.dumps({"operation": "TRANSACTION_COMPLETED", "resourceId": hs.unique_hex(),
                     "data": {"id": did}}).encode()
    b2 = json.dumps({"operation": "TRANSACTION_FAILED", "resourceId": hs.unique_hex(),
                     "data": {"id": did, "x": 1}}).encode()
    st, a, b, _ = post(srv, b1, path="/jsn")
    T.check(st == 200 and a and "id" in a, "json:/data/id: first stored", (st, b))
    st, a, b, _ = post(srv, b2, path="/jsn")
    T.check(st == 200 and a == DUP, "json:/data/id: another operation and resourceId with the "
            "same data.id is a duplicate", (st, b))
    b3 = json.dumps({"operation": "TRANSACTION_COMPLETED", "resourceId": "same",
                     "data": {"id": did + "-2"}}).encode()
    st, a, b, _ = post(srv, b3, path="/jsn")
    T.check(st == 200 and a and "id" in a, "json:/data/id: another data.id is new", (st, b))
    objs, bad = lines_of(sp["jsn"])
    T.check(not bad and sorted(key_of(o) or "-" for o in objs) ==
            sorted([json.dumps([did]), json.dumps([did + "-2"])]),
            "json:/data/id: keys [data.id] only", [o.get("key") for o in objs])

    # off
    body, rid = hs.caliza_event()
    r1 = post(srv, body, path="/off")
    r2 = post(srv, body, path="/off")
    T.check(r1[0] == 200 and r2[0] == 200 and r1[1] and r2[1] and "id" in r1[1] and "id" in r2[1],
            "off: the same event twice: two 200s with ids", (r1[2], r2[2]))
    objs, bad = lines_of(sp["off"])
    T.check(not bad and len(objs) == 2, "off: two lines", len(objs))
    T.check(all("key" not in o for o in objs), "off: no key field", [sorted(o) for o in objs])
    srv.stop()
    for n in ("win", "hdr", "jsn", "bytes"):
        check_store(T, sp[n], "DEDUP variant " + n)
    hs.check_no_leaks(T, [srv], [tmp.path])


# ---------------------------------------------------------------- 4

def fake_line(template, rid, new_id_tail):
    """A complete line as a writer would have written it: the template's
    line with another id, resourceId and key."""
    o = json.loads(template)
    tid = o["id"]
    o["id"] = tid[:-len(new_id_tail)] + new_id_tail
    o["key"] = ["TRANSACTION_COMPLETED", rid]
    o["event"]["resourceId"] = rid
    return (json.dumps(o, separators=(",", ":")) + "\n").encode(), o["id"]


def section_killed_before_record(T):
    T.section("a line appended but its key never recorded (killed writer)")
    tmp = T.tempdir()
    spool = tmp.join("spool")
    srv = T.server(tmp, name="unrec", max_procs=2, env=base_env(spool))
    body, rid = hs.caliza_event()
    st, a, b, _ = post(srv, body)
    T.check(st == 200 and a and "id" in a, "first POST stored", (st, b))
    act = hs.spool_files(spool, "active")
    if not T.check(len(act) == 1, "one active segment", act):
        return
    tmpl = raw_lines(spool)[0]

    for label, seal in (("in the active segment", False), ("sealed by hookspool rotate", True)):
        body2, rid2 = hs.caliza_event()
        line, fid = fake_line(tmpl, rid2, "f%05d" % (1 if seal else 0))
        act = hs.spool_files(spool, "active")
        if not act:        # sealed by the previous round: start a segment
            st, a, b, _ = post(srv, hs.caliza_event()[0])
            act = hs.spool_files(spool, "active")
        if not T.check(len(act) == 1, "%s: an active segment to append to" % label, act):
            return
        with open(act[0], "ab") as f:
            f.write(line)
        if seal:
            r = subprocess.run([hs.CLI, "rotate", "-s", spool], capture_output=True,
                               env=ENV_PATH, timeout=60)
            T.check(r.returncode == 0, "hookspool rotate -s SPOOL exits 0", r.stderr)
            T.check(not hs.spool_files(spool, "active"), "the segment with the line is sealed",
                    hs.spool_files(spool, "active"))
        st, a, b, _ = post(srv, body2)
        T.check(st == 200 and a == DUP, "%s: POST of the unrecorded line's key is a duplicate"
                % label, (st, b))
        objs, bad = lines_of(spool)
        mine = [o for o in objs if o.get("key") == ["TRANSACTION_COMPLETED", rid2]]
        T.check(not bad and len(mine) == 1 and mine[0].get("id") == fid,
                "%s: exactly one line with that key, the one left behind" % label,
                [o.get("id") for o in mine])
        # Another process indexes it too, and the key stays known.
        st, a, b, _ = post(srv, body2)
        T.check(st == 200 and a == DUP, "%s: again: duplicate" % label, (st, b))
    # and an ordinary one is still stored
    st, a, b, _ = post(srv, hs.caliza_event()[0])
    T.check(st == 200 and a and "id" in a, "an ordinary new event afterwards: stored", (st, b))
    srv.stop()
    check_store(T, spool, "unrecorded line")
    hs.check_no_leaks(T, [srv], [tmp.path])


def section_keyless_seals(T):
    """Issue 13 item 1: a writer stopped between its append and recording
    its key (its line written into the active segment here, with no key
    recorded: exactly that instant), then an event without a key, whose
    append seals that segment (HOOKSPOOL_ROTATE_BYTES=700). The keyless
    append must index the stopped writer's line first, so the sender's
    retry of that event is a duplicate."""
    T.section("a keyless event seals a segment holding an unrecorded key "
              "(one FastCGI process, HOOKSPOOL_ROTATE_BYTES=700)")
    tmp = T.tempdir()
    spool = tmp.join("spool")
    routes = [{"url": "/keyed", "setenv": {}},
              {"url": "/nodedup", "setenv": {"HOOKSPOOL_DEDUP": "off"}}]
    srv = T.server(tmp, name="keyless", max_procs=1, routes=routes,
                   env=base_env(spool, HOOKSPOOL_ROTATE_BYTES=700))
    for label, path, keyless in (
            ("a keyless event on the same endpoint", "/keyed",
             b'{"operation":null,"padding":"%s"}' % (b"p" * 420)),
            ("an event on an endpoint with dedup off sharing the spool", "/nodedup",
             b'{"operation":"TRANSACTION_COMPLETED","resourceId":"same-%s","padding":"%s"}'
             % (hs.unique_hex().encode(), b"p" * 400))):
        first = b'{"operation":"TRANSACTION_COMPLETED","resourceId":"%s"}' % hs.unique_hex().encode()
        st, a, b, _ = post(srv, first, path="/keyed")
        T.check(st == 200 and a and "id" in a, "%s: a keyed event starts a segment" % label, (st, b))
        act = hs.spool_files(spool, "active")
        if not T.check(len(act) == 1, "%s: one active segment" % label, act):
            return
        tmpl = raw_lines(spool)[-1]
        rid = "stopped-" + hs.unique_hex()
        retry = b'{"operation":"TRANSACTION_COMPLETED","resourceId":"%s"}' % rid.encode()
        o = json.loads(tmpl)
        o["id"] = o["id"][:-6] + "f00000"
        o["key"] = ["TRANSACTION_COMPLETED", rid]
        o["event"] = json.loads(retry)
        with open(act[0], "ab") as f:          # appended; key not recorded
            f.write((json.dumps(o, separators=(",", ":")) + "\n").encode())
        T.check(os.path.getsize(act[0]) < 700, "%s: the segment is under 700 bytes" % label,
                os.path.getsize(act[0]))
        st, a, b, _ = post(srv, keyless, path=path)
        T.check(st == 200 and a and "id" in a, "%s: stored" % label, (st, b))
        sealed = [ln for _, ln in hs.spool_lines(spool, ("ready",)) if rid.encode() in ln]
        T.check(len(sealed) == 1, "%s: it sealed the stopped writer's line into ready/" % label,
                len(sealed))
        st, a, b, _ = post(srv, retry, path="/keyed")
        T.check(st == 200 and a == DUP, "%s: the retry of the stopped writer's event is a "
                "duplicate" % label, (st, b))
        objs, bad = lines_of(spool)
        mine = [x for x in objs if x.get("key") == ["TRANSACTION_COMPLETED", rid]]
        T.check(not bad and len(mine) == 1, "%s: exactly one line with that key" % label,
                [x.get("id") for x in mine])
    srv.stop()
    check_store(T, spool, "keyless seal")
    hs.check_no_leaks(T, [srv], [tmp.path])


# ---------------------------------------------------------------- 5

CLIENTS = 4
PER_CLIENT = 50
KILL_ROUNDS = 4
MAX_TRIES = 200
RETRY_SECONDS = 20.0


def section_sigkill(T):
    T.section("SIGKILL the FastCGI processes; %d clients x %d events, each delivered twice"
              % (CLIENTS, PER_CLIENT))
    tmp = T.tempdir()
    spool = tmp.join("spool")
    srv = T.server(tmp, name="kill", max_procs=2, env=base_env(
        spool, HOOKSPOOL_ROTATE_BYTES=16384))
    events = [[hs.caliza_event(resource_id="k%d-%03d-%s" % (c, i, hs.unique_hex(16)))
               for i in range(PER_CLIENT)] for c in range(CLIENTS)]
    answers = collections.defaultdict(list)      # rid -> [(status, answer)]
    lock = threading.Lock()
    progress = [0]
    gave_up = []
    stop = threading.Event()
    deadline = time.monotonic() + 600

    def deliver(body):
        """Retry on connection errors and 5xx, at most MAX_TRIES times or
        RETRY_SECONDS; the last answer."""
        st, a, b = None, None, b""
        give_up = min(deadline, time.monotonic() + RETRY_SECONDS)
        for _ in range(MAX_TRIES):
            st, a, b, _ = post(srv, body)
            if st is not None and st < 500:
                break
            if time.monotonic() > give_up:
                break
            time.sleep(0.1)
        if st != 200:
            with lock:
                gave_up.append((st, b[:120]))
        return st, a

    def client(c):
        for body, rid in events[c]:
            for _ in range(2):
                st, a = deliver(body)
                with lock:
                    answers[rid].append((st, a))
                    progress[0] += 1

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    killed = 0
    total = CLIENTS * PER_CLIENT * 2
    try:
        for rnd in range(KILL_ROUNDS):
            target = total * (rnd + 1) // (KILL_ROUNDS + 1)
            wait_until = time.monotonic() + 120
            while time.monotonic() < wait_until:
                with lock:
                    if progress[0] >= target:
                        break
                time.sleep(0.01)
            pids = srv.backend_pids()
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            wait_until = time.monotonic() + 30
            while time.monotonic() < wait_until:       # respawned (bounded)
                now = srv.backend_pids()
                if now and not set(now) & set(pids):
                    break
                time.sleep(0.05)
    finally:
        for t in threads:
            t.join(max(1.0, deadline - time.monotonic() + 30))
        stop.set()
    T.check(not any(t.is_alive() for t in threads), "clients finished in time")
    T.check(killed >= KILL_ROUNDS, "killed FastCGI processes %d times" % killed, killed)
    flat = collections.Counter(st for rs in answers.values() for st, _ in rs)
    T.note("final answers of the deliveries: %s" % dict(flat))
    if gave_up:
        T.note("deliveries given up on: %s" % gave_up[:5])

    objs, bad = lines_of(spool)
    T.check(not bad, "every line parses (%d lines)" % len(objs), bad[:3])
    kc = collections.Counter(key_of(o) for o in objs)
    shared = [(k, n) for k, n in kc.items() if n > 1]
    T.check(not shared, "no two lines share a key", shared[:5])
    T.check(all("key" in o for o in objs), "every line has a key")
    by_rid = collections.Counter(o["event"].get("resourceId") for o in objs
                                 if isinstance(o.get("event"), dict))
    got200 = [rid for rid, rs in answers.items() if any(st == 200 for st, _ in rs)]
    wrong = [(rid, by_rid.get(rid, 0)) for rid in got200 if by_rid.get(rid, 0) != 1]
    T.check(len(got200) > 0 and not wrong, "every event answered 200 (%d of %d) is in "
            "exactly one line" % (len(got200), CLIENTS * PER_CLIENT), wrong[:5])
    two_ids = [rid for rid, rs in answers.items()
               if sum(1 for st, a in rs if st == 200 and isinstance(a, dict) and "id" in a) > 1]
    T.check(not two_ids, "no event got an id twice (the second delivery of a stored event "
            "is a duplicate)", two_ids[:5])
    ids = {o.get("id"): o for o in objs}
    lost = [(rid, a["id"]) for rid, rs in answers.items() for st, a in rs
            if st == 200 and isinstance(a, dict) and "id" in a and a["id"] not in ids]
    T.check(not lost, "every answered id is a line of the spool", lost[:5])
    mism = [(rid, a["id"]) for rid, rs in answers.items() for st, a in rs
            if st == 200 and isinstance(a, dict) and a.get("id") in ids
            and ids[a["id"]]["event"].get("resourceId") != rid]
    T.check(not mism, "each answered id's line holds that event", mism[:5])
    odd = [(rid, rs) for rid, rs in answers.items()
           if any(st == 200 and a not in (DUP,) and not (isinstance(a, dict) and "id" in a)
                  for st, a in rs)]
    T.check(not odd, "every 200 is an id or a duplicate", odd[:3])
    srv.stop()
    T.check(not srv.leftover, "no process left after lighttpd stopped", srv.leftover)
    check_store(T, spool, "sigkill")


# ---------------------------------------------------------------- 6

def section_full(T):
    T.section("a 1 MiB tmpfs spool")
    tmp = T.tempdir()
    mnt = tmp.join("mnt")
    T.mount_tmpfs(mnt, size="1m")
    spool = os.path.join(mnt, "spool")
    srv = T.server(tmp, name="full", max_procs=2, env=base_env(spool))
    accepted, first_bad, stored = 0, None, []
    for i in range(3000):
        body, rid = hs.caliza_event(pad_to=1200)
        st, a, b, h = post(srv, body)
        if st == 200 and a and "id" in a:
            accepted += 1
            stored.append((body, rid))
            continue
        first_bad = (st, a, b, h, rid, body)
        break
    T.note("%d events of ~1.2 KB accepted before the first refusal" % accepted)
    T.check(accepted >= 20, "at least 20 events accepted before the first refusal (%d)"
            % accepted, accepted)
    if not T.check(first_bad is not None and first_bad[0] == 503,
                   "the first refusal is 503", first_bad and first_bad[:3]):
        srv.stop()
        return
    st, a, b, h, rid_bad, body_bad = first_bad
    T.check("retry-after" in h, "... with Retry-After", h)
    T.check(isinstance(a, dict) and a.get("ok") is False, "... and a JSON error answer", b)
    objs, bad = lines_of(spool)
    T.check(not bad, "every line parses when full (%d lines)" % len(objs), bad[:3])
    T.check(not any(with_rid(o, rid_bad) for o in objs), "the refused event is not in the spool")
    T.check(len(objs) == accepted, "the spool holds exactly the accepted events",
            (len(objs), accepted))
    # While full: a duplicate of a stored event (informational only).
    st, a, b, _ = post(srv, stored[0][0])
    T.note("a duplicate while the disk is full gets %s %s" % (st, b.strip()[:80]))
    T.check(st in (200, 503) and (a == DUP if st == 200 else True),
            "a duplicate while full: duplicate or 503", (st, b))
    objs2, bad2 = lines_of(spool)
    T.check(not bad2 and len(objs2) == accepted
            and sum(1 for o in objs2 if with_rid(o, stored[0][1])) == 1,
            "... never a second line: the spool still holds %d lines, that event's once"
            % accepted, (len(objs2), bad2[:3]))

    # Make room: seal, delete the sealed segments.
    r = subprocess.run([hs.CLI, "rotate", "-s", spool], capture_output=True, env=ENV_PATH,
                       timeout=60)
    T.check(r.returncode == 0, "hookspool rotate -s SPOOL exits 0 on a full disk",
            (r.returncode, r.stderr))
    ready = hs.spool_files(spool, "ready")
    T.check(len(ready) >= 1, "sealed segments in ready/", ready)
    for p in ready:
        os.unlink(p)
    st, a, b, h = post(srv, body_bad)
    T.check(st == 200 and a and "id" in a, "after deleting the sealed segments the refused "
            "event is accepted", (st, b))
    more = []
    for i in range(5):
        body, rid = hs.caliza_event(pad_to=1200)
        more.append(post(srv, body)[0])
    T.check(more == [200] * 5, "... and 5 new ones", more)
    st, a, b, _ = post(srv, stored[-1][0])
    T.check(st == 200 and a == DUP, "an event stored before the disk filled (its segment "
            "since deleted) is still a duplicate", (st, b))
    objs, bad = lines_of(spool)
    T.check(not bad and len(objs) == 6, "every line parses; 6 lines after the cleanup",
            (len(objs), bad[:3]))
    srv.stop()
    check_store(T, spool, "1 MiB")


# ---------------------------------------------------------------- recorder

def c_define(header, name):
    """The integer value of #define name in lib/header (its one owner)."""
    with open(os.path.join(hs.ROOT, "lib", header)) as f:
        m = re.search(r"^#define\s+%s\s+(\d+)" % re.escape(name), f.read(), re.M)
    return int(m.group(1))


def store_keys(db):
    """How many keys SPOOL/state.db holds (read-only), or None."""
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
        try:
            return con.execute("SELECT count(*) FROM dedup").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return None


def section_recorder(T, threads):
    """Issue 18: in FastCGI the tail goes into the store after the answers
    (the process' recorder thread), with no seal and no append recording
    it under the lock: HS_DEDUP_TAIL_KEYS keys at a time, however many
    worker threads the process has, since they share one tail (before,
    each kept its own and recorded its share of the batch)."""
    keys = c_define("dedup.h", "HS_DEDUP_TAIL_KEYS")
    T.section("FastCGI, HOOKSPOOL_UMASK=007, %d worker thread(s): %d keys reach state.db "
              "after the answers, before any seal" % (threads, keys))
    tmp = T.tempdir()
    spool = tmp.join("spool")
    # A umask that lets the group in: the recorder opens the store by
    # path, and its trust check must use the spool's umask, not 077.
    # A day before a segment is sealed by age: "before any seal" must not
    # hang on how fast the machine is (memcheck makes each request slow).
    srv = T.server(tmp, name="recorder%d" % threads, max_procs=1,
                   env=base_env(spool, HOOKSPOOL_UMASK="007", HOOKSPOOL_THREADS=str(threads),
                                HOOKSPOOL_ROTATE_SECONDS="86400"))
    T.check(len(srv.wait_backends(1)) == 1, "1 FastCGI process")
    # The process' first append records at once (its tail has not looked
    # at the room yet): 64 more than a full tail leave one past the
    # cursor.
    bodies = [hs.caliza_event()[0] for _ in range(keys + 64)]
    bad = [r[0] for r in (post(srv, b) for b in bodies) if r[0] != 200]
    T.check(not bad, "%d distinct events answered 200" % len(bodies), bad[:5])
    db = tmp.join("spool", "state.db")
    deadline = time.monotonic() + 30
    n = store_keys(db)
    while (n is None or n < keys) and time.monotonic() < deadline:
        time.sleep(0.05)
        n = store_keys(db)
    T.check(n is not None and keys <= n <= len(bodies),
            "the store holds at least %d of the %d keys" % (keys, len(bodies)), n)
    T.check(hs.spool_lines(spool, ("ready",)) == [], "nothing was sealed")
    st, a, _, _ = post(srv, bodies[5])
    T.check(st == 200 and a == DUP, "a retry of an early event is a duplicate", (st, a))
    srv.stop()
    check_store(T, spool, "recorder")


def section_recorder_cgi(T):
    """Plain CGI has no recorder, and needs none: a process' first append
    records the tail under the lock before its line (its tail is new), so
    the store lags one key behind, whatever the batch."""
    keys = 50
    T.section("plain CGI: the keys reach state.db with the next append, before any seal")
    tmp = T.tempdir()
    spool = tmp.join("spool")
    # As above: under memcheck 200 CGI requests took over the 60 s after
    # which the segment is sealed by age (CI, 2026-12-05).
    srv = T.server(tmp, mode="cgi", name="recorder-cgi",
                   env=base_env(spool, HOOKSPOOL_FSYNC="never", HOOKSPOOL_ROTATE_SECONDS="86400"))
    bodies = [hs.caliza_event()[0] for _ in range(keys)]
    bad = [r[0] for r in (post(srv, b) for b in bodies) if r[0] != 200]
    T.check(not bad, "%d distinct events answered 200" % len(bodies), bad[:5])
    n = store_keys(tmp.join("spool", "state.db"))
    T.check(n == len(bodies) - 1, "the store holds %d of the %d keys" %
            (len(bodies) - 1, len(bodies)), n)
    T.check(hs.spool_lines(spool, ("ready",)) == [], "nothing was sealed")
    st, a, _, _ = post(srv, bodies[5])
    T.check(st == 200 and a == DUP, "a retry of an early event is a duplicate", (st, a))
    srv.stop()
    check_store(T, spool, "recorder-cgi")


def main(T):
    section_concurrent_same(T)
    section_fresh_spools(T)
    section_variants(T)
    section_killed_before_record(T)
    section_keyless_seals(T)
    section_sigkill(T)
    section_full(T)
    section_recorder(T, 1)
    section_recorder(T, 4)
    section_recorder_cgi(T)


if __name__ == "__main__":
    hs.Suite("test_dedup").run(main)
