"""
test_powercut.py - promise 1 across power cuts: with HOOKSPOOL_FSYNC=always
an event answered 2xx survives a power cut, once; with
HOOKSPOOL_FSYNC=never the cut loses what that setting permits to lose.

The spool lives on powerfs (tests/integration/powerfs.py, FUSE), a
filesystem that keeps every write not yet made durable (a file's data and
size until its fsync/fdatasync; a new name, an unlink, a link or a rename
until its directory's fsync) and on command drops all of it, as a power
cut does. Each round:

1. lighttpd starts, hookspool.fcgi as FastCGI (max-procs 2, dedup on: the
   Caliza default /operation,/resourceId, HOOKSPOOL_ROTATE_BYTES=8192 so
   segments are sealed all the time), the spool on powerfs;
2. CLIENTS threads post: new events, retries of events not yet answered
   2xx (a sender retries those), and redeliveries of events already
   answered 2xx (a sender that missed the answer); a share of them twice
   at once;
3. after a random time the power is cut: every server process is
   stopped where it is (SIGSTOP: a machine without power runs nothing),
   powerfs drops every write not made durable and answers EIO from then
   on, and the stopped processes are SIGKILLed;
4. the filesystem is unmounted and mounted again, presenting only the
   durable state, and the next round's servers recover it (their first
   POSTs do: cutting a torn tail, indexing keys past the store's cursor).

An answer counts as a 2xx for the checks only when the client had it
before the cut was ordered (an answer that arrives later could, in
principle, have been made after the cut, which no real cut allows).

After the last round every event ever sent is delivered until it is
taken (a sender's retries), `hookspool rotate` seals, a consumer reads every sealed
segment, and the checks are:
- fsync=always: every event answered 2xx (before a cut, in any round) is
  in the spool exactly once, in the line whose id a non-duplicate answer
  carried; no key is in two lines; every event sent is there exactly once
  at the end; after every cut, every event answered 2xx so far is already
  on the filesystem (before any recovery);
- both settings: no line a consumer reads is torn (each ends in '\\n' and
  is one JSON object), and PRAGMA integrity_check of SPOOL/state.db is ok
  after every cut and at the end;
- fsync=never: at least one event answered 2xx is gone after a cut (the
  loss that setting permits, so this test can fail).

POWERCUT_CUTS=N sets the cuts of the fsync=always run (default 3, for
make test; the long run is POWERCUT_CUTS=50); the fsync=never run makes
POWERCUT_NEVER_CUTS (default 2).

Needs /dev/fuse, Debian's fuse3 and python3-fusepy (deploy/deps.sh test).
"""
import collections
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402

POWERFS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "powerfs.py")
FS_PYTHON = "/usr/bin/python3"      # Debian's, where python3-fusepy is
CUTS = int(os.environ.get("POWERCUT_CUTS", "3"))
NEVER_CUTS = int(os.environ.get("POWERCUT_NEVER_CUTS", "2"))
CLIENTS = 6
ROTATE = 8192
LOAD_MIN_S, LOAD_MAX_S = 0.3, 2.0   # load before a cut (random)
FINAL_TRIES = 30
DUP = {"ok": True, "duplicate": True}


class Event:
    __slots__ = ("i", "body", "rid", "acked", "acked_ids", "sent", "late")

    def __init__(self, i):
        self.i = i
        name = hs.CALIZA_EXAMPLES[i % len(hs.CALIZA_EXAMPLES)]
        self.body, self.rid = hs.caliza_event(
            name, resource_id="pc%06d%s" % (i, hs.unique_hex(8)))
        self.acked = False          # some 2xx before a cut
        self.acked_ids = set()      # ids of non-duplicate 2xx answers before a cut
        self.sent = 0
        self.late = 0               # 2xx answers after a cut was ordered


