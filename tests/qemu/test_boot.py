"""Boot, kernel options (-append), poweroff, and input typed before the prompt."""

import re

import tinyvio


def test_boot_banner_then_prompt(qemu):
    log = tinyvio.lines(qemu.banner)
    assert re.fullmatch(r"tinyvio: booting via \S+", log[1 if log[0] == "" else 0]), log
    assert any(re.fullmatch(r"tinyvio: \d+ MiB RAM, TSC \d+ MHz \(\w+\)", l) for l in log), log
    # The prompt "> " is the last thing printed, at the start of a line.
    assert qemu.text.endswith("\r\n" + tinyvio.PROMPT)
    assert not any(l.startswith(("warning:", "error:", "panic:")) for l in log), log


def test_boot_no_warning_for_known_options(boot):
    q = boot(append="virtio.mode=poll virtio.packed=0")
    assert "warning" not in q.banner, q.banner
    q2 = boot(append="virtio.mode=irq virtio.packed=1")
    assert "warning" not in q2.banner, q2.banner


def test_boot_unknown_option_warns_and_shell_works(boot):
    q = boot(append="bogus=1")
    assert "warning: unknown option bogus" in tinyvio.lines(q.banner), q.banner
    assert q.cmd("echo still here") == "still here"


def test_boot_unknown_option_without_value_warns(boot):
    q = boot(append="bogus")
    assert "warning: unknown option bogus" in tinyvio.lines(q.banner), q.banner


def test_boot_bad_value_warns(boot):
    q = boot(append="virtio.mode=fast")
    assert "warning: bad value for virtio.mode: fast" in tinyvio.lines(q.banner), q.banner
    assert q.cmd("echo ok") == "ok"


def test_boot_bad_packed_value_warns(boot):
    q = boot(append="virtio.packed=2")
    assert "warning: bad value for virtio.packed: 2" in tinyvio.lines(q.banner), q.banner


def test_poweroff_exits_with_status_1(qemu):
    qemu.send_raw("poweroff\n")
    assert qemu.wait_exit() == tinyvio.EXIT_POWEROFF, qemu.text


def test_input_before_prompt_is_kept_then_poweroff(boot):
    """Input is kept from the kernel's first output byte on, never lost."""
    commands = ["echo one", "echo two two", "nosuchcmd", "echo " + "z" * 40, "echo three"]
    data = "".join(c + "\n" for c in commands) + "poweroff\n"
    # Written to QEMU's stdin right after spawning, before any output is read.
    q = boot(stdin_data=data, wait=False)
    assert q.wait_exit() == tinyvio.EXIT_POWEROFF, q.text
    text = q.text
    first = text.find("\r\n" + tinyvio.PROMPT)
    assert first >= 0, text
    got = tinyvio.split_transcript(text[first + 2 + len(tinyvio.PROMPT):])
    assert [e for e, _ in got] == commands, tinyvio.normalise(text)
    assert [o for _, o in got] == ["one", "two two",
                                   "error: nosuchcmd: unknown command (try help)",
                                   "z" * 40, "three"], tinyvio.normalise(text)
    last = text.rfind("\r\n" + tinyvio.PROMPT)
    assert text[last + 2:].startswith(tinyvio.PROMPT + "poweroff\r\n"), tinyvio.normalise(text)
