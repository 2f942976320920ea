"""The network services over the FAT volumes (console contract, "Network"):
the HTTP/1.1 server (`httpd`), the TFTP server (`tftpd`), the iperf 2
server (`iperf`), the HTTP client (`http get`) and the kernel option
`net.serve`.

    /usr/bin/python3 -m pytest -q tests/qemu/test_services.py --machines=pc,q35

How each is reached, all on this machine:
- HTTP and iperf: QEMU's user networking with restrict=on and hostfwd on
  127.0.0.1 (Python's http.client and raw sockets, Debian's iperf); the
  guest has the address QEMU's DHCP would give, set statically.
- TFTP, the read-only boot (net.serve), files larger than the guest's RAM,
  a download never read, a file replaced while sent: a tap device inside a
  network namespace this file makes and deletes, QEMU run in it (`ip netns
  exec`), host 192.168.76.1, guest 192.168.76.2; the host's sockets are made
  inside the namespace (a thread joins it), curl and iperf run in it.
  Skipped with a reason where no namespace can be made (not root, no
  /dev/net/tun).
- `http get`: a server on 127.0.0.1 reached from the guest through
  guestfwd=tcp:10.0.2.100:80-cmd:RELAY (a relay per guest connection).

Files are made on the host with mkfs.fat and mtools, compared by SHA-256,
and the images checked after `sync` and after `poweroff` with fsck.fat -n
and mtools.  Disk errors come from QEMU's blkdebug.  Every load (floods,
concurrent clients) is bounded in count and time.
"""

import contextlib
import hashlib
import html
import http.client
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

import netutil
import svcutil
import tinyvio
from svcutil import Conn, Tftp, TftpError, blob, sha256

MiB = 1 << 20
SIZES = [0, 1, 1460, 65536, 3 * MiB + 1]
BIG = 64 * MiB
HUGE = 256 * MiB  # more than the guest's RAM (-m 128)
TAP_HOST, TAP_GUEST = "192.168.76.1", "192.168.76.2"
RELAY_IP = "10.0.2.100"
HTTPD_CONNS, TFTP_XFERS = 32, 8
HTTPD_IDLE_S, IPERF_IDLE_S = 15, 10
HEAD_MAX, PATH_MAX = 8192, 1024
HTTP_GET_LINE = re.compile(r"http get status=(\d+) size=(\d+) ns=(\d+) mibps=(\d+\.\d)")


def sized(n):
    return "/sizes/s%d.bin" % n


SIZED = {sized(n): blob(n, n + 1) for n in SIZES}

# name -> the Content-Type the contract's server gives it (by extension).
TYPED = {
    "/types/index.html": "text/html; charset=utf-8",
    "/types/page.HTM": "text/html; charset=utf-8",
    "/types/notes.txt": "text/plain; charset=utf-8",
    "/types/SHOUT.TXT": "text/plain; charset=utf-8",
    "/types/style.css": "text/css",
    "/types/app.js": "text/javascript",
    "/types/data.json": "application/json",
    "/types/pic.png": "image/png",
    "/types/photo.jpeg": "image/jpeg",
    "/types/arch.tar.gz": "application/gzip",
    "/types/noext": "application/octet-stream",
    "/types/blob.bin": "application/octet-stream",
    "/types/v1.0/readme": "application/octet-stream",  # a dot in the directory is no extension
}

# Names a listing must show and link correctly: space, &, %, non-ASCII.
LISTED = {
    "/list/a file.txt": b"spaces\n",
    "/list/b&c.txt": b"ampersand\n",
    "/list/100% real.txt": b"percent\n",
    "/list/Gr\u00fc\u00dfe aus K\u00f6ln.txt": b"utf-8\n",
    "/list/sub/inner.txt": b"inner\n",
}


# ---- images ------------------------------------------------------------------

@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """The read-only library: vda with every test file and a 64 MiB one,
    vdb a small volume of its own.  Booted with snapshot=on, so no boot
    changes them."""
    d = tmp_path_factory.mktemp("library")
    files = dict(SIZED)
    files.update({name: ("%s\n" % name).encode() for name in TYPED})
    files.update(LISTED)
    files["/README.TXT"] = b"Hello from tinyvio.\r\n"
    files["/big/big64.bin"] = blob(BIG, 64)
    vda = svcutil.make_image(d / "vda.img", 128, fat=32, files=files,
                             dirs=["/sizes", "/types", "/types/v1.0", "/list", "/list/sub", "/big", "/empty"])
    vdb = svcutil.make_image(d / "vdb.img", 8, fat=16, files={"/hello.txt": b"hello from vdb\n"})
    return {"vda": vda, "vdb": vdb, "big_sha": sha256(files["/big/big64.bin"])}


def drive(img, idx, snapshot=False, readonly=False, dev=""):
    opts = "file=%s,format=raw,if=none,id=d%d" % (img, idx)
    opts += ",snapshot=on" if snapshot else ""
    opts += ",readonly=on" if readonly else ""
    return ["-drive", opts, "-device", "virtio-blk-pci,drive=d%d%s" % (idx, dev)]


def blkdebug_drive(img, rules, idx):
    return ["-drive", "driver=raw,file.driver=blkdebug,file.config=%s,file.image.driver=file,"
            "file.image.filename=%s,if=none,id=d%d,werror=report,rerror=report" % (rules, img, idx),
            "-device", "virtio-blk-pci,drive=d%d" % idx]


def blkdebug_rules(path, iotype, sectors):
    """A blkdebug rules file: every `iotype` (read or write) request that
    covers one of sectors fails with EIO, every time."""
    event = {"read": "read_aio", "write": "write_aio"}[iotype]
    with open(path, "w") as f:
        for s in sectors:
            f.write('[inject-error]\nevent = "%s"\nerrno = "5"\nonce = "off"\niotype = "%s"\nsector = "%d"\n\n'
                    % (event, iotype, s))
    return path


def free_bytes(img):
    out = svcutil.run("mdir", "-i", img, "::/")
    m = re.search(r"([\d ]+) bytes free", out)
    return int(m.group(1).replace(" ", ""))


def no_upload_leftovers(img, d="/"):
    names = svcutil.mdir_names(img, d)
    assert not [n for n in names if n.lower().startswith(".upload")], names


# ---- the guest -----------------------------------------------------------------

class Guest:
    """A booted kernel and the ways to reach its services."""

    def __init__(self, q, ns=None, fwd=None):
        self.q, self.ns, self.fwd = q, ns, fwd or {}

    # the shell
    def ok(self, line, timeout=None):
        out = self.q.cmd_lines(line, timeout)
        assert not any(l.startswith("error:") for l in out), (line, out)
        return out

    def error(self, line, timeout=None):
        out = self.q.cmd_lines(line, timeout)
        assert len(out) == 1 and out[0].startswith("error: "), (line, out)
        return out[0]

    def alive(self):
        assert self.q.cmd("echo still here") == "still here"

    def df_free(self, path):
        (line,) = self.ok("df " + path)
        m = re.fullmatch(r"fat=\d+ cluster=(\d+) total=\d+ free=(\d+)", line)
        assert m, line
        return int(m.group(1)) * int(m.group(2))

    def poweroff(self):
        self.q.send_raw("poweroff\n")
        assert self.q.wait_exit() == tinyvio.EXIT_POWEROFF, tinyvio.normalise(self.q.text)

    # TCP
    def connect(self, guest_port=80, timeout=30.0):
        if self.ns:
            return svcutil.ns_connect(self.ns, TAP_GUEST, guest_port, timeout)
        s = socket.create_connection(("127.0.0.1", self.fwd[guest_port]), timeout=timeout)
        s.settimeout(timeout)
        return s

    def conn(self, guest_port=80, timeout=30.0):
        return Conn(None, None, sock=self.connect(guest_port, timeout))

    def http(self, method, path, headers=(), body=None, timeout=30.0):
        c = self.conn(timeout=timeout)
        try:
            c.request(method, path, headers, body)
            return c.read_response(head_only=method == "HEAD")
        finally:
            c.close()

    def http_client(self, timeout=30.0):
        """http.client on the guest's port 80 (user networking only)."""
        assert not self.ns
        return http.client.HTTPConnection("127.0.0.1", self.fwd[80], timeout=timeout)

    # UDP
    def udp_socket(self):
        assert self.ns, "UDP replies need the tap (user networking drops them)"
        return svcutil.ns_socket(self.ns, type=socket.SOCK_DGRAM)

    def tftp(self, port=69, timeout=2.0, tries=5):
        return Tftp(TAP_GUEST, port, make_socket=self.udp_socket, timeout=timeout, tries=tries)

    def in_ns(self, argv, timeout=120, **kw):
        return svcutil.in_ns(self.ns, argv, timeout, **kw)


@pytest.fixture(scope="module")
def netns_ok():
    reason = svcutil.netns_unusable()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def vm(machine, accel, qemu_timeout, tmp_path):
    """vm(disks, append=None, tap=False, guestfwd_port=None, extra=()) -> a Guest
    at its first prompt.  User networking (restrict=on) forwards
    127.0.0.1:free ports to the guest's 80 and 5001; guestfwd_port relays
    the guest's connections to 10.0.2.100:80 to that port on 127.0.0.1.
    tap=True runs QEMU in a namespace of its own with a tap.  Everything is
    killed and deleted at teardown."""
    reason = tinyvio.missing_prerequisite(accel)
    if reason:
        pytest.skip(reason)
    stack = contextlib.ExitStack()

    def _vm(disks=(), append=None, tap=False, guestfwd_port=None, extra=()):
        args = []
        for d in disks:
            args += d
        ns, fwd, prefix = None, {}, ()
        if tap:
            ns = stack.enter_context(svcutil.netns_with_tap(TAP_HOST + "/24"))
            prefix = ["ip", "netns", "exec", ns]
            netdev = "tap,id=n0,ifname=tvsvc0,script=no,downscript=no,vhost=off"
            append = ("net.ip=%s/24 " % TAP_GUEST) + (append or "")
        else:
            # A static address (the one QEMU's DHCP would give): served at once,
            # no lease to wait for.
            append = "net.ip=10.0.2.15/24 " + (append or "")
            fwd = {80: netutil.free_port(), 5001: netutil.free_port()}
            netdev = "user,id=n0,restrict=on" + "".join(
                ",hostfwd=tcp:127.0.0.1:%d-:%d" % (h, g) for g, h in fwd.items())
            if guestfwd_port:
                relay = tmp_path / "relay.py"
                relay.write_text(svcutil.RELAY)
                netdev += ",guestfwd=tcp:%s:80-cmd:%s %s %d" % (RELAY_IP, sys.executable, relay, guestfwd_port)
                assert "," not in "%s %s" % (sys.executable, relay)
        args += ["-netdev", netdev, "-device", "virtio-net-pci,netdev=n0"] + list(extra)
        q = tinyvio.Qemu(machine=machine, accel=accel, append=append.strip() if append else None, extra=args,
                         timeout=qemu_timeout, prefix=prefix)
        stack.callback(q.close)
        q.banner = q.boot()
        g = Guest(q, ns, fwd)
        if not tap:
            # The forwarded ports listen before the guest runs (QEMU opens them first).
            for p in fwd.values():
                netutil.wait_listening(p, qemu_timeout)
        return g

    with stack:
        yield _vm


