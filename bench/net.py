#!/usr/bin/python3
"""make bench, the network half (issue 15): tinyvio's virtio-net, lwIP and
services next to the Linux-guest anchor's, interleaved, in the run and report
of bench/run.py (which calls run_net(), report() and write_chart() here).

Netdev lines, both on the anchor's machine (`-machine q35 -cpu max -smp 1
-m 512`, no disks for the Linux guest) and -device virtio-net-pci:

  tap   -netdev tap,...,script=no,downscript=no,vhost=off in a network
        namespace made for each boot and deleted after it (also on failure);
        host 192.168.76.1/24 on the tap, guest 192.168.76.2/24; every host
        tool runs in the namespace.  Needs root: without it only `user` runs.
  user  -netdev user,restrict=on with hostfwd from two free ports on
        127.0.0.1 to the guest's 5001 and 80; guest 10.0.2.15/24.

Each boot's QEMU command line is the one the anchor's run.sh prints for the
line (BLK=0 NETDEV=...), with only -kernel/-initrd/-append replaced for ours
(run.ours_argv: isa-debug-exit added) and a virtio-blk disk added that holds
a FAT32 volume with /big.bin (64 MiB) and /small.bin (1 KiB).  Ours serves
with `net.serve=http:80,iperf:5001`; the Linux guest is the anchor's NET=1
initramfs booted by its run.sh (guest/net.sh: busybox httpd from tmpfs,
iperf -s).  Per boot, from the host, the anchor's net-bench.sh commands:
busybox ping -i 0.01 and -A (tap), iperf -c (warm-up, then timed),
netclient.py get (64 MiB), rps -c 8 (1 KiB, a connection each), rr (ours:
HTTP keep-alive; Linux: one-byte echo after the console command `echo`);
then, ours only, `bench net ping` and HTTP PUT of 64 MiB with `httpd start
80 rw` (the answer comes after the file is synced).  QEMU's CPU per thread
and the host client's CPU are read around every test.

The same file is the in-namespace client for what netclient.py lacks:
  net.py fetch URL         one GET: `status=N bytes=N sha256=HEX`
  net.py put URL FILE      one PUT of FILE: an LG-RESULT line with secs, mbs
"""

import hashlib
import os
import random
import re
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

import run  # bench/run.py: the same module object when run.py is the program

HERE = os.path.dirname(os.path.abspath(__file__))
NET_DISK = "/dev/shm/tinyvio-net.raw"
NET_DISK_MB = 512  # /big.bin and a 64 MiB upload beside the file it replaces
BIG_SRC = "/dev/shm/tinyvio-net-big.bin"
PUT_SRC = "/dev/shm/tinyvio-net-put.bin"
BIG = 64 << 20
SMALL = 1024
TAP_HOST, TAP_GUEST = "192.168.76.1", "192.168.76.2"
USER_GUEST, SLIRP_HOST = "10.0.2.15", "10.0.2.2"
LINES = {
    "tap": "tap in a network namespace (`vhost=off`), host 192.168.76.1, guest 192.168.76.2",
    "user": "QEMU user networking, `restrict=on`, hostfwd on 127.0.0.1",
}
SATURATED = 0.85  # a thread busy this share of a test's wall time is taken as the limit


def params(quick):
    """Seconds and counts per test (the anchor's net-bench.sh knobs)."""
    if quick:
        return {"T": 2, "WARM": 1, "BIG_N": 3, "PING_N": 100, "RR_N": 2000, "PUT_N": 2, "NETPING_N": 2000}
    return {"T": 5, "WARM": 1, "BIG_N": 5, "PING_N": 200, "RR_N": 5000, "PUT_N": 3, "NETPING_N": 10000}


# ---------------------------------------------------------------- the wire


class Wire:
    """One netdev line for one boot: a namespace with its tap (tap), or two
    free ports on 127.0.0.1 for hostfwd (user).  close() deletes the namespace."""

    def __init__(self, name):
        self.name, self.ns, self.prefix = name, None, []
        if name == "tap":
            self.ns = "tvbench-%d" % os.getpid()
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)  # a leftover of a killed run
            try:
                for cmd in (["ip", "netns", "add", self.ns], ["ip", "-n", self.ns, "link", "set", "lo", "up"],
                            ["ip", "-n", self.ns, "tuntap", "add", "dev", "lgtap0", "mode", "tap"],
                            ["ip", "-n", self.ns, "addr", "add", TAP_HOST + "/24", "dev", "lgtap0"],
                            ["ip", "-n", self.ns, "link", "set", "lgtap0", "up"]):
                    subprocess.run(cmd, check=True, capture_output=True, text=True)
            except (OSError, subprocess.CalledProcessError) as e:
                self.close()
                raise RuntimeError("cannot make the namespace and tap: %s" % (getattr(e, "stderr", "") or e).strip())
            self.prefix = ["ip", "netns", "exec", self.ns]
            self.netdev = "tap,id=n0,ifname=lgtap0,script=no,downscript=no,vhost=off"
            self.guest_ip, self.peer_ip = TAP_GUEST, TAP_HOST
            self.host, self.iperf_port, self.http_port = TAP_GUEST, 5001, 80
        else:
            ports = free_ports(2)
            self.netdev = "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:5001,hostfwd=tcp:127.0.0.1:%d-:80" % ports
            self.guest_ip, self.peer_ip = USER_GUEST, SLIRP_HOST
            self.host, (self.iperf_port, self.http_port) = "127.0.0.1", ports

    def url(self, path):
        return "http://%s:%d%s" % (self.host, self.http_port, path)

    def close(self):
        if self.ns:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
            self.ns = None


def free_ports(n):
    """n TCP ports free on 127.0.0.1 now (other QEMU tests share this host)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = tuple(s.getsockname()[1] for s in socks)
    for s in socks:
        s.close()
    return ports


def tap_possible():
    """None if a namespace with a tap can be made here, else why not."""
    if os.geteuid() != 0:
        return "not root: a network namespace and a tap device need root"
    # Namespaces of benchmarks that were killed outright (SIGKILL) go first.
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for name in re.findall(r"^tvbench-(\d+)", listed, re.M):
        if not os.path.exists("/proc/" + name):
            subprocess.run(["ip", "netns", "del", "tvbench-" + name], capture_output=True)
    try:
        Wire("tap").close()
    except (OSError, RuntimeError) as e:
        return str(e)
    return None


# ---------------------------------------------------------------- host-side tools


def my_cpu_s():
    """CPU seconds of this process and of its reaped children (QEMU, run.sh, the clients)."""
    return sum(getattr(resource.getrusage(w), k) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for k in ("ru_utime", "ru_stime"))


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def thread_sched(pid):
    """{tid: (seconds on a CPU, seconds runnable but waiting for one)} of every
    thread of a process, from schedstat (nanoseconds; /proc's stat counts 10 ms
    ticks, too coarse for a test of a few ms); None where schedstat is missing."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return {}
    for t in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                v = f.read().split()
            out[int(t)] = (int(v[0]) / 1e9, int(v[1]) / 1e9)
        except (OSError, IndexError, ValueError):
            return None
    return out


