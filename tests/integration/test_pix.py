"""
test_pix.py - issue 17: PIX as Brazil's banks send it, through real
servers.

1. lighttpd (FastCGI), the pix preset with an address list: the empty
   probe (200 {"ok":true,"probe":true}, nothing appended, counted), a
   GET at registration (200), the specification's two example payments
   in one batch to URL/pix (two lines, each its element byte for byte,
   with its position and "path":"/pix"), the same batch retried
   (nothing appended), a re-notice with a refund's status changed (only
   it is new), a bare array, /rec and /cobr bodies; an address outside
   the list is refused.
2. lighttpd, the pix preset with a query token (?hmac=...&ignorar=): the
   suffix from the query string, a wrong token refused, the token never
   in the error log.
3. Apache with mod_ssl verifying client certificates the test makes with
   openssl (its own CA), the program under mod_fcgid, configured from
   the shipped deploy/apache/pix-mtls.conf: a certificate from the CA is
   accepted (probe and batch), none and one from another CA are refused.
"""
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import http.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402
import servers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QTOKEN = "q7Kx2mN9pR4vT8wZ3bC6"
PIX1 = ('{"endToEndId":"E12345678202009091221kkkkkkkkkkk",'
        '"txid":"c3e0e7a4e7f1469a9f782d3d4999343c","valor":"110.00",'
        '"horario":"2020-09-09T20:15:00.358Z","infoPagador":"0123456789",'
        '"devolucoes":{"id":"123ABC","rtrId":"D12345678202009091221abcdf098765",'
        '"valor":"10.00","horario":{"solicitacao":"2020-09-09T20:15:00.358Z"},'
        '"status":"%s"}}')
PIX2 = ('{"endToEndId":"E87654321202009091221dfghi123456",'
        '"txid":"971122d8f37211eaadc10242ac120002","valor":"110.00",'
        '"horario":"2020-09-09T20:15:00.358Z","infoPagador":"0123456789"}')


def lines_of(spool):
    return hs.parse_lines(hs.spool_lines(spool, ("ready", "active")))


def raw_events(spool):
    """The bytes of each line's event, as written."""
    out = []
    for _, raw in hs.spool_lines(spool, ("ready", "active")):
        i = raw.find(b',"event":')
        out.append(raw[i + 9:-2] if i >= 0 else None)
    return out


def answer(resp):
    st, h, b = resp
    return st, (hs.one_line_json(b) or {}), b