def served(g, path, want, conn=None):
    """GET path (on conn, or a new connection): 200 with want's bytes, its
    length announced."""
    c = conn or g.conn()
    try:
        c.request("GET", path)
        r = c.read_response()
    finally:
        if conn is None:
            c.close()
    assert r.status == 200, (path, r)
    assert r.header("content-length") == str(len(want)), (path, r)
    assert sha256(r.body) == sha256(want), (path, len(r.body))
    return r


def closed_without_answer(c, timeout):
    """The server closes the connection (FIN or reset) without a byte of answer."""
    try:
        c.sock.settimeout(timeout)
        data = c.sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return data == b""


# =====================================================================================
# HTTP, over user networking
# =====================================================================================

def test_nothing_listens_until_asked(vm, library):
    """Safe by default: after boot no service answers; `httpd start` opens
    port 80, `httpd stop` closes it again (and open connections)."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    for port in (80, 5001):
        c = g.conn(port)
        c.request("GET", "/README.TXT")
        assert closed_without_answer(c, 10), "port %d answered before any service was started" % port
        c.close()
    g.ok("httpd start")
    served(g, "/README.TXT", b"Hello from tinyvio.\r\n")
    kept = g.conn()
    served(g, "/README.TXT", b"Hello from tinyvio.\r\n", conn=kept)
    g.ok("httpd stop")
    assert kept.closed_by_peer(10), "httpd stop left a connection open"
    c = g.conn()
    c.request("GET", "/README.TXT")
    assert closed_without_answer(c, 10), "port 80 still answers after httpd stop"
    # Start/stop errors are error lines.
    g.error("httpd stop")
    g.ok("httpd start 80")
    g.error("httpd start 80")
    # Connections the server closed first wait in TIME_WAIT on port 80: a
    # restart binds beside them.
    c = g.conn()
    c.request("GET", "/README.TXT", headers=["Connection: close"])
    assert c.read_response().body == b"Hello from tinyvio.\r\n"
    assert c.closed_by_peer(10), "Connection: close left the connection open"
    c.close()
    g.ok("httpd stop")
    g.ok("httpd start 80")
    served(g, "/README.TXT", b"Hello from tinyvio.\r\n")
    for bad in ("httpd start 0", "httpd start 65536", "httpd start 80 ro", "httpd begin", "iperf start 5001 rw"):
        g.error(bad)


def test_get_files_of_every_size(vm, library):
    """GET of files of 0, 1, 1460, 65536 and 3 MiB + 1 bytes, with Python's
    http.client over one keep-alive connection: 200, the exact
    Content-Length, the same SHA-256 as on the host."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")
    hc = g.http_client()
    for name, data in SIZED.items():
        hc.request("GET", name)
        r = hc.getresponse()
        body = r.read()
        assert r.status == 200, (name, r.status)
        assert r.getheader("Content-Length") == str(len(data)), (name, r.getheaders())
        assert len(body) == len(data) and sha256(body) == sha256(data), name
        assert not r.will_close, "HTTP/1.1 without Connection: close must keep the connection"
    hc.close()


def test_get_64mib_file_streams(vm, library):
    """A 64 MiB file comes whole (SHA-256), and the shell answers after."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")
    c = g.conn(timeout=120)
    c.request("GET", "/big/big64.bin")
    h = hashlib.sha256()
    r = c.read_response(sink=h)
    assert r.status == 200 and r.header("content-length") == str(BIG), r
    assert h.hexdigest() == library["big_sha"]
    # The same connection serves on.
    served(g, sized(1460), SIZED[sized(1460)], conn=c)
    g.alive()


def test_head_announces_without_a_body(vm, library):
    """HEAD gives GET's status line and headers (Content-Length, Content-Type)
    and no body: the next response on the connection follows at once."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")
    c = g.conn()
    for name in (sized(65536), sized(0), "/types/index.html"):
        c.request("HEAD", name)
        h = c.read_response(head_only=True)
        c.request("GET", name)
        r = c.read_response()
        assert h.status == r.status == 200, (h, r)
        assert h.header("content-length") == r.header("content-length") == str(len(r.body)), (h, r)
        assert h.header("content-type") == r.header("content-type"), (h, r)
    c.request("HEAD", "/list")
    h = c.read_response(head_only=True)
    c.request("GET", "/list")
    r = c.read_response()
    assert h.status == 200 and h.header("content-length") == str(len(r.body)), (h, r)
    c.request("HEAD", "/nope")
    assert c.read_response(head_only=True).status == 404
    assert c.buf == b"" and not c.closed_by_peer(0.5), "bytes after a HEAD response, or the connection closed"


