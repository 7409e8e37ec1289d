"""
test_faults.py - SPEC section 4 (503 with Retry-After, nothing
half-written) and section 6 (promises 1, 2, 3 and 5) under injected
system-call failures, then on a full disk.

1. Fault matrix. tests/fault/shim.c (an LD_PRELOAD shim, built here)
   fails the N-th call of one kind (open, openat, write, pwrite, fsync,
   fdatasync, rename, renameat, renameat2, link, linkat, flock,
   ftruncate, fcntl locks) on a path or descriptor under the spool, with
   EIO, ENOSPC, EDQUOT or EINTR, or makes a write short (half written,
   then the rest fails). hookspool.fcgi runs as a plain CGI, so every
   request is a fresh process; a counting run of the shim says how many
   calls of each kind one request makes, and every N from 1 to that
   count is tried. Configurations: dedup on and off, HOOKSPOOL_FSYNC
   always and never, an active segment with room, a segment sealed by
   every append (HOOKSPOOL_ROTATE_BYTES=1), and a spool created by the
   faulty request itself. For each faulty request:
   - the answer is 200 or 503, and 503 carries Retry-After;
   - 200 only when its line is complete in the spool; 503 only when it
     is not, except promise 5's exception (fsync/fdatasync of the
     segment failed after the append: the line may stay); a failed
     flush of a segment is always answered 503;
   - ready/ holds only complete lines; the next normal request (the
     sender's retry of a 503, else another event; with dedup on, a 200
     is re-sent and must be a duplicate) gets 200 and leaves every line
     complete and valid JSON;
   - with dedup on, a key is in two lines only under the exception;
   - EINTR on write, pwrite, flock or ftruncate (calls a signal can
     interrupt and the caller can simply repeat) is retried: 200. (EINTR
     from open and SQLite's fcntl locks answered 503 is only noted.)
   A correctly signed invalid body under faults: always 400, invalid/
   holds only whole copies of what was sent. Every spool's state.db
   passes PRAGMA integrity_check.
   The CLI (rotate, claim -n 2, done, requeue) on a spool with ready,
   claimed and a due active segment whose last line's key was never
   recorded, with each of its calls failing (EIO, ENOSPC; EINTR for
   locks): exit 0 or 1, no segment in two directories or changed, a
   printed path is where it says, `done` exits 0 exactly when the
   segment is gone; after a normal rotate every line is there once and
   whole, and the un-indexed line is a duplicate to a new POST.
2. A long-lived FastCGI process (threads sharing flushes) under 8
   concurrent senders with every 7th fdatasync, or every 61st pwrite,
   under the spool failing: answers 200 or 503 + Retry-After, every
   acknowledged event in the spool, an event in a second line only after
   a 503 for a failed flush, and every failed flush of a segment fails
   at least one request.
3. Disk full, dedup off and on: the spool on a 2.5 MiB tmpfs through
   lighttpd (max-procs 1; 2.5 MiB because the dedup store keeps its WAL
   file, up to HS_STORE_WAL_KEEP (1 MiB) and about 300 KiB here, with
   its -shm and pages, after the segments are deleted, and the key
   filter, SPOOL/keyfilter, is 1 MiB and 4 KiB): filled
   until 503 with Retry-After, no partial line, GET status degraded (503,
   low_free_space with HOOKSPOOL_MIN_FREE=192 KiB); after `hookspool
   rotate` and deleting the ready segments, 200 again and status ok.
"""
import collections
import errno as E
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402

SHIM_SRC = os.path.join(hs.ROOT, "tests", "fault", "shim.c")
ENV_PATH = hs.cli_env()
KINDS = ["open", "openat", "write", "pwrite", "fsync", "fdatasync", "rename", "renameat",
         "renameat2", "link", "linkat", "flock", "ftruncate", "fcntl"]
# The errnos that make sense for each kind (what the system can return).
ERRNOS = {
    "open": ["ENOSPC", "EDQUOT", "EIO", "EINTR"],
    "openat": ["ENOSPC", "EDQUOT", "EIO", "EINTR"],
    "write": ["ENOSPC", "EDQUOT", "EIO", "EINTR", "short"],
    "pwrite": ["ENOSPC", "EDQUOT", "EIO", "EINTR", "short"],
    "fsync": ["EIO", "ENOSPC", "EDQUOT"],
    "fdatasync": ["EIO", "ENOSPC", "EDQUOT"],
    "rename": ["EIO", "ENOSPC", "EDQUOT"],
    "renameat": ["EIO", "ENOSPC", "EDQUOT"],
    "renameat2": ["EIO", "ENOSPC", "EDQUOT"],
    "link": ["EIO", "ENOSPC", "EDQUOT"],
    "linkat": ["EIO", "ENOSPC", "EDQUOT"],
    "flock": ["EINTR", "ENOLCK"],
    "ftruncate": ["EIO", "EINTR"],
    "fcntl": ["EINTR", "ENOLCK"],
}
# Where an EINTR must be invisible: calls a signal can interrupt and that
# the caller can simply repeat (hookspool's own loops, SQLite's robust_*
# wrappers). fcntl is left out: SQLite answers an interrupted lock as
# busy and its busy handler retries, which still ends in 200 but is
# SQLite's business.
# open/openat are left out too: on a regular file or a directory they do
# not block interruptibly (an EINTR answered 503 is noted, not failed).
EINTR_RETRIED = {"write", "pwrite", "flock", "ftruncate"}
FLUSH_KINDS = {"fsync", "fdatasync"}
CGI_TIMEOUT = 30     # the lock and store time out after 10 s each
DUP = {"ok": True, "duplicate": True}


