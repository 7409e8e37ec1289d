#!/usr/bin/env python3
"""
bodies.py - request bodies for bench/run.sh (Python 3 standard library).

  bodies.py body SIZE OUT
      Caliza's TRANSACTION_COMPLETED example (tests/data/caliza), pretty-
      printed as Caliza sends it, padded to exactly SIZE bytes: bodies past
      a few KiB get an "items" array of copies of the "data" object (so a
      large body is mixed JSON, not one long string), then a "memo" string
      fills the rest. The resourceId is the 24-byte token RID_TOKEN, which
      the users of the template replace by a 24-byte id.

  bodies.py pool TEMPLATE SECRET N OUT [LETTER]
      N distinct signed events: one line "RID SIGNATURE" each, where RID is
      24 bytes (LETTER, default "p", and 23 digits) and SIGNATURE is the Caliza signature
      (Base64 HMAC-SHA256 of the template with RID in place of the token,
      keyed with SECRET's literal bytes, as Caliza and hookspool do).

  bodies.py sign TEMPLATE SECRET RID
      The signature of one such body (run.sh checks it against
      `hookspool sign`).
"""
import base64
import hashlib
import hmac
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
EXAMPLE = os.path.join(ROOT, "tests", "data", "caliza", "TRANSACTION_COMPLETED.json")
RID_TOKEN = b"@RID" + b"@" * 20          # 24 bytes, like a Caliza resourceId
ORIG_RID = b'"resourceId": "632a208b806bd70097197367"'
MEMO = b"Pagamento referente ao pedido 000123, parcela 1 de 1; "


def body(size):
    text = open(EXAMPLE, "rb").read()
    assert ORIG_RID in text, "the example changed: update bench/bodies.py"
    text = text.replace(ORIG_RID, b'"resourceId": "' + RID_TOKEN + b'"', 1)
    # The "data" object as it is printed in the example, one level deeper.
    start = text.index(b'"data": {') + len(b'"data": ')
    end = text.rindex(b"}", 0, text.rindex(b"}"))           # the data object's "}"
    lines = text[start:end + 1].split(b"\n")
    item = b"\n".join(lines[:1] + [b"  " + l if l else l for l in lines[1:]])
    head = text[:text.rindex(b"}")].rstrip()                # the event without its last "}"
    tail_fixed = b',\n  "memo": ""\n}\n'

    def assemble(k, memo_len):
        out = head
        if k:
            out += b',\n  "items": [\n    ' + b",\n    ".join([item] * k) + b"\n  ]"
        memo = (MEMO * (memo_len // len(MEMO) + 1))[:memo_len]
        return out + b',\n  "memo": "' + memo + b'"\n}\n'

    base = len(assemble(0, 0))
    if size < base:
        raise SystemExit("bodies.py: %d bytes is less than the example's %d" % (size, base))
    k = 0
    one = len(assemble(1, 0)) - base
    if size - base > 4096:
        k = (size - base - 1024) // (one + 6)
        while len(assemble(k, 0)) > size:
            k -= 1
    b = assemble(k, size - len(assemble(k, 0)))
    assert len(b) == size, (len(b), size)
    json.loads(b)                                           # valid JSON
    return b


def sign(template, secret, rid):
    msg = template.replace(RID_TOKEN, rid, 1)
    return base64.b64encode(hmac.new(secret, msg, hashlib.sha256).digest())


def main(argv):
    if len(argv) == 4 and argv[1] == "body":
        with open(argv[3], "wb") as f:
            f.write(body(int(argv[2])))
    elif len(argv) in (6, 7) and argv[1] == "pool":
        letter = argv[6].encode() if len(argv) == 7 else b"p"
        assert len(letter) == 1
        template = open(argv[2], "rb").read()
        secret = argv[3].encode()
        n = int(argv[4])
        i = template.index(RID_TOKEN)
        pre, post = template[:i], template[i + len(RID_TOKEN):]
        key = hmac.new(secret, pre, hashlib.sha256)          # the prefix once
        with open(argv[5], "wb") as f:
            for j in range(n):
                rid = letter + b"%023d" % j
                h = key.copy()
                h.update(rid)
                h.update(post)
                f.write(rid + b" " + base64.b64encode(h.digest()) + b"\n")
    elif len(argv) == 5 and argv[1] == "sign":
        template = open(argv[2], "rb").read()
        sys.stdout.write(sign(template, argv[3].encode(), argv[4].encode()).decode() + "\n")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