def test_keep_alive_pipelining_and_close(vm, library):
    """Keep-alive: many requests on one connection, pipelined ones answered
    in order; `Connection: close` and HTTP/1.0 close after the answer;
    HTTP/1.0 with `Connection: keep-alive` stays."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")
    c = g.conn()
    names = [sized(1), sized(65536), "/nope", sized(0), sized(1460)] * 4
    c.send(b"".join(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % n).encode() for n in names))
    for n in names:
        r = c.read_response()
        if n == "/nope":
            assert r.status == 404, r
        else:
            assert r.status == 200 and r.body == SIZED[n], (n, r)
        assert r.header("connection") == "keep-alive", r
    served(g, sized(1), SIZED[sized(1)], conn=c)
    c.request("GET", sized(1), headers=["Connection: close"])
    r = c.read_response()
    assert r.status == 200 and r.header("connection") == "close", r
    assert c.closed_by_peer(10), "Connection: close left the connection open"
    c = g.conn()
    c.send(b"GET %s HTTP/1.0\r\n\r\n" % sized(1).encode())
    r = c.read_response()
    assert r.status == 200 and r.body == SIZED[sized(1)], r
    assert c.closed_by_peer(10), "HTTP/1.0 without keep-alive left the connection open"
    c = g.conn()
    c.send(b"GET %s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % sized(1).encode())
    assert c.read_response().status == 200
    served(g, sized(1460), SIZED[sized(1460)], conn=c)


def test_content_type_by_extension(vm, library):
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")
    c = g.conn()
    got = {}
    for name in TYPED:
        c.request("GET", urllib.parse.quote(name))
        r = c.read_response()
        assert r.status == 200 and r.body == ("%s\n" % name).encode(), (name, r)
        got[name] = r.header("content-type")
    assert got == TYPED


def parse_listing(body):
    """(href, text, size) of each entry of a listing."""
    text = body.decode("utf-8")
    assert text.lstrip().lower().startswith("<!doctype html>"), text[:200]
    entries = re.findall(r'<a href="([^"]*)">([^<]*)</a> (\d+)', text)
    return [(h, html.unescape(t), int(s)) for h, t, s in entries]


def test_directory_listing(vm, library):
    """GET of a directory: 200, text/html, its length announced, one link
    per entry (escaped for HTML and URL) with its size; every link, followed,
    gives that file (or the subdirectory's listing).  The root, a trailing
    slash, an empty directory, and vdb's root at /vdb."""
    g = vm([drive(library["vda"], 0, snapshot=True), drive(library["vdb"], 1, snapshot=True)])
    g.ok("httpd start")
    c = g.conn()
    for path in ("/list", "/list/"):
        c.request("GET", path)
        r = c.read_response()
        assert r.status == 200 and r.header("content-type") == "text/html; charset=utf-8", r
        assert int(r.header("content-length")) == len(r.body)
        entries = parse_listing(r.body)
        want = {"a file.txt": 7, "b&c.txt": 10, "100% real.txt": 8, "Gr\u00fc\u00dfe aus K\u00f6ln.txt": 6, "sub/": 0}
        assert {t: s for _, t, s in entries} == want, entries
        assert "b&amp;c.txt" in r.body.decode(), "& not escaped for HTML"
        for href, text, size in entries:
            assert href.startswith("/list/") and " " not in href, href
            c.request("GET", href)
            f = c.read_response()
            assert f.status == 200, (href, f)
            if text.endswith("/"):
                assert [t for _, t, _ in parse_listing(f.body)] == ["inner.txt"], f.body
            else:
                assert f.body == LISTED["/list/" + text], (href, f.body)
    c.request("GET", "/")
    names = {t for _, t, _ in parse_listing(c.read_response().body)}
    assert {"README.TXT", "sizes/", "types/", "list/", "big/", "empty/"} <= names, names
    c.request("GET", "/empty")
    r = c.read_response()
    assert r.status == 200 and parse_listing(r.body) == [], r.body
    c.request("GET", "/vdb")
    assert [(h, t) for h, t, _ in parse_listing(c.read_response().body)] == [("/vdb/hello.txt", "hello.txt")]
    served(g, "/vdb/hello.txt", b"hello from vdb\n", conn=c)


def test_missing_paths_are_404(vm, library):
    """Missing files and directories, a file used as a directory, a disk that
    is not there: 404, and the connection stays."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")
    c = g.conn()
    for path in ("/nope", "/sizes/nope.bin", "/nodir/x", "/README.TXT/x", "/vdb", "/vdb/hello.txt", "/vdz/x"):
        c.request("GET", path)
        r = c.read_response()
        assert r.status == 404, (path, r)
        assert r.header("connection") == "keep-alive", r
    served(g, "/README.TXT", b"Hello from tinyvio.\r\n", conn=c)
    # Lookups are case-insensitive, as the shell's; a query is not part of the path.
    served(g, "/readme.txt", b"Hello from tinyvio.\r\n", conn=c)
    served(g, "/README.TXT?x=1&y=..", b"Hello from tinyvio.\r\n", conn=c)


ESCAPES = [
    "/..", "/../README.TXT", "/sizes/../../README.TXT", "/%2e%2e/README.TXT", "/%2E%2E/README.TXT",
    "/sizes/%2e%2e/%2e%2e/x", "/sizes/..%2f..%2fx", "/.%2e/x", "/%2e/README.TXT", "/./README.TXT",
    "/sizes/.", "/vdb/../README.TXT", "/%00", "/a%00b", "/%zz", "/%2", "/%", "/a%0ab", "/a%7fb",
]


def test_escaping_paths_are_400(vm, library):
    """'..' and '.' segments however spelt (%2e, %2f), NUL and control bytes,
    bad %-escapes: 400, and nothing served."""
    g = vm([drive(library["vda"], 0, snapshot=True), drive(library["vdb"], 1, snapshot=True)])
    g.ok("httpd start")
    for path in ESCAPES:
        for method in ("GET", "HEAD"):
            r = g.http(method, path)
            assert r.status == 400, (method, path, r)
    served(g, "/README.TXT", b"Hello from tinyvio.\r\n")


def test_targets_not_a_volume_path_are_refused(vm, library):
    """Request targets that are not an absolute path on the volumes: the
    absolute form, '*', a drive letter, a device: 400 (or 404 for a path that
    is merely missing), never a file's bytes."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")
    for target in ("http://127.0.0.1/README.TXT", "*", "C:/README.TXT", "C:\\README.TXT", "README.TXT",
                   "\\\\.\\PhysicalDrive0", "//./vda"):
        r = g.http("GET", target)
        assert r.status == 400 or (target.startswith("/") and r.status == 404), (target, r)
    for target in ("/dev/vda", "/dev/sda", "/vda", "/vda/README.TXT", "/proc/self/mem"):
        r = g.http("GET", target)
        assert r.status in (400, 404), (target, r)


def test_over_long_paths(vm, library):
    """A decoded path of 1023 bytes is looked up (404: no such file); of 1024
    (with its NUL, over HTTP_PATH_MAX) 400; a component longer than a FAT name
    can be, 400."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")
    ok_path = ("/" + "d" * 99) * 10 + "/" + "e" * 12  # 1012 bytes
    ok_path += "/" + "f" * (PATH_MAX - 1 - len(ok_path) - 1)
    assert len(ok_path) == PATH_MAX - 1
    assert g.http("GET", ok_path).status == 404
    assert g.http("GET", ok_path + "g").status == 400
    # The same lengths %-encoded: the limit is on the decoded path.
    assert g.http("GET", urllib.parse.quote(ok_path, safe="/").replace("d", "%64")).status == 404
    # A component longer than any FAT name (255 UTF-16 units, 765 bytes of
    # UTF-8): refused.  (One of 256 characters cannot exist either: not served.)
    assert g.http("GET", "/" + "n" * 766).status == 400
    assert g.http("GET", "/" + "n" * 256).status in (400, 404)
    served(g, "/README.TXT", b"Hello from tinyvio.\r\n")


BAD_HEADS = [
    b"GARBAGE\r\n\r\n",
    b"GET /README.TXT\r\n\r\n",                       # HTTP/0.9
    b"GET /README.TXT HTTP/2.0\r\n\r\n",
    b"GET /README.TXT HTTP/1.1 extra\r\n\r\n",
    b"GET  /README.TXT HTTP/1.1\r\n\r\n",
    b"GET /README.TXT HTTP/1.1\r\nNoColon\r\n\r\n",
    b"GET /README.TXT HTTP/1.1\r\nBad Name: x\r\n\r\n",
    b"GET /README.TXT HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
    b"GET /README.TXT HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    b"GET /README.TXT HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"GET /README.TXT HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"PUT /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET /README.TXT HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"GET /README.TXT HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",  # a body where none belongs
]


@pytest.mark.parametrize("rw", [False, True], ids=["ro", "rw"])
def test_bad_requests_are_400_and_close(vm, library, rw):
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start" + (" rw" if rw else ""))
    for head in BAD_HEADS:
        if head.startswith(b"PUT") and not rw:
            continue
        c = g.conn()
        c.send(head)
        r = c.read_response()
        assert r.status == 400, (head, r)
        assert r.header("connection") == "close" and c.closed_by_peer(10), (head, r)
    served(g, "/README.TXT", b"Hello from tinyvio.\r\n")


def test_request_head_limit(vm, library):
    """A head of exactly 8192 bytes is read; one byte more is a 400 (and the
    connection closes); a head that never ends is cut at the limit."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")

    def head_of(total):
        start = b"GET /README.TXT HTTP/1.1\r\nHost: x\r\nX-Pad: "
        return start + b"p" * (total - len(start) - 4) + b"\r\n\r\n"

    c = g.conn()
    c.send(head_of(HEAD_MAX))
    r = c.read_response()
    assert r.status == 200 and r.body == b"Hello from tinyvio.\r\n", r
    c.close()
    c = g.conn()
    c.send(head_of(HEAD_MAX + 1))
    r = c.read_response()
    assert r.status == 400 and r.header("connection") == "close", r
    assert c.closed_by_peer(10)
    c = g.conn()
    c.send(b"GET /README.TXT HTTP/1.1\r\nX-Endless: " + b"e" * (3 * HEAD_MAX))
    r = c.read_response()
    assert r.status == 400, r
    assert c.closed_by_peer(10)
    served(g, "/README.TXT", b"Hello from tinyvio.\r\n")


