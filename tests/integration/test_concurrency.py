"""
test_concurrency.py - the acceptance test of SPEC section 6, promises 1-3,
under load: lighttpd with 2 FastCGI processes, HOOKSPOOL_ROTATE_BYTES=65536,
8 client threads each posting distinct signed ~1 KB Caliza events.

Afterwards every 200-answered id is in exactly one line across active/ and
ready/, no line lacks a 200, every line is JSON ending in a newline and
holds the event that was posted with that id, segments are sealed at
65536 bytes at most, and no segment in ready/ changed after it was first
seen there (a poller records name, size and sha256 during the run).

Run once with HOOKSPOOL_FSYNC=always (8 x 250), and with
HOOKSPOOL_FSYNC=never (8 x 100) twice: with the default of one worker
thread per process, and with HOOKSPOOL_THREADS=4 (threads appending in
one process without flushes). Each run checks the processes' thread
count: the workers, the signal thread and the dedup recorder. First, 20 new spools each get their
first 4 requests at once (both processes create the spool together).
"""
import collections
import hashlib
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402

ROTATE = 65536
CLIENTS = 8
RUN_LIMIT = 900.0          # seconds for one run's clients, then it fails


caliza_sig = hs.caliza_mac


class Poller(threading.Thread):
    """Records (size, sha256) of every segment seen in ready/."""

    def __init__(self, spool):
        super().__init__(daemon=True)
        self.spool = spool
        self.stop_ev = threading.Event()
        self.seen = collections.defaultdict(set)    # name -> {(size, sha)}
        self.rounds = 0
        self.errors = []

    def run(self):
        deadline = time.monotonic() + RUN_LIMIT + 60
        while not self.stop_ev.is_set() and time.monotonic() < deadline:
            self.snapshot()
            self.stop_ev.wait(0.02)

    def snapshot(self):
        self.rounds += 1
        for p in hs.spool_files(self.spool, "ready"):
            try:
                data = hs.read_bytes(p)
            except FileNotFoundError:
                self.errors.append("%s vanished from ready/" % os.path.basename(p))
                continue
            self.seen[os.path.basename(p)].add((len(data), hashlib.sha256(data).hexdigest()))


