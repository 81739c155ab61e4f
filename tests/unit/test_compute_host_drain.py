"""Unit tests of the migration-following logic of plugins/modules/rentstack_compute_host.py (state=drained).

The cloud is a scripted fake: each server listing returns the next recorded state of the instances, as
Nova reports them while a live migration rolls back, a cold migration runs and its resize is confirmed.
The real migrations are exercised on the lab by tests/integration/test_50_add_compute.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from libload import load_library

MOD = load_library("rentstack_compute_host")


class Failed(Exception):
    pass


def srv(sid: str, status: str, host: str, task: str | None = None, fault: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=sid, name=f"vm-{sid}", status=status, compute_host=host, task_state=task,
                           fault={"message": fault} if fault else None)


class FakeCompute:
    """Serves `servers()` from a script of listings (the last one repeats) and records the actions."""

    def __init__(self, listings: list[list[SimpleNamespace]]) -> None:
        self.listings = listings
        self.calls: list[tuple[str, str]] = []

    def servers(self, **query: Any) -> list[SimpleNamespace]:
        # openstacksdk's name for Nova's `host` filter is compute_host; an unknown name (host=) makes the
        # SDK filter client-side on a missing attribute and return nothing (the bug this guards).
        assert set(query) <= {"details", "all_projects", "compute_host"}, query
        current = self.listings[0] if len(self.listings) == 1 else self.listings.pop(0)
        if "compute_host" in query:
            return [s for s in current if s.compute_host == query["compute_host"]]
        return current

    def live_migrate_server(self, server: Any, **_: Any) -> None:
        self.calls.append(("live", server.id))

    def migrate_server(self, server: Any) -> None:
        self.calls.append(("cold", server.id))

    def confirm_server_resize(self, server: Any) -> None:
        self.calls.append(("confirm", server.id))

    def services(self, **_: Any) -> list[SimpleNamespace]:
        return [SimpleNamespace(host="cmp3", status="disabled", binary="nova-compute", disabled_reason="x")]


def make(compute: FakeCompute, **params: Any) -> Any:
    module = object.__new__(MOD.ComputeHostModule)
    module.params = {"host": "cmp3", "migrate": True, "timeout": 60, "state": "drained", "reason": "x",
                     "missing_ok": False, **params}
    module.check_mode = False
    module._conn = SimpleNamespace(compute=compute)
    module.logged = []
    module.log = module.logged.append

    def fail(msg: str, **_: Any) -> None:
        raise Failed(msg)

    module.fail = fail
    return module


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MOD.time, "sleep", lambda _s: None)


def test_rolled_back_live_migration_goes_cold_and_confirms_once() -> None:
    listings = [
        [srv("a", "ACTIVE", "cmp3")],  # drain: what is on the host
        [srv("a", "MIGRATING", "cmp3", "migrating")],
        [srv("a", "ACTIVE", "cmp3", fault="Migration pre-check error")],  # rolled back
        [srv("a", "RESIZE", "cmp3", "resize_migrating")],
        [srv("a", "VERIFY_RESIZE", "cmp1")],
        [srv("a", "VERIFY_RESIZE", "cmp1")],  # confirm not processed yet: no second confirm
        [srv("a", "ACTIVE", "cmp1")],
        [srv("a", "ACTIVE", "cmp1")],  # the host listed again: nothing left
    ]
    compute = FakeCompute(listings)
    result = make(compute).drain()
    assert compute.calls == [("live", "a"), ("cold", "a"), ("confirm", "a")]
    assert result["migrated"] == [{"name": "vm-a", "id": "a", "how": "cold", "host": "cmp1", "status": "ACTIVE"}]


def test_error_on_the_destination_is_a_failure_not_a_success() -> None:
    listings = [[srv("a", "ACTIVE", "cmp3")], [srv("a", "ERROR", "cmp2", fault="disk copy failed")]]
    with pytest.raises(Failed, match="in ERROR on cmp2: disk copy failed"):
        make(FakeCompute(listings)).drain()


def test_cold_migration_that_stays_names_the_fault() -> None:
    listings = [[srv("a", "SHUTOFF", "cmp3")], [srv("a", "SHUTOFF", "cmp3", fault="No valid host")]]
    compute = FakeCompute(listings)
    with pytest.raises(Failed, match="still on cmp3: No valid host"):
        make(compute).drain()
    assert compute.calls == [("cold", "a")]


def test_unmovable_states_fail_before_any_migration() -> None:
    compute = FakeCompute([[srv("a", "ACTIVE", "cmp3"), srv("b", "ERROR", "cmp3")]])
    with pytest.raises(Failed, match=r"vm-b b \(ERROR\).*Nothing was migrated"):
        make(compute).drain()
    assert compute.calls == []


def test_instance_arriving_during_the_drain_is_moved_by_the_next_pass() -> None:
    listings = [
        [srv("a", "ACTIVE", "cmp3")],
        [srv("a", "ACTIVE", "cmp2")],  # a done
        [srv("a", "ACTIVE", "cmp2"), srv("b", "ACTIVE", "cmp3")],  # the host listed again: b landed meanwhile
        [srv("a", "ACTIVE", "cmp2"), srv("b", "ACTIVE", "cmp1")],
        [srv("a", "ACTIVE", "cmp2"), srv("b", "ACTIVE", "cmp1")],
    ]
    compute = FakeCompute(listings)
    result = make(compute).drain()
    assert compute.calls == [("live", "a"), ("live", "b")]
    assert {m["id"]: m["host"] for m in result["migrated"]} == {"a": "cmp2", "b": "cmp1"}


def test_without_migrate_it_lists_what_remains() -> None:
    compute = FakeCompute([[srv("a", "ACTIVE", "cmp3")]])
    with pytest.raises(Failed, match=r"1 instances remain on cmp3: vm-a \(ACTIVE\). Set migrate=true"):
        make(compute, migrate=False).drain()
