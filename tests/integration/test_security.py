"""
test_security.py - what hookspool must never say, never write wrongly,
never be crashed or swollen by (SPEC sections 2, 4 and 6).

1. Kept headers (github scheme: X-GitHub-Event is kept) with quotes,
   backslashes, tabs, CR/LF, every control character, DEL, non-ASCII
   and invalid UTF-8, through lighttpd where it passes them and as a
   plain CGI (which can carry CR and LF): each line stays one valid JSON
   line and the header comes back as sent (invalid UTF-8 as U+FFFD); a
   delivery id (the dedup key) with the same bytes is a valid key and
   dedups.
2. HOOKSPOOL_UMASK 077 and 007 with lighttpd started under umask 000
   (and a plain CGI under umask 000): every directory under the spool
   (and the missing parents the first POST creates) is 0700 / 0770,
   every file (segments in active/ and ready/, claimed ones, invalid
   bodies, state.db and its -wal/-shm, counters, lock) 0600 / 0660.
3. Huge and repeated headers: a 64 KiB header value (through lighttpd
   with a raised header limit, and as CGI with 64 KiB and 120 KiB), 1000
   repeated X-GitHub-Event headers, 500 distinct headers, a 64 KiB
   signature: answers are ordinary 2xx/4xx, the backend is not
   restarted, the lines stay valid. (lighttpd itself refuses a header
   block over 64 KiB; CGI values are limited to 128 KiB by exec.)
4. CONTENT_LENGTH lying, plain CGI: claims 10 and sends 1000 (the body
   read counts: a signature over it verifies and the event is all of
   it; one over the first 10 bytes does not; over HOOKSPOOL_MAX_BODY is
   413); claims 1000 and sends 10 (the 10 bytes are the event); claims
   10^9 (413 at once, without reading stdin, which stays open).
5. 10,000 bad signatures to one FastCGI process (max-procs 1): VmRSS
   after 1,000 and after 10,000 requests differ by less than 512 KiB;
   the error log gets at most about 10 lines a second from it plus
   "suppressed" summary lines, which account for every rejection.
6. Configuration and spool errors (a spool under a regular file, a
   missing secret file) answer without a path; a REMOTE_ADDR carrying
   CR/LF makes one log line, not a forged second one.
7. A mixed flood (signed bad JSON, too large, unsigned, other methods,
   status with a wrong and the right HOOKSPOOL_STATUS_TOKEN): the SPEC 4
   answers with their headers, memory flat, invalid/ within
   HOOKSPOOL_INVALID_KEEP.
Finally EVERY answer (body and headers) of the suite, lighttpd's and the
CGI's, is searched for every secret, every MAC sent and every MAC
hookspool would expect (computed here, with the secret read both ways),
and for filesystem paths; every error-log line for secrets and MACs.
"""
import base64
import collections
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402

ENV_PATH = hs.cli_env()
GH_SECRET = "gh-s3cret-%s" % hs.unique_hex(16)
SECRETS = {hs.DEMO_SECRET, GH_SECRET}
SENT = set()            # header values sent as signatures
EXPECTED = set()        # MACs hookspool computes (both readings of a secret)
ANSWERS = []            # (label, status, {header: value}, body) not seen by a Server
LOGS = []               # (label, text) of CGI stderr
PATH_RE = re.compile(r"/(tmp|work|home|var|usr|etc|proc|root|srv|opt|run)/")
FLOOD = 10000
RSS_GROWTH_MAX = 512 * 1024


def remember_macs(body):
    """Every MAC hookspool could compute for body: HMAC-SHA256 with each
    secret as its literal bytes and Base64-decoded, in Base64 and hex."""
    keys = []
    for s in SECRETS:
        keys.append(s.encode())
        try:
            keys.append(base64.b64decode(s, validate=True))
        except ValueError:
            pass
    for k in keys:
        d = hmac.new(k, body, hashlib.sha256).digest()
        EXPECTED.add(base64.b64encode(d).decode())
        EXPECTED.add(d.hex())


def caliza_sig(body):
    remember_macs(body)
    v = hs.caliza_mac(body)
    SENT.add(v)
    return {hs.CALIZA_HEADER: v}


def gh_headers(body, event="push", delivery=None):
    remember_macs(body)
    v = "sha256=" + hmac.new(GH_SECRET.encode(), body, hashlib.sha256).hexdigest()
    SENT.add(v)
    SENT.add(v[7:])
    return {"X-Hub-Signature-256": v, "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or "dlv-" + hs.unique_hex(),
            "Content-Type": "application/json"}


def cgi(env, body, headers=None, content_length=None, umask=None, label="cgi"):
    """One plain-CGI request: (status, headers, body, stderr)."""
    e = dict(ENV_PATH)
    e.update({"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "POST",
              "CONTENT_TYPE": "application/json", "SERVER_PROTOCOL": "HTTP/1.1",
              "REMOTE_ADDR": "127.0.0.1", "SCRIPT_NAME": "/hook", "REQUEST_URI": "/hook",
              "CONTENT_LENGTH": str(len(body) if content_length is None else content_length)})
    e.update(env)
    for k, v in (headers or {}).items():
        if k.lower() == "content-type":
            continue
        e["HTTP_" + k.upper().replace("-", "_")] = v
    pre = (lambda: os.umask(umask)) if umask is not None else None
    r = subprocess.run([hs.FCGI], input=body, env=e, capture_output=True, timeout=60,
                       preexec_fn=pre)
    st, hdrs, ans = hs.parse_cgi(r.stdout)
    ANSWERS.append((label, st, hdrs, ans))
    LOGS.append((label, r.stderr.decode("utf-8", "replace")))
    return st, hdrs, ans, r


def lines_by_delivery(spool):
    out = {}
    for p, ln in hs.spool_lines(spool, ("ready", "active", "claimed")):
        try:
            o = json.loads(ln)
        except ValueError:
            continue
        d = (o.get("headers") or {}).get("X-GitHub-Delivery")
        out.setdefault(d, []).append((ln, o))
    return out


