"""
test_consumer.py - SPEC section 6's consumer commands through the real
build/hookspool binary: claim, done, requeue, consume, retry-failed, on
spools built by hand or filled by build/hookspool.fcgi run as a plain CGI
(one request from the environment and stdin; no web server).
"""
import calendar
import json
import os
import signal
import subprocess
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402

RACE_SEGS = 40
CMD_TIMEOUT = 60          # seconds for any one hookspool run
HOLD_SECONDS = 3          # how long the "slow consumer" holds its segment
WAIT_TIMEOUT = 10.0       # bounded waits for a file to appear
SUBDIRS = ("active", "ready", "claimed", "failed", "invalid")


base_env = hs.cli_env


def cli(args, env=None, timeout=CMD_TIMEOUT, **kw):
    """(exit status, stdout lines, stderr text) of build/hookspool args."""
    r = subprocess.run([hs.CLI] + list(args), capture_output=True,
                       env=env if env is not None else base_env(), timeout=timeout, **kw)
    return (r.returncode, r.stdout.decode("utf-8", "replace").splitlines(),
            r.stderr.decode("utf-8", "replace"))


def make_spool(tmp, name):
    """A spool laid out as the receiver makes it, with no segments."""
    sp = tmp.mkdir(name, mode=0o700)
    for s in SUBDIRS:
        tmp.mkdir(name, s, mode=0o700)
    with open(os.path.join(sp, "lock"), "wb"):
        pass
    return sp


def seg_name(i):
    return "20260101T%06dZ-h-%06d.jsonl" % (i % 240000, i)


