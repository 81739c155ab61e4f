"""Unit test of library/rentstack_servers.py's floating IP step: one address per ACTIVE server that has none,
and progress lines while they are attached (100 took ~8 min on the lab, see docs/benchmarks.md)."""

from __future__ import annotations

import itertools
import threading
from types import SimpleNamespace
from typing import Any

from libload import load_library

MOD = load_library("rentstack_servers")


def test_each_server_without_one_gets_a_floating_ip_with_progress() -> None:
    names = [f"vm{i:03d}" for i in range(25)]
    done = {n: {"id": f"id-{n}"} for n in names}
    already = {"id-vm000": ["203.0.113.200"]}  # vm000 has one: left alone
    ports = {f"id-{n}": SimpleNamespace(id=f"port-{n}") for n in names if n != "vm024"}  # vm024: no port yet
    counter = itertools.count(1)
    lock = threading.Lock()
    created: list[dict[str, Any]] = []

    def create_ip(**kw: Any) -> SimpleNamespace:
        with lock:
            created.append(kw)
            return SimpleNamespace(floating_ip_address=f"203.0.113.{next(counter)}")

    lines: list[str] = []
    fake = SimpleNamespace(
        project_conn=SimpleNamespace(network=SimpleNamespace(create_ip=create_ip)),
        neutron_floating=lambda: (ports, {k: list(v) for k, v in already.items()}),
        params={"api_workers": 4}, set_tag="rentstack-set:vm", progress=lines.append)
    floating = MOD.ServersModule.attach_floating_ips(fake, done, {"fip_network": SimpleNamespace(id="ext")})
    assert len(created) == 23  # 25 minus the one that has an address minus the one without a port
    assert {kw["port_id"] for kw in created} == {f"port-vm{i:03d}" for i in range(1, 24)}
    assert all(kw["floating_network_id"] == "ext" and "server:vm" in kw["description"] for kw in created)
    assert floating["id-vm000"] == ["203.0.113.200"] and "id-vm024" not in floating
    assert all(len(floating[f"id-vm{i:03d}"]) == 1 for i in range(1, 24))
    assert lines == ["attaching floating IPs to 23 servers", "floating IPs: 10/23 attached, 13 left",
                     "floating IPs: 20/23 attached, 3 left", "floating IPs attached to 23 servers"]
