"""Unit tests of the tenancy and flavor menu validation (plugins/filter/tenancy.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "filter"))
from tenancy import flavor_errors, flavor_size_changed, flavors_pending, spec_strings, tenancy_errors  # noqa: E402


def lab(name: str) -> dict:
    return yaml.safe_load((ROOT / "inventory" / "lab" / "group_vars" / "all" / name).read_text())


def test_shipped_lab_files_are_valid() -> None:
    tenancy = lab("tenancy.yml")["rentstack_tenancy"]
    assert tenancy_errors(tenancy) == []
    projects = [p["name"] for p in tenancy["projects"]] + ["admin", "demo"]
    assert flavor_errors(lab("flavors.yml")["rentstack_flavors"], projects) == []


def test_shipped_scenario_gives_admin_to_nobody_else() -> None:
    tenancy = lab("tenancy.yml")["rentstack_tenancy"]
    holders = {a["user"] for a in tenancy["role_assignments"] if a["role"] == "admin"}
    assert holders == {"admin"}


def test_bad_tenancy_entries_are_named() -> None:
    bad = {
        "projects": [{"name": "A1", "quotas": {"cores": -5, "ram": "lots", "cpus": 3}}, {"name": "A1"}],
        "users": [{"name": "x", "default_project": "Z9", "email": "nope"}],
        "role_assignments": [{"user": "x", "project": "A1", "role": "owner"},
                             {"user": "ghost", "project": "A1", "role": "member"},
                             {"user": "x", "project": "Q", "role": "reader"}],
    }
    errors = tenancy_errors(bad)
    expected = [
        "quota cores = -5", "quota ram = 'lots'", "quota 'cpus' is unknown", "A1 is listed twice",
        "default_project Z9 is not defined", "email 'nope'", "role 'owner' is unknown",
        "user ghost is not defined", "project Q is not defined",
    ]
    for fragment in expected:
        assert any(fragment in e for e in errors), (fragment, errors)
    assert len(errors) == len(expected)


def test_quota_minus_one_means_unlimited() -> None:
    assert tenancy_errors({"projects": [{"name": "P", "quotas": {"cores": -1, "ram": "0"}}]}) == []


def test_flavor_spec_validation() -> None:
    menu = [{"name": "f", "vcpus": 1, "ram": 128, "extra_specs": {
        "quota:cpu_quota": 10, "quota:cpu_period": 500, "quota:cpu_shares": -1,
        "quota:disk_read_bytes_sec": "fast", "quota:nonsense": 1, "hw:cpu_policy": "dedicated"}}]
    errors = flavor_errors(menu)
    assert any("cpu_quota = 10 must be -1" in e for e in errors)
    assert any("cpu_period = 500 must be 1000..1000000" in e for e in errors)
    assert any("cpu_shares = -1" in e for e in errors)
    assert any("disk_read_bytes_sec = 'fast'" in e for e in errors)
    assert any("'quota:nonsense' is unknown" in e for e in errors)
    assert len(errors) == 5  # hw:cpu_policy is accepted


def test_flavor_quota_without_period_and_sizes() -> None:
    errors = flavor_errors([{"name": "g", "vcpus": 0, "ram": 32, "extra_specs": {"quota:cpu_quota": 50000}}])
    assert any("vcpus = 0" in e for e in errors) and any("ram = 32" in e for e in errors)
    assert any("needs quota:cpu_period" in e for e in errors)


def test_private_flavor_needs_known_projects() -> None:
    errors = flavor_errors([{"name": "p", "vcpus": 1, "ram": 128, "public": False, "projects": ["A9"]}], ["A1"])
    assert errors == ["flavor p: project A9 (access list) is not defined in the tenancy file"]


def test_flavor_size_changed() -> None:
    have = {"vcpus": 1, "ram": 128, "disk": 0, "ephemeral": 0, "swap": "", "is_public": True}
    assert not flavor_size_changed(have, {"vcpus": 1, "ram": 128})
    assert flavor_size_changed(have, {"vcpus": 2, "ram": 128})
    assert flavor_size_changed(have, {"vcpus": 1, "ram": 128, "public": False})


def test_spec_strings() -> None:
    assert spec_strings({"quota:cpu_quota": 50000, "hw:x": True}) == {"quota:cpu_quota": "50000", "hw:x": "true"}


def test_flavors_pending_only_what_differs() -> None:
    """Nova's record (as compute_flavor_info returns it) against the menu: only differing entries need a call."""
    nova = [{"name": "m1.nano", "vcpus": 1, "ram": 128, "disk": 0, "ephemeral": 0, "swap": 0, "is_public": True,
             "description": "Smallest", "extra_specs": {}},
            {"name": "cap50", "vcpus": 1, "ram": 128, "disk": 0, "ephemeral": 0, "swap": "", "is_public": True,
             "description": None, "extra_specs": {"quota:cpu_period": "100000", "quota:cpu_quota": "50000"}}]
    same = [{"name": "m1.nano", "vcpus": 1, "ram": 128, "disk": 0, "description": "Smallest"},
            {"name": "cap50", "vcpus": 1, "ram": 128, "extra_specs": {"quota:cpu_period": 100000,
                                                                     "quota:cpu_quota": 50000}}]
    assert flavors_pending(same, nova) == []
    new = {"name": "m1.tiny", "vcpus": 1, "ram": 512}
    bigger = dict(same[0], ram=256)
    described = dict(same[0], description="Tiny")
    spec_dropped = dict(same[1], extra_specs={"quota:cpu_period": 100000})
    spec_changed = dict(same[1], extra_specs={"quota:cpu_period": 100000, "quota:cpu_quota": 30000})
    for entry in (new, bigger, described, spec_dropped, spec_changed):
        assert flavors_pending([entry], nova) == [entry], entry
    assert flavors_pending(same, []) == same
