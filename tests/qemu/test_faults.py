"""test.fault=KIND raises an exception before the prompt: panic, register dump, status 3."""

import re

import pytest

import tinyvio

FAULTS = {  # kind: (vector, mnemonic)
    "de": (0, "DE"),
    "ud": (6, "UD"),
    "gp": (13, "GP"),
    "pf": (14, "PF"),
    "df": (8, "DF"),
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_fault_panics_with_register_dump(boot, kind):
    vector, name = FAULTS[kind]
    q = boot(append="test.fault=" + kind, wait=False)
    rc = q.wait_exit()
    text = tinyvio.normalise(q.text)
    assert rc == tinyvio.EXIT_PANIC, text
    assert re.search(r"^panic: exception %d \(#%s [^)]*\) error=(0x)?[0-9a-f]+$" % (vector, name),
                     text, re.M), text
    dump = text[text.index("panic: exception"):]
    assert re.search(r"\brip=[0-9a-f]{16}\b", dump), dump
    assert re.search(r"\bcr2=[0-9a-f]{16}\b", dump), dump
    assert re.search(r"\brsp=[0-9a-f]{16}\b", dump), dump
    assert re.search(r"\brax=[0-9a-f]{16}\b", dump), dump
    if kind == "pf":
        assert "cr2=00007ff000000000" in dump, dump
    # The fault comes before the shell: no prompt was ever printed.
    assert "\n" + tinyvio.PROMPT not in text, text