def test_writes_without_rw_are_405(vm, library):
    """Without rw: PUT and DELETE 405 (Allow: GET, HEAD), other methods 405,
    and the file is as it was."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")
    c = g.conn()
    for method, path, body in (("PUT", "/new.txt", b"x" * 5000), ("PUT", "/README.TXT", b"over"),
                               ("DELETE", "/README.TXT", None), ("POST", "/README.TXT", None),
                               ("OPTIONS", "/README.TXT", None), ("PATCH", "/README.TXT", b"p")):
        r = g.http(method, path, body=body)
        assert r.status == 405, (method, r)
        assert r.header("allow") == "GET, HEAD", (method, r)
    served(g, "/README.TXT", b"Hello from tinyvio.\r\n", conn=c)
    assert g.http("GET", "/new.txt").status == 404
    assert g.q.cmd("cat /README.TXT") == "Hello from tinyvio."
    assert "new.txt" not in g.q.cmd("ls /")


# ---- PUT and DELETE (rw) ---------------------------------------------------------

@pytest.fixture
def rw_image(tmp_path):
    return svcutil.make_image(tmp_path / "rw.img", 64, fat=32, dirs=["/up", "/keep", "/full", "/full/sub"],
                              files={"/keep/old.txt": b"the old contents\n", "/README.TXT": b"readme\n",
                                     "/full/sub/x.txt": b"x\n"})


def test_put_files_of_every_size(vm, rw_image):
    """PUT creates files of every size (201), streamed to the disk; GET gives
    them back; after `sync` and again after `poweroff` fsck.fat -n is clean
    and mtools reads exactly those bytes, with no temporary file left."""
    g = vm([drive(rw_image, 0)])
    g.ok("httpd start rw")
    c = g.conn(timeout=60)
    for n in SIZES:
        data = blob(n, 100 + n)
        c.request("PUT", "/up/p%d.bin" % n, body=data)
        r = c.read_response()
        assert r.status == 201, (n, r)
        served(g, "/up/p%d.bin" % n, data, conn=c)
    want = {"p%d.bin" % n: blob(n, 100 + n) for n in SIZES}
    g.ok("sync")
    svcutil.fsck(rw_image)
    for name, data in want.items():
        assert svcutil.mtype(rw_image, "/up/" + name) == data, name
    g.poweroff()
    svcutil.fsck(rw_image)
    assert svcutil.mdir_names(rw_image, "/up") == sorted(want)
    for name, data in want.items():
        assert svcutil.mtype(rw_image, "/up/" + name) == data, name


def test_put_replaces_and_delete_removes(vm, rw_image):
    """PUT onto an existing file: 204, the new contents; DELETE: 204, then
    404; DELETE of a missing file 404, of a non-empty directory 409 (an empty
    one goes); PUT with Expect: 100-continue gets 100 first.  The image
    after poweroff shows just that."""
    g = vm([drive(rw_image, 0)])
    g.ok("httpd start rw")
    c = g.conn()
    new = blob(70000, 9)
    c.request("PUT", "/keep/old.txt", body=new)
    assert c.read_response().status == 204
    served(g, "/keep/old.txt", new, conn=c)
    c.request("PUT", "/keep/old.txt", body=b"")
    assert c.read_response().status == 204
    served(g, "/keep/old.txt", b"", conn=c)
    c.request("PUT", "/keep/old.txt", body=b"third\n")
    assert c.read_response().status == 204
    c.request("DELETE", "/README.TXT")
    r = c.read_response()
    assert r.status == 204 and r.body == b"", r
    c.request("GET", "/README.TXT")
    assert c.read_response().status == 404
    c.request("DELETE", "/README.TXT")
    assert c.read_response().status == 404
    c.request("DELETE", "/full")
    assert c.read_response().status == 409
    c.request("DELETE", "/up")
    assert c.read_response().status == 204
    # Expect: 100-continue: the interim answer comes before the body is sent.
    c.send(b"PUT /keep/cont.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    while b"\r\n\r\n" not in c.buf:
        c._fill()
    assert c.buf.startswith(b"HTTP/1.1 100 "), c.buf
    c.buf = c.buf.split(b"\r\n\r\n", 1)[1]
    c.send(b"12345")
    assert c.read_response().status == 201
    g.poweroff()
    svcutil.fsck(rw_image)
    assert svcutil.mdir_names(rw_image, "/") == ["full", "keep"]
    assert svcutil.mdir_names(rw_image, "/keep") == ["cont.txt", "old.txt"]
    assert svcutil.mtype(rw_image, "/keep/old.txt") == b"third\n"
    assert svcutil.mtype(rw_image, "/keep/cont.txt") == b"12345"


def test_put_errors(vm, rw_image):
    """PUT onto a directory 409; into a missing directory 404; without a
    length 411; chunked 411; a name FAT cannot store 400; '..' 400; and
    nothing is created by any of them."""
    g = vm([drive(rw_image, 0)])
    g.ok("httpd start rw")
    cases = [
        ("/keep", ["Content-Length: 1"], b"x", 409),
        ("/keep/", ["Content-Length: 1"], b"x", 409),
        ("/nodir/x.txt", ["Content-Length: 1"], b"x", 404),
        ("/keep/old.txt/x", ["Content-Length: 1"], b"x", 404),
        ("/keep/nolen.txt", [], b"", 411),
        ("/keep/chunk.txt", ["Transfer-Encoding: chunked"], b"3\r\nabc\r\n0\r\n\r\n", 411),
        ("/keep/a*b.txt", ["Content-Length: 1"], b"x", 400),
        ("/keep/a%3Fb.txt", ["Content-Length: 1"], b"x", 400),
        ("/keep/a:b", ["Content-Length: 1"], b"x", 400),
        ("/keep/a%5Cb", ["Content-Length: 1"], b"x", 400),
        ("/keep/" + "L" * 256, ["Content-Length: 1"], b"x", 400),
        ("/keep/../x.txt", ["Content-Length: 1"], b"x", 400),
        ("/%2e%2e/x.txt", ["Content-Length: 1"], b"x", 400),
    ]
    for path, headers, body, status in cases:
        c = g.conn()
        c.send(("PUT %s HTTP/1.1\r\nHost: x\r\n" % path).encode() + "".join(h + "\r\n" for h in headers).encode()
               + b"\r\n" + body)
        r = c.read_response()
        assert r.status == status, (path, r)
        c.close()
    g.alive()
    g.poweroff()
    svcutil.fsck(rw_image)
    assert svcutil.mdir_names(rw_image, "/keep") == ["old.txt"]
    assert svcutil.mdir_names(rw_image, "/") == ["README.TXT", "full", "keep", "up"]


def test_interrupted_put_leaves_no_file(vm, rw_image):
    """A client that goes away in the middle of a PUT (closing, or resetting)
    leaves no file at the name, and a file it was replacing untouched; the
    temporary file is gone too (after poweroff: fsck clean)."""
    g = vm([drive(rw_image, 0)])
    g.ok("httpd start rw")
    for path, how in (("/up/cut.bin", "close"), ("/keep/old.txt", "close"), ("/up/rst.bin", "reset")):
        c = g.conn()
        c.send(("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path, 3 * MiB)).encode())
        c.send(blob(MiB + 12345, 3))
        time.sleep(1)
        if how == "reset":
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    time.sleep(1)
    g.alive()
    assert g.http("GET", "/up/cut.bin").status == 404
    assert g.http("GET", "/up/rst.bin").status == 404
    served(g, "/keep/old.txt", b"the old contents\n")
    g.poweroff()
    svcutil.fsck(rw_image)
    assert svcutil.mdir_names(rw_image, "/up") == []
    assert svcutil.mdir_names(rw_image, "/keep") == ["old.txt"]
    assert svcutil.mtype(rw_image, "/keep/old.txt") == b"the old contents\n"


def test_httpd_stop_during_put_leaves_no_file(vm, rw_image):
    """`httpd stop` in the middle of a PUT cuts the connection and leaves no
    file (nor a temporary one); started again, the server works."""
    g = vm([drive(rw_image, 0)])
    g.ok("httpd start rw")
    c = g.conn()
    c.send(b"PUT /up/stopped.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (3 * MiB))
    c.send(blob(MiB, 5))
    time.sleep(1)
    g.ok("httpd stop")
    assert c.closed_by_peer(10), "httpd stop left the uploading connection open"
    g.ok("httpd start rw")
    assert g.http("GET", "/up/stopped.bin").status == 404
    assert g.q.cmd_lines("ls /up") == []
    g.poweroff()
    svcutil.fsck(rw_image)
    assert svcutil.mdir_names(rw_image, "/up") == []


def test_power_cut_during_put_leaves_no_whole_file(vm, rw_image):
    """QEMU killed in the middle of a PUT (a power cut): the image has no
    file at the new name, and the old file at a replaced name keeps its old
    bytes.  (Only names are checked: a cut write may leave lost clusters.)"""
    g = vm([drive(rw_image, 0)])
    g.ok("httpd start rw")
    conns = []
    for path in ("/up/new.bin", "/keep/old.txt"):
        c = g.conn()
        c.send(("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path, 4 * MiB)).encode())
        c.send(blob(2 * MiB, 4))
        conns.append(c)
    time.sleep(2)
    g.q.close()  # SIGKILL: nothing more reaches the disk
    names = svcutil.mdir_names(rw_image, "/up")
    assert "new.bin" not in names, names
    assert svcutil.mtype(rw_image, "/keep/old.txt") == b"the old contents\n"
    for c in conns:
        c.close()


def test_put_that_fills_the_disk_is_507(vm, tmp_path, rw_image):
    """A PUT larger than the free space: 507, no file, the free space as
    before (df), the volume usable for a PUT that fits, and fsck-clean."""
    small = svcutil.make_image(tmp_path / "small.img", 40, fat=32)
    filler = free_bytes(small) - MiB
    src = tmp_path / "filler.src"
    with open(src, "wb") as f:
        f.truncate(filler)
    svcutil.run("mcopy", "-i", small, src, "::/filler.bin")
    g = vm([drive(rw_image, 0), drive(small, 1)])
    g.ok("httpd start rw")
    before = g.df_free("/vdb")
    assert MiB // 2 < before <= MiB + 65536, before
    data = blob(3 * MiB + 1, 7)
    r = g.http("PUT", "/vdb/big.bin", body=data, timeout=60)
    assert r.status == 507, r
    assert g.http("GET", "/vdb/big.bin").status == 404
    assert g.df_free("/vdb") == before
    r = g.http("PUT", "/vdb/fits.bin", body=blob(256 * 1024, 8))
    assert r.status == 201, r
    served(g, "/vdb/fits.bin", blob(256 * 1024, 8))
    g.poweroff()
    svcutil.fsck(small)
    assert svcutil.mdir_names(small, "/") == ["filler.bin", "fits.bin"]


# ---- disk errors ------------------------------------------------------------------

def test_disk_read_error_during_get(vm, tmp_path):
    """A read error in the middle of a file being sent: the body is cut short
    (the client cannot take it as whole), other files are still served, the
    shell answers, and the volume is fsck-clean after poweroff."""
    img = svcutil.make_image(tmp_path / "err.img", 16, fat=16,
                             files={"/bad.bin": blob(512 * 1024, 11), "/good.bin": blob(70000, 12)})
    sector = svcutil.sector_of(img, "/bad.bin", 300 * 1024)
    rules = blkdebug_rules(tmp_path / "rules.cfg", "read", [sector])
    g = vm([blkdebug_drive(img, rules, 0)])
    g.ok("httpd start")
    c = g.conn()
    c.request("GET", "/bad.bin")
    with pytest.raises((EOFError, ConnectionResetError)):
        r = c.read_response()
        raise AssertionError("a body with a read error in it came whole: %r" % r)
    served(g, "/good.bin", blob(70000, 12))
    g.alive()
    g.ok("ls /")
    g.poweroff()
    svcutil.fsck(img)
    # Still mountable, and whole, without the fault.
    g = vm([drive(img, 0)])
    assert re.search(r"vda: FAT16 volume at /\n", g.q.banner), g.q.banner
    g.ok("httpd start")
    served(g, "/bad.bin", blob(512 * 1024, 11))


def test_disk_write_error_during_put(vm, tmp_path):
    """Write errors in the free area while a PUT is streamed: a 5xx, no file
    at the name, the shell answers, and the volume is fsck-clean after
    poweroff (with only the old file)."""
    img = svcutil.make_image(tmp_path / "werr.img", 16, fat=16, files={"/old.bin": blob(4096, 13)})
    bps, spc, data = svcutil.fat_geometry(img)
    first_free = data + (svcutil.first_cluster(img, "/old.bin") - 2) * spc + 64
    sectors = range(first_free + 256, first_free + 16 * 2048, 64)  # every 32 KiB after the first 128 KiB
    rules = blkdebug_rules(tmp_path / "rules.cfg", "write", sectors)
    g = vm([blkdebug_drive(img, rules, 0)])
    g.ok("httpd start rw")
    r = g.http("PUT", "/new.bin", body=blob(2 * MiB, 14), timeout=60)
    assert 500 <= r.status <= 599, r
    assert g.http("GET", "/new.bin").status == 404
    g.alive()
    served(g, "/old.bin", blob(4096, 13))
    g.q.cmd("sync")
    g.poweroff()
    svcutil.fsck(img)
    assert svcutil.mdir_names(img, "/") == ["old.bin"]
    # Still mountable and writable without the fault.
    g = vm([drive(img, 0)])
    g.ok("httpd start rw")
    assert g.http("PUT", "/new.bin", body=blob(2 * MiB, 14), timeout=60).status == 201
    served(g, "/old.bin", blob(4096, 13))
    g.poweroff()
    svcutil.fsck(img)
    assert svcutil.mtype(img, "/new.bin") == blob(2 * MiB, 14)


# ---- bounds: connections, time, floods -----------------------------------------------

def test_32_concurrent_clients(vm, library):
    """32 clients at once, each over its own keep-alive connection, each
    fetching files three times: every answer whole."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")
    errors = []
    barrier = threading.Barrier(HTTPD_CONNS)

    def client(i):
        try:
            hc = g.http_client(timeout=120)
            hc.connect()
            barrier.wait(60)
            for k in range(3):
                name = sized(65536) if (i + k) % 2 else sized(3 * MiB + 1 if i % 8 == 0 else 1460)
                hc.request("GET", name)
                r = hc.getresponse()
                body = r.read()
                if r.status != 200 or sha256(body) != sha256(SIZED[name]):
                    errors.append((i, k, r.status, len(body)))
            hc.close()
        except Exception as e:  # reported below
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(HTTPD_CONNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "clients still running after 300 s"
    assert errors == []
    g.alive()


def test_33rd_connection_is_refused_or_queued(vm, library):
    """With 32 connections open, the 33rd is refused (closed without an
    answer) or answered correctly, never a crash; when the 32 go, new
    clients are served."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")
    held = []
    for i in range(HTTPD_CONNS):
        c = g.conn()
        served(g, sized(1), SIZED[sized(1)], conn=c)  # accepted: it holds a slot
        held.append(c)
    extra = g.conn()
    extra.request("GET", sized(1460))
    extra.sock.settimeout(10)
    try:
        r = extra.read_response()
        assert r.status == 200 and r.body == SIZED[sized(1460)], r
        outcome = "served"
    except (EOFError, ConnectionResetError):
        outcome = "refused"
    except socket.timeout:
        # Queued: it is served once a slot frees.
        held.pop(0).close()
        extra.sock.settimeout(30)
        r = extra.read_response()
        assert r.status == 200 and r.body == SIZED[sized(1460)], r
        outcome = "queued"
    extra.close()
    g.alive()
    for c in held:  # the held ones still work
        served(g, sized(1), SIZED[sized(1)], conn=c)
    for c in held:
        c.close()
    time.sleep(1)
    served(g, sized(65536), SIZED[sized(65536)])
    print("33rd connection:", outcome)


def test_stalled_clients_are_dropped(vm, library):
    """Clients that stop: a connection that never sends, one that sends half
    a head, and an idle keep-alive connection are closed by the server after
    its 15 s idle timeout (not much before, not much after), and a silent
    iperf client after 10 s; others are served meanwhile."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")
    g.ok("iperf start")
    silent = g.conn()
    half = g.conn()
    half.send(b"GET /README.TXT HTTP/1.1\r\nHost: x")
    idle = g.conn()
    served(g, sized(1), SIZED[sized(1)], conn=idle)
    iperf_silent = g.conn(5001)
    start = time.monotonic()
    conns = {"silent": silent, "half": half, "idle": idle, "iperf": iperf_silent}
    closed = {}
    time.sleep(2)
    served(g, sized(65536), SIZED[sized(65536)])  # others are served meanwhile
    end = start + HTTPD_IDLE_S + 15
    while len(closed) < len(conns) and time.monotonic() < end:
        for name, c in conns.items():
            if name not in closed and c.closed_by_peer(0.05):
                closed[name] = time.monotonic() - start
    assert set(closed) == set(conns), "not dropped after %d s: %s" % (HTTPD_IDLE_S + 15, set(conns) - set(closed))
    for name in ("silent", "half", "idle"):
        assert HTTPD_IDLE_S - 2 <= closed[name] <= HTTPD_IDLE_S + 10, closed
    assert IPERF_IDLE_S - 2 <= closed["iperf"] <= IPERF_IDLE_S + 10, closed
    served(g, sized(1460), SIZED[sized(1460)])
    g.alive()


