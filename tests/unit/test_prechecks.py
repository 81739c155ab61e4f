"""Unit tests of the inventory prechecks (plugins/filter/prechecks.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))
from prechecks import inventory_errors  # noqa: E402

SITE = {
    "rentstack_mgmt_cidr": "10.0.10.0/24",
    "rentstack_tunnel_cidr": "10.0.11.0/24",
    "rentstack_provider_cidr": "10.0.20.0/24",
    "rentstack_provider_gateway": "10.0.20.1",
    "rentstack_provider_pool_start": "10.0.20.100",
    "rentstack_provider_pool_end": "10.0.20.200",
}
HOSTS = {
    "ccn": {"rentstack_mgmt_ip": "10.0.10.11", "rentstack_tunnel_ip": "10.0.11.11"},
    "cn1": {"rentstack_mgmt_ip": "10.0.10.21", "rentstack_tunnel_ip": "10.0.11.21"},
}
GROUPS = {"controller": ["ccn"], "compute": ["cn1"]}


def test_valid_inventory_has_no_errors() -> None:
    assert inventory_errors(SITE, HOSTS, GROUPS) == []


def test_non_cidr_names_the_variable_and_value() -> None:
    errors = inventory_errors({**SITE, "rentstack_mgmt_cidr": "10.0.10.0"}, HOSTS, GROUPS)
    assert len(errors) == 1
    assert "rentstack_mgmt_cidr" in errors[0] and "'10.0.10.0'" in errors[0]


def test_cidr_with_host_bits_is_refused() -> None:
    errors = inventory_errors({**SITE, "rentstack_tunnel_cidr": "10.0.11.5/24"}, HOSTS, GROUPS)
    assert any("rentstack_tunnel_cidr" in e for e in errors)


def test_host_outside_management_cidr_names_host_and_fix() -> None:
    hosts = {**HOSTS, "cn1": {"rentstack_mgmt_ip": "10.9.9.9", "rentstack_tunnel_ip": "10.0.11.21"}}
    errors = inventory_errors(SITE, hosts, GROUPS)
    assert errors == [
        "host cn1: rentstack_mgmt_ip = 10.9.9.9 is outside rentstack_mgmt_cidr 10.0.10.0/24; "
        "give the host an address inside 10.0.10.0/24 or fix rentstack_mgmt_cidr"
    ]


def test_missing_controller_group() -> None:
    errors = inventory_errors(SITE, HOSTS, {"compute": ["cn1"]})
    assert any("group 'controller' has 0 hosts" in e for e in errors)


def test_two_controllers_refused() -> None:
    errors = inventory_errors(SITE, HOSTS, {"controller": ["ccn", "cn1"], "compute": ["cn1"]})
    assert any("controller' has 2 hosts (ccn, cn1)" in e for e in errors)


def test_empty_compute_group() -> None:
    errors = inventory_errors(SITE, HOSTS, {"controller": ["ccn"], "compute": []})
    assert any("group 'compute'" in e for e in errors)


def test_duplicated_address_names_both_hosts() -> None:
    hosts = {**HOSTS, "cn2": {"rentstack_mgmt_ip": "10.0.10.21", "rentstack_tunnel_ip": "10.0.11.22"}}
    errors = inventory_errors(SITE, hosts, {"controller": ["ccn"], "compute": ["cn1", "cn2"]})
    assert errors == ["hosts cn1 and cn2 both have rentstack_mgmt_ip = 10.0.10.21; give each host its own address"]


@pytest.mark.parametrize("name", ["CN1", "cn_1", "-cn1", "a" * 64])
def test_invalid_host_names(name: str) -> None:
    hosts = {**HOSTS, name: {"rentstack_mgmt_ip": "10.0.10.30", "rentstack_tunnel_ip": "10.0.11.30"}}
    errors = inventory_errors(SITE, hosts, GROUPS)
    assert any(f"host {name}: the name is not a valid host name" in e for e in errors)


def test_missing_host_variable() -> None:
    hosts = {**HOSTS, "cn1": {"rentstack_mgmt_ip": "10.0.10.21"}}
    errors = inventory_errors(SITE, hosts, GROUPS)
    assert errors == ["host cn1: rentstack_tunnel_ip is not set; set it in host_vars/cn1.yml or the inventory"]


def test_pool_outside_provider_network() -> None:
    errors = inventory_errors({**SITE, "rentstack_provider_pool_end": "10.0.21.5"}, HOSTS, GROUPS)
    assert len(errors) == 1 and "rentstack_provider_pool_end = 10.0.21.5 is outside" in errors[0]


def test_every_problem_reported_at_once() -> None:
    site = {**SITE, "rentstack_mgmt_cidr": "nope", "rentstack_provider_gateway": "x"}
    errors = inventory_errors(site, HOSTS, {})
    assert len(errors) == 4  # controller, compute, mgmt cidr, gateway


def test_selfservice_cidr_apart_from_the_site_networks_passes() -> None:
    assert inventory_errors({**SITE, "rentstack_selfservice_cidr": "10.0.100.0/24"}, HOSTS, GROUPS) == []


@pytest.mark.parametrize(("value", "expected"), [
    ("10.0.20.128/25", "overlaps rentstack_provider_cidr 10.0.20.0/24"),
    ("10.0.0.0/16", "overlaps rentstack_mgmt_cidr 10.0.10.0/24"),
    ("10.0.100.0", "is not a network in CIDR notation"),
    ("10.0.100.1/24", "is not a network in CIDR notation"),
])
def test_selfservice_cidr_overlap_or_typo_is_refused(value: str, expected: str) -> None:
    errors = inventory_errors({**SITE, "rentstack_selfservice_cidr": value}, HOSTS, GROUPS)
    assert errors and all("rentstack_selfservice_cidr" in e for e in errors)
    assert any(expected in e for e in errors), errors
