"""Session-wide pytest hooks for rentstack's test tiers (docs/testing.md)."""

from __future__ import annotations

import os
import time

import pytest

_SESSION_START = time.monotonic()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run destructive tests first.

    The destructive test destroys and rebuilds the lab; every later
    integration test then checks the lab it rebuilt. The sort is stable, so
    the rest keeps pytest's order (lint, unit, integration by file name).
    """
    items.sort(key=lambda item: 0 if item.get_closest_marker("destructive") else 1)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip the rest of the deploy tier, saying so, once RENTSTACK_TIME_BUDGET_MIN minutes are used up.

    CI has a hard limit (90 min for the whole job, .ci/run sets a budget below it); a test that would
    start after the budget is skipped with the elapsed time instead of getting the job killed, and the
    summary lists it. Locally no budget is set and everything runs.
    """
    budget = os.environ.get("RENTSTACK_TIME_BUDGET_MIN")
    if not budget or "site_first" not in getattr(item, "fixturenames", ()):
        return
    elapsed = (time.monotonic() - _SESSION_START) / 60
    if elapsed > float(budget):
        pytest.skip(f"time budget: {elapsed:.0f} of RENTSTACK_TIME_BUDGET_MIN={budget} minutes used before this "
                    "test; it runs without a budget (RENTSTACK_DEPLOY=1 make test)")


# -- phase times (docs/testing.md) ------------------------------------------------------------------
# Every test's setup + call + teardown time, summed per test file: a test that first needs a session
# fixture (the lab build, site.yml) carries that fixture's time, so the deploy shows up where it runs.
_PHASE_SECONDS: dict[str, float] = {}
_PHASE_TESTS: dict[str, int] = {}


def phase_of(nodeid: str) -> str:
    """The phase of a test: lint and unit as one phase each, each integration test file its own."""
    path = nodeid.split("::", 1)[0]
    for tier in ("tests/lint/", "tests/unit/"):
        if path.startswith(tier):
            return tier.rstrip("/")
    return path


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    phase = phase_of(report.nodeid)
    _PHASE_SECONDS[phase] = _PHASE_SECONDS.get(phase, 0.0) + report.duration
    if report.when == "call" or (report.when == "setup" and report.skipped):
        _PHASE_TESTS[phase] = _PHASE_TESTS.get(phase, 0) + 1


def phase_table(seconds: dict[str, float], tests: dict[str, int], before: float | None) -> list[str]:
    """The lines of the phase summary: one per test file in run order, with the running total (pure)."""
    lines = [f"{'phase':<48} {'tests':>5} {'minutes':>8} {'total':>8}"]
    total = 0.0
    if before is not None:
        total += before
        lines.append(f"{'before pytest (make deps: apt, venv)':<48} {'':>5} {before / 60:8.1f} {total / 60:8.1f}")
    for phase, secs in seconds.items():
        total += secs
        lines.append(f"{phase:<48} {tests.get(phase, 0):>5} {secs / 60:8.1f} {total / 60:8.1f}")
    return lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Where the session's time went, per test file (and before pytest, when .ci/run says when it started)."""
    if not _PHASE_SECONDS:
        return
    started = os.environ.get("RENTSTACK_CI_STARTED")
    before = None
    if started:
        session_wall_start = time.time() - (time.monotonic() - _SESSION_START)
        before = max(0.0, session_wall_start - float(started))
    terminalreporter.section("time per phase")
    for line in phase_table(_PHASE_SECONDS, _PHASE_TESTS, before):
        terminalreporter.write_line(line)
