"""The line shell on COM1: echo, help, errors, line editing and line ends."""

import pytest

import tinyvio

# The file commands: with no disk there is no volume, and each says so.
FILE_COMMANDS = ["ls", "stat", "cat", "sha256", "write", "append", "fill", "truncate",
                 "mkdir", "rm", "mv", "cp", "df"]


def test_echo_hi(qemu):
    assert qemu.cmd("echo hi") == "hi"


def test_echo_keeps_rest_of_line_byte_for_byte(qemu):
    assert qemu.cmd(r'echo  a  "b"  c\d') == r'a  "b"  c\d'


def test_echo_keeps_trailing_spaces_and_tabs(qemu):
    assert qemu.cmd("echo x\t y  ") == "x\t y  "


def test_echo_without_text_prints_empty_line(qemu):
    start = qemu.pos
    assert qemu.cmd("echo") == ""
    assert qemu.text[start:] == "echo\r\n\r\n" + tinyvio.PROMPT, repr(qemu.text[start:])


def test_empty_line_prints_nothing(qemu):
    assert qemu.cmd("") == ""
    assert qemu.cmd("echo after") == "after"


def test_help_lists_every_command_one_per_line(qemu):
    out = qemu.cmd_lines("help")
    names = [l.split()[0] for l in out if l.strip()]
    for c in tinyvio.COMMANDS:
        assert c in names, (c, out)
    # One line per command: no command named on two lines.
    assert len(names) == len(set(names)), out


def test_unknown_command_is_one_error_line(qemu):
    out = qemu.cmd_lines("frobnicate x y")
    assert out == ["error: frobnicate: unknown command (try help)"], out
    assert qemu.cmd("echo ok") == "ok"


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_file_command_without_volume_is_one_error_line(qemu, command):
    out = qemu.cmd_lines(command + " /x 1 2 3")
    assert len(out) == 1 and out[0].startswith("error: "), out


def test_path_without_volume_says_so(qemu):
    assert qemu.cmd_lines("cat /x") == ["error: /x: no FAT volume is mounted there"]


def test_sync_with_no_volume_does_nothing(qemu):
    assert qemu.cmd_lines("sync") == []


def test_backspace_erases(qemu):
    assert qemu.cmd("echo hx\x08i") == "hi"


def test_del_erases(qemu):
    assert qemu.cmd("echo hx\x7fi") == "hi"


def test_backspace_at_empty_line_is_harmless(qemu):
    assert qemu.cmd("\x08\x7f\x08echo ok") == "ok"


def test_erase_whole_command_then_retype(qemu):
    assert qemu.cmd("bogus" + "\x7f" * 5 + "echo fine") == "fine"


def _transcript_after(q, data, sentinel="echo end"):
    """Send raw data then a sentinel command; return the commands seen after the prompt."""
    start = q.pos
    q.send_raw(data + sentinel + "\n")
    q.wait_for("\r\nend\r\n" + tinyvio.PROMPT)
    return tinyvio.split_transcript(q.text[start:])


@pytest.mark.parametrize("eol", ["\r", "\n", "\r\n"], ids=["cr", "lf", "crlf"])
def test_echo_line_ends(qemu, eol):
    got = _transcript_after(qemu, "echo a" + eol + "echo b" + eol)
    # Exactly two commands then the sentinel: CRLF is one line end, not two.
    assert got == [("echo a", "a"), ("echo b", "b"), ("echo end", "end")], \
        tinyvio.normalise(qemu.text)


def test_echo_1024_byte_line(qemu):
    line = "echo " + "x" * 1019
    assert len(line) == 1024
    assert qemu.cmd(line) == "x" * 1019
    assert qemu.cmd("echo next") == "next"


def test_line_past_1024_bytes_is_refused_not_cut(qemu):
    """The bytes past 1024 are dropped; running the rest could name another
    path or write other text, so the line is refused as a whole."""
    out = qemu.cmd_lines("echo " + "a" * 1100 + "Z")
    assert out == ["error: line too long (at most 1024 bytes); not run"], out
    assert qemu.cmd("echo after") == "after"


def test_echo_then_poweroff(qemu):
    assert qemu.cmd("echo bye") == "bye"
    qemu.send_raw("poweroff\n")
    assert qemu.wait_exit() == tinyvio.EXIT_POWEROFF
