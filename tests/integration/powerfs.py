"""
powerfs.py - a FUSE filesystem (python3-fusepy, libfuse 2) that can lose
power.

It keeps two states of everything, in memory: what is visible now, and
what a disk would still hold after a power cut. A write reaches the
second only when it is made durable, as POSIX promises and a journaling
filesystem delivers, and no sooner:

- a file's data and size: by fsync or fdatasync on that file (fdatasync
  makes the size durable too, since the data cannot be read back
  without it; mode and times are not modelled);
- a directory's entries (a new name, an unlink, a rename or a link, in
  that directory): by fsync on that directory. A rename across two
  directories is two changes, each durable with its own directory's
  fsync, so a cut between them can leave the file under both names (or
  under neither, if the file's old directory was flushed first).

On the command "cut" (a line on the control socket) every write not made
durable is dropped at once, as a power cut drops it, and the filesystem
goes dark: every operation fails with EIO until the mount is taken down
(`umount MOUNTPOINT`, which drops the kernel's caches of the old state)
and put up again, which this process does by itself, presenting only the
durable state. "state" answers "up" or "dark"; "stats" answers counts.

Usage: python3 powerfs.py MOUNTPOINT CONTROL_SOCKET
The process runs until killed (SIGTERM: it unmounts and exits).
"""
import errno
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import fusepy

ROOT_INO = 1


class Node:
    __slots__ = ("ino", "mode", "uid", "gid", "data", "ddata", "entries", "dentries",
                 "mtime")

    def __init__(self, ino, mode, uid, gid):
        self.ino = ino
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.mtime = time.time()
        if stat.S_ISDIR(mode):
            self.entries, self.dentries = {}, {}
            self.data = self.ddata = None
        else:
            self.data, self.ddata = bytearray(), b""
            self.entries = self.dentries = None

    def is_dir(self):
        return self.entries is not None


def eio():
    return fusepy.FuseOSError(errno.EIO)


