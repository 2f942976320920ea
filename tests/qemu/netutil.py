"""Helpers for the network tests (test_net.py): free ports on 127.0.0.1,
waiting for a listener, a pcap reader, ARP parsing, an ICMP echo client,
and a network namespace with a tap device that is always deleted again.

Everything here stays on this machine: ports are bound on 127.0.0.1 only,
and the namespace is one this module creates and deletes.  Every wait is
bounded.  Standard library only.

Run as a script (test_net.py runs it inside a namespace, `ip netns exec`):
  python3 netutil.py ping ADDR COUNT TIMEOUT [SIZE [INTERVAL]]
      ICMP echo requests of SIZE payload bytes (56) from a raw socket
      (root), one every INTERVAL seconds (1): one line per intact reply,
      then `received=N`.  (ping(8) is not on every host.)
  python3 netutil.py fragments ADDR COUNT
      COUNT first fragments of UDP datagrams whose rest never comes.
  python3 netutil.py udp ADDR COUNT SIZE
      COUNT datagrams of SIZE bytes to port 7777, back to back.
  python3 netutil.py probe tcp|udp ADDR PORT TIMEOUT
      connects (TCP) or sends one datagram (UDP) to a port and prints
      `refused` (a TCP reset, or an ICMP port unreachable), `open` (TCP
      connected, or a UDP answer) or `timeout`.
"""

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import time


# ---- ports on 127.0.0.1 --------------------------------------------------

def free_port(kind=socket.SOCK_STREAM):
    """A TCP (or, with kind=socket.SOCK_DGRAM, UDP) port on 127.0.0.1 that
    nobody holds right now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_listening(port, host="127.0.0.1"):
    """Whether a TCP socket listens on host:port (read from /proc/net/tcp,
    so nothing connects to it: a listener that takes one client, such as
    QEMU's -netdev stream server, is left alone)."""
    want = "%s:%04X" % (socket.inet_aton(host)[::-1].hex().upper(), port)
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":  # TCP_LISTEN
                return True
    return False


def wait_listening(port, timeout, alive=None):
    """Waits until 127.0.0.1:port listens; alive() (if given) returning
    False ends the wait early.  Fails after timeout seconds."""
    end = time.monotonic() + timeout
    while not is_listening(port):
        if alive is not None and not alive():
            raise AssertionError("the process that was to listen on 127.0.0.1:%d ended" % port)
        if time.monotonic() > end:
            raise AssertionError("nothing listens on 127.0.0.1:%d after %.0f s" % (port, timeout))
        time.sleep(0.05)


# ---- addresses -----------------------------------------------------------

def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(":"))


def ip_bytes(text):
    return socket.inet_aton(text)


# ---- pcap ----------------------------------------------------------------

LINKTYPE_ETHERNET = 1
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_RARP = 0x8035


def read_pcap(path):
    """The frames of a pcap file (microsecond or nanosecond, either byte
    order) as a list of (timestamp seconds, bytes).  A record cut short at
    the end (the writer still running) is left out."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = data[:4]
    for order in ("<", ">"):
        (m,) = struct.unpack(order + "I", magic)
        if m in (0xA1B2C3D4, 0xA1B23C4D):
            break
    else:
        raise AssertionError("not a pcap file: magic %s" % magic.hex())
    scale = 1e-6 if m == 0xA1B2C3D4 else 1e-9
    _, _, _, _, _, linktype = struct.unpack(order + "HHiIII", data[4:24])
    assert linktype == LINKTYPE_ETHERNET, "pcap link type %d, not Ethernet" % linktype
    frames = []
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(order + "IIII", data[pos:pos + 16])
        pos += 16
        if pos + incl > len(data):
            break
        frames.append((sec + frac * scale, data[pos:pos + incl]))
        pos += incl
    return frames


def parse_arp(frame):
    """An Ethernet frame's ARP (or RARP) packet as a dict, or None."""
    if len(frame) < 14 + 28:
        return None
    ethertype = struct.unpack("!H", frame[12:14])[0]
    if ethertype not in (ETH_P_ARP, ETH_P_RARP):
        return None
    htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", frame[14:22])
    if (htype, ptype, hlen, plen) != (1, ETH_P_IP, 6, 4):
        return None
    a = frame[22:42]
    return {"ethertype": ethertype, "eth_dst": frame[0:6], "eth_src": frame[6:12], "op": op,
            "sha": a[0:6], "spa": a[6:10], "tha": a[10:16], "tpa": a[16:20]}


