#!/usr/bin/env python3
"""Write the seed corpora of tests/fuzz/corpus/<harness>/ (run from the
repository root: python3 tests/fuzz/make_seeds.py). Each harness's input
layout is described at the top of its .c file; the seeds here follow it.
Every file is rewritten, none is removed: delete a directory first to
drop seeds that are no longer generated."""
import os
import re

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "caliza")


def put(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def caliza(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def caliza_sig(name):
    with open(os.path.join(DATA, "signatures.txt")) as f:
        for line in f:
            n, s = line.split()
            if n == name:
                return s.encode()
    raise KeyError(name)


def fields(*parts):
    return b"\0".join(p if isinstance(p, bytes) else p.encode() for p in parts)


# Published vectors (tests/unit/test_sig.c).
GH_BODY = b"Hello, World!"
GH_SIG = b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
SW_SECRET = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = b"msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TS = b"1614265330"
SW_BODY = b'{"test": 2432232314}'
SW_SIG = b"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
ST_SECRET = b"whsec_test_hookspool_5Xq8Lr2pVb"
ST_BODY = b'{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"payment_intent.succeeded"}'
ST_SIG = b"t=1492774577,v1=593b8878d2fe6786689aaeef955e9a8640e9d36fc68d264fdc4e309c713e3c25,v0=" + b"0" * 64

# ---------------------------------------------------------------- json
for n in sorted(os.listdir(DATA)):
    if n.endswith(".json"):
        put("fuzz_json", n, caliza(n))
put("fuzz_json", "escapes.json",
    r'{"a":[1,-0.5e+10,true,false,null],"b":{"c~d/e":"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t"}}')
put("fuzz_json", "surrogates.json", r'[ "\ud800", "\udc00x", {"\ud800":1, "":2, "a":3, "a":4} ]')
put("fuzz_json", "zero.json", " 0 ")
put("fuzz_json", "utf8.json", '"caf\u00e9 \U0001F600 \u20ac"')
put("fuzz_json", "trailing_comma.json", '{"amount": 500.00,}')
put("fuzz_json", "leading_zero.json", "[01]")
put("fuzz_json", "bom.json", b"\xef\xbb\xbf{}")
put("fuzz_json", "bad_escape.json", r'{"k":"\u12G4"}')
put("fuzz_json", "depth256.json", "[" * 256 + "]" * 256)
put("fuzz_json", "depth258.json", '[{"a":' * 129 + "1" + "}]" * 129)
put("fuzz_json", "nested.json", '{"id":"evt_1","data":{"object":{"items":[{"x":1e-7},{"x":-12.5E3}]}}}')
put("fuzz_json", "pointer_names.json", '{"a/b":{"m~n":[10,{"":"/a~1b/m~0n/1"}]},"caf\\u00e9":1}')
put("fuzz_json", "whitespace.json", ' \t\r\n{ "a" :\t[ 1 , 2 ]\n}\r\n')

# ---------------------------------------------------------------- sig
# ctl bytes: scheme index (fuzz_sig.c's table; 11 = parse from input),
# flip position, flip xor, flags.
def sig(name, sel, parts, body, flags=0):
    put("fuzz_sig", name, bytes([sel, 0x11, 0x20, flags]) + fields(*parts) + b"\0" + body)

sig("caliza", 0, [caliza_sig("TRANSACTION_COMPLETED.json")], caliza("TRANSACTION_COMPLETED.json"))
sig("github", 1, [GH_SIG], GH_BODY)
sig("stripe", 2, [ST_SIG], ST_BODY, 0x10)
sig("stripe_spaces", 2, [b"  t=1492774577 ,\tv1=abc, v1=" + b"a" * 64 + b" "], ST_BODY, 0x10)
sig("standard", 3, [SW_ID, SW_TS, SW_SIG, b"", b"", b""], SW_BODY)
sig("svix", 3, [b"", b"", b"", SW_ID, SW_TS, b"v2,xyz  v1,bad " + SW_SIG], SW_BODY, 0x80)
sig("standard_empty", 3, [b" ", SW_TS, SW_SIG, b"", b"", b""], SW_BODY)
sig("shopify", 4, [b"AXxDmWTa0fcdoT6CsR5DhmijZaaaHwY+77sVZs/x4ro="], b'{"id":1}')
sig("sha1hex", 5, [b"sha1=" + b"0123456789abcdefABCD" * 2], b"payload")
sig("sha512b64", 6, [b"pre=" + b"A" * 86 + b"=="], b"payload")
sig("sha256b64", 7, [b"AXxDmWTa0fcdoT6CsR5DhmijZaaaHwY+77sVZs/x4ro="], b"{}")
sig("sha256hex", 8, [b"F" * 64], b"[1,2]")
sig("bearer", 9, [b"Bearer  some-token"], b"")
sig("token", 10, [b"some-token"], b"x")
sig("parse_hmac", 11, [b"hmac-sha256-hex:X-Sig:v1=", b"hex:00112233445566778899aabbccddeeff",
                       b"v1=" + b"ab" * 32, b"", b""], b'{"a":1}')
sig("parse_standard", 11, [b"standard", SW_SECRET, SW_ID, SW_TS, SW_SIG], SW_BODY)
sig("parse_token", 11, [b"token:X-Api-Key", b"Bearer  tok", b"tok", b"", b""], b"")
sig("parse_stripe", 11, [b"stripe", ST_SECRET, ST_SIG, b"", b""], ST_BODY, 0x10)
sig("parse_b64secret", 11, [b"caliza", b"base64:AXxDmWTa0fcdoT6CsR5DhmijZaaaHwY+77sVZs/x4ro=",
                            b"x", b"", b""], b"{}")
# The sender rows of issue 15 (the fields: scheme, secret, then the row's
# signature, timestamp and id headers; the last also serves as the query
# string and the RFC 3339 text is tried on the first).
sig("parse_slack", 11, [b"slack", b"8f742231b10e8888abcd99yyyzzz85a5",
                        b"v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
                        b"1531420618", b"challenge=abc"],
    b'{"type":"url_verification","challenge":"3eZbrw1aBm2r"}')
sig("parse_twitch", 11, [b"twitch", b"s3cret", b"2019-11-16T10:11:12.634234626Z",
                         b"2019-11-16T10:11:12.634234626Z", b"msg-1"], b'{"challenge":"pogchamp"}')
sig("parse_mercadopago", 11, [b"mercadopago", b"s3cret", b"ts=1704908010,v1=" + b"a" * 64,
                              b"", b"type=payment&data.id=AbC%31+2"], b'{"data":{"id":"1"}}')
sig("parse_mailgun", 11, [b"mailgun", b"key-1", b"", b"", b""],
    b'{"signature":{"timestamp":"1529006854","token":"a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0",'
    b'"signature":"d2271d12299f6592d9d44cd9d250f0704e4674c30d79d07c47a66f95ce71cf55"},"event-data":{}}')
sig("parse_graph", 11, [b"graph", b"state", b"", b"", b"validationToken=Validation%3A+x"],
    b'{"value":[{"clientState":"state"},{"clientState":"other"}]}')
sig("parse_meta", 11, [b"meta", b"s", b"sha256=" + b"0" * 64, b"",
                       b"hub.mode=subscribe&hub.verify_token=vt&hub.challenge=1158201444"], b"{}")
sig("parse_paddle", 11, [b"paddle", b"s", b"ts=1671552777;h1=" + b"e" * 64 + b";h1=zz", b"", b""], b"{}")
sig("parse_zoom", 11, [b"zoom", b"s", b"v0=" + b"1" * 64, b"1654503849",
                       b"crc_token=x"], b'{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8"}}')
sig("parse_bad", 11, [b"hmac-sha384-hex:X", b"whsec_!!!", b"", b"", b""], b"")
sig("parse_okta", 11, [b"okta", b"tok", b"tok", b"", b""], b"{}")
sig("parse_twitter", 11, [b"twitter", b"consumer-secret", b"", b"", b"crc_token=9b4507b3-9b5b-4d2c"], b"")
sig("parse_dropbox", 11, [b"dropbox", b"app-secret", b"", b"", b"challenge=a~b-c_d.e"], b"")
sig("parse_smartsheet", 11, [b"smartsheet", b"s", b"", b"", b"x=1"],
    b'{"nonce":"4b2ed6d1","timestamp":"2023-01-01T00:00:00.000+00:00","webhookId":1,"challenge":"d7f3"}')


# template-ALG-ENC (fuzz_sig.c mode D): ctl byte 1 picks ALG and ENC
# (0 sha256-hex, 1 sha256-base64, 2 sha1-hex, 3 sha1-base64, 4 sha512-hex,
# 5 sha512-base64); the fields are HOOKSPOOL_SIGNED, HOOKSPOOL_SIGNATURE,
# the signature header's value, the timestamp header's, the query string
# and every {header:Name}'s value, then the body.
def tsig(name, alg, parts, body, flags=0):
    put("fuzz_sig", name, bytes([12, alg, 0x20, flags]) + fields(*parts) + b"\0" + body)

TF_BODY = b'{"event_id":"01HZ0TYPEFORM","event_type":"form_response"}'
tsig("tpl_typeform", 1, [b"{body}", b"Typeform-Signature: sha256={mac}",
                         b"sha256=GZ5rX0i4H8edcOJiuDfKwJKWlzs6F8OetQ75H/lD39I=", b"", b"", b""], TF_BODY)
tsig("tpl_lemonsqueezy", 0, [b"{body}", b"X-Signature: {mac}", b"ab" * 32, b"", b"", b""],
     b'{"meta":{"event_name":"order_created"}}')
tsig("tpl_workos", 0, [b"{ts}.{body}", b"WorkOS-Signature: t={ts_ms}, v1={mac}",
                       b"t=1614265330123, v1=" + b"0" * 64, b"", b"", b""], b'{"id":"event_01"}')
tsig("tpl_paddle", 0, [b"{ts}:{body}", b"Paddle-Signature: ts={ts};h1={mac}",
                       b"ts=1614265330;h1=" + b"e" * 64, b"", b"", b""], b"{}")
# CI's fuzz_sig found it (2026-12-05): '+' between the items and a Base64
# MAC, which holds '+'; now refused when read. The ',' one signs and verifies.
tsig("tpl_sep_in_mac", 5, [b"C{ts}:{body}", b"dle-Signature: ts={ts}+h1={mac}", b"", b"", b"", b""],
     b"hello")
tsig("tpl_b64_kv", 5, [b"{ts}:{body}", b"X-Sig: ts={ts},h1={mac}", b"ts=1614265330,h1=" + b"A" * 86 + b"==",
                       b"", b"", b""], b'{"amount":"500.00"}')
tsig("tpl_slack", 0, [b"v0:{ts:X-Slack-Request-Timestamp}:{body}", b"X-Slack-Signature: v0={mac}",
                      b"v0=" + b"1" * 64, SW_TS, b"", b""], b"token=x&team_id=T1")
tsig("tpl_composite", 4, [b"{{v1}}:{ts}.{header:X-Id}{query:data.id}{json:/a/b}{body}",
                          b"X-Sig:  t={ts} , v1={mac}  ", b"t=1614265330,v1=zz", b"",
                          b"data.id=Ab%31+2&x", b"id-7"], b'{"a":{"b":"c\\u00e9"},"n":-1.5e3}')
tsig("tpl_json_number", 2, [b"{json:/n}|{body}", b"X-H: sha1={mac}", b"sha1=", b"", b"", b""],
     b'{"n":12.50}')
tsig("tpl_ts_ms_header", 5, [b"{ts_ms:X-Ts}{body}", b"X-Sig: {mac}", b"A" * 86 + b"==",
                             b"1614265330000", b"", b""], b"[]")
tsig("tpl_bad_signature", 0, [b"{body}", b"X-Sig: t={ts},v1={mac},v0={mac}", b"", b"", b"", b""], b"")
tsig("tpl_bad_signed", 0, [b"{body}{body}{json:id}{", b"X-Sig: {mac}", b"", b"", b"", b""], b"")

# ---------------------------------------------------------------- dedup
# ctl: scheme index (caliza github stripe standard shopify bearer token hmac),
# bit 0 of byte 1: HOOKSPOOL_DEDUP from the input.
def dedup(name, sel, use, spec, headers, event):
    put("fuzz_dedup", name, bytes([sel, use]) + fields(spec, headers) + b"\0" + event)

dedup("caliza_default", 0, 0, b"", b"", caliza("TRANSACTION_COMPLETED.json"))
dedup("caliza_nulls", 0, 0, b"", b"", b'{"operation":null,"resourceId":null}')
dedup("json_many", 0, 1, b"json:/data/from/value, /a~1b/0,/caf\xc3\xa9,/missing,/",
      b"", b'{"data":{"from":{"value":500.00}},"a/b":[{"x":[]}],"caf\\u00e9":"\\"q\\"","":0}')
dedup("github_header", 1, 0, b"", b"X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958",
      b'{"zen":"Keep it simple"}')
dedup("standard_svix", 3, 0, b"", b"svix-id: msg_1\nwebhook-timestamp: 1", b"{}")
dedup("header_escapes", 2, 1, b"header:X-A, X-B,X-C", b"X-A: v\x01\"\\\xff\x7f\nX-B: \xc3\xa9\xed\xa0\x80", b"[1]")
dedup("off", 4, 1, b"off", b"", b"{}")
dedup("stripe_id", 2, 0, b"", b"", b'{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event"}')

# ---------------------------------------------------------------- config
# The names in hs_conf_names order, read from lib/config.c (their one
# owner): a name added there moves every later bit, and a list kept here
# once fell behind it (HOOKSPOOL_ARCHIVE_SECONDS), so the "template" and
# "meta" seeds set the wrong settings.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib", "config.c")) as f:
    _src = f.read()
_arr = _src[_src.index("hs_conf_names[] = {"):]
_arr = _arr[:_arr.index("NULL")]
NAMES = [n[len("HOOKSPOOL_"):] for n in re.findall(r'"(HOOKSPOOL_[A-Z_]+)"', _arr)]
assert len(NAMES) == 33, NAMES


def conf(name, values):
    mask = 0
    vals = []
    for i, n in enumerate(NAMES):
        if n in values:
            # Bits 24 and up are mixed from bytes 1..3 (fuzz_config.c):
            # a seed sets those settings through a config file (mode 1).
            assert i < 24, n
            mask |= 1 << i
            v = values[n]
            vals.append(v if isinstance(v, bytes) else v.encode())
        else:
            vals.append(b"")
    # Unset fields after the first 19 names are left out (the harness
    # reads a missing field as unset), so the names added by issue 15
    # change no older seed.
    while len(vals) > 19 and not (mask >> (len(vals) - 1)) & 1:
        vals.pop()
    put("fuzz_config", name, bytes([0, mask & 0xff, (mask >> 8) & 0xff, (mask >> 16) & 0xff]) +
        b"\0".join(vals))

conf("minimal", {"SPOOL": "/var/lib/hookspool/caliza", "SECRET": "s3cret"})
conf("everything", {"SPOOL": "/srv/spool", "SECRET": "base64:AXxDmWTa0fcdoT6CsR5DhmijZaaaHwY+77sVZs/x4ro=",
                    "SECRET_OLD": "hex:00ff", "SECRET_FILE": "/etc/hookspool/x.secret",
                    "SCHEME": "hmac-sha512-base64:X-Sig:pre=", "ENDPOINT": "ep-1",
                    "TOLERANCE": "300", "MAX_BODY": "1048576", "ROTATE_BYTES": "67108864",
                    "ROTATE_SECONDS": "60", "FSYNC": "never", "DEDUP": "json:/id, /a~1b",
                    "DEDUP_SECONDS": "604800", "KEEP_HEADERS": "X-A,X-B", "STATUS_TOKEN": "tok",
                    "MAX_LAG": "3600", "MIN_FREE": "1", "UMASK": "027", "INVALID_KEEP": "0"})
conf("standard", {"SPOOL": "/s", "SECRET": SW_SECRET, "SCHEME": "standard",
                  "DEDUP": "header:webhook-id,svix-id", "KEEP_HEADERS": ""})
conf("template", {"SPOOL": "/s", "SECRET": "s3cret", "SCHEME": "template-sha256-hex",
                  "SIGNED": "{ts}.{header:X-Id}{query:id}{json:/a/0}{body}",
                  "SIGNATURE": "X-Sig: t={ts_ms}, v1={mac}"})
conf("template_bad", {"SPOOL": "/s", "SECRET": "s3cret", "SCHEME": "template-sha1-base64",
                      "SIGNED": "{body", "SIGNATURE": "X-Sig: {mac}"})
conf("template_other_scheme", {"SPOOL": "/s", "SECRET": "s3cret", "SCHEME": "github",
                               "SIGNED": "{body}"})
conf("meta", {"SPOOL": "/s", "SECRET": "s3cret", "SCHEME": "meta", "VERIFY_TOKEN": "vt-1"})
conf("bad_numbers", {"SPOOL": "/s", "SECRET": "x", "TOLERANCE": "4611686018427387905",
                     "UMASK": "0778"})
# HOOKSPOOL_DEDUP=content keys by the event's bytes and has no items; the
# property once wanted items for every mode but off (CI's fuzz stage
# found it, crash-a1233ac8).
conf("dedup_content", {"SPOOL": "/s", "SECRET": "s3cret", "DEDUP": "content"})
conf("secret_file_only", {"SPOOL": "/s", "SECRET_FILE": "/run/secrets/hook", "SCHEME": "token:X-Key",
                          "SECRET": "", "STATUS_TOKEN": ""})
put("fuzz_config", "file_apache", b"\x01\0\0\0" + open(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "apache", "cgi", "hookspool.conf"), "rb").read())
put("fuzz_config", "file_quotes", b"\x01\0\0\0" +
    b"  HOOKSPOOL_SPOOL = '/var/spool/x'  \n#c\n\nHOOKSPOOL_SECRET=\"a b \"\r\n"
    b"HOOKSPOOL_CONFIG=/x\nHOOKSPOOL_SECRET=last\n")
put("fuzz_config", "file_unknown", b"\x01\x02\0\0HOOKSPOOL_SPOOL=/a\nHOOKSPOOL_SPOL=/b\n")
# The PIX preset: content dedup by default, a query token, a batch.
put("fuzz_config", "file_pix", b"\x01\0\0\0HOOKSPOOL_SPOOL=/s\nHOOKSPOOL_PRESET=pix\n"
    b"HOOKSPOOL_SCHEME=query:token\nHOOKSPOOL_SECRET=tok-123456\n")
put("fuzz_config", "file_noeq", b"\x01\0\0\0HOOKSPOOL_SPOOL=/a\njust text\n")
put("fuzz_config", "secrets_caliza", b"\x02\x00\x03\x00# comment\n  s3cret  \n\nbase64:AXxDmWTa0fcdoT6CsR5DhmijZaaaHwY+77sVZs/x4ro=\nhex:0a0b\n")
put("fuzz_config", "secrets_standard", b"\x02\x03\x0f\x00" + SW_SECRET + b"\nwhsec_!!\n")
put("fuzz_config", "secrets_token", b"\x02\x06\x00\x00Bearer  tok\n")
put("fuzz_config", "num_plain", b"\x03\x01\x00\x0012345")
put("fuzz_config", "num_zeros", b"\x03\x00\x03\x00007")
put("fuzz_config", "num_overflow", b"\x03\x00\x01\x009223372036854775808")

# ---------------------------------------------------------------- handler
# ctl: method (POST GET HEAD PUT DELETE OPTIONS post none), scheme
# (caliza github stripe standard shopify bearer token hmac-hex hmac-b64),
# flags (1 sign, 2 status token, 4 max body 64, 8 query, 16 length, 32 endpoint).
def req(name, method, scheme, flags, qs=b"", cl=b"", h1=b"", h2=b"", h3=b"", body=b""):
    put("fuzz_handler", name, bytes([method, scheme, flags]) + fields(qs, cl, h1, h2, h3) + b"\0" + body)

req("post_caliza", 0, 0, 0x01, body=caliza("TRANSACTION_FAILED.json"))
req("post_github", 0, 1, 0x01, h1=b"X_GITHUB_DELIVERY=72d3162e", h2=b"X_GITHUB_EVENT=ping\"\x01",
    body=b'{"zen":"Keep it simple"}')
req("post_standard", 0, 3, 0x01, body=SW_BODY)
req("post_stripe", 0, 2, 0x01, body=ST_BODY)
req("post_token", 0, 6, 0x01, body=b"[1,2,3]")
req("post_bad_json", 0, 0, 0x01, body=b'{"amount": 500.00,}')
req("post_unsigned", 0, 4, 0x00, h1=b"X_SHOPIFY_HMAC_SHA256=AAAA", body=b"{}")
req("post_too_large", 0, 0, 0x05, body=caliza("TRANSACTION_UETR.json"))
req("post_length", 0, 0, 0x11, cl=b"99999999999", body=b"{}")
req("get_status", 1, 0, 0x20)
req("get_prometheus", 1, 1, 0x28, qs=b"a=b&format=prometheus&c")
req("get_token", 1, 0, 0x22, h1=b"AUTHORIZATION=Bearer  wrong")
req("head", 2, 5, 0x00)
req("put", 3, 0, 0x00, body=b"{}")
req("no_method", 7, 0, 0x00)
