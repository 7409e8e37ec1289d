"""
test_config.py - SPEC section 2 through a real lighttpd with FastCGI:
where settings come from (request parameters over process environment
over a configuration file, hookspool.conf beside the program), what a
configuration error looks like, secret files and rotation, the umask,
the Base64 hint in the log, small numbers that must be accepted, and the
command-line tool reading settings as the library does.
"""
import os
import re
import json
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402

S1 = "first-secret-from-the-file-1a2b3c"
S2 = "second-secret-from-the-file-4d5e6f"
S3 = "third-secret-after-rotation-7a8b9c"
OLD = "the-old-secret-still-accepted-0f0e"
NEW = "the-new-secret-0d0c0b0a09080706"


# The status token of every endpoint whose status names its endpoint:
# without one, GET shows only "status" and "reasons" (SPEC 5).
STATUS_TOKEN = "st-config-" + hs.unique_hex()


def post_event(srv, path, secret=hs.DEMO_SECRET, **kw):
    body, _ = hs.caliza_event()
    st, h, b = srv.post(body, hs.sign(body, secret=secret, **kw), path=path)
    return st, h, b, (hs.one_line_json(b) or {})


def line_of(spool, eid):
    for _, raw in hs.spool_lines(spool):
        o, bad = hs.parse_lines([("x", raw)])
        if o and o[0].get("id") == eid:
            return o[0]
    return None


def endpoint_seen(T, srv, path, spool, want, what):
    st, h, b, j = post_event(srv, path)
    if T.check(st == 200, "%s: POST accepted" % what, (st, b)):
        o = line_of(spool, j.get("id"))
        T.check(o is not None and o.get("endpoint") == want,
                "%s: the line's endpoint is %s" % (what, want), o and o.get("endpoint"))
    st, h, b = srv.get(path, {"Authorization": "Bearer " + STATUS_TOKEN})
    j = hs.one_line_json(b) or {}
    T.check(st == 200 and j.get("endpoint") == want,
            "%s: the status's endpoint is %s" % (what, want), (st, b))


def section_precedence(T):
    T.section("request parameter > process environment > HOOKSPOOL_CONFIG file")
    tmp = T.tempdir()
    spool = tmp.join("spool")
    cdir = tmp.mkdir("conf", mode=0o700)
    conf = tmp.write("conf/settings.conf",
                     "# hookspool settings\n"
                     "HOOKSPOOL_SPOOL=%s\n"
                     "HOOKSPOOL_SECRET=%s\n"
                     "  HOOKSPOOL_ENDPOINT = from-file\n"
                     "HOOKSPOOL_STATUS_TOKEN=%s\n" % (spool, hs.DEMO_SECRET, STATUS_TOKEN),
                     mode=0o600)
    conf2 = tmp.write("conf/other.conf",
                      "HOOKSPOOL_SPOOL=%s\nHOOKSPOOL_SECRET=\"%s\"\nHOOKSPOOL_ENDPOINT='from-file2'\n"
                      "HOOKSPOOL_STATUS_TOKEN=%s\n" % (spool, hs.DEMO_SECRET, STATUS_TOKEN),
                      mode=0o600)
    srv = T.server(tmp, name="prec", max_procs=1, routes=[
        {"url": "/p-param", "env": {"HOOKSPOOL_CONFIG": conf, "HOOKSPOOL_ENDPOINT": "from-env"},
         "setenv": {"HOOKSPOOL_ENDPOINT": "from-param"}},
        {"url": "/p-env", "env": {"HOOKSPOOL_CONFIG": conf, "HOOKSPOOL_ENDPOINT": "from-env"}},
        {"url": "/p-file", "env": {"HOOKSPOOL_CONFIG": conf}},
        {"url": "/p-cfgparam", "env": {"HOOKSPOOL_CONFIG": conf},
         "setenv": {"HOOKSPOOL_CONFIG": conf2}},
    ])
    endpoint_seen(T, srv, "/p-param", spool, "from-param", "setenv over bin-environment")
    endpoint_seen(T, srv, "/p-env", spool, "from-env", "bin-environment over the file")
    endpoint_seen(T, srv, "/p-file", spool, "from-file", "the file when neither sets it")
    endpoint_seen(T, srv, "/p-cfgparam", spool, "from-file2",
                  "HOOKSPOOL_CONFIG as a request parameter")
    hs.check_no_leaks(T, [srv], [tmp.path])


