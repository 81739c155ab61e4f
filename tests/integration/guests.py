"""Whether lab guests booted: the marker the rentstack guest image prints on its console once up.

Nova says ACTIVE when qemu starts; the guest boots after that (under TCG load, minutes later).
Used by test_30 and by bench/bulk_rounds.py."""

from __future__ import annotations

import time
from typing import Any

# uuid=unknown counts too: on a loaded lab the metadata service may answer after the guest gave up.
MARKER = "RENTSTACK-GUEST-READY uuid="


def booted(conn: Any, server_id: str) -> bool:
    """The guest printed the marker. A console that cannot be read (404: Nova lists the server but its
    host has no guest) counts as not booted."""
    try:
        out = conn.compute.get_server_console_output(server_id, length=40).get("output") or ""
    except Exception:  # noqa: BLE001 - any failure to read it means no marker seen
        return False
    return MARKER in out


def not_booted(conn: Any, server_ids: list[str], timeout: float, interval: float = 10) -> list[str]:
    """Wait until each guest printed the marker; the ones that did not within `timeout` s."""
    left = list(server_ids)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        left = [i for i in left if not booted(conn, i)]
        if left:
            time.sleep(interval)
    return left