class PowerFS(fusepy.Operations):
    use_ns = True

    def __init__(self):
        self.mu = threading.RLock()
        self.nodes = {ROOT_INO: Node(ROOT_INO, stat.S_IFDIR | 0o755, 0, 0)}
        self.next_ino = ROOT_INO + 1
        self.fhs = {}            # file handle -> ino
        self.next_fh = 1
        self.dark = False
        self.counts = {"fsync": 0, "fsyncdir": 0, "cuts": 0, "writes": 0}

    # -- the two states
    def cut(self):
        """Drop every write not made durable; go dark."""
        with self.mu:
            keep = {}
            todo = [ROOT_INO]
            while todo:
                n = self.nodes[todo.pop()]
                if n.ino in keep:
                    continue
                keep[n.ino] = n
                if n.is_dir():
                    n.entries = dict(n.dentries)
                    todo.extend(n.entries.values())
                else:
                    n.data = bytearray(n.ddata)
            self.nodes = keep
            self.fhs.clear()
            self.dark = True
            self.counts["cuts"] += 1

    # -- helpers (under the lock)
    def _check(self):
        if self.dark:
            raise eio()

    def _lookup(self, path):
        n = self.nodes[ROOT_INO]
        for part in path.split("/"):
            if not part:
                continue
            if not n.is_dir():
                raise fusepy.FuseOSError(errno.ENOTDIR)
            ino = n.entries.get(part)
            if ino is None:
                raise fusepy.FuseOSError(errno.ENOENT)
            n = self.nodes[ino]
        return n

    def _parent(self, path):
        head, name = os.path.split(path.rstrip("/"))
        p = self._lookup(head or "/")
        if not p.is_dir():
            raise fusepy.FuseOSError(errno.ENOTDIR)
        return p, name

    def _node(self, path, fh):
        if fh:
            ino = self.fhs.get(fh)
            if ino is None or ino not in self.nodes:
                raise fusepy.FuseOSError(errno.EBADF)
            return self.nodes[ino]
        return self._lookup(path)

    def _links(self, n):
        if n.is_dir():
            return 2
        return sum(1 for d in self.nodes.values() if d.is_dir()
                   for i in d.entries.values() if i == n.ino)

    def _new(self, path, mode):
        p, name = self._parent(path)
        if name in p.entries:
            raise fusepy.FuseOSError(errno.EEXIST)
        uid, gid, _pid = fusepy.fuse_get_context()
        n = Node(self.next_ino, mode, uid, gid)
        self.next_ino += 1
        self.nodes[n.ino] = n
        p.entries[name] = n.ino
        p.mtime = time.time()
        return n

    def _open_fh(self, n):
        fh = self.next_fh
        self.next_fh += 1
        self.fhs[fh] = n.ino
        return fh

    def _gc(self, ino):
        """Forget an inode no name and no handle reaches (its durable
        names, if any, bring it back at a cut: keep those)."""
        n = self.nodes.get(ino)
        if n is None or n.is_dir() or ino in self.fhs.values():
            return
        for d in self.nodes.values():
            if d.is_dir() and (ino in d.entries.values() or ino in d.dentries.values()):
                return
        self.nodes.pop(ino, None)

    # -- operations
    def getattr(self, path, fh=None):
        with self.mu:
            self._check()
            n = self._node(path, fh)
            t = int(n.mtime * 1e9)
            return {"st_ino": n.ino, "st_mode": n.mode, "st_uid": n.uid, "st_gid": n.gid,
                    "st_nlink": self._links(n), "st_size": 4096 if n.is_dir() else len(n.data),
                    "st_atime": t, "st_mtime": t, "st_ctime": t, "st_blksize": 4096,
                    "st_blocks": 8 if n.is_dir() else (len(n.data) + 511) // 512}

    def access(self, path, amode):
        with self.mu:
            self._check()
            self._lookup(path)
            return 0

    def chmod(self, path, mode):
        with self.mu:
            self._check()
            n = self._lookup(path)
            n.mode = (n.mode & ~0o7777) | (mode & 0o7777)
            return 0

    def chown(self, path, uid, gid):
        with self.mu:
            self._check()
            n = self._lookup(path)
            if uid != -1 and uid != 0xffffffff:
                n.uid = uid
            if gid != -1 and gid != 0xffffffff:
                n.gid = gid
            return 0

    def utimens(self, path, times=None):
        with self.mu:
            self._check()
            n = self._lookup(path)
            n.mtime = times[1] / 1e9 if times else time.time()
            return 0

    def mkdir(self, path, mode):
        with self.mu:
            self._check()
            self._new(path, stat.S_IFDIR | (mode & 0o7777))
            return 0

    def create(self, path, mode, fi=None):
        with self.mu:
            self._check()
            n = self._new(path, stat.S_IFREG | (mode & 0o7777))
            return self._open_fh(n)

    def open(self, path, flags):
        with self.mu:
            self._check()
            n = self._lookup(path)
            if n.is_dir():
                raise fusepy.FuseOSError(errno.EISDIR)
            if flags & os.O_TRUNC:
                n.data = bytearray()
            return self._open_fh(n)

    def opendir(self, path):
        with self.mu:
            self._check()
            n = self._lookup(path)
            if not n.is_dir():
                raise fusepy.FuseOSError(errno.ENOTDIR)
            return self._open_fh(n)

    def release(self, path, fh):
        with self.mu:
            ino = self.fhs.pop(fh, None)
            if ino is not None:
                self._gc(ino)
            return 0

    releasedir = release

    def readdir(self, path, fh):
        with self.mu:
            self._check()
            n = self._node(path, fh)
            return [".", ".."] + list(n.entries)

    def read(self, path, size, offset, fh):
        with self.mu:
            self._check()
            n = self._node(path, fh)
            return bytes(n.data[offset:offset + size])

    def write(self, path, data, offset, fh):
        with self.mu:
            self._check()
            n = self._node(path, fh)
            if offset > len(n.data):
                n.data.extend(b"\0" * (offset - len(n.data)))
            n.data[offset:offset + len(data)] = data
            n.mtime = time.time()
            self.counts["writes"] += 1
            return len(data)

    def truncate(self, path, length, fh=None):
        with self.mu:
            self._check()
            n = self._node(path, fh)
            if length < len(n.data):
                del n.data[length:]
            else:
                n.data.extend(b"\0" * (length - len(n.data)))
            return 0

    def flush(self, path, fh):
        with self.mu:
            self._check()
            return 0

    def fsync(self, path, datasync, fh):
        with self.mu:
            self._check()
            n = self._node(path, fh)
            if n.is_dir():
                n.dentries = dict(n.entries)
            else:
                n.ddata = bytes(n.data)
            self.counts["fsync"] += 1
            return 0

    def fsyncdir(self, path, datasync, fh):
        with self.mu:
            self._check()
            n = self._node(path, fh)
            n.dentries = dict(n.entries)
            self.counts["fsyncdir"] += 1
            return 0

    def unlink(self, path):
        with self.mu:
            self._check()
            p, name = self._parent(path)
            ino = p.entries.get(name)
            if ino is None:
                raise fusepy.FuseOSError(errno.ENOENT)
            if self.nodes[ino].is_dir():
                raise fusepy.FuseOSError(errno.EISDIR)
            del p.entries[name]
            self._gc(ino)
            return 0

    def rmdir(self, path):
        with self.mu:
            self._check()
            p, name = self._parent(path)
            ino = p.entries.get(name)
            if ino is None:
                raise fusepy.FuseOSError(errno.ENOENT)
            if self.nodes[ino].entries:
                raise fusepy.FuseOSError(errno.ENOTEMPTY)
            del p.entries[name]
            return 0

    def link(self, target, source):
        # fusepy: link(target = the new name, source = the existing file)
        with self.mu:
            self._check()
            n = self._lookup(source)
            if n.is_dir():
                raise fusepy.FuseOSError(errno.EPERM)
            p, name = self._parent(target)
            if name in p.entries:
                raise fusepy.FuseOSError(errno.EEXIST)
            p.entries[name] = n.ino
            return 0

    def rename(self, old, new):
        with self.mu:
            self._check()
            op, oname = self._parent(old)
            np_, nname = self._parent(new)
            ino = op.entries.get(oname)
            if ino is None:
                raise fusepy.FuseOSError(errno.ENOENT)
            replaced = np_.entries.get(nname)
            del op.entries[oname]
            np_.entries[nname] = ino
            if replaced is not None and replaced != ino:
                self._gc(replaced)
            return 0

    def statfs(self, path):
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 20, "f_bfree": 1 << 19,
                "f_bavail": 1 << 19, "f_files": 1 << 20, "f_ffree": 1 << 19,
                "f_namemax": 255}


