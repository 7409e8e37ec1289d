"""
hs.py - shared helpers for hookspool's integration tests.

Every test script starts real lighttpd instances on free 127.0.0.1 ports,
each in a temporary directory of its own (tempfile.mkdtemp, removed at the
end), with hookspool.fcgi as a FastCGI backend (mod_fastcgi, "bin-path")
or as a plain CGI (mod_cgi). Nothing here touches port 80, a system
lighttpd, or anything outside the temporary directories it made.

    def main(T):
        tmp = T.tempdir()                 # removed at the end
        srv = T.server(tmp, mode="fcgi", env={...},       # bin-environment
                       routes=[{"url": "/hook", "setenv": {...}}])
        body, rid = hs.caliza_event()     # pretty-printed, unique resourceId
        st, hdrs, ans = srv.post(body, hs.sign(body), path="/hook")
        T.check(st == 200, "accepted", ans)
        lines = hs.spool_lines(spool)     # [(segment path, line bytes)]
    hs.Suite("test_x").run(main)          # cleans up, prints "N passed, N failed",
                                          # exits non-zero on any failure

The program's stderr (its log lines) lands in srv.errorlog (srv.log(),
srv.wait_log()) in both modes, through server.breakagelog.

Python 3 standard library only.
"""
import atexit
import base64
import errno
import hashlib
import http.client
import json
import os
import pwd
import re
import shutil
import select
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
# HOOKSPOOL_TEST_BUILD points the tests at another build directory.
BUILD = os.environ.get("HOOKSPOOL_TEST_BUILD") or os.path.join(ROOT, "build")
FCGI = os.path.join(BUILD, "hookspool.fcgi")
# What servers run by default: the program, or (make test VALGRIND=1) a
# wrapper that runs it under valgrind memcheck.
FCGI_RUN = os.environ.get("HOOKSPOOL_TEST_WRAP") or FCGI
# make test SANITIZE=1: the programs run under ASan + UBSan (tests/run.sh
# sets SAN_DIR). Memory growth is then ASan's quarantine, not ours.
SANITIZED = bool(os.environ.get("SAN_DIR"))
CLI = os.path.join(BUILD, "hookspool")
DATA = os.path.join(ROOT, "tests", "data", "caliza")
CALIZA_EXAMPLES = sorted(f for f in os.listdir(DATA) if f.endswith(".json"))
# The seed's demo secret, used as its literal bytes.
DEMO_SECRET = "AXxDmWTa0fcdoT6CsR5DhmijZaaaHwY+77sVZs/x4ro="
CALIZA_HEADER = "X-Caliza-Webhook-Signature"

