"""
servers.py - the web servers of a real host, beside hs.Server's lighttpd:
Apache 2.4 (mod_fcgid and mod_cgi, .htaccess honoured), nginx with
hookspool.fcgi kept running by spawn-fcgi, and lighttpd running the
shipped deploy/lighttpd snippets. Each has the interface of hs.Server
that the checks use, so the same suite runs against any of them:

    srv.port, srv.url, srv.name, srv.responses
    srv.request(method, path, body, headers) / post(body, headers, path) / get(path, headers)
    srv.errorlog, srv.log(), srv.log_size(), srv.log_since(off), srv.wait_log(off, regex)
        (errorlog: the file where the program's stderr, its log lines, lands)
    srv.start(), srv.stop(), srv.leftover (processes still alive after stop)

Every server runs as root on free 127.0.0.1 ports with its own
configuration, pid file and logs in a temp dir of the test, drops its
workers to www-data (the temp dir must be theirs: Suite.tempdir(owner=
"www-data")), and is stopped, with everything it started, by stop().
Nothing here touches port 80 or a system instance's files.

tempdir (each server's argument): where the server keeps request bodies
it buffers (lighttpd's server.upload-dirs, nginx's *_temp_path, Apache's
TMPDIR, where mod_fcgid spools a body); by default a directory of the
test's temp dir. test_hosts points it at a tmpfs of its own, to measure
what a request costs on disk.

Python 3 standard library only.
"""
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time

import hs

APACHE_MODULES = "/usr/lib/apache2/modules"


def which(name, *extra):
    p = shutil.which(name)
    if p:
        return p
    for c in extra:
        if os.access(c, os.X_OK):
            return c
    raise RuntimeError("%s not found (apt-get install %s)" % (name, name))


# ---------------------------------------------------------------- processes