sig = hs.caliza_sig


def build_shim(T, tmp):
    so = tmp.join("shim.so")
    r = subprocess.run(["cc", "-shared", "-fPIC", "-o", so, SHIM_SRC, "-ldl"],
                       capture_output=True, timeout=120)
    if not T.check(r.returncode == 0, "the fault shim builds", r.stderr.decode()[-800:]):
        return None
    # A sanitized build (make test SANITIZE=1) refuses to start unless
    # the ASan runtime comes first in the preload list.
    r = subprocess.run(["ldd", hs.FCGI], capture_output=True, timeout=30)
    m = re.search(rb"(\S*libasan\.so\S*) => (\S+)", r.stdout)
    if m:
        T.note("sanitized build: LD_PRELOAD=%s:shim.so" % m.group(2).decode())
        return m.group(2).decode() + ":" + so
    return so


def program_for_preload(T, tmp):
    """build/hookspool.fcgi if it is linked dynamically (LD_PRELOAD works
    on it), else a dynamic build made in a private directory."""
    r = subprocess.run(["ldd", hs.FCGI], capture_output=True, timeout=30)
    if r.returncode == 0 and b"libc.so" in r.stdout:
        return hs.FCGI
    T.note("build/hookspool.fcgi is static: building a dynamic copy for the shim")
    out = tmp.join("dynbuild")
    r = subprocess.run(["make", "-C", hs.ROOT, "B=%s" % out, "STATIC=0", out + "/hookspool.fcgi"],
                       capture_output=True, timeout=600)
    prog = os.path.join(out, "hookspool.fcgi")
    T.check(r.returncode == 0 and os.access(prog, os.X_OK), "a dynamic build for the shim",
            r.stderr.decode()[-800:])
    return prog


class Cgi:
    """hookspool.fcgi as a plain CGI: one request, one process."""

    def __init__(self, prog, shim, base_env):
        self.prog = prog
        self.shim = shim
        self.base = dict(base_env)
        self.answers = []      # (status, headers, body) of every request
        self.stderr = []

    def run(self, body, headers=None, env=None, fault=None, content_length=None):
        e = dict(ENV_PATH)
        e.update({"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "POST",
                  "CONTENT_TYPE": "application/json", "SERVER_PROTOCOL": "HTTP/1.1",
                  "REMOTE_ADDR": "127.0.0.1", "SCRIPT_NAME": "/hook", "REQUEST_URI": "/hook",
                  "CONTENT_LENGTH": str(len(body) if content_length is None else content_length)})
        e.update(self.base)
        e.update(env or {})
        for k, v in (headers if headers is not None else sig(body)).items():
            e["HTTP_" + k.upper().replace("-", "_")] = v
        if fault:
            e["LD_PRELOAD"] = self.shim
            e.update(fault)
        for attempt in range(10):
            try:
                r = subprocess.run([self.prog], input=body, env=e, capture_output=True,
                                   timeout=CGI_TIMEOUT)
                break
            except subprocess.TimeoutExpired as x:   # run() killed it
                r = subprocess.CompletedProcess(x.cmd, -1, x.stdout or b"",
                                                (x.stderr or b"") + b"[hung: killed after %d s]"
                                                % CGI_TIMEOUT)
                break
            except OSError as x:     # a concurrent `make` is rewriting the binary
                if attempt == 9 or x.errno not in (E.EACCES, E.ENOENT, E.ETXTBSY):
                    raise
                time.sleep(1)
        st, hdrs, ans = hs.parse_cgi(r.stdout)
        self.answers.append((st, hdrs, ans))
        self.stderr.append(r.stderr)
        return st, hdrs, ans, r


# ---------------------------------------------------------------- spool view

class SpoolView:
    """Reads a spool's segments, parsing each sealed one only once (it
    must never change: promise 3)."""

    def __init__(self, spool):
        self.spool = spool
        self.sealed = {}       # path -> (size, [parsed line dicts], [problems])

    def read(self):
        """(objects, problems, active_tail_partial, sealed_changed)."""
        objs, bad, changed = [], [], []
        partial = False
        for sub in ("ready", "claimed", "failed"):
            for p in hs.spool_files(self.spool, sub):
                name = os.path.basename(p)
                try:
                    size = os.path.getsize(p)
                except FileNotFoundError:
                    continue
                c = self.sealed.get(name)
                if c is None or c[0] != size:
                    if c is not None:
                        changed.append(name)
                    data = hs.read_bytes(p)
                    o, b = hs.parse_lines([(p, ln) for ln in data.splitlines(keepends=True)])
                    c = (len(data), o, b)
                    self.sealed[name] = c
                objs += c[1]
                bad += c[2]
        for p in hs.spool_files(self.spool, "active"):
            try:
                data = hs.read_bytes(p)
            except FileNotFoundError:
                continue
            lines = data.splitlines(keepends=True)
            if lines and not lines[-1].endswith(b"\n"):
                partial = True
            o, b = hs.parse_lines([(p, ln) for ln in lines])
            objs += o
            bad += ["active " + x for x in b]
        return objs, bad, partial, changed


def rid_of(o):
    ev = o.get("event")
    return ev.get("resourceId") if isinstance(ev, dict) else None


def integrity(T, spool, label):
    db = os.path.join(spool, "state.db")
    if not os.path.exists(db):
        T.check(False, "%s: state.db exists" % label)
        return
    res = hs.store_integrity(db)
    T.check(res == [("ok",)], "%s: PRAGMA integrity_check of state.db is ok" % label, res)


# ---------------------------------------------------------------- the matrix

