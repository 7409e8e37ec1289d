#!/usr/bin/env python3
"""How hookspool.fcgi ends a FastCGI connection, seen from a raw client.

The program is started as spawn-fcgi and lighttpd start it: a listening
Unix socket on its descriptor 0. This test speaks the FastCGI protocol
itself (no web server), so it can see what the program does with the
connection after its answer:

- when the request's input was read to its end (the normal case), the
  program closes the connection at once: a byte sent after the answer
  finds it closed (EPIPE or ECONNRESET);
- when input was left unread (a body over HOOKSPOOL_MAX_BODY is refused
  after the limit), it keeps libfcgi's drain: it shuts down only its
  writing side and reads until the web server closes, so unread input
  cannot reset the connection before the answer is read. A byte sent
  after that answer is still taken.
In both cases the whole answer arrives first.

Between requests a worker keeps the active segment open only when it
finds another request already waiting; otherwise it closes it before it
waits, and the signal thread closes it within about a second for a
worker that saw a request waiting and then waits on a stalled one. An
idle program holds no descriptor on a segment, so a segment that a
consumer seals and deletes gives its space back.
"""
import os
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hs  # noqa: E402

FCGI_VERSION = 1
BEGIN, END, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6
RESPONDER = 1
READ_TIMEOUT = 30.0
IDLE_TIMEOUT = 10.0   # for the idle worker to close its segment descriptor


def record(rtype, content, req_id=1):
    return struct.pack("!BBHHBx", FCGI_VERSION, rtype, req_id, len(content), 0) + content


def nv(name, value):
    def ln(n):
        return struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)
    name, value = name.encode(), value.encode()
    return ln(len(name)) + ln(len(value)) + name + value


def request(params, body):
    out = record(BEGIN, struct.pack("!HB5x", RESPONDER, 0))
    p = b"".join(nv(k, v) for k, v in params.items())
    out += record(PARAMS, p) + record(PARAMS, b"")
    for i in range(0, len(body), 8192):
        out += record(STDIN, body[i:i + 8192])
    return out + record(STDIN, b"")


def read_answer(sock):
    """(stdout bytes, saw END_REQUEST, then EOF) reading records until
    the program ends its side."""
    buf, out, ended = b"", b"", False
    sock.settimeout(READ_TIMEOUT)
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out, ended, True
        buf += chunk
        while len(buf) >= 8:
            _, rtype, _, clen, plen = struct.unpack("!BBHHBx", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            content = buf[8:8 + clen]
            buf = buf[8 + clen + plen:]
            if rtype == STDOUT:
                out += content
            elif rtype == END:
                ended = True


def send_after(sock):
    """'closed' when a byte sent after the answer finds the program's end
    closed, 'open' when it is taken."""
    time.sleep(0.2)
    try:
        for _ in range(3):
            sock.send(b"x" * 16)
            time.sleep(0.05)
        return "open"
    except (BrokenPipeError, ConnectionResetError):
        return "closed"


def post_params(body, headers):
    params = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)),
              "CONTENT_TYPE": "application/json", "SCRIPT_NAME": "/hook",
              "REQUEST_URI": "/hook", "SERVER_PROTOCOL": "HTTP/1.1",
              "GATEWAY_INTERFACE": "CGI/1.1"}
    for k, v in headers.items():
        params["HTTP_" + k.upper().replace("-", "_")] = v
    return params