def test_stalled_download_is_dropped(netns_ok, vm, library):
    """A client that asks for a 64 MiB file and never reads it: once its
    window is shut the server waits its idle timeout, then resets the
    connection (the data stops short of the file); others are served
    meanwhile.  (Over the tap: QEMU's user network drops a reset that
    follows a zero-window probe, so it is not seen there.)"""
    g = vm([drive(library["vda"], 0, snapshot=True)], tap=True)
    g.ok("httpd start")
    unread = svcutil.ns_socket(g.ns)
    unread.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    unread.settimeout(30)
    unread.connect((TAP_GUEST, 80))
    unread.sendall(b"GET /big/big64.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    start = time.monotonic()
    time.sleep(3)
    served(g, sized(65536), SIZED[sized(65536)])
    time.sleep(HTTPD_IDLE_S + 5)
    got, how = 0, "timeout"
    unread.settimeout(10)
    try:
        while True:
            d = unread.recv(1 << 20)
            if not d:
                how = "closed"
                break
            got += len(d)
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        pass
    unread.close()
    assert how in ("closed", "reset"), "the unread download is still open after %.0f s (%d bytes came)" % (
        time.monotonic() - start, got)
    assert got < BIG, got
    served(g, sized(1460), SIZED[sized(1460)])
    g.alive()


def test_connection_flood_leaves_everything_working(vm, library):
    """A bounded flood: 400 connections in 10 s at most, opened and dropped
    (half closed with a reset, some with half a request or garbage), from
    many threads.  Then the shell answers and files are served whole."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("httpd start")
    g.ok("iperf start")
    deadline = time.monotonic() + 10
    count = [0]
    lock = threading.Lock()

    def flooder(k):
        for i in range(50):
            if time.monotonic() > deadline:
                return
            try:
                s = socket.create_connection(("127.0.0.1", g.fwd[80 if i % 5 else 5001]), timeout=5)
                if i % 3 == 0:
                    s.sendall(b"GET /big/big64.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                elif i % 3 == 1:
                    s.sendall(os.urandom(200))
                if i % 2:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                with lock:
                    count[0] += 1
            except OSError:
                pass

    threads = [threading.Thread(target=flooder, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert count[0] >= 100, count
    g.alive()
    svcutil.wait_until(lambda: g.http("GET", "/README.TXT", timeout=10).status == 200, 30, 0.5,
                       "the server to serve after the flood")
    served(g, sized(3 * MiB + 1), SIZED[sized(3 * MiB + 1)])
    out = subprocess.run(["iperf", "-c", "127.0.0.1", "-p", str(g.fwd[5001]), "-t", "2", "-y", "C"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and int(out.stdout.strip().splitlines()[-1].split(",")[7]) > 0, out


# ---- iperf ------------------------------------------------------------------------------

def test_iperf_client_reaches_the_server(vm, library):
    """`iperf -c` on the host through a hostfwd: it connects, sends for 3 s
    and reports a transfer; twice (the sink takes new clients); `iperf stop`
    closes the port."""
    g = vm([drive(library["vda"], 0, snapshot=True)])
    g.ok("iperf start")
    for _ in range(2):
        r = subprocess.run(["iperf", "-c", "127.0.0.1", "-p", str(g.fwd[5001]), "-t", "3", "-y", "C"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r
        fields = r.stdout.strip().splitlines()[-1].split(",")
        transferred, bps = int(fields[7]), int(fields[8])
        assert transferred > 1 * MiB and bps > 0, r.stdout
    g.alive()
    g.ok("iperf stop")
    c = g.conn(5001)
    c.send(b"x")
    assert closed_without_answer(c, 10)
    g.error("iperf stop")


# ---- http get (the guest's client) -----------------------------------------------------

@pytest.fixture
def host_server():
    files = {"s%d.bin" % n: blob(n, 200 + n) for n in SIZES}
    files["m8.bin"] = blob(8 * MiB, 208)
    srv = svcutil.HostHttpServer(files, stall_s=40)
    yield srv
    srv.close()


def get_ok(g, url, path, data):
    out = g.ok("http get %s %s" % (url, path), timeout=120)
    (line,) = out
    m = HTTP_GET_LINE.fullmatch(line)
    assert m, line
    assert int(m.group(1)) == 200 and int(m.group(2)) == len(data), line
    assert g.ok("sha256 " + path) == ["%s  %s" % (sha256(data), path)]


def test_http_get_streams_files_to_disk(vm, rw_image, host_server):
    """http get of files of every size (and 8 MiB) from a server on the host,
    relayed by guestfwd: the file on the disk has the server's bytes (the
    guest's sha256, and mtools after poweroff); a body without
    Content-Length (closed by the server) works too; fsck clean."""
    g = vm([drive(rw_image, 0)], guestfwd_port=host_server.port)
    for n in SIZES + [8 * MiB]:
        name = "s%d.bin" % n if n != 8 * MiB else "m8.bin"
        get_ok(g, "http://%s/files/%s" % (RELAY_IP, name), "/up/" + name, host_server.files[name])
    get_ok(g, "http://%s:80/nolength/s65536.bin" % RELAY_IP, "/up/nolen.bin", host_server.files["s65536.bin"])
    # Onto an existing file: replaced.
    get_ok(g, "http://%s/files/s1460.bin" % RELAY_IP, "/keep/old.txt", host_server.files["s1460.bin"])
    req = [r for r in host_server.requests if r[1] == "/files/s1.bin"][0]
    assert req[0] == "GET", req
    g.poweroff()
    svcutil.fsck(rw_image)
    no_upload_leftovers(rw_image, "/up")
    for name, data in host_server.files.items():
        assert svcutil.mtype(rw_image, "/up/" + name) == data, name
    assert svcutil.mtype(rw_image, "/keep/old.txt") == host_server.files["s1460.bin"]


def test_http_get_failures_leave_no_file(vm, rw_image, host_server):
    """Every failure is one error line and leaves no PATH (and an existing
    PATH untouched, no temporary file): a 404, a 500, a body cut short (the
    server closes; the server resets), a server that stalls (given up after
    its 10 s), a port nobody listens on, a bad URL, a missing directory."""
    g = vm([drive(rw_image, 0)], guestfwd_port=host_server.port)
    cases = [("/status/404", "404"), ("/status/500", "500"), ("/cut/100000", None), ("/reset/100000", None)]
    for target, word in cases:
        for path in ("/up/fail.bin", "/keep/old.txt"):
            line = g.error("http get http://%s%s %s" % (RELAY_IP, target, path), timeout=60)
            if word:
                assert word in line, line
            assert path in line, line
    t0 = time.monotonic()
    line = g.error("http get http://%s/stall/100000 /up/stall.bin" % RELAY_IP, timeout=60)
    took = time.monotonic() - t0
    assert 8 <= took <= 30, (took, line)
    g.error("http get http://%s:81/x /up/refused.bin" % RELAY_IP, timeout=60)  # not forwarded
    for bad in ("http get ftp://%s/x /up/a" % RELAY_IP, "http get http://name.example/x /up/a",
                "http get http://%s:99999/x /up/a" % RELAY_IP, "http get http://%s/files/s1.bin /nodir/a" % RELAY_IP,
                "http get http://%s/files/s1.bin /up" % RELAY_IP, "http get"):
        g.error(bad, timeout=60)
    assert g.q.cmd_lines("ls /up") == []
    assert g.q.cmd("cat /keep/old.txt") == "the old contents"
    g.poweroff()
    svcutil.fsck(rw_image)
    assert svcutil.mdir_names(rw_image, "/up") == []
    assert svcutil.mtype(rw_image, "/keep/old.txt") == b"the old contents\n"


# =====================================================================================
# Over a tap in a network namespace: TFTP, net.serve, a file larger than RAM
# =====================================================================================

@pytest.fixture(scope="module")
def huge(tmp_path_factory, netns_ok):
    """An image with one file larger than the guest's RAM (written in pieces)."""
    d = tmp_path_factory.mktemp("huge")
    src = d / "huge.src"
    h = hashlib.sha256()
    with open(src, "wb") as f:
        for i in range(HUGE // (16 * MiB)):
            piece = blob(16 * MiB, 1000 + i)
            h.update(piece)
            f.write(piece)
    img = d / "huge.img"
    with open(img, "wb") as f:
        f.truncate(HUGE + 64 * MiB)
    svcutil.run("mkfs.fat", "-F", 32, "--invariant", "-i", "1234ABCD", img)
    svcutil.run("mcopy", "-i", img, src, "::/huge.bin")
    os.unlink(src)
    return img, h.hexdigest()


def test_file_larger_than_ram_streams(netns_ok, vm, huge):
    """A 256 MiB file (twice the guest's RAM) comes whole over HTTP: the
    server streams it, never holding it all."""
    img, digest = huge
    g = vm([drive(img, 0, snapshot=True)], tap=True)
    g.ok("httpd start")
    c = g.conn(timeout=120)
    c.request("GET", "/huge.bin")
    h = hashlib.sha256()
    r = c.read_response(sink=h)
    assert r.status == 200 and r.header("content-length") == str(HUGE), r
    assert h.hexdigest() == digest
    g.alive()


def test_put_larger_than_ram_streams(netns_ok, vm, tmp_path):
    """A 192 MiB PUT (half as much again as the guest's RAM) goes to the
    disk as it comes: 201, and mtools reads the same bytes after poweroff."""
    img = tmp_path / "put.img"
    with open(img, "wb") as f:
        f.truncate(256 * MiB)
    svcutil.run("mkfs.fat", "-F", 32, "--invariant", "-i", "1234ABCD", img)
    g = vm([drive(img, 0)], tap=True)
    g.ok("httpd start rw")
    c = g.conn(timeout=120)
    size = 192 * MiB
    c.send(b"PUT /huge.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
    h = hashlib.sha256()
    for i in range(size // (16 * MiB)):
        piece = blob(16 * MiB, 2000 + i)
        h.update(piece)
        c.send(piece)
    r = c.read_response()
    assert r.status == 201, r
    g.poweroff()
    svcutil.fsck(img)
    got = hashlib.sha256(svcutil.mtype(img, "/huge.bin")).hexdigest()
    assert got == h.hexdigest()


def test_file_replaced_while_sent_is_not_served_half_done(netns_ok, vm, tmp_path):
    """A file replaced by a PUT (and its clusters taken by another) while a
    slow client is still reading it: the client gets the old bytes, whole,
    or a connection cut short, never a mix that ends as if complete."""
    old = blob(16 * MiB, 61)
    img = svcutil.make_image(tmp_path / "race.img", 48, fat=32, files={"/f.bin": old})
    g = vm([drive(img, 0)], tap=True)
    g.ok("httpd start rw")
    slow = svcutil.ns_socket(g.ns)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    slow.settimeout(30)
    slow.connect((TAP_GUEST, 80))
    reader = Conn(None, None, sock=slow)
    reader.request("GET", "/f.bin")
    while len(reader.buf) < MiB:
        reader._fill()
    assert g.http("PUT", "/f.bin", body=b"new\n").status == 204
    assert g.http("PUT", "/other.bin", body=blob(30 * MiB, 62), timeout=120).status == 201
    h = hashlib.sha256()
    try:
        r = reader.read_response(sink=h)
        assert r.status == 200 and h.hexdigest() == sha256(old), "a mix of old and new bytes came as whole"
    except (EOFError, ConnectionResetError):
        pass  # cut short: the client knows
    served(g, "/f.bin", b"new\n")
    g.alive()


def test_net_serve_at_boot_is_read_only(netns_ok, vm, tmp_path):
    """net.serve=http:80,tftp:69,iperf:5001 starts the three at boot, each
    read-only: files are served over HTTP and TFTP, iperf takes a client,
    PUT and DELETE get 405, a TFTP write an error; after poweroff the image
    is byte-identical to what it was."""
    img = svcutil.make_image(tmp_path / "ro.img", 64, fat=32, dirs=["/d"],
                             files={"/d/f.bin": blob(65536, 21), "/README.TXT": b"readme\n"})
    before = svcutil.sha256_file(img)
    g = vm([drive(img, 0)], tap=True, append="net.serve=http:80,tftp:69,iperf:5001")
    for line in ("httpd on port 80 (read-only)", "tftpd on port 69 (read-only)", "iperf on port 5001"):
        assert "tinyvio: %s\n" % line in g.q.banner, g.q.banner
    served(g, "/d/f.bin", blob(65536, 21))
    assert g.http("PUT", "/d/f.bin", body=b"x").status == 405
    assert g.http("PUT", "/new.txt", body=b"x").status == 405
    assert g.http("DELETE", "/d/f.bin").status == 405
    t = g.tftp()
    assert t.get("/d/f.bin")[0] == blob(65536, 21)
    with pytest.raises(TftpError) as e:
        t.put("/new.bin", b"data")
    assert e.value.code == 2, e.value
    with pytest.raises(TftpError) as e:
        t.put("/d/f.bin", b"data")
    assert e.value.code == 2, e.value
    r = g.in_ns(["iperf", "-c", TAP_GUEST, "-t", "2", "-y", "C"], text=True)
    assert r.returncode == 0 and int(r.stdout.strip().splitlines()[-1].split(",")[7]) > 0, r
    assert "new" not in g.q.cmd("ls /")
    g.poweroff()
    assert svcutil.sha256_file(img) == before, "a read-only boot changed the image"
    svcutil.fsck(img)


def test_net_serve_option_errors(vm, boot, library):
    """A bad net.serve value is a warning and starts nothing; net.serve with
    no network card: a warning, and the shell works."""
    g = vm([drive(library["vda"], 0, snapshot=True)], append="net.serve=http:0")
    assert "warning: bad value for net.serve: http:0\n" in g.q.banner, g.q.banner
    c = g.conn()
    c.request("GET", "/README.TXT")
    assert closed_without_answer(c, 10)
    g.alive()
    q = boot(append="net.serve=http:80,tftp:69", extra=drive(library["vda"], 0, snapshot=True))
    assert "warning: net.serve: no network card; nothing served\n" in q.banner, q.banner
    assert q.cmd("echo still here") == "still here"


# ---- TFTP ---------------------------------------------------------------------------------

@pytest.fixture
def tftp_vm(netns_ok, vm, library):
    """A guest on the tap with the library (snapshot) and tftpd started read-only."""
    g = vm([drive(library["vda"], 0, snapshot=True), drive(library["vdb"], 1, snapshot=True)], tap=True)
    g.ok("tftpd start")
    return g


def test_tftp_nothing_listens_until_asked(netns_ok, vm, library):
    """No UDP service before it is started (a port unreachable comes back),
    none after `tftpd stop`; `tftpd start PORT` serves on that port."""
    g = vm([drive(library["vda"], 0, snapshot=True)], tap=True)
    for proto, port in (("udp", 69), ("tcp", 80), ("tcp", 5001)):
        assert netutil.ns_probe(g.ns, proto, TAP_GUEST, port, 10) == "refused", (proto, port)
    with pytest.raises((TftpError, ConnectionRefusedError)):
        g.tftp(tries=1).get("/README.TXT")
    g.ok("tftpd start 6969")
    assert g.tftp(6969).get("/README.TXT")[0] == b"Hello from tinyvio.\r\n"
    g.ok("tftpd stop")
    assert netutil.ns_probe(g.ns, "udp", TAP_GUEST, 6969, 10) == "refused"
    g.error("tftpd stop")


def test_tftp_get_files_of_every_size(tftp_vm):
    """RRQ with 512-byte blocks and no options: every size whole (65536 ends
    with an empty block); a relative name is taken from the root; vdb's
    files at /vdb."""
    t = tftp_vm.tftp()
    for name, data in SIZED.items():
        got, oack = t.get(name)
        assert oack is None
        assert len(got) == len(data) and sha256(got) == sha256(data), name
    assert t.get("README.TXT")[0] == b"Hello from tinyvio.\r\n"
    assert t.get("/vdb/hello.txt")[0] == b"hello from vdb\n"


@pytest.mark.parametrize("blksize", [8, 1428, 8192, 65464])
def test_tftp_get_with_options(tftp_vm, blksize):
    """RRQ with blksize and tsize: an OACK with the block size taken (the one
    asked for, or a smaller one: RFC 2348) and the file's size; the blocks
    are that size (the client checks each) and every file comes whole."""
    t = tftp_vm.tftp(tries=3)
    names = SIZED if blksize >= 1428 else {sized(n): SIZED[sized(n)] for n in (0, 1, 1460)}
    for name, data in names.items():
        got, oack = t.get(name, options={"blksize": blksize, "tsize": 0})
        assert set(oack) == {"blksize", "tsize"} and oack["tsize"] == str(len(data)), oack
        assert 8 <= int(oack["blksize"]) <= blksize, oack
        assert sha256(got) == sha256(data), name
    # tsize alone, and an unknown option, which is ignored.
    got, oack = t.get(sized(1460), options={"tsize": 0, "windowsize": 4})
    assert oack == {"tsize": "1460"} and got == SIZED[sized(1460)], oack


def test_tftp_blksize_above_the_maximum_is_lowered(tftp_vm):
    """A blksize over RFC 2348's 65464 is answered with one no larger, and
    the transfer works at the size agreed."""
    name = sized(3 * MiB + 1)
    got, oack = tftp_vm.tftp(tries=3).get(name, options={"blksize": 65535})
    assert 512 <= int(oack["blksize"]) <= 65464, oack
    assert sha256(got) == sha256(SIZED[name])


def test_tftp_get_with_curl(tftp_vm, tmp_path):
    """Debian's curl (tftp://) reads files, with and without --tftp-blksize."""
    for name, opts in ((sized(3 * MiB + 1), ["--tftp-blksize", "1428"]), (sized(65536), []), (sized(1), [])):
        out = tmp_path / "got.bin"
        r = tftp_vm.in_ns(["curl", "-sS", "--max-time", "60"] + opts + ["-o", out, "tftp://%s%s" % (TAP_GUEST, name)])
        assert r.returncode == 0, r
        assert svcutil.sha256_file(out) == sha256(SIZED[name]), name


def test_tftp_read_errors(tftp_vm):
    """Error packets: a missing file (1), a directory, a '..' name, a device
    path, a name over the path limit, netascii mode, a write to a read-only
    server (2), a bad blksize (8), a request that is not one (4)."""
    t = tftp_vm.tftp()
    cases = [("/nope.bin", {}, "octet", {1}), ("/nodir/x", {}, "octet", {1}), ("/sizes", {}, "octet", None),
             ("/../README.TXT", {}, "octet", {2}), ("sizes/../../README.TXT", {}, "octet", {2}),
             ("/./README.TXT", {}, "octet", {2}), ("/dev/vda", {}, "octet", {1, 2}),
             ("\\\\.\\PhysicalDrive0", {}, "octet", {1, 2}), ("C:\\README.TXT", {}, "octet", {1, 2}),
             ("/" + "x" * 1100, {}, "octet", {1, 2, 4}), ("/README.TXT", {}, "netascii", None),
             ("/README.TXT", {}, "mail", None), ("/README.TXT", {"blksize": 7}, "octet", {8}),
             ("/a\x01b", {}, "octet", {1, 2})]
    for name, opts, mode, codes in cases:
        with pytest.raises(TftpError) as e:
            t.get(name, options=opts, mode=mode)
        assert e.value.code is not None, (name, "no answer")
        if codes:
            assert e.value.code in codes, (name, e.value)
    with pytest.raises(TftpError) as e:
        t.put("/x.bin", b"x")
    assert e.value.code == 2
    # A packet that is not a request, and a truncated request.
    with tftp_vm.udp_socket() as s:
        s.settimeout(5)
        for pkt in (struct.pack("!HH", 3, 1) + b"data", struct.pack("!H", 1) + b"README.TXT"):
            s.sendto(pkt, (TAP_GUEST, 69))
            reply, _ = s.recvfrom(2048)
            assert struct.unpack("!H", reply[:2])[0] == 5, reply
            assert svcutil.parse_error(reply)[0] == 4, reply
    assert t.get("/README.TXT")[0] == b"Hello from tinyvio.\r\n"
    tftp_vm.alive()


def test_tftp_unanswered_transfer_is_given_up(tftp_vm):
    """A client that never ACKs: the same DATA packet is sent again (byte
    for byte) about once a second, a few times, then an error packet ends the
    transfer; later transfers work."""
    with tftp_vm.udp_socket() as s:
        s.settimeout(15)
        s.sendto(svcutil.tftp_request(1, sized(65536)), (TAP_GUEST, 69))
        t0 = time.monotonic()
        seen = []
        while True:
            pkt, src = s.recvfrom(70000)
            seen.append((round(time.monotonic() - t0, 1), pkt))
            if pkt[:2] == b"\0\5":
                break
            assert time.monotonic() - t0 < 20, seen
    first = struct.pack("!HH", 3, 1) + SIZED[sized(65536)][:512]
    datas = [p for _, p in seen[:-1]]
    assert datas and datas[0] == first, datas[:1]
    assert 2 <= len(datas) <= 10, [(t, len(p)) for t, p in seen]
    bad = [(t, len(p), p[:8].hex()) for t, p in seen[1:-1] if p != first]
    assert bad == [], "resent DATA differs from the first sending: %s" % bad
    assert 2 <= seen[-1][0] <= 15, [t for t, _ in seen]
    assert tftp_vm.tftp().get(sized(1))[0] == SIZED[sized(1)]


def test_tftp_lost_ack_is_sent_again(tftp_rw):
    """A write whose ACK the client did not get: the client sends the DATA
    block again, and gets the same 4-byte ACK again (not a second copy of
    the block written); the file is whole."""
    g = tftp_rw
    data = blob(1500, 51)
    with g.udp_socket() as s:
        s.settimeout(5)
        s.sendto(svcutil.tftp_request(2, "/up/dup.bin"), (TAP_GUEST, 69))
        pkt, peer = s.recvfrom(2048)
        assert pkt == struct.pack("!HH", 4, 0), pkt
        for b in range(1, 4):
            block = struct.pack("!HH", 3, b) + data[(b - 1) * 512:b * 512]
            for attempt in range(2):  # each block twice: the first ACK "lost"
                s.sendto(block, peer)
                pkt, _ = s.recvfrom(2048)
                assert pkt == struct.pack("!HH", 4, b), (b, attempt, pkt[:60].hex())
    assert g.tftp().get("/up/dup.bin")[0] == data
    g.poweroff()
    svcutil.fsck(g.image)
    assert svcutil.mtype(g.image, "/up/dup.bin") == data


def test_tftp_concurrent_transfers_are_bounded(tftp_vm):
    """8 transfers at once are served (each interleaved with the others);
    a 9th request meanwhile gets an error packet ('busy'); afterwards
    transfers go on as usual."""
    socks = []
    try:
        for i in range(TFTP_XFERS):
            s = tftp_vm.udp_socket()
            s.settimeout(5)
            s.sendto(svcutil.tftp_request(1, sized(65536)), (TAP_GUEST, 69))
            pkt, src = s.recvfrom(2048)
            assert struct.unpack("!HH", pkt[:4]) == (3, 1), ("transfer %d" % (i + 1), pkt[:60])
            socks.append((s, src))
        extra = tftp_vm.udp_socket()
        extra.settimeout(5)
        extra.sendto(svcutil.tftp_request(1, sized(65536)), (TAP_GUEST, 69))
        pkt, _ = extra.recvfrom(2048)
        extra.close()
        assert struct.unpack("!H", pkt[:2])[0] == 5, "a 9th transfer was started: %r" % pkt[:20]
        # The 8 go on, interleaved, to their ends (block 1 of each was read above).
        done = [False] * len(socks)
        block = [1] * len(socks)
        got = [bytearray(SIZED[sized(65536)][:512]) for _ in socks]
        while not all(done):
            for i, (s, src) in enumerate(socks):
                if done[i]:
                    continue
                s.sendto(struct.pack("!HH", 4, block[i]), src)
                while True:
                    pkt, _ = s.recvfrom(2048)
                    op, n = struct.unpack("!HH", pkt[:4])
                    assert op == 3, pkt[:60]
                    if n == block[i] + 1:
                        break
                got[i] += pkt[4:]
                block[i] = n
                if len(pkt) - 4 < 512:
                    s.sendto(struct.pack("!HH", 4, n), src)
                    done[i] = True
        for i in range(len(socks)):
            assert bytes(got[i]) == SIZED[sized(65536)], i
    finally:
        for s, _ in socks:
            s.close()
    assert tftp_vm.tftp().get(sized(1460))[0] == SIZED[sized(1460)]


def test_tftp_datagram_flood_leaves_everything_working(tftp_vm):
    """A bounded flood of 20000 datagrams in 10 s at most (garbage, requests
    for missing files, real read requests never acknowledged, packets to
    closed ports) from the namespace: the shell answers and TFTP serves
    whole files afterwards (once the abandoned transfers have timed out)."""
    g = tftp_vm
    deadline = time.monotonic() + 10
    sent = 0
    with g.udp_socket() as s:
        s.setblocking(False)
        kinds = [os.urandom(64), svcutil.tftp_request(1, "/missing.bin"), svcutil.tftp_request(1, sized(1460)),
                 struct.pack("!HH", 4, 1), svcutil.tftp_request(2, "/w.bin"), b"\x00"]
        for i in range(20000):
            if time.monotonic() > deadline:
                break
            port = 69 if i % 4 else 1000 + i % 5000
            try:
                s.sendto(kinds[i % len(kinds)], (TAP_GUEST, port))
                sent += 1
            except (BlockingIOError, ConnectionRefusedError):
                time.sleep(0.001)
            if i % 200 == 0:
                try:
                    while True:
                        s.recv(2048)
                except (BlockingIOError, ConnectionRefusedError):
                    pass
    assert sent >= 2000, sent
    g.alive()

    def works():
        try:
            return g.tftp(tries=2).get(sized(65536))[0] == SIZED[sized(65536)]
        except TftpError:
            return False

    svcutil.wait_until(works, 30, 0.5, "TFTP to serve after the flood")
    got, _ = g.tftp().get(sized(3 * MiB + 1), options={"blksize": 8192})
    assert sha256(got) == sha256(SIZED[sized(3 * MiB + 1)])


def test_tftp_disk_read_error_is_an_error_packet(netns_ok, vm, tmp_path):
    """A read error in the middle of a file sent over TFTP: an error packet
    ends the transfer; other files are served; the volume is fsck-clean."""
    img = svcutil.make_image(tmp_path / "err.img", 16, fat=16,
                             files={"/bad.bin": blob(512 * 1024, 11), "/good.bin": blob(70000, 12)})
    sector = svcutil.sector_of(img, "/bad.bin", 300 * 1024)
    rules = blkdebug_rules(tmp_path / "rules.cfg", "read", [sector])
    g = vm([blkdebug_drive(img, rules, 0)], tap=True)
    g.ok("tftpd start")
    with pytest.raises(TftpError) as e:
        g.tftp().get("/bad.bin", options={"blksize": 8192})
    assert e.value.code is not None, "no error packet: %s" % e.value
    assert g.tftp().get("/good.bin")[0] == blob(70000, 12)
    g.alive()
    g.poweroff()
    svcutil.fsck(img)


def test_tftp_disk_write_error_is_an_error_packet(netns_ok, vm, tmp_path):
    """Write errors in the free area during a TFTP write: an error packet
    ends it, no file at the name, and the volume is fsck-clean with only the
    old file."""
    img = svcutil.make_image(tmp_path / "werr.img", 16, fat=16, files={"/old.bin": blob(4096, 13)})
    bps, spc, data = svcutil.fat_geometry(img)
    first_free = data + (svcutil.first_cluster(img, "/old.bin") - 2) * spc + 64
    rules = blkdebug_rules(tmp_path / "rules.cfg", "write", range(first_free + 256, first_free + 16 * 2048, 64))
    g = vm([blkdebug_drive(img, rules, 0)], tap=True)
    g.ok("tftpd start rw")
    with pytest.raises(TftpError) as e:
        g.tftp().put("/new.bin", blob(2 * MiB, 14), options={"blksize": 8192})
    assert e.value.code is not None and "timed out" not in e.value.msg, e.value
    with pytest.raises(TftpError) as e:
        g.tftp().get("/new.bin")
    assert e.value.code == 1, e.value
    assert g.tftp().get("/old.bin")[0] == blob(4096, 13)
    g.alive()
    g.q.cmd("sync")
    g.poweroff()
    svcutil.fsck(img)
    assert svcutil.mdir_names(img, "/") == ["old.bin"]


# ---- TFTP writes (rw) -------------------------------------------------------------------

@pytest.fixture
def tftp_rw(netns_ok, vm, rw_image):
    g = vm([drive(rw_image, 0)], tap=True)
    g.ok("tftpd start rw")
    g.image = rw_image
    return g


def test_tftp_put_files_of_every_size(tftp_rw):
    """WRQ of every size with 512-byte blocks (65536: an empty last block):
    read back over TFTP; after sync and after poweroff fsck clean and mtools
    reads the same bytes, no temporary file left."""
    g = tftp_rw
    t = g.tftp()
    want = {}
    for n in SIZES:
        data = blob(n, 300 + n)
        assert t.put("/up/t%d.bin" % n, data) is None
        want["t%d.bin" % n] = data
    for name, data in want.items():
        assert sha256(t.get("/up/" + name, options={"blksize": 8192})[0]) == sha256(data), name
    g.ok("sync")
    svcutil.fsck(g.image)
    for name, data in want.items():
        assert svcutil.mtype(g.image, "/up/" + name) == data, name
    g.poweroff()
    svcutil.fsck(g.image)
    assert svcutil.mdir_names(g.image, "/up") == sorted(want)
    for name, data in want.items():
        assert svcutil.mtype(g.image, "/up/" + name) == data, name


def test_tftp_put_with_options(tftp_rw):
    """WRQ with blksize and tsize: an OACK echoing both, blocks of that size,
    every size whole on the disk after poweroff."""
    g = tftp_rw
    t = g.tftp()
    want = {}
    for n in SIZES:
        data = blob(n, 400 + n)
        oack = t.put("/up/o%d.bin" % n, data, options={"blksize": 1428, "tsize": n})
        assert oack == {"blksize": "1428", "tsize": str(n)}, oack
        want["o%d.bin" % n] = data
    g.poweroff()
    svcutil.fsck(g.image)
    assert svcutil.mdir_names(g.image, "/up") == sorted(want)
    for name, data in want.items():
        assert svcutil.mtype(g.image, "/up/" + name) == data, name


def test_tftp_back_to_back_puts_are_served(tftp_rw):
    """One client writing twelve small files one after the other (each
    finished before the next begins): every one is taken.  A finished write
    is not a transfer in progress, and must not use up the 8 slots."""
    g = tftp_rw
    t = g.tftp()
    refused = []
    for i in range(12):
        try:
            t.put("/up/b%02d.txt" % i, b"file %d\n" % i)
        except TftpError as e:
            refused.append((i, str(e)))
    assert refused == [], "puts refused with no transfer in progress: %s" % refused
    g.poweroff()
    svcutil.fsck(g.image)
    assert svcutil.mdir_names(g.image, "/up") == ["b%02d.txt" % i for i in range(12)]


def test_tftp_put_replaces_and_curl_uploads(tftp_rw, tmp_path):
    """A WRQ onto an existing file replaces it; curl -T uploads; a write
    into a missing directory, onto a directory, or with a name FAT refuses is
    an error packet and creates nothing."""
    g = tftp_rw
    t = g.tftp()
    t.put("/keep/old.txt", b"new contents\n")
    assert t.get("/keep/old.txt")[0] == b"new contents\n"
    src = tmp_path / "up.bin"
    src.write_bytes(blob(200000, 31))
    r = g.in_ns(["curl", "-sS", "--max-time", "60", "--tftp-blksize", "1024", "-T", src,
                 "tftp://%s/up/curl.bin" % TAP_GUEST])
    assert r.returncode == 0, r
    assert t.get("/up/curl.bin")[0] == blob(200000, 31)
    for name in ("/nodir/x.bin", "/keep", "/keep/a*b", "/keep/a:b", "/keep/" + "L" * 256, "/keep/../x",
                 "/keep/a\\b"):
        with pytest.raises(TftpError) as e:
            t.put(name, b"x")
        assert e.value.code is not None, name
    g.poweroff()
    svcutil.fsck(g.image)
    assert svcutil.mdir_names(g.image, "/keep") == ["old.txt"]
    assert svcutil.mtype(g.image, "/keep/old.txt") == b"new contents\n"
    assert svcutil.mdir_names(g.image, "/up") == ["curl.bin"]


def test_tftp_interrupted_put_leaves_no_file(tftp_rw):
    """A WRQ whose client goes silent half-way (or sends an error packet):
    the server gives up, no file at the name, a replaced file untouched."""
    g = tftp_rw
    for name, how in (("/up/half.bin", "silent"), ("/keep/old.txt", "error")):
        with g.udp_socket() as s:
            s.settimeout(5)
            s.sendto(svcutil.tftp_request(2, name), (TAP_GUEST, 69))
            pkt, peer = s.recvfrom(2048)
            assert struct.unpack("!HH", pkt[:4]) == (4, 0), pkt
            for b in range(1, 50):
                s.sendto(struct.pack("!HH", 3, b) + blob(512, b), peer)
                pkt, _ = s.recvfrom(2048)
                assert struct.unpack("!HH", pkt[:4]) == (4, b), pkt
            if how == "error":
                s.sendto(struct.pack("!HH", 5, 0) + b"client gives up\0", peer)
            else:
                # Silent: the server sends the last ACK again, then gives up.
                s.settimeout(15)
                end = time.monotonic() + 15
                while time.monotonic() < end:
                    pkt, _ = s.recvfrom(2048)
                    if struct.unpack("!H", pkt[:2])[0] == 5:
                        break
                else:
                    raise AssertionError("no error packet for an abandoned write")
    time.sleep(1)
    t = g.tftp()
    with pytest.raises(TftpError) as e:
        t.get("/up/half.bin")
    assert e.value.code == 1
    assert t.get("/keep/old.txt")[0] == b"the old contents\n"
    g.poweroff()
    svcutil.fsck(g.image)
    assert svcutil.mdir_names(g.image, "/up") == []


def test_tftpd_stop_during_put_leaves_no_file(tftp_rw):
    """`tftpd stop` in the middle of a write: the client gets an error
    packet, and no file is left (nor a temporary one)."""
    g = tftp_rw
    with g.udp_socket() as s:
        s.settimeout(5)
        s.sendto(svcutil.tftp_request(2, "/up/stopped.bin"), (TAP_GUEST, 69))
        pkt, peer = s.recvfrom(2048)
        assert pkt == struct.pack("!HH", 4, 0), pkt
        for b in range(1, 21):
            s.sendto(struct.pack("!HH", 3, b) + blob(512, b), peer)
            assert s.recvfrom(2048)[0] == struct.pack("!HH", 4, b)
        g.ok("tftpd stop")
        pkt, _ = s.recvfrom(2048)
        assert pkt[:2] == b"\0\5", pkt
    g.ok("tftpd start rw")
    with pytest.raises(TftpError) as e:
        g.tftp().get("/up/stopped.bin")
    assert e.value.code == 1
    assert g.q.cmd_lines("ls /up") == []
    g.poweroff()
    svcutil.fsck(g.image)
    assert svcutil.mdir_names(g.image, "/up") == []


def test_tftp_put_that_fills_the_disk(netns_ok, vm, tmp_path, rw_image):
    """A WRQ larger than the free space: an error packet (disk full, code 3),
    no file, the free space as before, a later put that fits works, and the
    volume is fsck-clean after poweroff."""
    small = svcutil.make_image(tmp_path / "small.img", 40, fat=32)
    src = tmp_path / "filler.src"
    with open(src, "wb") as f:
        f.truncate(free_bytes(small) - MiB)
    svcutil.run("mcopy", "-i", small, src, "::/filler.bin")
    g = vm([drive(rw_image, 0), drive(small, 1)], tap=True)
    g.ok("tftpd start rw")
    before = g.df_free("/vdb")
    t = g.tftp()
    with pytest.raises(TftpError) as e:
        t.put("/vdb/big.bin", blob(3 * MiB + 1, 41), options={"blksize": 8192})
    assert e.value.code == 3, e.value
    assert g.df_free("/vdb") == before
    with pytest.raises(TftpError) as e:
        t.get("/vdb/big.bin")
    assert e.value.code == 1
    t.put("/vdb/fits.bin", blob(300000, 42))
    assert t.get("/vdb/fits.bin")[0] == blob(300000, 42)
    g.poweroff()
    svcutil.fsck(small)
    assert svcutil.mdir_names(small, "/") == ["filler.bin", "fits.bin"]
    assert svcutil.mtype(small, "/fits.bin") == blob(300000, 42)
