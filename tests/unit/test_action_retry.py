"""Unit tests of the bulk action's retry rule and loop (plugins/modules/rentstack_server_action.py): a server that ends a
hard reboot in ERROR is hard-rebooted again up to max_attempts (9 of 100 did on the loaded lab, 2026-12-02);
other actions are not repeated and report Nova's fault."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from libload import ENGINE_PARAMS, fast_retry, load_library
from rentstack_bulk import action_outcome

MOD = load_library("rentstack_server_action")
from ansible.module_utils import rentstack_openstack  # noqa: E402 - the copy the module uses, after load_library
from ansible.module_utils.rentstack_openstack import parent_chain  # noqa: E402


def test_outcome_retries_only_a_hard_reboot_that_ended_in_error() -> None:
    assert action_outcome("reboot_hard", "ACTIVE", 1, 3) == "ok"
    assert action_outcome("reboot_hard", "ERROR", 1, 3) == "retry"
    assert action_outcome("reboot_hard", "ERROR", 3, 3) == "failed"
    assert action_outcome("stop", "ERROR", 1, 3) == "failed"  # a stop is not turned into a reboot
    assert action_outcome("start", "SHUTOFF", 1, 3) == "failed"
    assert action_outcome("lock", None, 1, 3) == "ok"  # no target state


class FakeNova:
    """Servers whose actions settle on the next listing; `fail_times[name]` first ones end in ERROR."""

    def __init__(self, names: list[str], fail_times: dict[str, int], start: str = "ACTIVE") -> None:
        self.servers = {n: {"id": f"id-{n}", "name": n, "status": start, "task_state": None} for n in names}
        self.fail_times = dict(fail_times)
        self.calls: list[str] = []
        self.pending: dict[str, str] = {}
        self.no_guest: list[str] = []  # listed ACTIVE, but the host has no guest (each entry: one check)

    def apply(self, srv: dict[str, Any], extra: dict[str, Any]) -> None:
        name = srv["name"]
        self.calls.append(name)
        self.servers[name]["task_state"] = "rebooting_hard"
        if self.fail_times.get(name, 0) > 0:
            self.fail_times[name] -= 1
            self.pending[name] = "ERROR"
        else:
            self.pending[name] = "ACTIVE"

    def listing(self, poll: bool = False) -> dict[str, dict]:
        snapshot = {n: dict(s) for n, s in self.servers.items()}
        for name, status in self.pending.items():  # settle after this listing
            self.servers[name].update(status=status, task_state=None,
                                      fault={"message": "libvirtError: Timed out during operation"}
                                      if status == "ERROR" else None)
        self.pending = {}
        return snapshot


def run_action(nova: FakeNova, action: str, max_attempts: int = 3) -> tuple[dict[str, Any], list[str]]:
    obj = MOD.ServerActionModule.__new__(MOD.ServerActionModule)
    obj.params = dict(ENGINE_PARAMS, action=action, max_attempts=max_attempts, concurrency=4, flavor=None,
                      image=None, skip_refused=False)
    obj.retry = fast_retry()
    obj.names, obj.lines, obj.started = sorted(nova.servers), [], time.monotonic()
    obj._parents = parent_chain()  # this test process's own: unchanged, so never "abandoned"
    obj.ansible = SimpleNamespace(check_mode=False, fail_json=lambda msg, **kw: pytest.fail(msg))
    obj.listing, obj.apply = nova.listing, nova.apply
    obj.guest_present = lambda srv: srv["name"] not in nova.no_guest or bool(nova.no_guest.remove(srv["name"]))
    return obj.run(), obj.lines


def test_hard_reboot_that_ends_in_error_goes_again() -> None:
    nova = FakeNova([f"vm-{i:03d}" for i in range(1, 11)], {"vm-003": 1, "vm-007": 2})
    result, lines = run_action(nova, "reboot_hard")
    assert result["summary"]["failed"] == 0 and result["summary"]["acted"] == 10
    attempts = {r["name"]: r["attempts"] for r in result["servers"]}
    assert attempts["vm-003"] == 2 and attempts["vm-007"] == 3 and attempts["vm-001"] == 1
    assert nova.calls.count("vm-007") == 3 and len(nova.calls) == 13
    assert any("failed and go again" in line for line in lines)


def test_attempts_run_out_and_the_fault_is_reported() -> None:
    nova = FakeNova(["vm-001", "vm-002"], {"vm-002": 5})
    with pytest.raises(pytest.fail.Exception) as err:
        run_action(nova, "reboot_hard", max_attempts=2)
    assert nova.calls.count("vm-002") == 2
    assert "1 servers failed reboot_hard: vm-002: failed: ended ERROR (libvirtError: Timed out during operation)" \
        in str(err.value)


def test_a_stop_that_ends_in_error_is_not_repeated() -> None:
    nova = FakeNova(["vm-001"], {"vm-001": 1})
    with pytest.raises(pytest.fail.Exception):
        run_action(nova, "stop")
    assert nova.calls == ["vm-001"]


def test_a_cancelled_run_stops_sending_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """ansible-playbook killed (AWX cancel): the module notices its parents changed and sends nothing more."""
    nova = FakeNova([f"vm-{i:03d}" for i in range(1, 11)], {})
    real = parent_chain()
    monkeypatch.setattr(rentstack_openstack, "parent_chain", lambda: real if len(nova.calls) < 4 else [1])
    with pytest.raises(pytest.fail.Exception) as err:
        run_action(nova, "reboot_hard")
    assert len(nova.calls) == 4  # the first batch (concurrency 4) went out, the other 6 did not
    assert "is gone (cancelled or killed): stopped; reboot_hard sent to 4 servers, 6 not sent" in str(err.value)


def test_active_without_a_guest_is_hard_rebooted_again() -> None:
    """Seen on the lab: 13 of 100 hard reboots ended ACTIVE in Nova with no guest on the host (console 404)."""
    nova = FakeNova(["vm-001", "vm-002", "vm-003"], {})
    nova.no_guest = ["vm-002"]
    result, lines = run_action(nova, "reboot_hard")
    assert result["summary"]["failed"] == 0
    assert nova.calls.count("vm-002") == 2 and nova.calls.count("vm-001") == 1
    assert any("1 failed and go again" in line for line in lines)


def test_active_without_a_guest_fails_a_start_with_the_reason() -> None:
    nova = FakeNova(["vm-001"], {}, start="SHUTOFF")
    nova.no_guest = ["vm-001"]
    with pytest.raises(pytest.fail.Exception) as err:
        run_action(nova, "start")
    assert "ACTIVE in Nova but host ? has no guest for it" in str(err.value)
    assert nova.calls == ["vm-001"]  # a start is not repeated


class RollbackNova(FakeNova):
    """Nova takes the resize (task state set), then reverts it: the server is ACTIVE again with a fault."""

    def apply(self, srv: dict[str, Any], extra: dict[str, Any]) -> None:
        super().apply(srv, extra)
        self.servers[srv["name"]]["updated_at"] = "t1"
        self.pending[srv["name"]] = "ROLLBACK" if srv["name"] == "vm-002" else "VERIFY_RESIZE"

    def listing(self, poll: bool = False) -> dict[str, dict]:
        self.listings = getattr(self, "listings", 0) + 1
        snapshot = {n: dict(s) for n, s in self.servers.items()}
        for name, status in self.pending.items():
            back = status == "ROLLBACK"
            self.servers[name].update(status="ACTIVE" if back else status, task_state=None, updated_at="t2",
                                      fault={"message": "No valid host was found."} if back else None)
        self.pending = {}
        return snapshot


def test_a_rolled_back_resize_is_reported_at_once_with_its_state() -> None:
    nova = RollbackNova(["vm-001", "vm-002"], {})
    for srv in nova.servers.values():
        srv["updated_at"] = "t0"
    with pytest.raises(pytest.fail.Exception) as err:
        run_action(nova, "resize")
    assert "vm-002: failed: rolled back to ACTIVE (No valid host was found.)" in str(err.value)
    assert nova.calls == ["vm-001", "vm-002"]  # not sent again
    # The first listing, the poll that sees the task, the poll that sees the rollback, the final listing:
    # not waited on until the timeout (600 s here).
    assert nova.listings == 4