def section_beside(T, mode):
    T.section("%s: hookspool.conf beside the program" % mode)
    tmp = T.tempdir()
    bindir = tmp.mkdir("bin", mode=0o755)
    prog = os.path.join(bindir, "hookspool.fcgi")
    shutil.copy2(hs.FCGI, prog)
    os.chmod(prog, 0o755)
    spool = tmp.join("spool")
    tmp.write("bin/hookspool.conf", "HOOKSPOOL_SPOOL=%s\nHOOKSPOOL_SECRET=%s\n"
              "HOOKSPOOL_ENDPOINT=beside\nHOOKSPOOL_STATUS_TOKEN=%s\n"
              % (spool, hs.DEMO_SECRET, STATUS_TOKEN), mode=0o600)
    other = tmp.write("other.conf", "HOOKSPOOL_SPOOL=%s\nHOOKSPOOL_SECRET=%s\n"
                      "HOOKSPOOL_ENDPOINT=named\nHOOKSPOOL_STATUS_TOKEN=%s\n"
                      % (spool, hs.DEMO_SECRET, STATUS_TOKEN), mode=0o600)
    srv = T.server(tmp, mode=mode, name="beside", binary=prog, max_procs=1, routes=[
        {"url": "/b-plain", "env": {}},
        {"url": "/b-named", "env": {"HOOKSPOOL_CONFIG": other}},
    ])
    endpoint_seen(T, srv, "/b-plain", spool, "beside",
                  "%s: hookspool.conf beside the program, no HOOKSPOOL_CONFIG" % mode)
    endpoint_seen(T, srv, "/b-named", spool, "named",
                  "%s: HOOKSPOOL_CONFIG wins over hookspool.conf" % mode)
    T.check(not os.path.exists(os.path.join(hs.BUILD, "hookspool.conf")),
            "no hookspool.conf in build/")


def section_errors(T):
    T.section("configuration errors: 500 and a log line naming the setting")
    tmp = T.tempdir()
    spool = tmp.join("spool")
    badconf = tmp.write("bad.conf", "HOOKSPOOL_SPOOL=%s\nHOOKSPOOL_SECRTE=typo\n" % spool)
    base = {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET}
    cases = [
        # url, env (process), setenv (request), the setting the log must name
        ("/e-nosecret", {"HOOKSPOOL_SPOOL": spool}, {}, "HOOKSPOOL_SECRET"),
        ("/e-scheme", base, {"HOOKSPOOL_SCHEME": "caliza-v9"}, "HOOKSPOOL_SCHEME"),
        ("/e-tolerance", dict(base, HOOKSPOOL_TOLERANCE="abc"), {}, "HOOKSPOOL_TOLERANCE"),
        ("/e-umask", base, {"HOOKSPOOL_UMASK": "999"}, "HOOKSPOOL_UMASK"),
        ("/e-rotate", base, {"HOOKSPOOL_ROTATE_BYTES": "0"}, "HOOKSPOOL_ROTATE_BYTES"),
        ("/e-maxbody", base, {"HOOKSPOOL_MAX_BODY": "12k"}, "HOOKSPOOL_MAX_BODY"),
        ("/e-fsync", base, {"HOOKSPOOL_FSYNC": "sometimes"}, "HOOKSPOOL_FSYNC"),
        ("/e-nospool", {"HOOKSPOOL_SECRET": hs.DEMO_SECRET}, {}, "HOOKSPOOL_SPOOL"),
        ("/e-secretfile", {"HOOKSPOOL_SPOOL": spool,
                           "HOOKSPOOL_SECRET_FILE": tmp.join("no-such-secrets")}, {},
         "HOOKSPOOL_SECRET_FILE"),
        ("/e-conffile", {"HOOKSPOOL_CONFIG": badconf}, {}, "HOOKSPOOL_SECRTE"),
    ]
    routes = [{"url": u, "env": e, "setenv": s} for (u, e, s, _) in cases]
    srv = T.server(tmp, name="errors", max_procs=1, routes=routes)
    for url, env, setenv, name in cases:
        for method in ("POST", "GET"):
            off = srv.log_size()
            if method == "POST":
                st, h, b, j = post_event(srv, url)
            else:
                st, h, b = srv.get(url)
                j = hs.one_line_json(b) or {}
            T.check(st == 500 and j == {"ok": False, "error": "config_error"},
                    "%s %s: 500 config_error" % (method, url), (st, b))
            text = srv.wait_log(off, re.escape(name))
            lines = [l for l in text.splitlines() if "hookspool" in l]
            T.check(len(lines) == 1 and name in lines[0],
                    "%s %s: one log line naming %s" % (method, url, name), text)
            time.sleep(0.12)        # stay under 10 log lines a second
    hs.check_no_leaks(T, [srv], [tmp.path])