# name, dedup on, fsync, rotate bytes, fresh spool per case, errnos left
# out, and for fcntl (SQLite's many lock calls) the errnos tried. The
# first configuration tries everything; the others skip what only
# repeats it, to stay within the time budget.
CONFIGS = [
    ("dedup+fsync", True, "always", 65536, False, (), ("EINTR", "ENOLCK")),
    ("dedup+fsync+seal", True, "always", 1, False, ("EDQUOT",), ()),
    ("dedup+nofsync", True, "never", 65536, False, ("EDQUOT",), ()),
    ("nodedup+fsync", False, "always", 65536, False, (), ()),
    ("nodedup+nofsync+seal", False, "never", 1, False, (), ()),
    # fcntl lock failures are tried in dedup+fsync only: some (a lock of
    # the -shm file) cost the store's 10 s busy timeout each
    ("dedup+fsync+create", True, "always", 65536, True, ("EDQUOT",), ()),
]


def parse_counts(path):
    out = collections.Counter()
    try:
        with open(path) as f:
            for line in f:
                k, _, n = line.partition(" ")
                if k in KINDS:
                    out[k] = max(out[k], int(n))
    except FileNotFoundError:
        pass
    return out


def read_faults(path):
    try:
        with open(path) as f:
            lines = [l.split() for l in f if l.startswith("fault ")]
    except FileNotFoundError:
        return []
    os.unlink(path)
    # fault KIND NTH ERRNO short=.. TARGET
    return [{"kind": l[1], "nth": int(l[2]), "errno": int(l[3]), "short": l[4],
             "target": " ".join(l[5:])} for l in lines]


