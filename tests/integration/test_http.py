"""
test_http.py - SPEC section 4 end to end through a real lighttpd: the
answers, the lines they leave in the spool, the error log, and every
signature scheme once. Everything runs once with hookspool.fcgi as a
FastCGI backend and once as a plain CGI.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402

MAX_BODY = 2048
STATUS_TOKEN = "st-0f3c9a7e51b24d6c8e1f"
OTHER_SECRET = "NotTheRightSecret-5b1d0c8e9f2a"

GITHUB_DOC_SECRET = "It's a Secret to Everybody"
GITHUB_DOC_BODY = b"Hello, World!"
GITHUB_DOC_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

SCHEMES = {
    # url: (scheme, secret)
    "/s-github": ("github", GITHUB_DOC_SECRET),
    "/s-stripe": ("stripe", "whsec_stripeTestSecret7d1e2f3a4b5c6d7e"),
    "/s-standard": ("standard", "whsec_" + base64.b64encode(b"standard-webhooks-key-32-bytes!!").decode()),
    "/s-shopify": ("shopify", "shpss_shopifyTestSecret0a1b2c3d4e5f"),
    "/s-hmac": ("hmac-sha256-hex:Signature", "generic-hmac-secret-9e8d7c6b5a"),
    "/s-bearer": ("bearer", "pix-authorization-token-4c3b2a1908"),
    "/s-token": ("token:x-functions-key", "azure-functions-key-6f5e4d3c2b1a"),
}

_last_reject = [0.0]


def pace():
    """hookspool logs at most 10 lines a second per process: keep the
    rejections whose log line is checked at most ~8 a second."""
    wait = _last_reject[0] + 0.13 - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    _last_reject[0] = time.monotonic()


def lower(h):
    return {k.lower(): v for k, v in h.items()}


def hx(key, data, alg=hashlib.sha256):
    return hmac.new(key, data, alg).hexdigest()


b64 = hs.hmac_b64


def expected_ok(T, scheme, secret, body, h):
    """`hookspool sign` output checked against an independent HMAC."""
    h = lower(h)
    k = secret.encode()
    if scheme == "github":
        return h.get("x-hub-signature-256") == "sha256=" + hx(k, body)
    if scheme == "stripe":
        m = re.match(r"^t=(\d+),v1=([0-9a-f]{64})$", h.get("stripe-signature", ""))
        return bool(m) and m.group(2) == hx(k, m.group(1).encode() + b"." + body)
    if scheme == "standard":
        key = base64.b64decode(secret[len("whsec_"):])
        mid, ts = h.get("webhook-id", ""), h.get("webhook-timestamp", "")
        return bool(mid) and ts.isdigit() and h.get("webhook-signature") == \
            "v1," + b64(key, ("%s.%s." % (mid, ts)).encode() + body)
    if scheme == "shopify":
        return h.get("x-shopify-hmac-sha256") == b64(k, body)
    if scheme == "hmac-sha256-hex:Signature":
        return (h.get("signature") or "").lower() == hx(k, body)
    if scheme == "bearer":
        return h.get("authorization") == "Bearer " + secret
    if scheme == "token:x-functions-key":
        return h.get("x-functions-key") == secret
    return False


def json_answer(T, what, st, hdrs, body, want_status, want=None):
    ok = T.check(st == want_status, "%s: status %s" % (what, want_status), (st, body))
    ct = hdrs.get("content-type", "")
    T.check(ct.startswith("application/json"), "%s: application/json" % what, ct)
    j = hs.one_line_json(body)
    T.check(j is not None, "%s: one-line JSON body" % what, body)
    if want is not None:
        T.check(j == want, "%s: body %s" % (what, json.dumps(want)), body)
    return ok, j


def reject(T, srv, what, st_want, err, method, path, body=None, headers=None, chunked=False,
           log_reason=None):
    """One rejected request: its answer, and exactly one log line with
    the reason."""
    pace()
    off = srv.log_size()
    if method == "POST":
        st, h, b = srv.post(body, headers, path=path, chunked=chunked)
    else:
        st, h, b = srv.request(method, path, body, headers)
    if method == "HEAD":
        T.check(st == st_want, "%s: status %s" % (what, st_want), (st, b))
        T.check(b == b"", "%s: no body" % what, b)
    else:
        json_answer(T, what, st, h, b, st_want, {"ok": False, "error": err})
    reason = log_reason or err
    text = srv.wait_log(off, r"reason=%s\b" % re.escape(reason))
    lines = [l for l in text.splitlines() if "hookspool" in l]
    T.check(len(lines) == 1 and ("reason=%s" % reason) in lines[0],
            "%s: one log line with reason=%s" % (what, reason), text)
    return st, h, b


def check_lines(T, what, lines, answered, bodies, endpoint):
    """The spool lines (one per answered id, in order) against the bodies
    that were posted."""
    objs, bad = hs.parse_lines(lines)
    T.check(not bad, "%s: every line is one JSON object ending in a newline" % what, bad[:3])
    T.check(len(objs) == len(answered), "%s: one line per 200 (%d)" % (what, len(answered)),
            len(objs))
    if bad or len(objs) != len(answered):
        return
    ids = [o.get("id") for o in objs]
    T.check(ids == answered, "%s: line ids are the answered ids, in order" % what,
            (ids, answered))
    T.check(len({len(i or "") for i in ids}) == 1 and all(hs.ID_RE.match(i or "") for i in ids),
            "%s: ids of one fixed width" % what, ids)
    T.check(all(a < b for a, b in zip(ids, ids[1:])), "%s: ids strictly increasing" % what, ids)
    T.check(all(hs.TS_RE.match(o.get("received_at") or "") for o in objs),
            "%s: received_at like 2026-11-22T10:00:00.123Z" % what,
            [o.get("received_at") for o in objs])
    T.check(all(o.get("endpoint") == endpoint for o in objs),
            "%s: endpoint %s" % (what, endpoint), [o.get("endpoint") for o in objs])
    for (path, raw), o, body in zip(lines, objs, bodies):
        mini = hs.minify(body)
        T.check(raw.endswith(b',"event":' + mini + b"}\n") or (b'"event":' + mini) in raw,
                "%s: event is the body minus inter-token whitespace, byte for byte" % what,
                (raw[-300:], mini[-300:]))
        T.check(o.get("event") == json.loads(body), "%s: event parses to the body" % what)


def section_caliza(T, srv, spool):
    T.section("%s: Caliza examples" % srv.mode)
    answered, bodies = [], []
    for name in hs.CALIZA_EXAMPLES:
        body = hs.caliza_example(name)
        h = hs.sign(body)
        st, hd, b = srv.post(body, h, path="/caliza")
        ok, j = json_answer(T, "POST %s" % name, st, hd, b, 200)
        if ok and j:
            T.check(j.get("ok") is True and isinstance(j.get("id"), str) and set(j) == {"ok", "id"},
                    "POST %s: {\"ok\":true,\"id\":...}" % name, j)
            answered.append(j.get("id"))
            bodies.append(body)
    lines = hs.spool_lines(spool)
    T.check(all("/active/" in p for p, _ in lines), "lines are in SPOOL/active/*.jsonl",
            [p for p, _ in lines])
    check_lines(T, "caliza examples", lines, answered, bodies, "caliza")
    raw = b"".join(l for _, l in lines)
    T.check(b'"value":500.00' in raw and b'"value":14.80' in raw,
            "number text kept as sent (500.00, 14.80)")
    return answered, bodies


def section_rejections(T, srv, spool):
    T.section("%s: rejections" % srv.mode)
    before = len(hs.spool_lines(spool))
    body, _ = hs.caliza_event()
    good = hs.sign(body)
    wrong = hs.sign(body, secret=OTHER_SECRET)
    reject(T, srv, "wrong signature", 401, "bad_signature", "POST", "/caliza", body, wrong)
    tampered = body.replace(b'"success": true', b'"success": false')
    assert tampered != body
    reject(T, srv, "tampered body", 401, "bad_signature", "POST", "/caliza", tampered, good)
    reject(T, srv, "garbage signature", 401, "bad_signature", "POST", "/caliza", body,
           {hs.CALIZA_HEADER: "not base64 at all!"})
    reject(T, srv, "missing signature", 401, "missing_signature", "POST", "/caliza", body, {})

    for what, bad in (("empty body", b""),
                      ("BOM-prefixed body", b"\xef\xbb\xbf" + body),
                      ("trailing comma", b'{"operation": "X", "resourceId": "1",}'),
                      ("text body", b"Hello, World!"),
                      ("two JSON texts", b'{"a":1} {"b":2}')):
        reject(T, srv, "signed %s" % what, 400, "bad_json", "POST", "/caliza", bad, hs.sign(bad))

    # Size: exactly MAX_BODY is fine, one byte more is not.
    def sized(n):
        head = b'{"operation":"PAD","resourceId":"%s","pad":"' % hs.unique_hex().encode()
        tail = b'"}'
        return head + b"x" * (n - len(head) - len(tail)) + tail
    at = sized(MAX_BODY)
    st, hd, b = srv.post(at, hs.sign(at), path="/caliza")
    T.check(st == 200, "body of exactly HOOKSPOOL_MAX_BODY=%d bytes: 200" % MAX_BODY, (st, b))
    accepted_extra = [(hs.one_line_json(b) or {}).get("id")] if st == 200 else []
    over = sized(MAX_BODY + 1)
    reject(T, srv, "body of MAX_BODY+1 bytes", 413, "too_large", "POST", "/caliza", over,
           hs.sign(over))
    big = sized(3 * MAX_BODY)
    reject(T, srv, "unsigned body over MAX_BODY", 413, "too_large", "POST", "/caliza", big, {})
    reject(T, srv, "chunked body over MAX_BODY", 413, "too_large", "POST", "/caliza", big,
           hs.sign(big), chunked=True)
    small, _ = hs.caliza_event()
    st, hd, b = srv.post(small, hs.sign(small), path="/caliza", chunked=True)
    T.check(st == 200, "chunked body under MAX_BODY: 200", (st, b))
    if st == 200:
        accepted_extra.append((hs.one_line_json(b) or {}).get("id"))

    for m in ("PUT", "DELETE"):
        st, h, b = reject(T, srv, m, 405, "bad_method", m, "/caliza",
                          body if m == "PUT" else None, good if m == "PUT" else {})
        T.check(h.get("allow") == "POST, GET, HEAD", "%s: Allow: POST, GET, HEAD" % m, h)

    after = hs.spool_lines(spool)
    T.check(len(after) == before + len(accepted_extra),
            "rejected requests appended nothing", (before, len(after), accepted_extra))
    ids = [json.loads(l).get("id") for _, l in after[-len(accepted_extra):]] if accepted_extra else []
    T.check(ids == accepted_extra, "the accepted size-limit/chunked events are the last lines",
            (ids, accepted_extra))


def section_status(T, srv):
    T.section("%s: status" % srv.mode)
    # No HOOKSPOOL_STATUS_TOKEN on /caliza: only status and reasons.
    st, h, b = srv.get("/caliza")
    ok, j = json_answer(T, "GET status without a token configured", st, h, b, 200,
                        {"status": "ok", "reasons": []})
    T.check(b == b'{"status":"ok","reasons":[]}\n', "GET status without a token configured: "
            "exactly status and reasons, nothing more", b[:300])
    st, h, b = srv.request("HEAD", "/caliza")
    T.check(st == 200 and b == b"", "HEAD status: 200 without a body", (st, b))
    T.check(h.get("content-type", "").startswith("application/json"), "HEAD: application/json", h)
    st, h, b = reject(T, srv, "GET ?format=prometheus without a token configured", 401,
                      "unauthorized", "GET", "/caliza?format=prometheus", None, {})
    T.check(h.get("www-authenticate", "").startswith("Bearer") and b"hookspool_" not in b,
            "Prometheus without a token configured: WWW-Authenticate: Bearer, no figure",
            (h, b[:200]))

    # HOOKSPOOL_STATUS_TOKEN
    for what, hdr in (("no Authorization", {}),
                      ("wrong token", {"Authorization": "Bearer wrong-" + STATUS_TOKEN}),
                      ("token without Bearer", {"Authorization": STATUS_TOKEN}),
                      ("Basic auth", {"Authorization": "Basic " + base64.b64encode(
                          b"u:" + STATUS_TOKEN.encode()).decode()})):
        st, h, b = reject(T, srv, "GET status, %s" % what, 401, "unauthorized", "GET",
                          "/guarded", None, hdr)
        T.check(h.get("www-authenticate", "").startswith("Bearer"),
                "GET status, %s: WWW-Authenticate: Bearer" % what, h)
    st, h, b = reject(T, srv, "HEAD status, no Authorization", 401, "unauthorized", "HEAD",
                      "/guarded", None, {})
    T.check(h.get("www-authenticate", "").startswith("Bearer"),
            "HEAD status without token: WWW-Authenticate: Bearer", h)
    st, h, b = srv.get("/guarded", {"Authorization": "Bearer " + STATUS_TOKEN})
    ok, j = json_answer(T, "GET status with the right token", st, h, b, 200)
    T.check(bool(j) and j.get("endpoint") == "guarded", "guarded status names its endpoint", j)
    if j:
        T.check(j.get("status") == "ok" and isinstance(j.get("reasons"), list) and
                j.get("version") == "1.0.0" and j.get("scheme") == "caliza" and
                "counters" in j and "spool" in j,
                "GET status with the token: status, reasons, version, endpoint, scheme, "
                "counters, spool", j)
    st, h, b = srv.request("HEAD", "/guarded", None, {"Authorization": "Bearer " + STATUS_TOKEN})
    T.check(st == 200 and b == b"", "HEAD status with the right token: 200", (st, b))
    body, _ = hs.caliza_event()
    st, h, b = srv.post(body, hs.sign(body), path="/guarded")
    T.check(st == 200, "POST needs no status token", (st, b))


def section_schemes(T, srv, tmp):
    T.section("%s: schemes" % srv.mode)
    # GitHub's documented test vector, through hookspool sign and the server.
    env_h = hs.sign(GITHUB_DOC_BODY, scheme="github", secret=GITHUB_DOC_SECRET)
    T.check(lower(env_h).get("x-hub-signature-256") == GITHUB_DOC_SIG,
            "hookspool sign reproduces GitHub's documented signature", env_h)
    st, h, b = srv.post(GITHUB_DOC_BODY, {"X-Hub-Signature-256": GITHUB_DOC_SIG,
                                          "X-GitHub-Event": "ping",
                                          "X-GitHub-Delivery": "doc-vector"}, path="/s-github")
    json_answer(T, "github docs vector (signed, not JSON)", st, h, b, 400,
                {"ok": False, "error": "bad_json"})
    st, h, b = srv.post(GITHUB_DOC_BODY, {"X-Hub-Signature-256": GITHUB_DOC_SIG.upper().replace(
        "SHA256=", "sha256=")}, path="/s-github")
    T.check(st == 400, "github docs vector with upper-case hex: still verified (400 bad_json)",
            (st, b))

    now = int(time.time())
    for url, (scheme, secret) in SCHEMES.items():
        spool = tmp.join("spool" + url)
        body = json.dumps({"id": "evt_" + hs.unique_hex(), "type": "test.event",
                           "amount": 1250.50, "note": "scheme %s" % scheme},
                          indent=2).encode().replace(b"1250.5", b"1250.50")
        h = hs.sign(body, scheme=scheme, secret=secret)
        T.check(expected_ok(T, scheme, secret, body, h),
                "%s: hookspool sign matches an independent computation" % scheme, h)
        extra = {}
        if scheme == "github":
            extra = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-" + hs.unique_hex(),
                     "X-GitHub-Hook-ID": "42"}
        if scheme == "shopify":
            extra = {"X-Shopify-Topic": "orders/create", "X-Shopify-Event-Id": "e-" + hs.unique_hex(),
                     "X-Shopify-Shop-Domain": "shop.example"}
        st, hd, b = srv.post(body, dict(h, **extra), path=url)
        ok, j = json_answer(T, "%s: signed POST" % scheme, st, hd, b, 200)
        lines = hs.spool_lines(spool)
        objs, bad = hs.parse_lines(lines)
        if T.check(len(objs) == 1 and not bad, "%s: one line in its spool" % scheme, lines):
            o = objs[0]
            T.check(o.get("endpoint") == scheme, "%s: endpoint defaults to the scheme" % scheme,
                    o.get("endpoint"))
            T.check(o.get("event") == json.loads(body) and
                    (b'"event":' + hs.minify(body)) in lines[0][1],
                    "%s: event kept byte for byte" % scheme)
            T.check(bool(j) and o.get("id") == j.get("id"), "%s: answered id is the line's" % scheme)
            kept = lower(o.get("headers") or {})
            if scheme == "github":
                T.check(kept.get("x-github-event") == "push" and
                        kept.get("x-github-delivery") == extra["X-GitHub-Delivery"],
                        "github: X-GitHub-Event and X-GitHub-Delivery kept", o.get("headers"))
            if scheme == "shopify":
                T.check(kept.get("x-shopify-topic") == "orders/create",
                        "shopify: X-Shopify-Topic kept", o.get("headers"))
            if scheme == "standard":
                T.check(kept.get("webhook-id") == lower(h).get("webhook-id"),
                        "standard: webhook-id kept", o.get("headers"))
        tampered = body.replace(b"1250.50", b"9250.50")
        if scheme in ("bearer", "token:x-functions-key"):
            wrong = {k: v[:-4] + "XXXX" for k, v in h.items()}
            for v in wrong.values():
                hs._remember_macs(v)
            st, hd, b = srv.post(body, wrong, path=url)
            json_answer(T, "%s: wrong token" % scheme, st, hd, b, 401,
                        {"ok": False, "error": "bad_signature"})
        else:
            t_extra = dict(extra)
            if scheme == "github":
                t_extra["X-GitHub-Delivery"] = "d-" + hs.unique_hex()
            st, hd, b = srv.post(tampered, dict(h, **t_extra), path=url)
            json_answer(T, "%s: tampered body" % scheme, st, hd, b, 401,
                        {"ok": False, "error": "bad_signature"})
        st, hd, b = srv.post(body, {}, path=url)
        json_answer(T, "%s: no signature" % scheme, st, hd, b, 401,
                    {"ok": False, "error": "missing_signature"})
        if scheme in ("stripe", "standard"):
            old = hs.sign(body, scheme=scheme, secret=secret, t=now - 1000)
            st, hd, b = srv.post(body, old, path=url)
            json_answer(T, "%s: timestamp 1000 s old" % scheme, st, hd, b, 401,
                        {"ok": False, "error": "expired_timestamp"})
            future = hs.sign(body, scheme=scheme, secret=secret, t=now + 1000)
            st, hd, b = srv.post(body, future, path=url)
            T.check(st == 401, "%s: timestamp 1000 s ahead: 401" % scheme, (st, b))
        if scheme == "standard":
            body2 = body.replace(b"scheme standard", b"scheme svix")
            h2 = lower(hs.sign(body2, scheme=scheme, secret=secret, msg_id="msg_" + hs.unique_hex()))
            svix = {"svix-id": h2["webhook-id"], "svix-timestamp": h2["webhook-timestamp"],
                    "svix-signature": h2["webhook-signature"]}
            st, hd, b = srv.post(body2, svix, path=url)
            json_answer(T, "standard with svix- header names", st, hd, b, 200)
            # several signatures, unknown versions skipped
            body3 = body.replace(b"scheme standard", b"scheme multi")
            h3 = lower(hs.sign(body3, scheme=scheme, secret=secret, msg_id="msg_" + hs.unique_hex()))
            multi = {"webhook-id": h3["webhook-id"], "webhook-timestamp": h3["webhook-timestamp"],
                     "webhook-signature": "v2,AAAA v1,%s %s" % (
                         base64.b64encode(b"x" * 32).decode(), h3["webhook-signature"])}
            st, hd, b = srv.post(body3, multi, path=url)
            T.check(st == 200, "standard: a list of signatures, one valid, unknown versions skipped",
                    (st, b))
        if scheme == "stripe":
            body2 = body.replace(b"scheme stripe", b"scheme stripe2")
            h2 = lower(hs.sign(body2, scheme=scheme, secret=secret))
            t = re.search(r"t=(\d+)", h2["stripe-signature"]).group(1)
            v1 = re.search(r"v1=([0-9a-f]+)", h2["stripe-signature"]).group(1)
            hdr = "t=%s,v0=%s,v1=%s,v1=%s" % (t, "0" * 64, "1" * 64, v1)
            st, hd, b = srv.post(body2, {"Stripe-Signature": hdr}, path=url)
            T.check(st == 200, "stripe: several v1 values, one valid, v0 ignored", (st, b))


def section_unwritable(T, mode):
    T.section("%s: unwritable spool (server as www-data)" % mode)
    tmp = T.tempdir(owner="www-data")
    ro = tmp.mkdir("ro", mode=0o755, own=False)          # root's, read-only to www-data
    okspool = tmp.join("spool-ok")
    env = {"HOOKSPOOL_SECRET": hs.DEMO_SECRET}
    srv = T.server(tmp, mode=mode, name="www", user="www-data", env=env, routes=[
        {"url": "/ok", "setenv": {"HOOKSPOOL_SPOOL": okspool}},
        {"url": "/ro", "setenv": {"HOOKSPOOL_SPOOL": os.path.join(ro, "spool")}},
    ])
    body, _ = hs.caliza_event()
    st, h, b = srv.post(body, hs.sign(body), path="/ok")
    T.check(st == 200, "www-data: POST to a writable spool: 200", (st, b))
    if os.path.isdir(okspool):
        T.check(os.stat(okspool).st_uid == 33 or hs.pwd.getpwuid(os.stat(okspool).st_uid).pw_name
                == "www-data", "www-data: the spool belongs to www-data")
    off = srv.log_size()
    body, _ = hs.caliza_event()
    st, h, b = srv.post(body, hs.sign(body), path="/ro")
    ok, j = json_answer(T, "unwritable spool", st, h, b, 503)
    T.check(bool(j) and j.get("ok") is False and isinstance(j.get("error"), str),
            "unwritable spool: {\"ok\":false,\"error\":...}", j)
    T.check(re.fullmatch(r"\d+", h.get("retry-after", "")) is not None,
            "unwritable spool: Retry-After", h)
    text = srv.wait_log(off, r"status=503")
    T.check(re.search(r"reason=\w+", text) is not None and "status=503" in text,
            "unwritable spool: a log line with the reason (www-data's stderr reaches the log)",
            text)
    T.check(not os.path.exists(os.path.join(ro, "spool")), "nothing created in the read-only dir")
    hs.check_no_leaks(T, [srv], [tmp.path])


FULL_TMPFS = "1m"


def section_full(T, mode, dedup=None):
    # A tmpfs of its own as the spool's file system. 64 KiB is too small
    # since the dedup store (SQLite: db, -wal, -shm) alone takes that much;
    # a 1 MiB tmpfs is filled up to the last 8 KiB after the first event.
    T.section("%s: full spool (%s tmpfs, filled)%s" % (
        mode, FULL_TMPFS, ", HOOKSPOOL_DEDUP=%s" % dedup if dedup else ""))
    tmp = T.tempdir()
    full = tmp.join("full")
    T.mount_tmpfs(full, FULL_TMPFS)
    spool = os.path.join(full, "spool")
    env = {"HOOKSPOOL_SECRET": hs.DEMO_SECRET, "HOOKSPOOL_SPOOL": spool}
    if dedup:
        env["HOOKSPOOL_DEDUP"] = dedup
    srv = T.server(tmp, mode=mode, name="full", env=env, url="/full")
    answered = []
    statuses = []

    def post_one(body=None, headers=None):
        if body is None:
            body, _ = hs.caliza_event()
            headers = hs.sign(body)
        st, h, b = srv.post(body, headers, path="/full")
        j = hs.one_line_json(b) or {}
        statuses.append(st)
        if st == 200 and j.get("id"):
            answered.append(j["id"])
        return st, h, b, j, body, headers

    st, h, b, j, _, _ = post_one()
    T.check(st == 200, "empty %s tmpfs: the first event is accepted" % FULL_TMPFS, (st, b))
    # Fill the file system, then give back two pages: a few more events
    # fit, then a write runs out of space (maybe in the middle of a line).
    filler = os.path.join(full, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(2048):
            try:
                if os.write(fd, b"\0" * 4096) < 4096:
                    break
            except OSError:
                break
    finally:
        os.close(fd)
    try:
        os.truncate(filler, max(0, os.path.getsize(filler) - 8192))
    except OSError as e:
        T.check(False, "filler", repr(e))
    last = None
    for _ in range(300):
        last = post_one()
        if last[0] != 200:
            break
    st, h, b, j, failed_body, failed_headers = last
    T.note("%d events accepted before the spool filled up" % len(answered))
    json_answer(T, "full spool", st, h, b, 503)
    T.check(j.get("ok") is False and j.get("error") == "spool_full",
            "full spool: error spool_full", j)
    T.check(re.fullmatch(r"\d+", h.get("retry-after", "")) is not None, "full spool: Retry-After", h)
    T.check(all(s in (200, 503) for s in statuses), "full spool: only 200 and 503 answers", statuses)
    st2, h2, b2, j2, _, _ = post_one()
    T.check(st2 == 503, "still full: 503 again", (st2, b2))
    objs, bad = hs.parse_lines(hs.spool_lines(spool))
    T.check(not bad, "full spool: no partial line, every line parses", bad[:3])
    ids = [o.get("id") for o in objs]
    T.check(ids == answered, "full spool: exactly the answered events are in it, nothing of the 503s",
            (len(ids), len(answered)))
    os.unlink(filler)
    # The sender retries the event that got 503: accepted, not a duplicate.
    st3, h3, b3, j3, _, _ = post_one(failed_body, failed_headers)
    T.check(st3 == 200 and isinstance(j3.get("id"), str),
            "space freed: the retried 503 event is accepted (not a duplicate)", (st3, b3))
    st4, h4, b4, j4, _, _ = post_one()
    T.check(st4 == 200, "space freed: a new event is accepted", (st4, b4))
    objs, bad = hs.parse_lines(hs.spool_lines(spool))
    T.check(not bad and [o.get("id") for o in objs] == answered,
            "after recovery: every line parses, one per answered event", (bad[:3], len(objs)))
    rid = json.loads(failed_body)["resourceId"]
    T.check(sum(1 for o in objs if (o.get("event") or {}).get("resourceId") == rid) == 1,
            "the retried event is in the spool exactly once")
    text = srv.log()
    T.check("reason=spool_full" in text, "full spool: logged with reason=spool_full", text[-500:])
    srv.stop()
    hs.check_no_leaks(T, [srv], [tmp.path])


def run_mode(T, mode):
    T.section("===== mode %s =====" % mode)
    tmp = T.tempdir()
    spool = tmp.join("spool")
    env = {"HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_SECRET": hs.DEMO_SECRET,
           "HOOKSPOOL_MAX_BODY": str(MAX_BODY)}
    routes = [
        {"url": "/caliza", "setenv": {}},
        {"url": "/guarded", "setenv": {"HOOKSPOOL_STATUS_TOKEN": STATUS_TOKEN,
                                       "HOOKSPOOL_ENDPOINT": "guarded",
                                       "HOOKSPOOL_SPOOL": tmp.join("spool-guarded")}},
    ]
    for url, (scheme, secret) in SCHEMES.items():
        routes.append({"url": url, "setenv": {"HOOKSPOOL_SCHEME": scheme, "HOOKSPOOL_SECRET": secret,
                                              "HOOKSPOOL_SPOOL": tmp.join("spool" + url)}})
        hs.remember_secret(secret)
    hs.remember_secret(STATUS_TOKEN)
    srv = T.server(tmp, mode=mode, name="main", env=env, routes=routes)
    # lighttpd may write the line a moment after it accepts connections.
    T.check("server started" in srv.wait_log(0, "server started"),
            "%s: lighttpd writes its error log" % mode)
    section_caliza(T, srv, spool)
    section_rejections(T, srv, spool)
    section_status(T, srv)
    section_schemes(T, srv, tmp)
    srv.stop()
    T.check(not srv.leftover, "%s: no process left after lighttpd stopped" % mode, srv.leftover)
    log = srv.log()
    T.check("hookspool" in log, "%s: the program's stderr lands in server.errorlog" % mode)
    hs.check_no_leaks(T, [srv], [tmp.path])
    section_unwritable(T, mode)
    section_full(T, mode)
    section_full(T, mode, dedup="off")


def main(T):
    for name in (hs.FCGI, hs.CLI):
        if not os.access(name, os.X_OK):
            raise RuntimeError("%s not built (run make)" % name)
    T.section("hookspool sign against the seed's signatures.txt")
    with open(os.path.join(hs.DATA, "signatures.txt")) as f:
        for line in f:
            if not line.strip():
                continue
            name, sig = line.split()
            h = hs.sign(hs.caliza_example(name))
            T.check(h.get(hs.CALIZA_HEADER) == sig, "sign %s" % name, (h, sig))
    section_no_signer(T)
    for mode in ("fcgi", "cgi"):
        run_mode(T, mode)


def section_no_signer(T):
    """Only the command-line tool signs (lib/sign.h): the program that
    faces the network links none of the signing module's code. The CLI
    shows the check can see the module where it is linked."""
    T.section("no signing code in hookspool.fcgi")

    def symbols(path, *opts):
        r = subprocess.run(["nm", "--defined-only"] + list(opts) + [path],
                           capture_output=True, text=True, timeout=60)
        return r.returncode, {l.split()[-1] for l in r.stdout.splitlines() if l.strip()}

    rc, sign = symbols(os.path.join(hs.BUILD, "obj", "sign.o"), "--extern-only")
    T.check(rc == 0 and "hs_sign_headers" in sign, "nm lists the signing module's symbols",
            (rc, sorted(sign)))
    rc, cli = symbols(hs.CLI)
    T.check(rc == 0 and sign and sign <= cli, "hookspool links the signing module", rc)
    rc, fcgi = symbols(hs.FCGI)
    T.check(rc == 0 and "hs_sig_verify" in fcgi and not (sign & fcgi),
            "hookspool.fcgi verifies and links none of the signing module",
            (rc, sorted(sign & fcgi)))


if __name__ == "__main__":
    hs.Suite("test_http").run(main)
