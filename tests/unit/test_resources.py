"""Unit tests of the resource accounting behind the rentstack inventory plugin."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "module_utils"))
from rentstack_resources import build_inventory, capacity, flavor_disk_gb  # noqa: E402

DATA = Path(__file__).parent / "data"
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.timezone.utc)


def raw_sample() -> dict:
    return {
        "projects": [{"id": "p1", "name": "A1"}, {"id": "p2", "name": "vm100"}],
        "users": [{"id": "u1", "name": "userx"}],
        "images": [{"id": "i1", "name": "rentstack-guest"}],
        "flavors": [
            {"id": "f1", "name": "1cpu.1gbmem.0disk", "vcpus": 1, "ram": 1024, "disk": 0, "ephemeral": 0, "swap": 0},
            {"id": "f2", "name": "2cpu.2gb.10disk", "vcpus": 2, "ram": 2048, "disk": 10, "ephemeral": 5, "swap": 1024},
        ],
        "services": [
            {"binary": "nova-compute", "host": "cmp1", "state": "up", "status": "enabled", "disabled_reason": None},
            {"binary": "nova-compute", "host": "cmp2", "state": "down", "status": "disabled",
             "disabled_reason": "maintenance"},
        ],
        "hypervisors": [{"name": "cmp1", "host_ip": "10.89.10.21"}, {"name": "cmp2", "host_ip": "10.89.10.22"}],
        "providers": [
            {"name": "cmp1", "uuid": "rp1",
             "inventories": {"VCPU": {"total": 2, "reserved": 0, "allocation_ratio": 64.0},
                             "MEMORY_MB": {"total": 24000, "reserved": 512, "allocation_ratio": 1.5},
                             "DISK_GB": {"total": 250, "reserved": 0, "allocation_ratio": 1.0}},
             "usages": {"VCPU": 3, "MEMORY_MB": 3072, "DISK_GB": 17}},
            {"name": "cmp2", "uuid": "rp2",
             "inventories": {"VCPU": {"total": 2, "reserved": 1, "allocation_ratio": 16.0},
                             "MEMORY_MB": {"total": 24000, "reserved": 0, "allocation_ratio": 1.0}},
             "usages": {}},
        ],
        "servers": [
            {"id": "s1", "name": "VM-A1", "project_id": "p1", "user_id": "u1", "status": "ACTIVE",
             "compute_host": "cmp1", "instance_name": "instance-00000001", "power_state": 1, "task_state": None,
             "created_at": "2026-11-22T11:00:00Z", "image": {"id": "i1"},
             "flavor": {"original_name": "2cpu.2gb.10disk", "vcpus": 2, "ram": 2048, "disk": 10, "ephemeral": 5,
                        "swap": 1024, "extra_specs": {"quota:cpu_quota": "50000"}},
             "addresses": {"net": [{"addr": "10.89.100.5", "OS-EXT-IPS:type": "fixed"},
                                   {"addr": "10.89.20.150", "OS-EXT-IPS:type": "floating"}]}},
            {"id": "s2aaaaaaaa", "name": "vm-001", "project_id": "p2", "user_id": "u9", "status": "ACTIVE",
             "compute_host": "cmp1", "flavor": {"original_name": "1cpu.1gbmem.0disk", "vcpus": 1, "ram": 1024,
                                                "disk": 0, "ephemeral": 0, "swap": 0},
             "created_at": "2026-11-22T11:59:00Z", "addresses": {}},
            {"id": "s3bbbbbbbb", "name": "vm-001", "project_id": "p2", "status": "ERROR", "compute_host": None,
             "flavor": {"original_name": "1cpu.1gbmem.0disk"}, "created_at": "2026-11-22T11:59:30Z"},
        ],
        "quotas": {
            "p1": {"compute": {"instances": {"limit": 10, "in_use": 1}, "cores": {"limit": 20, "in_use": 2},
                               "ram": {"limit": 51200, "in_use": 2048}},
                   "network": {"floatingip": {"limit": 50, "used": 1}, "port": {"limit": 500, "used": 3}},
                   "volume": None},
            "p2": {"compute": {"instances": {"limit": 120, "in_use": 2}, "cores": {"limit": 120, "in_use": 2},
                               "ram": {"limit": 120000, "in_use": 2048}},
                   "network": {"floatingip": {"limit": 120, "used": 0}, "port": {"limit": -1, "used": 1}},
                   "volume": {"volumes": {"limit": 10, "in_use": 1}, "gigabytes": {"limit": 1000, "in_use": 20}}},
        },
    }


def test_capacity_formula() -> None:
    assert capacity({"total": 24000, "reserved": 512, "allocation_ratio": 1.5}, 3072) == {
        "total": 24000, "reserved": 512, "allocation_ratio": 1.5, "capacity": 35232, "allocated": 3072,
        "free": 32160}
    assert capacity(None, 2)["free"] == -2


def test_flavor_disk_counts_root_ephemeral_and_swap() -> None:
    assert flavor_disk_gb({"disk": 10, "ephemeral": 5, "swap": 1024}) == 16
    assert flavor_disk_gb({"disk": 0, "ephemeral": 0, "swap": 512}) == 1
    assert flavor_disk_gb({}) == 0


def test_compute_host_vars() -> None:
    inv = build_inventory(raw_sample(), now=NOW)
    cmp1 = inv["hosts"]["cmp1"]
    assert cmp1["ansible_host"] == "10.89.10.21"
    assert (cmp1["vcpu_capacity"], cmp1["vcpu_allocated"], cmp1["vcpu_free"]) == (128, 3, 125)
    assert (cmp1["memory_mb_capacity"], cmp1["memory_mb_free"]) == (35232, 32160)
    assert (cmp1["disk_gb_capacity"], cmp1["disk_gb_free"]) == (250, 233)
    assert cmp1["instance_count"] == 2
    cmp2 = inv["hosts"]["cmp2"]
    assert cmp2["vcpu_capacity"] == 16 and cmp2["service_state"] == "down"
    assert cmp2["disabled_reason"] == "maintenance"
    assert cmp2["disk_gb_capacity"] == 0  # no DISK_GB inventory reported


def test_instance_vars_and_groups() -> None:
    inv = build_inventory(raw_sample(), now=NOW)
    a1 = inv["hosts"]["VM-A1"]
    assert a1["project"] == "A1" and a1["user"] == "userx" and a1["image"] == "rentstack-guest"
    assert a1["fixed_ips"] == ["10.89.100.5"] and a1["floating_ips"] == ["10.89.20.150"]
    assert a1["ansible_host"] == "10.89.20.150"
    assert a1["flavor"]["extra_specs"] == {"quota:cpu_quota": "50000"}
    assert a1["age_seconds"] == 3600
    # Two servers share the name vm-001: both are kept, told apart by ID.
    assert {"vm-001_s2aaaaaa", "vm-001_s3bbbbbb"} <= set(inv["hosts"])
    groups = inv["groups"]
    assert set(groups["project_vm100"]) == {"vm-001_s2aaaaaa", "vm-001_s3bbbbbb"}
    assert groups["on_cmp1"] == ["VM-A1", "vm-001_s2aaaaaa"]
    assert groups["status_error"] == ["vm-001_s3bbbbbb"]
    assert sorted(groups["compute_hosts"]) == ["cmp1", "cmp2"]


def test_project_quotas_and_ephemeral_usage() -> None:
    inv = build_inventory(raw_sample(), now=NOW, ephemeral_limits={"A1": 100}, default_ephemeral_limit=-1)
    a1 = inv["group_vars"]["project_A1"]["rentstack_project"]
    assert a1["cores"] == {"limit": 20, "used": 2, "free": 18}
    assert a1["ephemeral_gb"] == {"limit": 100, "used": 16, "free": 84}
    assert a1["volumes"] is None  # no block storage service
    vm100 = inv["group_vars"]["project_vm100"]["rentstack_project"]
    assert vm100["ephemeral_gb"] == {"limit": -1, "used": 0, "free": None}
    assert vm100["gigabytes"] == {"limit": 1000, "used": 20, "free": 980}
    assert vm100["ports"] == {"limit": -1, "used": 1, "free": None}
    assert [p["project_name"] for p in inv["group_vars"]["all"]["rentstack_projects"]] == ["A1", "vm100"]


def test_recorded_lab_data_builds() -> None:
    raw = json.loads((DATA / "lab_raw.json").read_text())
    inv = build_inventory(raw, now=NOW)
    assert sorted(inv["groups"]["compute_hosts"]) == sorted(p["name"].split(".")[0] for p in raw["providers"])
    assert len(inv["groups"]["instances"]) == len(raw["servers"])
    for prov in raw["providers"]:
        hv = inv["hosts"][prov["name"].split(".")[0]]
        vcpu = prov["inventories"]["VCPU"]
        assert hv["vcpu_capacity"] == int((vcpu["total"] - vcpu["reserved"]) * vcpu["allocation_ratio"])
        assert hv["vcpu_allocated"] == prov["usages"].get("VCPU", 0)
        assert hv["ansible_host"].startswith("10.89.10.")
