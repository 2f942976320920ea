"""Helpers for the network-services tests (test_services.py): FAT images
made and checked on the host, an HTTP/1.1 reader for raw sockets, a TFTP
client (RFC 1350 with the option extension: blksize, tsize), sockets made
inside a network namespace, a namespace with a tap device, a small HTTP
server on 127.0.0.1 for `http get`, and the relay that QEMU's guestfwd runs.

Everything stays on this machine: servers bind 127.0.0.1, the namespace is
one this module makes (and always deletes), every wait is bounded.
Standard library only.
"""

import contextlib
import ctypes
import hashlib
import http.server
import itertools
import os
import random
import re
import socket
import socketserver
import struct
import subprocess
import threading
import time

ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1", LC_ALL="C.UTF-8")  # UTF-8 long names


# ---- data ------------------------------------------------------------------

def blob(size, seed):
    """size reproducible pseudo-random bytes (fast: the C generator)."""
    return random.Random(seed).randbytes(size) if size else b""


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- FAT images --------------------------------------------------------------

def run(*argv, check=True):
    r = subprocess.run([str(a) for a in argv], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=300)
    out = r.stdout.decode("utf-8", "replace")
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(map(str, argv)), r.returncode, out))
    return out


def make_image(path, size_mib, fat=32, files=(), dirs=(), volid="1234ABCD", spc=None):
    """A sparse whole-disk FAT image of size_mib MiB made with mkfs.fat, with
    the directories dirs ('/a/b') and the files (a dict, or pairs, of
    '/dir/name' -> bytes) copied in with mtools, in that order."""
    with open(path, "wb") as f:
        f.truncate(size_mib << 20)
    if spc is None:
        spc = 1 if fat == 16 else None  # small FAT16 volumes need small clusters
    run("mkfs.fat", "-F", fat, "-S", 512, *(["-s", spc] if spc else []), "--invariant", "-i", volid, path)
    for d in dirs:
        run("mmd", "-i", path, "::" + d)
    items = files.items() if isinstance(files, dict) else files
    src = str(path) + ".src"
    for name, data in items:
        with open(src, "wb") as f:
            f.write(data)
        run("mcopy", "-i", path, src, "::" + name)
    if os.path.exists(src):
        os.unlink(src)
    return path