def raw_request(port, head, body, timeout=30):
    """Send head (bytes, without the final CRLF CRLF) and body as is;
    (status, body) or (None, error)."""
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(head + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
                      + body)
            data = b""
            while True:
                c = s.recv(65536)
                if not c:
                    break
                data += c
    except OSError as e:
        return None, repr(e).encode()
    h, _, b = data.partition(b"\r\n\r\n")
    try:
        st = int(h.split(b" ", 2)[1])
    except (IndexError, ValueError):
        st = None
    return st, b


# ---------------------------------------------------------------- 1 escaping

WEIRD = [
    ("quotes and backslashes", 'a"b\\c\\"d\\\\'),
    ("a tab", "x\ty"),
    ("CR LF", "line1\r\nX-Injected: 1\r\n\r\n{\"forged\":true}"),
    ("lone LF and CR", "a\nb\rc"),
    ("every control character and DEL", "".join(chr(c) for c in range(1, 32)) + "\x7f"),
    ("JSON-looking", '"},"event":{"forged":true},"x":{"'),
    ("unicode escapes as text", "\\u0000\\n\\\""),
    ("non-ASCII UTF-8", "caf\u00e9 \u4e2d\u6587 \U0001F600"),
    ("U+2028 and U+2029", "a\u2028b\u2029c"),
]
INVALID_UTF8 = [
    ("invalid UTF-8 bytes", b"ab\xff\xfe\xc3(cd\xed\xa0\x80"),
    ("a truncated sequence", b"end\xe4\xb8"),
]


def section_escaping(T, tmp, servers):
    T.section("kept headers with hostile bytes stay one valid JSON line")
    spool = tmp.join("esc-spool")
    env = {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": GH_SECRET, "HOOKSPOOL_SCHEME": "github"}
    srv = T.server(tmp, name="esc", max_procs=1, env=env)
    servers.append(srv)
    body = b'{"action":"opened","number":1}'
    sent = {}          # delivery -> (label, expected decoded value or None)
    passed_lighttpd = []
    for i, (label, val) in enumerate(WEIRD):
        d = "dlv-esc-%d-%s" % (i, hs.unique_hex(8))
        # through lighttpd, where the bytes can travel in a header at all
        if "\r" not in val and "\n" not in val:
            h = gh_headers(body, delivery=d)
            h["X-GitHub-Event"] = val.encode("utf-8")
            st, hh, b = srv.request("POST", body=body, headers=h)
            if st == 200:
                passed_lighttpd.append(label)
                sent[d] = (label + " (lighttpd)", val)
            else:
                T.check(st is not None and 400 <= st < 500, "%s via lighttpd: 200, or a 4xx "
                        "from lighttpd itself" % label, (st, b[:100]))
        # as a plain CGI: the environment carries anything but NUL
        d2 = d + "-cgi"
        h = gh_headers(body, delivery=d2)
        h["X-GitHub-Event"] = val
        st, hh, b, r = cgi(env, body, h, label="cgi esc")
        T.check(st == 200, "%s via CGI: 200" % label, (st, b[:200], r.stderr[-200:]))
        sent[d2] = (label + " (CGI)", val)
    for i, (label, raw) in enumerate(INVALID_UTF8):
        d = "dlv-bad-%d-%s" % (i, hs.unique_hex(8))
        h = gh_headers(body, delivery=d)
        # the header's bytes as they are, not UTF-8-encoded text
        st, hh, b, r = cgi_bytes_env(env, body, h, {b"HTTP_X_GITHUB_EVENT": raw})
        T.check(st == 200, "%s via CGI: 200" % label, (st, b[:200]))
        sent[d] = (label + " (CGI)", None)
    T.note("through lighttpd: %s" % passed_lighttpd)

    # A delivery id (the dedup key) with the same hostile bytes: a valid
    # key, and a duplicate the second time.
    hostile = 'k"\\\r\n\x01\x1f\u00e9'
    h = gh_headers(body, delivery=hostile)
    st1, _, b1, _ = cgi(env, body, h, label="cgi key")
    st2, _, b2, _ = cgi(env, body, h, label="cgi key")
    T.check(st1 == 200 and hs.one_line_json(b1) and "id" in hs.one_line_json(b1),
            "a hostile delivery id: accepted", (st1, b1))
    T.check(st2 == 200 and hs.one_line_json(b2) == {"ok": True, "duplicate": True},
            "the same hostile delivery id again: a duplicate", (st2, b2))

    raw = hs.spool_lines(spool)
    objs, bad = hs.parse_lines(raw)
    T.check(not bad, "every line (%d) is one valid JSON object ending in '\\n'" % len(raw), bad[:3])
    strict_bad = []
    for p, ln in raw:
        try:
            txt = ln.decode("utf-8")
        except UnicodeDecodeError:
            strict_bad.append("not UTF-8: %r" % ln[:80])
            continue
        if txt.count("\n") != 1 or "\r" in txt or any(ord(c) < 0x20 and c != "\n" for c in txt):
            strict_bad.append("raw control character in %r" % ln[:80])
    T.check(not strict_bad, "no line carries a raw control character or invalid UTF-8",
            strict_bad[:3])
    byd = lines_by_delivery(spool)
    wrong = []
    for d, (label, val) in sent.items():
        got = byd.get(d, [])
        if len(got) != 1:
            wrong.append("%s: %d lines" % (label, len(got)))
            continue
        o = got[0][1]
        ev = o["headers"].get("X-GitHub-Event")
        if val is not None and ev != val:
            wrong.append("%s: %r != %r" % (label, ev, val))
        if val is None and (not isinstance(ev, str) or "\ufffd" not in ev):
            wrong.append("%s: invalid UTF-8 not replaced: %r" % (label, ev))
        if o.get("event") != {"action": "opened", "number": 1} or set(o) != {
                "id", "received_at", "endpoint", "key", "headers", "event"}:
            wrong.append("%s: the line's structure changed: %s" % (label, sorted(o)))
    T.check(not wrong, "each header comes back exactly as sent (%d), in an unchanged line "
            "structure" % len(sent), wrong[:4])
    kl = byd.get(hostile, [])
    T.check(len(kl) == 1 and kl[0][1].get("key") == [hostile] and
            kl[0][1]["headers"].get("X-GitHub-Delivery") == hostile,
            "the hostile delivery id is one line, its key [id] as sent", [x[0][:200] for x in kl])


def cgi_bytes_env(env, body, headers, raw_env):
    """cgi() with some environment values given as raw bytes."""
    e = {k.encode(): v.encode() for k, v in ENV_PATH.items()}
    base = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "POST",
            "CONTENT_TYPE": "application/json", "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_LENGTH": str(len(body))}
    base.update(env)
    for k, v in headers.items():
        if k.lower() != "content-type":
            base["HTTP_" + k.upper().replace("-", "_")] = v
    for k, v in base.items():
        e[k.encode()] = v.encode("utf-8", "surrogateescape")
    e.update(raw_env)
    r = subprocess.run([hs.FCGI], input=body, env=e, capture_output=True, timeout=60)
    st, hdrs, ans = hs.parse_cgi(r.stdout)
    ANSWERS.append(("cgi bytes", st, hdrs, ans))
    LOGS.append(("cgi bytes", r.stderr.decode("utf-8", "replace")))
    return st, hdrs, ans, r