def start(T, tmp, name, threads):
    """hookspool.fcgi on a listening socket of its own: (process, socket
    path, spool)."""
    path = tmp.join(name + ".sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(8)
    spool = tmp.join(name + "-spool")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOOKSPOOL_SPOOL": spool,
           "HOOKSPOOL_SECRET": hs.DEMO_SECRET, "HOOKSPOOL_FSYNC": "never",
           "HOOKSPOOL_MAX_BODY": "4096", "HOOKSPOOL_THREADS": str(threads)}
    for k in ("SAN_DIR", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LD_PRELOAD"):
        if k in os.environ:
            env[k] = os.environ[k]
    proc = subprocess.Popen([hs.FCGI_RUN], stdin=lsock.fileno(), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lsock.close()

    def stop():
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=hs.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    T.on_cleanup("hookspool.fcgi " + name, stop)
    return proc, path, spool, stop


def segment_fds(proc, spool):
    """The segments (files in active/ or ready/) proc has open."""
    found = []
    for fd in os.listdir("/proc/%d/fd" % proc.pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (proc.pid, fd))
        except OSError:
            continue
        if target.startswith(spool + "/active/") or target.startswith(spool + "/ready/"):
            found.append(target)
    return found


def wait_none_held(proc, spool):
    deadline = time.monotonic() + IDLE_TIMEOUT
    held = segment_fds(proc, spool)
    while held and time.monotonic() < deadline:
        time.sleep(0.05)
        held = segment_fds(proc, spool)
    return held


def section_backstop(T, tmp):
    """One worker finds a request waiting after its answer, so it keeps
    the segment open; that connection then stalls (a client that sends
    nothing), and the worker waits on it. The signal thread's periodic
    park must close the segment anyway."""
    proc, path, spool, stop = start(T, tmp, "backstop", 1)
    body, _ = hs.caliza_event()
    whole = request(post_params(body, hs.sign(body)), body)
    cut = len(whole) - 16
    a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    a.settimeout(READ_TIMEOUT)
    a.connect(path)
    a.sendall(whole[:cut])           # the worker reads it, waiting for the end
    time.sleep(0.3)
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(path)            # queued behind it, and never sends
    a.sendall(whole[cut:])
    out, ended, _ = read_answer(a)
    a.close()
    T.check(out.startswith(b"Status: 200") and ended, "backstop: the first request is answered",
            out[:200])
    held = wait_none_held(proc, spool)
    T.check(held == [], "a worker waiting on a stalled connection holds no segment "
            "after the signal thread's park", held)
    stalled.close()
    stop()


def main(T):
    tmp = T.tempdir()
    proc, path, spool, stop = start(T, tmp, "fcgi", 2)

    def post(body, headers):
        params = post_params(body, headers)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(READ_TIMEOUT)
        s.connect(path)
        s.sendall(request(params, body))
        out, ended, eof = read_answer(s)
        after = send_after(s)
        s.close()
        return out, ended, eof, after

    body, _ = hs.caliza_event()
    for i in range(3):
        out, ended, eof, after = post(body, hs.sign(body))
        T.check(out.startswith(b"Status: 200") and b'"ok":true' in out and ended and eof,
                "input read to its end: the whole answer, END_REQUEST, then EOF (%d)" % i, out[:200])
        T.check(after == "closed", "input read to its end: the connection is closed at once (%d)" % i, after)

    big = b'{"pad":"' + b"p" * 8000 + b'"}'
    out, ended, eof, after = post(big, hs.sign(big))
    T.check(out.startswith(b"Status: 413") and ended and eof,
            "body over the limit: the whole 413 answer, END_REQUEST, then EOF", out[:200])
    T.check(after == "open", "body over the limit: libfcgi's drain kept (the program still reads)", after)

    # still serving after both kinds of ending
    out, ended, eof, after = post(body, hs.sign(body))
    T.check(out.startswith(b"Status: 200") and after == "closed", "serves the next request", out[:200])

    # idle: with no request waiting, the worker let go of the segment
    # before it waited (its answer is out first: allow it a moment)
    held = wait_none_held(proc, spool)
    T.check(held == [], "idle with no request pending: no segment descriptor open", held)
    T.check(proc.poll() is None, "hookspool.fcgi still running")
    stop()
    err = proc.stderr.read().decode(errors="replace")
    T.check(proc.returncode == 0, "exits 0 on SIGTERM", "rc=%s %s" % (proc.returncode, err[-500:]))
    section_backstop(T, tmp)


if __name__ == "__main__":
    hs.Suite("test_fcgi_close").run(main)