def section_lighttpd(T):
    T.section("lighttpd: the pix preset with an address list")
    tmp = T.tempdir()
    spool, other = tmp.join("spool-pix"), tmp.join("spool-far")
    routes = [
        {"url": "/bank", "setenv": {}, "env": {
            "HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_PRESET": "pix",
            "HOOKSPOOL_ALLOW_FROM": "192.0.2.0/24, 127.0.0.0/8, ::1"}},
        {"url": "/far", "setenv": {}, "env": {
            "HOOKSPOOL_SPOOL": other, "HOOKSPOOL_PRESET": "pix",
            "HOOKSPOOL_ALLOW_FROM": "192.0.2.0/24,2001:db8::/32"}},
    ]
    srv = T.server(tmp, name="pix", max_procs=1, routes=routes)

    st, j, b = answer(srv.post(b"", {}, path="/bank"))
    T.check(st == 200 and j == {"ok": True, "probe": True},
            'the empty probe: 200 {"ok":true,"probe":true}', (st, b))
    T.check(lines_of(spool)[0] == [], "the probe appended nothing")
    st, j, b = answer(srv.get("/bank"))
    T.check(st == 200 and j.get("status") == "ok", "GET at registration: 200", (st, b))

    e1 = PIX1 % "EM_PROCESSAMENTO"
    batch = ('{"pix":[%s,\n  %s]}' % (e1, PIX2)).encode()
    st, j, b = answer(srv.post(batch, {}, path="/bank/pix"))
    T.check(st == 200 and len(j.get("ids") or []) == 2 and j.get("duplicates") == 0,
            "the spec's two example payments in one batch: 200 with two ids", (st, b))
    objs, bad = lines_of(spool)
    T.check(not bad and [o.get("id") for o in objs] == j.get("ids"),
            "two lines, in the batch's order, with the ids answered", (objs, bad))
    T.check(raw_events(spool) == [e1.encode(), PIX2.encode()],
            "each line's event is its element byte for byte (\"110.00\" stays)",
            raw_events(spool))
    T.check([(o.get("path"), o.get("batch"), o.get("endpoint")) for o in objs] ==
            [("/pix", {"index": 0, "count": 2}, "pix"), ("/pix", {"index": 1, "count": 2}, "pix")],
            'each line: "path":"/pix", its position in the batch, endpoint pix', objs)
    T.check(len({json.dumps(o.get("key")) for o in objs}) == 2 and
            all(re.fullmatch(r"[0-9a-f]{64}", (o.get("key") or [""])[0]) for o in objs),
            "each line keyed by the SHA-256 of its element (content dedup)", objs)

    st, j, b = answer(srv.post(batch, {}, path="/bank/pix"))
    T.check(st == 200 and j.get("ids") == [] and j.get("duplicates") == 2,
            "the same batch retried: 200, both duplicates", (st, b))
    T.check(len(lines_of(spool)[0]) == 2, "the retry appended nothing")

    e1r = PIX1 % "DEVOLVIDO"
    st, j, b = answer(srv.post(('{"pix":[%s,%s]}' % (PIX2, e1r)).encode(), {},
                               path="/bank/pix"))
    T.check(st == 200 and len(j.get("ids") or []) == 1 and j.get("duplicates") == 1,
            "a re-notice (the refund DEVOLVIDO) beside a seen payment: one new, one duplicate",
            (st, b))
    objs, _ = lines_of(spool)
    T.check(len(objs) == 3 and raw_events(spool)[-1] == e1r.encode() and
            objs[-1].get("batch") == {"index": 1, "count": 2},
            "only the re-notice is appended, with its position", objs[-1:])

    bare = ('[{"endToEndId":"E00000000202401011200aaaaaaaaaaa","valor":"5.00"},'
            '{"endToEndId":"E00000000202401011200bbbbbbbbbbb","valor":"7.50"}]')
    st, j, b = answer(srv.post(bare.encode(), {}, path="/bank/pix"))
    T.check(st == 200 and len(j.get("ids") or []) == 2, "a bare array: two lines", (st, b))
    recs = ('{"recs":[{"idRec":"RR1234567820240101abcdefghijk","status":"APROVADA",'
            '"valor":{"valorRec":"35.00"}}]}')
    st, j, b = answer(srv.post(recs.encode(), {}, path="/bank/rec"))
    T.check(st == 200 and len(j.get("ids") or []) == 1, "a /rec body: its recs element", (st, b))
    cobsr = ('{"cobsr":[{"idRec":"RR1234567820240101abcdefghijk","txid":"a1b2c3",'
             '"status":"CONCLUIDA","tentativas":[{"endToEndId":"E9","status":"LIQUIDADA"}]},'
             '{"idRec":"RR2","txid":"d4e5f6","status":"ATIVA"}]}')
    st, j, b = answer(srv.post(cobsr.encode(), {}, path="/bank/cobr"))
    T.check(st == 200 and len(j.get("ids") or []) == 2, "a /cobr body: its cobsr elements",
            (st, b))
    objs, bad = lines_of(spool)
    T.check(not bad and [o.get("path") for o in objs[3:]] ==
            ["/pix", "/pix", "/rec", "/cobr", "/cobr"] and
            (objs[5].get("event") or {}).get("idRec") == "RR1234567820240101abcdefghijk" and
            (objs[7].get("event") or {}).get("txid") == "d4e5f6",
            "the lines of the bare array, /rec and /cobr, with their suffixes", objs[3:])

    r = subprocess.run([hs.CLI, "status", "-s", spool], capture_output=True,
                       env=hs.cli_env(), timeout=60)
    j = hs.one_line_json(r.stdout) or {}
    c = j.get("counters") or {}
    T.check(r.returncode == 0 and c.get("probes") == 1 and c.get("accepted") == 8 and
            c.get("duplicate") == 3,
            "hookspool status: probes 1, accepted 8, duplicate 3", (r.returncode, r.stdout[:400]))

    st, j, b = answer(srv.post(batch, {}, path="/far/pix"))
    T.check(st == 403 and j == {"ok": False, "error": "address_refused"},
            "127.0.0.1 outside HOOKSPOOL_ALLOW_FROM: 403 address_refused", (st, b))
    st, j, b = answer(srv.post(b"", {}, path="/far"))
    T.check(st == 403, "... the probe too", (st, b))
    T.check(not os.path.exists(os.path.join(other, "active")) or
            lines_of(other)[0] == [], "nothing appended from outside the list")
    srv.stop()


