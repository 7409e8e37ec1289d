"""
test_page.py - issue 19: the status page (?format=html), in headless
Chromium (Debian's `chromium`), served through lighttpd (FastCGI) and
Apache (mod_cgi, CGIPassAuth On):

1. Without the token: 401 with WWW-Authenticate: Basic (a browser asks);
   with HTTP Basic (any user, the token as password) or Bearer: 200,
   text/html, a Content-Security-Policy of default-src 'none', and a
   page with no script, no style sheet, no external resource.
2. A known series of posts (5 accepted, 2 duplicates, 3 bad signatures):
   the chart's bars, read from the DOM Chromium built, sum per kind to
   the counters, and the tallest minute reaches the chart's top.
3. The last events' ids and keys are listed, never a body; a key with
   markup is escaped.
4. No console message (a CSP violation is one): the check is first shown
   to catch a page that logs an error.
5. A screenshot at 1280x800 is written (docs/status-page.png is one).
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402
import servers  # noqa: E402

TOKEN = "page-token-0123456789abcdef"
BAR_RE = re.compile(r'<rect class="bar" x="(\d+)" y="(\d+)" width="1" height="(\d+)" '
                    r'fill="[^"]+" data-minute="([^"]+)" data-kind="(\w+)" data-count="(\d+)"')
CHART_H, CHART_TOP = 200, 10


def chromium(args, timeout=120):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    prof = tempfile.mkdtemp(prefix="hs-chromium-")
    try:
        return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                               "--no-first-run", "--user-data-dir=" + prof,
                               "--enable-logging=stderr", "--v=0"] + args,
                              capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(prof, ignore_errors=True)


def console_lines(stderr):
    return [l for l in stderr.splitlines() if "CONSOLE" in l or "Refused to" in l]


def post_series(T, srv, dedup_body):
    for _ in range(5):
        body, _rid = hs.caliza_event()
        st, _a, raw, _h = hs.post_signed(srv, body)
        T.check(st == 200, "accepted", raw)
    body, _rid = hs.caliza_event(resource_id="dup-" + hs.unique_hex(8))
    for _ in range(3):
        hs.post_signed(srv, body)                      # 1 accepted, 2 duplicates
    for _ in range(3):
        hs.post_signed(srv, b'{"a":1}', headers={hs.CALIZA_HEADER: "AAAA"})
    # a keyed event whose key holds markup
    st, _a, raw, _h = hs.post_signed(srv, dedup_body)
    T.check(st == 200, "the markup event accepted", raw)


def check_page(T, srv, label, shot=None):
    path = srv.url + "?format=html"
    st, h, b = srv.get(path=path)
    T.check(st == 401 and h.get("www-authenticate", "").startswith("Basic realm="),
            "%s: no token: 401 with a Basic challenge alone" % label, (st, h))
    basic = "Basic " + base64.b64encode(("anyone:" + TOKEN).encode()).decode()
    st, h, b = srv.get(path=path, headers={"Authorization": basic})
    T.check(st == 200 and h.get("content-type", "").startswith("text/html"),
            "%s: Basic with the token: 200 text/html" % label, (st, h))
    csp = h.get("content-security-policy", "")
    T.check(csp.startswith("default-src 'none'") and "script-src" not in csp and
            "unsafe" not in csp, "%s: CSP default-src 'none'" % label, csp)
    page = b.decode()
    T.check("<script" not in page and "<link" not in page and "style=" not in page and
            "<style" not in page and not re.search(r'(src|href)="', page),
            "%s: nothing external, no script, no CSS" % label)
    st2, _h, _b = srv.get(path=path, headers={"Authorization": "Bearer " + TOKEN})
    T.check(st2 == 200, "%s: Bearer works too" % label, st2)
    st2, _h, _b = srv.get(headers={"Authorization": basic})
    T.check(st2 == 401, "%s: the JSON status stays Bearer only" % label, st2)
    T.check("&lt;b&gt;" in page and "<b>x" not in page, "%s: the key's markup escaped" % label)
    T.check('"amount"' not in page and "TRANSACTION_COMPLETED" in page,
            "%s: keys listed, no body" % label)

    url = "http://anyone:%s@127.0.0.1:%d%s" % (TOKEN, srv.port, path)
    r = chromium(["--dump-dom", url])
    dom = r.stdout
    T.check(r.returncode == 0 and 'id="chart"' in dom, "%s: Chromium renders the page" % label,
            r.stderr[-500:])
    T.check(console_lines(r.stderr) == [], "%s: no console messages" % label,
            console_lines(r.stderr))
    st, _h, jb = srv.get(headers={"Authorization": "Bearer " + TOKEN})
    doc = json.loads(jb)
    cnt = doc["counters"]
    bars = BAR_RE.findall(dom)
    sums = {"accepted": 0, "duplicate": 0, "rejected": 0}
    per_minute = {}
    for x, y, hgt, minute, kind, n in bars:
        sums[kind] += int(n)
        per_minute.setdefault(x, 0)
        per_minute[x] += int(hgt)
    T.check(sums["accepted"] == cnt["accepted"] == 7 and sums["duplicate"] == cnt["duplicate"] == 2,
            "%s: bars sum to the posts (7 accepted, 2 duplicates)" % label, (sums, cnt))
    T.check(sums["rejected"] == sum(cnt["rejected"].values()) and
            cnt["rejected"]["bad_signature"] == 3,
            "%s: rejected bars sum to the rejections" % label, (sums, cnt["rejected"]))
    T.check(per_minute and max(per_minute.values()) == CHART_H - CHART_TOP,
            "%s: the busiest minute reaches the top" % label, per_minute)
    if shot:
        r = chromium(["--window-size=1280,800", "--screenshot=" + shot, url])
        T.check(r.returncode == 0 and os.path.getsize(shot) > 1000 and
                open(shot, "rb").read(8) == b"\x89PNG\r\n\x1a\n",
                "%s: a 1280x800 screenshot" % label, r.stderr[-300:])


def markup_event():
    body, _rid = hs.caliza_event(resource_id="<b>x</b>")
    return body


def main(T):
    # The check for console messages can fail: a page that logs one.
    r = chromium(["--dump-dom", "data:text/html,<script>console.error('seen-it')</script>"])
    T.check(any("seen-it" in l for l in console_lines(r.stderr)),
            "console messages are caught", r.stderr[-500:])

    tmp = T.tempdir(owner="www-data")
    sp = os.path.join(tmp.path, "spool-l")
    srv = T.server(tmp, env=hs.receiver_env(sp, HOOKSPOOL_STATUS_TOKEN=TOKEN), name="pl")
    post_series(T, srv, markup_event())
    check_page(T, srv, "lighttpd", shot=os.path.join(tmp.path, "shot.png"))

    sp2 = os.path.join(tmp.path, "spool-a")
    conf = """ScriptAlias /hook %s
<Location /hook>
    Require all granted
    SetEnv HOOKSPOOL_SPOOL %s
    SetEnv HOOKSPOOL_SECRET %s
    SetEnv HOOKSPOOL_STATUS_TOKEN %s
    CGIPassAuth On
</Location>
""" % (hs.FCGI, sp2, hs.DEMO_SECRET, TOKEN)
    ap = servers.Apache(tmp, conf, name="page", url="/hook")
    T.on_cleanup("apache", ap.stop)
    ap.start()
    post_series(T, ap, markup_event())
    check_page(T, ap, "apache")


if __name__ == "__main__":
    hs.Suite("test_page").run(main)