def control(fs, sock_path):
    try:
        os.unlink(sock_path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(4)
    while True:
        c, _ = srv.accept()
        with c:
            cmd = c.makefile().readline().strip()
            if cmd == "cut":
                fs.cut()
                c.sendall(b"ok\n")
            elif cmd == "state":
                c.sendall(b"dark\n" if fs.dark else b"up\n")
            elif cmd == "stats":
                with fs.mu:
                    c.sendall((" ".join("%s=%d" % kv for kv in sorted(fs.counts.items()))
                               + "\n").encode())
            else:
                c.sendall(b"?\n")


def main():
    mnt, sock_path = sys.argv[1], sys.argv[2]
    fs = PowerFS()
    threading.Thread(target=control, args=(fs, sock_path), daemon=True).start()

    def stop(signum, frame):
        subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    while True:
        with fs.mu:
            fs.dark = False
        # entry/attr timeouts 0: the kernel asks us for every lookup, so
        # nothing it cached can outlive a cut; hard_remove: an unlinked
        # file that is still open keeps its inode (no .fuse_hidden name).
        try:
            fusepy.FUSE(fs, mnt, foreground=True, nothreads=False, use_ino=True,
                        hard_remove=True, entry_timeout=0, attr_timeout=0,
                        negative_timeout=0, default_permissions=True, fsname="powerfs")
        except RuntimeError as e:
            # The kernel may abort the connection while it unmounts, with
            # requests still queued (the killed servers' last releases):
            # libfuse then reads ECONNABORTED instead of ENODEV and fuse_main
            # fails. The unmount happened all the same, which is all a cut's
            # remount needs; anything else is a real failure.
            if os.path.ismount(mnt):
                raise
            print("powerfs: unmounted with the connection aborted (%s): mounting again" % e,
                  file=sys.stderr, flush=True)
        # Unmounted (after a cut, or by hand): mount again, now up.


if __name__ == "__main__":
    main()
