"""Unit test of plugins/modules/rentstack_console.py's wait: a console that shows a failure sign (fail_on) ends the
wait at once, naming the sign, instead of waiting out the timeout (CI 2026-12-07: a canary that reported
`ip=none` after 40 s was waited on for 600 s)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from libload import load_library

MOD = load_library("rentstack_console")


class Failed(Exception):
    pass


def console_module(logs: list[str], **params: Any) -> Any:
    """A ConsoleModule whose cloud answers each console-log read with the next of `logs` (the last repeats)."""
    reads = {"n": 0}

    def console_output(server: Any, length: Any = None) -> dict:
        text = logs[min(reads["n"], len(logs) - 1)]
        reads["n"] += 1
        return {"output": text}

    server = SimpleNamespace(id="uuid-1", name="canary")
    mod = MOD.ConsoleModule.__new__(MOD.ConsoleModule)
    mod._conn = SimpleNamespace(compute=SimpleNamespace(find_server=lambda *a, **k: server,
                                                        get_server_console_output=console_output))
    mod.params = {"server": "canary", "cloud": "lab", "kind": "log", "lines": 0, "timeout": 30,
                  "wait_for": "READY uuid=uuid-1", "fail_on": [], **params}
    mod.failures = []

    def fail(msg: str, **kw: Any) -> None:
        mod.failures.append((msg, kw))
        raise Failed(msg)

    mod.fail = fail
    mod.reads = reads
    return mod


def test_failure_sign_ends_the_wait_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda s: None)
    mod = console_module(["booting", "udhcpc: no lease, failing\nREADY uuid=unknown ip=none\n"],
                         fail_on=["READY uuid=unknown", "Kernel panic"])
    with pytest.raises(Failed):
        mod.run()
    msg, extra = mod.failures[0]
    assert "'READY uuid=unknown' appeared in the console log of canary (uuid-1)" in msg
    assert "no lease" in msg and extra["server_id"] == "uuid-1"
    assert mod.reads["n"] == 2  # the second read showed the sign: no more reads, no timeout


def test_awaited_text_wins_and_other_text_keeps_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda s: None)
    mod = console_module(["booting", "still booting", "READY uuid=uuid-1 ip=10.0.0.5"], fail_on=["READY uuid=unknown"])
    result = mod.run()
    assert result["output"].endswith("ip=10.0.0.5") and mod.reads["n"] == 3 and not mod.failures


def test_without_fail_on_the_wait_runs_to_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"t": 0.0}
    monkeypatch.setattr(time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(time, "sleep", lambda s: clock.__setitem__("t", clock["t"] + s))
    mod = console_module(["READY uuid=unknown ip=none"])
    with pytest.raises(Failed):
        mod.run()
    assert mod.failures[0][0].startswith("timed out after 30s waiting for 'READY uuid=uuid-1'")


@pytest.mark.parametrize(("text", "expected"), [
    ("a Kernel panic then READY uuid=unknown", "Kernel panic"),
    ("READY uuid=unknown ip=none ... Kernel panic", "READY uuid=unknown"),
    ("nothing bad", None),
])
def test_first_seen_reports_the_earliest_sign(text: str, expected: str | None) -> None:
    assert MOD.first_seen(text, ["READY uuid=unknown", "Kernel panic", ""]) == expected