def parallel(fn, n):
    res = [None] * n

    def run(i):
        res[i] = fn()
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    return res


def section_secret_file(T):
    T.section("HOOKSPOOL_SECRET_FILE and HOOKSPOOL_SECRET_OLD")
    tmp = T.tempdir()
    spool = tmp.join("spool")
    sdir = tmp.mkdir("secrets", mode=0o700)
    sfile = os.path.join(sdir, "hookspool.secrets")
    with open(sfile, "w") as f:
        f.write("# current and next\n%s\n\n%s\n" % (S1, S2))
    os.chmod(sfile, 0o600)
    written = time.monotonic()
    for s in (S1, S2, S3):
        hs.remember_secret(s)
    srv = T.server(tmp, name="secrets", routes=[
        {"url": "/file", "env": {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET_FILE": sfile}},
        {"url": "/old", "env": {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": NEW,
                                "HOOKSPOOL_SECRET_OLD": OLD}},
    ])

    def statuses(secret, path="/file", n=4):
        return [r[0] for r in parallel(lambda: post_event(srv, path, secret=secret), n)]

    # The spool is created by one request first (creating it under
    # concurrency is test_concurrency's subject).
    st, h, b, j = post_event(srv, "/file", secret=S1)
    T.check(st == 200, "secret file: a first event creates the spool", (st, b))

    r1, r2, r3 = statuses(S1), statuses(S2), statuses(S3)
    T.check(r1 == [200] * 4, "secret file: the first secret accepted", r1)
    T.check(r2 == [200] * 4, "secret file: the second secret accepted", r2)
    T.check(r3 == [401] * 4, "secret file: a secret not in it refused", r3)
    st, h, b, j = post_event(srv, "/file", secret_file=sfile)
    T.check(st == 200, "hookspool sign with HOOKSPOOL_SECRET_FILE signs with its first secret",
            (st, b))
    pids = sorted(srv.backend_pids())

    # Rotate: rewrite the file in place once its mtime can differ.
    deadline = written + 1.2
    while time.monotonic() < deadline:
        time.sleep(0.05)
    with open(sfile, "w") as f:
        f.write("%s\n%s\n" % (S2, S3))
    time.sleep(1.2)                 # the file is checked at most once a second
    r3, r1, r2 = statuses(S3), statuses(S1), statuses(S2)
    T.check(r3 == [200] * 4, "after rewriting: the new secret accepted", r3)
    T.check(r1 == [401] * 4, "after rewriting: the removed secret refused", r1)
    T.check(r2 == [200] * 4, "after rewriting: the kept secret still accepted", r2)
    T.check(sorted(srv.backend_pids()) == pids and len(pids) == 4,
            "without restarting the FastCGI processes", (pids, srv.backend_pids()))

    ro, rn, rx = statuses(OLD, "/old", 2), statuses(NEW, "/old", 2), statuses(S1, "/old", 2)
    T.check(rn == [200, 200], "HOOKSPOOL_SECRET accepted beside _OLD", rn)
    T.check(ro == [200, 200], "HOOKSPOOL_SECRET_OLD accepted", ro)
    T.check(rx == [401, 401], "any other secret refused", rx)
    for s in (OLD, NEW):
        hs.remember_secret(s)
    odd = [l for l in srv.log().splitlines() if "status=5" in l]
    T.check(not odd, "secret files: no 5xx logged", odd[:5])
    hs.check_no_leaks(T, [srv], [tmp.path])


def walk_modes(root):
    dirs, files = {}, {}
    for d, dn, fn in os.walk(root):
        dirs[d] = hs.mode_of(d)
        for f in fn:
            files[os.path.join(d, f)] = hs.mode_of(os.path.join(d, f))
    return dirs, files


def section_umask(T, proc_umask):
    T.section("HOOKSPOOL_UMASK (lighttpd started with umask %03o)" % proc_umask)
    tmp = T.tempdir()
    s007, sdef = tmp.join("spool-007"), tmp.join("spool-default")
    srv = T.server(tmp, name="umask", umask=proc_umask,
                   env={"HOOKSPOOL_SECRET": hs.DEMO_SECRET, "HOOKSPOOL_ROTATE_BYTES": "4096"},
                   routes=[
                       {"url": "/u007", "setenv": {"HOOKSPOOL_SPOOL": s007, "HOOKSPOOL_UMASK": "007"}},
                       {"url": "/udef", "setenv": {"HOOKSPOOL_SPOOL": sdef}},
                   ])
    for url in ("/u007", "/udef"):
        sts = [post_event(srv, url)[0] for _ in range(10)]
        T.check(sts == [200] * 10, "%s: 10 events accepted (ROTATE_BYTES=4096)" % url, sts)
    for spool, dmode, fmode in ((s007, 0o770, 0o660), (sdef, 0o700, 0o600)):
        dirs, files = walk_modes(spool)
        what = "%s (umask %03o)" % (os.path.basename(spool), proc_umask)
        T.check(hs.spool_files(spool, "ready") and hs.spool_files(spool, "active"),
                "%s: ready and active segments exist" % what, files)
        bad_d = {d: oct(m) for d, m in dirs.items() if m != dmode}
        bad_f = {f: oct(m) for f, m in files.items() if m != fmode}
        T.check(not bad_d and len(dirs) >= 3, "%s: directories %s" % (what, oct(dmode)), bad_d)
        T.check(not bad_f and files, "%s: files (segments) %s" % (what, oct(fmode)), bad_f)


def section_hint_and_small_numbers(T):
    T.section("the Base64 hint; HOOKSPOOL_ROTATE_BYTES=4096, HOOKSPOOL_MIN_FREE=1")
    tmp = T.tempdir()
    spool = tmp.join("spool")
    srv = T.server(tmp, name="hint", env={"HOOKSPOOL_SPOOL": spool}, routes=[
        {"url": "/literal", "setenv": {"HOOKSPOOL_SECRET": hs.DEMO_SECRET}},
        {"url": "/decoded", "setenv": {"HOOKSPOOL_SECRET": "base64:" + hs.DEMO_SECRET}},
        {"url": "/small", "setenv": {"HOOKSPOOL_SECRET": hs.DEMO_SECRET,
                                     "HOOKSPOOL_ROTATE_BYTES": "4096", "HOOKSPOOL_MIN_FREE": "1"}},
    ])
    # The sender uses the Base64-decoded key; the server has the literal text.
    off = srv.log_size()
    st, h, b, j = post_event(srv, "/literal", secret="base64:" + hs.DEMO_SECRET)
    T.check(st == 401 and j == {"ok": False, "error": "bad_signature"},
            "signed with the decoded secret, server has the literal one: 401", (st, b))
    text = srv.wait_log(off, r"base64:")
    T.check("base64:" in text and "reason=bad_signature" in text,
            "the log line says to prefix the secret with base64:", text)
    # The other way: the server decodes, the sender used the literal text.
    time.sleep(0.15)
    off = srv.log_size()
    st, h, b, j = post_event(srv, "/decoded", secret=hs.DEMO_SECRET)
    T.check(st == 401, "signed with the literal secret, server decodes it: 401", (st, b))
    text = srv.wait_log(off, r"HOOKSPOOL_SECRET")
    T.check("HOOKSPOOL_SECRET" in text and "reason=bad_signature" in text,
            "the log line names HOOKSPOOL_SECRET to read the other way", text)
    st, h, b, j = post_event(srv, "/decoded", secret="base64:" + hs.DEMO_SECRET)
    T.check(st == 200, "base64: secret on both sides: 200", (st, b))

    sts = [post_event(srv, "/small")[0] for _ in range(8)]
    T.check(sts == [200] * 8, "HOOKSPOOL_ROTATE_BYTES=4096 and HOOKSPOOL_MIN_FREE=1 accepted", sts)
    st, h, b = srv.get("/small")
    T.check(st == 200, "status with HOOKSPOOL_MIN_FREE=1: 200", (st, b))
    ready = hs.spool_files(spool, "ready")
    T.check(ready and all(os.path.getsize(p) <= 4096 for p in ready),
            "segments sealed at 4096 bytes", [(os.path.basename(p), os.path.getsize(p)) for p in ready])
    hs.check_no_leaks(T, [srv], [tmp.path])


def run_cli(args, env, data=b""):
    """(exit code, stdout, stderr) of build/hookspool ARGS with env only."""
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    e.update(env)
    r = subprocess.run([hs.CLI] + args, input=data, capture_output=True, env=e, timeout=60)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def section_cli_library_config(T):
    T.section("hookspool (the CLI) reads settings as the library does")
    tmp = T.tempdir()
    sdir = tmp.mkdir("secrets", mode=0o700)
    limit = 64 * 1024                 # HS_CONF_MAX_FILE: "at most 64 KiB"
    head = "%s\n" % S1
    hs.remember_secret(S1)

    def secret_file(name, size):
        path = os.path.join(sdir, name)
        pad = "#" * (size - len(head) - 1) + "\n"
        with open(path, "w") as f:
            f.write(head + pad)
        T.check(os.path.getsize(path) == size, "%s is %d bytes" % (name, size))
        return path

    at_limit = secret_file("at-limit.secrets", limit)
    rc, out, err = run_cli(["sign", "--scheme", "caliza"], {"HOOKSPOOL_SECRET_FILE": at_limit},
                           b'{"a":1}')
    T.check(rc == 0 and "X-Caliza-Webhook-Signature:" in out,
            "sign: a secret file of exactly 64 KiB is read", (rc, out, err))
    over = secret_file("over-limit.secrets", limit + 1)
    rc, out, err = run_cli(["sign", "--scheme", "caliza"], {"HOOKSPOOL_SECRET_FILE": over},
                           b'{"a":1}')
    T.check(rc != 0 and out == "" and "HOOKSPOOL_SECRET_FILE" in err and
            "larger than 64 KiB" in err,
            "sign: a secret file over 64 KiB fails with a message, as the receiver's "
            "(not cut short and used)", (rc, out, err))

    # One version string: --version and the status document say the same.
    rc, out, err = run_cli(["--version"], {})
    rcs, st, errs = run_cli(["status", "-s", tmp.join("no-spool-yet")], {})
    try:
        version = json.loads(st).get("version")
    except ValueError:
        version = None
    T.check(rc == 0 and version and out == "hookspool %s\n" % version,
            "--version prints the status document's version", (out, st, errs))


def main(T):
    for name in (hs.FCGI, hs.CLI):
        if not os.access(name, os.X_OK):
            raise RuntimeError("%s not built (run make)" % name)
    section_precedence(T)
    section_beside(T, "fcgi")
    section_beside(T, "cgi")
    section_errors(T)
    section_secret_file(T)
    section_umask(T, 0o022)
    section_umask(T, 0o000)
    section_hint_and_small_numbers(T)
    section_cli_library_config(T)


if __name__ == "__main__":
    hs.Suite("test_config").run(main)
