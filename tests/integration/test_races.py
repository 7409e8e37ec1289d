"""
test_races.py - SPEC section 6 under concurrency: writers, sealing every
few KB, two consumers and a requeuer all at once.

lighttpd with hookspool.fcgi (max-procs 4), 8 client threads posting
distinct events, HOOKSPOOL_ROTATE_BYTES=4096 (a segment sealed every few
lines), HOOKSPOOL_ROTATE_SECONDS=1 (so `hookspool claim` seals the active
segment too, racing the writers). Meanwhile two consumers loop on
`hookspool claim -n 1`: read the
claimed segment ("cat"), then `hookspool done` it, and keep what they
read only when `done` succeeded (a consumer's commit point: if the
segment was requeued and taken by the other consumer meanwhile, exactly
one of the two deletes it); a third loop runs `hookspool requeue
--older-than 0` now and then, taking back whatever is claimed at that
instant. After the writers stop: `hookspool rotate`, then the consumers
drain the spool.
- lines consumed = events acknowledged (2xx with an id): none twice,
  none lost, none that was not acknowledged;
- every consumed line ends in '\\n' and parses; every segment a consumer
  read was complete and within the rotation size;
- nothing is left in active/, ready/, claimed/ or failed/;
- the requeuer did take segments back and some `done` lost the race
  (so the races this test is about did happen).
"""
import collections
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402

WRITERS = 8
MAX_PROCS = 4
WRITE_SECONDS = 20.0
ROTATE = 4096
ENV_PATH = hs.cli_env()
# claim seals a due active segment itself: with 1 s, the consumers' claims
# race the writers' own sealing too
CLI_ENV = dict(ENV_PATH, HOOKSPOOL_ROTATE_SECONDS="1")


sig = hs.caliza_sig


def cli(*args, timeout=60):
    for attempt in range(5):
        try:
            return subprocess.run([hs.CLI] + list(args), capture_output=True, timeout=timeout,
                                  env=CLI_ENV)
        except OSError:          # a concurrent `make` is rewriting the binary
            if attempt == 4:
                raise
            time.sleep(1)