def run(T, label, per_client, fsync, threads=None, workers=4):
    """threads: HOOKSPOOL_THREADS, or None to leave it unset; workers:
    the worker threads each process must then run."""
    T.section("%s: %d clients x %d events, HOOKSPOOL_FSYNC=%s, HOOKSPOOL_THREADS=%s"
              % (label, CLIENTS, per_client, fsync, threads or "unset"))
    tmp = T.tempdir()
    spool = tmp.join("spool")
    env = {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET,
           "HOOKSPOOL_ROTATE_BYTES": str(ROTATE), "HOOKSPOOL_FSYNC": fsync}
    if threads is not None:
        env["HOOKSPOOL_THREADS"] = str(threads)
    srv = T.server(tmp, name=label, max_procs=2, env=env, url="/hook")
    pids = srv.wait_backends(2)
    T.check(len(pids) == 2, "%s: 2 FastCGI processes" % label, pids)

    # Distinct ~1 KB events; the signature computed here, checked against
    # hookspool sign for a few.
    work = []
    for c in range(CLIENTS):
        items = []
        for i in range(per_client):
            body, rid = hs.caliza_event(resource_id="%02x%04x%s" % (c, i, hs.unique_hex(18)),
                                        pad_to=1024)
            items.append((body, rid))
        work.append(items)
    for body, _ in (work[0][0], work[-1][-1]):
        T.check(hs.sign(body).get(hs.CALIZA_HEADER) == caliza_sig(body),
                "%s: the test's HMAC equals hookspool sign" % label)
    sizes = [len(b) for items in work for b, _ in items]
    T.note("event bodies %d..%d bytes" % (min(sizes), max(sizes)))

    results = [[] for _ in range(CLIENTS)]     # per client: (status, id, rid, body)
    # One event creates the spool first: creating it under concurrency is
    # fresh_spools()'s subject.
    body, rid = hs.caliza_event(pad_to=1024)
    st, h, b = srv.post(body, {hs.CALIZA_HEADER: caliza_sig(body)}, path="/hook")
    T.check(st == 200, "%s: the first event creates the spool" % label, (st, b))
    results[0].append((st, (hs.one_line_json(b) or {}).get("id") if st == 200 else None, rid, body))
    # A process starts its workers before it serves, so after one answer
    # both have them all: each worker, the signal thread and the dedup
    # recorder (lib/recorder.h) is a task.
    tasks = {}
    for pid in pids:
        try:
            tasks[pid] = len(os.listdir("/proc/%d/task" % pid))
        except OSError as e:
            tasks[pid] = str(e)
    T.check(sorted(tasks.values()) == [workers + 2] * 2,
            "%s: each process runs %d worker thread(s), the signal thread and the recorder"
            % (label, workers), tasks)

    def client(c):
        deadline = time.monotonic() + RUN_LIMIT
        for body, rid in work[c]:
            if time.monotonic() > deadline:
                results[c].append((None, None, rid, body))
                continue
            st, h, b = srv.post(body, {hs.CALIZA_HEADER: caliza_sig(body)}, path="/hook")
            j = hs.one_line_json(b) or {}
            results[c].append((st, j.get("id") if st == 200 else None, rid, body))

    poller = Poller(spool)
    poller.start()
    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RUN_LIMIT + 60)
    elapsed = time.monotonic() - t0
    poller.stop_ev.set()
    poller.join(30)
    poller.snapshot()
    alive = [t for t in threads if t.is_alive()]
    T.check(not alive, "%s: every client finished" % label, len(alive))
    total = CLIENTS * per_client + 1
    T.note("%d requests in %.1f s (%.0f/s), ready/ polled %d times"
           % (total, elapsed, total / max(elapsed, 0.001), poller.rounds))

    flat = [r for rs in results for r in rs]
    statuses = collections.Counter(st for st, _, _, _ in flat)
    if not T.check(statuses.get(200, 0) == total, "%s: all %d answered 200" % (label, total),
                   dict(statuses)):
        others = collections.Counter((st, b[:100]) for (_, _, st, _, b) in srv.responses if st != 200)
        T.note("other answers: %s" % dict(others))
        T.note("log: %s" % [l for l in srv.log().splitlines() if "status=" in l][:10])
    answered = {eid: (rid, body) for st, eid, rid, body in flat if st == 200}
    T.check(len(answered) == statuses.get(200, 0), "%s: every 200 has its own id" % label)

    ready = hs.spool_files(spool, "ready")
    active = hs.spool_files(spool, "active")
    lines = hs.spool_lines(spool)
    objs, bad = hs.parse_lines(lines)
    T.check(not bad, "%s: every line is valid JSON ending in a newline" % label, bad[:3])
    ids = [o.get("id") for o in objs]
    counts = collections.Counter(ids)
    missing = [i for i in answered if counts.get(i, 0) == 0]
    doubled = [i for i, n in counts.items() if n > 1]
    unanswered = [i for i in counts if i not in answered]
    T.check(not missing, "%s: every 200-answered id is in the spool" % label,
            (len(missing), missing[:3]))
    T.check(not doubled, "%s: no id in two lines" % label, doubled[:3])
    T.check(not unanswered, "%s: no line without a 200" % label, unanswered[:3])
    wrong = []
    for o in objs:
        a = answered.get(o.get("id"))
        if a and (o.get("event") != json.loads(a[1]) or o["event"].get("resourceId") != a[0]):
            wrong.append(o.get("id"))
    T.check(not wrong, "%s: each line holds the event answered with its id" % label, wrong[:3])
    T.check(all(a < b for a, b in zip(ids, ids[1:])),
            "%s: ids strictly increasing through ready/ (name order) then active/" % label,
            next(((a, b) for a, b in zip(ids, ids[1:]) if a >= b), None))
    T.check(len(set(len(i or "") for i in ids)) == 1, "%s: ids of one width" % label)

    T.check(len(ready) >= 3, "%s: several ready segments (%d)" % (label, len(ready)), len(ready))
    T.check(len(active) <= 1, "%s: at most one active segment" % label, active)
    big = [(os.path.basename(p), os.path.getsize(p)) for p in ready if os.path.getsize(p) > ROTATE]
    T.check(not big, "%s: every ready segment <= %d bytes" % (label, ROTATE), big)
    names = [os.path.basename(p) for p in ready + active]
    T.check(all(hs.SEG_RE.match(n) for n in names),
            "%s: segment names YYYYMMDDTHHMMSSZ-host-unique.jsonl" % label,
            [n for n in names if not hs.SEG_RE.match(n)][:3])
    T.check(all(hs.read_bytes(p).endswith(b"\n") for p in ready),
            "%s: every ready segment ends with a complete line" % label)

    changed = []
    final = {os.path.basename(p): (os.path.getsize(p), hs.sha256_file(p)) for p in ready}
    for name, obs in poller.seen.items():
        if name not in final:
            changed.append("%s left ready/" % name)
        elif obs != {final[name]}:
            changed.append("%s: %d versions seen" % (name, len(obs)))
    T.check(not changed and not poller.errors,
            "%s: no ready/ segment changed after it was sealed (%d watched)" % (label, len(poller.seen)),
            (changed[:3], poller.errors[:3]))
    T.check(len(poller.seen) >= 1, "%s: the poller saw segments during the run" % label)
    srv.stop()
    T.check(not srv.leftover, "%s: no process left after lighttpd stopped" % label, srv.leftover)
    hs.check_no_leaks(T, [srv], [tmp.path])