# ---------------------------------------------------------------- 2 umask

def walk_modes(root):
    dirs, files = {}, {}
    for d, ds, fs in os.walk(root):
        dirs[d] = hs.mode_of(d)
        for f in fs:
            p = os.path.join(d, f)
            files[p] = hs.mode_of(p)
    return dirs, files


def exercise(T, post, spool, label):
    """Fill a spool with every kind of file: segments (rotated), a
    duplicate, an invalid body, a rejection."""
    for i in range(12):
        b, rid = hs.caliza_event()
        st, ans = post(b, caliza_sig(b))
        if i == 0:
            T.check(st == 200, "%s: POST accepted" % label, (st, ans))
            post(b, caliza_sig(b))                                   # duplicate
    bad = b"this is { not json"
    st, ans = post(bad, caliza_sig(bad))
    T.check(st == 400, "%s: an invalid body answered 400" % label, (st, ans))
    post(b"{}", {hs.CALIZA_HEADER: "AAAA"})                          # 401
    # a claimed segment too (moves keep the mode)
    subprocess.run([hs.CLI, "claim", "-s", spool, "-n", "1"], capture_output=True,
                   env=ENV_PATH, timeout=60, preexec_fn=lambda: os.umask(0))


def check_modes(T, root_created, spool, umask, label, expect_wal=True):
    dmode, fmode = 0o777 & ~umask, 0o666 & ~umask
    dirs, files = walk_modes(root_created)
    badd = ["%s %o" % (os.path.relpath(d, root_created), m) for d, m in dirs.items() if m != dmode]
    badf = ["%s %o" % (os.path.relpath(f, root_created), m) for f, m in files.items() if m != fmode]
    names = {os.path.relpath(f, spool) for f in files}
    want = {"lock", "counters", "state.db", "tailmap", "keyfilter"}
    if expect_wal:
        want |= {"state.db-wal", "state.db-shm"}
    kinds = {"active": any(n.startswith("active/") for n in names),
             "ready": any(n.startswith("ready/") for n in names),
             "claimed": any(n.startswith("claimed/") for n in names),
             "invalid": any(n.startswith("invalid/") for n in names)}
    T.check(want <= names and all(kinds.values()),
            "%s: the spool holds every kind of file (%s)" % (label, ", ".join(sorted(want))),
            (sorted(want - names), kinds))
    T.check(not badd, "%s: every directory created is %04o (%d)" % (label, dmode, len(dirs)), badd)
    T.check(not badf, "%s: every file is %04o (%d: %s)" % (
        label, fmode, len(files), ", ".join(sorted({n.split("/")[0] for n in names}))), badf)


def section_umask(T, tmp, servers):
    T.section("HOOKSPOOL_UMASK 077 and 007 under a process umask of 000")
    base = {"HOOKSPOOL_SECRET": hs.DEMO_SECRET, "HOOKSPOOL_ROTATE_BYTES": "2048"}
    roots = {"077": tmp.join("u077"), "007": tmp.join("u007")}
    spools = {k: os.path.join(v, "a", "b", "spool") for k, v in roots.items()}
    srv = T.server(tmp, name="umask", umask=0o000, max_procs=1, env=base, routes=[
        {"url": "/u077", "setenv": {"HOOKSPOOL_SPOOL": spools["077"], "HOOKSPOOL_UMASK": "077"}},
        {"url": "/u007", "setenv": {"HOOKSPOOL_SPOOL": spools["007"], "HOOKSPOOL_UMASK": "007"}},
    ])
    servers.append(srv)
    for k in ("077", "007"):
        def post(b, h, k=k):
            st, hh, a = srv.post(b, h, path="/u" + k)
            return st, a
        exercise(T, post, spools[k], "lighttpd umask 000, HOOKSPOOL_UMASK=" + k)
    for k in ("077", "007"):
        check_modes(T, roots[k] + "/a", spools[k], int(k, 8),
                    "lighttpd umask 000, HOOKSPOOL_UMASK=" + k)
    # a plain CGI started with umask 000
    root = tmp.join("ucgi")
    spool = os.path.join(root, "x", "spool")
    env = dict(base, HOOKSPOOL_SPOOL=spool, HOOKSPOOL_UMASK="007")

    def post(b, h):
        st, hh, a, r = cgi(env, b, h, umask=0, label="cgi umask")
        return st, a
    exercise(T, post, spool, "CGI umask 000, HOOKSPOOL_UMASK=007")
    # WAL and shm go with the last connection of a CGI that exited; the
    # store itself and everything else must have the mode
    check_modes(T, root + "/x", spool, 0o007, "CGI umask 000, HOOKSPOOL_UMASK=007",
                expect_wal=False)


# ---------------------------------------------------------------- 3 huge headers

