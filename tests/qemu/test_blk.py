"""virtio-blk under QEMU: the device matrix, several disks, read-only disks,
injected I/O errors, INTx, a disk resized on the host, and the `blk` /
`bench blk` line formats.

Host-side truth: what `blkfill` wrote is read back from the image file and
compared with scripts/pattern.py's reference pattern; `blkhash` must equal
the host's SHA-256 of the same bytes.

The full matrix (machine x transport x packed x mode x queue size x logical
block size) has 288 cells; MATRIX below covers every pair of values of any
two axes (test_matrix_covers_every_pair checks it) in 11 boots.
"""

import hashlib
import itertools
import os
import re
import sys
import time

import pytest

import tinyvio
from tinyvio import qmp

sys.path.insert(0, os.path.join(tinyvio.REPO_ROOT, "scripts"))
from pattern import pattern  # noqa: E402

IMAGE_BYTES = 8 << 20

# (machine, transport, packed, mode, queue size, logical block size)
MATRIX = [
    ("pc", "transitional", False, "poll", 16, 512),
    ("pc", "legacy", True, "irq", 256, 4096),
    ("q35", "modern", False, "poll", 1024, 4096),
    ("q35", "transitional", True, "irq", 1024, 512),
    ("q35", "legacy", False, "poll", 256, 512),
    ("pc", "modern", True, "irq", 16, 512),
    ("q35", "transitional", False, "irq", 16, 4096),
    ("pc", "legacy", True, "poll", 1024, 512),
    ("pc", "transitional", False, "poll", 256, 512),
    ("pc", "legacy", False, "poll", 16, 512),
    ("pc", "modern", False, "poll", 256, 512),
]
AXES = [("pc", "q35"), ("transitional", "legacy", "modern"), (False, True), ("poll", "irq"),
        (16, 256, 1024), (512, 4096)]


BLK_LINE = re.compile(
    r"(?P<name>vd[a-z]) capacity=(?P<capacity>\d+) sector=(?P<sector>\d+) "
    r"transport=(?P<transport>legacy|modern) ring=(?P<ring>split|packed) queues=(?P<queues>\d+) "
    r"qsize=(?P<qsize>\d+) mode=(?P<mode>poll|msix|intx) features=(?P<features>[0-9a-f]+) "
    r"ro=(?P<ro>[01]) id=(?P<id>.*)")

BENCH_LINE = re.compile(
    r"bench blk op=(read|write) pattern=(seq|rand) bs=(\d+) qd=(\d+) count=(\d+) ns=\d+ iops=\d+ "
    r"mibps=\d+\.\d p50_us=\d+\.\d p99_us=\d+\.\d")

VIRTIO_F_VERSION_1 = 32
VIRTIO_F_RING_PACKED = 34
VIRTIO_BLK_F_RO = 5
VIRTIO_BLK_F_BLK_SIZE = 6
VIRTIO_BLK_F_FLUSH = 9


def make_image(path, size=IMAGE_BYTES):
    with open(path, "wb") as f:
        f.truncate(size)
    return str(path)


def read_image(path, offset, size):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def drive(image, ident, readonly=False):
    return ["-drive", "file=%s,format=raw,if=none,id=%s%s" % (image, ident,
                                                             ",readonly=on" if readonly else "")]


def blkdebug_drive(image, rules, ident="d0"):
    return ["-drive", "driver=raw,file.driver=blkdebug,file.config=%s,file.image.driver=file,"
            "file.image.filename=%s,if=none,id=%s,werror=report,rerror=report" % (rules, image, ident)]


def device(ident, serial, extra=""):
    return ["-device", "virtio-blk-pci,drive=%s,serial=%s%s" % (ident, serial, extra)]


def parse_blk(out):
    got = []
    for line in tinyvio.lines(out):
        m = BLK_LINE.fullmatch(line)
        assert m, "blk line does not match the contract: %r" % line
        got.append(m.groupdict())
    return got