class Meter:
    """QEMU's CPU per thread (main loop / vCPU / others) and the host
    clients' CPU during a `with` block, as shares of its wall time; and how
    long the main loop and the vCPU waited, runnable, for a CPU (on a busy
    2-CPU host a thread that wants a whole CPU may not get it)."""

    def __init__(self, qpid, vcpu):
        self.qpid, self.vcpu, self.cpu = qpid, vcpu, {}

    def _sample(self):
        sched = thread_sched(self.qpid)
        if sched is None:  # no schedstat: run.py's tick counts, no waits
            sched = {t: (c, 0.0) for t, c in run.thread_cpu_s(self.qpid).items()}
        return sched

    def __enter__(self):
        self.t0, self.c0, self.before = time.monotonic(), children_cpu_s(), self._sample()
        return self

    def __exit__(self, *exc):
        after, wall = self._sample(), time.monotonic() - self.t0
        d = {t: [x - y for x, y in zip(after[t], self.before.get(t, (0.0, 0.0)))] for t in after}
        zero = (0.0, 0.0)
        self.cpu = {"wall_s": wall, "main": d.get(self.qpid, zero)[0] / wall, "vcpu": d.get(self.vcpu, zero)[0] / wall,
                    "other": sum(v[0] for t, v in d.items() if t not in (self.qpid, self.vcpu)) / wall,
                    "client": (children_cpu_s() - self.c0) / wall,
                    "main_wait": d.get(self.qpid, zero)[1] / wall, "vcpu_wait": d.get(self.vcpu, zero)[1] / wall}
        return False


def busiest_thread(pid):
    """After boot the vCPU thread is the busiest but the main one (as in run.py)."""
    boot = run.thread_cpu_s(pid)
    return max((t for t in boot if t != pid), key=lambda t: boot[t], default=None)


class Session:
    """What the host-side tests of one boot share: the wire, the log and the meter."""

    def __init__(self, args, p, wire, log, qpid):
        self.args, self.p, self.wire, self.log, self.qpid = args, p, wire, log, qpid
        self.vcpu = busiest_thread(qpid)
        self.nc = os.path.join(args.anchor, "netclient.py")
        lg = args.lg_work
        self.bb = os.path.join(lg, "bbroot", "bin", "busybox")
        self.iperf = shutil.which("iperf") or os.path.join(lg, "iperf", "usr", "bin", "iperf")
        self.problems = []

    def meter(self):
        return Meter(self.qpid, self.vcpu)

    def note(self, argv):
        self.log("HOST-NET " + shlex.join(argv))

    def host(self, argv, timeout, stdin=None, in_ns=True):
        """A host tool (in the namespace on the tap line); its stdout."""
        argv = (self.wire.prefix if in_ns else []) + argv
        self.note(argv)
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin)
        except subprocess.TimeoutExpired as e:
            self.problems.append("timed out after %d s: %s" % (timeout, shlex.join(argv)))
            return e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        if p.returncode != 0 and p.stderr.strip():
            self.log("HOST-NET-STDERR " + p.stderr.strip().replace("\n", " | ")[-500:])
        return p.stdout

    def netclient(self, name, argv, timeout, stdin=None, in_ns=True):
        """netclient.py's LG-RESULT line as a dict (numbers as floats); an
        `error` key if it has one or none came."""
        out = self.host([sys.executable, self.nc, "--name", name] + argv, timeout, stdin, in_ns)
        return lg_result(out, name)


def lg_result(text, name):
    for line in text.splitlines():
        if line.startswith("LG-RESULT "):
            v = run.kv(line)
            res = {k: (float(x) if re.fullmatch(r"-?[0-9.]+(e-?[0-9]+)?", x) else x) for k, x in v.items()}
            if res.get("errors", 0) and "error" not in res:
                res["error"] = "%d failed requests (%s)" % (
                    res["errors"], ", ".join("%s=%d" % (k[6:], v) for k, v in res.items() if k.startswith("error_")))
            return res
    return {"error": "no result line from %s: %r" % (name, text[-300:])}


def host_tests(s, rr):
    """The anchor's host-side tests, in net-bench.sh's order; rr(s) does the
    round trips (each system its own way).  Returns {test: result}."""
    p, w, res = s.p, s.wire, {}
    if w.name == "tap":
        for name, how in (("icmp_ping", ["-i", "0.01"]), ("icmp_ping_bb", ["-A"])):
            with s.meter() as m:
                out = s.host([s.bb, "ping", "-c", str(p["PING_N"] + 20)] + how + ["-W", "2", w.guest_ip], 120)
            res[name] = dict(s.netclient(name, ["ping", "--warmup", "20"], 30, stdin=out, in_ns=False), cpu=m.cpu)
            if "error" not in res[name] and res[name].get("lost") != 0.0:
                res[name]["error"] = "%s of %s pings lost" % (res[name].get("lost"), res[name].get("sent"))
    s.host([s.iperf, "-c", w.host, "-p", str(w.iperf_port), "-t", str(p["WARM"])], p["WARM"] + 30)
    with s.meter() as m:
        out = s.host([s.iperf, "-c", w.host, "-p", str(w.iperf_port), "-t", str(p["T"]), "-y", "C"], p["T"] + 30)
    rows = [ln.split(",") for ln in out.splitlines() if ln.count(",") >= 8]
    res["iperf_tcp"] = ({"bytes": float(rows[-1][7]), "mbs": float(rows[-1][8]) / 8e6} if rows
                        else {"error": "no iperf report: %r" % out[-300:]})
    res["iperf_tcp"]["cpu"] = m.cpu
    with s.meter() as m:
        r = s.netclient("http_get_big", ["get", "--warmup", "1", "--count", str(p["BIG_N"]), w.url("/big.bin")], 300)
    res["http_get_big"] = dict(r, cpu=m.cpu)
    if "error" not in r and r.get("bytes") != BIG:
        res["http_get_big"]["error"] = "%s bytes, %d expected" % (r.get("bytes"), BIG)
    with s.meter() as m:
        r = s.netclient("http_1k_c8", ["rps", "-c", "8", "-t", str(p["T"]), "--warmup", str(p["WARM"]),
                                       w.url("/small.bin")], p["WARM"] + p["T"] + 60)
    res["http_1k_c8"] = dict(r, cpu=m.cpu)
    rr(s, res)
    for name, r in res.items():
        if "error" in r:
            s.problems.append("%s: %s" % (name, r["error"]))
    return res