def section_huge(T, tmp, servers):
    T.section("huge and repeated headers")
    spool = tmp.join("huge-spool")
    env = {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": GH_SECRET, "HOOKSPOOL_SCHEME": "github"}
    srv = T.server(tmp, name="huge", max_procs=1, env=env,
                   extra_conf="server.max-request-field-size = 262144")
    servers.append(srv)
    pid0 = srv.backend_pids()
    body = b'{"action":"huge"}'
    results = []

    def ok_answer(st):
        return st is not None and (200 <= st < 300 or 400 <= st < 500)

    big = "E" * 65536
    cases = [
        ("a 64 KiB X-GitHub-Event (kept)", {"X-GitHub-Event": big}),
        ("a 60 KiB X-GitHub-Event (kept)", {"X-GitHub-Event": "F" * 61440}),
        ("a 64 KiB unrelated header", {"X-Junk": "J" * 65536}),
        ("a 64 KiB signature", {"X-Hub-Signature-256": "sha256=" + "a" * 65536}),
        ("a 64 KiB delivery id (the dedup key)", {"X-GitHub-Delivery": "D" * 65536}),
    ]
    for label, extra in cases:
        h = gh_headers(body)
        h.update(extra)
        st, hh, b = srv.request("POST", body=body, headers=h)
        results.append((label, st))
        T.check(ok_answer(st), "%s via lighttpd: a normal 2xx/4xx" % label, (st, b[:120]))
    # 1000 repeated headers and 500 distinct ones, on one request each
    h = gh_headers(body)
    head = ["POST /hook HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
            "X-Hub-Signature-256: %s" % h["X-Hub-Signature-256"],
            "X-GitHub-Delivery: %s" % h["X-GitHub-Delivery"]]
    head += ["X-GitHub-Event: ev%d" % i for i in range(1000)]
    st, b = raw_request(srv.port, "\r\n".join(head).encode(), body)
    ANSWERS.append(("repeated", st, {}, b))
    T.check(st == 200, "1000 repeated X-GitHub-Event headers: 200", (st, b[:120]))
    h = gh_headers(body)
    head = ["POST /hook HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
            "X-Hub-Signature-256: %s" % h["X-Hub-Signature-256"],
            "X-GitHub-Delivery: %s" % h["X-GitHub-Delivery"], "X-GitHub-Event: many"]
    head += ["X-Many-%d: %s" % (i, "v" * 50) for i in range(500)]
    st, b = raw_request(srv.port, "\r\n".join(head).encode(), body)
    ANSWERS.append(("distinct", st, {}, b))
    T.check(st == 200, "500 distinct headers: 200", (st, b[:120]))
    T.check(srv.backend_pids() == pid0, "the FastCGI process survived them all (not restarted)",
            (pid0, srv.backend_pids()))
    st, hh, b = srv.post(body, gh_headers(body))
    T.check(st == 200, "a normal request after them: 200", (st, b))

    # as CGI: 64 KiB and 120 KiB values in the environment (Linux takes at
    # most 128 KiB in one environment string)
    for size in (65536, 120000):
        h = gh_headers(body)
        h["X-GitHub-Event"] = "C" * size
        st, hh, b, r = cgi(env, body, h, label="cgi huge")
        T.check(st == 200 and r.returncode == 0, "CGI with a %d-byte X-GitHub-Event: 200" % size,
                (st, b[:100], r.returncode))
        h = gh_headers(body)
        h["X-Hub-Signature-256"] = "sha256=" + "b" * size
        st, hh, b, r = cgi(env, body, h, label="cgi huge")
        T.check(st == 401 and r.returncode == 0, "CGI with a %d-byte signature: 401" % size,
                (st, b[:100], r.returncode))
    objs, bad = hs.parse_lines(hs.spool_lines(spool))
    T.check(not bad, "every line still valid JSON (%d)" % len(objs), bad[:2])
    kept = [len(o["headers"].get("X-GitHub-Event", "")) for o in objs]
    T.check(65536 in kept and 120000 in kept, "64 KiB and 120 KiB kept values are in their "
            "lines whole", sorted(set(kept))[-5:])
    T.note("through lighttpd: %s" % results)


# ---------------------------------------------------------------- 4 CONTENT_LENGTH

def section_content_length(T, tmp):
    T.section("CONTENT_LENGTH lying, plain CGI")
    spool = tmp.join("cl-spool")
    env = {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET,
           "HOOKSPOOL_MAX_BODY": "5000"}
    body, rid = hs.caliza_event(pad_to=1000)
    st, h, a, r = cgi(env, body, caliza_sig(body), content_length=10, label="cl")
    T.check(st == 200, "claims 10, sends %d signed over all of it: 200" % len(body), (st, a))
    lines = [o for o in hs.parse_lines(hs.spool_lines(spool))[0]
             if (o.get("event") or {}).get("resourceId") == rid]
    T.check(len(lines) == 1 and json.dumps(lines[0]["event"], separators=(",", ":")).encode()
            == json.dumps(json.loads(body), separators=(",", ":")).encode(),
            "... and the event is the whole body read", [json.dumps(o)[:200] for o in lines])
    body2, rid2 = hs.caliza_event(pad_to=1000)
    st, h, a, r = cgi(env, body2, caliza_sig(body2[:10]), content_length=10, label="cl")
    T.check(st == 401, "claims 10, sends 1000 signed over the first 10 bytes: 401", (st, a))
    big, rid3 = hs.caliza_event(pad_to=6000)
    st, h, a, r = cgi(env, big, caliza_sig(big), content_length=10, label="cl")
    T.check(st == 413, "claims 10, sends %d (over HOOKSPOOL_MAX_BODY=5000): 413" % len(big),
            (st, a))
    small = b'{"short":1}'
    st, h, a, r = cgi(env, small, caliza_sig(small), content_length=1000, label="cl")
    T.check(st == 200, "claims 1000, sends 11 signed: 200", (st, a))
    objs = hs.parse_lines(hs.spool_lines(spool))[0]
    T.check(any(o.get("event") == {"short": 1} for o in objs),
            "... and the event is those 11 bytes")
    T.check(not any((o.get("event") or {}).get("resourceId") in (rid2, rid3) for o in objs),
            "the refused ones are not in the spool")

    # claims 10^9: 413 at once, stdin open and never written
    e = dict(ENV_PATH)
    e.update(env)
    e.update({"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "POST",
              "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(10 ** 9),
              "REMOTE_ADDR": "127.0.0.1",
              "HTTP_X_CALIZA_WEBHOOK_SIGNATURE": caliza_sig(body)[hs.CALIZA_HEADER]})
    p = subprocess.Popen([hs.FCGI], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e)
    try:
        p.wait(timeout=10)
        exited = True
    except subprocess.TimeoutExpired:
        exited = False
        p.kill()
        p.wait()
    out = p.stdout.read()
    err = p.stderr.read()
    p.stdin.close()
    p.stdout.close()
    p.stderr.close()
    st, h, a = hs.parse_cgi(out)
    ANSWERS.append(("cl 1e9", st, h, a))
    LOGS.append(("cl 1e9", err.decode("utf-8", "replace")))
    T.check(exited and st == 413, "claims 10^9: 413 without reading stdin (which stays open)",
            (exited, st, a))


# ---------------------------------------------------------------- 5 flood

def vmrss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


class KeepAlive:
    """One keep-alive connection to 127.0.0.1:port, reopened when the
    server closes it; a request that fails is tried up to 3 times."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def request(self, method, body, headers):
        """(status, [(header, value)], body); (None, [], b"") when every
        try failed."""
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.request(method, "/hook", body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.close()
                return r.status, r.getheaders(), data
            except (OSError, http.client.HTTPException):
                self.close()
        return None, [], b""

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def section_flood(T, tmp, servers):
    T.section("%d bad signatures to one FastCGI process" % FLOOD)
    spool = tmp.join("flood-spool")
    srv = T.server(tmp, name="flood", max_procs=1, env={
        "HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET})
    servers.append(srv)
    b, rid = hs.caliza_event()
    st, h, a = srv.post(b, caliza_sig(b))
    T.check(st == 200, "a valid event first", (st, a))
    pids = srv.backend_pids()
    if not T.check(len(pids) == 1, "one FastCGI process", pids):
        return
    pid = pids[0]
    rnd = random.Random(99)
    bodies = []
    for i in range(20):
        bb, _ = hs.caliza_event(pad_to=rnd.randint(300, 3000))
        remember_macs(bb)
        bodies.append(bb)
    sigs = []
    for i in range(200):
        s = base64.b64encode(bytes(rnd.getrandbits(8) for _ in range(32))).decode()
        SENT.add(s)
        sigs.append(s)
    # the log, sampled as it grows
    samples = []
    mon_stop = threading.Event()
    off = srv.log_size()

    def monitor():
        while not mon_stop.is_set():
            t = time.time()
            txt = srv.log_since(off)
            samples.append((t, txt.count("reason=bad_signature")))
            time.sleep(0.05)
    mt = threading.Thread(target=monitor, daemon=True)
    mt.start()

    statuses = collections.Counter()
    leaks = []
    conn = KeepAlive(srv.port)
    rss = {}
    t0 = time.time()
    mac_list = [m for m in SENT | EXPECTED if len(m) >= 16]
    seen = set()
    for i in range(1, FLOOD + 1):
        bb = bodies[i % len(bodies)]
        st, hdrs, data = conn.request("POST", bb, {
            "Content-Type": "application/json", hs.CALIZA_HEADER: sigs[i % len(sigs)]})
        statuses[st] += 1
        # every answer is searched (identical ones once: only Date varies)
        text = data.decode("utf-8", "replace") + repr(hdrs)
        if text not in seen:
            seen.add(text)
            for m in mac_list:
                if m in text:
                    leaks.append((i, m[:8]))
            if PATH_RE.search(text) or any(x in text for x in SECRETS):
                leaks.append((i, "a path or a secret"))
        if st != 401 or hs.one_line_json(data) != {"ok": False, "error": "bad_signature"}:
            ANSWERS.append(("flood", st, dict(hdrs), data))
        if i in (1000, FLOOD):
            rss[i] = vmrss(pid)
    t1 = time.time()
    conn.close()
    time.sleep(1.5)
    # one more, in a new second: flushes the last "suppressed" count
    srv.post(bodies[0], {hs.CALIZA_HEADER: sigs[0]})
    time.sleep(0.3)
    mon_stop.set()
    mt.join(5)
    T.note("%d requests in %.1f s: %s; VmRSS after 1000: %s, after %d: %s" % (
        FLOOD, t1 - t0, dict(statuses), rss.get(1000), FLOOD, rss.get(FLOOD)))
    T.check(statuses.get(401) == FLOOD, "every bad signature answered 401", dict(statuses))
    T.check(not leaks, "no flood answer (%d, %d distinct) carries a MAC, a secret or a path"
            % (FLOOD, len(seen)), leaks[:3])
    T.check(srv.backend_pids() == [pid], "still the same FastCGI process", srv.backend_pids())
    if hs.SANITIZED:
        T.note("memory flat: not judged under ASan, whose quarantine keeps freed memory "
               "(grew %d bytes); the plain build judges it" % (rss.get(FLOOD, 0) - rss.get(1000, 0)))
    elif rss.get(1000) and rss.get(FLOOD):
        T.check(rss[FLOOD] - rss[1000] < RSS_GROWTH_MAX,
                "memory flat: VmRSS grew %d bytes from request 1000 to %d (limit %d)"
                % (rss[FLOOD] - rss[1000], FLOOD, RSS_GROWTH_MAX))
    log = srv.log_since(off)
    normal = log.count("reason=bad_signature")
    supp = [int(m) for m in re.findall(r"(\d+) more log lines? suppressed", log)]
    total = FLOOD + 1
    seconds = t1 - t0 + 2.0
    T.note("log: %d rejection lines, %d summary lines suppressing %d, over %.1f s" % (
        normal, len(supp), sum(supp), t1 - t0))
    T.check(normal <= 10 * (int(seconds) + 2), "at most about 10 rejection lines a second "
            "(%d in %.1f s)" % (normal, seconds))
    buckets = collections.Counter()
    prev = 0
    for t, n in samples:
        buckets[int(t)] += n - prev
        prev = n
    T.check(max(buckets.values() or [0]) <= 20, "no second of the log has more than ~10 lines "
            "(max %d in one sampled second, sampling lag allowed)" % max(buckets.values() or [0]),
            sorted(buckets.items())[:10])
    T.check(supp and normal + sum(supp) == total,
            "the 'suppressed' lines account for every rejection: %d + %d = %d"
            % (normal, sum(supp), total))
    other = [l for l in log.splitlines() if l.strip() and "reason=bad_signature" not in l
             and "suppressed" not in l and l.startswith("hookspool")]
    T.check(not other, "no other log line from the flood", other[:3])


# ---------------------------------------------------------------- 6 errors

def section_error_paths(T, tmp, servers):
    T.section("spool and configuration errors answer without a path")
    afile = tmp.write("afile", "not a directory\n")
    srv = T.server(tmp, name="errs", max_procs=1, env={"HOOKSPOOL_SECRET": hs.DEMO_SECRET}, routes=[
        {"url": "/nodir", "setenv": {"HOOKSPOOL_SPOOL": os.path.join(afile, "spool")}},
        {"url": "/nosecret", "setenv": {"HOOKSPOOL_SPOOL": tmp.join("es-spool"),
                                        "HOOKSPOOL_SECRET_FILE": tmp.join("missing", "secret")}},
    ])
    servers.append(srv)
    b, rid = hs.caliza_event()
    st, h, a = srv.post(b, caliza_sig(b), path="/nodir")
    T.check(st == 503 and "retry-after" in h, "a spool under a regular file: 503 with Retry-After",
            (st, a))
    st, h, a = srv.post(b, caliza_sig(b), path="/nosecret")
    T.check(st == 500, "a missing secret file: 500", (st, a))
    st, h, a = srv.get(path="/nodir")
    T.check(st == 503, "status of a spool under a regular file: 503 (degraded)", (st, a[:200]))
    # the secret read the other way: 401, a hint in the log, no secret
    key = base64.b64decode(hs.DEMO_SECRET)
    v = hs.hmac_b64(key, b)
    SENT.add(v)
    srv2 = T.server(tmp, name="hint", max_procs=1, env={
        "HOOKSPOOL_SPOOL": tmp.join("hint-spool"), "HOOKSPOOL_SECRET": hs.DEMO_SECRET})
    servers.append(srv2)
    st, h, a = srv2.post(b, {hs.CALIZA_HEADER: v})
    T.check(st == 401, "signed with the secret Base64-decoded: 401", (st, a))
    log = srv2.wait_log(0, r"HOOKSPOOL_SECRET", timeout=5)
    T.note("hint logged: %s" % ("yes" if "HOOKSPOOL_SECRET" in log else "no"))


# ---------------------------------------------------------------- 7 mixed flood

def section_mixed(T, tmp, servers):
    T.section("a mixed flood: bad JSON (kept), too large, no signature, bad methods, "
              "status with a wrong token")
    spool = tmp.join("mixed-spool")
    token = "status-token-%s" % hs.unique_hex()
    SECRETS.add(token)
    keep = 20000
    srv = T.server(tmp, name="mixed", max_procs=1, env={
        "HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET,
        "HOOKSPOOL_MAX_BODY": "4096", "HOOKSPOOL_INVALID_KEEP": str(keep),
        "HOOKSPOOL_STATUS_TOKEN": token})
    servers.append(srv)
    b, rid = hs.caliza_event()
    st, h, a = srv.post(b, caliza_sig(b))
    T.check(st == 200, "a valid event first", (st, a))
    pid = (srv.backend_pids() or [None])[0]
    rnd = random.Random(5)
    conn = KeepAlive(srv.port)
    rss = {}
    statuses = collections.Counter()
    n = 3000
    for i in range(1, n + 1):
        k = i % 6
        if k == 0:
            body = b"{not json %d " % i + b"z" * rnd.randint(10, 900)
            req = ("POST", body, dict(caliza_sig(body), **{"Content-Type": "application/json"}))
        elif k == 1:
            body = b"[" + b"1," * 3000 + b"1]"
            req = ("POST", body, dict(caliza_sig(body), **{"Content-Type": "application/json"}))
        elif k == 2:
            req = ("POST", b"{}", {"Content-Type": "application/json"})
        elif k == 3:
            req = (rnd.choice(["PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"]), b"", {})
        elif k == 4:
            wrong = "Bearer wrong-%d" % i
            SENT.add(wrong[7:])
            req = ("GET", None, {"Authorization": wrong})
        else:
            req = ("GET", None, {"Authorization": "Bearer " + token})
        st, hdrs, data = conn.request(req[0], req[1], req[2])
        hd = dict((x.lower(), y) for x, y in hdrs)
        statuses[(req[0] if req[0] in ("GET", "POST") else "other", st)] += 1
        ANSWERS.append(("mixed", st, hd, data))
        if i in (1000, n) and pid:
            rss[i] = vmrss(pid)
    conn.close()
    T.note("mixed answers: %s; VmRSS after 1000: %s, after %d: %s" % (
        dict(statuses), rss.get(1000), n, rss.get(n)))
    want = {("POST", 400), ("POST", 413), ("POST", 401), ("other", 405), ("GET", 401),
            ("GET", 200)}
    T.check(set(statuses) == want, "each kind answered as SPEC 4 says (400, 413, 401, 405, "
            "401, 200)", dict(statuses))
    T.check(srv.backend_pids() == [pid], "still the same FastCGI process")
    if hs.SANITIZED:
        T.note("memory flat over the mixed flood: not judged under ASan (see above)")
    elif rss.get(1000) and rss.get(n):
        T.check(rss[n] - rss[1000] < RSS_GROWTH_MAX, "memory flat over the mixed flood: "
                "VmRSS grew %d bytes" % (rss[n] - rss[1000]))
    inv = os.path.join(spool, "invalid")
    sizes = [os.path.getsize(os.path.join(inv, f)) for f in os.listdir(inv)]
    T.check(sizes and sum(sizes) <= keep, "invalid/ holds at most HOOKSPOOL_INVALID_KEEP=%d "
            "bytes (%d in %d files)" % (keep, sum(sizes), len(sizes)))
    a405 = [x for x in ANSWERS if x[0] == "mixed" and x[1] == 405]
    T.check(a405 and all(x[2].get("allow") == "POST, GET, HEAD" for x in a405),
            "every 405 carries Allow: POST, GET, HEAD")
    a401 = [x for x in ANSWERS if x[0] == "mixed" and x[1] == 401 and b"unauthorized" in x[3]]
    T.check(a401 and all(x[2].get("www-authenticate", "").startswith("Bearer") for x in a401),
            "every status 401 carries WWW-Authenticate: Bearer")


def section_log_injection(T, tmp):
    T.section("a CR/LF in what a log line quotes does not forge log lines")
    spool = tmp.join("inj-spool")
    env = {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET,
           "REMOTE_ADDR": "1.2.3.4\nhookspool: endpoint=caliza status=200 reason=forged\r\n"}
    b = b'{"x":1}'
    st, h, a, r = cgi(env, b, {hs.CALIZA_HEADER: "AAAA"}, label="cgi inject")
    err = r.stderr.decode("utf-8", "replace")
    T.check(st == 401, "a bad signature from a forged REMOTE_ADDR: 401", (st, a))
    lines = [l for l in err.split("\n") if l]
    T.check(len(lines) == 1 and "\r" not in err,
            "exactly one log line for it, no CR, no forged line", lines)


# ---------------------------------------------------------------- main

def final_leak_check(T, servers, tmp):
    T.section("every answer and every log line of this suite")
    secrets = set()
    for s in SECRETS | hs.SENT_SECRETS:
        secrets.add(s)
    macs = {m for m in SENT | EXPECTED | hs.SENT_MACS if len(m) >= 16}
    answers = list(ANSWERS)
    for srv in servers:
        answers += [(srv.name, st, hdrs, body) for (_m, _p, st, hdrs, body) in srv.responses]
    bad, paths = [], []
    for label, st, hdrs, body in answers:
        text = (body if isinstance(body, bytes) else str(body).encode()).decode(
            "utf-8", "replace") + "\n" + "\n".join("%s: %s" % kv for kv in (hdrs or {}).items())
        for s in secrets:
            if s in text:
                bad.append("%s -> %s carries a secret" % (label, st))
        for m in macs:
            if m in text:
                bad.append("%s -> %s carries a MAC %s..." % (label, st, m[:8]))
        if tmp.path in text or hs.ROOT in text or PATH_RE.search(text):
            paths.append("%s -> %s: %r" % (label, st, text[:160]))
    T.check(not bad, "no answer (%d) carries a secret or a MAC (%d MACs, sent and expected)"
            % (len(answers), len(macs)), bad[:5])
    T.check(not paths, "no answer carries a filesystem path", paths[:5])
    logs = [(srv.name, srv.log()) for srv in servers] + LOGS
    nlines = sum(len(t.splitlines()) for _, t in logs)
    lbad = []
    for label, text in logs:
        for s in secrets:
            if s in text:
                lbad.append("%s: a secret" % label)
        for m in macs:
            if m in text:
                lbad.append("%s: a MAC %s..." % (label, m[:8]))
    T.check(not lbad, "no error-log line (%d) carries a secret or a MAC" % nlines, lbad[:5])


# ---------------------------------------------------------------- 9 planted spool

WEB = "www-data"          # the web server's user, whose spool is attacked
NEIGHBOUR = "nobody"      # another user of the host


def as_user(args, env, user=WEB, body=None):
    """Run args as user: (exit status, stdout, stderr) as text."""
    r = subprocess.run(args, input=body, env=env, capture_output=True, timeout=60, user=user,
                       group=user if user == WEB else None)
    return (r.returncode, r.stdout.decode("utf-8", "replace"),
            r.stderr.decode("utf-8", "replace"))


def web_post(spool, body, extra=None):
    """A signed POST through the program as a plain CGI run by the web
    server's user: (status, answer, stderr)."""
    e = dict(ENV_PATH, HOOKSPOOL_SPOOL=spool, HOOKSPOOL_SECRET=hs.DEMO_SECRET,
             GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD="POST",
             CONTENT_TYPE="application/json", SERVER_PROTOCOL="HTTP/1.1",
             REMOTE_ADDR="127.0.0.1", SCRIPT_NAME="/hook", REQUEST_URI="/hook",
             CONTENT_LENGTH=str(len(body)))
    e.update(extra or {})
    e["HTTP_" + hs.CALIZA_HEADER.upper().replace("-", "_")] = caliza_sig(body)[hs.CALIZA_HEADER]
    r = subprocess.run([hs.FCGI], input=body, env=e, capture_output=True, timeout=60,
                       user=WEB, group=WEB)
    st, hdrs, ans = hs.parse_cgi(r.stdout)
    ANSWERS.append(("planted", st, hdrs, ans))
    err = r.stderr.decode("utf-8", "replace")
    LOGS.append(("planted", err))
    return st, ans, err


def chown_tree(path, user):
    import pwd
    pw = pwd.getpwnam(user)
    if not os.path.isdir(path) or os.path.islink(path):
        os.lchown(path, pw.pw_uid, pw.pw_gid)
        return
    for d, dirs, files in os.walk(path):
        os.lchown(d, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.lchown(os.path.join(d, f), pw.pw_uid, pw.pw_gid)


def section_planted(T, tmp):
    """Issue 13 item 5: a neighbour on a shared host plants the spool or
    parts of it. The web server's user (www-data) must answer 503 with
    one log line naming the problem (no path to the client), the cron
    side must refuse with a message and deliver nothing planted, and
    `hookspool check` must report each as an error."""
    T.section("a planted spool: symlinks, another user's files, modes others may write")
    base = tmp.mkdir("planted", mode=0o777)     # a careless world-writable parent
    os.chmod(base, 0o777)
    env_cli = dict(ENV_PATH, HOOKSPOOL_SECRET=hs.DEMO_SECRET)

    def fresh(name):
        """A spool made by the web server's user with one event in it."""
        sp = os.path.join(base, name)
        st, a, err = web_post(sp, hs.caliza_event()[0])
        T.check(st == 200, "%s: the web server's own spool takes an event" % name, (st, a, err))
        return sp

    def refused(sp, label, word, body=None):
        b = body or hs.caliza_event()[0]
        st, a, err = web_post(sp, b)
        T.check(st == 503, "%s: POST answered 503" % label, (st, a))
        T.check(base.encode() not in a and sp.encode() not in a, "%s: the answer names no path" % label, a)
        lines = [ln for ln in err.splitlines() if word in ln]
        T.check(len(lines) >= 1, "%s: a log line names the problem (%r)" % (label, word), err)

    def check_says(sp, label, word, extra=None):
        e = dict(env_cli, **(extra or {}))
        rc, out, err = as_user([hs.CLI, "check", "-s", sp], e)
        T.check(rc != 0 and word in out, "%s: hookspool check reports it as an error" % label,
                (rc, out, err))

    def claim_refuses(sp, label, planted=b"FORGED"):
        rc, out, err = as_user([hs.CLI, "claim", "-s", sp], env_cli)
        got = b""
        for p in out.split():
            try:
                got += hs.read_bytes(p)
            except OSError:
                pass
        T.check(rc != 0 and err.strip() != "", "%s: hookspool claim exits non-zero with a "
                "message" % label, (rc, out, err))
        T.check(planted not in got, "%s: claim delivers no planted line" % label, got[:200])

    # 1. the spool pre-created by the neighbour
    sp = os.path.join(base, "pre")
    for sub in ("", "active", "ready", "claimed", "failed", "invalid"):
        os.makedirs(os.path.join(sp, sub), exist_ok=True)
    with open(os.path.join(sp, "ready", "20200101T000000Z-h-000001.jsonl"), "w") as f:
        f.write('{"id":"x","event":{"FORGED":true}}\n')
    chown_tree(sp, NEIGHBOUR)
    os.chmod(sp, 0o755)
    refused(sp, "a spool owned by another user", "owned by uid")
    claim_refuses(sp, "a spool owned by another user")
    check_says(sp, "a spool owned by another user", "owned by uid")

    # 2. lock as a symlink to a file of the web server's user
    sp = fresh("lock")
    victim = os.path.join(base, "victim")
    with open(victim, "wb") as f:
        f.write(b"the web server's own file\n")
    chown_tree(victim, WEB)
    os.unlink(os.path.join(sp, "lock"))
    os.symlink(victim, os.path.join(sp, "lock"))
    refused(sp, "lock a symlink", "symbolic link")
    T.check(hs.read_bytes(victim) == b"the web server's own file\n",
            "lock a symlink: the victim file is unchanged", hs.read_bytes(victim))
    check_says(sp, "lock a symlink", "lock is a symbolic link")

    # 3. ready/ and invalid/ as symlinks
    for sub in ("ready", "invalid"):
        sp = fresh("link-" + sub)
        elsewhere = os.path.join(base, "elsewhere-" + sub)
        os.mkdir(elsewhere)
        with open(os.path.join(elsewhere, "20200101T000000Z-h-000001.jsonl"), "w") as f:
            f.write('{"id":"x","event":{"FORGED":true}}\n')
        chown_tree(elsewhere, WEB)
        for n in os.listdir(os.path.join(sp, sub)):
            os.rename(os.path.join(sp, sub, n), os.path.join(elsewhere, n))
        os.rmdir(os.path.join(sp, sub))
        os.symlink(elsewhere, os.path.join(sp, sub))
        before = sorted(os.listdir(elsewhere))
        refused(sp, sub + "/ a symlink", "symbolic link")
        st, a, err = web_post(sp, b'{"not json",')
        T.check(sorted(os.listdir(elsewhere)) == before,
                "%s/ a symlink: nothing written through it (a bad body neither)" % sub,
                (before, os.listdir(elsewhere)))
        claim_refuses(sp, sub + "/ a symlink")
        check_says(sp, sub + "/ a symlink", "%s is a symbolic link" % sub)

    # 4. a forged segment in ready/ owned by another user
    sp = fresh("forged")
    forged = os.path.join(sp, "ready", "20200101T000000Z-h-000001.jsonl")
    with open(forged, "w") as f:
        f.write('{"id":"x","event":{"FORGED":true}}\n')
    chown_tree(forged, NEIGHBOUR)
    claim_refuses(sp, "a forged segment owned by another user")
    T.check(os.path.exists(forged), "the forged segment is left where it was", forged)

    # 5. a spool directory with mode 0777
    sp = fresh("mode")
    os.chmod(sp, 0o777)
    refused(sp, "a spool of mode 0777", "writable by others")
    claim_refuses(sp, "a spool of mode 0777")
    check_says(sp, "a spool of mode 0777", "writable by others")
    os.chmod(sp, 0o700)

    # 6. state.db as a symlink, and owned by another user
    sp = fresh("store")
    db = os.path.join(sp, "state.db")
    os.rename(db, db + ".real")
    os.symlink(db + ".real", db)
    refused(sp, "state.db a symlink", "symbolic link")
    check_says(sp, "state.db a symlink", "state.db is a symbolic link")
    os.unlink(db)
    os.rename(db + ".real", db)
    chown_tree(db, NEIGHBOUR)
    refused(sp, "state.db owned by another user", "owned by uid")
    check_says(sp, "state.db owned by another user", "owned by uid")

    # 7. a HOOKSPOOL_UMASK that lets others write
    sp = fresh("umask")
    for um in ("002", "000", "022"):
        check_says(sp, "HOOKSPOOL_UMASK=" + um, "HOOKSPOOL_UMASK", {"HOOKSPOOL_UMASK": um})
    rc, out, err = as_user([hs.CLI, "check", "-s", sp], env_cli)
    T.check(rc == 0, "an untouched spool: hookspool check says OK", (rc, out, err))


def main(T):
    tmp = T.tempdir()
    servers = []
    section_escaping(T, tmp, servers)
    section_umask(T, tmp, servers)
    section_huge(T, tmp, servers)
    section_content_length(T, tmp)
    section_error_paths(T, tmp, servers)
    section_log_injection(T, tmp)
    section_flood(T, tmp, servers)
    section_mixed(T, tmp, servers)
    section_planted(T, T.tempdir(owner="www-data"))
    for s in servers:
        s.stop()
    final_leak_check(T, servers, tmp)


if __name__ == "__main__":
    hs.Suite("test_security").run(main)