def matrix_config(T, tmp, prog, shim, cfg, stats, exceptions_seen, examples):
    name, dedup, fsync, rotate, fresh, skip_errnos, fcntl_errnos = cfg
    started = time.monotonic()
    T.section("faults: %s" % name)
    root = tmp.mkdir("m-" + name.replace("+", "-"))
    spool = os.path.join(root, "spool")
    env = {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET,
           "HOOKSPOOL_FSYNC": fsync, "HOOKSPOOL_ROTATE_BYTES": str(rotate),
           "HOOKSPOOL_MIN_FREE": "1"}
    if not dedup:
        env["HOOKSPOOL_DEDUP"] = "off"
    cgi = Cgi(prog, shim, env)
    flog = os.path.join(root, "faults.log")

    def spool_for_case(i):
        if not fresh:
            return spool
        return os.path.join(root, "s%04d" % i)

    # Count the calls of one request (the second on an existing spool, or
    # the first when the spool is created by it), twice, the larger.
    counts = collections.Counter()
    for attempt in range(2):
        sp = os.path.join(root, "count%d" % attempt) if fresh else spool
        if not fresh and attempt == 0:
            body, _ = hs.caliza_event()
            st, _, ans, _ = cgi.run(body, env={"HOOKSPOOL_SPOOL": sp})
            T.check(st == 200, "%s: a first request creates the spool" % name, (st, ans))
        cf = os.path.join(root, "counts%d" % attempt)
        body, _ = hs.caliza_event()
        st, _, ans, _ = cgi.run(body, env={"HOOKSPOOL_SPOOL": sp},
                                fault={"HSFAULT_PATH": sp, "HSFAULT_COUNT": "1",
                                       "HSFAULT_COUNT_FILE": cf})
        T.check(st == 200, "%s: the counting run is answered 200" % name, (st, ans))
        for k, n in parse_counts(cf).items():
            counts[k] = max(counts[k], n)
    T.note("%s: calls of one request under the spool: %s" % (
        name, ", ".join("%s %d" % (k, counts[k]) for k in KINDS if counts[k])))
    T.check(counts["pwrite"] > 0 and counts["openat"] > 0,
            "%s: the shim sees the spool's calls (LD_PRELOAD works)" % name, dict(counts))

    problems = collections.defaultdict(list)   # check name -> details
    acked = {}                 # rid -> faulty answer status
    exc_rids = set()           # rids allowed twice (promise 5's exception)
    not_fired = 0
    cases = 0
    i = 0
    for kind in KINDS:
        for n in range(1, counts[kind] + 1):
            errs = fcntl_errnos if kind == "fcntl" else \
                [e for e in ERRNOS[kind] if e not in skip_errnos]
            for err in errs:
                i += 1
                sp = spool_for_case(i)
                view = SpoolView(sp)
                fault = {"HSFAULT_PATH": sp, "HSFAULT_CALL": kind, "HSFAULT_NTH": str(n),
                         "HSFAULT_LOG": flog,
                         "HSFAULT_ERRNO": "ENOSPC" if err == "short" else err}
                if err == "short":
                    fault["HSFAULT_SHORT"] = "1"
                label = "%s n=%d %s" % (kind, n, err)
                body, rid = hs.caliza_event()
                t0 = time.monotonic()
                st, hdrs, ans, r = cgi.run(body, env={"HOOKSPOOL_SPOOL": sp}, fault=fault)
                took = time.monotonic() - t0
                fired = read_faults(flog)
                cases += 1
                if not fired:
                    not_fired += 1
                targets = " ".join(os.path.relpath(f["target"], sp) if f["target"].startswith(sp)
                                   else f["target"] for f in fired)
                what = "%s [%s] -> %s %s" % (label, targets, st, ans.strip()[:80])
                if took > 5:
                    examples["slow (> 5 s: a lock or busy timeout)"].append(
                        "%s: %s in %.0f s" % (name, what, took))
                stats[(kind, err, st)] += 1
                if r.returncode != 0:
                    problems["the program exits 0 (no crash)"].append(
                        "%s: exit %d %s" % (what, r.returncode, r.stderr[-200:]))
                if st not in (200, 503):
                    problems["the answer is 200 or 503"].append(what)
                if st == 503 and "retry-after" not in hdrs:
                    problems["503 carries Retry-After"].append(what)
                ansj = hs.one_line_json(ans) or {}
                if st == 503 and err in ("ENOSPC", "EDQUOT", "short") and fired and \
                        ansj.get("error") != "spool_full":
                    stats[("reason-not-full", kind, err)] += 1
                    examples["reason-not-full"].append("%s: %s" % (name, what))
                if err == "EINTR" and fired and st != 200:
                    examples["eintr-503"].append("%s: %s" % (name, what))
                flush_exc = any(f["kind"] in FLUSH_KINDS and f["target"].endswith(".jsonl")
                                and f["errno"] != 0 for f in fired)
                if fsync == "always" and flush_exc and st != 503:
                    problems["a failed flush of a segment is answered 503"].append(what)
                if err == "EINTR" and kind in EINTR_RETRIED and fired and st != 200:
                    problems["EINTR is retried (200)"].append(what)

                objs, bad, partial, changed = view.read()
                mine = [o for o in objs if rid_of(o) == rid]
                if bad:
                    problems["after the faulty request every line of ready/ and all but "
                             "a partial tail of active/ parse"].append("%s: %s" % (what, bad[:2]))
                if changed:
                    problems["sealed segments never change"].append("%s: %s" % (what, changed))
                if st == 200 and len(mine) != 1:
                    problems["200: the event is one complete line in the spool"].append(
                        "%s: %d lines" % (what, len(mine)))
                if st == 200 and ansj.get("id") and mine and mine[0].get("id") != ansj.get("id"):
                    problems["200: the line has the answered id"].append(what)
                if st != 200 and mine:
                    if flush_exc:
                        exc_rids.add(rid)
                        exceptions_seen.append("%s: %s" % (name, what))
                    else:
                        problems["503: its line is not in the spool (no flush failed)"].append(
                            "%s: %d complete line(s) stay" % (what, len(mine)))
                if partial:
                    stats[("partial-tail-left", kind, err)] += 1

                # The sender's next request: the retry of a refused event,
                # else (dedup on) the same event again, or a new event.
                if st == 200 and not dedup:
                    body2, rid2 = hs.caliza_event()
                else:
                    body2, rid2 = body, rid
                st2, hdrs2, ans2, r2 = cgi.run(body2, env={"HOOKSPOOL_SPOOL": sp})
                a2 = hs.one_line_json(ans2) or {}
                if st2 != 200:
                    problems["the next normal request gets 200"].append(
                        "%s; then %s %s" % (what, st2, ans2.strip()[:120]))
                if dedup and st == 200 and a2 != DUP:
                    problems["dedup: a 200-answered event sent again is a duplicate"].append(
                        "%s; then %s" % (what, ans2.strip()[:120]))
                objs, bad, partial, changed = view.read()
                if bad or partial:
                    problems["after the next normal request every line is complete, ends in "
                             "'\\n' and is valid JSON"].append(
                                 "%s: %s partial=%s" % (what, bad[:2], partial))
                if changed:
                    problems["sealed segments never change"].append("%s: %s" % (what, changed))
                mine = [o for o in objs if rid_of(o) == rid]
                if st2 == 200 and rid2 == rid and not mine:
                    problems["the retried event is in the spool"].append(what)
                if len(mine) > 1 and rid not in exc_rids:
                    problems["an event is in two lines only under promise 5's exception "
                             "(its flush failed and it was answered 503)"].append(
                        "%s: %d lines, ids %s" % (what, len(mine), [o.get("id") for o in mine]))
                if rid2 != rid and st2 == 200:
                    acked[rid2] = 200
                if st == 200 or st2 == 200:
                    acked[rid] = 200
                if fresh:
                    integ = None
                    if os.path.exists(os.path.join(sp, "state.db")):
                        integ = hs.store_integrity(os.path.join(sp, "state.db"))
                    if integ != [("ok",)]:
                        problems["state.db of the created spool passes integrity_check"].append(
                            "%s: %s" % (what, integ))
                    subprocess.run(["rm", "-rf", sp])

    T.note("%s: %d faulty requests in %.0f s (%d where the fault did not fire: fewer calls "
           "that time)" % (name, cases, time.monotonic() - started, not_fired))
    checks = [
        "the program exits 0 (no crash)",
        "the answer is 200 or 503",
        "503 carries Retry-After",
        "EINTR is retried (200)",
        "a failed flush of a segment is answered 503",
        "after the faulty request every line of ready/ and all but a partial tail of "
        "active/ parse",
        "sealed segments never change",
        "200: the event is one complete line in the spool",
        "200: the line has the answered id",
        "503: its line is not in the spool (no flush failed)",
        "the next normal request gets 200",
        "after the next normal request every line is complete, ends in '\\n' and is "
        "valid JSON",
        "the retried event is in the spool",
        "an event is in two lines only under promise 5's exception (its flush failed "
        "and it was answered 503)",
    ]
    if dedup:
        checks.append("dedup: a 200-answered event sent again is a duplicate")
    if fresh:
        checks.append("state.db of the created spool passes integrity_check")
    for c in checks:
        p = problems.get(c, [])
        T.check(not p, "%s: %s (%d cases)" % (name, c, cases),
                "%d cases, e.g. %s" % (len(p), " | ".join(p[:4])) if p else None)

    if fresh:
        return cgi
    objs, bad, partial, _ = SpoolView(spool).read()
    T.check(not bad and not partial, "%s: in the end every line parses" % name, bad[:3])
    per_rid = collections.Counter(rid_of(o) for o in objs)
    lost = [r for r in acked if per_rid.get(r, 0) == 0]
    T.check(not lost, "%s: every acknowledged event is in the spool (%d)" % (name, len(acked)),
            lost[:5])
    if dedup:
        keys = collections.Counter(json.dumps(o.get("key")) for o in objs if "key" in o)
        twice = [k for k, c in keys.items() if c > 1 and not any(r in k for r in exc_rids)]
        T.check(not twice, "%s: no dedup key in two lines but promise 5's exception (%d "
                "keys, %d excepted)" % (name, len(keys), len(exc_rids)), twice[:3])
        integrity(T, spool, name)
    return cgi


