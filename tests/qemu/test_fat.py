"""The file commands of the console contract, on FAT volumes made on the host.

Each test builds its image with mkfs.fat and mtools in tmp_path, boots the
kernel with it as vda (and sometimes vdb), drives the shell, and checks the
image on the host afterwards with fsck.fat -n and mtools.
"""

import hashlib
import os
import re
import subprocess
import sys

import pytest

import tinyvio

ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1")

sys.path.insert(0, os.path.join(tinyvio.REPO_ROOT, "scripts"))
from pattern import pattern  # noqa: E402


def run(*argv, check=True):
    return subprocess.run(argv, check=check, env=ENV, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT).stdout.decode("utf-8", "replace")


def make_image(path, fat=32, size_mib=64, sector=512, files=None):
    """A whole-disk FAT image; files maps '/dir/name' to bytes (dirs made as needed)."""
    with open(path, "wb") as f:
        f.truncate(size_mib << 20)
    opts = ["-F", str(fat), "-S", str(sector), "-s", "1", "--invariant", "-i", "1234ABCD"]
    run("mkfs.fat", *opts, str(path))
    for name, data in (files or {}).items():
        parts = name.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "::/" + "/".join(parts[:i])
            run("mmd", "-D", "s", "-i", str(path), d, check=False)
        src = str(path) + ".src"
        with open(src, "wb") as f:
            f.write(data)
        run("mcopy", "-i", str(path), src, "::" + name)
        os.unlink(src)
    return path