def descendants(root):
    """PIDs of every living process below root."""
    parents = hs.proc_parents()
    kids = {}
    for pid, ppid in parents.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return [p for p in out if hs._alive(p)]


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def proc_exe(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return ""


def proc_user(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def runs_program(pid, program):
    """Does process pid run program (directly, or under a wrapper such as
    valgrind that names it on its command line)?"""
    real = os.path.realpath(program)
    exe = proc_exe(pid)
    if exe in (real, real + " (deleted)"):
        return True
    # valgrind's tool runs the program in its own process (not so a
    # supervisor such as multiwatch, which only names it)
    tool = os.path.basename(exe)
    if "valgrind" in tool or tool.startswith("memcheck"):
        argv = proc_cmdline(pid)
        return program in argv or real in argv
    return False


def proc_maps_paths(pid):
    """The files process pid has mapped (its /proc/PID/maps)."""
    out = set()
    try:
        with open("/proc/%d/maps" % pid) as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    out.add(parts[5].strip())
    except OSError:
        pass
    return out


def _stop_tree(proc, known, sig=signal.SIGTERM):
    """Stop proc (a session leader we started) and every process of it we
    saw; reap what was re-parented to us. Returns (those still alive,
    whether SIGKILL was needed)."""
    forced = False
    if proc is not None and proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=hs.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            forced = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=hs.STOP_TIMEOUT)
    deadline = time.monotonic() + hs.STOP_TIMEOUT
    for pid in sorted(known):
        while hs._alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if hs._alive(pid):
            forced = True
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    time.sleep(0.05)
    for pid in known:
        _reap(pid)
    return [pid for pid in known if hs._alive(pid)], forced


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _wait_port(proc, port, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if hs.port_answers(port):
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------- common

class _Http:
    """The HTTP and log methods of hs.Server, for servers that are not
    its lighttpd (they need port, url, errorlog, responses, _rlock)."""
    request = hs.Server.request
    post = hs.Server.post
    get = hs.Server.get
    log = hs.Server.log
    log_size = hs.Server.log_size
    log_since = hs.Server.log_since
    wait_log = hs.Server.wait_log
    base_url = hs.Server.base_url
    _tail = staticmethod(hs.Server._tail)

    def _init_http(self, tmp, name, url):
        import threading
        self.tmp = tmp
        self.name = name
        self.url = url
        self.port = None
        self.ports = []
        self.proc = None
        self.leftover = []
        self.responses = []
        self._rlock = threading.Lock()
        self._known = set()

    def descendants(self):
        if self.proc is None or self.proc.poll() is not None:
            return []
        d = descendants(self.proc.pid)
        self._known.update(d)
        return d

    def program_pids(self, program):
        """Living processes below the server that run program."""
        return sorted(p for p in self.descendants() if runs_program(p, program))


# ---------------------------------------------------------------- Apache

class Apache(_Http):
    """apache2 -f CONF -DFOREGROUND, as root, workers as www-data (mpm
    prefork), with mod_fcgid and mod_cgi loaded and nothing of Debian's
    /etc/apache2. conf: the rest of httpd.conf (DocumentRoot, <Directory>
    blocks, virtual hosts...), a string or a function of the server
    (called once the ports are chosen: srv.port, srv.ports[1:]).
    nports: how many free ports to choose (a VirtualHost can Listen on
    srv.ports[1]). The program's stderr lands in the ErrorLog: srv.errorlog.
    """

    def __init__(self, tmp, conf="", name="apache", nports=1, url="/", user="www-data",
                 loglevel="warn", tempdir=None, modules=()):
        self._init_http(tmp, name, url)
        self.modules = list(modules)   # loaded beside the usual ones (ssl, ...)
        self.body = conf
        self.nports = nports
        self.user = user
        self.loglevel = loglevel
        self.dir = tmp.mkdir("apache-" + name, mode=0o755)
        self.run = tmp.mkdir("apache-" + name, "run", mode=0o755)
        self.conf = os.path.join(self.dir, "httpd.conf")
        self.errorlog = os.path.join(self.dir, "error.log")
        self.outlog = os.path.join(self.dir, "apache.out")
        self.pidfile = os.path.join(self.run, "httpd.pid")
        self.forced = False
        self.tempdir = tempdir or tmp.mkdir("apache-" + name, "tmp", mode=0o700)

    def _write_conf(self):
        m = APACHE_MODULES
        mods = ["mpm_prefork", "authz_core", "authz_host", "mime", "dir", "alias", "env",
                "setenvif", "fcgid", "cgi", "rewrite"] + self.modules
        c = ["# written by tests/integration/servers.py",
             "ServerRoot %s" % self.dir,
             "ServerName localhost",
             "Listen 127.0.0.1:%d" % self.port,
             "PidFile %s" % self.pidfile,
             "DefaultRuntimeDir %s" % self.run,
             "ErrorLog %s" % self.errorlog,
             "LogLevel %s" % self.loglevel,
             "TypesConfig /dev/null"]
        c += ["LoadModule %s_module %s/mod_%s.so" % (x, m, x) for x in mods]
        c += ["User %s" % self.user,
              "Group %s" % self.user,
              "StartServers 2", "MinSpareServers 1", "MaxSpareServers 4",
              "MaxRequestWorkers 16", "Timeout 60",
              "FcgidIPCDir %s" % os.path.join(self.run, "fcgid"),
              "FcgidProcessTableFile %s" % os.path.join(self.run, "fcgid_shm"),
              "AccessFileName .htaccess",
              "<Directory />", "    AllowOverride None", "    Require all denied",
              "</Directory>",
              '<Files ".ht*">', "    Require all denied", "</Files>"]
        body = self.body(self) if callable(self.body) else self.body
        with open(self.conf, "w") as f:
            f.write("\n".join(c) + "\n" + body + "\n")

    def start(self):
        apache = which("apache2", "/usr/sbin/apache2")
        last = None
        for _attempt in range(3):
            self.ports = [hs.free_port() for _ in range(self.nports)]
            self.port = self.ports[0]
            self._write_conf()
            env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "LANG": "C", "APACHE_RUN_DIR": self.run, "APACHE_LOCK_DIR": self.run,
                   "APACHE_PID_FILE": self.pidfile, "APACHE_LOG_DIR": self.dir,
                   "APACHE_RUN_USER": self.user, "APACHE_RUN_GROUP": self.user,
                   "TMPDIR": self.tempdir}
            with open(self.outlog, "ab") as out:
                self.proc = subprocess.Popen(
                    [apache, "-f", self.conf, "-DFOREGROUND"], stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.dir,
                    start_new_session=True)
            deadline = time.monotonic() + hs.START_TIMEOUT
            if all(_wait_port(self.proc, p, deadline) for p in self.ports):
                self.descendants()
                return self
            last = self._tail(self.outlog) + self._tail(self.errorlog)
            self.stop()
        raise RuntimeError("apache2 did not start: %s" % last)

    def stop(self):
        if self.proc is None:
            return
        self.descendants()
        # SIGTERM: the parent stops its children, mod_fcgid its FastCGI
        # processes.
        self.leftover, self.forced = _stop_tree(self.proc, self._known)
        self.proc = None


# ---------------------------------------------------------------- nginx

class Nginx(_Http):
    """nginx -c CONF -g 'daemon off; pid PIDFILE;' as root, workers as
    www-data, and the FastCGI program kept running by spawn_argv (the
    spawn-fcgi command line of the shipped systemd unit, with its paths
    made the test's) in spawn_env, both children of the test.
    server_conf: what goes inside server { } (the shipped locations).
    srv.errorlog is spawn-fcgi's stderr, where the program's log lines
    land (the journal, under systemd); nginx's own log is srv.nginx_log.
    """

    def __init__(self, tmp, server_conf, spawn_argv, spawn_env, sock, program, procs=1,
                 name="nginx", url="/", user="www-data", tempdir=None):
        self._init_http(tmp, name, url)
        self.server_conf = server_conf
        self.spawn_argv = list(spawn_argv)
        self.spawn_env = dict(spawn_env)
        self.sock = sock
        self.program = program
        self.procs = procs
        self.user = user
        self.dir = tmp.mkdir("nginx-" + name, mode=0o755)
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.pidfile = os.path.join(self.dir, "nginx.pid")
        self.nginx_log = os.path.join(self.dir, "error.log")
        self.errorlog = os.path.join(self.dir, "spawn-fcgi.log")
        self.outlog = os.path.join(self.dir, "nginx.out")
        self.spawn = None
        self.spawn_forced = False
        self.tempdir = tempdir or tmp.mkdir("nginx-" + name, "tmp", mode=0o755)

    def _write_conf(self):
        d = self.dir
        for sub in ("body", "fastcgi", "proxy", "uwsgi", "scgi"):
            path = os.path.join(self.tempdir, sub)
            os.makedirs(path, mode=0o700, exist_ok=True)
            pw = hs.pwd.getpwnam(self.user)
            os.chown(path, pw.pw_uid, pw.pw_gid)
        www = self.tmp.mkdir("nginx-" + self.name, "www", mode=0o755)
        # `include fastcgi_params` is relative to the configuration's
        # directory, as /etc/nginx/fastcgi_params is for Debian's.
        shutil.copy("/etc/nginx/fastcgi_params", os.path.join(d, "fastcgi_params"))
        c = """# written by tests/integration/servers.py
user %(user)s %(user)s;
worker_processes 1;
error_log %(log)s warn;
events { worker_connections 64; }
http {
    access_log %(dir)s/access.log;
    client_body_temp_path %(tmpd)s/body;
    fastcgi_temp_path %(tmpd)s/fastcgi;
    proxy_temp_path %(tmpd)s/proxy;
    uwsgi_temp_path %(tmpd)s/uwsgi;
    scgi_temp_path %(tmpd)s/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        server_name localhost;
        root %(www)s;
%(server)s
    }
}
""" % {"user": self.user, "log": self.nginx_log, "dir": d, "port": self.port, "www": www,
       "tmpd": self.tempdir,
       "server": self.server_conf}
        with open(self.conf, "w") as f:
            f.write(c)

    def _start_spawn(self):
        with open(self.errorlog, "ab") as out:
            self.spawn = subprocess.Popen(
                self.spawn_argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=self.spawn_env, cwd="/", start_new_session=True)
        deadline = time.monotonic() + hs.START_TIMEOUT
        while time.monotonic() < deadline:
            if self.spawn.poll() is not None:
                break
            if len(self.spawn_pids()) >= self.procs and self._sock_answers():
                return
            time.sleep(0.05)
        raise RuntimeError("spawn-fcgi did not start %d x %s on %s: %s" % (
            self.procs, self.program, self.sock, self._tail(self.errorlog)))

    def _sock_answers(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def spawn_pids(self):
        """The FastCGI processes (below spawn-fcgi, which exec'd its child
        in -n mode)."""
        if self.spawn is None or self.spawn.poll() is not None:
            return []
        kids = descendants(self.spawn.pid) + [self.spawn.pid]
        self._known.update(kids)
        return sorted(p for p in kids if runs_program(p, self.program))

    def start(self):
        nginx = which("nginx", "/usr/sbin/nginx")
        self._start_spawn()
        last = None
        for _attempt in range(3):
            self.port = hs.free_port()
            self.ports = [self.port]
            self._write_conf()
            with open(self.outlog, "ab") as out:
                self.proc = subprocess.Popen(
                    [nginx, "-p", self.dir + "/", "-e", self.nginx_log, "-c", self.conf,
                     "-g", "daemon off; pid %s;" % self.pidfile],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"},
                    cwd=self.dir, start_new_session=True)
            if _wait_port(self.proc, self.port, time.monotonic() + hs.START_TIMEOUT):
                self.descendants()
                return self
            last = self._tail(self.outlog) + self._tail(self.nginx_log)
            self._stop_nginx()
        raise RuntimeError("nginx did not start: %s" % last)

    def _stop_nginx(self):
        if self.proc is not None:
            self.descendants()
            left, _forced = _stop_tree(self.proc, set(self._known))
            self.leftover += left
            self.proc = None

    def stop(self):
        self.leftover = []
        self._stop_nginx()
        if self.spawn is not None:
            self.spawn_pids()
            # SIGTERM to multiwatch (what spawn-fcgi -n became), as systemd
            # stops the unit: it asks its children to finish (SIGUSR1).
            left, self.spawn_forced = _stop_tree(self.spawn, set(self._known))
            self.leftover += left
            self.spawn = None


# ---------------------------------------------------------------- lighttpd

class Lighttpd(hs.Server):
    """hs.Server's lighttpd -D, configured by a shipped deploy/lighttpd
    snippet (its paths already made the test's) included from a minimal
    lighttpd.conf of the test's. mode "fcgi" waits for max_procs
    backends running binary."""

    def __init__(self, tmp, snippet, mode="fcgi", binary=None, name="lt", url="/hooks/caliza",
                 max_procs=2, user="www-data", tempdir=None):
        super().__init__(tmp, mode=mode, url=url, name=name, binary=binary,
                         max_procs=max_procs, user=user)
        self.tempdir = tempdir
        self.snippet = snippet
        self.snippet_path = os.path.join(self.dir, "hookspool.conf")

    def _write_conf(self):
        docroot = self.tmp.mkdir("lighttpd-" + self.name, "docroot", mode=0o755)
        uploads = self.tempdir or self.tmp.mkdir("lighttpd-" + self.name, "uploads", mode=0o700)
        with open(self.snippet_path, "w") as f:
            f.write(self.snippet)
        q = hs._lq
        c = ["server.document-root = %s" % q(docroot),
             "server.upload-dirs = ( %s )" % q(uploads),
             'server.bind = "127.0.0.1"',
             "server.port = %d" % self.port,
             "server.errorlog = %s" % q(self.errorlog),
             # the same file under another name: see hs.Server
             "server.breakagelog = %s" % q(os.path.join(
                 os.path.dirname(self.errorlog), ".", os.path.basename(self.errorlog))),
             "server.username = %s" % q(self.user),
             "server.groupname = %s" % q(self.user),
             "include %s" % q(self.snippet_path)]
        with open(self.conf, "w") as f:
            f.write("\n".join(c) + "\n")


# ---------------------------------------------------------------- systemd unit

def unit_service(path):
    """The [Service] settings of a systemd unit file: {key: [values]}
    (continuation lines joined)."""
    out = {}
    section = None
    with open(path) as f:
        text = f.read().replace("\\\n", " ")
    for line in text.splitlines():
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        if s.startswith("[") and s.endswith("]"):
            section = s[1:-1]
            continue
        if section == "Service" and "=" in s:
            k, _, v = s.partition("=")
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def unit_environment(service):
    """The Environment= assignments of a parsed [Service] section."""
    env = {}
    for v in service.get("Environment", []):
        for word in shlex.split(v):
            k, _, val = word.partition("=")
            env[k] = val
    return env


class PortView(_Http):
    """Another port of a running server (an Apache VirtualHost's): its
    own answers, the same error log; started and stopped with it."""

    def __init__(self, srv, port, name, url="/"):
        self._init_http(srv.tmp, name, url)
        self.port = port
        self.ports = [port]
        self.errorlog = srv.errorlog
        self.parent = srv

    def start(self):
        return self

    def stop(self):
        pass