def section_invalid(T, tmp, prog, shim):
    """A correctly signed invalid body under each fault: 400, and
    invalid/ keeps only whole copies of it."""
    T.section("faults while keeping a correctly signed invalid body")
    root = tmp.mkdir("invalid")
    spool = os.path.join(root, "spool")
    env = {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET,
           "HOOKSPOOL_MIN_FREE": "1"}
    cgi = Cgi(prog, shim, env)
    body0 = b"not json " + b"x" * 5000
    st, _, ans, _ = cgi.run(body0)
    T.check(st == 400, "an invalid body: 400", (st, ans))
    cf = os.path.join(root, "counts")
    st, _, ans, _ = cgi.run(body0, fault={"HSFAULT_PATH": spool, "HSFAULT_COUNT": "1",
                                          "HSFAULT_COUNT_FILE": cf})
    counts = parse_counts(cf)
    T.note("invalid body: calls under the spool: %s" % ", ".join(
        "%s %d" % (k, counts[k]) for k in KINDS if counts[k]))
    flog = os.path.join(root, "faults.log")
    bad = []
    cases = 0
    for kind in ("open", "openat", "write", "flock"):
        for n in range(1, counts[kind] + 1):
            for err in ERRNOS[kind]:
                body = b"not json %d " % cases + b"y" * (3000 + cases)
                fault = {"HSFAULT_PATH": spool, "HSFAULT_CALL": kind, "HSFAULT_NTH": str(n),
                         "HSFAULT_LOG": flog, "HSFAULT_ERRNO": "ENOSPC" if err == "short" else err}
                if err == "short":
                    fault["HSFAULT_SHORT"] = "1"
                st, _, ans, r = cgi.run(body, fault=fault)
                read_faults(flog)
                cases += 1
                if st != 400 or r.returncode != 0:
                    bad.append("%s n=%d %s -> %s exit %d" % (kind, n, err, st, r.returncode))
                for f in os.listdir(os.path.join(spool, "invalid")):
                    data = hs.read_bytes(os.path.join(spool, "invalid", f))
                    if not (data == body0 or data.startswith(b"not json ") and
                            data.endswith(b"y" * 3000) and data.count(b"y") >= 3000):
                        bad.append("%s n=%d %s: invalid/%s holds %d bytes, not a whole body"
                                   % (kind, n, err, f, len(data)))
    T.check(not bad, "invalid bodies under %d faults: always 400, invalid/ holds whole bodies "
            "only" % cases, bad[:4])
    return cgi


# ---------------------------------------------------------------- disk full

def footprint(spool):
    out = []
    for d, dirs, files in os.walk(spool):
        for f in files:
            p = os.path.join(d, f)
            out.append("%s %d" % (os.path.relpath(p, spool), os.path.getsize(p)))
    return ", ".join(sorted(out))