# ---- ICMP echo (a ping(8) for machines without one) ----------------------

def _checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def icmp_ping(addr, count, timeout, size=56, interval=1.0):
    """Sends count ICMP echo requests of size payload bytes to addr (one
    every interval seconds at most, each waited for up to timeout seconds)
    from a raw socket; returns the number of replies whose payload came
    back intact.  Needs root (CAP_NET_RAW)."""
    ident = os.getpid() & 0xFFFF
    received = 0
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        for seq in range(1, count + 1):
            start = time.monotonic()
            payload = (struct.pack("!dH", start, seq) + bytes(i * 7 & 0xFF for i in range(size)))[:size]
            hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            pkt = struct.pack("!BBHHH", 8, 0, _checksum(hdr + payload), ident, seq) + payload
            s.sendto(pkt, (addr, 0))
            end = start + timeout
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                s.settimeout(left)
                try:
                    data, src = s.recvfrom(65535)
                except socket.timeout:
                    break
                ihl = (data[0] & 0x0F) * 4  # raw sockets get the reassembled datagram
                icmp = data[ihl:]
                if src[0] != addr or len(icmp) < 8:
                    continue
                typ, _, _, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
                if typ == 0 and rid == ident and rseq == seq and icmp[8:] == payload:
                    received += 1
                    print("reply from %s seq=%d time_us=%d"
                          % (addr, seq, (time.monotonic() - start) * 1e6), flush=True)
                    break
            spent = time.monotonic() - start
            if seq < count and spent < interval:
                time.sleep(interval - spent)
    print("received=%d" % received, flush=True)
    return received


def probe(proto, addr, port, timeout):
    """What a closed (or open) port on addr answers: "refused", "open" or
    "timeout"."""
    if proto == "tcp":
        try:
            socket.create_connection((addr, port), timeout=timeout).close()
            return "open"
        except ConnectionRefusedError:
            return "refused"
        except socket.timeout:
            return "timeout"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((addr, port))
        try:
            s.send(b"tinyvio probe")
            s.recv(2048)
            return "open"
        except ConnectionRefusedError:  # the ICMP port unreachable, reported on the socket
            return "refused"
        except socket.timeout:
            return "timeout"


def first_fragments(addr, count, size=1000, port=7777):
    """Sends count first fragments (more-fragments set, offset 0) of UDP
    datagrams to addr, each with its own IP identification and never
    followed by the rest: a receiver has to hold them until it gives up
    (or evicts them).  Raw socket, root."""
    src_port = 40000 + os.getpid() % 20000
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        dst = socket.inet_aton(addr)
        body = struct.pack("!HHHH", src_port, port, 8 + 2 * size, 0) + bytes(size)  # claims twice the bytes
        for i in range(count):
            ident = (os.getpid() + i) & 0xFFFF or 1
            hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident, 0x2000, 64, socket.IPPROTO_UDP, 0,
                              b"\0\0\0\0", dst)  # source 0.0.0.0: the kernel fills it in
            s.sendto(hdr + body, (addr, 0))
            if i % 50 == 49:
                time.sleep(0.002)