def fsck(path):
    """fsck.fat -n: must be clean (status 0, no complaint); returns its output."""
    r = subprocess.run(["fsck.fat", "-n", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=300)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, "fsck.fat -n %s:\n%s" % (path, out)
    assert "differences between boot sector and its backup" not in out, out
    assert "Free cluster summary wrong" not in out, out
    return out


def mtype(path, name):
    """The bytes of file name on the image (mcopy to stdout)."""
    r = subprocess.run(["mcopy", "-n", "-i", str(path), "::" + name, "-"], env=ENV, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    assert r.returncode == 0, "mcopy ::%s: %s" % (name, r.stderr.decode("utf-8", "replace"))
    return r.stdout


def mdir_names(path, d="/"):
    """The names in directory d of the image (hidden ones too), sorted."""
    out = run("mdir", "-b", "-a", "-i", path, "::" + d, check=False)
    return sorted(os.path.basename(l.strip().rstrip("/")) for l in out.splitlines() if l.strip())


def fat_geometry(path):
    """(bytes per sector, sectors per cluster, first data sector) from the BPB."""
    with open(path, "rb") as f:
        bs = f.read(512)
    bps, spc, reserved, nfats, rootents, tot16, _media, fatsz16 = struct.unpack_from("<HBHBHHBH", bs, 11)
    fatsz = fatsz16 or struct.unpack_from("<I", bs, 36)[0]
    root_secs = (rootents * 32 + bps - 1) // bps
    return bps, spc, reserved + nfats * fatsz + root_secs


def first_cluster(path, name):
    """The first cluster of file name on the image (mshowfat)."""
    out = run("mshowfat", "-i", path, "::" + name)
    m = re.search(r"<(\d+)", out)
    assert m, out
    return int(m.group(1))


def sector_of(path, name, offset):
    """The 512-byte sector holding byte offset of file name, if its clusters
    are contiguous (mtools writes a file on a fresh image so)."""
    bps, spc, data = fat_geometry(path)
    assert bps == 512
    return data + (first_cluster(path, name) - 2) * spc + offset // 512


# ---- HTTP over raw sockets ---------------------------------------------------

class HttpResponse:
    def __init__(self, status, reason, headers, body, version):
        self.status, self.reason, self.headers, self.body, self.version = status, reason, headers, body, version

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<HTTP %d %s %r %d bytes>" % (self.status, self.reason, self.headers, len(self.body))


class Conn:
    """One TCP connection that reads HTTP responses (Content-Length framed,
    or up to the close), for keep-alive and raw-request tests."""

    def __init__(self, host, port, timeout=30.0, sock=None):
        self.sock = sock or socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode("latin-1"))

    def request(self, method, path, headers=(), body=None, host="tinyvio"):
        h = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host] + list(headers)
        if body is not None:
            h.append("Content-Length: %d" % len(body))
        self.send(("\r\n".join(h) + "\r\n\r\n").encode("latin-1") + (body or b""))

    def _fill(self):
        d = self.sock.recv(1 << 20)
        if not d:
            raise EOFError("connection closed by the server (%d bytes unread)" % len(self.buf))
        self.buf += d

    def read_response(self, head_only=False, sink=None):
        """The next response; head_only for a HEAD (no body follows).  With
        sink (a hashlib object) the body is hashed, not kept."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.fullmatch(r"HTTP/1\.(\d) (\d{3}) ?(.*)", lines[0])
        assert m, "bad status line %r" % lines[0]
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            assert k and _ and k == k.strip(), "bad header line %r" % l
            headers[k.lower()] = v.strip()
        status = int(m.group(2))
        if status == 100:
            return self.read_response(head_only, sink)
        if head_only or status in (204, 304):
            return HttpResponse(status, m.group(3), headers, b"", int(m.group(1)))
        if "content-length" in headers:
            n = int(headers["content-length"])
            if sink is None:
                while len(self.buf) < n:
                    self._fill()
                body, self.buf = self.buf[:n], self.buf[n:]
            else:
                got = 0
                while got < n:
                    if not self.buf:
                        self._fill()
                    take = self.buf[:n - got]
                    sink.update(take)
                    got += len(take)
                    self.buf = self.buf[len(take):]
                body = b""
        else:
            while True:
                try:
                    self._fill()
                except EOFError:
                    break
            body, self.buf = self.buf, b""
        return HttpResponse(status, m.group(3), headers, body, int(m.group(1)))

    def closed_by_peer(self, timeout):
        """True if the server closes (FIN or reset) within timeout seconds
        (what it sends meanwhile is read and dropped); False if it stays open."""
        end = time.monotonic() + timeout
        try:
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                if not self.sock.recv(1 << 20):
                    return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        self.sock.close()


# ---- network namespaces --------------------------------------------------------

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_ns_counter = itertools.count()


def ns_socket(ns, family=socket.AF_INET, type=socket.SOCK_STREAM):
    """A socket made inside network namespace ns (from a thread that joins
    it: a namespace is a thread's; the socket stays in it)."""
    out = {}

    def make():
        try:
            with open("/run/netns/%s" % ns) as f:
                if _libc.setns(f.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns(%s)" % ns)
            out["sock"] = socket.socket(family, type)
        except BaseException as e:  # handed to the caller
            out["err"] = e

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if "err" in out:
        raise out["err"]
    return out["sock"]


def ns_connect(ns, addr, port, timeout=30.0):
    s = ns_socket(ns)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
    except BaseException:
        s.close()
        raise
    return s


def _ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise AssertionError("ip %s failed: %s" % (" ".join(args), r.stderr.strip()))
    return r


def netns_unusable():
    """A reason a namespace with a tap cannot be made here, or None."""
    if os.geteuid() != 0:
        return "not root: cannot make a network namespace and a tap device"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    try:
        with netns_with_tap("192.168.77.1/24"):
            pass
    except (AssertionError, OSError, subprocess.SubprocessError) as e:
        return "cannot make a network namespace with a tap device: %s" % e
    return None


@contextlib.contextmanager
def netns_with_tap(host_cidr, tap="tvsvc0"):
    """A network namespace of our own (a unique name) with lo up and an up
    tap device holding host_cidr.  Yields the namespace's name.  On the way
    out whatever runs in it is killed, and the namespace deleted."""
    ns = "tvsvc%d_%d" % (os.getpid(), next(_ns_counter))
    _ip("netns", "del", ns, check=False)
    _ip("netns", "add", ns)
    try:
        _ip("netns", "exec", ns, "ip", "tuntap", "add", "dev", tap, "mode", "tap")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "addr", "add", host_cidr, "dev", tap)
        _ip("-n", ns, "link", "set", tap, "up")
        yield ns
    finally:
        r = _ip("netns", "pids", ns, check=False)
        for pid in r.stdout.split():
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        end = time.monotonic() + 10
        while _ip("netns", "pids", ns, check=False).stdout.strip() and time.monotonic() < end:
            time.sleep(0.05)
        _ip("-n", ns, "link", "del", tap, check=False)
        _ip("netns", "del", ns, check=False)


def in_ns(ns, argv, timeout, **kw):
    """Runs argv inside namespace ns; the CompletedProcess."""
    return subprocess.run(["ip", "netns", "exec", ns] + [str(a) for a in argv], capture_output=True,
                          timeout=timeout, **kw)


# ---- TFTP ------------------------------------------------------------------------

RRQ, WRQ, DATA, ACK, ERROR, OACK = 1, 2, 3, 4, 5, 6


class TftpError(Exception):
    """An ERROR packet from the server (code, message), or code None for
    no answer at all."""

    def __init__(self, code, msg):
        super().__init__("TFTP error %s: %s" % (code, msg))
        self.code, self.msg = code, msg


def tftp_request(op, name, options=None, mode="octet"):
    b = struct.pack("!H", op) + name.encode("utf-8") + b"\0" + mode.encode() + b"\0"
    for k, v in (options or {}).items():
        b += k.encode() + b"\0" + str(v).encode() + b"\0"
    return b


def parse_oack(pkt):
    parts = pkt[2:].split(b"\0")
    assert parts[-1] == b"", "OACK not NUL-terminated: %r" % pkt
    parts = parts[:-1]
    assert len(parts) % 2 == 0, "OACK with an odd number of strings: %r" % pkt
    return {parts[i].decode().lower(): parts[i + 1].decode() for i in range(0, len(parts), 2)}


def parse_error(pkt):
    code = struct.unpack("!H", pkt[2:4])[0]
    msg = pkt[4:].split(b"\0", 1)[0].decode("utf-8", "replace")
    return code, msg


class Tftp:
    """A TFTP client for one server; make_socket() gives a fresh UDP socket
    (in a namespace, or not).  Transfers are lock-step, resending on a
    timeout (tries times), every packet checked."""

    def __init__(self, addr, port=69, make_socket=None, timeout=2.0, tries=5):
        self.addr, self.port = addr, port
        self.make_socket = make_socket or (lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        self.timeout, self.tries = timeout, tries

    def _exchange(self, s, pkt, dest, accept):
        """Sends pkt to dest until a packet that accept(pkt, src) takes
        (returns non-None) comes; returns (its value, src)."""
        for _ in range(self.tries):
            s.sendto(pkt, dest)
            end = time.monotonic() + self.timeout
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                s.settimeout(left)
                try:
                    data, src = s.recvfrom(70000)
                except socket.timeout:
                    break
                if len(data) >= 4 and struct.unpack("!H", data[:2])[0] == ERROR:
                    if dest[1] == self.port or src == dest:
                        raise TftpError(*parse_error(data))
                    continue
                v = accept(data, src)
                if v is not None:
                    return v, src
        raise TftpError(None, "no answer after %d tries" % self.tries)

    def get(self, name, options=None, mode="octet", sink=None, expect_oack=None):
        """Reads name; returns (data or b"" with sink, the OACK's options or None).
        sink (a hashlib object) hashes the data instead of keeping it."""
        with self.make_socket() as s:
            req = tftp_request(RRQ, name, options, mode)
            blksize = 512
            out = bytearray()
            state = {"oack": None}

            def first(data, src):
                op = struct.unpack("!H", data[:2])[0]
                if op == OACK and options:
                    return ("oack", parse_oack(data))
                if op == DATA and struct.unpack("!H", data[2:4])[0] == 1:
                    return ("data", data)
                return None

            (kind, val), peer = self._exchange(s, req, (self.addr, self.port), first)
            assert peer[0] == self.addr and peer[1] != self.port, "answer from %s (not a new TID)" % (peer,)
            if kind == "oack":
                state["oack"] = val
                blksize = int(val.get("blksize", 512))
                block, pkt = 0, struct.pack("!HH", ACK, 0)
            else:
                block, pkt = 0, None
                data = val
            total = 0
            while True:
                want = (block + 1) & 0xFFFF
                if pkt is not None:
                    def nxt(d, src, want=want):
                        if src != peer or len(d) < 4:
                            return None
                        op, n = struct.unpack("!HH", d[:4])
                        return d if op == DATA and n == want else None
                    data, _ = self._exchange(s, pkt, peer, nxt)
                payload = data[4:]
                assert len(payload) <= blksize, "DATA of %d bytes, blksize %d" % (len(payload), blksize)
                if sink is not None:
                    sink.update(payload)
                else:
                    out += payload
                total += len(payload)
                block = want
                pkt = struct.pack("!HH", ACK, block)
                if len(payload) < blksize:
                    s.sendto(pkt, peer)  # the last ACK
                    break
            return bytes(out), state["oack"]

    def put(self, name, data, options=None, mode="octet"):
        """Writes data as name; returns the OACK's options (or None)."""
        with self.make_socket() as s:
            req = tftp_request(WRQ, name, options, mode)

            def first(d, src):
                op = struct.unpack("!H", d[:2])[0]
                if op == OACK and options:
                    return ("oack", parse_oack(d))
                if op == ACK and struct.unpack("!H", d[2:4])[0] == 0:
                    return ("ack", None)
                return None

            (kind, oack), peer = self._exchange(s, req, (self.addr, self.port), first)
            assert peer[0] == self.addr and peer[1] != self.port, "answer from %s (not a new TID)" % (peer,)
            blksize = int(oack.get("blksize", 512)) if oack else 512
            block = 0
            off = 0
            while True:
                chunk = data[off:off + blksize]
                block = (block + 1) & 0xFFFF
                pkt = struct.pack("!HH", DATA, block) + chunk

                def acked(d, src, want=block):
                    if src != peer or len(d) < 4:
                        return None
                    op, n = struct.unpack("!HH", d[:4])
                    return True if op == ACK and n == want else None

                self._exchange(s, pkt, peer, acked)
                off += len(chunk)
                if len(chunk) < blksize:
                    return oack


# ---- an HTTP server on 127.0.0.1 for `http get` ------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append((self.command, self.path, dict(self.headers)))
        path = self.path
        if path.startswith("/files/"):
            data = srv.files.get(path[len("/files/"):])
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            return
        if path.startswith("/nolength/"):
            data = srv.files[path[len("/nolength/"):]]
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True
            return
        m = re.fullmatch(r"/status/(\d+)", path)
        if m:
            body = b"status body\n"
            self.send_response(int(m.group(1)))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            return
        m = re.fullmatch(r"/(cut|reset|stall)/(\d+)", path)
        if m:
            # Announces n bytes; sends half; then closes, resets, or goes silent.
            n = int(m.group(2))
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(blob(n // 2, 5))
            self.wfile.flush()
            if m.group(1) == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif m.group(1) == "stall":
                srv.stop.wait(srv.stall_s)
            self.close_connection = True
            return
        self.send_error(404)


class HostHttpServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Serves files (name -> bytes) at /files/NAME (and /nolength/NAME,
    close-delimited), any status at /status/N, and bodies cut short at
    /cut/N, /reset/N, /stall/N, on 127.0.0.1."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, files, stall_s=30):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.requests = []
        self.stop = threading.Event()
        self.stall_s = stall_s
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server_address[1]

    def close(self):
        self.stop.set()
        self.shutdown()
        self.server_close()


RELAY = r'''"""guestfwd cmd: relays the guest's connection (stdin/stdout) to 127.0.0.1:PORT."""
import os, socket, sys, threading
null = os.open(os.devnull, os.O_WRONLY)
os.dup2(null, 2)  # stderr is the guest's connection too: keep it quiet
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
except OSError:
    os._exit(1)
s.settimeout(None)
def up():
    try:
        while True:
            d = os.read(0, 65536)
            if not d:
                break
            s.sendall(d)
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
threading.Thread(target=up, daemon=True).start()
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        while d:
            n = os.write(1, d)
            d = d[n:]
except OSError:
    pass
os._exit(0)
'''


# ---- timing ------------------------------------------------------------------------

def wait_until(pred, timeout, step=0.1, what="a condition"):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timeout after %.0f s waiting for %s" % (timeout, what))
        time.sleep(step)
