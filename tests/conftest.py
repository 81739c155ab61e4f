"""Session-wide pytest hooks for rentstack's test tiers (docs/testing.md)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run destructive tests first.

    The destructive test destroys and rebuilds the lab; every later
    integration test then checks the lab it rebuilt. The sort is stable, so
    the rest keeps pytest's order (lint, unit, integration by file name).
    """
    items.sort(key=lambda item: 0 if item.get_closest_marker("destructive") else 1)
