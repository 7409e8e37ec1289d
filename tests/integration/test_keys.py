"""
test_keys.py - issue 16 through a real lighttpd (FastCGI): the senders
that sign with a private key (discord, sendgrid, standard's v1a), those
whose signature covers the URL they called (twilio, square), and form
bodies (Slack's slash commands, GitHub's `form` hooks with payload=,
Twilio's form posts).

Valid requests are built here from each provider's documented rule with
Python (hmac, and the cryptography package's Ed25519 and ECDSA), never
with hookspool's signer; the providers' SDKs pinned in tests/oracle/
(twilio, discord-interactions, @sendgrid/eventwebhook, standardwebhooks)
verify both these requests and what `hookspool sign` prints. Without
node or tests/oracle/node_modules those checks FAIL: none is skipped.
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402
from test_senders import oracle  # noqa: E402  (one runner of oracle.js)

TWILIO_TOKEN = "twilio-auth-token-12345678"
SQUARE_KEY = "square-signature-key-abcdef12"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
GITHUB_SECRET = "github-form-secret-0123456"
MAILGUN_KEY = "key-mailgun-form-signing-5d4c3b2a"
WHSEC = "whsec_" + base64.b64encode(b"standard-webhooks-secret-32bytes").decode()
PUBLIC = "https://hooks.example.test"
STATUS_TOKEN = "st-" + os.urandom(12).hex()


def pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ed_hex(key):
    return key.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw).hex()


def ed_whpk(key):
    return "whpk_" + base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def ec_b64(key):
    return base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


KEYS = {"discord": ed25519.Ed25519PrivateKey.generate(),
        "standard": ed25519.Ed25519PrivateKey.generate(),
        "sendgrid": ec.generate_private_key(ec.SECP256R1()),
        "other-ed": ed25519.Ed25519PrivateKey.generate(),
        "other-ec": ec.generate_private_key(ec.SECP256R1())}


def twilio_sig(url, params, token=TWILIO_TOKEN):
    """Twilio's documented rule: the URL, then each parameter's name and
    value sorted by name; HMAC-SHA1, Base64."""
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def build(scheme, body, t, key=None, url=None, query=""):
    """(headers, body, query) a sender of scheme sends."""
    ts = str(int(t))
    if scheme == "discord":
        k = key or KEYS["discord"]
        return {"X-Signature-Timestamp": ts,
                "X-Signature-Ed25519": k.sign(ts.encode() + body).hex()}, body, query
    if scheme == "sendgrid":
        k = key or KEYS["sendgrid"]
        sig = k.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {"X-Twilio-Email-Event-Webhook-Timestamp": ts,
                "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode()}, body, query
    if scheme in ("standard-pk", "standard-mixed"):
        k = key or KEYS["standard"]
        mid = "msg_" + os.urandom(12).hex()
        signed = ("%s.%s." % (mid, ts)).encode() + body
        sig = "v1a," + base64.b64encode(k.sign(signed)).decode()
        if scheme == "standard-mixed":
            # A v1 HMAC of another secret beside the v1a that matches.
            wrong = base64.b64encode(hmac.new(b"not-the-secret", signed, hashlib.sha256).digest())
            sig = "v1," + wrong.decode() + " " + sig
        return {"webhook-id": mid, "webhook-timestamp": ts, "webhook-signature": sig}, body, query
    if scheme == "twilio":
        u = (url or PUBLIC + "/twilio") + ("?" + query if query else "")
        params = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
        return {"X-Twilio-Signature": twilio_sig(u, params),
                "Content-Type": "application/x-www-form-urlencoded"}, body, \
            ("?" + query if query else "")
    if scheme == "twilio-json":
        q = (query + "&" if query else "") + "bodySHA256=" + hashlib.sha256(body).hexdigest()
        u = (url or PUBLIC + "/twilio") + "?" + q
        return {"X-Twilio-Signature": twilio_sig(u, [])}, body, "?" + q
    if scheme == "square":
        u = (url or PUBLIC + "/square") + ("?" + query if query else "")
        mac = hmac.new(SQUARE_KEY.encode(), u.encode() + body, hashlib.sha256).digest()
        return {"x-square-hmacsha256-signature": base64.b64encode(mac).decode()}, body, \
            ("?" + query if query else "")
    if scheme == "slack-form":
        mac = hmac.new(SLACK_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + mac.hexdigest(),
                "Content-Type": "application/x-www-form-urlencoded"}, body, query
    if scheme == "github-form":
        mac = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": "sha256=" + mac, "X-GitHub-Delivery": os.urandom(12).hex(),
                "Content-Type": "application/x-www-form-urlencoded"}, body, query
    raise ValueError(scheme)


def routes_for(tmp):
    spools, routes = {}, []
    cfg = {
        "discord": {"HOOKSPOOL_SCHEME": "discord", "HOOKSPOOL_PUBLIC_KEY": ed_hex(KEYS["discord"])},
        "sendgrid": {"HOOKSPOOL_SCHEME": "sendgrid", "HOOKSPOOL_PUBLIC_KEY": ec_b64(KEYS["sendgrid"])},
        "standard-pk": {"HOOKSPOOL_SCHEME": "standard",
                        "HOOKSPOOL_PUBLIC_KEY": ed_whpk(KEYS["standard"])},
        "standard-mixed": {"HOOKSPOOL_SCHEME": "standard", "HOOKSPOOL_SECRET": WHSEC,
                           "HOOKSPOOL_PUBLIC_KEY": ed_whpk(KEYS["other-ed"]),
                           "HOOKSPOOL_PUBLIC_KEY_OLD": ed_whpk(KEYS["standard"])},
        "twilio": {"HOOKSPOOL_SCHEME": "twilio", "HOOKSPOOL_SECRET": TWILIO_TOKEN,
                   "HOOKSPOOL_PUBLIC_URL": PUBLIC + "/twilio"},
        "square": {"HOOKSPOOL_SCHEME": "square", "HOOKSPOOL_SECRET": SQUARE_KEY,
                   "HOOKSPOOL_PUBLIC_URL": PUBLIC + "/square"},
        "slack-form": {"HOOKSPOOL_SCHEME": "slack", "HOOKSPOOL_SECRET": SLACK_SECRET},
        "github-form": {"HOOKSPOOL_SCHEME": "github", "HOOKSPOOL_SECRET": GITHUB_SECRET,
                        "HOOKSPOOL_FORM_JSON": "payload"},
        "mailgun-form": {"HOOKSPOOL_SCHEME": "mailgun", "HOOKSPOOL_SECRET": MAILGUN_KEY},
    }
    for name, env in cfg.items():
        spools[name] = tmp.join("spool-" + name)
        env = dict(env, HOOKSPOOL_SPOOL=spools[name], HOOKSPOOL_FSYNC="never",
                   HOOKSPOOL_STATUS_TOKEN=STATUS_TOKEN, HOOKSPOOL_ENDPOINT=name)
        routes.append({"url": "/" + name, "setenv": env})
        for k in ("HOOKSPOOL_SECRET",):
            if k in env:
                hs.remember_secret(env[k])
    return routes, spools


def lines(spool):
    return [json.loads(l) for _, l in hs.spool_lines(spool)]


def post(srv, name, h, body, query=""):
    return srv.post(body, headers=h, path="/" + name + query)


def cli_sign(args, body, env=None):
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    e.update(env or {})
    r = subprocess.run([hs.CLI, "sign"] + args, input=body, capture_output=True, env=e, timeout=60)
    h = {}
    for line in r.stdout.decode().splitlines():
        if line.strip():
            n, _, v = line.partition(":")
            h[n.strip()] = v.strip()
    return r.returncode, h, r.stderr.decode()


def event():
    n = os.urandom(12).hex()
    return json.dumps({"id": n, "event_id": "ev_" + n, "type": 2, "data": {"id": n}}).encode()


def section_sdk(T, tmp):
    T.section("the providers' SDKs accept these requests and hookspool sign's; refuse tampering")
    now = int(time.time())
    keyfile = {}
    for name in ("discord", "sendgrid", "standard"):
        keyfile[name] = tmp.join(name + ".pem")
        with open(keyfile[name], "wb") as f:
            f.write(pem(KEYS[name]))
    for scheme, op, pub in (("discord", "discord", ed_hex(KEYS["discord"])),
                            ("sendgrid", "sendgrid", ec_b64(KEYS["sendgrid"]))):
        body = event()
        h, b, _ = build(scheme, body, now)
        lh = {k.lower(): v for k, v in h.items()}
        sig = [v for k, v in lh.items() if "signature" in k and "timestamp" not in k][0]
        ts = [v for k, v in lh.items() if "timestamp" in k][0]
        q = {"op": op, "body": b.decode(), "signature": sig, "timestamp": ts, "public_key": pub}
        ok, err = oracle(q)
        T.check(ok, "%s: the SDK accepts the request built from the documented rule" % scheme, err)
        rc, h2, e2 = cli_sign(["--scheme", scheme, "--key", keyfile[scheme], "--time", str(now)], body)
        lh2 = {k.lower(): v for k, v in h2.items()}
        q2 = dict(q, signature=[v for k, v in lh2.items() if "signature" in k and "timestamp" not in k]
                  [0] if lh2 else "")
        ok, err = oracle(q2)
        T.check(rc == 0 and ok, "%s: the SDK accepts `hookspool sign --key`" % scheme, (e2, err))
        ok, err = oracle(dict(q, body=b.decode().replace('"type": 2', '"type": 3')))
        T.check(not ok and "unknown op" not in str(err), "%s: the SDK refuses a changed body" % scheme, err)
        ok, err = oracle(dict(q, public_key=ed_hex(KEYS["other-ed"]) if scheme == "discord"
                              else ec_b64(KEYS["other-ec"])))
        T.check(not ok and "unknown op" not in str(err), "%s: the SDK refuses another key" % scheme, err)

    # Twilio: a form post and a JSON post (bodySHA256).
    form = b"CallSid=CA123&From=%2B15551234567&Body=hello+world&To=%2B15557654321"
    h, b, qs = build("twilio", form, now, query="x=1")
    params = dict(urllib.parse.parse_qsl(form.decode(), keep_blank_values=True))
    q = {"op": "twilio", "secret": TWILIO_TOKEN, "signature": h["X-Twilio-Signature"],
         "url": PUBLIC + "/twilio?x=1", "params": params}
    ok, err = oracle(q)
    T.check(ok, "twilio: the SDK accepts the form request built from the documented rule", err)
    rc, h2, e2 = cli_sign(["--scheme", "twilio", "--url", PUBLIC + "/twilio", "--query", "x=1"], form,
                          {"HOOKSPOOL_SECRET": TWILIO_TOKEN})
    ok, err = oracle(dict(q, signature=h2.get("X-Twilio-Signature", "")))
    T.check(rc == 0 and ok, "twilio: the SDK accepts `hookspool sign --scheme twilio`", (e2, err))
    ok, err = oracle(dict(q, params=dict(params, Body="hello World")))
    T.check(not ok and "unknown op" not in str(err), "twilio: the SDK refuses a changed form field", err)
    ok, err = oracle(dict(q, url=PUBLIC + "/twilio?x=2"))
    T.check(not ok and "unknown op" not in str(err), "twilio: the SDK refuses another URL", err)
    jb = event()
    h, b, qs = build("twilio-json", jb, now)
    q = {"op": "twilio", "json": True, "secret": TWILIO_TOKEN, "signature": h["X-Twilio-Signature"],
         "url": PUBLIC + "/twilio" + qs, "body": jb.decode()}
    ok, err = oracle(q)
    T.check(ok, "twilio: the SDK accepts the JSON request (bodySHA256)", err)
    rc, h2, e2 = cli_sign(["--scheme", "twilio", "--url", PUBLIC + "/twilio", "--query", qs[1:]], jb,
                          {"HOOKSPOOL_SECRET": TWILIO_TOKEN})
    ok, err = oracle(dict(q, signature=h2.get("X-Twilio-Signature", "")))
    T.check(rc == 0 and ok, "twilio: the SDK accepts `hookspool sign` of the JSON request", (e2, err))
    ok, err = oracle(dict(q, body=jb.decode() + " "))
    T.check(not ok and "unknown op" not in str(err), "twilio: the SDK refuses a changed JSON body", err)

    # Square: its published verifier.
    sb = event()
    h, b, _ = build("square", sb, now)
    q = {"op": "square", "secret": SQUARE_KEY, "url": PUBLIC + "/square", "body": sb.decode(),
         "signature": h["x-square-hmacsha256-signature"]}
    ok, err = oracle(q)
    T.check(ok, "square: the published verifier accepts the request", err)
    rc, h2, e2 = cli_sign(["--scheme", "square", "--url", PUBLIC + "/square"], sb,
                          {"HOOKSPOOL_SECRET": SQUARE_KEY})
    ok, err = oracle(dict(q, signature=h2.get("x-square-hmacsha256-signature", "")))
    T.check(rc == 0 and ok, "square: ... and `hookspool sign --scheme square`", (e2, err))

    # Standard Webhooks: the SDK verifies v1 beside hookspool sign's v1a.
    body = event()
    rc, hv1, e1 = cli_sign(["--scheme", "standard", "--time", str(now), "--id", "msg_sdk1"], body,
                           {"HOOKSPOOL_SECRET": WHSEC})
    rc2, hv1a, e2 = cli_sign(["--scheme", "standard", "--time", str(now), "--id", "msg_sdk1",
                              "--key", keyfile["standard"]], body)
    mixed = hv1.get("webhook-signature", "") + " " + hv1a.get("webhook-signature", "")
    q = {"op": "standard", "secret": WHSEC, "body": body.decode(),
         "headers": {"webhook-id": "msg_sdk1", "webhook-timestamp": str(now), "webhook-signature": mixed}}
    ok, err = oracle(q)
    T.check(rc == 0 and rc2 == 0 and hv1a.get("webhook-signature", "").startswith("v1a,") and ok,
            "standard: standardwebhooks accepts hookspool sign's v1 beside its v1a", (e1, e2, err))
    # The v1a signature itself, checked with Python's Ed25519.
    sig = base64.b64decode(hv1a.get("webhook-signature", "v1a,").split(",", 1)[1] or "AA==")
    try:
        KEYS["standard"].public_key().verify(sig, ("msg_sdk1.%d." % now).encode() + body)
        good = True
    except Exception:   # noqa: BLE001 (cryptography's InvalidSignature)
        good = False
    T.check(good, "standard: hookspool sign's v1a is Ed25519 over id.timestamp.body")


def section_keys(T, srv, spools):
    T.section("public keys through lighttpd: valid 200 and one line; tampering 401")
    now = time.time()
    for scheme in ("discord", "sendgrid", "standard-pk", "standard-mixed"):
        body = event()
        h, b, _ = build(scheme, body, now)
        before = len(lines(spools[scheme]))
        st, _, rb = post(srv, scheme, h, b)
        T.check(st == 200 and len(lines(spools[scheme])) == before + 1,
                "%s: valid -> 200, one line" % scheme, (st, rb))
        st, _, rb = post(srv, scheme, h, b.replace(b'"type": 2', b'"type": 3'))
        T.check(st == 401 and b"bad_signature" in rb, "%s: changed body -> 401" % scheme, (st, rb))
        other = KEYS["other-ec"] if scheme == "sendgrid" else KEYS["other-ed"]
        if scheme == "standard-mixed":
            other = ed25519.Ed25519PrivateKey.generate()
        h2, b2, _ = build(scheme, body, now, key=other)
        st, _, rb = post(srv, scheme, h2, b2)
        T.check(st == 401, "%s: signed with another key -> 401" % scheme, (st, rb))
        h3, b3, _ = build(scheme, event(), now - 3600)
        st, _, rb = post(srv, scheme, h3, b3)
        T.check(st == 401 and b"expired_timestamp" in rb, "%s: stale timestamp -> 401" % scheme, (st, rb))
        T.check(len(lines(spools[scheme])) == before + 1, "%s: nothing refused was stored" % scheme)

    T.section("discord: the PING answered {\"type\":1} and not spooled; broken signatures 401")
    before = len(lines(spools["discord"]))
    ping = b'{"type":1,"id":"ping1","application_id":"123"}'
    h, b, _ = build("discord", ping, now)
    st, hd, rb = post(srv, "discord", h, b)
    T.check(st == 200 and json.loads(rb) == {"type": 1} and "application/json" in str(hd).lower(),
            "discord: PING -> 200 {\"type\":1} as JSON", (st, hd, rb))
    bad = dict(h, **{"X-Signature-Ed25519": h["X-Signature-Ed25519"][:-2] +
                     ("00" if not h["X-Signature-Ed25519"].endswith("00") else "11")})
    st, _, rb = post(srv, "discord", bad, b)
    T.check(st == 401, "discord: PING with a broken signature -> 401", (st, rb))
    st, _, rb = post(srv, "discord", {k: v for k, v in h.items() if "Ed25519" not in k}, b)
    T.check(st == 401, "discord: PING without a signature -> 401", (st, rb))
    T.check(len(lines(spools["discord"])) == before, "discord: no PING was spooled")


def section_url(T, srv, spools):
    T.section("URL-bound: twilio and square; changed URL, query, field or body 401")
    now = time.time()
    form = b"MessageSid=SM" + os.urandom(8).hex().encode() + b"&From=%2B15551234567&Body=hi+there&To=%2B1555"
    h, b, q = build("twilio", form, now, query="a=1")
    before = len(lines(spools["twilio"]))
    st, _, rb = post(srv, "twilio", h, b, q)
    got = lines(spools["twilio"])
    T.check(st == 200 and len(got) == before + 1, "twilio: valid form -> 200, one line", (st, rb))
    if len(got) == before + 1:
        ln = got[-1]
        T.check(ln.get("body") == "form" and ln["event"].get("Body") == "hi there" and
                ln["event"].get("From") == "+15551234567" and list(ln["event"])[0] == "MessageSid",
                "twilio: the line says body form; its event holds the decoded fields in order", ln)
    st, _, rb = post(srv, "twilio", h, b.replace(b"hi+there", b"hi+therE"), q)
    T.check(st == 401, "twilio: changed form field -> 401", (st, rb))
    st, _, rb = post(srv, "twilio", h, b, "?a=2")
    T.check(st == 401, "twilio: changed query -> 401", (st, rb))
    h2, b2, q2 = build("twilio", form, now, url=PUBLIC + "/twilio-elsewhere", query="a=1")
    st, _, rb = post(srv, "twilio", h2, b2, q2)
    T.check(st == 401, "twilio: signed for another URL -> 401", (st, rb))
    jb = event()
    h, b, q = build("twilio-json", jb, now)
    st, _, rb = post(srv, "twilio", h, b, q)
    T.check(st == 200, "twilio: valid JSON body with bodySHA256 -> 200", (st, rb))
    st, _, rb = post(srv, "twilio", h, b + b" ", q)
    T.check(st == 401, "twilio: JSON body changed (bodySHA256 differs) -> 401", (st, rb))
    T.check(len(lines(spools["twilio"])) == before + 2, "twilio: nothing refused was stored")

    sb = event()
    h, b, q = build("square", sb, now)
    before = len(lines(spools["square"]))
    st, _, rb = post(srv, "square", h, b, q)
    T.check(st == 200 and len(lines(spools["square"])) == before + 1, "square: valid -> 200, one line",
            (st, rb))
    st, _, rb = post(srv, "square", h, b.replace(b'"type": 2', b'"type": 3'), q)
    T.check(st == 401, "square: changed body -> 401", (st, rb))
    h2, b2, q2 = build("square", sb, now, url=PUBLIC + "/square2")
    st, _, rb = post(srv, "square", h2, b2, q2)
    T.check(st == 401, "square: signed for another URL -> 401", (st, rb))
    st, _, rb = post(srv, "square", h, b, "?extra=1")
    T.check(st == 401, "square: a query the sender did not call -> 401", (st, rb))
    h3 = {"x-square-hmacsha256-signature": base64.b64encode(hmac.new(
        b"another-key", (PUBLIC + "/square").encode() + sb, hashlib.sha256).digest()).decode()}
    st, _, rb = post(srv, "square", h3, sb)
    T.check(st == 401, "square: another key -> 401", (st, rb))
    T.check(len(lines(spools["square"])) == before + 1, "square: nothing refused was stored")


def section_forms(T, srv, spools):
    T.section("form bodies: fields as a JSON object, payload= as the event, invalid UTF-8 400")
    now = time.time()
    # Slack's published slash command example body.
    body = (b"token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=example&channel_id=C2147483705"
            b"&channel_name=test&user_id=U2147483697&user_name=Steve&command=%2Fweather&text=94070"
            b"&text=caf%C3%A9+%26+more&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1234%2F5678")
    h, b, q = build("slack-form", body, now)
    st, _, rb = post(srv, "slack-form", h, b, q)
    got = lines(spools["slack-form"])
    T.check(st == 200 and len(got) == 1, "slack slash command form -> 200, one line", (st, rb))
    if got:
        ev = got[-1]["event"]
        T.check(got[-1].get("body") == "form" and ev.get("command") == "/weather" and
                ev.get("text") == ["94070", "caf\u00e9 & more"] and
                ev.get("response_url") == "https://hooks.slack.com/commands/1234/5678" and
                list(ev) == ["token", "team_id", "team_domain", "channel_id", "channel_name", "user_id",
                             "user_name", "command", "text", "response_url"],
                "slack: fields decoded in order, a repeated name an array", got[-1])
    st, _, rb = post(srv, "slack-form", h, b.replace(b"94070", b"94071"), q)
    T.check(st == 401, "slack form: a changed field -> 401", (st, rb))
    # Signed, but a field decodes to invalid UTF-8: 400, kept in invalid/.
    bad = b"command=%2Fx&text=%FF%FE"
    h, b, q = build("slack-form", bad, now)
    st, _, rb = post(srv, "slack-form", h, b, q)
    invd = os.path.join(spools["slack-form"], "invalid")
    inv = [os.path.join(invd, n) for n in sorted(os.listdir(invd))] if os.path.isdir(invd) else []
    T.check(st == 400 and len(lines(spools["slack-form"])) == 1, "invalid UTF-8 in a field -> 400", (st, rb))
    T.check(len(inv) == 1 and hs.read_bytes(inv[0]) == bad, "the signed invalid form is kept in invalid/",
            inv)
    h, b, q = build("slack-form", b"text=%ZZ", now)
    st, _, rb = post(srv, "slack-form", h, b, q)
    T.check(st == 400, "a bad %-escape -> 400", (st, rb))

    # GitHub's form content type: payload=<url-encoded JSON>.
    payload = {"zen": "Keep it logically awesome.", "hook_id": 1, "nested": {"a": [1, 2, "\u00e9"]}}
    pj = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    body = ("payload=" + urllib.parse.quote_plus(pj)).encode()
    h, b, q = build("github-form", body, now)
    st, _, rb = post(srv, "github-form", h, b, q)
    got = lines(spools["github-form"])
    raw = [l for _, l in hs.spool_lines(spools["github-form"])]
    T.check(st == 200 and len(got) == 1 and got[-1]["event"] == payload and
            got[-1].get("body") == "form:payload" and
            (b'"event":' + pj.encode("utf-8") + b"}\n") in raw[-1],
            "github form: payload's JSON, byte for byte, is the event", (st, rb, raw))
    st, _, rb = post(srv, "github-form", h, b + b"x", q)
    T.check(st == 401, "github form: changed body -> 401", (st, rb))
    nb = b"other=1"
    h, b, q = build("github-form", nb, now)
    st, _, rb = post(srv, "github-form", h, b, q)
    T.check(st == 400, "github form without its payload field -> 400", (st, rb))
    # A JSON body is JSON whatever its Content-Type says (SPEC's rule).
    jb = event()
    h, b, q = build("github-form", jb, now)
    st, _, rb = post(srv, "github-form", h, b, q)
    got = lines(spools["github-form"])
    T.check(st == 200 and "body" not in got[-1] and got[-1]["event"] == json.loads(jb),
            "a JSON body sent as a form is stored as JSON, the line unchanged", (st, rb, got[-1:]))


def mailgun_form(fields, t, token=None, sig=None):
    """Mailgun's legacy (form) webhook: the event's fields, then timestamp,
    token and the hex HMAC-SHA256 of timestamp + token under the signing
    key, all top-level form fields (Mailgun's "Securing webhooks")."""
    ts = str(int(t))
    token = token or os.urandom(25).hex()
    if sig is None:
        sig = hmac.new(MAILGUN_KEY.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()
    body = urllib.parse.urlencode(list(fields) + [("timestamp", ts), ("token", token),
                                                  ("signature", sig)]).encode()
    return {"Content-Type": "application/x-www-form-urlencoded"}, body, token, sig


def section_mailgun_form(T, srv, spools):
    T.section("mailgun's form format: timestamp, token and signature as top-level fields")
    now = time.time()
    sp = spools["mailgun-form"]
    fields = [("event", "delivered"), ("recipient", "alice@example.com"), ("domain", "mg.example.com"),
              ("message-headers", '[["Subject", "caf\u00e9 500.00"]]'), ("Message-Id", "<20261204.1@mg>")]
    h, b, token, sig = mailgun_form(fields, now)
    st, _, rb = post(srv, "mailgun-form", h, b)
    got = lines(sp)
    T.check(st == 200 and len(got) == 1, "mailgun form -> 200, one line", (st, rb))
    if got:
        ev = got[-1]["event"]
        T.check(got[-1].get("body") == "form" and ev.get("event") == "delivered" and
                ev.get("token") == token and ev.get("signature") == sig and
                ev.get("message-headers") == '[["Subject", "caf\u00e9 500.00"]]' and
                list(ev) == [n for n, _ in fields] + ["timestamp", "token", "signature"],
                "mailgun form: every field in order, stored as a form", got[-1])
    st, _, rb = post(srv, "mailgun-form", h, b)
    T.check(st == 200 and len(lines(sp)) == 1, "mailgun form: the same token again -> 200, "
            "not stored twice (dedup on the token)", (st, rb, len(lines(sp))))
    h2, b2, _, _ = mailgun_form(fields, now, token=token[:-1] + ("0" if token[-1] != "0" else "1"), sig=sig)
    st, _, rb = post(srv, "mailgun-form", h2, b2)
    T.check(st == 401, "mailgun form: a changed token -> 401", (st, rb))
    h2, b2, _, _ = mailgun_form(fields, now, sig="0" * 64)
    st, _, rb = post(srv, "mailgun-form", h2, b2)
    T.check(st == 401, "mailgun form: a wrong signature -> 401", (st, rb))
    h2, b2, _, _ = mailgun_form(fields, now - 3600)
    st, _, rb = post(srv, "mailgun-form", h2, b2)
    T.check(st == 401 and b"expired_timestamp" in rb, "mailgun form: a stale timestamp -> 401", (st, rb))
    h2, b2, _, s2 = mailgun_form(fields, now)
    st, _, rb = post(srv, "mailgun-form", h2, b2 + b"&signature=" + s2.encode())
    T.check(st == 401, "mailgun form: the signature field twice -> 401", (st, rb))
    h2, b2, _, _ = mailgun_form(fields, now)
    st, _, rb = post(srv, "mailgun-form", {"Content-Type": "text/plain"}, b2)
    T.check(st == 401, "mailgun form: a form body not sent as a form -> 401", (st, rb))
    T.check(len(lines(sp)) == 1, "mailgun form: nothing refused was stored", len(lines(sp)))


def section_check(T, tmp):
    T.section("hookspool check: public keys and the public URL")
    spool = tmp.join("check-spool")

    def check(extra):
        env = {"PATH": "/usr/bin:/bin", "HOOKSPOOL_SPOOL": spool}
        env.update(extra)
        r = subprocess.run([hs.CLI, "check"], capture_output=True, text=True, env=env, timeout=60)
        return r.returncode, [l for l in r.stdout.splitlines() if l.strip()], r.stderr

    rc, out, err = check({"HOOKSPOOL_SCHEME": "discord", "HOOKSPOOL_PUBLIC_KEY": ed_hex(KEYS["discord"])})
    T.check(rc == 0 and any("X-Signature-Ed25519" in l and "Ed25519" in l and "HOOKSPOOL_PUBLIC_KEY" in l
                            for l in out), "check: discord described", (rc, out, err))
    cases = [
        ({"HOOKSPOOL_SCHEME": "discord", "HOOKSPOOL_PUBLIC_KEY": ec_b64(KEYS["sendgrid"])},
         "HOOKSPOOL_PUBLIC_KEY", "a P-256 key for discord"),
        ({"HOOKSPOOL_SCHEME": "discord", "HOOKSPOOL_PUBLIC_KEY": ed_hex(KEYS["discord"])[:-2]},
         "HOOKSPOOL_PUBLIC_KEY", "a short Ed25519 key"),
        ({"HOOKSPOOL_SCHEME": "sendgrid", "HOOKSPOOL_PUBLIC_KEY": base64.b64encode(
            ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()},
         "HOOKSPOOL_PUBLIC_KEY", "a P-384 key for sendgrid"),
        ({"HOOKSPOOL_SCHEME": "standard", "HOOKSPOOL_PUBLIC_KEY_OLD": ed_hex(KEYS["standard"])},
         "HOOKSPOOL_PUBLIC_KEY_OLD", "a hex key where whpk_ is wanted"),
        ({"HOOKSPOOL_SCHEME": "discord"}, "HOOKSPOOL_PUBLIC_KEY", "discord without a key"),
        ({"HOOKSPOOL_SCHEME": "discord", "HOOKSPOOL_PUBLIC_KEY": ed_hex(KEYS["discord"]),
          "HOOKSPOOL_SECRET": "some-secret-of-24-bytes!"}, "HOOKSPOOL_SECRET", "discord with a secret"),
        ({"HOOKSPOOL_SCHEME": "github", "HOOKSPOOL_SECRET": "x" * 24,
          "HOOKSPOOL_PUBLIC_KEY": ed_hex(KEYS["discord"])}, "HOOKSPOOL_PUBLIC_KEY", "a key for github"),
        ({"HOOKSPOOL_SCHEME": "twilio", "HOOKSPOOL_SECRET": "x" * 24}, "HOOKSPOOL_PUBLIC_URL",
         "twilio without HOOKSPOOL_PUBLIC_URL"),
        ({"HOOKSPOOL_SCHEME": "square", "HOOKSPOOL_SECRET": "x" * 24,
          "HOOKSPOOL_PUBLIC_URL": PUBLIC + "/sq?x=1"}, "HOOKSPOOL_PUBLIC_URL", "a public URL with a query"),
        ({"HOOKSPOOL_SCHEME": "github", "HOOKSPOOL_SECRET": "x" * 24,
          "HOOKSPOOL_PUBLIC_URL": PUBLIC}, "HOOKSPOOL_PUBLIC_URL", "a public URL for github"),
    ]
    for extra, setting, what in cases:
        rc, out, err = check(extra)
        T.check(rc != 0 and any(setting + ":" in l for l in out + err.splitlines()),
                "check: %s is refused naming %s" % (what, setting), (rc, out, err))
    rc, out, err = check({"HOOKSPOOL_SCHEME": "twilio", "HOOKSPOOL_SECRET": "x" * 24,
                          "HOOKSPOOL_PUBLIC_URL": PUBLIC + "/twilio"})
    T.check(rc == 0 and any("X-Twilio-Signature" in l and "HOOKSPOOL_PUBLIC_URL" in l for l in out),
            "check: twilio described with its URL", (rc, out, err))


def main(T):
    for name in (hs.FCGI, hs.CLI):
        if not os.access(name, os.X_OK):
            raise RuntimeError("%s not built (run make)" % name)
    tmp = T.tempdir()
    section_sdk(T, tmp)
    section_check(T, tmp)
    routes, spools = routes_for(tmp)
    srv = T.server(tmp, mode="fcgi", name="keys", env={}, routes=routes)
    section_keys(T, srv, spools)
    section_url(T, srv, spools)
    section_forms(T, srv, spools)
    section_mailgun_form(T, srv, spools)
    srv.stop()


if __name__ == "__main__":
    hs.Suite("test_keys").run(main)
