"""Console details of the file commands: long lines are never cut, and the
errors that would otherwise read as a bare "invalid argument" say why."""

import tinyvio
from test_fat import drive, fsck, make_image, mls, ok

WIDE = "\u4e2d" * 200  # 200 UTF-16 units, 600 bytes of UTF-8


def utf8(text):
    """Text as the console carries it: UTF-8 bytes, one str char per byte."""
    return text.encode("utf-8").decode("latin-1")


def from_console(text):
    return text.encode("latin-1").decode("utf-8")


def test_long_utf8_name_is_listed_whole(boot, tmp_path):
    img = make_image(tmp_path / "wide.img")
    q = boot(extra=drive(img))
    ok(q, utf8("write /%s wide" % WIDE))
    raw = from_console(q.cmd("ls /"))
    assert raw.splitlines() == ["f 5 " + WIDE], raw
    out = from_console(q.cmd(utf8("cat /%s/x" % WIDE)))
    assert out == "error: /%s/x: not a directory" % WIDE, out
    q.send_raw("poweroff\n")
    assert q.wait_exit() == tinyvio.EXIT_POWEROFF
    fsck(img)
    assert mls(img) == [WIDE]


def test_root_and_self_moves_say_why(boot, tmp_path):
    img = make_image(tmp_path / "d.img")
    q = boot(extra=drive(img))
    ok(q, "mkdir /a")
    ok(q, "mkdir /a/b")
    assert q.cmd_lines("rm /") == ["error: /: the root directory cannot be removed"]
    assert q.cmd_lines("mv /a /A/b/c") == ["error: /A/b/c: a directory cannot move into itself"]
    assert q.cmd_lines("mv / /z") == ["error: /: the root directory cannot be moved or replaced"]
    assert ok(q, "ls /a") == ["d 0 b"]
