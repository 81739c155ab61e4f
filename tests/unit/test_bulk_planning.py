"""Unit tests of the bulk server planning logic (plugins/module_utils/rentstack_bulk.py).

The server and quota records below are shaped like openstacksdk's to_dict()
output recorded from the lab cloud.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "module_utils"))
from rentstack_bulk import (  # noqa: E402
    Build,
    addresses,
    expand_names,
    launch_slots,
    next_action,
    placement_fit,
    plan_present,
    provider_capacity,
    quota_shortfalls,
    reconcile,
    summarize,
)

SERVERS = [
    {"id": "a1", "name": "vm-001", "status": "ACTIVE", "compute_host": "cmp1",
     "addresses": {"selfservice": [
         {"addr": "10.89.100.11", "OS-EXT-IPS:type": "fixed"},
         {"addr": "10.89.20.120", "OS-EXT-IPS:type": "floating"}]}},
    {"id": "e2", "name": "vm-002", "status": "ERROR", "fault": {"message": "No valid host was found."}},
    {"id": "b3", "name": "vm-003", "status": "BUILD"},
    {"id": "x9", "name": "other", "status": "ACTIVE"},
]


def test_expand_names_pads_numbers() -> None:
    assert expand_names("vm", 3, None) == ["vm-001", "vm-002", "vm-003"]
    assert expand_names("vm", 1200, None)[-1] == "vm-1200"
    assert expand_names("vm", 0, None) == []


def test_expand_names_explicit_and_errors() -> None:
    assert expand_names(None, None, ["VM-A1", "VM-A2"]) == ["VM-A1", "VM-A2"]
    with pytest.raises(ValueError, match="VM-A1 more than once"):
        expand_names(None, None, ["VM-A1", "VM-A1"])
    with pytest.raises(ValueError, match="count must be 0 or more"):
        expand_names("vm", -1, None)
    with pytest.raises(ValueError, match="either names, or prefix"):
        expand_names(None, None, None)


def test_reconcile_keeps_the_set_and_names_the_extras() -> None:
    names = ["vm-001", "vm-002", "vm-003", "vm-004"]
    by_name, extra = reconcile(SERVERS, names)
    assert extra == [] and sorted(by_name) == ["vm-001", "vm-002", "vm-003"] and "other" not in by_name


def test_reconcile_duplicates_from_a_concurrent_run() -> None:
    """Two runs each created vm-001 and vm-002 (recorded shapes): every run keeps the same server per name, the
    oldest live one by created_at then ID, whatever order the listing gives, and deletes the others."""
    mine = {"id": "f0", "name": "vm-001", "status": "BUILD", "created_at": "2026-12-07T10:00:02Z"}
    theirs = {"id": "c9", "name": "vm-001", "status": "ACTIVE", "created_at": "2026-12-07T10:00:01Z"}
    same_second_a = {"id": "aa", "name": "vm-002", "status": "BUILD", "created_at": "2026-12-07T10:00:01Z"}
    same_second_b = {"id": "ab", "name": "vm-002", "status": "BUILD", "created_at": "2026-12-07T10:00:01Z"}
    broken_older = {"id": "00", "name": "vm-002", "status": "ERROR", "created_at": "2026-12-07T09:00:00Z"}
    listed = [mine, theirs, same_second_b, broken_older, same_second_a]
    for order in (listed, list(reversed(listed))):
        by_name, extra = reconcile(order, ["vm-001", "vm-002"])
        assert by_name["vm-001"]["id"] == "c9"  # older, though ours
        assert by_name["vm-002"]["id"] == "aa"  # same second: the lower ID; a live one beats an older ERROR one
        assert sorted(s["id"] for s in extra) == ["00", "ab", "f0"]


def test_reconcile_error_only_and_deleted_but_listed() -> None:
    listed = [{"id": "e2", "name": "vm-001", "status": "ERROR", "created_at": "2026-12-07T10:00:05Z"},
              {"id": "e1", "name": "vm-001", "status": "ERROR", "created_at": "2026-12-07T10:00:04Z"},
              {"id": "d1", "name": "vm-002", "status": "DELETED", "created_at": "2026-12-07T10:00:00Z"},
              {"id": "g1", "name": "vm-002", "status": "ACTIVE", "task_state": "deleting", "created_at": "2026-12-07T09:00:00Z"}]
    by_name, extra = reconcile(listed, ["vm-001", "vm-002"])
    assert by_name == {"vm-001": listed[1]}  # the oldest ERROR one is kept (the plan replaces it)
    assert sorted(s["id"] for s in extra) == ["d1", "e2", "g1"]  # vm-002 has no server: it is created again


def test_plan_present_sorts_every_name() -> None:
    names = ["vm-001", "vm-002", "vm-003", "vm-004"]
    by_name, _ = reconcile(SERVERS, names)
    plan = plan_present(names, by_name)
    assert plan.keep == ["vm-001"]
    assert plan.replace == ["vm-002"]
    assert plan.wait == ["vm-003"]
    assert plan.create == ["vm-004"]


def test_plan_present_satisfied_set_does_nothing() -> None:
    by_name, _ = reconcile(SERVERS[:1], ["vm-001"])
    plan = plan_present(["vm-001"], by_name)
    assert (plan.create, plan.replace, plan.wait) == ([], [], [])


def test_quota_shortfall_of_the_report_130_vms() -> None:
    # Project vm100: 120 instances, 120 cores, 120000 MB; flavor 1 vCPU / 1024 MB.
    quotas = {
        "instances": {"limit": 120, "in_use": 0, "reserved": 0},
        "cores": {"limit": 120, "in_use": 0, "reserved": 0},
        "ram": {"limit": 120000, "in_use": 0, "reserved": 0},
        "floating_ips": {"limit": 120, "in_use": 0},
        "ports": {"limit": -1, "in_use": 3},
    }
    short = quota_shortfalls({"instances": 130, "cores": 130, "ram": 130 * 1024, "ports": 130, "floating_ips": 0}, quotas)
    assert short == [
        {"resource": "instances", "requested": 130, "used": 0, "limit": 120, "free": 120},
        {"resource": "cores", "requested": 130, "used": 0, "limit": 120, "free": 120},
        {"resource": "ram", "requested": 133120, "used": 0, "limit": 120000, "free": 120000},
    ]
    assert quota_shortfalls({"instances": 100, "cores": 100, "ram": 102400, "ports": 100, "floating_ips": 100}, quotas) == []


def test_quota_counts_reservations_and_usage() -> None:
    quotas = {"instances": {"limit": 10, "in_use": 7, "reserved": 2}}
    assert quota_shortfalls({"instances": 2}, quotas)[0]["free"] == 1


def test_provider_capacity_applies_reserved_and_ratio() -> None:
    inv = {"total": 2, "reserved": 0, "allocation_ratio": 64.0}
    assert provider_capacity(inv, 10) == 118
    inv = {"total": 24000, "reserved": 512, "allocation_ratio": 1.5}
    assert provider_capacity(inv, 0) == 35232


def test_placement_fit_is_per_host() -> None:
    flavor = {"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 0}
    providers = [
        {"inventories": {"VCPU": {"total": 2, "allocation_ratio": 16.0},
                         "MEMORY_MB": {"total": 8192, "reserved": 512, "allocation_ratio": 1.5}},
         "usages": {"VCPU": 4, "MEMORY_MB": 2048}},
        {"inventories": {"VCPU": {"total": 2, "allocation_ratio": 16.0}}, "usages": {}},  # no memory class
    ]
    # host 1: vcpu free 28, memory free 11520-2048=9472 -> 9 servers; host 2 cannot host one.
    assert placement_fit(flavor, providers) == 9


def test_next_action_retry_until_attempts_run_out() -> None:
    b = Build("vm-001", attempts=1)
    assert next_action(b, "BUILD", 3) == "wait"
    assert next_action(b, "ACTIVE", 3) == "active"
    assert next_action(b, "ERROR", 3) == "retry"
    assert next_action(b, None, 3) == "retry"
    b.attempts = 3
    assert next_action(b, "ERROR", 3) == "failed"


def test_launch_slots_bounds_concurrency() -> None:
    assert launch_slots(20, 0, 100) == 20
    assert launch_slots(20, 15, 100) == 5
    assert launch_slots(20, 25, 100) == 0
    assert launch_slots(20, 0, 3) == 3


def test_addresses_tells_fixed_from_floating() -> None:
    assert addresses(SERVERS[0]) == (["10.89.100.11"], ["10.89.20.120"])
    assert addresses({}) == ([], [])


def test_summary_counts() -> None:
    records = [{"status": "ACTIVE"}, {"status": "ACTIVE"}, {"status": "ERROR"}]
    s = summarize(records, 3, created=4, deleted=1, elapsed=12.345)
    assert s == {"requested": 3, "active": 2, "failed": 1, "created": 4, "deleted": 1, "elapsed_seconds": 12.3}


def test_plan_action_idempotent_and_refusals() -> None:
    from rentstack_bulk import plan_action

    servers = {
        "vm-001": {"status": "ACTIVE"},
        "vm-002": {"status": "SHUTOFF"},
        "vm-003": {"status": "PAUSED"},
    }
    names = ["vm-001", "vm-002", "vm-003", "vm-004"]
    assert plan_action("stop", servers, names) == {
        "act": ["vm-001"], "done": ["vm-002"], "refused": ["vm-003 (PAUSED)"], "missing": ["vm-004"]}
    assert plan_action("start", servers, names)["act"] == ["vm-002"]
    # A hard reboot is never "already done": it acts on ACTIVE and SHUTOFF.
    assert plan_action("reboot_hard", servers, names)["act"] == ["vm-001", "vm-002"]


def test_plan_action_resize_done_when_flavor_matches() -> None:
    from rentstack_bulk import plan_action

    servers = {"a": {"status": "ACTIVE", "flavor": {"id": "f2"}}, "b": {"status": "ACTIVE", "flavor": {"id": "f1"}},
               "c": {"status": "SHUTOFF", "flavor": {"original_name": "m1.big"}}}
    assert plan_action("resize", servers, ["a", "b", "c"], flavor_id="f2", flavor_name="m1.big") == {
        "act": ["b"], "done": ["a", "c"], "refused": [], "missing": []}


def test_plan_action_lock_uses_locked_flag() -> None:
    from rentstack_bulk import plan_action

    servers = {"a": {"status": "ACTIVE", "is_locked": True}, "b": {"status": "ACTIVE", "is_locked": False}}
    assert plan_action("lock", servers, ["a", "b"]) == {"act": ["b"], "done": ["a"], "refused": [], "missing": []}