# ---------------------------------------------------------------- ours


def make_net_disk():
    """The FAT32 volume ours serves: /big.bin (64 MiB of a fixed pseudo-random
    pattern) and /small.bin (1 KiB of 'x', as the Linux guest's)."""
    if not os.path.exists(NET_DISK) or os.path.getsize(NET_DISK) != NET_DISK_MB << 20:
        subprocess.run(["dd", "if=/dev/zero", "of=" + NET_DISK, "bs=1M", "count=%d" % NET_DISK_MB, "status=none"],
                       check=True)
    run.make_fat(NET_DISK)
    small = os.path.join(os.path.dirname(BIG_SRC), "tinyvio-net-small.bin")
    with open(small, "wb") as f:
        f.write(b"x" * SMALL)
    subprocess.run(["mcopy", "-i", NET_DISK, "-o", BIG_SRC, "::/big.bin"], check=True, capture_output=True)
    subprocess.run(["mcopy", "-i", NET_DISK, "-o", small, "::/small.bin"], check=True, capture_output=True)
    os.unlink(small)


def ours_rr(s, res):
    p, w = s.p, s.wire
    with s.meter() as m:
        r = s.netclient("tcp_rr", ["rr", "--http", "/small.bin", "--count", str(p["RR_N"]), "-t", str(p["T"]),
                                   "--warmup", "200", w.host, str(w.http_port)], p["T"] + 60)
    res["tcp_rr"] = dict(r, cpu=m.cpu)


def ours_argv(wire, anchor, serve):
    """The anchor's command line for the wire, ours in it, and the FAT disk."""
    return wire.prefix + run.ours_argv(anchor, run.KERNEL) + [
        "-append", "net.ip=%s/24%s" % (wire.guest_ip, " net.serve=" + serve if serve else ""),
        "-drive", "file=%s,format=raw,if=none,id=d0,cache=none,aio=native" % NET_DISK,
        "-device", "virtio-blk-pci,drive=d0,serial=lgnet"]


def console_problems(log):
    """Anything the kernel said that it should not have, from a console log."""
    with open(log, errors="replace") as f:
        return ["console: " + ln.strip() for ln in f
                if re.match(r"\s*(warning|error|panic|PANIC)", ln) and not ln.startswith("HOST-")][:10]


def ours_session(args, p, wire, anchor, rep, sums):
    """One boot of our kernel on one netdev line, serving from boot
    (`net.serve=http:80,iperf:5001`, read-only); the host's tests, `bench
    net ping`; then whether `httpd` starts again after `httpd stop`."""
    log = os.path.join(args.out, "logs", "net-ours-%s-r%d.log" % (wire.name, rep))
    make_net_disk()
    argv = ours_argv(wire, anchor, "http:80,iperf:5001")
    g = run.Guest(argv, log)
    res = {"problems": [], "cmd": shlex.join(argv)}
    s = None
    try:
        res["ready_s"] = g.wait_prompt(args.timeout)
        out, _ = g.command("net", 30)
        res["nic"] = out[0] if out else ""
        s = Session(args, p, wire, lambda line: (g.log.write(line + "\n"), g.log.flush()), g.proc.pid)
        # The bytes first: one fetch of each file, checked against the source.
        for path, want in (("/big.bin", sums["big"]), ("/small.bin", sums["small"])):
            got = s.host([sys.executable, os.path.join(HERE, "net.py"), "fetch", wire.url(path)], 120)
            if "sha256=%s" % want not in got:
                s.problems.append("GET %s: wrong bytes or failure: %s (sha256 %s expected)" % (path, got.strip(), want))
        res.update(host_tests(s, ours_rr))
        # From our side: echoes back to back to the host (slirp answers on the user line).
        with s.meter() as m:
            out, _ = g.command("bench net ping %s %d" % (wire.peer_ip, p["NETPING_N"]), args.timeout)
        line = next((x for x in out if x.startswith("bench net ")), None)
        res["bench_net_ping"] = dict({k: float(v) for k, v in run.kv(line).items() if k != "op"} if line and not
                                     run.error_of(out) else {"error": run.error_of(out) or "no result: %r" % out},
                                     cpu=m.cpu)
        if "error" in res["bench_net_ping"]:
            s.problems.append("bench net ping: %s" % res["bench_net_ping"]["error"])
        out, _ = g.command("netstat", 30)
        res["netstat"] = out[0] if out else ""
        c = run.kv(res["netstat"])
        for k in ("rx_dropped", "tx_dropped", "device_errors", "resets"):
            if c.get(k, "0") != "0":
                s.problems.append("netstat: %s=%s" % (k, c[k]))
        # The services again, as a user would after the tests (not a figure).
        for cmd in ("httpd stop", "httpd start 80"):
            out, _ = g.command(cmd, 30)
            if out:
                s.problems.append("`httpd stop` then `httpd start 80` after the tests: `%s` said %r" % (cmd, " ".join(out)))
                break
        g.send("poweroff")
        rc = g.wait_exit(args.timeout)
        if rc != 1:
            res["problems"].append("QEMU status %d after poweroff (1 expected)" % rc)
    except run.ConsoleError as e:
        res["session_error"] = str(e)
    finally:
        g.close()
        if s:
            res["problems"] += s.problems
    res["problems"] += [e for e in console_problems(log) if not any(e[len("console: "):] in x for x in res["problems"])]
    res["_wall_s"] = g.t_exit
    return res


def put_session(args, p, wire, anchor, rep, sums):
    """A boot of ours for the uploads, on a fresh volume: `httpd start 80 rw`
    from the shell (nothing served at boot), PUT_N uploads of 64 MiB to
    /up.bin, each timed from connect to the answer (sent once the file is
    synced); the bytes checked with the shell's sha256 after the last."""
    log = os.path.join(args.out, "logs", "net-ours-put-%s-r%d.log" % (wire.name, rep))
    make_net_disk()
    g = run.Guest(ours_argv(wire, anchor, None), log)
    res, problems = {"mbs": [], "secs": []}, []
    try:
        g.wait_prompt(args.timeout)
        s = Session(args, p, wire, lambda line: (g.log.write(line + "\n"), g.log.flush()), g.proc.pid)
        put_tests(s, g, sums["put"], res)
        problems = s.problems
        g.send("poweroff")
        rc = g.wait_exit(args.timeout)
        if rc != 1:
            problems.append("QEMU status %d after poweroff (1 expected)" % rc)
    except run.ConsoleError as e:
        res["error"] = str(e)
    finally:
        g.close()
    return res, problems + console_problems(log)


