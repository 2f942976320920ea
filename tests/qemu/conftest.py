"""pytest set-up for the QEMU integration tests.

    /usr/bin/python3 -m pytest -q tests/qemu                      # TCG, pc and q35
    /usr/bin/python3 -m pytest -q tests/qemu --accel=kvm --machines=q35

Every test that takes the `machine` fixture runs once per machine in
--machines.  The `boot` fixture starts QEMU (one per call) and kills every
QEMU it started at teardown.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tinyvio  # noqa: E402


def pytest_addoption(parser):
    group = parser.getgroup("tinyvio", "tinyvio QEMU tests")
    group.addoption("--accel", default="tcg", choices=("tcg", "kvm"),
                    help="QEMU accelerator (default: tcg)")
    group.addoption("--machines", default="pc,q35",
                    help="comma-separated QEMU machines to run each test on (default: pc,q35)")
    group.addoption("--qemu-timeout", type=float, default=None,
                    help="seconds for each wait (default: 30 under tcg, 120 under kvm)")


def pytest_generate_tests(metafunc):
    if "machine" in metafunc.fixturenames:
        machines = [m.strip() for m in metafunc.config.getoption("machines").split(",")
                    if m.strip()]
        metafunc.parametrize("machine", machines)


@pytest.fixture(scope="session")
def accel(request):
    return request.config.getoption("accel")


@pytest.fixture(scope="session")
def qemu_timeout(request, accel):
    t = request.config.getoption("qemu_timeout")
    return t if t is not None else tinyvio.DEFAULT_TIMEOUT[accel]


@pytest.fixture
def boot(machine, accel, qemu_timeout):
    """Factory: boot(append=None, extra=(), stdin_data=None, wait=True) -> Qemu.

    With wait=True (the default) it returns once the first prompt is seen and
    the Qemu's `banner` attribute holds the boot log (normalised).
    """
    reason = tinyvio.missing_prerequisite(accel)
    if reason:
        pytest.skip(reason)
    started = []

    def _boot(append=None, extra=(), stdin_data=None, wait=True):
        q = tinyvio.Qemu(machine=machine, accel=accel, append=append, extra=extra,
                         timeout=qemu_timeout, stdin_data=stdin_data)
        started.append(q)
        if wait:
            q.banner = q.boot()
        return q

    yield _boot
    for q in started:
        q.close()


@pytest.fixture
def qemu(boot):
    """A QEMU booted to the first prompt with no options."""
    return boot()
