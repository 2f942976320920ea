"""The UEFI entry: build/esp.img booted by OVMF, on pc and q35.

OVMF finds /EFI/BOOT/BOOTX64.EFI on the ESP by itself (no boot entry, no
key press), the application leaves boot services, and the kernel takes the
virtio disks over from the firmware.  Each boot gets its own copy of the
image.  OVMF under TCG takes several seconds to reach the application, so
there are few boots and the first wait is long.
"""

import hashlib
import os
import random
import re
import shutil
import subprocess

import pytest

import tinyvio

ESP = os.path.join(tinyvio.REPO_ROOT, "build", "esp.img")
EFI_APP = os.path.join(tinyvio.REPO_ROOT, "build", "bootx64.efi")
OVMF = "/usr/share/ovmf/OVMF.fd"
BOOT_TIMEOUT = 180.0  # OVMF's own start-up under TCG, on a busy machine
SECTOR = 512
ESP_OFFSET = 2048 * SECTOR  # where scripts/mkesp.sh starts the partition


@pytest.fixture
def uefi_boot(machine, accel, qemu_timeout, tmp_path):
    """Factory: uefi_boot(disks, net=False) -> Qemu at its first prompt.

    disks: host image paths, or (path, virtio-blk-pci options) pairs, attached
    in order (vda, vdb, ...).  net: a virtio-net card on QEMU's user
    networking (restrict=on).
    """
    if accel == "kvm":
        pytest.skip("OVMF does not run under the nested KVM here "
                    "(KVM internal error: emulation failure); these tests are TCG only")
    reason = tinyvio.missing_prerequisite(accel)
    if reason:
        pytest.skip(reason)
    if not os.path.isfile(ESP):
        pytest.skip("build/esp.img is missing: run `make` first")
    if not os.path.isfile(OVMF):
        pytest.skip("%s is missing: install Debian's ovmf" % OVMF)
    started = []

    def _boot(disks, wait=True, net=False):
        # With a network card the first disk boots first (bootindex), or
        # OVMF tries a network boot on the card; without one, -net none.
        extra = ["-bios", OVMF]
        if net:
            extra += ["-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0"]
        else:
            extra += ["-net", "none"]
        for i, disk in enumerate(disks):
            path, opts = (disk, "") if isinstance(disk, str) else disk
            if net and i == 0:
                opts += ",bootindex=0"
            extra += ["-drive", "file=%s,format=raw,if=none,id=d%d" % (path, i),
                      "-device", "virtio-blk-pci,drive=d%d%s" % (i, opts)]
        q = tinyvio.Qemu(machine=machine, accel=accel, extra=extra, kernel=None,
                         timeout=qemu_timeout)
        started.append(q)
        if wait:
            q.banner = q.boot(timeout=max(BOOT_TIMEOUT, qemu_timeout))
        return q

    yield _boot
    for q in started:
        q.close()


def esp_copy(tmp_path):
    path = str(tmp_path / "esp.img")
    shutil.copyfile(ESP, path)
    return path


def sha256_sectors(path, lba, count):
    with open(path, "rb") as f:
        f.seek(lba * SECTOR)
        data = f.read(count * SECTOR)
    assert len(data) == count * SECTOR
    return hashlib.sha256(data).hexdigest()


def check_banner(q):
    """The application's own lines, then the kernel's, all on COM1: nothing
    goes through ConOut on the way to the kernel."""
    log = tinyvio.lines(q.banner)
    entry = [i for i, l in enumerate(log) if l.startswith("tinyvio: UEFI entry, image at 0x")]
    kernel = [i for i, l in enumerate(log) if l == "tinyvio: booting via uefi"]
    assert entry and kernel and entry[0] < kernel[0], log
    after = log[kernel[0]:]
    assert any(re.fullmatch(r"tinyvio: \d+ MiB RAM, TSC \d+ MHz \(\w+\)", l) for l in after), log
    assert not any(l.startswith(("warning:", "error:", "panic:")) for l in after), log


def blk_lines(q):
    """The `blk` output as {disk: {key: value}}."""
    disks = {}
    for line in q.cmd_lines("blk"):
        name, *fields = line.split()
        disks[name] = dict(f.split("=", 1) for f in fields)
    return disks


def poweroff(q):
    q.send_raw("poweroff\n")
    assert q.wait_exit() == tinyvio.EXIT_POWEROFF, q.text


def test_uefi_input_from_the_first_line_is_kept(uefi_boot, tmp_path):
    """Input is kept from the kernel's first output byte on: typed the
    moment the first line shows, it reaches the shell whole (OVMF's serial
    terminal, which reads COM1 until boot services end, never sees it)."""
    q = uefi_boot([esp_copy(tmp_path)], wait=False)
    q.wait_for("tinyvio: UEFI entry", timeout=BOOT_TIMEOUT)
    q.send_raw("echo EARLYINPUT\n")
    q.wait_prompt(timeout=BOOT_TIMEOUT)
    assert q.wait_prompt().strip().endswith("EARLYINPUT"), tinyvio.normalise(q.text)