def main(T):
    tmp = T.tempdir()
    spool = tmp.join("spool")
    srv = T.server(tmp, name="races", max_procs=MAX_PROCS, env={
        "HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET,
        "HOOKSPOOL_ROTATE_BYTES": str(ROTATE), "HOOKSPOOL_ROTATE_SECONDS": "1"})
    lock = threading.Lock()
    acked = {}                   # id -> resourceId
    answers = collections.Counter()
    unexpected = []
    writers_stop = threading.Event()
    requeue_stop = threading.Event()
    drain = threading.Event()    # writers stopped and the last segment sealed
    consumers_stop = threading.Event()

    def writer(w):
        while not writers_stop.is_set():
            body, rid = hs.caliza_event(hs.CALIZA_EXAMPLES[w % len(hs.CALIZA_EXAMPLES)])
            st, h, b = srv.request("POST", body=body, headers=dict(
                sig(body), **{"Content-Type": "application/json"}), timeout=60)
            a = hs.one_line_json(b) or {}
            with lock:
                answers[st] += 1
                if st == 200 and isinstance(a.get("id"), str):
                    acked[a["id"]] = rid
                else:
                    unexpected.append((st, b[:200]))

    consumed = [[], []]          # per consumer: (segment name, line bytes)
    cstats = [collections.Counter(), collections.Counter()]
    seg_problems = []

    def consumer(c):
        st = cstats[c]
        while not consumers_stop.is_set():
            r = cli("claim", "-s", spool, "-n", "1")
            st["claim runs"] += 1
            if r.returncode != 0:
                st["claim failed"] += 1
                seg_problems.append("claim exit %d: %s" % (r.returncode, r.stderr[-200:]))
            paths = [p for p in r.stdout.decode().splitlines() if p.strip()]
            if not paths:
                if drain.is_set():
                    st["empty after drain"] += 1
                time.sleep(0.01)
                continue
            for p in paths:
                st["claimed"] += 1
                try:
                    data = hs.read_bytes(p)          # "cat" the segment
                except FileNotFoundError:
                    # requeued meanwhile: not ours any more (a `done` now
                    # could delete the other consumer's fresh claim of it)
                    st["gone before read (requeued)"] += 1
                    continue
                d = cli("done", "-s", spool, p)
                if d.returncode != 0:
                    st["done lost the race"] += 1
                    continue
                st["consumed"] += 1
                if not data.endswith(b"\n") or len(data) > ROTATE:
                    seg_problems.append("%s: %d bytes, ends %r" % (
                        os.path.basename(p), len(data), data[-20:]))
                name = os.path.basename(p)
                for ln in data.splitlines(keepends=True):
                    consumed[c].append((name, ln))

    requeued = collections.Counter()

    def requeuer():
        rnd = random.Random(3)
        while not requeue_stop.is_set():
            time.sleep(rnd.uniform(0.02, 0.3))
            r = cli("requeue", "-s", spool, "--older-than", "0")
            requeued["runs"] += 1
            if r.returncode != 0:
                requeued["failed"] += 1
                seg_problems.append("requeue exit %d: %s" % (r.returncode, r.stderr[-200:]))
            requeued["segments"] += len([p for p in r.stdout.decode().splitlines() if p.strip()])

    # the first event creates the spool (claim on a missing spool is an
    # error, not "nothing to do")
    body, rid = hs.caliza_event()
    st, h, b = srv.post(body, sig(body))
    a = hs.one_line_json(b) or {}
    T.check(st == 200, "the first event creates the spool", (st, b))
    if st == 200:
        acked[a.get("id")] = rid
    ws = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(WRITERS)]
    cs = [threading.Thread(target=consumer, args=(c,), daemon=True) for c in range(2)]
    rq = threading.Thread(target=requeuer, daemon=True)
    t0 = time.monotonic()
    for t in ws + cs + [rq]:
        t.start()
    try:
        time.sleep(WRITE_SECONDS)
    finally:
        writers_stop.set()
        for t in ws:
            t.join(120)
        requeue_stop.set()
        rq.join(60)
        r = cli("rotate", "-s", spool)
        T.check(r.returncode == 0, "hookspool rotate after the writers stopped exits 0", r.stderr)
        # Requeue whatever a consumer may hold claimed right now once more;
        # then drain (bounded).
        # Bounded by progress: give up after 60 s in which nothing was
        # consumed (a sanitized or valgrind build is many times slower),
        # and after 15 minutes in any case.
        drain.set()
        hard = time.monotonic() + 900
        last_left, last_progress = None, time.monotonic()
        while time.monotonic() < hard and time.monotonic() - last_progress < 60:
            left = sum(len(hs.spool_files(spool, d)) for d in ("active", "ready", "claimed"))
            if left == 0:
                break
            if left != last_left:
                last_left, last_progress = left, time.monotonic()
            time.sleep(0.2)
        consumers_stop.set()
        for t in cs:
            t.join(60)
    took = time.monotonic() - t0
    T.note("%.1f s: answers %s; %d events acknowledged" % (took, dict(answers), len(acked)))
    T.note("consumers: %s; requeue: %s" % ([dict(s) for s in cstats], dict(requeued)))
    T.check(not unexpected, "every POST answered 200 with an id", unexpected[:3])
    T.check(len(acked) >= 500, "a substantial number of events (%d)" % len(acked))
    left = {d: hs.spool_files(spool, d) for d in ("active", "ready", "claimed", "failed")}
    T.check(not any(left.values()), "drained: nothing left in active/, ready/, claimed/, failed/",
            {d: len(v) for d, v in left.items()})
    T.check(not seg_problems, "every consumed segment complete and within %d bytes; every "
            "command succeeded" % ROTATE, seg_problems[:5])

    allc = consumed[0] + consumed[1]
    objs, bad = hs.parse_lines(allc)
    T.check(not bad, "every consumed line (%d) ends in '\\n' and parses" % len(allc), bad[:3])
    ids = collections.Counter(o.get("id") for o in objs)
    twice = [i for i, n in ids.items() if n > 1]
    lost = [i for i in acked if i not in ids]
    extra = [i for i in ids if i not in acked]
    T.check(not twice, "no event consumed twice", twice[:5])
    T.check(not lost, "no acknowledged event lost (%d acknowledged)" % len(acked), lost[:5])
    T.check(not extra, "nothing consumed that was not acknowledged", extra[:5])
    T.check(len(objs) == len(acked), "lines consumed (%d) = events acknowledged (%d)"
            % (len(objs), len(acked)))
    wrong = [i for i, o in ((o.get("id"), o) for o in objs) if i in acked and
             (o.get("event") or {}).get("resourceId") != acked[i]]
    T.check(not wrong, "each consumed line is the event its id was answered for", wrong[:3])
    T.check(all(cstats[c]["consumed"] > 0 for c in range(2)), "both consumers consumed segments",
            [cstats[c]["consumed"] for c in range(2)])
    raced = sum(cstats[c]["done lost the race"] + cstats[c]["gone before read (requeued)"]
                for c in range(2))
    T.check(requeued["segments"] > 0, "the requeuer took claimed segments back (%d)"
            % requeued["segments"])
    T.note("%d times a consumer lost its segment to the requeuer and the other consumer" % raced)
    srv.stop()
    hs.check_no_leaks(T, [srv], [tmp.path])


if __name__ == "__main__":
    hs.Suite("test_races").run(main)
