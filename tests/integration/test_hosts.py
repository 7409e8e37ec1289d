"""
test_hosts.py - the shipped deployments (deploy/apache, deploy/lighttpd,
deploy/nginx) on the real servers, started by the test as root on free
127.0.0.1 ports, each with its own configuration and logs in a temp dir,
workers as www-data:

  - Apache 2.4 + mod_fcgid with the shipped .htaccess in several
    directories of a shared host's public_html (caliza, github, bearer
    ...), FcgidMaxProcessesPerClass 1: one FastCGI process serves them
    all, each request with its own directory's settings; CGIPassAuth;
    mod_fcgid's own 500 past FcgidMaxRequestLen; the DOCUMENT_ROOT warning;
  - Apache mod_cgi with hookspool.conf beside the program (no SetEnv),
    with the dynamic and the static build;
  - the VPS vhost snippet (deploy/apache/vhost.conf) with the program of
    `make install`;
  - lighttpd with the shipped FastCGI and CGI snippets, and the static
    build under FastCGI;
  - nginx + the program under spawn-fcgi as the shipped systemd unit
    runs it (multiwatch, two processes);
  - `make static` (ldd: not a dynamic executable), `make install PREFIX=`
    and `DESTDIR=`, and `hookspool check --docroot`.

The same compact HTTP suite (SPEC section 4) runs on each: every Caliza
example -> 200 and its line byte for byte (500.00 stays 500.00), bad and
missing signature 401, invalid JSON 400, too large 413, PUT 405 with
Allow, status 401 without the token and 200 with it.

Body caps (issue 13, item 4): every shipped configuration caps the body
near HOOKSPOOL_MAX_BODY, so an unsigned 64 MiB body (Content-Length and
chunked) is refused without the server buffering it: every server keeps
its request-body temp files on a tmpfs of the test's (one nobody else
writes to), whose peak growth while the request runs must stay under the
cap, and so must the files the server's processes hold open anywhere;
the spool gets nothing. A signed body of exactly HOOKSPOOL_MAX_BODY still
gets 200 and one byte more hookspool's own 413.
"""
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402
import servers  # noqa: E402

DEPLOY = os.path.join(hs.ROOT, "deploy")
TOKEN = "status-token-7c1e9a3f5b2d40e8"
OTHER_SECRET = "NotTheRightSecret-5b1d0c8e9f2a"
GH_SECRET = "github-hook-secret-3e8f1a9c6d2b"
BEARER = "pix-authorization-token-5d2c8e1f7a3b"
SMALL_BODY = 4096          # HOOKSPOOL_MAX_BODY where the suite checks 413
FCGID_DEFAULT_MAX = 131072  # mod_fcgid's FcgidMaxRequestLen default
DEFAULT_MAX = 1048576      # HOOKSPOOL_MAX_BODY's default
# The shipped web server caps on the body are HOOKSPOOL_MAX_BODY plus this
# margin, so that hookspool itself answers (logs and counts) a body a
# little over its limit: 1088 KiB for the default, 192 KiB for the
# .htaccess (HOOKSPOOL_MAX_BODY 131072).
CAP_MARGIN = 65536
FLOOD = 64 << 20           # the unsigned body an attacker sends
BUILD_TIMEOUT = 300.0
WWW = "www-data"


# ---------------------------------------------------------------- helpers

def deploy_text(*p):
    with open(os.path.join(DEPLOY, *p)) as f:
        return f.read()


def substitute(text, pairs):
    for old, new in pairs:
        text = text.replace(old, new)
    return text


def _set_lines(text, pattern, line_fn, settings, what):
    """Set each setting on the first line matching pattern % name (that
    line commented out or not); a setting the shipped file does not
    mention is an error of the file."""
    for name, value in settings.items():
        rx = re.compile(pattern % re.escape(name), re.M)
        m = rx.search(text)
        if m is None:
            raise RuntimeError("%s has no line for %s" % (what, name))
        text = text[:m.start()] + line_fn(m, name, value) + text[m.end():]
    return text


def set_setenv(text, settings, what):
    """.htaccess / Apache: SetEnv NAME value."""
    return _set_lines(text, r"^([ \t]*)#?[ \t]*SetEnv[ \t]+%s[ \t].*$",
                      lambda m, n, v: "%sSetEnv %s %s" % (m.group(1), n, v), settings, what)


def set_conf(text, settings, what):
    """hookspool.conf: NAME=value."""
    return _set_lines(text, r"^#?[ \t]*%s=.*$", lambda m, n, v: "%s=%s" % (n, v),
                      settings, what)


def set_lighttpd(text, settings, what):
    """lighttpd: "NAME" => "value", inside a table."""
    return _set_lines(text, r'^([ \t]*)#?[ \t]*"%s"[ \t]*=>[ \t]*"[^"]*",?',
                      lambda m, n, v: '%s"%s" => "%s",' % (m.group(1), n, v), settings, what)


def set_lighttpd_url(text, url, settings, what):
    """lighttpd: "NAME" => "value" in the setenv.set-environment of the
    $HTTP["url"] block of url (== url, or the =~ "^url(/|$)" that takes
    its suffixes too), replacing the line there or adding one."""
    m = re.search(r'^\$HTTP\["url"\] (?:== "%s"|=~ "\^%s\(/\|\$\)") \{\n(.*?)^\}'
                  % (re.escape(url), re.escape(url)), text, re.M | re.S)
    if m is None:
        raise RuntimeError("%s has no block for %s" % (what, url))
    block = m.group(1)
    for name, value in settings.items():
        rx = re.compile(r'^([ \t]*)#?[ \t]*"%s"[ \t]*=>[ \t]*"[^"]*",?' % re.escape(name), re.M)
        hit = rx.search(block)
        if hit:
            block = block[:hit.start()] + '%s"%s" => "%s",' % (hit.group(1), name, value) + \
                block[hit.end():]
            continue
        opened = re.search(r"setenv\.set-environment = \(\n", block)
        if opened is None:
            raise RuntimeError("%s: no setenv.set-environment for %s" % (what, url))
        block = block[:opened.end()] + '        "%s" => "%s",\n' % (name, value) + \
            block[opened.end():]
    return text[:m.start(1)] + block + text[m.end(1):]


def set_nginx(text, settings, what):
    """nginx: fastcgi_param NAME value;"""
    return _set_lines(text, r"^([ \t]*)#?[ \t]*fastcgi_param[ \t]+%s[ \t][^;\n]*;",
                      lambda m, n, v: "%sfastcgi_param %s %s;" % (m.group(1), n, v),
                      settings, what)


def chown_www(path):
    pw = hs.pwd.getpwnam(WWW)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def install_program(dst, src=None):
    """Put the program at dst, as an upload does (a copy: /proc/self/exe,
    and so the hookspool.conf beside it, is then dst's directory).
    Under make test VALGRIND=1 the copy of the build runs under the
    same valgrind wrapper (written beside it). Returns (what to run,
    the binary that runs)."""
    src = src or hs.FCGI
    real = dst
    wrap = os.environ.get("HOOKSPOOL_TEST_WRAP")
    if wrap and src == hs.FCGI:
        with open(wrap) as f:
            text = f.read()
        real = os.path.join(os.path.dirname(dst), "hookspool-bin")
        new = text.replace(hs.FCGI, real).replace(
            os.path.join(hs.ROOT, "build", "hookspool.fcgi"), real)
        if new == text:
            real = dst
        else:
            with open(dst, "w") as f:
                f.write(new)
            os.chmod(dst, 0o755)
            chown_www(dst)
    shutil.copy(src, real)
    os.chmod(real, 0o755)
    chown_www(real)
    return dst, real


