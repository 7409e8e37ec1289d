"""
test_demo.py - `make run` as a user meets it (issue 3, item 2).

`make run PORT=N` (with HOOKSPOOL_DEMO_DIR pointing into a temporary
directory, so the user's own ./var/ is left alone) must start lighttpd in
the foreground with two hookspool.fcgi processes, print a ready-to-paste
curl command and the spool path; that exact command, run by sh, must get
200 with an id whose line is then in the printed spool; the printed
status command (with the demo's status token) gets the figures; the settings must
live in the lighttpd configuration it wrote, not in a hookspool.conf under
build/; and a Ctrl-C (SIGINT to the foreground process group) must stop
lighttpd and every FastCGI process.
"""
import os
import re
import select
import signal
import subprocess
import time

import hs
from servers import descendants


def read_until(proc, pattern, timeout):
    """Lines of proc's stdout until one matches pattern (bounded)."""
    out, end = [], time.monotonic() + timeout
    buf = b""
    while time.monotonic() < end:
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if not r:
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            out.append(line.decode("utf-8", "replace"))
            if re.search(pattern, out[-1]):
                return out, out[-1]
    return out, None


DEMO_CAP = 1088 << 10      # run.sh's server.max-request-size: HOOKSPOOL_MAX_BODY + 64 KiB


def main(T):
    tmp = T.tempdir()
    var = tmp.join("var")
    # lighttpd's upload-dirs (run.sh: $DEMO/tmp) on a tmpfs of the test's,
    # to see what an unsigned flood costs on disk
    uploads = os.path.join(var, "demo", "tmp")
    T.mount_tmpfs(uploads, size="256m")
    port = hs.free_port()
    env = dict(os.environ, HOOKSPOOL_DEMO_DIR=var)
    # A user's `make run`, not a sub-make of `make test SANITIZE=1` (make
    # passes its command line's variables on in the environment too).
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "SANITIZE", "VALGRIND"):
        env.pop(k, None)
    build = os.path.join(hs.ROOT, "build")
    if not os.path.isdir(build):
        # `make test SANITIZE=1` in a fresh clone builds build-san/ only:
        # build what `make run` would, first, so that what it writes
        # under build/ besides the build can be seen.
        r = subprocess.run(["make", "-s"], cwd=hs.ROOT, env=env, capture_output=True,
                           timeout=900)
        T.check(r.returncode == 0, "make builds build/ (a clone with none)", r.stderr[-500:])
    before = set(os.listdir(build)) if os.path.isdir(build) else set()
    proc = subprocess.Popen(["make", "-s", "run", "PORT=%d" % port], cwd=hs.ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        lines, end_line = read_until(proc, r"Ctrl-C stops", 180)
        curl = next((l for l in lines if re.search(r"^\s*curl .*-X POST", l)), None)
        T.check(curl is not None, "make run prints a curl command", lines[-20:])
        full = next((l for l in lines if re.search(r"^\s*curl .*Authorization: Bearer", l)), None)
        T.check(full is not None, "make run prints the status command with the status token",
                lines[-20:])
        spool_line = next((l for l in lines if l.strip().startswith("spool ")), "")
        spool = spool_line.split(None, 1)[1].strip() if spool_line else ""
        T.check(spool == os.path.join(var, "spool"), "make run prints where the spool is",
                spool_line)
        up = False
        end = time.monotonic() + 30
        while time.monotonic() < end and proc.poll() is None:
            if hs.port_answers(port):
                up = True
                break
            time.sleep(0.1)
        T.check(up, "lighttpd answers on 127.0.0.1:%d" % port)
        end = time.monotonic() + 30
        fcgi = []
        while time.monotonic() < end:
            fcgi = [p for p in descendants(proc.pid)
                    if os.path.realpath("/proc/%d/exe" % p).endswith("hookspool.fcgi")]
            if len(fcgi) >= 2:
                break
            time.sleep(0.1)
        T.check(len(fcgi) == 2, "two hookspool.fcgi FastCGI processes", fcgi)
        if curl is not None:
            r = subprocess.run(["sh", "-c", curl.strip()], capture_output=True, timeout=60)
            out = r.stdout.decode("utf-8", "replace")
            m = re.search(r'\{"ok":true,"id":"([^"]+)"\}', out)
            T.check(r.returncode == 0 and out.startswith("HTTP/1.1 200") and m,
                    "the printed curl command, pasted as is, gets 200 with an id",
                    (r.returncode, out[:300], r.stderr[-300:]))
            if m and spool:
                raw = [(p, l) for p, l in hs.spool_lines(spool, ("active", "ready"))
                       if m.group(1).encode() in l]
                objs, bad = hs.parse_lines(raw)
                T.check(len(raw) == 1 and not bad and b'"value":500.00' in raw[0][1] and
                        objs[0].get("event", {}).get("operation") == "TRANSACTION_COMPLETED",
                        "its line landed in the printed spool, 500.00 as sent",
                        (len(raw), bad[:1]))
        for chunked in (False, True):
            what = "an unsigned 64 MiB body (%s)" % ("chunked" if chunked else "Content-Length")
            watch = hs.DiskWatch([uploads], lambda: [proc.pid] + descendants(proc.pid)).start()
            try:
                st, answer, _sent = hs.flood(port, "/hooks/caliza", 64 << 20, chunked=chunked)
            finally:
                watch.stop()
            T.check(st == 413, "%s: lighttpd's 413" % what, answer[:200])
            T.check(watch.grew[uploads] <= DEMO_CAP and watch.held <= DEMO_CAP,
                    "%s: lighttpd buffered at most the cap (server.max-request-size %d KiB)"
                    % (what, DEMO_CAP >> 10), (watch.grew, watch.held))
        if full is not None:
            r = subprocess.run(["sh", "-c", full.strip()], capture_output=True, timeout=60)
            j = hs.one_line_json(r.stdout) or {}
            T.check(j.get("status") == "ok" and (j.get("counters") or {}).get("accepted") == 1,
                    "the printed status command with the token: the figures, accepted 1",
                    r.stdout[:300])
        conf = os.path.join(var, "demo", "lighttpd.conf")
        text = open(conf).read() if os.path.exists(conf) else ""
        T.check("HOOKSPOOL_SECRET" in text and "HOOKSPOOL_SPOOL" in text,
                "the settings are in the lighttpd configuration it wrote")
        after = set(os.listdir(build))
        T.check("hookspool.conf" not in after and after <= before | {"bench"},
                "nothing written under build/ (no hookspool.conf)", sorted(after - before))
        # Ctrl-C: SIGINT to the whole foreground process group.
        procs = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        T.check(proc.poll() is not None, "Ctrl-C stops make run")
        end = time.monotonic() + 20
        left = procs
        while time.monotonic() < end:
            left = [p for p in procs if os.path.exists("/proc/%d" % p) and
                    open("/proc/%d/stat" % p).read().split(") ")[-1][0] != "Z"]
            if not left:
                break
            time.sleep(0.1)
        T.check(not left, "... and lighttpd and every FastCGI process with it", left)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


if __name__ == "__main__":
    hs.Suite("test_demo").run(main)