def put(sp, sub, name, data):
    p = os.path.join(sp, sub, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def names(sp, sub):
    return [os.path.basename(p) for p in hs.spool_files(sp, sub)]


def wait_file(path, timeout=WAIT_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False


def cgi_post(sp, body, rotate_seconds=1):
    """POST body to hookspool.fcgi as a plain CGI; returns its output."""
    h = hs.sign(body)
    env = base_env(REQUEST_METHOD="POST", CONTENT_LENGTH=len(body),
                   CONTENT_TYPE="application/json", HOOKSPOOL_SPOOL=sp,
                   HOOKSPOOL_SECRET=hs.DEMO_SECRET,
                   HOOKSPOOL_ROTATE_SECONDS=rotate_seconds,
                   HTTP_X_CALIZA_WEBHOOK_SIGNATURE=h[hs.CALIZA_HEADER])
    r = subprocess.run([hs.FCGI], input=body, capture_output=True, env=env,
                       timeout=CMD_TIMEOUT)
    return r.returncode, r.stdout.decode("utf-8", "replace")


# ---------------------------------------------------------------- sections

def section_usage(T, tmp):
    T.section("exit codes and nothing to do")
    sp = make_spool(tmp, "usage")
    rc, out, err = cli(["claim"])
    T.check(rc == 2 and "no spool" in err, "claim without a spool: exit 2", (rc, err))
    rc, out, err = cli(["requeue"])
    T.check(rc == 2, "requeue without a spool: exit 2", (rc, err))
    for bad in (["claim", "-s", sp, "-n", "x"], ["claim", "-s", sp, "-n", "0"],
                ["claim", "-s", sp, "-n", "-1"], ["claim", "-s", sp, "-n", " 1"],
                ["consume", "-s", sp, "-n", "1k", "--", "true"],
                ["consume", "-s", sp, "--max-attempts", "0", "--", "true"],
                ["consume", "-s", sp, "--timeout", "0", "--", "true"],
                ["consume", "-s", sp, "--timeout", "1h", "--", "true"],
                ["requeue", "-s", sp, "--older-than", "soon"],
                ["claim", "-s", sp, "--bogus"], ["claim", "-s", sp, "extra"],
                ["consume", "-s", sp], ["done", "-s", sp]):
        rc, out, err = cli(bad)
        T.check(rc == 2 and out == [], "%s: exit 2, nothing printed" % " ".join(bad[:1] + bad[3:]),
                (rc, out, err))
    for cmd in ("claim", "done", "requeue", "consume", "retry-failed"):
        rc, out, err = cli([cmd, "--help"])
        T.check(rc == 0 and any(cmd in l for l in out), "%s --help" % cmd, (rc, out, err))
    rc, out, err = cli(["--help"])
    text = "\n".join(out)
    T.check(rc == 0 and all(c in text for c in ("claim", "done", "requeue", "consume",
                                                  "retry-failed", "rotate", "sign")),
            "usage lists every command", text)
    for args in (["claim"], ["requeue"], ["requeue", "--older-than", "10"], ["retry-failed"],
                 ["consume", "--", "sh", "-c", "exit 9"]):
        rc, out, err = cli(args[:1] + ["-s", sp] + args[1:])
        T.check(rc == 0 and out == [] and err == "", "%s on an empty spool: exit 0, silent" %
                " ".join(args), (rc, out, err))
        rc, out, err = cli(args, env=base_env(HOOKSPOOL_SPOOL=tmp.join("not-yet")))
        T.check(rc == 0 and out == [] and err == "", "%s on a spool not made yet: exit 0, silent" %
                " ".join(args), (rc, out, err))
    # A spool whose parent does not exist is a mistake (a typo in -s), not
    # an empty spool (issue 13, item 8: claim said nothing and exited 0).
    missing = tmp.join("no-such-parent", "x")
    for args in (["claim"], ["requeue"], ["retry-failed"], ["rotate"],
                 ["consume", "--", "sh", "-c", "exit 9"]):
        for how, a, env in (("-s", args[:1] + ["-s", missing] + args[1:], None),
                            ("HOOKSPOOL_SPOOL", args, base_env(HOOKSPOOL_SPOOL=missing))):
            rc, out, err = cli(a, env=env)
            T.check(rc == 2 and out == [] and missing in err and "does not exist" in err,
                    "%s with %s under a missing parent: exit 2, says so" % (args[0], how),
                    (rc, out, err))
    rc, out, err = cli(["done", "-s", missing, os.path.join(missing, "claimed", seg_name(1))])
    T.check(rc == 2 and "does not exist" in err, "done under a missing parent: exit 2", (rc, err))
    notaspool = tmp.mkdir("notaspool", mode=0o700)
    rc, out, err = cli(["claim", "-s", notaspool])
    T.check(rc == 2 and "not a spool" in err, "a directory that is no spool: exit 2", (rc, err))
    T.check(not os.path.exists(os.path.join(sp, "state.db")),
            "commands with nothing to do create no store")


def section_race(T, tmp):
    T.section("two claim -n 1 loops racing over %d segments" % RACE_SEGS)
    sp = make_spool(tmp, "race")
    for i in range(RACE_SEGS):
        put(sp, "ready", seg_name(i), b'{"n":%d}\n' % i)
    loop = ('while out=$("$0" claim -n 1 -s "$1") && [ -n "$out" ]; do '
            'printf "%s\\n" "$out"; done')
    procs = [subprocess.Popen(["sh", "-c", loop, hs.CLI, sp], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=base_env())
             for _ in range(2)]
    outs = []
    for p in procs:
        o, e = p.communicate(timeout=CMD_TIMEOUT * 2)
        outs.append([l for l in o.decode().splitlines() if l])
        T.check(p.returncode == 0 and e == b"", "loop ended cleanly", (p.returncode, e))
    a, b = set(outs[0]), set(outs[1])
    want = {os.path.join(sp, "claimed", seg_name(i)) for i in range(RACE_SEGS)}
    T.check(len(outs[0]) == len(a) and len(outs[1]) == len(b), "no loop printed a path twice")
    T.check(not (a & b), "no segment claimed by both", sorted(a & b)[:5])
    T.check(a | b == want, "every segment claimed (%d + %d)" % (len(a), len(b)),
            sorted(want - (a | b))[:5])
    T.check(names(sp, "ready") == [] and len(names(sp, "claimed")) == RACE_SEGS,
            "all in claimed/")
    T.note("split %d / %d" % (len(a), len(b)))


def section_consume(T, tmp):
    T.section("consume feeds each segment on stdin, removes it on exit 0")
    sp = make_spool(tmp, "consume")
    got = tmp.mkdir("consume-got", mode=0o700)
    data = {}
    for i in range(3):
        body = b"".join(b'{"seg":%d,"line":%d,"x":"\\u00e9 500.00"}\n' % (i, j)
                        for j in range(i + 1))
        data[seg_name(i)] = body
        put(sp, "ready", seg_name(i), body)
    cmd = 'cat > "$0/$(basename "$HOOKSPOOL_SEGMENT")"'
    rc, out, err = cli(["consume", "-s", sp, "--", "sh", "-c", cmd, got])
    T.check(rc == 0 and err == "", "consume: exit 0", (rc, err))
    T.check(out == [os.path.join(sp, "claimed", n) for n in sorted(data)],
            "consume prints each consumed path, oldest first", out)
    for n, body in data.items():
        p = os.path.join(got, n)
        T.check(os.path.exists(p) and hs.read_bytes(p) == body, "%s fed byte for byte" % n)
    T.check(names(sp, "ready") == [] and names(sp, "claimed") == [] and names(sp, "failed") == [],
            "segments removed")

    T.section("consume requeues on failure")
    put(sp, "ready", seg_name(10), b'{"a":1}\n')
    put(sp, "ready", seg_name(11), b'{"a":2}\n')
    rc, out, err = cli(["consume", "-s", sp, "-n", "1", "--", "sh", "-c", "cat >/dev/null; exit 3"])
    want = "hookspool consume: sh exited 3 on %s (attempt 1 of 5)" % os.path.join(
        sp, "claimed", seg_name(10))
    T.check(rc == 1 and out == [] and want in err, "exit 1, reported with the attempt", (rc, out, err))
    T.check(names(sp, "ready") == [seg_name(10), seg_name(11)] and names(sp, "claimed") == [],
            "back in ready/, -n 1 took only one", names(sp, "ready"))
    # A command that cannot be run is a configuration error (issue 13,
    # item 8: it counted as a failure of every segment, so five cron runs
    # dead-lettered the whole spool): exit 2, a message, no segment
    # touched, however often it runs.
    before = {n: os.stat(os.path.join(sp, "ready", n)).st_mtime_ns for n in names(sp, "ready")}
    for prog in ("/nonexistent/consumer", "no-such-hookspool-consumer"):
        for run in range(6):
            rc, out, err = cli(["consume", "-s", sp, "--", prog])
            T.check(rc == 2 and out == [] and prog in err and "cannot be run" in err and
                    "(attempt" not in err, "consume -- %s (run %d): exit 2 with a message"
                    % (prog, run + 1), (rc, out, err))
    after = {n: os.stat(os.path.join(sp, "ready", n)).st_mtime_ns for n in names(sp, "ready")}
    T.check(after == before and names(sp, "claimed") == [] and names(sp, "failed") == [],
            "no segment touched: ready/ as it was, nothing claimed or failed",
            {x: names(sp, x) for x in ("ready", "claimed", "failed")})
    rc, out, err = cli(["consume", "-s", tmp.join("not-made-yet"), "--", "/nonexistent/consumer"])
    T.check(rc == 2 and "cannot be run" in err, "... also on a spool not made yet", (rc, err))
    rc, out, err = cli(["consume", "-s", sp, "--", "sh", "-c", "cat >/dev/null; exit 3"])
    T.check(rc == 1 and "(attempt 2 of 5)" in err and "(attempt 1 of 5)" in err,
            "counts continue across runs, untouched by the runs that could not start", err)
    rc, out, err = cli(["consume", "-s", sp, "--", "sh", "-c", "cat >/dev/null"])
    T.check(rc == 0 and len(out) == 2 and names(sp, "ready") == [], "then consumed", (rc, out, err))


def section_timeout(T, tmp):
    T.section("consume --timeout: a hanging command is killed with its process group")
    sp = make_spool(tmp, "timeout")
    seg = seg_name(700)
    put(sp, "ready", seg, b'{"hang":true}\n')
    pidf = tmp.join("timeout-bg.pid")
    # The command hangs, and leaves a background child that must die too.
    cmd = 'sleep 300 & echo $! > "$0"; cat >/dev/null; sleep 300'
    t0 = time.monotonic()
    rc, out, err = cli(["consume", "-s", sp, "--timeout", "2", "--", "sh", "-c", cmd, pidf])
    T.note("consume --timeout 2 returned after %.1f s" % (time.monotonic() - t0))
    T.check(rc == 1 and out == [] and "ran longer than --timeout 2 s" in err and
            "(attempt 1 of 5)" in err, "exit 1: a failure, counted", (rc, out, err))
    T.check(names(sp, "ready") == [seg] and names(sp, "claimed") == [],
            "the segment is back in ready/", {x: names(sp, x) for x in ("ready", "claimed")})
    bg = int(open(pidf).read().strip()) if wait_file(pidf) else None
    gone = False
    deadline = time.monotonic() + WAIT_TIMEOUT
    while bg and time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % bg) as f:
                gone = ") Z " in f.read()
        except OSError:
            gone = True
        if gone:
            break
        time.sleep(0.05)
    T.check(bg and gone, "the command's background child was killed too", bg)
    rc, out, err = cli(["consume", "-s", sp, "--timeout", "60", "--", "sh", "-c", "cat >/dev/null"])
    T.check(rc == 0 and out == [os.path.join(sp, "claimed", seg)],
            "a command within --timeout consumes it", (rc, out, err))
    # SIGTERM to consume while the command runs: passed on to the
    # command's group; the segment goes back uncounted.
    seg2 = seg_name(701)
    put(sp, "ready", seg2, b'{"interrupted":true}\n')
    pidf2 = tmp.join("interrupt.pid")
    p = subprocess.Popen([hs.CLI, "consume", "-s", sp, "--", "sh", "-c",
                          'echo $$ > "$0"; cat >/dev/null; sleep 300', pidf2],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=base_env())
    # The file exists once the command runs: consume, which blocks the
    # signal before starting it, is then waiting for it.
    started = wait_file(pidf2)
    p.send_signal(signal.SIGTERM)
    try:
        out, err = p.communicate(timeout=CMD_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    err = err.decode("utf-8", "replace")
    T.check(started and p.returncode != 0 and "interrupted by signal %d" % signal.SIGTERM in err,
            "SIGTERM while the command runs: consume stops, non-zero, says so",
            (p.returncode, err))
    T.check(names(sp, "ready") == [seg2] and names(sp, "claimed") == [],
            "the segment is back in ready/", {x: names(sp, x) for x in ("ready", "claimed")})
    rc, out, err = cli(["consume", "-s", sp, "--", "sh", "-c", "cat >/dev/null; exit 5"])
    T.check(rc == 1 and "(attempt 1 of 5)" in err, "... with no attempt counted", err)
    rc, out, err = cli(["consume", "-s", sp, "--", "sh", "-c", "cat >/dev/null"])
    T.check(rc == 0 and names(sp, "ready") == [], "then consumed", (rc, out, err))
    rc, out, err = cli(["consume", "--help"])
    T.check("--timeout" in "\n".join(out) and "3600" in "\n".join(out),
            "consume --help documents --timeout and its default", out)


def section_poison(T, tmp):
    T.section("a poison segment goes to failed/ after --max-attempts cron runs")
    sp = make_spool(tmp, "poison")
    poison = seg_name(500)
    put(sp, "ready", poison, b'{"poison":true}\n')
    cmd = 'if grep -q poison; then exit 7; fi'
    for run in range(1, 4):
        good = seg_name(500 + run)
        put(sp, "ready", good, b'{"good":%d}\n' % run)
        rc, out, err = cli(["consume", "-s", sp, "--max-attempts", "3", "--", "sh", "-c", cmd])
        T.check(rc == 1, "run %d: exit 1" % run, (rc, err))
        T.check(out == [os.path.join(sp, "claimed", good)], "run %d: the good one flowed on" % run,
                out)
        T.check("sh exited 7 on %s (attempt %d of 3)" % (os.path.join(sp, "claimed", poison), run)
                in err, "run %d: attempt %d of 3 reported" % (run, run), err)
        where = "failed" if run == 3 else "ready"
        T.check(names(sp, where) == [poison] and names(sp, "claimed") == [],
                "run %d: poison in %s/" % (run, where), {s: names(sp, s) for s in SUBDIRS})
    T.check(not any(n for n in os.listdir(os.path.join(sp, "failed")) if n != poison) and
            sorted(os.listdir(os.path.join(sp, "ready"))) == [],
            "nothing but segments beside it", os.listdir(os.path.join(sp, "failed")))
    rc, out, err = cli(["consume", "-s", sp, "--max-attempts", "3", "--", "sh", "-c", cmd])
    T.check(rc == 0 and out == [] and names(sp, "failed") == [poison],
            "a dead letter is not retried by consume", (rc, out, err))

    T.section("retry-failed")
    rc, out, err = cli(["retry-failed", "-s", sp, os.path.join(sp, "ready", poison)])
    T.check(rc == 1 and poison in err and out == [], "a FILE not in failed/ is refused", (rc, err))
    rc, out, err = cli(["retry-failed", "-s", sp])
    T.check(rc == 0 and out == [os.path.join(sp, "ready", poison)], "retry-failed prints it",
            (rc, out, err))
    T.check(names(sp, "ready") == [poison] and names(sp, "failed") == [], "back in ready/")
    rc, out, err = cli(["consume", "-s", sp, "--max-attempts", "3", "--", "sh", "-c", cmd])
    T.check(rc == 1 and "(attempt 1 of 3)" in err and names(sp, "ready") == [poison],
            "its count was reset", err)
    for _ in range(2):
        cli(["consume", "-s", sp, "--max-attempts", "3", "--", "sh", "-c", cmd])
    rc, out, err = cli(["retry-failed", "-s", sp, os.path.join(sp, "failed", poison)])
    T.check(rc == 0 and out == [os.path.join(sp, "ready", poison)], "retry-failed FILE",
            (rc, out, err))


def section_requeue(T, tmp):
    T.section("requeue")
    sp = make_spool(tmp, "requeue")
    put(sp, "ready", seg_name(1), b'{"a":1}\n')
    put(sp, "ready", seg_name(2), b'{"a":2}\n')
    # sealed long ago: the claim time must not be the file's old mtime
    old = time.time() - 86400
    for n in (seg_name(1), seg_name(2)):
        os.utime(os.path.join(sp, "ready", n), (old, old))
    rc, out, err = cli(["claim", "-s", sp])
    T.check(rc == 0 and out == [os.path.join(sp, "claimed", n) for n in (seg_name(1), seg_name(2))],
            "claim prints both, oldest first", (rc, out, err))
    rc, out, err = cli(["requeue", "-s", sp, "--older-than", "3600"])
    T.check(rc == 0 and out == [] and len(names(sp, "claimed")) == 2,
            "requeue --older-than 3600 leaves a fresh claim", (rc, out, err))
    p = os.path.join(sp, "claimed", seg_name(1))
    os.utime(p, (old, old))
    rc, out, err = cli(["requeue", "-s", sp, "--older-than", "3600"])
    T.check(rc == 0 and out == [os.path.join(sp, "ready", seg_name(1))],
            "requeue --older-than 3600 takes one claimed a day ago", (rc, out, err))
    rc, out, err = cli(["requeue"], env=base_env(HOOKSPOOL_SPOOL=sp))
    T.check(rc == 0 and out == [os.path.join(sp, "ready", seg_name(2))],
            "requeue (all) takes the fresh one too", (rc, out, err))
    T.check(names(sp, "claimed") == [] and len(names(sp, "ready")) == 2, "both in ready/")

    T.section("requeue never takes a segment a running consume holds")
    for n in names(sp, "ready"):
        os.unlink(os.path.join(sp, "ready", n))
    held, abandoned = seg_name(20), seg_name(21)
    put(sp, "ready", held, b'{"held":1}\n')
    put(sp, "claimed", abandoned, b'{"abandoned":1}\n')
    started = tmp.join("consume-started")
    cmd = 'cat >/dev/null; : > "$0"; sleep %d' % HOLD_SECONDS
    p = subprocess.Popen([hs.CLI, "consume", "-s", sp, "--", "sh", "-c", cmd, started],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=base_env())
    try:
        T.check(wait_file(started), "the consumer's command started")
        rc, out, err = cli(["requeue", "-s", sp])
        T.check(rc == 0 and out == [os.path.join(sp, "ready", abandoned)],
                "requeue takes only the abandoned claim", (rc, out, err))
        T.check(names(sp, "claimed") == [held], "the held segment stays in claimed/")
        rc, out, err = cli(["claim", "-s", sp])
        T.check(out == [os.path.join(sp, "claimed", abandoned)], "claim takes the requeued one",
                out)
        o, e = p.communicate(timeout=CMD_TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    T.check(p.returncode == 0 and o.decode().splitlines() == [os.path.join(sp, "claimed", held)],
            "the consumer finished its segment", (p.returncode, o, e))
    T.check(names(sp, "claimed") == [abandoned], "only the re-claimed one is left")

    T.section("done")
    p = os.path.join(sp, "claimed", abandoned)
    put(sp, "ready", seg_name(30), b'{"r":1}\n')
    keep = tmp.mkdir("keep", mode=0o700)
    rc, out, err = cli(["done", "-s", sp, os.path.join(sp, "ready", seg_name(30))])
    T.check(rc == 1 and seg_name(30) in err and names(sp, "ready") == [seg_name(30)],
            "done refuses a segment outside claimed/", (rc, err))
    rc, out, err = cli(["done", "-s", sp, "--keep", keep, p])
    T.check(rc == 0 and out == [os.path.join(keep, abandoned)] and
            hs.read_bytes(os.path.join(keep, abandoned)) == b'{"abandoned":1}\n',
            "done --keep moves it and prints the new path", (rc, out, err))
    rc, out, err = cli(["claim", "-s", sp])
    rc, out, err = cli(["done", "-s", sp, "nonexistent.jsonl", out[0]])
    T.check(rc == 1 and "nonexistent.jsonl" in err and names(sp, "claimed") == [],
            "done deletes the good FILE, reports the bad one", (rc, out, err))


def section_promise4(T, tmp):
    T.section("promise 4: a due segment is sealed by claim / rotate without a request")
    for how in ("claim", "rotate"):
        sp = tmp.join("p4-" + how)
        body, rid = hs.caliza_event()
        rc, text = cgi_post(sp, body)
        T.check(rc == 0 and "200" in text.split("\n", 1)[0], "%s: CGI accepted the event" % how,
                text)
        T.check(len(names(sp, "active")) == 1, "%s: the event is in active/" % how)
        env60 = base_env(HOOKSPOOL_ROTATE_SECONDS=60)
        if how == "claim":
            rc, out, err = cli(["claim", "-s", sp], env=env60)
            T.check(rc == 0 and out == [] and len(names(sp, "active")) == 1,
                    "claim does not seal a segment that is not due", (rc, out, err))
        time.sleep(2)
        env1 = base_env(HOOKSPOOL_ROTATE_SECONDS=1)
        if how == "claim":
            rc, out, err = cli(["claim", "-s", sp], env=env1)
            T.check(rc == 0 and len(out) == 1 and out[0].startswith(os.path.join(sp, "claimed", "")),
                    "claim seals and claims it", (rc, out, err))
            where = out[0] if out else ""
        else:
            rc, out, err = cli(["rotate", "-s", sp], env=env1)
            T.check(rc == 0 and out == [], "rotate: exit 0", (rc, out, err))
            rd = hs.spool_files(sp, "ready")
            T.check(len(rd) == 1, "rotate sealed it into ready/", rd)
            where = rd[0] if rd else ""
        T.check(names(sp, "active") == [], "%s: active/ is empty" % how)
        try:
            data = hs.read_bytes(where)
        except OSError:
            data = b""
        T.check(rid.encode() in data and data.endswith(b"\n") and data.count(b"\n") == 1,
                "%s: the segment holds the event's one line" % how, data[:200])


def section_lock_clock(T, tmp):
    """Issue 13 item 6: the lock file's first 8 bytes hold the last stamp
    issued. A stamp a day ahead (a clock once ahead, put right) or garbage
    there must not freeze received_at in the future or keep the active
    segment from sealing by age; ids stay unique and in arrival order."""
    T.section("the lock file's clock: a stamp a day ahead, or garbage")
    day_ahead = struct.pack("<Q", int((time.time() + 86400) * 1e6))
    for label, plant in (("a day ahead", day_ahead), ("garbage", b"\xffgarbage")):
        sp = tmp.join("clock-" + label.replace(" ", "-"))
        rc, text = cgi_post(sp, hs.caliza_event()[0], rotate_seconds=60)
        T.check(rc == 0 and "200" in text.split("\n", 1)[0], "%s: a first POST makes the spool"
                % label, text)
        rc, out, err = cli(["rotate", "-s", sp])          # start from an empty active/
        with open(os.path.join(sp, "lock"), "r+b") as f:
            f.write(plant)
        ids, stamps = [], []
        for _ in range(3):
            body, rid = hs.caliza_event()
            rc, text = cgi_post(sp, body, rotate_seconds=60)
            T.check(rc == 0 and "200" in text.split("\n", 1)[0], "%s: POST accepted" % label, text)
            line = [ln for _, ln in hs.spool_lines(sp, ("active", "ready")) if rid.encode() in ln]
            o = json.loads(line[0]) if len(line) == 1 else {}
            ids.append(o.get("id", ""))
            ra = o.get("received_at", "")
            try:
                t = calendar.timegm(time.strptime(ra[:19], "%Y-%m-%dT%H:%M:%S"))
            except ValueError:
                t = 0
            stamps.append((ra, abs(t - time.time())))
        T.check(all(d < 30 for _, d in stamps), "%s: received_at is now (within seconds)" % label,
                stamps)
        T.check(all(a < b for a, b in zip(ids, ids[1:])) and len(set(ids)) == 3,
                "%s: ids strictly increasing" % label, ids)
        T.check(len(names(sp, "active")) == 1, "%s: the events are in active/" % label)
        time.sleep(2)
        rc, out, err = cli(["claim", "-s", sp], env=base_env(HOOKSPOOL_ROTATE_SECONDS=1))
        claimed = b"".join(hs.read_bytes(p) for p in out if os.path.isfile(p))
        T.check(rc == 0 and names(sp, "active") == [] and claimed.count(b"\n") == 4,
                "%s: claim seals the segment whose first line is 2 s old "
                "(HOOKSPOOL_ROTATE_SECONDS=1) and claims it (and the first POST's)" % label,
                (rc, out, err))
        body, rid = hs.caliza_event()
        rc, text = cgi_post(sp, body, rotate_seconds=60)
        line = [ln for _, ln in hs.spool_lines(sp, ("active",)) if rid.encode() in ln]
        T.check(len(line) == 1 and json.loads(line[0])["id"] > ids[-1],
                "%s: the next id is larger still" % label, line)


def main(T):
    for name in (hs.FCGI, hs.CLI):
        if not os.access(name, os.X_OK):
            raise RuntimeError("%s not built (run make)" % name)
    tmp = T.tempdir()
    section_usage(T, tmp)
    section_race(T, tmp)
    section_consume(T, tmp)
    section_timeout(T, tmp)
    section_poison(T, tmp)
    section_requeue(T, tmp)
    section_promise4(T, tmp)
    section_lock_clock(T, tmp)


if __name__ == "__main__":
    hs.Suite("test_consumer").run(main)