@pytest.fixture
def start(accel, qemu_timeout, request):
    """start(machine, append, extra) -> a Qemu at its first prompt; killed at teardown."""
    reason = tinyvio.missing_prerequisite(accel)
    if reason:
        pytest.skip(reason)
    machines = [m.strip() for m in request.config.getoption("machines").split(",")]
    started = []

    def _start(machine, append=None, extra=()):
        if machine not in machines:
            pytest.skip("machine %s not in --machines" % machine)
        q = tinyvio.Qemu(machine=machine, accel=accel, append=append, extra=extra, timeout=qemu_timeout)
        started.append(q)
        q.banner = q.boot()
        return q

    yield _start
    for q in started:
        q.close()


def fill_and_check(q, image, disk, sector, lba, count, seed):
    """blkfill then blkhash; checks both against the image file on the host."""
    assert q.cmd("blkfill %s %d %d %d" % (disk, lba, count, seed)) == ""
    want = pattern(count * sector, seed)
    got = read_image(image, lba * sector, count * sector)
    assert got == want, "image bytes differ from the reference pattern"
    assert q.cmd("blkhash %s %d %d" % (disk, lba, count)) == hashlib.sha256(want).hexdigest()


def test_matrix_covers_every_pair():
    for i, j in itertools.combinations(range(len(AXES)), 2):
        seen = {(row[i], row[j]) for row in MATRIX}
        for pair in itertools.product(AXES[i], AXES[j]):
            assert pair in seen, "axes %d,%d: pair %r not covered" % (i, j, pair)


# The row names its machine ("machine" is conftest's per---machines parameter).
@pytest.mark.parametrize("mach,transport,packed,mode,qsize,lbs", MATRIX,
                         ids=["-".join(str(v) for v in row) for row in MATRIX])
def test_matrix(start, tmp_path, mach, transport, packed, mode, qsize, lbs):
    image = make_image(tmp_path / "disk.img")
    opts = tinyvio.TRANSPORT_OPTS[transport] + ",queue-size=%d" % qsize
    if packed:
        opts += ",packed=on"
    if lbs != 512:
        opts += ",logical_block_size=%d,physical_block_size=%d" % (lbs, lbs)
    q = start(mach, append="virtio.mode=%s" % mode,
              extra=drive(image, "d0") + device("d0", "m%d" % qsize, opts))

    (b,) = parse_blk(q.cmd("blk"))
    features = int(b["features"], 16)
    is_modern = transport != "legacy"
    assert b["name"] == "vda"
    assert int(b["capacity"]) == IMAGE_BYTES // 512
    assert int(b["sector"]) == lbs
    assert b["transport"] == ("modern" if is_modern else "legacy")
    assert b["ring"] == ("packed" if packed and is_modern else "split")
    assert int(b["queues"]) == 1
    assert int(b["qsize"]) == qsize
    assert b["mode"] == ("poll" if mode == "poll" else "msix")
    assert b["ro"] == "0"
    assert b["id"] == "m%d" % qsize
    assert bool(features >> VIRTIO_F_VERSION_1 & 1) == is_modern
    assert bool(features >> VIRTIO_F_RING_PACKED & 1) == (packed and is_modern)
    assert features >> VIRTIO_BLK_F_FLUSH & 1
    assert bool(features >> VIRTIO_BLK_F_BLK_SIZE & 1)

    sectors = IMAGE_BYTES // lbs
    # More than one 4 MiB piece, from an odd block, then the last block.
    count = (5 << 20) // lbs + 3
    fill_and_check(q, image, "vda", lbs, 3, count, 0x1234 + qsize)
    fill_and_check(q, image, "vda", lbs, sectors - 1, 1, 0)
    assert q.cmd("blkhash vda 0 %d" % sectors) == sha256_file(image)