ID_RE = re.compile(r"^[0-9A-Za-z.\-_:]+$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SEG_RE = re.compile(r"^\d{8}T\d{6}Z-[^/]+-[^/]+\.jsonl$")

START_TIMEOUT = 20.0      # seconds for lighttpd to answer on its port
STOP_TIMEOUT = 10.0       # seconds between SIGTERM and SIGKILL
HTTP_TIMEOUT = 60.0       # one request (fsync on a busy disk can be slow)


def cli_env(**extra):
    """The environment of a program a test runs directly: this PATH, and
    extra (values made strings, None left out)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


def receiver_env(spool, secret=DEMO_SECRET, **extra):
    """The settings of a receiver on spool signed with secret, and extra
    (values made strings, None left out), for Server(env=...)."""
    env = {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": secret}
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


def stop_group(p, timeout=STOP_TIMEOUT):
    """Stop p, a process we started as a session leader, with its process
    group: SIGTERM, then SIGKILL after timeout seconds; reaps p."""
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=timeout)


def lighttpd_bin():
    p = shutil.which("lighttpd")
    if p:
        return p
    for c in ("/usr/sbin/lighttpd", "/usr/local/sbin/lighttpd"):
        if os.access(c, os.X_OK):
            return c
    raise RuntimeError("lighttpd not found (make deps installs it)")


def free_port():
    """A 127.0.0.1 TCP port nobody listens on right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_answers(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- checks

class Suite:
    """Counts checks, owns every resource a test makes (servers, temp
    dirs, mounts) and releases them at the end, also on failure, on an
    exception, on SIGTERM/SIGINT and at interpreter exit."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.started = time.monotonic()
        self._cleanup = []          # LIFO of (description, fn)
        self._lock = threading.Lock()
        self._finished = False
        atexit.register(self.cleanup)
        _become_subreaper()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame):
        raise SystemExit(128 + signum)

    # -- counting
    def check(self, cond, what, detail=None):
        with self._lock:
            if cond:
                self.passed += 1
                print("ok   - %s" % what, flush=True)
            else:
                self.failed += 1
                d = ""
                if detail is not None:
                    d = detail if isinstance(detail, str) else repr(detail)
                    if len(d) > 800:
                        d = d[:800] + "...(%d chars)" % len(d)
                    d = ": " + d
                print("FAIL - %s%s" % (what, d), flush=True)
        return bool(cond)

    def note(self, msg):
        print("#      %s" % msg, flush=True)

    def section(self, title):
        print("# --- %s" % title, flush=True)

    # -- resources
    def on_cleanup(self, desc, fn):
        self._cleanup.append((desc, fn))

    def cleanup(self):
        while self._cleanup:
            desc, fn = self._cleanup.pop()
            try:
                fn()
            except Exception as e:  # keep releasing the rest
                print("# cleanup %s: %r" % (desc, e), file=sys.stderr, flush=True)

    def tempdir(self, owner=None):
        d = os.path.realpath(tempfile.mkdtemp(prefix="hookspool-it-"))
        os.chmod(d, 0o755 if owner else 0o700)
        t = TempDir(d, owner)
        self.on_cleanup("tempdir " + d, t.remove)
        return t

    def server(self, tmp, **kw):
        s = Server(tmp, **kw)
        self.on_cleanup("server", s.stop)
        s.start()
        return s

    def mount_tmpfs(self, path, size="64k"):
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size,
                        "tmpfs", path], check=True)

        def umount():
            for _ in range(5):
                r = subprocess.run(["umount", path], capture_output=True)
                if r.returncode == 0:
                    return
                time.sleep(0.5)
            subprocess.run(["umount", "-l", path], capture_output=True)
        self.on_cleanup("umount " + path, umount)

    def run(self, main):
        """Run main(self) and finish: any exception counts as a failure."""
        try:
            wait_for_build()
            main(self)
        except SystemExit as e:
            self.check(False, "interrupted", "exit %s" % e.code)
        except BaseException:
            self.check(False, "test crashed", traceback.format_exc())
        finally:
            self.cleanup()
        self.finish()

    def finish(self):
        if self._finished:
            return
        self._finished = True
        self.cleanup()
        print("# %s took %.1f s" % (self.name, time.monotonic() - self.started))
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        sys.exit(1 if self.failed else 0)


def wait_for_build(timeout=120.0):
    """Both programs built and not being rewritten (unchanged for a
    second); a RuntimeError after the timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            cur = [(os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in (FCGI, CLI)]
            ok = all(os.access(p, os.X_OK) for p in (FCGI, CLI))
        except OSError:
            cur, ok = None, False
        if ok and cur == last:
            return
        last = cur
        time.sleep(1.0)
    raise RuntimeError("%s and %s not built (run make)" % (FCGI, CLI))


class TempDir:
    """A temporary directory; owner="www-data" hands it (and only it) to
    that user so a server dropped to it can create files there."""

    def __init__(self, path, owner=None):
        self.path = path
        self.owner = owner
        self.uid = self.gid = None
        if owner:
            pw = pwd.getpwnam(owner)
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            os.chown(path, self.uid, self.gid)

    def join(self, *p):
        return os.path.join(self.path, *p)

    def mkdir(self, *p, mode=0o755, own=True):
        d = self.join(*p)
        os.makedirs(d, exist_ok=True)
        os.chmod(d, mode)
        if own and self.uid is not None:
            os.chown(d, self.uid, self.gid)
        return d

    def write(self, name, data, mode=0o644, own=True):
        p = self.join(name)
        if isinstance(data, str):
            data = data.encode()
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        if own and self.uid is not None:
            os.chown(p, self.uid, self.gid)
        return p

    def remove(self):
        if not os.path.isdir(self.path):
            return
        # Anything still mounted inside is a bug of the caller's cleanup
        # order; never rmtree across a mount point.
        with open("/proc/self/mounts") as f:
            mounts = [l.split()[1] for l in f]
        for m in mounts:
            if m == self.path or m.startswith(self.path + "/"):
                subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)


# ---------------------------------------------------------------- server

def _lq(s):
    """A lighttpd configuration string literal."""
    s = str(s)
    if '"' in s or "\\" in s or "\n" in s:
        raise ValueError("value not representable in lighttpd.conf: %r" % s)
    return '"%s"' % s


def _ltable(d):
    return "( " + ", ".join("%s => %s" % (_lq(k), _lq(v)) for k, v in d.items()) + " )"


class Server:
    """One lighttpd -D in the foreground of its own process group.

    mode: "fcgi" (mod_fastcgi spawning `binary` with "max-procs") or "cgi"
    (mod_cgi running `binary` per request).
    env: the process environment of the program (FastCGI "bin-environment");
      in CGI mode, which has none, it is merged into every route's setenv.
    routes: list of dicts {"url": "/hook", "setenv": {...}[, "env": {...}]}:
      setenv becomes setenv.set-environment for that URL (FastCGI request
      parameters / the CGI's environment). Without any route "env", one
      FastCGI backend (prefix "/") serves every route, as one binary
      serving several endpoints; a route "env" (added to `env`) gives each
      route a backend of its own. Route URLs must not be prefixes of one
      another.
    url/setenv: shorthand for a single route.
    umask: the process umask lighttpd (and so the program) starts with.
    user: run the server as this user (server.username/groupname); the
      temp dir must then be owned by it (Suite.tempdir(owner=...)).
    """

    def __init__(self, tmp, mode="fcgi", url="/hook", env=None, setenv=None,
                 routes=None, user=None, binary=None, max_procs=2, name="srv",
                 extra_conf="", umask=0o022):
        assert mode in ("fcgi", "cgi")
        self.tmp = tmp
        self.umask = umask
        self.mode = mode
        self.user = user
        self.binary = binary or FCGI_RUN
        self.max_procs = max_procs
        self.name = name
        self.extra_conf = extra_conf
        self.env = dict(env or {})
        if routes is None:
            routes = [{"url": url, "setenv": setenv or {}}]
        self.routes = [dict(r) for r in routes]
        # FastCGI: one backend for every route (prefix "/", the settings of
        # `env` in its bin-environment), unless a route brings its own
        # "env": then each route gets a backend of its own.
        self.shared = mode == "fcgi" and not any("env" in r for r in self.routes)
        self.url = self.routes[0]["url"]
        self.dir = tmp.mkdir("lighttpd-" + name, mode=0o755)
        self.conf = os.path.join(self.dir, "lighttpd.conf")
        self.errorlog = os.path.join(self.dir, "error.log")
        self.outlog = os.path.join(self.dir, "lighttpd.out")
        self.proc = None
        self.port = None
        self.leftover = []
        self.responses = []        # every (method, path, status, headers, body)
        self._rlock = threading.Lock()
        self._known_children = set()

    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    # -- configuration
    def _fcgi_entry(self, key, i, env):
        sock = os.path.join(self.dir, "fcgi-%d.sock" % i)
        opts = [
            '"bin-path" => %s' % _lq(self.binary),
            '"socket" => %s' % _lq(sock),
            '"max-procs" => %d' % self.max_procs,
            '"check-local" => "disable"',
            '"bin-copy-environment" => ( "PATH" )',
        ]
        if env:
            opts.append('"bin-environment" => %s' % _ltable(env))
        return "  %s => ( %s => (\n      %s\n  ) )" % (
            _lq(key), _lq("hs%d" % i), ",\n      ".join(opts))

    def _write_conf(self):
        d = self.dir
        docroot = self.tmp.mkdir("lighttpd-" + self.name, "docroot", mode=0o755)
        uploads = self.tmp.mkdir("lighttpd-" + self.name, "uploads", mode=0o700)
        mods = ["mod_setenv"]
        if self.mode == "fcgi":
            mods.append("mod_fastcgi")
        else:
            mods += ["mod_alias", "mod_cgi"]
        c = []
        c.append("server.modules = ( %s )" % ", ".join(_lq(m) for m in mods))
        c.append("server.document-root = %s" % _lq(docroot))
        c.append("server.upload-dirs = ( %s )" % _lq(uploads))
        c.append('server.bind = "127.0.0.1"')
        c.append("server.port = %d" % self.port)
        c.append("server.errorlog = %s" % _lq(self.errorlog))
        # The backends' stderr (hookspool's log lines): lighttpd -D leaves
        # it on its own stderr unless server.breakagelog names a file.
        # The same file under another spelling: lighttpd 1.4.69 shares one
        # descriptor per log name and then leaves stderr alone, while two
        # O_APPEND descriptors on one file interleave whole lines.
        c.append("server.breakagelog = %s" % _lq(
            os.path.join(os.path.dirname(self.errorlog), ".", os.path.basename(self.errorlog))))
        c.append('server.max-keep-alive-requests = 1000')
        c.append('server.max-read-idle = 60')
        if self.user:
            c.append("server.username = %s" % _lq(self.user))
            c.append("server.groupname = %s" % _lq(self.user))
        if self.mode == "fcgi":
            if self.shared:
                entries = [self._fcgi_entry("/", 0, self.env)]
            else:
                entries = [self._fcgi_entry(r["url"], i, dict(self.env, **r.get("env", {})))
                           for i, r in enumerate(self.routes)]
            c.append("fastcgi.server = (\n%s\n)" % ",\n".join(entries))
        else:
            c.append("alias.url = ( %s )" % ", ".join(
                "%s => %s" % (_lq(r["url"]), _lq(self.binary)) for r in self.routes))
        for r in self.routes:
            inner = []
            se = dict(r.get("setenv") or {})
            if self.mode == "cgi":         # no process environment: all per request
                se = dict(self.env, **r.get("env", {}), **se)
            if se:
                inner.append("  setenv.set-environment = %s" % _ltable(se))
            if self.mode == "cgi":
                inner.append('  cgi.assign = ( "" => "" )')
            if inner:
                c.append('$HTTP["url"] == %s {\n%s\n}' % (_lq(r["url"]), "\n".join(inner)))
        if self.extra_conf:
            c.append(self.extra_conf)
        with open(self.conf, "w") as f:
            f.write("\n".join(c) + "\n")

    # -- life cycle
    def start(self):
        last = None
        for _attempt in range(3):          # a port may be taken between
            self.port = free_port()       # free_port() and the bind
            self._write_conf()
            env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "LANG": "C"}
            with open(self.outlog, "ab") as out:
                self.proc = subprocess.Popen(
                    [lighttpd_bin(), "-D", "-f", self.conf], stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.dir,
                    start_new_session=True, preexec_fn=lambda: os.umask(self.umask))
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if port_answers(self.port):
                    if self.mode == "fcgi":
                        self._wait_children(deadline)
                    return self
                time.sleep(0.05)
            last = self._tail(self.outlog) + self._tail(self.errorlog)
            self.stop()
        raise RuntimeError("lighttpd did not start: %s" % last)

    def _wait_children(self, deadline):
        """FastCGI backends are spawned before lighttpd listens; still,
        wait (bounded) until the expected number exists."""
        want = self.max_procs * (1 if self.shared else len(self.routes))
        while time.monotonic() < deadline:
            if len(self.children()) >= want:
                return
            time.sleep(0.05)

    def children(self):
        """PIDs of processes whose parent is this lighttpd (FastCGI
        backends, CGIs)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        out = [pid for pid, ppid in proc_parents().items() if ppid == self.proc.pid]
        self._known_children.update(out)
        return out

    def backend_pids(self):
        """The FastCGI backends: children running the program binary,
        directly, through a wrapper that execs it (SANITIZE=1), or under
        valgrind (VALGRIND=1: the program is one of memcheck's arguments)."""
        res = []
        real = {os.path.realpath(self.binary), os.path.realpath(FCGI)}
        for pid in self.children():
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
                # exe reads "... (deleted)" once a rebuild replaced the file
                exe = os.readlink("/proc/%d/exe" % pid)
            except OSError:
                continue
            exe = exe[:-len(" (deleted)")] if exe.endswith(" (deleted)") else exe
            if (argv and argv[0] == self.binary) or exe in real or \
                    ("valgrind" in exe and any(os.path.realpath(a) in real for a in argv[1:])):
                res.append(pid)
        return res

    def wait_backends(self, n, timeout=60.0):
        """backend_pids() once n are up (bounded: a wrapper such as
        valgrind takes seconds to exec the program), else what is there."""
        end = time.monotonic() + timeout
        while True:
            pids = self.backend_pids()
            if len(pids) >= n or time.monotonic() > end:
                return pids
            time.sleep(0.1)

    def stop(self):
        if self.proc is None:
            return
        p = self.proc
        self.children()                   # remember who to reap
        stop_group(p)
        # Children that escaped the process group: only the ones we saw.
        deadline = time.monotonic() + STOP_TIMEOUT
        for pid in sorted(self._known_children):
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.leftover = [pid for pid in self._known_children if _alive(pid)]
        for pid in self._known_children:       # orphans we inherited as subreaper
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        self.proc = None

    @staticmethod
    def _tail(path, n=2000):
        try:
            with open(path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    # -- logs
    def log(self):
        try:
            with open(self.errorlog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.errorlog)
        except OSError:
            return 0

    def log_since(self, offset):
        try:
            with open(self.errorlog, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, offset, pattern, timeout=10.0):
        """New log text since offset once it matches pattern (regex), or
        whatever arrived by the deadline."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.log_since(offset)
            if re.search(pattern, text):
                return text
            time.sleep(0.05)
        return text

    # -- HTTP
    def request(self, method, path=None, body=None, headers=None, chunked=False,
                timeout=HTTP_TIMEOUT):
        """(status, {lowercase header: value}, body bytes); status is None
        and body the error text when the connection failed."""
        path = path or self.url
        headers = dict(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if chunked:
                data = body or b""
                pieces = [data[i:i + 700] for i in range(0, len(data), 700)]
                headers["Transfer-Encoding"] = "chunked"
                conn.request(method, path, body=iter(pieces), headers=headers,
                             encode_chunked=True)
            else:
                conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            st = r.status
        except (OSError, http.client.HTTPException) as e:
            st, hdrs, data = None, {}, repr(e).encode()
        finally:
            conn.close()
        with self._rlock:
            self.responses.append((method, path, st, hdrs, data))
        return st, hdrs, data

    def post(self, body, headers=None, path=None, **kw):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return self.request("POST", path, body, h, **kw)

    def get(self, path=None, headers=None):
        return self.request("GET", path, None, headers)


def flood(port, path, nbytes, chunked=False, headers=None, timeout=HTTP_TIMEOUT):
    """POST nbytes of filler (no signature) to 127.0.0.1:port, with a
    Content-Length or chunked, as an attacker would, without keeping it in
    memory. Sending stops as soon as the server answers (so its answer is
    read before a reset could discard it). Returns (status or None, the
    raw answer, body bytes sent)."""
    h = {"Host": "localhost", "Content-Type": "application/json", "Connection": "close"}
    h.update(headers or {})
    if chunked:
        h["Transfer-Encoding"] = "chunked"
    else:
        h["Content-Length"] = str(nbytes)
    head = "POST %s HTTP/1.1\r\n%s\r\n" % (path, "".join("%s: %s\r\n" % kv for kv in h.items()))
    piece = b"x" * 65536
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out, sent, left, answer = head.encode(), 0, nbytes, b""
    deadline = time.monotonic() + timeout
    try:
        s.setblocking(False)
        sending = True
        while time.monotonic() < deadline:
            if sending and not out:
                if left > 0:
                    n = min(left, len(piece))
                    out = (b"%x\r\n%s\r\n" % (n, piece[:n])) if chunked else piece[:n]
                    left -= n
                    sent += n
                elif chunked:
                    out, chunked = b"0\r\n\r\n", False
                else:
                    sending = False
            r, w, _ = select.select([s], [s] if sending and out else [], [], 1.0)
            if r:
                try:
                    data = s.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                answer += data
                sending = False          # answered: the rest is not wanted
            if w:
                try:
                    out = out[s.send(out):]
                except OSError:          # the server closed: read what it said
                    sending = False
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return (int(m.group(1)) if m else None), answer, sent


class DiskWatch:
    """Watches, in a thread, how much disk a request costs while it runs:
    the used bytes of each filesystem holding one of paths (statvfs), and
    the bytes of regular files the processes pids() hold open (on any
    filesystem, deleted files included; files open when the watch began,
    such as logs, are not counted). After stop(): grew {path: peak growth},
    held (peak bytes held). pids() is asked again every 0.1 s."""

    def __init__(self, paths, pids):
        self.paths = list(paths)
        self.pids = pids
        self.grew = {}
        self.held = 0
        self._stop = threading.Event()

    @staticmethod
    def _used(path):
        st = os.statvfs(path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    @staticmethod
    def _open_files(pids):
        out = {}
        for pid in pids:
            d = "/proc/%d/fd" % pid
            try:
                fds = os.listdir(d)
            except OSError:
                continue
            for fd in fds:
                try:
                    st = os.stat(os.path.join(d, fd))
                    name = os.readlink(os.path.join(d, fd))
                except OSError:
                    continue
                # Not what a server buffers a body in: programs,
                # libraries and their debug files (valgrind, under make
                # test VALGRIND=1, holds the binary, libc and
                # /usr/lib/debug files open), valgrind's logs and gdb
                # pipes.
                if (st.st_mode & 0o111 or name.startswith(("/usr/", "/lib")) or
                        "/vgdb-pipe-" in name or re.search(r"/vg\.\d+\.log$", name)):
                    continue
                if stat.S_ISREG(st.st_mode):
                    out[(st.st_dev, st.st_ino)] = st.st_blocks * 512
        return out

    def start(self):
        self._base = {p: self._used(p) for p in self.paths}
        self.grew = {p: 0 for p in self.paths}
        self._pids = list(self.pids())
        self._known = set(self._open_files(self._pids))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        for p in self.paths:
            self.grew[p] = max(self.grew[p], self._used(p) - self._base[p])
        files = self._open_files(self._pids)
        self.held = max(self.held, sum(v for k, v in files.items() if k not in self._known))

    def _run(self):
        refreshed = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - refreshed > 0.1:
                self._pids = list(self.pids())
                refreshed = time.monotonic()
            self._sample()
            time.sleep(0.002)

    def stop(self):
        self._stop.set()
        self._thread.join()
        self._sample()
        return self


def _become_subreaper():
    """Backends that outlive lighttpd by a moment are re-parented to this
    process (not to an init that may never reap them), so stop() can reap
    them."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)          # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def proc_parents():
    """{pid: ppid} of every process."""
    res = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
            res[int(p)] = int(st.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return res


def store_integrity(db, readonly=False):
    """The rows of PRAGMA integrity_check on the SQLite file db ([("ok",)]
    when it is sound), or [("error: ...",)] when it cannot be run."""
    try:
        if readonly:
            con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
        else:
            con = sqlite3.connect(db, timeout=30)
        try:
            return con.execute("PRAGMA integrity_check").fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:
        return [("error: %s" % e,)]


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# ---------------------------------------------------------------- signing

SENT_SECRETS = set()      # everything that must never show in an answer or log
SENT_MACS = set()


def _remember_macs(value):
    SENT_MACS.add(value)
    for part in re.split(r"[ ,=]", value):
        if len(part) >= 16:
            SENT_MACS.add(part)
    if value.lower().startswith("bearer "):
        SENT_MACS.add(value[7:])


def sign(body, scheme="caliza", secret=DEMO_SECRET, t=None, msg_id=None,
         secret_file=None):
    """Headers (dict, in order) from `build/hookspool sign`."""
    if isinstance(body, str):
        body = body.encode()
    args = [CLI, "sign", "--scheme", scheme]
    if t is not None:
        args += ["--time", str(int(t))]
    if msg_id is not None:
        args += ["--id", msg_id]
    env = cli_env()
    if secret_file:
        env["HOOKSPOOL_SECRET_FILE"] = secret_file
    else:
        env["HOOKSPOOL_SECRET"] = secret
        remember_secret(secret)
    for attempt in range(5):
        try:
            r = subprocess.run(args, input=body, capture_output=True, env=env, timeout=60)
            break
        except OSError as e:      # a concurrent `make` is rewriting the binary
            if attempt == 4 or e.errno not in (errno.EACCES, errno.ENOENT, errno.ETXTBSY):
                raise
            time.sleep(1)
    if r.returncode != 0:
        raise RuntimeError("hookspool sign --scheme %s failed (%d): %s" % (
            scheme, r.returncode, r.stderr.decode("utf-8", "replace")))
    h = {}
    for line in r.stdout.decode().splitlines():
        if not line.strip():
            continue
        name, _, value = line.partition(":")
        h[name.strip()] = value.strip()
        _remember_macs(value.strip())
    return h


def remember_secret(secret):
    SENT_SECRETS.add(secret)
    for pre in ("base64:", "hex:", "whsec_", "Bearer "):
        if secret.startswith(pre) and len(secret) > len(pre) + 8:
            SENT_SECRETS.add(secret[len(pre):])


def hmac_b64(key, data):
    import hmac
    return base64.b64encode(hmac.new(key, data, hashlib.sha256).digest()).decode()


def caliza_mac(body, secret=DEMO_SECRET):
    """The Caliza signature of body (Base64 HMAC-SHA256 keyed with the
    secret's literal bytes), computed here rather than by `hookspool sign`:
    no process per event, and a check independent of the program. Not
    added to SENT_MACS (suites sending thousands of events would make
    check_no_leaks quadratic)."""
    return hmac_b64(secret.encode(), body)


def caliza_sig(body, secret=DEMO_SECRET):
    """{CALIZA_HEADER: caliza_mac(body, secret)}: the headers of a signed
    Caliza delivery, a fresh dict the caller may add to."""
    return {CALIZA_HEADER: caliza_mac(body, secret)}


def post_signed(srv, body, headers=None, path=None, sign=True):
    """POST body to srv: (status, answer JSON or None, raw answer body,
    answer headers). The request carries caliza_sig(body) when sign is
    true, then headers (which may replace it); with sign false, headers
    only."""
    h = caliza_sig(body) if sign else {}
    h.update(headers or {})
    st, hdrs, b = srv.post(body, h, path=path)
    return st, one_line_json(b), b, hdrs


def caliza_example(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


_uniq = [0]
_uniq_lock = threading.Lock()


def unique_hex(n=24):
    with _uniq_lock:
        _uniq[0] += 1
        c = _uniq[0]
    return ("%08x%06x%010x" % (int(time.time()), os.getpid() & 0xffffff, c))[:n].ljust(n, "0")


def caliza_event(name="TRANSACTION_COMPLETED.json", resource_id=None, pad_to=None):
    """A Caliza example, still pretty-printed, with a unique resourceId
    (so dedup, when on, never folds two test events), optionally padded
    with an extra field to about pad_to bytes."""
    text = caliza_example(name).decode()
    rid = resource_id or unique_hex()
    text, n = re.subn(r'("resourceId"\s*:\s*)"[^"]*"', lambda m: m.group(1) + '"%s"' % rid,
                      text, count=1)
    assert n == 1, name
    if pad_to:
        need = pad_to - len(text.encode()) - len('  "clientRef": "",\n')
        if need > 0:
            text = text.replace("{\n", '{\n  "clientRef": "%s",\n' % ("r" + rid + "-" + "x" * need)[:need], 1)
    return text.encode(), rid


# ---------------------------------------------------------------- JSON

_TOKEN_RE = re.compile(rb'"(?:[^"\\]|\\.)*"|[ \t\r\n]+|[^" \t\r\n]+', re.S)


def minify(body):
    """The body with the whitespace between JSON tokens removed and every
    token kept byte for byte."""
    out = []
    for m in _TOKEN_RE.finditer(body):
        t = m.group(0)
        if t[:1] in (b" ", b"\t", b"\r", b"\n"):
            continue
        out.append(t)
    return b"".join(out)


# ---------------------------------------------------------------- spool

def spool_files(spool, sub):
    d = os.path.join(spool, sub)
    try:
        names = sorted(n for n in os.listdir(d) if n.endswith(".jsonl"))
    except FileNotFoundError:
        return []
    return [os.path.join(d, n) for n in names]


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def spool_lines(spool, subs=("ready", "active")):
    """Every line (bytes, with its newline if it has one) of the segments
    in ready/ (name order) then active/, as [(path, line)]."""
    res = []
    for sub in subs:
        for p in spool_files(spool, sub):
            try:
                data = read_bytes(p)
            except FileNotFoundError:
                continue
            for ln in data.splitlines(keepends=True):
                res.append((p, ln))
    return res


def parse_lines(lines):
    """(parsed dicts, problems): every line must end in a newline and be
    one JSON object."""
    out, bad = [], []
    for p, ln in lines:
        if not ln.endswith(b"\n"):
            bad.append("%s: no newline: %r" % (os.path.basename(p), ln[:120]))
            continue
        try:
            o = json.loads(ln)
            if not isinstance(o, dict):
                raise ValueError("not an object")
            out.append(o)
        except ValueError as e:
            bad.append("%s: %s: %r" % (os.path.basename(p), e, ln[:120]))
    return out, bad


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(65536), b""):
            h.update(chunk)
    return h.hexdigest()


def mode_of(path):
    return os.stat(path).st_mode & 0o7777


def check_no_leaks(T, servers, tmp_paths, extra_secrets=()):
    """No answer (headers or body) of any server carries a secret, a MAC
    or a temp dir path; no error log carries a secret or a MAC."""
    secrets = {s for s in SENT_SECRETS | set(extra_secrets) if len(s) >= 8}
    macs = {m for m in SENT_MACS if len(m) >= 16}
    bad_ans, bad_log = [], []
    n = 0
    for srv in servers:
        for (meth, path, st, hdrs, body) in srv.responses:
            n += 1
            text = body.decode("utf-8", "replace") + "\n" + "\n".join(
                "%s: %s" % kv for kv in hdrs.items())
            for s in secrets:
                if s in text:
                    bad_ans.append("%s %s -> %s carries a secret" % (meth, path, st))
            for m in macs:
                if m in text:
                    bad_ans.append("%s %s -> %s carries a MAC %s" % (meth, path, st, m[:6]))
            for tp in tmp_paths:
                if tp in text:
                    bad_ans.append("%s %s -> %s carries the path %s" % (meth, path, st, tp))
        log = srv.log()
        for s in secrets:
            if s in log:
                bad_log.append("error log of %s carries a secret" % srv.name)
        for m in macs:
            if m in log:
                bad_log.append("error log of %s carries a MAC %s..." % (srv.name, m[:6]))
    T.check(not bad_ans, "no answer (of %d) carries a secret, a MAC or a temp path" % n,
            bad_ans[:5])
    T.check(not bad_log, "no error log carries a secret or a MAC", bad_log[:5])


def parse_cgi(out):
    """(status or None, {lower-case header: value}, body) of a CGI's output."""
    head, sep, body = out.partition(b"\r\n\r\n")
    if not sep:
        return None, {}, out
    hdrs = {}
    for line in head.split(b"\r\n"):
        k, _, v = line.decode("latin-1").partition(":")
        hdrs[k.strip().lower()] = v.strip()
    try:
        st = int(hdrs.get("status", "").split()[0])
    except (ValueError, IndexError):
        st = None
    return st, hdrs, body


def one_line_json(body):
    """The answer body as JSON if it is one line of JSON, else None."""
    try:
        s = body.decode()
    except UnicodeDecodeError:
        return None
    if s.count("\n") > 1 or (s.count("\n") == 1 and not s.endswith("\n")):
        return None
    try:
        return json.loads(s)
    except ValueError:
        return None
