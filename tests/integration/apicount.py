"""Count the HTTP requests openstacksdk makes (tests/integration/test_40_inventory.py, bench/bulk_rounds.py,
bench/inventory.py): every keystoneauth session request is counted while a RequestCounter is active."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "module_utils"))


class RequestCounter:
    """Counts keystoneauth requests while active (every openstacksdk call goes through Session.request)."""

    def __init__(self) -> None:
        from keystoneauth1 import session as ks_session

        self._session = ks_session.Session
        self._original = ks_session.Session.request
        self._lock = threading.Lock()
        self.count = 0

    def __enter__(self) -> RequestCounter:
        original = self._original
        counter = self

        def counting(session: Any, *args: Any, **kwargs: Any) -> Any:
            with counter._lock:  # collect() requests from several threads
                counter.count += 1
            return original(session, *args, **kwargs)

        self._session.request = counting
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.request = self._original


def count_requests(conn: Any) -> int:
    """Requests made by one inventory refresh (rentstack_resources.collect) on this connection."""
    from rentstack_resources import collect

    with RequestCounter() as counter:
        collect(conn)
    return counter.count
