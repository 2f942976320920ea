"""Drive a tinyvio kernel under QEMU over its serial console.

The command line is the one in the console contract (shared spec, console.md):

    qemu-system-x86_64 -machine M -accel A -m 128 -display none -no-reboot
      -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04
      -kernel build/kernel.elf [-append OPTIONS] [extra args]

Stdout is drained by a background thread into a buffer; every wait has a
timeout, and a timeout (or QEMU exiting early) fails the test with the console
text seen so far.  Standard library only (plus pytest for failing tests).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNEL_REL = "build/kernel.elf"  # as the contract spells it; QEMU runs in REPO_ROOT
KERNEL = os.path.join(REPO_ROOT, KERNEL_REL)
QEMU_BIN = "qemu-system-x86_64"

PROMPT = "> "
EXIT_POWEROFF = 1  # isa-debug-exit: (0 << 1) | 1
EXIT_PANIC = 3     # isa-debug-exit: (1 << 1) | 1

DEFAULT_TIMEOUT = {"tcg": 30.0, "kvm": 120.0}

# A virtio-pci device's transports, as device options: transitional (both
# interfaces; the driver takes the modern one), legacy only, modern only.
TRANSPORT_OPTS = {"transitional": "", "legacy": ",disable-modern=on", "modern": ",disable-legacy=on"}

# Every command of the contract, in the contract's order.
COMMANDS = [
    "help", "echo", "ls", "stat", "cat", "sha256", "write", "append", "fill",
    "truncate", "mkdir", "rm", "mv", "cp", "df", "sync", "blk", "blkhash",
    "blkfill", "bench", "poweroff",
]


def qemu_argv(machine="pc", accel="tcg", append=None, extra=(), kernel=KERNEL_REL):
    """The contract's command line, exactly.  kernel=None leaves -kernel out
    (a firmware boot: the caller passes -bios and the disk in extra)."""
    argv = [
        QEMU_BIN, "-machine", machine, "-accel", accel, "-m", "128",
        "-display", "none", "-no-reboot", "-serial", "stdio",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ]
    if kernel is not None:
        argv += ["-kernel", kernel]
    if append is not None:
        argv += ["-append", append]
    argv += list(extra)
    return argv


def normalise(text):
    """Console text with CRLF (and lone CR) turned into LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def lines(text):
    """The output lines of a console text (line ends normalised, none empty at the end)."""
    text = normalise(text)
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n") if text else []


def split_transcript(text):
    """Split console text that starts right after a prompt into commands.

    Returns a list of (echoed_line, output) pairs, one per prompt that
    followed; the output is normalised (\\n line ends, no final \\n).  The
    echoed line is the raw echo (it may contain BS/DEL erase sequences).
    A trailing command without its next prompt is left out.

    The next prompt is the first "\\r\\n> " after the end of the echoed line, so
    output that itself contains a line beginning with "> " is not supported.
    """
    out = []
    pos = 0
    while True:
        eol = text.find("\r\n", pos)
        if eol < 0:
            break
        echoed = text[pos:eol]
        body = eol + 2
        nxt = text.find("\r\n" + PROMPT, eol)
        if nxt < 0:
            break
        output = text[body:nxt + 2] if nxt >= body else ""
        out.append((echoed, normalise(output)[:-1] if output else ""))
        pos = nxt + 2 + len(PROMPT)
    return out


class QemuTimeout(AssertionError):
    pass


