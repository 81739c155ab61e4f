"""Count the HTTP requests the inventory plugin's collection makes (tests/integration/test_40_inventory.py,
bench/bulk_rounds.py): every keystoneauth session request is counted while `collect()` runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "module_utils"))


def count_requests(conn: Any) -> int:
    """Requests made by one inventory refresh (rentstack_resources.collect) on this connection."""
    from keystoneauth1 import session as ks_session
    from rentstack_resources import collect

    calls = {"n": 0}
    original = ks_session.Session.request

    def counting(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls["n"] += 1
        return original(self, *args, **kwargs)

    ks_session.Session.request = counting
    try:
        collect(conn)
    finally:
        ks_session.Session.request = original
    return calls["n"]