def test_two_disks_in_pci_order(start, tmp_path, machine):
    a = make_image(tmp_path / "a.img")
    b = make_image(tmp_path / "b.img", 4 << 20)
    q = start(machine, extra=drive(a, "d0") + device("d0", "first") + drive(b, "d1") + device("d1", "second"))
    disks = parse_blk(q.cmd("blk"))
    assert [(d["name"], d["id"], int(d["capacity"])) for d in disks] == [
        ("vda", "first", IMAGE_BYTES // 512), ("vdb", "second", (4 << 20) // 512)]
    before = sha256_file(a)
    fill_and_check(q, b, "vdb", 512, 100, 300, 7)
    assert sha256_file(a) == before


def test_readonly_disk_refuses_blkfill(start, tmp_path, machine):
    image = make_image(tmp_path / "ro.img")
    with open(image, "r+b") as f:
        f.write(pattern(4096, 3))
    before = sha256_file(image)
    q = start(machine, extra=drive(image, "d0", readonly=True) + device("d0", "ro"))
    (b,) = parse_blk(q.cmd("blk"))
    assert b["ro"] == "1"
    assert int(b["features"], 16) >> VIRTIO_BLK_F_RO & 1
    out = q.cmd_lines("blkfill vda 0 8 1")
    assert len(out) == 1 and out[0].startswith("error: "), out
    assert "read-only" in out[0], out
    out = q.cmd_lines("bench blk write seq 4096 1 4")
    assert len(out) == 1 and out[0].startswith("error: "), out
    assert q.cmd("blkhash vda 0 8") == hashlib.sha256(pattern(4096, 3)).hexdigest()
    assert sha256_file(image) == before


@pytest.mark.parametrize("iotype,command", [
    ("read", "blkhash vda 0 8"),
    ("write", "blkfill vda 0 8 1"),
    ("flush", "blkfill vda 0 8 1"),
])
def test_injected_error_is_one_error_line(start, tmp_path, machine, iotype, command):
    image = make_image(tmp_path / "disk.img")
    rules = tmp_path / "rules.cfg"
    event = {"read": "read_aio", "write": "write_aio", "flush": "flush_to_disk"}[iotype]
    rules.write_text('[inject-error]\nevent = "%s"\nerrno = "5"\nonce = "off"\niotype = "%s"\n'
                     % (event, iotype))
    q = start(machine, extra=blkdebug_drive(image, rules) + device("d0", "bad"))
    out = q.cmd_lines(command)
    assert len(out) == 1 and out[0].startswith("error: "), out
    assert "input/output error" in out[0], out
    assert ("flush" in out[0]) == (iotype == "flush"), out
    assert q.cmd("echo still here") == "still here"
    # The failure is the request's, not the driver's: it fails again, cleanly.
    out = q.cmd_lines(command)
    assert len(out) == 1 and out[0].startswith("error: "), out


def test_intx_when_no_msix_vectors(start, tmp_path, machine):
    image = make_image(tmp_path / "disk.img")
    q = start(machine, append="virtio.mode=irq",
              extra=drive(image, "d0") + device("d0", "intx", ",vectors=0"))
    (b,) = parse_blk(q.cmd("blk"))
    assert b["mode"] == "intx"
    fill_and_check(q, image, "vda", 512, 1, 2049, 99)
    assert q.cmd("blkhash vda 0 %d" % (IMAGE_BYTES // 512)) == sha256_file(image)


def capacity_becomes(q, want, timeout=10):
    """The `blk` line's capacity once it is want (the interrupt is
    asynchronous to QMP's answer), or the last one seen."""
    end = time.monotonic() + timeout
    while True:
        (b,) = parse_blk(q.cmd("blk"))
        if int(b["capacity"]) == want or time.monotonic() > end:
            return int(b["capacity"])
        time.sleep(0.05)


@pytest.mark.parametrize("mode,opts", [("irq", ""), ("poll", ""), ("irq", ",vectors=0"),
                                       ("poll", ",vectors=0"), ("irq", ",vectors=1"),
                                       ("poll", ",disable-modern=on")])
def test_resize_on_the_host_reaches_the_guest(start, tmp_path, machine, mode, opts):
    """block_resize on the host: the configuration-change interrupt (MSI-X,
    or INTx, which also serves a one-entry MSI-X table) brings the new
    capacity, polled or not; sectors past the old end are written (the image
    file holds them), and after shrinking they are refused."""
    image = make_image(tmp_path / "disk.img")
    sock = tmp_path / "qmp.sock"
    q = start(machine, append="virtio.mode=" + mode,
              extra=drive(image, "d0") + device("d0", "grow", opts)
              + ["-qmp", "unix:%s,server=on,wait=off" % sock])
    old = IMAGE_BYTES // 512
    assert capacity_becomes(q, old, 0) == old
    qmp(sock, "block_resize", device="d0", size=2 * IMAGE_BYTES)
    assert capacity_becomes(q, 2 * old) == 2 * old
    assert os.path.getsize(image) == 2 * IMAGE_BYTES
    fill_and_check(q, image, "vda", 512, old + 8, 16, 7)
    qmp(sock, "block_resize", device="d0", size=IMAGE_BYTES)
    assert capacity_becomes(q, old) == old
    out = q.cmd_lines("blkhash vda %d 16" % (old + 8))
    assert len(out) == 1 and "past the end" in out[0], out
    assert blkstat(q, "vda")["vda"]["config_changes"] == "2"


@pytest.mark.parametrize("mode", ["irq", "poll"])
def test_disks_sharing_an_intx_line(start, tmp_path, mode):
    """Two disks without MSI-X in slots 4 and 8 of the pc machine share one
    INTx line: each one's interrupts, and a resize of the first, reach the
    right driver, and neither leaves the line asserted (a storm would stall
    the other's I/O until the timeout)."""
    a, b = make_image(tmp_path / "a.img"), make_image(tmp_path / "b.img")
    sock = tmp_path / "qmp.sock"
    q = start("pc", append="virtio.mode=" + mode,
              extra=drive(a, "d0") + device("d0", "left", ",vectors=0,addr=4")
              + drive(b, "d1") + device("d1", "right", ",vectors=0,addr=8")
              + ["-qmp", "unix:%s,server=on,wait=off" % sock])
    modes = {d["name"]: d["mode"] for d in parse_blk(q.cmd("blk"))}
    assert modes == {"vda": "intx" if mode == "irq" else "poll", "vdb": modes["vda"]}, modes
    qmp(sock, "block_resize", device="d0", size=2 * IMAGE_BYTES)
    end = time.monotonic() + 10
    while int(parse_blk(q.cmd("blk"))[0]["capacity"]) != 2 * IMAGE_BYTES // 512:
        assert time.monotonic() < end, "vda never saw its resize"
        time.sleep(0.05)
    fill_and_check(q, a, "vda", 512, IMAGE_BYTES // 512, 64, 3)
    fill_and_check(q, b, "vdb", 512, 0, 2048, 4)
    stats = blkstat(q, "")
    assert stats["vda"]["config_changes"] == "1" and stats["vdb"]["config_changes"] == "0", stats
    assert stats["vda"]["resets"] == stats["vdb"]["resets"] == "0", stats


def test_bench_blk_line_format(start, tmp_path, machine):
    image = make_image(tmp_path / "disk.img")
    q = start(machine, extra=drive(image, "d0") + device("d0", "bench"))
    for line, want in [("bench blk read rand 4096 4 64", ("read", "rand", "4096", "4", "64")),
                       ("bench blk write seq 8192 2 16 vda", ("write", "seq", "8192", "2", "16"))]:
        out = q.cmd_lines(line)
        assert len(out) == 1, out
        m = BENCH_LINE.fullmatch(out[0])
        assert m, out
        assert m.groups() == want
    out = q.cmd_lines("bench blk read seq 4096 1 4 vdz")
    assert len(out) == 1 and out[0].startswith("error: "), out


BLKSTAT_LINE = re.compile(r"(vd[a-z]) ((?:[a-z_]+=[0-9.-]+ ?)+)")
BLKSTAT_DEVICE = re.compile(r"(vd[a-z]) device ((?:[a-z_]+=[0-9/]+ )+)state=(.+)")


def blkstat(q, args, devices=None):
    """The counters of each disk; its device line (what the device said about
    itself, and the driver's state) goes into devices when given."""
    out = q.cmd_lines("blkstat " + args)
    got = {}
    for line in out:
        d = BLKSTAT_DEVICE.fullmatch(line)
        if d:
            if devices is not None:
                devices[d.group(1)] = dict(kv.split("=") for kv in d.group(2).split())
                devices[d.group(1)]["state"] = d.group(3)
            continue
        m = BLKSTAT_LINE.fullmatch(line)
        assert m, out
        got[m.group(1)] = {k: v for k, v in (kv.split("=") for kv in m.group(2).split())}
    return got


@pytest.mark.parametrize("writeback", ["on", "off"])
def test_blkstat_device_line_shows_the_configuration(start, tmp_path, writeback):
    """GEOMETRY, TOPOLOGY, CONFIG_WCE, DISCARD and WRITE_ZEROES are read; a
    write-through drive (writeback 0) is not flushed."""
    image = make_image(tmp_path / "disk.img")
    q = start("q35", extra=["-drive", "file=%s,format=raw,if=none,id=d0,cache.writeback=%s" % (image, writeback)]
              + device("d0", "cfg", ",physical_block_size=4096,min_io_size=4096,opt_io_size=65536"))
    devices = {}
    blkstat(q, "vda", devices)
    d = devices["vda"]
    assert d["state"] == "ok", d
    cyl, heads, secs = (int(x) for x in d["geometry"].split("/"))
    assert cyl > 0 and heads > 0 and secs > 0, d
    assert d["topology"] == "3/0/8/128", d  # 4 KiB physical blocks, I/O sizes in 512-byte blocks
    assert int(d["discard"].split("/")[0]) > 0 and int(d["write_zeroes"].split("/")[0]) > 0, d
    assert d["writeback"] == d["flush"] == ("1" if writeback == "on" else "0"), d
    blkstat(q, "vda clear")
    assert q.cmd_lines("blkfill vda 0 8 1") == []
    sent = int(blkstat(q, "vda")["vda"]["requests"])
    assert sent == (2 if writeback == "on" else 1), sent  # the write, then a flush only to a cache


@pytest.mark.parametrize("mode", ["irq", "poll"])
def test_blkstat_counts_what_the_driver_did(start, tmp_path, machine, mode):
    image = make_image(tmp_path / "disk.img")
    q = start(machine, append="virtio.mode=" + mode, extra=drive(image, "d0") + device("d0", "stat"))
    assert list(blkstat(q, "clear")) == ["vda"]
    assert q.cmd_lines("bench blk read rand 4096 8 64")[0].startswith("bench blk ")
    s = blkstat(q, "vda clear")["vda"]
    n = {k: int(v) for k, v in s.items() if "_per_" not in k}
    assert all(n[k] in (0, 1) for k in ("spin_drain", "spin_drain_long", "spin_deep")), s
    assert n["requests"] == n["completions"] == 64, s
    assert 1 <= n["notifies"] <= 64 and n["resets"] == 0, s
    assert 1 <= n["reaps"] <= 64 and n["waits"] >= 1, s
    if mode == "poll":
        assert n["interrupts"] == 0 and n["sleeps"] == 0 and n["spun"] == n["spin_hits"] == 0, s
    else:  # a wait halts at once or spins first, whichever the trials found faster
        assert n["spin_hits"] <= n["spun"] <= n["waits"], s
        assert n["spun"] >= 1 or n["spins"] == 0, s  # only a wait that spun looks again
    zero = blkstat(q, "vda")["vda"]
    # how waits wait: kept by clear
    steering = ("spin_drain", "spin_drain_long", "spin_deep", "halt_drain_ns", "halt_drain_long_ns", "halt_deep_ns")
    assert all(v in ("0", "-") for k, v in zero.items() if k not in steering), zero
    assert all(zero[k] == s[k] for k in steering), (s, zero)
    out = q.cmd_lines("blkstat vdz")
    assert len(out) == 1 and out[0].startswith("error: "), out