def section_query(T):
    T.section("lighttpd: the pix preset with a query token and ?...&ignorar=")
    tmp = T.tempdir()
    spool = tmp.join("spool-q")
    hs.remember_secret(QTOKEN)
    srv = T.server(tmp, name="q", max_procs=1, routes=[
        {"url": "/q", "setenv": {}, "env": {
            "HOOKSPOOL_SPOOL": spool, "HOOKSPOOL_PRESET": "pix",
            "HOOKSPOOL_SCHEME": "query:hmac", "HOOKSPOOL_SECRET": QTOKEN}}])
    base = "/q?hmac=%s&ignorar=" % QTOKEN
    st, j, b = answer(srv.post(b"", {}, path=base))
    T.check(st == 200 and j.get("probe") is True, "the probe at the registered URL: 200", (st, b))
    body = ('{"pix":[%s]}' % PIX2).encode()
    st, j, b = answer(srv.post(body, {}, path=base + "/pix"))
    T.check(st == 200 and len(j.get("ids") or []) == 1,
            "the bank appends /pix to the string: ignorar=/pix, 200", (st, b))
    objs, _ = lines_of(spool)
    T.check(len(objs) == 1 and objs[0].get("path") == "/pix" and
            raw_events(spool) == [PIX2.encode()],
            'its line: "path":"/pix" from the query string, the element as sent', objs)
    off = srv.log_size()
    st, j, b = answer(srv.post(body, {}, path="/q?hmac=%s&ignorar=/pix" % QTOKEN[:-1]))
    T.check(st == 401 and j.get("error") == "bad_signature", "a wrong token: 401", (st, b))
    st, j, b = answer(srv.post(body, {}, path="/q?ignorar=/pix"))
    T.check(st == 401 and j.get("error") == "missing_signature", "no token: 401", (st, b))
    text = srv.wait_log(off, r"reason=missing_signature")
    T.check("reason=bad_signature" in text and QTOKEN not in text and QTOKEN[:-1] not in text,
            "the refusals are logged, the token never", text[-400:])
    T.check(len(lines_of(spool)[0]) == 1, "refusals appended nothing")
    srv.stop()


def openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.decode()[-400:]))
    return r.stdout.decode()


def make_pki(d):
    """Two CAs, a server certificate, a client certificate from each CA."""
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-keyout", ca + ".key", "-out", ca + ".pem",
                "-subj", "/C=BR/O=Test %s/CN=Test %s" % (ca, ca), cwd=d)
    for name, ca, subj in (("server", "ca", "/CN=localhost"),
                           ("client", "ca", "/C=BR/O=Banco Teste S.A./CN=webhook.banco.test"),
                           ("stranger", "other-ca", "/C=BR/O=Banco Teste S.A./CN=webhook.banco.test"),
                           ("sibling", "ca", "/C=BR/O=Outro Banco S.A./CN=webhook.outro.test")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
                "-out", name + ".csr", "-subj", subj, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-CAcreateserial", "-days", "2", "-out", name + ".pem", cwd=d)
    subject = openssl("x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", "client.pem",
                      cwd=d).strip()
    return subject[len("subject="):].strip()


def tls_post(port, path, body, d, cert=None):
    """(status or None, answer body): a POST over TLS, trusting ca.pem,
    presenting cert (a name in d) or none."""
    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(os.path.join(d, cert + ".pem"), os.path.join(d, cert + ".key"))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException) as e:
        return None, repr(e).encode()
    finally:
        conn.close()