def fresh_spools(T, n=20, per=4):
    """The first requests on a spool that does not exist yet arrive at
    once on both processes: each must still be answered 200."""
    T.section("first requests on %d new spools, %d at once each" % (n, per))
    tmp = T.tempdir()
    routes = [{"url": "/new%02d" % i, "setenv": {"HOOKSPOOL_SPOOL": tmp.join("spool%02d" % i)}}
              for i in range(n)]
    srv = T.server(tmp, name="fresh", max_procs=2, routes=routes,
                   env={"HOOKSPOOL_SECRET": hs.DEMO_SECRET, "HOOKSPOOL_SPOOL": tmp.join("unused")})
    answers = collections.Counter()
    bad_spools = []
    for i in range(n):
        evs = []
        for _ in range(per):
            body, _ = hs.caliza_event()
            evs.append((body, {hs.CALIZA_HEADER: caliza_sig(body)}))
        out = []
        barrier = threading.Barrier(per, timeout=60)

        def go(body, h, path="/new%02d" % i):
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
            st, _, b = srv.post(body, h, path=path)
            out.append((st, b))
        ts = [threading.Thread(target=go, args=e, daemon=True) for e in evs]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        for st, b in out:
            answers[(st, b.decode("utf-8", "replace").strip() if st != 200 else "id")] += 1
        ids = [(hs.one_line_json(b) or {}).get("id") for st, b in out if st == 200]
        objs, bad = hs.parse_lines(hs.spool_lines(tmp.join("spool%02d" % i)))
        if bad or sorted(o.get("id") for o in objs) != sorted(ids):
            bad_spools.append(i)
    T.check(answers.get((200, "id"), 0) == n * per,
            "every first request on a new spool answered 200", dict(answers))
    if answers.get((200, "id"), 0) != n * per:
        T.note("log: %s" % [l for l in srv.log().splitlines() if "status=" in l][:3])
    T.check(not bad_spools, "each new spool holds exactly its answered events", bad_spools)
    srv.stop()


def main(T):
    for name in (hs.FCGI, hs.CLI):
        if not os.access(name, os.X_OK):
            raise RuntimeError("%s not built (run make)" % name)
    fresh_spools(T)
    run(T, "fsync-always", 250, "always")
    run(T, "fsync-never", 100, "never", workers=1)
    run(T, "fsync-never-threads", 100, "never", threads=4, workers=4)


if __name__ == "__main__":
    hs.Suite("test_concurrency").run(main)