def test_uefi_esp_on_vda(uefi_boot, tmp_path):
    esp = esp_copy(tmp_path)
    q = uefi_boot([esp])
    check_banner(q)
    assert q.cmd("echo hello from uefi") == "hello from uefi"
    disks = blk_lines(q)
    assert list(disks) == ["vda"], disks
    vda = disks["vda"]
    # The disk OVMF booted from, reset and driven by our driver, with MSI-X
    # vectors the kernel programmed.
    assert vda["capacity"] == str(os.path.getsize(ESP) // SECTOR), vda
    assert vda["mode"] == "msix", vda
    # The GPT and the start of the ESP, read through the driver.
    assert q.cmd("blkhash vda 0 4096") == sha256_sectors(ESP, 0, 4096)
    # The ESP is mounted as / and its files read back byte-exact.
    assert "tinyvio: vda: FAT32 volume at /" in q.banner, q.banner
    app = open(EFI_APP, "rb").read()
    assert q.cmd_lines("ls /EFI/BOOT") == ["f %d BOOTX64.EFI" % len(app)]
    assert q.cmd_lines("sha256 /efi/boot/bootx64.efi") == [
        "%s  /efi/boot/bootx64.efi" % hashlib.sha256(app).hexdigest()]
    assert q.cmd_lines("write /EFI/note.txt written under UEFI") == []
    poweroff(q)
    part = tmp_path / "part.img"
    with open(esp, "rb") as f:
        f.seek(ESP_OFFSET)
        part.write_bytes(f.read())
    subprocess.run(["fsck.fat", "-n", str(part)], check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run(["mtype", "-i", str(part), "::/EFI/note.txt"], check=True,
                         stdout=subprocess.PIPE, env=dict(os.environ, MTOOLS_SKIP_CHECK="1")).stdout
    assert out == b"written under UEFI\n"


def test_uefi_esp_on_second_disk(uefi_boot, tmp_path):
    """A data disk as vda (packed ring), the ESP behind it on a legacy-only
    device: OVMF boots from vdb through its legacy driver, and ours takes
    that transport over too."""
    data = tmp_path / "data.img"
    data.write_bytes(random.Random(5).randbytes(4 << 20))
    esp = esp_copy(tmp_path)
    q = uefi_boot([(str(data), ",packed=on"), (esp, ",disable-modern=on")])
    check_banner(q)
    assert q.cmd("echo data first") == "data first"
    disks = blk_lines(q)
    assert list(disks) == ["vda", "vdb"], disks
    assert disks["vda"]["capacity"] == str((4 << 20) // SECTOR), disks
    assert disks["vdb"]["capacity"] == str(os.path.getsize(ESP) // SECTOR), disks
    assert all(d["mode"] == "msix" for d in disks.values()), disks
    assert disks["vda"]["ring"] == "packed", disks
    assert disks["vdb"]["transport"] == "legacy", disks
    count = (4 << 20) // SECTOR
    assert q.cmd("blkhash vda 0 %d" % count) == sha256_sectors(str(data), 0, count)
    assert q.cmd("blkhash vdb 0 2048") == sha256_sectors(ESP, 0, 2048)
    # The data disk holds no volume; the ESP on vdb is /vdb.
    assert "tinyvio: vdb: FAT32 volume at /vdb" in q.banner, q.banner
    assert q.cmd_lines("ls /vdb/EFI/BOOT") == ["f %d BOOTX64.EFI" % os.path.getsize(EFI_APP)]
    assert q.cmd_lines("ls /") == ["error: /: no FAT volume is mounted there"]
    poweroff(q)


def test_uefi_command_line_from_the_shell(uefi_boot, machine, tmp_path):
    """Started from the UEFI shell with arguments, which become the kernel's
    options.  With no /EFI/BOOT/BOOTX64.EFI, OVMF starts its built-in shell,
    which runs startup.nsh after a 5-second countdown."""
    if machine != "q35":
        pytest.skip("the command line does not depend on the chipset: q35 only, "
                    "to spare a slow OVMF boot")
    esp = esp_copy(tmp_path)
    script = tmp_path / "startup.nsh"
    script.write_bytes(b"fs0:\r\ntinyvio.efi virtio.mode=poll bogus=1\r\n")
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    part = "%s@@%d" % (esp, ESP_OFFSET)
    subprocess.run(["mmove", "-i", part, "::/EFI/BOOT/BOOTX64.EFI", "::/tinyvio.efi"],
                   env=env, check=True)
    subprocess.run(["mcopy", "-i", part, str(script), "::/startup.nsh"], env=env, check=True)
    q = uefi_boot([esp])
    assert "UEFI Interactive Shell" in q.banner, q.banner
    log = tinyvio.lines(q.banner)
    assert "warning: unknown option bogus" in log, log
    assert blk_lines(q)["vda"]["mode"] == "poll"
    poweroff(q)


def test_uefi_network(uefi_boot, machine, tmp_path):
    """The same kernel, the same network: under UEFI the virtio-net card the
    firmware also drives is reset and taken over, gets its lease from QEMU
    (net.ip=dhcp, the default) and reaches QEMU's own address."""
    if machine != "q35":
        pytest.skip("the network does not depend on the chipset: q35 only, to spare a slow OVMF boot")
    q = uefi_boot([esp_copy(tmp_path)], net=True)
    check_banner(q)
    assert re.search(r"^tinyvio: eth0: 52:54:00:12:34:56, virtio modern, split ring, msix, link up$",
                     q.banner, re.M), q.banner
    assert q.cmd_lines("dhcp eth0") == ["eth0 ip=10.0.2.15/24 gw=none"]
    out = q.cmd_lines("ping 10.0.2.2 2")
    assert out[-1] == "ping 10.0.2.2 sent=2 received=2", out
    poweroff(q)