def fsck(path):
    r = subprocess.run(["fsck.fat", "-n", str(path)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, out
    assert "differences between boot sector and its backup" not in out, out
    return out


def mtype(path, name):
    return subprocess.run(["mtype", "-i", str(path), "::" + name], env=ENV, check=True,
                          stdout=subprocess.PIPE).stdout


def mls(path, d="/"):
    """The sorted names in directory d of the image, as mtools lists them."""
    out = run("mdir", "-b", "-i", str(path), "::" + d, check=False)
    return sorted(os.path.basename(l.rstrip("/")) for l in out.splitlines() if l.strip())


def drive(img, idx=0, readonly=False, dev_opts=""):
    extra = ["-drive", "file=%s,format=raw,if=none,id=d%d%s" % (img, idx, ",readonly=on" if readonly else ""),
             "-device", "virtio-blk-pci,drive=d%d%s" % (idx, dev_opts)]
    return extra


README = b"Hello from tinyvio.\r\nSecond line.\r\n"
LONG = "A long file name, with spaces.txt"


@pytest.fixture
def img(tmp_path):
    return make_image(tmp_path / "fat32.img", files={
        "/README.TXT": README,
        "/docs/" + LONG: b"long name contents\n",
        "/docs/nested/deep.txt": b"deep\n",
        "/pattern.bin": pattern(300000, 7),
    })


def ok(q, line):
    out = q.cmd_lines(line)
    assert not any(l.startswith("error:") for l in out), (line, out)
    return out


def test_mount_line_and_ls_root(boot, img):
    q = boot(extra=drive(img))
    assert re.search(r"vda: FAT32 volume at /\n", q.banner), q.banner
    assert ok(q, "ls") == ["f 35 README.TXT", "d 0 docs", "f 300000 pattern.bin"]
    assert ok(q, "ls /docs") == ["f 19 " + LONG, "d 0 nested"]


def test_cat_and_sha256_match_host(boot, img):
    q = boot(extra=drive(img))
    assert q.cmd("cat /readme.txt") == README.decode().replace("\r\n", "\n").rstrip("\n")
    digest = hashlib.sha256(pattern(300000, 7)).hexdigest()
    assert ok(q, "sha256 /pattern.bin") == ["%s  /pattern.bin" % digest]
    assert ok(q, 'sha256 "/docs/%s"' % LONG) == [
        "%s  /docs/%s" % (hashlib.sha256(b"long name contents\n").hexdigest(), LONG)]
    assert ok(q, "cat /DOCS/NESTED/DEEP.TXT") == ["deep"]


def test_stat_format(boot, img):
    q = boot(extra=drive(img))
    (line,) = ok(q, "stat /README.TXT")
    assert re.fullmatch(r"type=f size=35 cluster=\d+ attr=A mtime=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line), line
    (line,) = ok(q, "stat /docs")
    assert re.fullmatch(r"type=d size=0 cluster=\d+ attr=DA? mtime=.*", line), line


def test_missing_path_is_one_error_line(boot, img):
    q = boot(extra=drive(img))
    assert q.cmd_lines("cat /a/b") == ["error: /a/b: no such file or directory"]
    assert q.cmd_lines("stat /nope") == ["error: /nope: no such file or directory"]
    out = q.cmd_lines("cat /docs")
    assert len(out) == 1 and out[0].startswith("error: /docs: "), out
    out = q.cmd_lines("truncate /missing 10")
    assert out == ["error: /missing: no such file or directory"], out
    out = q.cmd_lines("ls relative")
    assert len(out) == 1 and out[0].startswith("error: "), out


def test_mv_names_the_path_at_fault(boot, img):
    q = boot(extra=drive(img))
    assert q.cmd_lines("mv /nope /x") == ["error: /nope: no such file or directory"]
    assert q.cmd_lines("mv /README.TXT /nodir/x") == ["error: /nodir/x: no such file or directory"]
    out = q.cmd_lines("mv /README.TXT /bad?name")
    assert len(out) == 1 and out[0].startswith("error: /bad?name: "), out
    assert ok(q, "stat /README.TXT")


def test_writes_survive_poweroff_and_pass_fsck(boot, img, tmp_path):
    q = boot(extra=drive(img))
    ok(q, "mkdir /new")
    ok(q, 'mkdir "/new/Sub Dir"')
    ok(q, "write /new/hello.txt hello world")
    ok(q, "append /new/hello.txt second line")
    ok(q, 'append "/new/Mixed Case Name.Text" tail')
    ok(q, "write /lower.txt x")
    ok(q, "fill /new/big.bin 1000000 5")
    ok(q, "cp /new/big.bin /copy.bin")
    ok(q, "mv /new/hello.txt /new/Sub\\ Dir/renamed.txt")
    ok(q, "truncate /README.TXT 6")
    ok(q, "truncate /copy.bin 1200000")
    ok(q, "rm /pattern.bin")
    out = q.cmd_lines("rm /new")
    assert len(out) == 1 and "not empty" in out[0], out
    out = q.cmd_lines("mkdir /new")
    assert len(out) == 1 and out[0].startswith("error: /new: "), out
    out = q.cmd_lines("cp /copy.bin /lower.txt")
    assert len(out) == 1 and out[0].startswith("error: /lower.txt: "), out
    q.send_raw("poweroff\n")
    assert q.wait_exit() == tinyvio.EXIT_POWEROFF

    fsck(img)
    assert mls(img) == sorted(["README.TXT", "docs", "new", "lower.txt", "copy.bin"])
    assert mls(img, "/new") == sorted(["Sub Dir", "Mixed Case Name.Text", "big.bin"])
    assert mtype(img, "/new/Sub Dir/renamed.txt") == b"hello world\nsecond line\n"
    assert mtype(img, "/new/Mixed Case Name.Text") == b"tail\n"
    assert mtype(img, "/lower.txt") == b"x\n"
    assert mtype(img, "/new/big.bin") == pattern(1000000, 5)
    assert mtype(img, "/copy.bin") == pattern(1000000, 5) + bytes(200000)
    assert mtype(img, "/README.TXT") == README[:6]


def test_df_counts_free_clusters(boot, img):
    q = boot(extra=drive(img))
    (line,) = ok(q, "df")
    m = re.fullmatch(r"fat=32 cluster=512 total=(\d+) free=(\d+)", line)
    assert m, line
    ok(q, "fill /f.bin 51200 1")
    (line2,) = ok(q, "df /")
    free2 = int(re.fullmatch(r"fat=32 cluster=512 total=\d+ free=(\d+)", line2).group(1))
    assert free2 == int(m.group(2)) - 100


@pytest.mark.parametrize("fat,size_mib", [(12, 2), (16, 32)])
def test_fat12_and_fat16(boot, tmp_path, fat, size_mib):
    img = make_image(tmp_path / "small.img", fat=fat, size_mib=size_mib, files={"/a.txt": b"abc\n"})
    q = boot(extra=drive(img))
    assert ("FAT%d volume at /" % fat) in q.banner
    assert ok(q, "cat /a.txt") == ["abc"]
    ok(q, "mkdir /d")
    ok(q, "fill /d/p.bin 70000 3")
    ok(q, "sync")
    assert ok(q, "df")[0].startswith("fat=%d " % fat)
    q.send_raw("poweroff\n")
    assert q.wait_exit() == tinyvio.EXIT_POWEROFF
    fsck(img)
    assert mtype(img, "/d/p.bin") == pattern(70000, 3)


def test_4096_byte_sectors(boot, tmp_path):
    # 16384 clusters of 4 KiB: FAT16 by count (mtools cannot write a FAT32 this small).
    img = make_image(tmp_path / "4k.img", fat=16, sector=4096, files={"/a.txt": b"four k\n"})
    q = boot(extra=drive(img, dev_opts=",logical_block_size=4096,physical_block_size=4096"))
    assert ok(q, "cat /a.txt") == ["four k"]
    ok(q, "fill /b.bin 100000 9")
    q.send_raw("poweroff\n")
    assert q.wait_exit() == tinyvio.EXIT_POWEROFF
    fsck(img)
    assert mtype(img, "/b.bin") == pattern(100000, 9)


def test_second_disk_is_vdb(boot, img, tmp_path):
    img2 = make_image(tmp_path / "two.img", fat=16, size_mib=32, files={"/on-b.txt": b"bee\n"})
    q = boot(extra=drive(img) + drive(img2, 1))
    assert "vdb: FAT16 volume at /vdb" in q.banner
    assert ok(q, "ls /vdb") == ["f 4 on-b.txt"]
    assert "vdb" not in " ".join(ok(q, "ls /"))
    ok(q, "cp /README.TXT /vdb/readme-copy.txt")
    out = q.cmd_lines("mv /README.TXT /vdb/moved.txt")
    assert len(out) == 1 and out[0].startswith("error: "), out
    q.send_raw("poweroff\n")
    assert q.wait_exit() == tinyvio.EXIT_POWEROFF
    fsck(img2)
    assert mtype(img2, "/readme-copy.txt") == README


def test_mounted_disk_refuses_raw_writes(boot, img):
    q = boot(extra=drive(img))
    out = q.cmd_lines("blkfill vda 0 1 1")
    assert len(out) == 1 and out[0].startswith("error: "), out
    out = q.cmd_lines("bench blk write seq 4096 1 1")
    assert len(out) == 1 and out[0].startswith("error: "), out


def test_readonly_disk_refuses_writes_and_stays_identical(boot, img):
    before = open(img, "rb").read()
    q = boot(extra=drive(img, readonly=True))
    assert ok(q, "cat /docs/nested/deep.txt") == ["deep"]
    for line in ["write /x.txt hi", "mkdir /d", "rm /README.TXT", "truncate /README.TXT 0",
                 "mv /README.TXT /r.txt"]:
        out = q.cmd_lines(line)
        assert len(out) == 1 and out[0].startswith("error: ") and "read-only" in out[0], (line, out)
    q.send_raw("poweroff\n")
    assert q.wait_exit() == tinyvio.EXIT_POWEROFF
    assert open(img, "rb").read() == before


def test_damaged_boot_sector_is_not_mounted(boot, tmp_path):
    img = make_image(tmp_path / "bad.img", files={"/a.txt": b"a\n"})
    with open(img, "r+b") as f:
        f.seek(510)
        f.write(b"\0\0")
    before = open(img, "rb").read()
    q = boot(extra=drive(img))
    assert re.search(r"vda: no volume mounted: .+", q.banner), q.banner
    out = q.cmd_lines("ls /")
    assert len(out) == 1 and out[0].startswith("error: "), out
    q.send_raw("poweroff\n")
    assert q.wait_exit() == tinyvio.EXIT_POWEROFF
    assert open(img, "rb").read() == before


def blkdebug_drive(tmp_path, img, iotype):
    cfg = tmp_path / ("%s.cfg" % iotype)
    cfg.write_text('[inject-error]\nevent = "read_aio"\nerrno = "5"\nonce = "off"\n'
                   'iotype = "%s"\n' % iotype)
    return ["-drive", "driver=raw,file.driver=blkdebug,file.config=%s,file.image.driver=file,"
            "file.image.filename=%s,if=none,id=d0,werror=report,rerror=report" % (cfg, img),
            "-device", "virtio-blk-pci,drive=d0"]


def test_write_errors_give_error_lines_and_change_nothing(boot, img, tmp_path):
    before = open(img, "rb").read()
    q = boot(extra=blkdebug_drive(tmp_path, img, "write"))
    assert ok(q, "cat /docs/nested/deep.txt") == ["deep"]
    for line in ["fill /new.bin 100000 1", "write /docs/nested/deep.txt changed", "mkdir /d"]:
        out = q.cmd_lines(line)
        assert len(out) == 1 and out[0].startswith("error: "), (line, out)
    q.cmd_lines("sync")
    assert ok(q, "cat /README.TXT") == README.decode().replace("\r\n", "\n").splitlines()
    q.close()
    assert open(img, "rb").read() == before


def test_read_errors_leave_the_volume_unmounted(boot, img, tmp_path):
    before = open(img, "rb").read()
    q = boot(extra=blkdebug_drive(tmp_path, img, "read"))
    assert re.search(r"vda: no volume mounted: .*error", q.banner), q.banner
    out = q.cmd_lines("cat /README.TXT")
    assert len(out) == 1 and out[0].startswith("error: "), out
    q.send_raw("poweroff\n")
    assert q.wait_exit() == tinyvio.EXIT_POWEROFF
    assert open(img, "rb").read() == before


def test_bench_file_lines(boot, img):
    q = boot(extra=drive(img))
    (line,) = ok(q, "bench file write /b.bin 3000000")
    assert re.fullmatch(r"bench file op=write size=3000000 ns=\d+ mibps=\d+\.\d", line), line
    (line,) = ok(q, "bench file read /b.bin 3000000")
    assert re.fullmatch(r"bench file op=read size=3000000 ns=\d+ mibps=\d+\.\d", line), line
    ok(q, "mkdir /many")
    (line,) = ok(q, "bench file create /many 50")
    assert re.fullmatch(r"bench file op=create count=50 size=1024 ns=\d+ files_per_s=\d+", line), line
    assert q.cmd_lines("bench file create /many 1") == ["error: /many/f0: file exists"]
    q.send_raw("poweroff\n")
    assert q.wait_exit() == tinyvio.EXIT_POWEROFF
    fsck(img)
    assert len(mls(img, "/many")) == 50
    assert mtype(img, "/many/f49") == b"x" * 1023 + b"\n"


def sector_of(img, data):
    """The image sector holding the 512 bytes `data` (which start a sector)."""
    raw = open(img, "rb").read()
    at = raw.find(data)
    assert at >= 0 and at % 512 == 0, at
    return at // 512


def blkdebug_sector_drive(tmp_path, img, iotype, sector):
    cfg = tmp_path / ("%s-%d.cfg" % (iotype, sector))
    cfg.write_text('[inject-error]\nevent = "read_aio"\nerrno = "5"\nonce = "off"\n'
                   'iotype = "%s"\nsector = "%d"\n' % (iotype, sector))
    return ["-drive", "driver=raw,file.driver=blkdebug,file.config=%s,file.image.driver=file,"
            "file.image.filename=%s,if=none,id=d0,werror=report,rerror=report" % (cfg, img),
            "-device", "virtio-blk-pci,drive=d0"]


def test_write_errors_after_a_sync_keep_what_was_synced(boot, img, tmp_path):
    # Writes fail only on the sector of /docs/nested/deep.txt: a new file and
    # a sync succeed first, then rewriting deep.txt (which reuses its
    # cluster) fails with one error line.
    deep = sector_of(img, b"deep\n" + bytes(507))
    q = boot(extra=blkdebug_sector_drive(tmp_path, img, "write", deep))
    ok(q, "fill /a.bin 100000 5")
    ok(q, "sync")
    out = q.cmd_lines("write /docs/nested/deep.txt changed")
    assert len(out) == 1 and out[0].startswith("error: "), out
    ok(q, "sync")
    q.send_raw("poweroff\n")
    assert q.wait_exit() == tinyvio.EXIT_POWEROFF
    fsck(img)
    assert mtype(img, "/a.bin") == pattern(100000, 5)
    assert mtype(img, "/pattern.bin") == pattern(300000, 7)
    assert mtype(img, "/README.TXT") == README


def test_read_error_in_the_middle_of_a_file(boot, img, tmp_path):
    data = pattern(300000, 7)
    middle = sector_of(img, data[150016:150016 + 512])
    q = boot(extra=blkdebug_sector_drive(tmp_path, img, "read", middle))
    for line in ["sha256 /pattern.bin", "cat /pattern.bin"]:
        out = q.cmd_lines(line)
        assert len(out) == 1 and out[0].startswith("error: "), (line, out[-3:])
    assert ok(q, "cat /docs/nested/deep.txt") == ["deep"]
    q.send_raw("poweroff\n")
    assert q.wait_exit() == tinyvio.EXIT_POWEROFF
    fsck(img)