class Qemu:
    """One QEMU running the kernel, with its serial console on stdin/stdout."""

    def __init__(self, machine="pc", accel="tcg", append=None, extra=(),
                 timeout=None, kernel=KERNEL_REL, stdin_data=None, prefix=()):
        """prefix: words run before QEMU's own (e.g. `ip netns exec NS`,
        which execs QEMU in place: the process is QEMU's)."""
        self.machine = machine
        self.accel = accel
        self.timeout = timeout if timeout is not None else DEFAULT_TIMEOUT.get(accel, 30.0)
        self.argv = list(prefix) + qemu_argv(machine, accel, append, extra, kernel)
        self._buf = bytearray()
        self._cond = threading.Condition()
        self._eof = False
        self.pos = 0  # consumed up to here (index into the decoded console text)
        self.proc = subprocess.Popen(
            self.argv, cwd=REPO_ROOT, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        if stdin_data:
            # Before any output is read: "input is never lost".
            self.send_raw(stdin_data)
        self._stderr = bytearray()
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout, True),
                                        daemon=True)
        self._ereader = threading.Thread(target=self._read, args=(self.proc.stderr, False),
                                         daemon=True)
        self._reader.start()
        self._ereader.start()

    # -- reading -----------------------------------------------------------

    def _read(self, f, is_stdout):
        fd = f.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self._cond:
                if not chunk:
                    if is_stdout:
                        self._eof = True
                    self._cond.notify_all()
                    return
                (self._buf if is_stdout else self._stderr).extend(chunk)
                self._cond.notify_all()

    @property
    def text(self):
        """Everything the console printed so far (latin-1, so byte for byte)."""
        with self._cond:
            return self._buf.decode("latin-1")

    @property
    def stderr(self):
        with self._cond:
            return self._stderr.decode("utf-8", "replace")

    def _describe(self, why):
        return ("%s\n  argv: %s\n  --- console so far ---\n%s\n  --- stderr ---\n%s"
                % (why, " ".join(self.argv), normalise(self.text), self.stderr))

    def _wait(self, predicate, what, timeout=None):
        """Wait until predicate(text) returns a true value; return it."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                res = predicate(self._buf.decode("latin-1"))
                if res:
                    return res
                if self._eof:
                    # Output is finished: give the exit status a moment to arrive.
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise QemuTimeout(self._describe(
                        "timeout after %.0f s waiting for %s" % (timeout, what)))
                self._cond.wait(left)
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        raise AssertionError(self._describe(
            "QEMU closed the console (status %s) while waiting for %s" % (rc, what)))

    def wait_for(self, pattern, timeout=None):
        """Wait for a str (literal) or compiled regex after the consumed position.

        Returns the match object (a regex match even for a literal string) and
        moves the consumed position past it.
        """
        rx = re.compile(re.escape(pattern)) if isinstance(pattern, str) else pattern
        start = self.pos
        m = self._wait(lambda t: rx.search(t, start), repr(getattr(rx, "pattern", rx)), timeout)
        self.pos = m.end()
        return m

    def wait_prompt(self, timeout=None):
        """Wait for the next prompt (a "> " at the start of a line); returns the text before it."""
        start = self.pos

        def find(t):
            i = t.find("\n" + PROMPT, max(start - 1, 0))
            return (i,) if i >= 0 else None

        (i,) = self._wait(find, "the prompt %r" % PROMPT, timeout)
        before = self.text[start:i + 1]
        self.pos = i + 1 + len(PROMPT)
        return before

    def boot(self, timeout=None):
        """Wait for the first prompt; returns the boot log (normalised)."""
        return normalise(self.wait_prompt(timeout))

    # -- writing -----------------------------------------------------------

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise AssertionError(self._describe("cannot write to QEMU: %s" % e))

    def cmd(self, line, timeout=None):
        """Send line + "\\n" at a prompt; return its output (\\n line ends, no final \\n).

        The output is the text between the end of the echoed line and the next
        prompt.  Must be called with the console at a prompt (after boot()).
        """
        start = self.pos
        self.send_raw(line + "\n")

        def done(t):
            got = split_transcript(t[start:])
            return got if got else None

        got = self._wait(done, "the prompt after %r" % line, timeout)
        echoed, output = got[0]
        t = self.text
        # Move past the echoed line, the output and the prompt.
        eol = t.find("\r\n", start)
        nxt = t.find("\r\n" + PROMPT, eol)
        self.pos = nxt + 2 + len(PROMPT)
        return output

    def cmd_lines(self, line, timeout=None):
        """cmd() split into lines."""
        return lines(self.cmd(line, timeout))

    # -- ending ------------------------------------------------------------

    def wait_exit(self, timeout=None):
        """Wait for QEMU to exit; returns its status."""
        timeout = self.timeout if timeout is None else timeout
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise QemuTimeout(self._describe("timeout after %.0f s waiting for QEMU to exit"
                                             % timeout))
        self._reader.join(5)
        self._ereader.join(5)
        return rc

    def close(self):
        """Kill QEMU if it still runs; reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin,):
            try:
                f.close()
            except OSError:
                pass
        self._reader.join(5)
        self._ereader.join(5)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def qmp(path, command, **arguments):
    """Runs one command on the QMP socket at path (a `-qmp unix:PATH,server=on,wait=off`);
    returns its "return".  Argument names with a dash are passed as **{"a-b": v}."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(path))
        f = s.makefile("rw")
        json.loads(f.readline())  # the greeting
        for name, args in (("qmp_capabilities", {}), (command, arguments)):
            f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
            f.flush()
            reply = json.loads(f.readline())
            while "return" not in reply and "error" not in reply:  # an event
                reply = json.loads(f.readline())
            assert "return" in reply, reply
    return reply["return"]


def missing_prerequisite(accel="tcg"):
    """A reason to skip, or None."""
    if not os.path.isfile(KERNEL):
        return "%s is missing: run `make build/kernel.elf` first" % os.path.relpath(KERNEL, os.getcwd())
    if shutil.which(QEMU_BIN) is None:
        return "%s is not on PATH" % QEMU_BIN
    if accel == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "--accel=kvm but /dev/kvm is not usable"
    return None