def section_disk_full(T, dedup):
    label = "dedup on" if dedup else "dedup off"
    T.section("disk full: a 2.5 MiB tmpfs through lighttpd, %s" % label)

    def chk(cond, what, detail=None):
        return T.check(cond, "%s: %s" % (label, what), detail)
    tmp = T.tempdir()
    mnt = tmp.join("mnt")
    T.mount_tmpfs(mnt, size="2560k")
    srv = None
    try:
        spool = os.path.join(mnt, "spool")
        env = {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET,
               # Above the largest single allocation of a full spool (the
               # store's log grows by up to 32 pages between checkpoints,
               # a segment by 16 KiB): with 64 KiB, ENOSPC could come while
               # 70 KiB were free, and the status said ok (seen once on a
               # fresh Debian 12).
               "HOOKSPOOL_MIN_FREE": str(192 * 1024), "HOOKSPOOL_ROTATE_BYTES": str(16384)}
        if not dedup:
            env["HOOKSPOOL_DEDUP"] = "off"
        srv = T.server(tmp, name="full", max_procs=1, env=env)
        acked = []
        first503 = None
        for i in range(2000):
            body, rid = hs.caliza_event(pad_to=1500)
            st, h, b = srv.post(body, sig(body))
            if st == 200:
                acked.append(rid)
                continue
            first503 = (i, st, h, b)
            break
        T.note("%s: disk full after %d accepted events (%s)"
               % (label, len(acked), footprint(spool)))
        chk(first503 is not None and first503[1] == 503,
            "the full disk is answered 503", first503 and first503[1:])
        if first503:
            chk("retry-after" in first503[2], "the 503 carries Retry-After", first503[2])
            a = hs.one_line_json(first503[3]) or {}
            chk(a.get("error") == "spool_full", "the reason is spool_full", first503[3])
        # a few more while full: all 503, nothing half-written
        more = []
        for i in range(5):
            body, rid = hs.caliza_event(pad_to=1500)
            st, h, b = srv.post(body, sig(body))
            more.append(st)
            if st == 200:
                acked.append(rid)
        T.note("while full: %s" % more)
        objs, bad = hs.parse_lines(hs.spool_lines(spool))
        chk(not bad, "no partial or torn line on the full disk", bad[:3])
        rids = collections.Counter(rid_of(o) for o in objs)
        chk(all(rids.get(r) == 1 for r in acked) and
            all(c == 1 for c in rids.values()),
            "every accepted event is one line, and only those (%d)" % len(acked),
            [r for r in acked if rids.get(r) != 1][:3])
        st, h, b = srv.get()
        a = hs.one_line_json(b) or {}
        chk(st == 503 and a.get("status") == "degraded" and
            "low_free_space" in (a.get("reasons") or []),
            "GET status: 503 degraded with low_free_space", (st, b[:300]))
        # free space: seal, then delete the ready segments
        r = subprocess.run([hs.CLI, "rotate", "-s", spool], capture_output=True, timeout=60,
                           env=ENV_PATH)
        chk(r.returncode == 0, "hookspool rotate on the full disk exits 0", r.stderr)
        objs, bad = hs.parse_lines(hs.spool_lines(spool))
        rids = collections.Counter(rid_of(o) for o in objs)
        chk(not bad and all(rids.get(r) == 1 for r in acked),
            "after sealing: every accepted event still one complete line", bad[:3])
        for p in hs.spool_files(spool, "ready"):
            os.unlink(p)
        st = None
        for i in range(20):
            body, rid = hs.caliza_event()
            st, h, b = srv.post(body, sig(body))
            if st == 200:
                break
            time.sleep(0.25)
        chk(st == 200, "space freed: a POST is accepted again", (st, b))
        st, h, b = srv.get()
        a = hs.one_line_json(b) or {}
        chk(st == 200 and a.get("status") == "ok", "space freed: status ok (HTTP 200)",
            (st, (a.get("spool") or {}).get("free_bytes"),
             "left in the spool: " + footprint(spool)))
        objs, bad = hs.parse_lines(hs.spool_lines(spool))
        chk(not bad, "every line still parses", bad[:3])
        if dedup:
            integrity(T, spool, "disk full, " + label)
        srv.stop()
        hs.check_no_leaks(T, [srv], [tmp.path, mnt])
    finally:
        if srv is not None:
            srv.stop()
        subprocess.run(["umount", mnt], capture_output=True)


# ---------------------------------------------------------------- the CLI

CLI_KINDS_ERRNOS = ["EIO", "ENOSPC"]


def make_template(T, root, prog, shim):
    """A spool with ready segments, a claimed one, and an active segment
    whose last line's key was never recorded (a writer killed between its
    append and recording the key)."""
    spool = os.path.join(root, "template")
    env = {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET,
           "HOOKSPOOL_ROTATE_BYTES": "2500", "HOOKSPOOL_MIN_FREE": "1"}
    cgi = Cgi(prog, shim, env)
    sts = [cgi.run(hs.caliza_event()[0])[0] for i in range(8)]
    T.check(sts == [200] * 8, "template: 8 events accepted", sts)
    act = hs.spool_files(spool, "active")
    last = json.loads(hs.read_bytes(act[0]).splitlines()[-1])
    killed_body, killed_rid = hs.caliza_event()
    ev = json.loads(killed_body)
    last["id"] = last["id"][:16] + "999999" + last["id"][22:]
    last["event"] = ev
    last["key"] = [ev["operation"], ev["resourceId"]]
    with open(act[0], "ab") as f:
        f.write(json.dumps(last, separators=(",", ":")).encode() + b"\n")
    r = subprocess.run([hs.CLI, "claim", "-s", spool, "-n", "1"], capture_output=True,
                       env=ENV_PATH, timeout=60)
    T.check(r.returncode == 0 and r.stdout.strip(), "template: one segment claimed", r.stderr)
    time.sleep(1.1)              # the active segment is now due (ROTATE_SECONDS=1)
    return spool, env, killed_body, killed_rid


def seg_names(spool):
    out = {}
    for d in ("active", "ready", "claimed", "failed"):
        for p in hs.spool_files(spool, d):
            out.setdefault(os.path.basename(p), []).append(d)
    return out


def all_ids(spool):
    raw = hs.spool_lines(spool, ("active", "ready", "claimed", "failed"))
    objs, bad = hs.parse_lines(raw)
    return collections.Counter(o.get("id") for o in objs), bad