def make_env():
    """A clean environment for make: none of the caller's MAKEFLAGS
    (jobserver, SANITIZE=1...) leaks into these builds."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C",
            "HOME": os.environ.get("HOME", "/root")}


def json_answer(T, what, resp, want_status, want=None):
    st, h, b = resp
    ok = T.check(st == want_status, "%s: %s" % (what, want_status), (st, b[:300]))
    j = hs.one_line_json(b)
    T.check(h.get("content-type", "").startswith("application/json") and j is not None,
            "%s: one line of application/json" % what, (h.get("content-type"), b[:300]))
    if want is not None:
        T.check(j == want, "%s: %s" % (what, json.dumps(want)), b[:300])
    return ok, j


def sized(n):
    head = b'{"operation":"PAD","resourceId":"%s","pad":"' % hs.unique_hex().encode()
    tail = b'"}'
    return head + b"x" * (n - len(head) - len(tail)) + tail


def spool_objs(spool):
    objs, bad = hs.parse_lines(hs.spool_lines(spool))
    return objs, bad


# ---------------------------------------------------------------- the suite

def suite(T, srv, ep):
    """The compact HTTP suite against one endpoint. ep: tag, path, spool,
    secret, endpoint, max_body, token."""
    tag, path = ep["tag"], ep["path"]
    T.section("%s: HTTP suite on %s" % (tag, path))
    answered, bodies = [], []
    for name in hs.CALIZA_EXAMPLES:
        body = hs.caliza_example(name)
        st, h, b = srv.post(body, hs.sign(body, secret=ep["secret"]), path=path)
        j = hs.one_line_json(b) or {}
        if T.check(st == 200 and j.get("ok") is True and isinstance(j.get("id"), str)
                   and h.get("content-type", "").startswith("application/json"),
                   "%s: POST %s: 200 {\"ok\":true,\"id\":...}" % (tag, name), (st, b[:300])):
            answered.append(j["id"])
            bodies.append(body)
    lines = hs.spool_lines(ep["spool"])
    objs, bad = hs.parse_lines(lines)
    T.check(not bad and [o.get("id") for o in objs] == answered,
            "%s: one line per 200 in %s, in order" % (tag, os.path.basename(ep["spool"])),
            (bad[:2], len(objs), len(answered)))
    T.check(bool(objs) and all(o.get("endpoint") == ep["endpoint"] for o in objs),
            "%s: endpoint %s in every line" % (tag, ep["endpoint"]),
            [o.get("endpoint") for o in objs])
    wrong = [os.path.basename(p) for (p, raw), body in zip(lines, bodies)
             if not raw.endswith(b',"event":' + hs.minify(body) + b"}\n")]
    T.check(len(lines) == len(bodies) and not wrong,
            "%s: each event is the body minus whitespace, byte for byte" % tag, wrong)
    raw = b"".join(l for _, l in lines)
    T.check(b'"value":500.00' in raw, "%s: 500.00 stays 500.00" % tag)

    before = len(lines)
    body, _ = hs.caliza_event()
    off = srv.log_size()
    json_answer(T, "%s: wrong signature" % tag,
                srv.post(body, hs.sign(body, secret=OTHER_SECRET), path=path), 401,
                {"ok": False, "error": "bad_signature"})
    json_answer(T, "%s: missing signature" % tag, srv.post(body, {}, path=path), 401,
                {"ok": False, "error": "missing_signature"})
    bad_json = b'{"operation": "X", "resourceId": "1",}'
    json_answer(T, "%s: signed invalid JSON" % tag,
                srv.post(bad_json, hs.sign(bad_json, secret=ep["secret"]), path=path), 400,
                {"ok": False, "error": "bad_json"})
    over = sized(ep["max_body"] + 1)
    json_answer(T, "%s: body of HOOKSPOOL_MAX_BODY+1 (%d) bytes" % (tag, ep["max_body"] + 1),
                srv.post(over, hs.sign(over, secret=ep["secret"]), path=path), 413,
                {"ok": False, "error": "too_large"})
    resp = srv.request("PUT", path, body, hs.sign(body, secret=ep["secret"]))
    json_answer(T, "%s: PUT" % tag, resp, 405, {"ok": False, "error": "bad_method"})
    T.check(resp[1].get("allow") == "POST, GET, HEAD", "%s: PUT: Allow: POST, GET, HEAD" % tag,
            resp[1])
    text = srv.wait_log(off, r"reason=bad_signature")
    T.check(re.search(r"hookspool.*reason=bad_signature", text) is not None,
            "%s: the rejection is logged in the server's error log" % tag, text[-600:])
    T.check(len(hs.spool_lines(ep["spool"])) == before, "%s: rejections appended nothing" % tag)

    auth = {}
    if ep.get("token"):
        resp = srv.get(path)
        json_answer(T, "%s: GET status without the token" % tag, resp, 401,
                    {"ok": False, "error": "unauthorized"})
        T.check(resp[1].get("www-authenticate", "").startswith("Bearer"),
                "%s: WWW-Authenticate: Bearer" % tag, resp[1])
        auth = {"Authorization": "Bearer " + ep["token"]}
    ok, j = json_answer(T, "%s: GET status%s" % (tag, " with the token" if auth else ""),
                        srv.get(path, auth), 200)
    j = j or {}
    c = j.get("counters") or {}
    T.check(j.get("status") == "ok" and j.get("endpoint") == ep["endpoint"] and
            c.get("accepted") == len(answered) and
            (c.get("rejected") or {}).get("bad_signature", 0) >= 1,
            "%s: status ok, endpoint %s, accepted %d, bad_signature counted" % (
                tag, ep["endpoint"], len(answered)), j)
    suffixes(T, srv, ep, auth)
    return answered


def suffixes(T, srv, ep, auth):
    """Issue 17 item 1: the endpoint's path and every suffix below it reach
    the program, the query string with them, and the line records the
    suffix (a PIX bank posts to URL/pix, URL/rec, URL/cobr, or to
    URL?...&ignorar=/pix)."""
    tag, path = ep["tag"], ep["path"]
    T.section("%s: suffixes below %s and the query string" % (tag, path))
    for url, want in ((path + "/pix?a=1&b=2", "/pix"), (path + "/cobr/", "/cobr/"),
                      (path + "?hmac=x&ignorar=/rec", "/rec")):
        body, rid = hs.caliza_event()
        st, h, b = srv.post(body, hs.sign(body, secret=ep["secret"]), path=url)
        j = hs.one_line_json(b) or {}
        T.check(st == 200 and isinstance(j.get("id"), str), "%s: POST %s: 200" % (tag, url),
                (st, b[:300]))
        objs, _ = spool_objs(ep["spool"])
        mine = [o for o in objs if o.get("id") == j.get("id")]
        T.check(len(mine) == 1 and mine[0].get("path") == want and
                (mine[0].get("event") or {}).get("resourceId") == rid,
                "%s: POST %s: its line records \"path\":\"%s\"" % (tag, url, want), mine)
    # The query string reaches the program below the endpoint too: with the
    # token it asks for Prometheus text, without one it is refused.
    st, h, b = srv.get(path + "/pix?format=prometheus", auth)
    if auth:
        T.check(st == 200 and h.get("content-type", "").startswith("text/plain") and
                b"hookspool_accepted_total" in b,
                "%s: GET %s/pix?format=prometheus with the token: Prometheus text" % (tag, path),
                (st, h.get("content-type"), b[:200]))
    else:
        T.check(st == 401, "%s: GET %s/pix?format=prometheus without a token: 401" % (tag, path),
                (st, b[:200]))


def post_one(T, srv, what, path, secret, scheme="caliza", headers=None, want=200, pad_to=None):
    body, rid = hs.caliza_event(pad_to=pad_to)
    h = hs.sign(body, scheme=scheme, secret=secret)
    h.update(headers or {})
    st, hd, b = srv.post(body, h, path=path)
    T.check(st == want, "%s: %s" % (what, want), (st, b[:300]))
    return st, hd, b, rid


# ---------------------------------------------------------------- body caps

def body_caps(T, srv, tag, path, cap, pids, spool, refused, under=None):
    """The 64 MiB unsigned body, with a Content-Length and chunked, on
    path of a running server whose request-body temp files go to
    srv.tempdir (a tmpfs of the test's, which nothing else writes to):
    refused as refused[chunked] says (the status of the server's refusal,
    or of hookspool's answer where the server passes the request on
    without its body), the tmpfs and the files pids() hold open (on any
    filesystem) grow by at most cap bytes while it runs, and nothing is
    appended to the spool. /tmp, /var/tmp and the spool's filesystem are
    shared with whatever else runs on the machine: their growth is
    reported, not checked.
    under: dict(secret, scheme, max_body, headers) of path's endpoint: a
    signed body of max_body bytes gets 200, one of max_body + 1 bytes
    hookspool's own 413 (the cap lets it through), and one of cap + 1
    bytes is stopped by the server (whatever it answers, not hookspool's
    too_large): the cap is where the shipped file says."""
    others = sorted({p for p in ("/tmp", "/var/tmp", os.path.dirname(spool))
                     if os.path.isdir(p)})
    for chunked in (False, True):
        how = "chunked" if chunked else "Content-Length"
        what = "%s: an unsigned %d MiB body (%s)" % (tag, FLOOD >> 20, how)
        before = len(hs.spool_lines(spool))
        watch = hs.DiskWatch([srv.tempdir] + others, pids).start()
        try:
            st, answer, sent = hs.flood(srv.port, path, FLOOD, chunked=chunked)
        finally:
            watch.stop()
        T.check(st == refused[chunked], "%s: refused (%s)" % (what, refused[chunked]),
                (st, answer[:300], "sent %d" % sent))
        T.check(watch.grew[srv.tempdir] <= cap,
                "%s: the server's temp dir grew by at most the cap (%d bytes)" % (what, cap),
                "grew %d" % watch.grew[srv.tempdir])
        T.check(watch.held <= cap,
                "%s: the server's processes held at most the cap in open files" % what,
                "held %d" % watch.held)
        T.note("%s: peak growth of the shared %s: %s" % (what, ", ".join(others), ", ".join(
            "%d" % watch.grew[p] for p in others)))
        T.check(len(hs.spool_lines(spool)) == before, "%s: nothing appended to the spool" % what)
    if under is None:
        return
    n = under["max_body"]
    for size, want in ((n, 200), (n + 1, 413), (cap + 1, refused[False])):
        body, _ = hs.caliza_event(pad_to=size)
        h = hs.sign(body, scheme=under.get("scheme", "caliza"), secret=under["secret"])
        h.update(under.get("headers") or {})
        st, hd, b = srv.post(body, h, path=path)
        j = hs.one_line_json(b) or {}
        if size == n:
            ok, whose = st == 200 and j.get("ok") is True, "reaches hookspool"
        elif size == n + 1:
            ok = st == 413 and j == {"ok": False, "error": "too_large"}
            whose = "reaches hookspool"
        else:
            ok = st == want and j.get("error") != "too_large"
            whose = "is stopped by the server's cap"
        T.check(ok, "%s: a signed body of %d bytes %s: %d" % (tag, size, whose, want),
                (st, b[:200]))


def server_pids(srv):
    """A function listing the server's processes, for DiskWatch."""
    def pids():
        out = list(srv.descendants()) if hasattr(srv, "descendants") else list(srv.children())
        if srv.proc is not None:
            out.append(srv.proc.pid)
        if hasattr(srv, "spawn_pids"):
            out += srv.spawn_pids()
        return out
    return pids


def server_tmpfs(T, tmp, name):
    """A tmpfs of the test's for one server's request-body temp files,
    owned by the user its workers run as."""
    path = tmp.join("tmpfs-" + name)
    T.mount_tmpfs(path, size="256m")
    chown_www(path)
    return path


# ---------------------------------------------------------------- builds

class Builds:
    """`make static` and `make install` into the test's own build
    directories (B=...), run in the background while other sections
    run: build/ of the work tree is never touched."""

    def __init__(self, T, tmp):
        self.tmp = tmp
        self.static_b = tmp.join("build-static")
        self.install_b = tmp.join("build-install")
        self.prefix = tmp.join("prefix")
        self.logs = {}
        self.procs = {}
        for name, args in (("static", ["static", "B=" + self.static_b]),
                           ("install", ["install", "PREFIX=" + self.prefix,
                                        "B=" + self.install_b])):
            log = tmp.join("make-%s.log" % name)
            self.logs[name] = log
            with open(log, "wb") as out:
                self.procs[name] = subprocess.Popen(
                    ["make", "-C", hs.ROOT, "-s", "-j2"] + args, stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, env=make_env())
        T.on_cleanup("builds", self.kill)

    def kill(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()

    def wait(self, name):
        p = self.procs[name]
        try:
            rc = p.wait(timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = "timeout"
        with open(self.logs[name], "rb") as f:
            out = f.read().decode("utf-8", "replace")
        return rc, out


def section_static(T, builds):
    T.section("make static")
    rc, out = builds.wait("static")
    if not T.check(rc == 0, "make static B=... builds", out[-800:]):
        return None
    progs = {n: os.path.join(builds.static_b, n) for n in ("hookspool.fcgi", "hookspool")}
    for n, p in progs.items():
        r = subprocess.run(["ldd", p], capture_output=True, text=True)
        T.check("not a dynamic executable" in (r.stdout + r.stderr),
                "ldd static %s: not a dynamic executable" % n, r.stdout + r.stderr)
    r = subprocess.run(["ldd", hs.FCGI], capture_output=True, text=True)
    T.check("libfcgi" in r.stdout,
            "ldd of the dynamic build lists libfcgi (so the check above means something)",
            r.stdout)
    r = subprocess.run([progs["hookspool"], "--version"], capture_output=True, text=True)
    T.check(r.returncode == 0 and "hookspool" in r.stdout, "static hookspool runs", r.stdout)
    return progs["hookspool.fcgi"]


def section_install(T, tmp, builds):
    T.section("make install")
    rc, out = builds.wait("install")
    if not T.check(rc == 0, "make install PREFIX=... builds and installs", out[-800:]):
        return None
    pre = builds.prefix
    want = {"bin/hookspool": 0o755, "libexec/hookspool/hookspool.fcgi": 0o755}
    for rel, mode in want.items():
        p = os.path.join(pre, rel)
        T.check(os.path.isfile(p) and hs.mode_of(p) == mode, "PREFIX/%s, mode %o" % (rel, mode))
    for rel in ("apache/.htaccess", "apache/cgi/.htaccess", "apache/cgi/hookspool.conf",
                "apache/vhost.conf", "apache/README.md", "lighttpd/50-hookspool.conf",
                "lighttpd/50-hookspool-cgi.conf", "lighttpd/README.md",
                "nginx/hookspool.conf", "nginx/hookspool-fcgi.service", "nginx/README.md",
                "cron/crontab.example"):
        T.check(os.path.isfile(os.path.join(pre, "share/hookspool", rel)),
                "PREFIX/share/hookspool/%s" % rel)
    dest = tmp.join("dest")
    r = subprocess.run(["make", "-C", hs.ROOT, "-s", "install", "DESTDIR=" + dest,
                        "B=" + builds.install_b], capture_output=True, text=True,
                       env=make_env(), timeout=BUILD_TIMEOUT)
    T.check(r.returncode == 0 and
            os.path.isfile(os.path.join(dest, "usr/local/libexec/hookspool/hookspool.fcgi")) and
            os.path.isfile(os.path.join(dest, "usr/local/bin/hookspool")),
            "make install DESTDIR=D: D/usr/local/bin/hookspool, "
            "D/usr/local/libexec/hookspool/hookspool.fcgi", r.stdout + r.stderr)
    return pre


def section_check(T, tmp, prefix):
    T.section("hookspool check --docroot (the installed CLI)")
    cli = os.path.join(prefix, "bin", "hookspool")
    base = tmp.mkdir("check")
    www = tmp.mkdir("check", "www")
    ro = tmp.mkdir("check", "root-only", own=False)       # root's 0755
    secret = tmp.write("check/ok.secret", hs.DEMO_SECRET + "\n", mode=0o600)
    www_secret = tmp.write("check/www/leak.secret", hs.DEMO_SECRET + "\n", mode=0o600)
    good_spool = os.path.join(base, "spool")

    def check(env, as_www=False):
        e = {"PATH": "/usr/bin:/bin"}
        e.update(env)
        args = [cli, "check", "--docroot", www]
        if as_www:
            args = ["/usr/sbin/runuser", "-u", WWW, "--"] + args
        r = subprocess.run(args, capture_output=True, text=True, env=e, timeout=60)
        return r.returncode, [l for l in r.stdout.splitlines() if l.strip()], r.stderr

    def one_line(what, res, setting, words):
        rc, lines, err = res
        hits = [l for l in lines if setting in l]
        T.check(rc == 1 and len(hits) == 1 and all(w in hits[0] for w in words),
                "check: %s: one line naming %s" % (what, setting), (rc, lines, err))

    one_line("no secret", check({"HOOKSPOOL_SPOOL": good_spool}), "HOOKSPOOL_SECRET", [])
    one_line("unknown scheme", check({"HOOKSPOOL_SPOOL": good_spool,
                                      "HOOKSPOOL_SECRET_FILE": secret,
                                      "HOOKSPOOL_SCHEME": "sha256-please"}),
             "HOOKSPOOL_SCHEME", ["unknown scheme"])
    one_line("spool not writable by www-data", check({"HOOKSPOOL_SPOOL": os.path.join(ro, "spool"),
                                                      "HOOKSPOOL_SECRET_FILE": secret},
                                                     as_www=True),
             "HOOKSPOOL_SPOOL", [os.path.join(ro, "spool")])
    res = check({"HOOKSPOOL_SPOOL": os.path.join(www, "spool"), "HOOKSPOOL_SECRET_FILE": www_secret})
    one_line("spool inside the web root", res, "HOOKSPOOL_SPOOL", ["web root"])
    one_line("secret file inside the web root", res, "HOOKSPOOL_SECRET_FILE", ["web root"])
    rc, lines, err = check({"HOOKSPOOL_SPOOL": good_spool, "HOOKSPOOL_SECRET_FILE": secret},
                           as_www=True)
    T.check(rc == 0 and len(lines) == 1 and "OK" in lines[0],
            "check: a good configuration, as www-data: exit 0, one line", (rc, lines, err))
    T.check(not os.path.exists(good_spool), "check creates nothing")


# ---------------------------------------------------------------- Apache

def apache_layout(T, tmp, static_fcgi, prefix):
    """A shared host's home (program, secrets, spools outside
    public_html; endpoint directories with the shipped .htaccess), a
    mod_cgi fallback (dynamic and static), and a VPS vhost."""
    lay = {}
    home = tmp.mkdir("home", mode=0o755)
    hsd = tmp.mkdir("home", "hookspool", mode=0o750)
    public = tmp.mkdir("home", "public_html", mode=0o755)
    tmp.mkdir("home", "public_html", "hooks", mode=0o755)
    lay.update(home=home, hsd=hsd, public=public)
    lay["program"], lay["program_real"] = install_program(os.path.join(hsd, "hookspool.fcgi"))
    sec = {}
    for name, value in (("caliza", hs.DEMO_SECRET), ("github", GH_SECRET), ("bearer", BEARER)):
        sec[name] = tmp.write("home/hookspool/%s.secret" % name, value + "\n", mode=0o600)
        hs.remember_secret(value)
    hs.remember_secret(TOKEN)
    lay["secrets"] = sec

    shipped = deploy_text("apache", ".htaccess")
    live = [l.strip() for l in shipped.splitlines() if l.strip() and not l.strip().startswith("#")]
    T.check("CGIPassAuth On" in live, "shipped .htaccess: CGIPassAuth On")
    T.check(any(l.startswith("<Files") and "hookspool.conf" in l for l in live) and
            "Require all denied" in live, "shipped .htaccess: <Files hookspool.conf> denied")
    T.check(any(l.startswith("SetEnv HOOKSPOOL_SECRET_FILE ") for l in live) and
            not any(re.match(r"SetEnv HOOKSPOOL_SECRET(_OLD)? ", l) for l in live),
            "shipped .htaccess: the secret in a secret file, not in the file")
    T.check("FcgidMaxRequestLen" in shipped, "shipped .htaccess: says FcgidMaxRequestLen")
    shipped = substitute(shipped, [("/home/USER", home)])

    def endpoint_dir(name, settings, drop=()):
        d = tmp.mkdir("home", "public_html", "hooks", name)
        # The directory's URL path, as its .htaccess comment says to set it.
        settings = dict(settings, HOOKSPOOL_BASE_PATH="/hooks/" + name)
        text = set_setenv(shipped, settings, "deploy/apache/.htaccess")
        for line in drop:
            if line not in text:
                raise RuntimeError("deploy/apache/.htaccess has no line %r" % line)
            text = text.replace(line, "# (removed by the test) " + line)
        tmp.write("home/public_html/hooks/%s/.htaccess" % name, text)
        return d

    def spool(name):
        return os.path.join(hsd, "spool-" + name)

    eps = {}
    eps["caliza"] = dict(tag="apache fcgid caliza", path="/hooks/caliza", spool=spool("caliza"),
                         secret=hs.DEMO_SECRET, endpoint="caliza", max_body=SMALL_BODY,
                         token=TOKEN)
    endpoint_dir("caliza", {"HOOKSPOOL_SPOOL": spool("caliza"),
                            "HOOKSPOOL_MAX_BODY": SMALL_BODY, "HOOKSPOOL_STATUS_TOKEN": TOKEN})
    endpoint_dir("github", {"HOOKSPOOL_SCHEME": "github", "HOOKSPOOL_ENDPOINT": "github",
                            "HOOKSPOOL_SPOOL": spool("github"),
                            "HOOKSPOOL_SECRET_FILE": sec["github"],
                            "HOOKSPOOL_STATUS_TOKEN": TOKEN})
    bearer = {"HOOKSPOOL_SCHEME": "bearer", "HOOKSPOOL_ENDPOINT": "bearer",
              "HOOKSPOOL_SPOOL": spool("bearer"), "HOOKSPOOL_SECRET_FILE": sec["bearer"],
              "HOOKSPOOL_STATUS_TOKEN": TOKEN}
    endpoint_dir("bearer", bearer)
    endpoint_dir("noauth", dict(bearer, HOOKSPOOL_ENDPOINT="noauth",
                                HOOKSPOOL_SPOOL=spool("noauth")), drop=("CGIPassAuth On",))
    lay["exposed_spool"] = os.path.join(public, "exposed-spool")
    endpoint_dir("exposed", {"HOOKSPOOL_ENDPOINT": "exposed",
                             "HOOKSPOOL_SPOOL": lay["exposed_spool"]})
    endpoint_dir("big", {"HOOKSPOOL_ENDPOINT": "big", "HOOKSPOOL_SPOOL": spool("big"),
                         "HOOKSPOOL_STATUS_TOKEN": TOKEN})
    endpoint_dir("limited", {"HOOKSPOOL_ENDPOINT": "limited",
                             "HOOKSPOOL_SPOOL": spool("limited")})
    with open(os.path.join(public, "hooks", "limited", ".htaccess"), "a") as f:
        f.write("# added by the test: what the README says not to do\n"
                "LimitRequestBody %d\n" % FCGID_DEFAULT_MAX)
    lay["spool"] = spool

    # mod_cgi fallback: the program, hookspool.conf and cgi/.htaccess in
    # one directory; no SetEnv anywhere.
    cgi_ht = deploy_text("apache", "cgi", ".htaccess")
    T.check(not any(l.strip().startswith("SetEnv") for l in cgi_ht.splitlines()),
            "shipped cgi/.htaccess: no SetEnv (suexec strips it)")
    cgi_conf = substitute(deploy_text("apache", "cgi", "hookspool.conf"), [("/home/USER", home)])
    for name, src in (("cgi", None), ("cgi-static", static_fcgi)):
        if name == "cgi-static" and static_fcgi is None:
            continue
        d = tmp.mkdir("home", "public_html", name)
        tmp.write("home/public_html/%s/.htaccess" % name, cgi_ht)
        prog, real = install_program(os.path.join(d, "hookspool.fcgi"), src)
        conf = set_conf(cgi_conf, {"HOOKSPOOL_ENDPOINT": name, "HOOKSPOOL_SPOOL": spool(name),
                                   "HOOKSPOOL_MAX_BODY": SMALL_BODY,
                                   "HOOKSPOOL_STATUS_TOKEN": TOKEN},
                        "deploy/apache/cgi/hookspool.conf")
        tmp.write("home/public_html/%s/hookspool.conf" % name, conf, mode=0o640)
        lay[name + "_real"] = real
        eps[name] = dict(tag="apache mod_cgi %s" % ("static build" if src else "hookspool.conf"),
                         path="/%s/" % name, spool=spool(name), secret=hs.DEMO_SECRET,
                         endpoint=name, max_body=SMALL_BODY, token=TOKEN)

    # mod_cgi with the shipped hookspool.conf as it is (HOOKSPOOL_MAX_BODY's
    # default), for the body caps
    d = tmp.mkdir("home", "public_html", "cgi-cap")
    tmp.write("home/public_html/cgi-cap/.htaccess", cgi_ht)
    install_program(os.path.join(d, "hookspool.fcgi"))
    tmp.write("home/public_html/cgi-cap/hookspool.conf",
              set_conf(cgi_conf, {"HOOKSPOOL_ENDPOINT": "cgi-cap",
                                  "HOOKSPOOL_SPOOL": spool("cgi-cap")},
                       "deploy/apache/cgi/hookspool.conf"), mode=0o640)

    lay["eps"] = eps
    lay["vhost_block"] = ""
    if prefix is None:
        return lay
    # The VPS vhost, with the program `make install` put in PREFIX.
    vhost = deploy_text("apache", "vhost.conf")
    m = re.search(r"^[ \t]*# ---- hookspool: begin ----\n(.*)^[ \t]*# ---- hookspool: end ----",
                  vhost, re.M | re.S)
    if m is None:
        raise RuntimeError("deploy/apache/vhost.conf: no hookspool begin/end lines")
    vps_var = tmp.mkdir("vps-apache", "var")
    vps_etc = tmp.mkdir("vps-apache", "etc", mode=0o750)
    for name, value in (("caliza", hs.DEMO_SECRET), ("github", GH_SECRET)):
        tmp.write("vps-apache/etc/%s.secret" % name, value + "\n", mode=0o600)
    block = substitute(m.group(1), [("/usr/local/libexec/hookspool",
                                     os.path.join(prefix, "libexec", "hookspool")),
                                    ("/var/lib/hookspool", vps_var), ("/etc/hookspool", vps_etc)])
    block = set_setenv(block, {"HOOKSPOOL_STATUS_TOKEN": TOKEN}, "deploy/apache/vhost.conf")
    lay["vhost_block"] = block
    lay["vps_www"] = tmp.mkdir("vps-apache", "www")
    lay["vps_program"] = os.path.join(prefix, "libexec", "hookspool", "hookspool.fcgi")
    eps["vhost"] = dict(tag="apache vhost.conf (VPS)", path="/hooks/caliza",
                        spool=os.path.join(vps_var, "caliza"), secret=hs.DEMO_SECRET,
                        endpoint="caliza", max_body=1048576, token=TOKEN)
    lay["vps_var"] = vps_var
    return lay


def apache_conf(lay):
    def conf(srv):
        return """
DocumentRoot %(public)s
<Directory %(public)s>
    AllowOverride All
    Require all granted
</Directory>
# one FastCGI process per program: it serves every directory
FcgidMaxProcessesPerClass 1

%(vhost)s

# The same public_html on a host that raised FcgidMaxRequestLen (for its
# customers' uploads): there only the .htaccess caps the body.
Listen 127.0.0.1:%(raised)d
<VirtualHost 127.0.0.1:%(raised)d>
    ServerName raised.localhost
    DocumentRoot %(public)s
    FcgidMaxRequestLen 1073741824
</VirtualHost>
""" % {"public": lay["public"], "vhost": vhost(srv), "raised": srv.ports[-1]}

    def vhost(srv):
        if not lay["vhost_block"]:
            return ""
        return """Listen 127.0.0.1:%(port2)d
<VirtualHost 127.0.0.1:%(port2)d>
    ServerName vps.localhost
    DocumentRoot %(www)s
%(block)s
</VirtualHost>""" % {"port2": srv.ports[1], "www": lay["vps_www"], "block": lay["vhost_block"]}
    return conf


def section_apache(T, tmp, static_fcgi, prefix, all_servers):
    T.section("Apache 2.4: shared hosting (.htaccess, mod_fcgid, mod_cgi) and a VPS vhost")
    lay = apache_layout(T, tmp, static_fcgi, prefix)
    eps = lay["eps"]
    srv = servers.Apache(tmp, apache_conf(lay), name="shared",
                         nports=3 if lay["vhost_block"] else 2,
                         tempdir=server_tmpfs(T, tmp, "apache"))
    T.on_cleanup("apache", srv.stop)
    srv.start()
    all_servers.append(srv)
    vps = None
    if lay["vhost_block"]:
        vps = servers.PortView(srv, srv.ports[1], "apache-vps")
        all_servers.append(vps)
    prog = lay["program_real"]

    # --- mod_fcgid: one process, several directories
    suite(T, srv, eps["caliza"])
    pids_caliza = srv.program_pids(prog)
    T.check(len(pids_caliza) == 1, "mod_fcgid: one FastCGI process after the caliza suite",
            pids_caliza)
    T.section("apache fcgid: the github directory, the same process")
    st, h, b, rid = post_one(T, srv, "github directory: signed POST", "/hooks/github", GH_SECRET,
                             scheme="github", headers={"X-GitHub-Event": "push",
                                                       "X-GitHub-Delivery": "d-" + hs.unique_hex()})
    objs, bad = spool_objs(lay["spool"]("github"))
    T.check(len(objs) == 1 and not bad and objs[0].get("endpoint") == "github" and
            (objs[0].get("event") or {}).get("resourceId") == rid and
            {k.lower(): v for k, v in (objs[0].get("headers") or {}).items()}.get(
                "x-github-event") == "push",
            "github directory: its line, endpoint github, X-GitHub-Event kept", objs)
    st, h, b = srv.get("/hooks/github", {"Authorization": "Bearer " + TOKEN})
    j = hs.one_line_json(b) or {}
    T.check(st == 200 and j.get("endpoint") == "github" and j.get("scheme") == "github" and
            (j.get("counters") or {}).get("accepted") == 1,
            "github directory: GET status: endpoint github, scheme github, accepted 1", b[:300])
    st, h, b = srv.get("/hooks/caliza", {"Authorization": "Bearer " + TOKEN})
    j = hs.one_line_json(b) or {}
    T.check(st == 200 and j.get("endpoint") == "caliza" and j.get("scheme") == "caliza",
            "caliza directory: still its own settings", b[:300])
    json_answer(T, "github directory: a caliza signature", srv.post(
        hs.caliza_example("TRANSACTION_COMPLETED.json"),
        hs.sign(hs.caliza_example("TRANSACTION_COMPLETED.json")), path="/hooks/github"), 401,
        {"ok": False, "error": "missing_signature"})
    pids_github = srv.program_pids(prog)
    T.check(len(pids_github) == 1 and pids_github == pids_caliza,
            "FcgidMaxProcessesPerClass 1: the same PID answered both directories",
            (pids_caliza, pids_github))
    if len(pids_github) == 1:
        maps = servers.proc_maps_paths(pids_github[0])
        want = {os.path.join(lay["spool"](n), "counters") for n in ("caliza", "github")}
        T.check(want <= maps, "that one process has both spools' counters mapped "
                "(/proc/PID/maps)", sorted(m for m in maps if "spool" in m))
    st, h, b = srv.post(b"{}", {}, path="/hooks/github/")
    T.check(st == 401, "the directory URL with a trailing slash is the endpoint too", (st, b))

    # --- CGIPassAuth: bearer scheme and status token
    T.section("apache fcgid: CGIPassAuth, the bearer scheme and the status token")
    st, h, b, rid = post_one(T, srv, "bearer, CGIPassAuth On: POST with the right token",
                             "/hooks/bearer", BEARER, scheme="bearer")
    objs, _ = spool_objs(lay["spool"]("bearer"))
    T.check([o.get("endpoint") for o in objs] == ["bearer"], "bearer: its line", objs)
    json_answer(T, "bearer, CGIPassAuth On: GET status with the token",
                srv.get("/hooks/bearer", {"Authorization": "Bearer " + TOKEN}), 200)
    json_answer(T, "bearer, CGIPassAuth On: GET status without it",
                srv.get("/hooks/bearer"), 401, {"ok": False, "error": "unauthorized"})
    body, _ = hs.caliza_event()
    json_answer(T, "no CGIPassAuth: the right bearer token does not arrive",
                srv.post(body, hs.sign(body, scheme="bearer", secret=BEARER), path="/hooks/noauth"),
                401, {"ok": False, "error": "missing_signature"})
    json_answer(T, "no CGIPassAuth: the status token does not arrive",
                srv.get("/hooks/noauth", {"Authorization": "Bearer " + TOKEN}), 401,
                {"ok": False, "error": "unauthorized"})
    T.check(not hs.spool_lines(lay["spool"]("noauth")), "no CGIPassAuth: nothing appended")
    pids = srv.program_pids(prog)
    T.check(pids == pids_caliza, "still the same one FastCGI process for four directories",
            (pids_caliza, pids))

    # --- FcgidMaxRequestLen
    T.section("apache fcgid: FcgidMaxRequestLen (default %d), which .htaccess cannot raise"
              % FCGID_DEFAULT_MAX)
    off = srv.log_size()
    st, h, b, rid = post_one(T, srv, "a signed body of 100000 bytes (under both limits)",
                             "/hooks/big", hs.DEMO_SECRET, pad_to=100000)
    st, h, b, rid = post_one(T, srv, "a signed body of 140000 bytes: mod_fcgid's own 500",
                             "/hooks/big", hs.DEMO_SECRET, want=500, pad_to=140000)
    T.check(hs.one_line_json(b) is None and not h.get("content-type", "").startswith(
        "application/json"), "that 500 is Apache's page, not hookspool's answer", (h, b[:200]))
    text = srv.wait_log(off, r"exceeds MaxRequestLen")
    T.check(re.search(r"mod_fcgid: HTTP request length \d+ \(so far\) exceeds MaxRequestLen "
                      r"\(%d\)" % FCGID_DEFAULT_MAX, text) is not None,
            "mod_fcgid logs: request length exceeds MaxRequestLen (%d)" % FCGID_DEFAULT_MAX,
            text[-600:])
    objs, _ = spool_objs(lay["spool"]("big"))
    T.check(len(objs) == 1 and rid not in json.dumps([o.get("event") for o in objs]),
            "only the 100000-byte event is in the spool", len(objs))
    st, h, b = srv.get("/hooks/big", {"Authorization": "Bearer " + TOKEN})
    c = (hs.one_line_json(b) or {}).get("counters") or {}
    T.check(c.get("accepted") == 1 and (c.get("rejected") or {}).get("too_large") == 0,
            "hookspool never saw the 140000-byte request (too_large 0)", b[:300])

    st, h, b, rid = post_one(T, srv, "LimitRequestBody in .htaccess, a signed body of 140000 "
                             "bytes: the program gets it cut off", "/hooks/limited",
                             hs.DEMO_SECRET, want=401, pad_to=140000)
    T.check(hs.one_line_json(b) == {"ok": False, "error": "bad_signature"},
            "... and answers bad_signature, not too_large (as deploy/apache/README.md says)",
            b[:200])
    T.check(not hs.spool_lines(lay["spool"]("limited")), "... and appends nothing")

    # --- DOCUMENT_ROOT warning, once per process
    T.section("apache fcgid: a spool under DOCUMENT_ROOT")
    # The warning goes through the log's rate limit (10 lines a second per
    # process) like the rejections above: start in a second of its own.
    sec = int(time.time())
    while int(time.time()) == sec:
        time.sleep(0.02)
    off = srv.log_size()
    rids = []
    for i in range(3):
        rids.append(post_one(T, srv, "exposed spool: POST %d" % (i + 1), "/hooks/exposed",
                             hs.DEMO_SECRET)[3])
    st, h, b = srv.get("/hooks/exposed")
    T.check(st in (200, 503) and list(hs.one_line_json(b) or {}) == ["status", "reasons"],
            "no HOOKSPOOL_STATUS_TOKEN: GET shows only status and reasons", (st, b[:300]))
    srv.wait_log(off, r"DOCUMENT_ROOT")
    warn = [l for l in srv.log_since(off).splitlines() if "DOCUMENT_ROOT" in l]
    T.check(len(warn) == 1 and "HOOKSPOOL_SPOOL" in warn[0] and lay["exposed_spool"] in warn[0]
            and lay["public"] in warn[0],
            "hookspool.fcgi logs the DOCUMENT_ROOT warning once, naming the spool",
            "%d lines for 3 POSTs and a GET, all to one process: %s" % (len(warn), warn[:1]))
    segs = hs.spool_files(lay["exposed_spool"], "active")
    if T.check(len(segs) == 1, "exposed spool: one active segment", segs):
        url = "/exposed-spool/active/" + os.path.basename(segs[0])
        st, h, b = srv.get(url)
        T.check(st == 200 and rids[0].encode() in b,
                "the warning is right: the web server hands the events to anyone", (st, b[:100]))

    # --- mod_cgi with hookspool.conf beside the program, dynamic and static
    for name in ("cgi", "cgi-static"):
        if name not in eps:
            T.check(False, "apache mod_cgi: the static build (make static failed)")
            continue
        suite(T, srv, eps[name])
        T.check(not srv.program_pids(lay[name + "_real"]),
                "%s: no process of it is left running (plain CGI)" % name)
        st, h, b = srv.get("/%s/hookspool.conf" % name)
        T.check(st == 403 and b"HOOKSPOOL" not in b, "%s: hookspool.conf is not served (403)"
                % name, (st, b[:200]))
    text = srv.log()
    T.check(any("AH01215" in l and "hookspool: endpoint=cgi status=" in l
                for l in text.splitlines()),
            "mod_cgi: the CGI's stderr lands in the ErrorLog", text[-400:])

    # --- body caps: .htaccess (mod_fcgid), on this host and on one that
    # raised FcgidMaxRequestLen; cgi/.htaccess (mod_cgi)
    T.section("apache: body caps (.htaccess LimitRequestBody, cgi/.htaccess)")
    raised = servers.PortView(srv, srv.ports[-1], "apache-raised")
    raised.tempdir = srv.tempdir
    all_servers.append(raised)
    gh = dict(secret=GH_SECRET, scheme="github", max_body=FCGID_DEFAULT_MAX,
              headers={"X-GitHub-Delivery": "d-" + hs.unique_hex()})
    ht_cap = FCGID_DEFAULT_MAX + CAP_MARGIN
    # mod_fcgid 2.3.9 passes a request whose Content-Length is over
    # LimitRequestBody on with no body (hookspool: 401), and refuses a
    # chunked body past FcgidMaxRequestLen with its own 500.
    body_caps(T, srv, "apache .htaccess", "/hooks/github", ht_cap, server_pids(srv),
              lay["spool"]("github"), {False: 401, True: 500})
    body_caps(T, raised, "apache .htaccess, FcgidMaxRequestLen raised", "/hooks/github", ht_cap,
              server_pids(srv), lay["spool"]("github"), {False: 401, True: 413}, under=gh)
    body_caps(T, srv, "apache cgi/.htaccess", "/cgi-cap/", DEFAULT_MAX + CAP_MARGIN,
              server_pids(srv), lay["spool"]("cgi-cap"), {False: 413, True: 413},
              under=dict(secret=hs.DEMO_SECRET, max_body=DEFAULT_MAX))

    # --- the VPS vhost
    T.section("apache vhost.conf: FcgidMaxRequestLen raised, the program of make install")
    if "vhost" not in eps:
        T.check(False, "apache vhost.conf (make install failed)")
        srv.stop()
        return
    suite(T, vps, eps["vhost"])
    st, h, b, rid = post_one(T, vps, "vhost: a signed body of 200000 bytes", "/hooks/caliza",
                             hs.DEMO_SECRET, pad_to=200000)
    st, h, b, rid = post_one(T, vps, "vhost: github", "/hooks/github", GH_SECRET, scheme="github",
                             headers={"X-GitHub-Delivery": "d-" + hs.unique_hex()})
    objs, _ = spool_objs(os.path.join(lay["vps_var"], "github"))
    T.check([o.get("endpoint") for o in objs] == ["github"], "vhost: github's line", objs)
    T.check(bool(srv.program_pids(lay["vps_program"])),
            "vhost: served by the installed PREFIX/libexec/hookspool/hookspool.fcgi")
    vps.tempdir = srv.tempdir
    body_caps(T, vps, "apache vhost.conf", "/hooks/caliza", DEFAULT_MAX + CAP_MARGIN,
              server_pids(srv), os.path.join(lay["vps_var"], "caliza"), {False: 401, True: 413},
              under=dict(secret=hs.DEMO_SECRET, max_body=DEFAULT_MAX))

    srv.stop()
    T.check(not srv.leftover, "apache: no process left after it stopped", srv.leftover)


# ---------------------------------------------------------------- lighttpd

def section_lighttpd(T, tmp, static_fcgi, all_servers):
    for name, snippet, mode, binary in (
            ("fcgi", "50-hookspool.conf", "fcgi", hs.FCGI_RUN),
            ("cgi", "50-hookspool-cgi.conf", "cgi", hs.FCGI_RUN),
            ("static", "50-hookspool.conf", "fcgi", static_fcgi)):
        tag = "lighttpd %s (deploy/lighttpd/%s)" % (name, snippet)
        if binary is None:
            T.check(False, "%s: the static build (make static failed)" % tag)
            continue
        T.section(tag)
        base = "lt-" + name
        tmp.mkdir(base)
        run = tmp.mkdir(base, "run")
        var = tmp.mkdir(base, "var")
        etc = tmp.mkdir(base, "etc", mode=0o750)
        tmp.write(base + "/etc/caliza.secret", hs.DEMO_SECRET + "\n", mode=0o600)
        tmp.write(base + "/etc/github.secret", GH_SECRET + "\n", mode=0o600)
        text = substitute(deploy_text("lighttpd", snippet), [
            ("/usr/local/libexec/hookspool/hookspool.fcgi", binary),
            ("/run/lighttpd", run), ("/var/lib/hookspool", var), ("/etc/hookspool", etc)])
        # caliza's small limit in its own block: github keeps the shipped
        # default, for the body caps below
        text = set_lighttpd_url(text, "/hooks/caliza", {"HOOKSPOOL_MAX_BODY": SMALL_BODY,
                                                        "HOOKSPOOL_STATUS_TOKEN": TOKEN},
                                "deploy/lighttpd/" + snippet)
        srv = servers.Lighttpd(tmp, text, mode=mode, binary=binary, name=base,
                               tempdir=server_tmpfs(T, tmp, base))
        T.on_cleanup("lighttpd " + name, srv.stop)
        srv.start()
        all_servers.append(srv)
        suite(T, srv, dict(tag=tag, path="/hooks/caliza", spool=os.path.join(var, "caliza"),
                           secret=hs.DEMO_SECRET, endpoint="caliza", max_body=SMALL_BODY,
                           token=TOKEN))
        post_one(T, srv, "%s: github endpoint" % tag, "/hooks/github", GH_SECRET, scheme="github",
                 headers={"X-GitHub-Delivery": "d-" + hs.unique_hex()})
        objs, _ = spool_objs(os.path.join(var, "github"))
        T.check([o.get("endpoint") for o in objs] == ["github"], "%s: github's line" % tag, objs)
        body_caps(T, srv, tag, "/hooks/github", DEFAULT_MAX + CAP_MARGIN, server_pids(srv),
                  os.path.join(var, "github"), {False: 413, True: 413},
                  under=dict(secret=GH_SECRET, scheme="github", max_body=DEFAULT_MAX,
                             headers={"X-GitHub-Delivery": "d-" + hs.unique_hex()}))
        if mode == "fcgi":
            real = hs.FCGI if binary == hs.FCGI_RUN else binary
            pids = [p for p in srv.children() if servers.runs_program(p, real)]
            T.check(len(pids) == 2, "%s: max-procs 2 FastCGI processes serve both endpoints"
                    % tag, pids)
        srv.stop()
        T.check(not srv.leftover, "%s: no process left after it stopped" % tag, srv.leftover)


# ---------------------------------------------------------------- nginx

def section_nginx(T, tmp, all_servers):
    T.section("nginx + spawn-fcgi (deploy/nginx)")
    unit_path = os.path.join(DEPLOY, "nginx", "hookspool-fcgi.service")
    svc = servers.unit_service(unit_path)
    analyze = shutil.which("systemd-analyze")
    if analyze:
        r = subprocess.run([analyze, "verify", unit_path], capture_output=True, text=True,
                           timeout=60)
        T.check(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
                "systemd-analyze verify hookspool-fcgi.service: no complaint",
                r.stdout + r.stderr)
    else:
        T.note("systemd-analyze not installed: the unit's syntax is not verified")
    execs = svc.get("ExecStart", [])
    T.check(len(execs) == 1, "the unit has one ExecStart", execs)
    base = "vps-nginx"
    tmp.mkdir(base)
    run = tmp.mkdir(base, "run", own=False)       # RuntimeDirectory: root's, 0755
    sock = os.path.join(run, "fcgi.sock")
    var = tmp.mkdir(base, "var")
    etc = tmp.mkdir(base, "etc", mode=0o750)
    tmp.write(base + "/etc/caliza.secret", hs.DEMO_SECRET + "\n", mode=0o600)
    tmp.write(base + "/etc/github.secret", GH_SECRET + "\n", mode=0o600)
    argv = shlex.split(substitute(execs[0], [
        ("/run/hookspool/fcgi.sock", sock),
        ("/usr/local/libexec/hookspool/hookspool.fcgi", hs.FCGI_RUN)]))
    T.check(os.path.basename(argv[0]) == "spawn-fcgi" and "-n" in argv and
            argv[argv.index("-s") + 1] == sock and argv[argv.index("-u") + 1] == WWW and
            argv[argv.index("-M") + 1] == "0660",
            "ExecStart: spawn-fcgi -n -s SOCK -M 0660 -u www-data", argv)
    procs = 1
    if "-f" in argv and "multiwatch" in os.path.basename(argv[argv.index("-f") - 1]):
        procs = int(argv[argv.index("-f") + 1])
    T.check(procs == 2, "ExecStart: two FastCGI processes (multiwatch -f 2: spawn-fcgi -n "
            "ignores -F)", argv)
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
    env.update(servers.unit_environment(svc))
    locs = substitute(deploy_text("nginx", "hookspool.conf"), [
        ("/run/hookspool/fcgi.sock", sock), ("/var/lib/hookspool", var), ("/etc/hookspool", etc)])
    for need in ("include fastcgi_params;", "fastcgi_pass_request_headers on;",
                 "client_max_body_size", "fastcgi_pass unix:%s;" % sock):
        T.check(need in locs, "deploy/nginx/hookspool.conf: %s" % need)
    locs = set_nginx(locs, {"HOOKSPOOL_STATUS_TOKEN": TOKEN}, "deploy/nginx/hookspool.conf")
    srv = servers.Nginx(tmp, locs, argv, env, sock, program=hs.FCGI, procs=procs, name="vps",
                        tempdir=server_tmpfs(T, tmp, "nginx"))
    T.on_cleanup("nginx", srv.stop)
    srv.start()
    all_servers.append(srv)
    st = os.stat(sock)
    T.check(stat.S_ISSOCK(st.st_mode) and (st.st_mode & 0o777) == 0o660 and
            st.st_uid == hs.pwd.getpwnam(WWW).pw_uid,
            "the socket: mode 0660, owned by www-data", (oct(st.st_mode), st.st_uid))
    pids = srv.spawn_pids()
    T.check(len(pids) == 2 and all(servers.proc_user(p) == hs.pwd.getpwnam(WWW).pw_uid
                                   for p in pids),
            "two hookspool.fcgi processes, as www-data", pids)
    suite(T, srv, dict(tag="nginx", path="/hooks/caliza", spool=os.path.join(var, "caliza"),
                       secret=hs.DEMO_SECRET, endpoint="caliza", max_body=1048576, token=TOKEN))
    post_one(T, srv, "nginx: github endpoint", "/hooks/github", GH_SECRET, scheme="github",
             headers={"X-GitHub-Delivery": "d-" + hs.unique_hex()})
    objs, _ = spool_objs(os.path.join(var, "github"))
    T.check([o.get("endpoint") for o in objs] == ["github"], "nginx: github's line", objs)
    body_caps(T, srv, "nginx", "/hooks/caliza", DEFAULT_MAX + CAP_MARGIN, server_pids(srv),
              os.path.join(var, "caliza"), {False: 413, True: 413},
              under=dict(secret=hs.DEMO_SECRET, max_body=DEFAULT_MAX))
    T.check(srv.spawn_pids() == pids, "nginx: the same two processes served everything",
            (pids, srv.spawn_pids()))
    srv.stop()
    T.check(not srv.leftover, "nginx, spawn-fcgi: no process left after they stopped",
            srv.leftover)
    T.check(not srv.spawn_forced, "SIGTERM to the unit's main process (multiwatch) stops the "
            "FastCGI processes (no SIGKILL needed)")


# ---------------------------------------------------------------- main

NEEDED = (  # (what must exist, Debian package)
    ("/usr/sbin/apache2", "apache2"),
    (os.path.join(servers.APACHE_MODULES, "mod_fcgid.so"), "libapache2-mod-fcgid"),
    ("/usr/sbin/nginx", "nginx"),
    ("/usr/bin/spawn-fcgi", "spawn-fcgi"),
    ("/usr/bin/multiwatch", "multiwatch"),
    ("/usr/sbin/runuser", "util-linux"),
)


def main(T):
    for name in (hs.FCGI, hs.CLI):
        if not os.access(name, os.X_OK):
            raise RuntimeError("%s not built (run make)" % name)
    if os.geteuid() != 0:
        raise RuntimeError("test_hosts starts Apache, nginx and lighttpd as root (workers as "
                           "www-data): run it as root")
    missing = sorted({pkg for path, pkg in NEEDED if not os.path.exists(path)})
    if missing:
        raise RuntimeError("missing packages: apt-get install --no-install-recommends %s"
                           % " ".join(missing))
    tmp = T.tempdir(owner=WWW)
    builds = Builds(T, tmp)
    all_servers = []
    section_nginx(T, tmp, all_servers)
    static_fcgi = section_static(T, builds)
    prefix = section_install(T, tmp, builds)
    if prefix is not None:
        section_check(T, tmp, prefix)
    section_apache(T, tmp, static_fcgi, prefix, all_servers)
    section_lighttpd(T, tmp, static_fcgi, all_servers)
    hs.check_no_leaks(T, all_servers, [tmp.path])


if __name__ == "__main__":
    hs.Suite("test_hosts").run(main)