def udp_flood(addr, count, size, port=7777, pause_every=50):
    """count datagrams of size bytes (fragmented by the host above its MTU)
    to addr:port, pausing briefly every pause_every."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(count):
            try:
                s.sendto(bytes([i & 0xFF]) * size, (addr, port))
            except ConnectionRefusedError:  # an earlier one's port unreachable
                pass
            if i % pause_every == pause_every - 1:
                time.sleep(0.002)


# ---- network namespaces --------------------------------------------------

def netns_unusable():
    """A reason the namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root: cannot make a network namespace and a tap device"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    name = "tvprobe%d" % os.getpid()
    try:
        r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return "`ip netns add` fails: %s" % r.stderr.strip()
        r = subprocess.run(["ip", "netns", "exec", name, "ip", "tuntap", "add", "dev", "tvprobe0", "mode", "tap"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return "`ip tuntap add` fails inside a namespace: %s" % r.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return "`ip netns` does not work: %s" % e
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
    return None


def _ip(*args, ns=None, check=True):
    argv = ["ip"] + (["-n", ns] if ns else []) + list(args)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
    return r


def _netns_pids(ns):
    r = _ip("netns", "pids", ns, check=False)
    return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []


@contextlib.contextmanager
def netns_with_tap(host_cidr, tap="tvtap0", multi_queue=False, mtu=None):
    """A network namespace of our own holding an up tap device `tap` with
    host_cidr on the host side (and lo up); multi_queue makes a tap that
    QEMU can open several times (`-netdev tap,queues=N`); mtu sets the
    tap's MTU.  Yields the namespace's name.
    On the way out, whatever still runs in it (a QEMU we started there) is
    killed, the tap deleted and the namespace deleted, even on failure."""
    ns = "tvnet%d" % os.getpid()
    _ip("netns", "del", ns, check=False)  # a leftover of ours, from a killed run
    _ip("netns", "add", ns)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "tuntap", "add", "dev", tap, "mode", "tap"]
                       + (["multi_queue"] if multi_queue else []), check=True, capture_output=True, timeout=10)
        _ip("link", "set", "lo", "up", ns=ns)
        _ip("addr", "add", host_cidr, "dev", tap, ns=ns)
        if mtu:
            _ip("link", "set", tap, "mtu", str(mtu), ns=ns)
        _ip("link", "set", tap, "up", ns=ns)
        yield ns
    finally:
        for pid in _netns_pids(ns):  # started by us, inside our namespace
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 10
        while _netns_pids(ns) and time.monotonic() < end:
            time.sleep(0.05)
        _ip("link", "del", tap, ns=ns, check=False)
        _ip("netns", "del", ns, check=False)


def ns_run(ns, *args, timeout=60):
    """Runs this file as a script inside the namespace (e.g. "fragments",
    ADDR, COUNT); returns its output, failing if it fails."""
    r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__)]
                       + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "netutil.py %s failed in %s: %s" % (" ".join(map(str, args)), ns, r.stderr)
    return r.stdout


def ns_probe(ns, proto, addr, port, timeout):
    """probe() run inside the namespace."""
    r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "probe",
                        proto, addr, str(port), str(timeout)],
                       capture_output=True, text=True, timeout=timeout + 30)
    return (r.stdout.strip() or r.stderr.strip())


def ns_ping(ns, addr, count, timeout, size=56, interval=1.0):
    """The host's ping inside the namespace: returns (replies, output).
    ping(8) for plain echoes where there is one; else, and for other sizes
    or intervals, this file's client (which counts only replies whose
    payload came back intact)."""
    wait = max(1, int(timeout))
    if shutil.which("ping") and size == 56 and interval == 1.0:
        argv = ["ping", "-n", "-c", str(count), "-W", str(wait), addr]
    else:
        argv = [sys.executable, os.path.abspath(__file__), "ping", addr, str(count), str(wait), str(size),
                str(interval)]
    r = subprocess.run(["ip", "netns", "exec", ns] + argv, capture_output=True, text=True,
                       timeout=count * (wait + interval) + 30)
    out = r.stdout + r.stderr
    replies = sum(1 for line in out.splitlines() if "from %s" % addr in line and "time" in line)
    return replies, out


if __name__ == "__main__":
    if len(sys.argv) in (5, 6, 7) and sys.argv[1] == "ping":
        opt = [int(sys.argv[5])] if len(sys.argv) > 5 else []
        opt += [float(sys.argv[6])] if len(sys.argv) > 6 else []
        sys.exit(0 if icmp_ping(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), *opt) else 1)
    if len(sys.argv) == 4 and sys.argv[1] == "fragments":
        first_fragments(sys.argv[2], int(sys.argv[3]))
        sys.exit(0)
    if len(sys.argv) == 5 and sys.argv[1] == "udp":
        udp_flood(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        sys.exit(0)
    if len(sys.argv) == 6 and sys.argv[1] == "probe":
        print(probe(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
        sys.exit(0)
    sys.exit("usage: netutil.py ping ADDR COUNT TIMEOUT [SIZE [INTERVAL]] | fragments ADDR COUNT"
             " | udp ADDR COUNT SIZE | probe tcp|udp ADDR PORT TIMEOUT")