class PowerFS:
    """The powerfs process and its mount (started here, stopped at cleanup)."""

    def __init__(self, T, tmp):
        self.mnt = tmp.mkdir("mnt", mode=0o755)
        self.ctl = tmp.join("powerfs.ctl")
        self.log = tmp.join("powerfs.log")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [FS_PYTHON, "-W", "ignore", POWERFS, self.mnt, self.ctl],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        T.on_cleanup("powerfs", self.stop)
        self.wait_up()

    def command(self, cmd):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        try:
            s.connect(self.ctl)
            s.sendall(cmd.encode() + b"\n")
            return s.makefile().readline().strip()
        finally:
            s.close()

    def wait_up(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("powerfs exited: %s" % hs.Server._tail(self.log))
            try:
                if os.path.ismount(self.mnt) and self.command("state") == "up":
                    os.listdir(self.mnt)
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("powerfs not mounted: %s" % hs.Server._tail(self.log))

    def remount(self):
        """Unmount (the kernel forgets the old state) and wait until the
        powerfs process has mounted the durable state again."""
        for _ in range(100):
            r = subprocess.run(["umount", self.mnt], capture_output=True)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("cannot unmount %s: %s" % (self.mnt, r.stderr))
        self.wait_up()

    def stop(self):
        subprocess.run(["umount", "-l", self.mnt], capture_output=True)
        hs.stop_group(self.proc)


def cli(*args, spool, fsync):
    env = hs.cli_env(HOOKSPOOL_SPOOL=spool, HOOKSPOOL_FSYNC=fsync)
    return subprocess.run([hs.CLI] + list(args), capture_output=True, env=env, timeout=120)


def lines_by_rid(lines):
    """{resourceId: [parsed line, ...]} and the unparsable lines."""
    parsed, bad = hs.parse_lines(lines)
    by = collections.defaultdict(list)
    for o in parsed:
        ev = o.get("event")
        if isinstance(ev, dict):
            by[ev.get("resourceId")].append(o)
    return by, bad, parsed


def signal_servers(srv, sig):
    """Send sig to every server process at once. lighttpd runs in a
    process group of its own, which its FastCGI backends share: one
    killpg reaches them all, with no window for lighttpd to respawn a
    backend that a signal by pid would miss (such a backend outlived the
    test, blocked on the unmounted filesystem); then each backend by pid,
    for any that left the group."""
    pids = srv.backend_pids() + ([srv.proc.pid] if srv.proc else [])
    if srv.proc is not None:
        try:
            os.killpg(srv.proc.pid, sig)
        except ProcessLookupError:
            pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def freeze_servers(srv):
    """The instant of the cut: every server process stops where it is
    (SIGSTOP), before powerfs drops anything, so none of them runs on the
    dark filesystem. A machine without power runs nothing: a process that
    went on after the cut would meet EIO everywhere, which is a failing
    disk, not a cut (a page of a mapped file it then faults in cannot be
    read, and the process dies of SIGBUS; ASan reported that once in CI
    as a crash)."""
    signal_servers(srv, signal.SIGSTOP)


def kill_servers(srv):
    """Power is off: every server process dies at once."""
    signal_servers(srv, signal.SIGKILL)
    srv.stop()


def run(T, fsync, cuts):
    T.section("HOOKSPOOL_FSYNC=%s, %d power cuts" % (fsync, cuts))
    tmp = T.tempdir()
    fs = PowerFS(T, tmp)
    spool = os.path.join(fs.mnt, "spool")
    env = hs.receiver_env(spool, HOOKSPOOL_FSYNC=fsync, HOOKSPOOL_ROTATE_BYTES=ROTATE)
    events = []
    lock = threading.Lock()
    rnd = random.Random(int(os.environ.get("POWERCUT_SEED", str(int(time.time())))))
    stats = collections.Counter()
    lost_after_cut = []        # (round, rid) answered 2xx, not on disk after a cut
    problems = collections.Counter()
    bad_answers = []

    def new_event():
        with lock:
            ev = Event(len(events))
            events.append(ev)
            return ev

    def post(srv, ev, cut_at):
        st, h, b = srv.request("POST", body=ev.body, headers=dict(
            hs.caliza_sig(ev.body), **{"Content-Type": "application/json"}), timeout=30)
        got = time.monotonic()
        with lock:
            ev.sent += 1
            stats["requests"] += 1
            stats["status %s" % st] += 1
            if st is None or not 200 <= st < 300:
                return st, None
            a = hs.one_line_json(b)
            ok = isinstance(a, dict) and (a == DUP or (
                a.get("ok") is True and isinstance(a.get("id"), str) and set(a) == {"ok", "id"}))
            if not ok:
                bad_answers.append((ev.rid, st, b[:200]))
                return st, None
            if cut_at[0] is not None and got >= cut_at[0]:
                ev.late += 1
                stats["2xx after the cut order"] += 1
                return st, a
            ev.acked = True
            if a != DUP:
                ev.acked_ids.add(a["id"])
            stats["2xx before a cut"] += 1
        return st, a

    def client(c, srv, stop, cut_at):
        r = random.Random(rnd.random())
        while not stop.is_set():
            x = r.random()
            with lock:
                pending = [e for e in events[-200:] if not e.acked]
                acked = [e for e in events[-200:] if e.acked]
            if x < 0.15 and pending:
                ev = r.choice(pending)            # a sender's retry
            elif x < 0.30 and acked:
                ev = r.choice(acked)              # a redelivery
            else:
                ev = new_event()
            if r.random() < 0.1:                  # twice at once
                t = threading.Thread(target=post, args=(srv, ev, cut_at), daemon=True)
                t.start()
                post(srv, ev, cut_at)
                t.join(60)
            else:
                post(srv, ev, cut_at)

    def check_store(what):
        db = os.path.join(spool, "state.db")
        if os.path.exists(db):
            res = hs.store_integrity(db)
            if res != [("ok",)]:
                problems["integrity %s" % what] += 1
                T.note("integrity_check %s: %r" % (what, res[:3]))
            stats["integrity checks"] += 1

    for rno in range(cuts):
        srv = hs.Server(tmp, name="pc%d" % rno, max_procs=2, env=env)
        T.on_cleanup("server", srv.stop)
        srv.start()
        if rno > 0:
            check_store("after recovery %d" % rno)
        stop = threading.Event()
        cut_at = [None]
        threads = [threading.Thread(target=client, args=(c, srv, stop, cut_at), daemon=True)
                   for c in range(CLIENTS)]
        before = stats["2xx before a cut"]
        for t in threads:
            t.start()
        deadline = time.monotonic() + rnd.uniform(LOAD_MIN_S, LOAD_MAX_S)
        while time.monotonic() < deadline or (stats["2xx before a cut"] == before and
                                              time.monotonic() < deadline + 30):
            time.sleep(0.02)
        cut_at[0] = time.monotonic()
        freeze_servers(srv)
        if fs.command("cut") != "ok":
            problems["powerfs refused a cut"] += 1
        stop.set()
        kill_servers(srv)
        for t in threads:
            t.join(60)
        fs.remount()
        # The durable state, before any recovery: what the disk holds.
        by, _bad, _ = lines_by_rid(hs.spool_lines(spool))
        with lock:
            for ev in events:
                if ev.acked and not by.get(ev.rid):
                    lost_after_cut.append((rno, ev.rid))
        check_store("after cut %d" % rno)

    T.note("%d events, %s, %d answered 2xx before a cut lost after one" % (
        len(events), dict(sorted(stats.items())), len(lost_after_cut)))
    T.check(not bad_answers, "every 2xx answer is the contract's", bad_answers[:5])
    if fsync == "always":
        T.check(not lost_after_cut, "fsync=always: after every cut, every event answered 2xx "
                "is on the filesystem", lost_after_cut[:10])
    else:
        T.check(len(lost_after_cut) > 0, "fsync=never: the cuts lose events answered 2xx "
                "(%d lost)" % len(lost_after_cut))

    # Recovery and the senders' last retries, then a consumer takes all.
    srv = hs.Server(tmp, name="final", max_procs=2, env=env)
    T.on_cleanup("server", srv.stop)
    srv.start()
    never_taken = []
    for ev in events:
        for k in range(FINAL_TRIES):
            st, a = post(srv, ev, [None])
            if a is not None:
                break
            time.sleep(0.05 * (k + 1))
        else:
            never_taken.append(ev.rid)
    srv.stop()
    T.check(not never_taken, "every event is taken in the end", never_taken[:5])
    r = cli("rotate", spool=spool, fsync=fsync)
    T.check(r.returncode == 0, "hookspool rotate", r.stderr[-300:])
    # What a consumer takes: the sealed segments. (`hookspool claim`
    # cannot move them here: libfuse 2 has no RENAME_NOREPLACE, and the
    # consumer's move has no link() fallback; the reading is the same.)
    lines = hs.spool_lines(spool, subs=("ready",))
    left = hs.spool_lines(spool, subs=("active",))
    T.check(not left, "after rotate every line is in a sealed segment", len(left))
    by, bad, parsed = lines_by_rid(lines + left)
    T.check(not bad, "no line a consumer reads is torn or invalid", bad[:3])
    keys = collections.Counter(json.dumps(o.get("key")) for o in parsed)
    twice = [k for k, n in keys.items() if n > 1]
    T.check(not twice, "no key is in two lines", twice[:5])
    check_store("at the end")
    T.check(not problems, "PRAGMA integrity_check of state.db is ok after every cut and "
            "at the end (%d checks)" % stats["integrity checks"], dict(problems))
    if fsync == "always":
        wrong = []
        for ev in events:
            got = by.get(ev.rid, [])
            if ev.acked and (len(got) != 1 or not ev.acked_ids <= {got[0].get("id")}):
                wrong.append((ev.rid, len(got), sorted(ev.acked_ids),
                              [o.get("id") for o in got]))
        T.check(not wrong, "every event answered 2xx is there exactly once, with the id "
                "its answer carried (%d events answered 2xx)" % sum(e.acked for e in events),
                wrong[:5])
        missing = [ev.rid for ev in events if len(by.get(ev.rid, [])) != 1]
        T.check(not missing, "every event sent is there exactly once at the end (%d)"
                % len(events), missing[:5])


def main(T):
    if not os.path.exists("/dev/fuse"):
        T.check(False, "/dev/fuse exists (a FUSE filesystem is needed)")
        return
    r = subprocess.run([FS_PYTHON, "-c", "import fusepy"], capture_output=True)
    if not T.check(r.returncode == 0, "python3-fusepy is installed (deploy/deps.sh test)",
                   r.stderr[-200:]):
        return
    run(T, "always", CUTS)
    run(T, "never", NEVER_CUTS)


hs.Suite("test_powercut").run(main)
