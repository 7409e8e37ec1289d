"""
test_lockfile.py - SPOOL/lock deleted, or moved away, while FastCGI
processes have it open: an operator clearing what looks like a stale
lock file (README, "A lock file deleted or moved away").

lighttpd with hookspool.fcgi (max-procs 2, dedup on, a segment sealed
every 16 KiB), a few events first so that both processes hold the lock
file; then, with the server idle, SPOOL/lock is removed (round 1:
deleted; round 2: moved away). Then 6 senders post for 3 s while a
cron-like loop runs `hookspool rotate` and `hookspool claim` / `done`.
Before, the processes kept locking the old file, and `rotate` took a
spool without a lock file for no spool at all: it sealed nothing and
exited 0 (and `claim` failed), while anything that made a new file
would lock apart from the writers. Checked, each round:
- every POST answered 200 with an id; every rotate and claim exits 0;
- after the senders stop, `hookspool rotate` leaves active/ empty;
- lines consumed = events acknowledged: none twice, none lost;
- ids increase within each segment and from one segment to the next
  (one lock, one stamp: append order is id order);
- SPOOL/lock is a regular file of mode 0600 (the spool's umask) again.
"""
import os
import stat
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402

SENDERS = 6
SECONDS = 3.0
ROTATE = 16384
CLI_ENV = hs.cli_env()


def cli(*args):
    import subprocess
    return subprocess.run([hs.CLI] + list(args), capture_output=True, timeout=120, env=CLI_ENV)


def one_round(T, how):
    tmp = T.tempdir()
    spool = tmp.join("spool")
    lock = os.path.join(spool, "lock")
    srv = T.server(tmp, name="lockfile-" + how.split()[0], max_procs=2, env={
        "HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET,
        "HOOKSPOOL_ROTATE_BYTES": str(ROTATE)})
    acked, unexpected, problems = {}, [], []
    mu = threading.Lock()

    def post_one():
        body, rid = hs.caliza_event()
        st, h, b = srv.post(body, hs.caliza_sig(body), timeout=60)
        a = hs.one_line_json(b) or {}
        with mu:
            if st == 200 and isinstance(a.get("id"), str):
                acked[a["id"]] = rid
            else:
                unexpected.append((st, b[:200]))

    # Both processes lock the file before it goes (each takes requests
    # from the one socket: a few dozen reach both).
    for _ in range(40):
        post_one()
    if how == "deleted":
        os.unlink(lock)
    else:
        os.rename(lock, lock + ".old")
    stop = threading.Event()

    def sender():
        while not stop.is_set():
            post_one()

    consumed = []                # (segment name, line bytes), in claim order

    def consume(paths):
        for p in paths:
            data = hs.read_bytes(p)
            d = cli("done", "-s", spool, p)
            if d.returncode != 0:
                problems.append("done exit %d: %s" % (d.returncode, d.stderr[-200:]))
                continue
            for ln in data.splitlines(keepends=True):
                consumed.append((os.path.basename(p), ln))

    def cron():
        while not stop.is_set():
            for args in (("rotate", "-s", spool), ("claim", "-s", spool, "-n", "4")):
                r = cli(*args)
                if r.returncode != 0:
                    problems.append("%s exit %d: %s" % (args[0], r.returncode, r.stderr[-200:]))
                elif args[0] == "claim":
                    consume([p for p in r.stdout.decode().splitlines() if p.strip()])
            time.sleep(0.1)

    ts = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
    ts.append(threading.Thread(target=cron, daemon=True))
    for t in ts:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in ts:
        t.join(180)
    r = cli("rotate", "-s", spool)
    T.check(r.returncode == 0 and not hs.spool_files(spool, "active"),
            "%s: after the senders stop, rotate seals the active segment" % how,
            (r.returncode, r.stderr[-200:], hs.spool_files(spool, "active")))
    for _ in range(100):
        r = cli("claim", "-s", spool, "-n", "16")
        paths = [p for p in r.stdout.decode().splitlines() if p.strip()]
        if r.returncode != 0 or not paths:
            break
        consume(paths)
    T.note("%s: %d events acknowledged, %d lines consumed" % (how, len(acked), len(consumed)))
    T.check(not unexpected, "%s: every POST answered 200 with an id" % how, unexpected[:3])
    T.check(not problems, "%s: every rotate, claim and done exits 0" % how, problems[:3])
    objs, bad = hs.parse_lines(consumed)
    T.check(not bad, "%s: every line consumed ends in a newline and parses" % how, bad[:3])
    ids = [o.get("id") for o in objs]
    twice = len(ids) - len(set(ids))
    lost = [i for i in acked if i not in set(ids)]
    T.check(twice == 0 and not lost and len(ids) == len(acked),
            "%s: lines consumed = events acknowledged (%d), none twice, none lost"
            % (how, len(acked)), (twice, lost[:3], len(ids)))
    # Segment names sort in sealing order, as claim hands them out.
    order = sorted(range(len(consumed)), key=lambda i: (consumed[i][0], i))
    seq = [ids[i] for i in order if i < len(ids)]
    back = [(a, b) for a, b in zip(seq, seq[1:]) if not a < b]
    T.check(not back, "%s: ids increase within and across segments (%d ids)" % (how, len(seq)),
            back[:3])
    st = os.lstat(lock) if os.path.lexists(lock) else None
    T.check(st is not None and stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600,
            "%s: SPOOL/lock is a regular file of mode 0600 again" % how,
            st and oct(st.st_mode))
    srv.stop()
    hs.check_no_leaks(T, [srv], [tmp.path])


def main(T):
    one_round(T, "deleted")
    one_round(T, "moved away")


if __name__ == "__main__":
    hs.Suite("test_lockfile").run(main)
