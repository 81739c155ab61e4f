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