def section_cli(T, tmp, prog, shim):
    """hookspool rotate / claim / done / requeue with each of their calls
    failing: no segment lost, duplicated or changed, a sealed un-indexed
    line still deduplicates afterwards."""
    T.section("faults in hookspool rotate, claim, done and requeue")
    root = tmp.mkdir("cli")
    template, env, killed_body, killed_rid = make_template(T, root, prog, shim)
    base_names = seg_names(template)
    base_ids, _ = all_ids(template)
    ready0 = {os.path.basename(p): hs.read_bytes(p) for p in hs.spool_files(template, "ready")}
    claimed0 = hs.spool_files(template, "claimed")
    cli_env = dict(ENV_PATH, HOOKSPOOL_ROTATE_SECONDS="1")
    flog = os.path.join(root, "faults.log")
    problems = collections.defaultdict(list)
    ncases = collections.Counter()

    def cmd_args(cmd, spool):
        if cmd == "done":
            return ["done", "-s", spool, os.path.join(spool, "claimed",
                                                       os.path.basename(claimed0[0]))]
        if cmd == "requeue":
            return ["requeue", "-s", spool]
        if cmd == "claim":
            return ["claim", "-s", spool, "-n", "2"]
        return ["rotate", "-s", spool]

    def run_cli(args, fault=None):
        e = dict(cli_env)
        if fault:
            e["LD_PRELOAD"] = shim
            e.update(fault)
        return subprocess.run([hs.CLI] + args, capture_output=True, env=e, timeout=60)

    for cmd in ("rotate", "claim", "done", "requeue"):
        sp = os.path.join(root, "count-" + cmd)
        shutil.copytree(template, sp)
        cf = os.path.join(root, "counts-" + cmd)
        run_cli(cmd_args(cmd, sp), {"HSFAULT_PATH": sp, "HSFAULT_COUNT": "1",
                                    "HSFAULT_COUNT_FILE": cf})
        counts = parse_counts(cf)
        T.note("hookspool %s: calls under the spool: %s" % (cmd, ", ".join(
            "%s %d" % (k, counts[k]) for k in KINDS if counts[k])))
        i = 0
        for kind in KINDS:
            errs = ["EINTR"] if kind in ("flock", "fcntl") else CLI_KINDS_ERRNOS
            for n in range(1, counts[kind] + 1):
                for err in errs:
                    i += 1
                    sp = os.path.join(root, "%s-%d" % (cmd, i))
                    shutil.copytree(template, sp)
                    args = cmd_args(cmd, sp)
                    r = run_cli(args, {"HSFAULT_PATH": sp, "HSFAULT_CALL": kind,
                                       "HSFAULT_NTH": str(n), "HSFAULT_ERRNO": err,
                                       "HSFAULT_LOG": flog})
                    fired = read_faults(flog)
                    ncases[cmd] += 1
                    what = "%s %s n=%d %s [%s] -> exit %d %s" % (
                        cmd, kind, n, err, " ".join(os.path.basename(f["target"]) for f in fired),
                        r.returncode, r.stderr.decode("utf-8", "replace").strip()[-160:])
                    if r.returncode not in (0, 1):
                        problems["exits 0 or 1 (no crash)"].append(what)
                    names = seg_names(sp)
                    if any(len(v) > 1 for v in names.values()):
                        problems["no segment in two directories"].append(
                            "%s: %s" % (what, {k: v for k, v in names.items() if len(v) > 1}))
                    printed = [l for l in r.stdout.decode().splitlines() if l.strip()]
                    want_dir = {"claim": "claimed", "requeue": "ready"}.get(cmd)
                    for p in printed:
                        if want_dir and names.get(os.path.basename(p)) != [want_dir]:
                            problems["a printed path is where it says"].append(
                                "%s: %s is in %s" % (what, p, names.get(os.path.basename(p))))
                    for name, data in ready0.items():
                        for d in ("ready", "claimed"):
                            q = os.path.join(sp, d, name)
                            if os.path.exists(q) and hs.read_bytes(q) != data:
                                problems["a sealed segment never changes"].append(
                                    "%s: %s/%s" % (what, d, name))
                    if cmd == "done":
                        gone = os.path.basename(claimed0[0]) not in names
                        if (r.returncode == 0) != gone:
                            problems["done: exit 0 exactly when the segment is gone"].append(
                                "%s: gone=%s" % (what, gone))
                    # a normal rotate, then every line once and whole, and
                    # the un-indexed line deduplicates
                    r2 = run_cli(["rotate", "-s", sp])
                    ids, bad = all_ids(sp)
                    if r2.returncode != 0:
                        problems["a normal rotate afterwards exits 0"].append(
                            "%s; then %s" % (what, r2.stderr[-160:]))
                    if bad:
                        problems["every line complete and valid"].append("%s: %s" % (what, bad[:2]))
                    if hs.spool_files(sp, "active"):
                        problems["the normal rotate sealed the active segment"].append(what)
                    expect = base_ids if not (cmd == "done" and r.returncode == 0) else None
                    if expect is not None and ids != expect:
                        problems["every line still there exactly once"].append(
                            "%s: lost %s, extra %s" % (what, list((expect - ids).elements())[:2],
                                                       list((ids - expect).elements())[:2]))
                    if expect is None and any(c > 1 for c in ids.values()):
                        problems["every line still there exactly once"].append(what)
                    if cmd in ("rotate", "claim"):
                        c = Cgi(prog, shim, dict(env, HOOKSPOOL_SPOOL=sp))
                        st, _, ans, _ = c.run(killed_body)
                        if hs.one_line_json(ans) != DUP:
                            problems["the killed writer's sealed line still deduplicates"].append(
                                "%s; then POST -> %s %s" % (what, st, ans[:80]))
                    shutil.rmtree(sp, ignore_errors=True)
    for c in ["exits 0 or 1 (no crash)", "no segment in two directories",
              "a printed path is where it says", "a sealed segment never changes",
              "done: exit 0 exactly when the segment is gone", "a normal rotate afterwards exits 0",
              "every line complete and valid", "the normal rotate sealed the active segment",
              "every line still there exactly once",
              "the killed writer's sealed line still deduplicates"]:
        p = problems.get(c, [])
        T.check(not p, "CLI under faults: %s (%s)" % (c, dict(ncases)),
                "%d cases, e.g. %s" % (len(p), " | ".join(p[:3])) if p else None)