def section_apache_mtls(T):
    T.section("Apache + mod_ssl: mutual TLS from the shipped pix-mtls.conf")
    tmp = T.tempdir(owner="www-data")
    pki = tmp.mkdir("pki", mode=0o755)
    subject = make_pki(pki)
    prog_dir = tmp.mkdir("libexec", mode=0o755)
    prog = os.path.join(prog_dir, "hookspool.fcgi")
    shutil.copy2(hs.FCGI_RUN, prog)
    os.chmod(prog, 0o755)
    var = tmp.mkdir("var", mode=0o755)
    spool = os.path.join(var, "pix")
    with open(os.path.join(ROOT, "deploy", "apache", "pix-mtls.conf")) as f:
        shipped = f.read()
    m = re.search(r"# ---- hookspool pix: begin ----\n(.*)# ---- hookspool pix: end ----",
                  shipped, re.S)
    if not T.check(m is not None, "pix-mtls.conf has its begin/end lines"):
        return
    block = m.group(1)
    T.check("SSLVerifyClient require" in block and "SSLOptions +StdEnvVars" in block and
            "AcceptPathInfo On" in block, "pix-mtls.conf: SSLVerifyClient require, "
            "+StdEnvVars, AcceptPathInfo On")
    for old, new in (("/usr/local/libexec/hookspool", prog_dir),
                     ("/etc/hookspool/pix-bank-ca.pem", os.path.join(pki, "ca.pem")),
                     ("/var/lib/hookspool/pix", spool)):
        T.check(old in block, "pix-mtls.conf names %s" % old)
        block = block.replace(old, new)
    block = re.sub(r'SetEnv HOOKSPOOL_MTLS_SUBJECT "[^"]*"',
                   'SetEnv HOOKSPOOL_MTLS_SUBJECT "%s"' % subject, block)
    T.check(subject in block, "the client certificate's subject set", subject)
    ph = open(os.path.join(ROOT, "deploy", "pix-bank-ca.pem")).read()
    T.check("PLACEHOLDER" in ph and "BEGIN CERTIFICATE" not in ph,
            "deploy/pix-bank-ca.pem is a placeholder that trusts nothing")

    def conf(srv):
        return """
Listen 127.0.0.1:%(tls)d
<VirtualHost 127.0.0.1:%(tls)d>
    ServerName localhost
    SSLEngine on
    SSLCertificateFile %(pki)s/server.pem
    SSLCertificateKeyFile %(pki)s/server.key
%(block)s
</VirtualHost>
""" % {"tls": srv.ports[1], "pki": pki, "block": block}

    srv = servers.Apache(tmp, conf, name="pix-mtls", nports=2,
                         modules=["ssl", "socache_shmcb"])
    T.on_cleanup("apache pix-mtls", srv.stop)
    srv.start()
    port = srv.ports[1]

    st, b = tls_post(port, "/pix", b"", pki, cert="client")
    T.check(st == 200 and (hs.one_line_json(b) or {}) == {"ok": True, "probe": True},
            "the bank's certificate (our CA): the empty probe 200", (st, b))
    e1 = PIX1 % "EM_PROCESSAMENTO"
    st, b = tls_post(port, "/pix/pix", ('{"pix":[%s,%s]}' % (e1, PIX2)).encode(), pki,
                     cert="client")
    j = hs.one_line_json(b) or {}
    T.check(st == 200 and len(j.get("ids") or []) == 2,
            "the bank's certificate: the two example payments, 200", (st, b))
    objs, bad = lines_of(spool)
    T.check(not bad and len(objs) == 2 and all(o.get("path") == "/pix" for o in objs) and
            raw_events(spool) == [e1.encode(), PIX2.encode()],
            "two lines through Apache's PATH_INFO, byte for byte", objs)
    st, b = tls_post(port, "/pix/rec", b'{"recs":[{"idRec":"R1"}]}', pki, cert="client")
    T.check(st == 200, "/pix/rec through Apache: 200", (st, b))

    before = len(lines_of(spool)[0])
    st, b = tls_post(port, "/pix", b"", pki, cert=None)
    T.check(st != 200, "no client certificate: refused (the handshake or a 4xx)", (st, b[:200]))
    st, b = tls_post(port, "/pix/pix", ('{"pix":[%s]}' % PIX2.replace("E8", "E7")).encode(),
                     pki, cert=None)
    T.check(st != 200, "no client certificate: a payment refused", (st, b[:200]))
    st, b = tls_post(port, "/pix/pix", ('{"pix":[%s]}' % PIX2.replace("E8", "E6")).encode(),
                     pki, cert="stranger")
    T.check(st != 200, "a certificate from another CA (same subject): refused", (st, b[:200]))
    st, b = tls_post(port, "/pix/pix", ('{"pix":[%s]}' % PIX2.replace("E8", "E5")).encode(),
                     pki, cert="sibling")
    T.check(st == 403 and (hs.one_line_json(b) or {}).get("error") == "client_cert_refused",
            "a certificate of the same CA with another subject: hookspool's 403 "
            "client_cert_refused (HOOKSPOOL_MTLS_SUBJECT)", (st, b[:200]))
    T.check(len(lines_of(spool)[0]) == before, "refused connections appended nothing")
    srv.stop()


def main(T):
    section_lighttpd(T)
    section_query(T)
    section_apache_mtls(T)


if __name__ == "__main__":
    hs.Suite("test_pix").run(main)