def put_tests(s, g, want, res):
    out, _ = g.command("httpd start 80 rw", 30)
    if out:
        res["error"] = "httpd start 80 rw: %s" % " ".join(out)
        return res
    cpu = []
    for _ in range(s.p["PUT_N"]):
        with s.meter() as m:
            out = s.host([sys.executable, os.path.join(HERE, "net.py"), "put", s.wire.url("/up.bin"), PUT_SRC], 300)
        cpu.append(m.cpu)
        r = lg_result(out, "put")
        if "error" in r or r.get("status") not in (201.0, 204.0):
            res["error"] = r.get("error") or "status %s" % r.get("status")
            return res
        res["mbs"].append(r["mbs"])
        res["secs"].append(r["secs"])
    res["cpu"] = {k: sorted(c[k] for c in cpu)[len(cpu) // 2] for k in cpu[0]}
    out, _ = g.command("sha256 /up.bin", 120)
    if not out or not out[0].startswith(want):
        res["error"] = "the uploaded file's sha256 is %r, %s expected" % (" ".join(out), want)
    return res


# ---------------------------------------------------------------- the Linux guest


def qemu_child(ppid):
    """The QEMU process that lgrun.py started, or None."""
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = run.stat_fields("/proc/%s/stat" % d)
            if f and f[1] == str(ppid):
                try:
                    with open("/proc/%s/comm" % d) as c:
                        if c.read().startswith("qemu-system"):
                            return int(d)
                except OSError:
                    pass
    return None


def wait_log(path, pattern, timeout, proc):
    """Waits until `pattern` is in the log while run.sh runs; the line, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    if pattern in line:
                        return line
        except OSError:
            pass
        if proc.poll() is not None:
            return None
        time.sleep(0.1)
    return None


def linux_session(args, p, wire, rep, out_net):
    """One boot of the anchor's network guest via its run.sh (as net-bench.sh
    does it), with the same host-side tests."""
    tag = "%s-%s-net-%s" % (args.accel, args.machine, wire.name)
    log = os.path.join(args.out, "logs", "net-linux-%s-r%d.log" % (wire.name, rep))
    fifo = os.path.join(tempfile.mkdtemp(prefix="tvbench-"), "ctl")
    os.mkfifo(fifo)
    ctl = os.open(fifo, os.O_RDWR)
    env = run.anchor_env(args, "none", {  # the drive knobs are moot with BLK=0
        "BLK": "0", "TESTS": "none", "NETDEV": wire.netdev, "INPUT": fifo, "LOG": log, "ECHO": "none", "TAG": tag,
        "APPEND_EXTRA": "lg.mode=net lg.ip=%s/24" % wire.guest_ip, "TIMEOUT": "300",
        "KERNEL": os.path.join(out_net, "vmlinuz"), "INITRD": os.path.join(out_net, "initramfs.cpio.gz")})
    err = open(log + ".err", "w")
    proc = subprocess.Popen(wire.prefix + [os.path.join(args.anchor, "run.sh")], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    res, qpid, s = {"problems": []}, None, None

    def note(line):
        with open(log, "a") as f:
            f.write(line + "\n")

    def echo_rr(s, res):
        os.write(ctl, b"echo\n")
        if not wait_log(log, "LG-NET-PHASE name=echo", 30, proc):
            res["tcp_rr_echo"] = {"error": "the guest did not switch to the echo server"}
            return
        with s.meter() as m:
            r = s.netclient("tcp_rr_echo", ["rr", "--count", str(p["RR_N"]), "-t", str(p["T"]), "--warmup", "200",
                                            wire.host, str(wire.iperf_port)], p["T"] + 60)
        res["tcp_rr_echo"] = dict(r, cpu=m.cpu)

    try:
        if not wait_log(log, "LG-NET-READY", 120, proc):
            res["session_error"] = "no LG-NET-READY (see %s)" % log
        else:
            qpid = qemu_child(proc.pid)
            if qpid is None:
                res["session_error"] = "QEMU's process not found under run.sh (pid %d)" % proc.pid
            else:
                s = Session(args, p, wire, note, qpid)
                res.update(host_tests(s, echo_rr))
        os.write(ctl, b"done\n")
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            res.setdefault("session_error", "the guest did not power off within 60 s of `done`")
    finally:
        qpid = qpid or qemu_child(proc.pid)  # lgrun.py runs QEMU in a session of its own
        if qpid and proc.poll() is None:
            try:
                os.kill(qpid, 9)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(ctl)
        os.unlink(fifo)
        os.rmdir(os.path.dirname(fifo))
        err.close()
        if s:
            res["problems"] += s.problems
    if not os.path.exists(log):
        with open(log + ".err", errors="replace") as f:
            res["session_error"] = "run.sh failed: %s" % f.read().strip()[-300:]
        return res
    with open(log, errors="replace") as f:
        for line in f:
            line = re.sub(r"^\[\+\s*([0-9.]+)\] ", r"\1 ", line.rstrip("\n"))
            m = re.match(r"([0-9.]+) (LG-\S+)(.*)", line)
            body = (m.group(2) + m.group(3)) if m else line
            if m and m.group(2) == "LG-NET-READY":
                res["ready_s"] = float(m.group(1))
            elif body.startswith("LG-RESULT test=iperf_tcp_server"):
                res["iperf_tcp_server"] = {k: float(v) for k, v in run.kv(body).items() if re.fullmatch(r"[0-9.]+", v)}
            elif body.startswith(("LG-NETSTAT", "LG-NETDEV")):
                res[body.split()[0][3:].lower()] = body
            elif body.startswith("LG-ERROR"):
                res["problems"].append(body)
            elif line.startswith("HOST-TIMING "):
                res["_host"] = {k: float(v) for k, v in run.kv(line).items() if re.fullmatch(r"[0-9.]+", v)}
    if proc.returncode not in (0, None) and "session_error" not in res:
        res["session_error"] = "run.sh exit %d (log %s)" % (proc.returncode, log)
    res["_wall_s"] = res.get("_host", {}).get("t_exit_s")
    return res


# ---------------------------------------------------------------- the run


def run_net(args, data):
    """Boots ours and the Linux guest on each netdev line, interleaved,
    args.reps times (once each with --quick); fills data["net"]."""
    p = params(args.quick)
    reps = 1 if args.quick else args.reps
    nd = data["net"] = {"params": p, "reps": reps, "lines": [], "skip": {}, "ours": {}, "linux": {},
                        "netdev": {}, "ours_cmd": {}, "linux_ran": False}
    why = tap_possible()
    if why:
        nd["skip"]["tap"] = why
        print("bench: net: the tap line is skipped: %s" % why, file=sys.stderr)
    nd["lines"] = [ln for ln in LINES if ln not in nd["skip"]]
    out_net = os.path.join(args.lg_work, "out-net")
    if args.accel == "kvm":
        nd["linux_skip"] = "under KVM (the nested kvm_pvm hypervisor here) a stock Linux guest does not boot"
    elif not os.path.isdir(args.anchor):
        nd["linux_skip"] = "anchor not found at %s" % args.anchor
    else:
        bb = os.path.join(args.lg_work, "bbroot", "bin", "busybox")
        if not (os.path.exists(os.path.join(out_net, "initramfs.cpio.gz")) and os.path.exists(bb)):
            print("bench: net: building the Linux guest's network initramfs (anchor's NET=1 build-initramfs.sh)",
                  file=sys.stderr)
            r = subprocess.run([os.path.join(args.anchor, "build-initramfs.sh")],
                               env=dict(os.environ, LG_WORK=args.lg_work, NET="1"))
            if r.returncode != 0:
                nd["linux_skip"] = "the anchor's NET=1 build-initramfs.sh failed (exit %d)" % r.returncode
        nd["linux_ran"] = "linux_skip" not in nd
    # The bytes served and uploaded: fixed pseudo-random patterns.
    sums = {}
    for path, seed, key in ((BIG_SRC, 15, "big"), (PUT_SRC, 16, "put")):
        blob = random.Random(seed).randbytes(BIG)
        with open(path, "wb") as f:
            f.write(blob)
        sums[key] = hashlib.sha256(blob).hexdigest()
    sums["small"] = hashlib.sha256(b"x" * SMALL).hexdigest()
    try:
        for ln in nd["lines"]:
            nd["ours"][ln], nd["linux"][ln] = [], []
        for rep in range(1, reps + 1):
            for ln in nd["lines"]:
                for who in ("ours", "linux") if nd["linux_ran"] else ("ours",):
                    print("bench: net rep %d: %s, %s" % (rep, who, ln), file=sys.stderr)
                    t0, busy0, mine0 = time.monotonic(), run.host_busy_s(), my_cpu_s()
                    wire = Wire(ln)
                    try:
                        env = run.anchor_env(args, "none", {"BLK": "0", "TESTS": "none", "NETDEV": wire.netdev,
                                                            "KERNEL": os.path.join(out_net, "vmlinuz"),
                                                            "INITRD": os.path.join(out_net, "initramfs.cpio.gz"),
                                                            "PRINT_ONLY": "1"})
                        if who == "ours":
                            anchor = shlex.split(subprocess.run(
                                [os.path.join(args.anchor, "run.sh")], env=env, check=True, capture_output=True,
                                text=True).stdout.strip().splitlines()[-1])
                            r = ours_session(args, p, wire, anchor, rep, sums)
                            r["http_put"], more = put_session(args, p, wire, anchor, rep, sums)
                            r["problems"] += more
                            if "error" in r["http_put"]:
                                r["problems"].append("PUT: " + r["http_put"]["error"])
                            nd["netdev"][ln] = wire.netdev
                            nd["ours_cmd"][ln] = r["cmd"]
                        else:
                            r = linux_session(args, p, wire, rep, out_net)
                    finally:
                        wire.close()
                    # Other processes' CPU: the host's busy time less ours, QEMU's and the clients'.
                    r["_noise"] = max(0.0, run.host_busy_s() - busy0 - (my_cpu_s() - mine0)) / (time.monotonic() - t0)
                    nd[who][ln].append(r)
                    for e in r.get("problems", []) + ([r["session_error"]] if "session_error" in r else []):
                        print("bench: net: %s %s: %s" % (who, ln, e), file=sys.stderr)
    finally:
        for path in (BIG_SRC, PUT_SRC):
            if os.path.exists(path):
                os.unlink(path)
    nd["footprint"] = footprint()


def footprint():
    """text/data/bss of the network's layers, and their static objects of 1 KiB or more."""
    obj = os.path.join(run.REPO, "build", "obj")
    layers = [
        ("lwIP (third_party/lwip)", run.objects(os.path.join("third_party", "lwip"))),
        ("driver (virtio_net.c, drivers/net)", [os.path.join(obj, "drivers", "virtio", "virtio_net.c.o")]
         + run.objects(os.path.join("drivers", "net"))),
        ("lwIP port and netif (lib/net: netif, stack, sys, addr, listen, ping)",
         [os.path.join(obj, "lib", "net", f + ".c.o") for f in ("netif", "stack", "sys", "addr", "listen", "ping")]),
        ("services (lib/net: httpd, http_parse, tftpd, iperfd, httpc, netfs)",
         [os.path.join(obj, "lib", "net", f + ".c.o") for f in ("httpd", "http_parse", "tftpd", "iperfd", "httpc",
                                                                 "netfs")]),
        ("kernel glue (kernel/network.c, cmd_net.c)",
         [os.path.join(obj, "kernel", f + ".c.o") for f in ("network", "cmd_net")]),
    ]
    fp = {"layers": [], "statics": []}
    for name, objs in layers:
        objs = [o for o in objs if os.path.exists(o)]
        fp["layers"].append({"name": name, "size": run.size_of(objs), "objects": len(objs)})
        fp["statics"] += run.static_objects(name.split(" (")[0], objs, 1024)
    fp["total"] = run.size_of([o for _, objs in layers for o in objs if os.path.exists(o)])
    fp["statics"].sort(key=lambda s: -s["bytes"])
    return fp


def problems(data):
    """Every session error of the network half, for run.finish()."""
    nd = data.get("net") or {}
    return [r for who in ("ours", "linux") for runs in nd.get(who, {}).values() for r in runs if "session_error" in r]


# ---------------------------------------------------------------- report

# (key, label, test, field ours, test and field Linux (None: ours only),
#  higher is better, unit, goal on tap, goal on user (ratio of medians))
ROWS = [
    ("iperf", "TCP host → guest, `iperf -c` (client report)", "iperf_tcp", "mbs", ("iperf_tcp", "mbs"),
     True, " MB/s", 3.0, 1.5),
    ("get", "HTTP GET 64 MiB (per boot the median of the fetches, each connect → last byte)", "http_get_big", "mbs",
     ("http_get_big", "mbs"), True, " MB/s", 3.0, 1.5),
    ("rps", "HTTP GET 1 KiB, a new connection each, 8 concurrent", "http_1k_c8", "rps", ("http_1k_c8", "rps"),
     True, " req/s", 10.0, 1.5),
    ("rps_p50", "same: latency p50 (connect → close)", "http_1k_c8", "p50_us", ("http_1k_c8", "p50_us"),
     False, " µs", None, None),
    ("ping", "ICMP echo from the host every 10 ms (busybox `ping -i 0.01`): p50", "icmp_ping", "p50_us",
     ("icmp_ping", "p50_us"), False, " µs", 0.3, None),
    ("ping99", "same: p99", "icmp_ping", "p99_us", ("icmp_ping", "p99_us"), False, " µs", None, None),
    ("pingbb", "ICMP echo from the host back to back (`ping -A`): p50", "icmp_ping_bb", "p50_us",
     ("icmp_ping_bb", "p50_us"), False, " µs", 0.3, None),
    ("pingbb99", "same: p99", "icmp_ping_bb", "p99_us", ("icmp_ping_bb", "p99_us"), False, " µs", None, None),
    ("rr", "TCP request/response on a kept connection: p50 (ours: HTTP keep-alive GET of /small.bin; "
     "Linux: one-byte echo, `nc -ll -e cat`)", "tcp_rr", "p50_us", ("tcp_rr_echo", "p50_us"), False, " µs", 0.3, 1 / 1.5),
    ("rr99", "same: p99", "tcp_rr", "p99_us", ("tcp_rr_echo", "p99_us"), False, " µs", None, None),
    ("netping", "`bench net ping` from ours to the host side (tap: 192.168.76.1; user: 10.0.2.2, answered by "
     "slirp itself): p50", "bench_net_ping", "p50_us", None, False, " µs", None, None),
    ("netping99", "same: p99", "bench_net_ping", "p99_us", None, False, " µs", None, None),
    ("put", "HTTP PUT 64 MiB to `httpd start 80 rw`, connect → answer (sent once the file is synced)", "http_put",
     "mbs", None, True, " MB/s", None, None),
    ("ready", "QEMU start → serving (ours: the prompt, services started at boot; Linux: `LG-NET-READY`)",
     "ready_s", None, ("ready_s", None), False, " s", None, None),
]
CPU_TESTS = [("icmp_ping", "ICMP every 10 ms"), ("icmp_ping_bb", "ICMP back to back"), ("iperf_tcp", "iperf"),
             ("http_get_big", "GET 64 MiB"), ("http_1k_c8", "GET 1 KiB ×8"), ("tcp_rr", "round trips"),
             ("bench_net_ping", "bench net ping"), ("http_put", "PUT 64 MiB")]


def vals(runs, test, field):
    return run.values(runs, test) if field is None else run.values(runs, test, field)


def share(runs, test, k):
    if test == "tcp_rr" and runs and "tcp_rr_echo" in runs[0]:
        test = "tcp_rr_echo"
    return run.med(run.values(runs, test, "cpu", k))


def cpu_cell(runs, test):
    parts = [share(runs, test, k) for k in ("main", "vcpu", "other", "client")]
    if None in parts:
        return "–"
    waits = [share(runs, test, k) for k in ("main_wait", "vcpu_wait")]
    return " / ".join("%.0f%%" % (100 * x) for x in parts) + (
        " (%s)" % " / ".join("%.0f%%" % (100 * x) for x in waits) if None not in waits else "")


def limit_of(runs, test):
    """Which side a test's thread shares point at: a thread busy, or
    runnable and waiting for a CPU, for SATURATED of the time wanted a whole CPU."""
    main, vcpu, client, mw, vw = (share(runs, test, k) for k in ("main", "vcpu", "client", "main_wait", "vcpu_wait"))
    if main is None:
        return "not measured"
    mw, vw = mw or 0.0, vw or 0.0
    says = "main loop %.0f%% (+%.0f%% waiting for a CPU), vCPU %.0f%% (+%.0f%%), host client %.0f%%" % (
        100 * main, 100 * mw, 100 * vcpu, 100 * vw, 100 * client)
    main, vcpu = main + mw, vcpu + vw
    if main >= SATURATED and vcpu < SATURATED:
        return says + ": QEMU's main loop (slirp and the virtio-net backend) is saturated, the guest is not"
    if vcpu >= SATURATED:
        return says + ": the guest's vCPU is saturated"
    if client >= SATURATED:
        return says + ": the host's client is saturated"
    return says + ": no thread saturated (each side waits on the other: latency-bound)"


def first_error(runs, test):
    for r in runs:
        e = r.get(test)
        if isinstance(e, dict) and "error" in e:
            return "error: " + e["error"]
        if "session_error" in r:
            return "error: " + r["session_error"]
    return None


def report(rep):
    """The network section of run.Report: tables per netdev line, QEMU's
    threads, footprint; its goals go to rep.add_goal (issue 15)."""
    nd, w = rep.d.get("net"), rep.w
    if not nd:
        return
    p = nd["params"]
    w("## Network figures (virtio-net, lwIP, services)")
    w()
    w("- %d boot(s) per system and netdev line, interleaved (ours, Linux, per line, per repetition); "
      "per boot: %d s per timed test after %d s of warm-up, %d fetches of 64 MiB after one, %d pings after 20, "
      "up to %d round trips after 200, %d `bench net ping` echoes, %d PUT(s) of 64 MiB"
      % (nd["reps"], p["T"], p["WARM"], p["BIG_N"], p["PING_N"], p["RR_N"], p["NETPING_N"], p["PUT_N"]))
    w("- both systems: the anchor's network command line (`run.sh` with `BLK=0 NETDEV=...`: q35, %s, `-cpu max -smp 1 "
      "-m 512`, `-device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56`); ours with only -kernel/-append replaced "
      "(`net.ip=A.B.C.D/24 net.serve=http:80,iperf:5001`), isa-debug-exit, and a virtio-blk disk "
      "(`%s`, cache=none,aio=native) holding a FAT32 volume with /big.bin (64 MiB, a fixed pseudo-random pattern, "
      "checked by sha256 with one GET per boot) and /small.bin; the Linux guest: the anchor's NET=1 initramfs "
      "(busybox httpd from tmpfs, iperf 2 -s, `nc -ll -e cat` for the echo)" % (rep.a.accel, NET_DISK))
    w("- host side: the anchor's tools and commands (net-bench.sh): busybox ping (%s), iperf 2, `netclient.py`; "
      "MB/s are 10^6 bytes/s; percentiles nearest-rank" % "$LG_WORK/bbroot/bin/busybox")
    w("- round trips: **ours is measured with HTTP keep-alive** (`netclient.py rr --http /small.bin`, a 1 KiB "
      "response per request), **the Linux guest with a one-byte echo** (busybox httpd closes every connection); "
      "ours does more work per round trip than the figure it is compared with")
    noise = [r["_noise"] for who in ("ours", "linux") for runs in nd[who].values() for r in runs if "_noise" in r]
    w("- host noise during the network boots (CPU seconds of other processes per second: the host's busy time "
      "less this benchmark's, QEMU's and the clients'; clamped at 0): median %s, max %s"
      % ((run.fmt(run.med(noise)), run.fmt(max(noise))) if noise else ("–", "–")))
    if not nd["linux_ran"]:
        w("- Linux guest: **skipped** (%s)" % nd.get("linux_skip"))
    for ln, why in nd["skip"].items():
        w("- netdev line `%s`: **skipped** (%s); only the lines below were measured" % (ln, why))
    w()
    for ln in nd["lines"]:
        line_table(rep, nd, ln)
    cpu_table(w, nd)
    footprint_table(w, nd)
    problems_list(w, nd)


def line_table(rep, nd, ln):
    w, lx = rep.w, nd["linux_ran"]
    ours, linux = nd["ours"].get(ln, []), nd["linux"].get(ln, [])
    w("### Netdev line `%s`: %s" % (ln, LINES[ln]))
    w()
    w("`-netdev %s`" % nd["netdev"].get(ln, "–"))
    w()
    nic_o = next((r["nic"] for r in ours if r.get("nic")), None)
    nic_l = next((r["netdev"] for r in linux if r.get("netdev")), None)
    if nic_o or nic_l:
        w("The card as each system set it up: ours (`net`): `%s`; Linux (`LG-NETDEV`): `%s`."
          % (nic_o or "–", (nic_l or "–").replace("LG-NETDEV ", "")))
        w()
    w("| metric | ours | Linux guest | ours / Linux | goal | met? |")
    w("|---|---|---|---|---|---|")
    unmet = []
    for key, label, test, field, lin, hb, unit, g_tap, g_user in ROWS:
        if ln != "tap" and test.startswith("icmp"):
            continue
        o = vals(ours, test, field)
        li = vals(linux, *lin) if lin and lx else []
        r = run.ratio(run.med(o), run.med(li))
        goal = g_tap if ln == "tap" else g_user
        gtext = met = ""
        if goal is not None:
            gtext = ("≥ %.1f× Linux" % goal) if hb else ("≤ %.2f× Linux time" % goal)
            ok = rep.add_goal(15, "%s: %s" % (ln, label.split(":")[0].split(" (")[0]), r, goal, hb)
            met = "–" if ok is None else ("yes" if ok else "**no**")
            if ok is False:
                unmet.append((label, test))
        lcell = ("skipped" if not lx else run.cell(li, hb, unit, first_error(linux, lin[0]))) if lin else "(ours only)"
        w("| %s | %s | %s | %s | %s | %s |" % (label, run.cell(o, hb, unit, first_error(ours, test)), lcell,
                                              run.fmt_ratio(r) + ("" if hb or r is None else " (time)"), gtext, met))
    srv = vals(linux, "iperf_tcp_server", "mbs")
    w()
    if srv:
        w("The Linux guest's own `iperf -s` report of the same runs: %s." % run.cell(srv, True, " MB/s"))
        w()
    if ln == "user" and unmet:
        w("Where a goal on this line is not met, QEMU's threads during the test say which side limits it "
          "(medians over the boots; a thread busy or waiting for a CPU %.0f%% of the wall time or more counts as "
          "saturated):" % (100 * SATURATED))
        w()
        w("| test | ours | Linux guest |")
        w("|---|---|---|")
        for label, test in unmet:
            w("| %s | %s | %s |" % (label.split(":")[0], limit_of(ours, test), limit_of(linux, test) if lx else "–"))
        sink = run.med(vals(ours, "iperf_tcp", "mbs"))
        w()
        w("For comparison, what slirp hands a guest that does nothing but sink the bytes: ours' iperf server "
          "(`lib/net/iperfd.c` drops what it receives) took %s on this line, with %s; and `bench net ping` to "
          "10.0.2.2, answered by slirp inside QEMU with no host socket in the path, has a p50 of %s."
          % (run.fmt(sink, " MB/s"), limit_of(ours, "iperf_tcp"),
             run.fmt(run.med(vals(ours, "bench_net_ping", "p50_us")), " µs")))
        w()
        if "tap" in nd["lines"] and any(t in ("tcp_rr", "http_1k_c8") for _, t in unmet):
            to, tl = nd["ours"]["tap"], nd["linux"].get("tap", [])
            o_t, o_u = run.med(vals(to, "tcp_rr", "p50_us")), run.med(vals(ours, "tcp_rr", "p50_us"))
            l_t, l_u = run.med(vals(tl, "tcp_rr_echo", "p50_us")), run.med(vals(linux, "tcp_rr_echo", "p50_us"))
            w("The same round trip on the tap line: ours %s, Linux %s; the user line's p50 less the tap line's: "
              "ours %s, Linux %s (slirp's and the host sockets' share of a round trip, which no guest can take "
              "away; a difference within the host's noise says nothing)."
              % (run.fmt(o_t, " µs"), run.fmt(l_t, " µs"),
                 signed(o_u, o_t), signed(l_u, l_t)))
        w()


def signed(a, b):
    return "–" if a is None or b is None else "%+.0f µs" % (a - b)


def cpu_table(w, nd):
    nd_lx = nd["linux_ran"]
    w("### QEMU's threads during the network tests")
    w()
    w("Share of each test's wall time busy (medians over the boots): QEMU's main loop (on the user line slirp, "
      "and on both the virtio-net backend's receive side) / the vCPU / QEMU's other threads / the host-side "
      "client (iperf, ping, netclient.py: what the host spends to drive the test, on the same 2 CPUs); from "
      "/proc's schedstat. Round trips: ours over HTTP keep-alive, Linux over the echo. In brackets: the time "
      "the main loop / the vCPU spent runnable but waiting for a CPU (schedstat), which the host's other load "
      "and the client cause.")
    w()
    w("| test | %s |" % " | ".join("%s: ours | %s: Linux" % (ln, ln) for ln in nd["lines"]))
    w("|---|%s" % ("---|---|" * len(nd["lines"])))
    for test, label in CPU_TESTS:
        cells = []
        for ln in nd["lines"]:
            if ln != "tap" and test.startswith("icmp"):
                cells += ["n/a", "n/a"]
                continue
            cells.append(cpu_cell(nd["ours"].get(ln, []), test))
            cells.append(cpu_cell(nd["linux"].get(ln, []), test) if nd_lx and test in LINUX_CPU else "–")
        w("| %s | %s |" % (label, " | ".join(cells)))
    w()


LINUX_CPU = {"icmp_ping", "icmp_ping_bb", "iperf_tcp", "http_get_big", "http_1k_c8", "tcp_rr"}


def footprint_table(w, nd):
    fp = nd.get("footprint")
    if not fp:
        return
    w("### Footprint of the network")
    w()
    w("| part | objects | text | data | bss |")
    w("|---|---|---|---|---|")
    for lay in fp["layers"] + [{"name": "**all of the above**", "size": fp["total"], "objects": ""}]:
        z = lay["size"]
        if z:
            w("| %s | %s | %s | %s | %s |" % (lay["name"], lay["objects"], "{:,}".format(z["text"]),
                                             "{:,}".format(z["data"]), "{:,}".format(z["bss"])))
        else:
            w("| %s | n/a (not built) | | | |" % lay["name"])
    w()
    w("Static objects of 1 KiB or more in those parts (pools, rings, buffers), from `nm --size-sort -S`:")
    w()
    w("| part | object | symbol | bytes |")
    w("|---|---|---|---|")
    for st in fp["statics"]:
        w("| %s | %s | `%s` | %s |" % (st["layer"], st["object"], st["symbol"], "{:,}".format(st["bytes"])))
    w("| | | total | %s |" % "{:,}".format(sum(st["bytes"] for st in fp["statics"])))
    w()


def problems_list(w, nd):
    seen = {}
    for who in ("ours", "linux"):
        for ln, runs in nd[who].items():
            for i, r in enumerate(runs, 1):
                for e in r.get("problems", []) + ([r["session_error"]] if "session_error" in r else []):
                    seen.setdefault((who, ln, e), []).append(i)
    w("### Problems seen during the network runs")
    w()
    if not seen:
        w("None: every request answered, every byte as sent (sha256 of /big.bin, /small.bin and the uploads), "
          "no drops or device errors in ours' `netstat`, no warning on either console.")
    for (who, ln, e), boots in seen.items():
        w("- %s, `%s`, boot(s) %s: %s" % ("ours" if who == "ours" else "Linux guest", ln,
                                          ", ".join(map(str, boots)), e))
    w()


# ---------------------------------------------------------------- chart


def write_chart(args, data):
    """Data files for bench/net-chart.gp, then gnuplot; the SVG's path, or None."""
    nd = data.get("net")
    if not nd or not nd["lines"]:
        return None

    def row(f, label, test, field, lin):
        o = run.med(vals(nd["ours"][ln], test, field))
        li = run.med(vals(nd["linux"].get(ln, []), *lin)) if lin else None
        f.write('"%s" %s\n' % (label, " ".join("?" if x is None else "%.2f" % x for x in (o, li))))

    files = {k: os.path.join(args.out, "net_%s.dat" % k) for k in ("rates", "rps", "lat")}
    with open(files["rates"], "w") as f:
        f.write("# metric, line: ours, Linux guest (MB/s)\n")
        for ln in nd["lines"]:
            row(f, "iperf, " + ln, "iperf_tcp", "mbs", ("iperf_tcp", "mbs"))
            row(f, "GET 64 MiB, " + ln, "http_get_big", "mbs", ("http_get_big", "mbs"))
            row(f, "PUT 64 MiB, " + ln, "http_put", "mbs", None)
    with open(files["rps"], "w") as f:
        f.write("# line: ours, Linux guest (requests/s)\n")
        for ln in nd["lines"]:
            row(f, ln, "http_1k_c8", "rps", ("http_1k_c8", "rps"))
    with open(files["lat"], "w") as f:
        f.write("# metric, line: ours, Linux guest (p50, µs)\n")
        for ln in nd["lines"]:
            if ln == "tap":
                row(f, "ping -i 0.01, tap", "icmp_ping", "p50_us", ("icmp_ping", "p50_us"))
                row(f, "ping -A, tap", "icmp_ping_bb", "p50_us", ("icmp_ping_bb", "p50_us"))
            row(f, "TCP round trip, " + ln, "tcp_rr", "p50_us", ("tcp_rr_echo", "p50_us"))
            row(f, "bench net ping, " + ln, "bench_net_ping", "p50_us", None)
    svg = os.path.join(args.out, "net-chart.svg")
    title = "tinyvio vs Linux guest, network, %s, %s (TCP round trip: ours HTTP keep-alive, Linux 1-byte echo)" % (
        args.accel, data["date"])
    p = subprocess.run(["gnuplot", "-e", "ratefile='%s'; rpsfile='%s'; latfile='%s'; outfile='%s'; charttitle='%s'"
                        % (files["rates"], files["rps"], files["lat"], svg, title),
                        os.path.join(HERE, "net-chart.gp")], capture_output=True, text=True)
    if p.returncode != 0:
        print("bench: net: gnuplot failed: %s" % p.stderr.strip(), file=sys.stderr)
        return None
    return svg


# ---------------------------------------------------------------- the in-namespace client


def http_head(s):
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(65536)
        if not d:
            raise IOError("connection closed in the response header")
        head += d
    head, rest = head.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    hdr = dict((k.strip().lower(), v.strip()) for k, v in (x.split(":", 1) for x in lines[1:] if ":" in x))
    return int(lines[0].split()[1]), hdr, rest


def client_main(argv):
    cmd, url = argv[0], urlsplit(argv[1])
    host, port, path = url.hostname, url.port or 80, url.path
    s = socket.create_connection((host, port), timeout=30)
    try:
        if cmd == "fetch":
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
            status, hdr, rest = http_head(s)
            h, n = hashlib.sha256(rest), len(rest)
            want = int(hdr.get("content-length", -1))
            while n != want:
                d = s.recv(1 << 20)
                if not d:
                    break
                h.update(d)
                n += len(d)
            print("status=%d bytes=%d content_length=%d sha256=%s" % (status, n, want, h.hexdigest()))
            return 0
        size = os.path.getsize(argv[2])
        t0 = time.perf_counter()
        s.sendall(("PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                   % (path, host, size)).encode())
        with open(argv[2], "rb") as f:
            s.sendfile(f)
        status, _, _ = http_head(s)
        secs = time.perf_counter() - t0
        print("LG-RESULT test=http_put side=host status=%d bytes=%d secs=%.4f mbs=%.2f" % (status, size, secs,
                                                                                        size / secs / 1e6))
        return 0
    except OSError as e:
        print("LG-RESULT test=%s side=host error=%s" % (cmd, type(e).__name__))
        return 1
    finally:
        s.close()


if __name__ == "__main__":
    sys.exit(client_main(sys.argv[1:]))