def section_group_commit(T, shim, kind, every):
    """A long-lived FastCGI process (its threads share flushes) with every
    K-th call of one kind failing, under 8 concurrent senders."""
    label = "FastCGI, every %d-th %s fails" % (every, kind)
    T.section(label)
    tmp = T.tempdir()
    spool = tmp.join("spool")
    flog = tmp.join("faults.log")
    srv = T.server(tmp, name="gc", max_procs=1, env={
        "HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET,
        "HOOKSPOOL_FSYNC": "always", "HOOKSPOOL_ROTATE_BYTES": "16384",
        "LD_PRELOAD": shim, "HSFAULT_PATH": spool, "HSFAULT_CALL": kind,
        "HSFAULT_EVERY": str(every), "HSFAULT_ERRNO": "EIO", "HSFAULT_LOG": flog})
    import queue
    import threading
    events = [hs.caliza_event() for _ in range(300)]
    todo = queue.Queue()
    for ev in events:
        todo.put(ev)
    answers = collections.defaultdict(list)     # rid -> statuses
    lock = threading.Lock()

    def client():
        while True:
            try:
                body, rid = todo.get_nowait()
            except queue.Empty:
                return
            for t in range(30):
                st, h, b = srv.post(body, sig(body))
                with lock:
                    answers[rid].append((st, "retry-after" in h))
                if st == 200:
                    break
                time.sleep(0.01 * (t + 1))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    srv.stop()
    faults = read_faults(flog)
    seg_faults = [f for f in faults if f["target"].endswith(".jsonl")]
    flat = [a for v in answers.values() for a in v]
    by = collections.Counter(st for st, _ in flat)
    T.note("%s: %d faults injected (%d on segments), answers %s" % (
        label, len(faults), len(seg_faults), dict(by)))
    T.check(faults, "%s: faults were injected" % label)
    T.check(set(by) <= {200, 503} and all(ra for st, ra in flat if st == 503),
            "%s: every answer 200 or 503 with Retry-After" % label, dict(by))
    never = [rid for rid, v in answers.items() if v[-1][0] != 200]
    T.check(not never, "%s: every event taken within 30 tries" % label, never[:3])
    r = subprocess.run([hs.CLI, "rotate", "-s", spool], capture_output=True, timeout=60,
                       env=ENV_PATH)
    T.check(r.returncode == 0, "%s: hookspool rotate exits 0" % label, r.stderr)
    objs, bad = hs.parse_lines(hs.spool_lines(spool))
    T.check(not bad, "%s: every line complete and valid JSON (%d)" % (label, len(objs)), bad[:3])
    per = collections.Counter(rid_of(o) for o in objs)
    lost = [rid for rid, v in answers.items() if v[-1][0] == 200 and per.get(rid, 0) == 0]
    T.check(not lost, "%s: every acknowledged event is in the spool" % label, lost[:3])
    twice = []
    for rid, n in per.items():
        n503 = sum(1 for st, _ in answers.get(rid, []) if st == 503)
        allowed = n503 if kind in FLUSH_KINDS else 0
        if n > 1 + allowed:
            twice.append((rid, n, answers.get(rid)))
    T.check(not twice, "%s: an event is in more than one line only after as many 503s "
            "(promise 5's exception)" % label, twice[:3])
    if kind in FLUSH_KINDS:
        n503 = by.get(503, 0)
        T.check(n503 >= len(seg_faults), "%s: every failed flush of a segment failed at least "
                "one request (%d answered 503, %d flushes failed)" % (label, n503,
                                                                         len(seg_faults)))
    integrity(T, spool, label)
    hs.check_no_leaks(T, [srv], [tmp.path])


def main(T):
    tmp = T.tempdir()
    shim = build_shim(T, tmp)
    if shim is None:
        return
    prog = program_for_preload(T, tmp)
    stats = collections.Counter()
    exceptions_seen = []
    examples = collections.defaultdict(list)
    cgis = []
    for cfg in CONFIGS:
        cgis.append(matrix_config(T, tmp, prog, shim, cfg, stats, exceptions_seen, examples))
    cgis.append(section_invalid(T, tmp, prog, shim))
    section_cli(T, tmp, prog, shim)
    by_ans = collections.Counter()
    for (a, b, c), n in stats.items():
        if a in KINDS:
            by_ans["%s %s" % (a, c)] += n
    T.note("faulty answers by kind: %s" % ", ".join("%s: %d" % kv for kv in sorted(by_ans.items())))
    nf = {k: v for k, v in stats.items() if k[0] == "reason-not-full"}
    if nf:
        T.note("ENOSPC/EDQUOT answered 503 with another reason than spool_full: %s" % nf)
    for k, v in examples.items():
        T.note("%s (%d): %s" % (k, len(v), " | ".join(
            sorted(set(x.split(": ", 1)[1] for x in v))[:40])))
    pt = {k: v for k, v in stats.items() if k[0] == "partial-tail-left"}
    if pt:
        T.note("a partial tail left for the next writer to cut: %s" % pt)
    T.note("promise 5's exception (flush failed, line stays, 503): %d cases, e.g. %s" % (
        len(exceptions_seen), exceptions_seen[:2]))
    # No answer of the CGI carries a path or the secret.
    leaks = []
    for c in cgis:
        for st, h, b in c.answers:
            text = b.decode("utf-8", "replace") + repr(h)
            if tmp.path in text or hs.DEMO_SECRET in text:
                leaks.append((st, text[:200]))
    T.check(not leaks, "no CGI answer carries a path or the secret", leaks[:3])
    section_group_commit(T, shim, "fdatasync", 7)
    section_group_commit(T, shim, "pwrite", 61)
    section_disk_full(T, dedup=False)
    section_disk_full(T, dedup=True)


if __name__ == "__main__":
    hs.Suite("test_faults").run(main)
