"""Unit test of plugins/modules/rentstack_servers.py's floating IP step: one address per ACTIVE server that has none,
and progress lines while they are attached (100 took ~8 min on the lab, see docs/benchmarks.md)."""

from __future__ import annotations

import itertools
import re
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from libload import ENGINE_PARAMS, fast_retry, load_library

MOD = load_library("rentstack_servers")
from ansible.module_utils import rentstack_openstack  # noqa: E402 - the copy the module uses, after load_library
from ansible.module_utils.rentstack_openstack import parent_chain  # noqa: E402


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
        params={"api_workers": 4}, set_tag="rentstack-set:vm", progress=lines.append, retry=fast_retry())
    fake.create_floating_ip = lambda name, port_id, res: MOD.ServersModule.create_floating_ip(fake, name, port_id, res)
    floating = MOD.ServersModule.attach_floating_ips(fake, done, {"fip_network": SimpleNamespace(id="ext")})
    assert len(created) == 23  # 25 minus the one that has an address minus the one without a port
    assert {kw["port_id"] for kw in created} == {f"port-vm{i:03d}" for i in range(1, 24)}
    assert all(kw["floating_network_id"] == "ext" and "server:vm" in kw["description"] for kw in created)
    assert floating["id-vm000"] == ["203.0.113.200"] and "id-vm024" not in floating
    assert all(len(floating[f"id-vm{i:03d}"]) == 1 for i in range(1, 24))
    assert lines == ["attaching floating IPs to 23 servers", "floating IPs: 10/23 attached, 13 left",
                     "floating IPs: 20/23 attached, 3 left", "floating IPs attached to 23 servers"]


class FakeCloud:
    """Servers that go ACTIVE a few listings after their create request; Neutron ports and floating IPs.

    The last server stays in BUILD until every other server has its floating IP (or, as a way out for a
    module that attaches only at the end, until 2000 listings went by: `forced` then tells the test)."""

    def __init__(self, names: list[str], fail_once: str | None = None) -> None:
        self.names = names
        self.servers: dict[str, dict[str, Any]] = {}
        self.polls = 0
        self.forced = False
        self.fips: list[SimpleNamespace] = []
        self.building_when_attached: list[int] = []
        self.fail_once = fail_once
        self.lock = threading.Lock()
        self.current_project_id = "p"
        self.network = SimpleNamespace(ports=self.ports, ips=self.ips, create_ip=self.create_ip)

    def create(self, name: str, res: dict[str, Any]) -> str:
        with self.lock:
            sid = f"id-{name}"
            self.servers[sid] = {"id": sid, "name": name, "status": "BUILD", "addresses": {},
                                 "ready_at": self.polls + 1 + self.names.index(name) % 4}
            return sid

    def list_set(self, poll: bool = False, expect: Any = None, full: bool = False) -> tuple[dict[str, dict], list[dict]]:
        with self.lock:
            self.polls += 1
            last = self.names[-1]
            for srv in self.servers.values():
                if srv["status"] == "BUILD" and self.polls >= srv["ready_at"]:
                    if srv["name"] != last or len(self.fips) >= len(self.names) - 1:
                        srv["status"] = "ACTIVE"
                    elif self.polls > 2000:
                        srv["status"], self.forced = "ACTIVE", True
            return {s["name"]: dict(s) for s in self.servers.values()}, []

    def ports(self, device_id: str | None = None, **_: Any) -> list[SimpleNamespace]:
        with self.lock:
            return [SimpleNamespace(id=f"port-{sid}", device_id=sid, device_owner="compute:nova")
                    for sid in self.servers if device_id in (None, sid)]

    def ips(self, port_id: str | None = None, **_: Any) -> list[SimpleNamespace]:
        with self.lock:
            return [f for f in self.fips if port_id in (None, f.port_id)]

    def create_ip(self, floating_network_id: str, port_id: str, description: str) -> SimpleNamespace:
        with self.lock:
            if self.fail_once and port_id == f"port-id-{self.fail_once}":
                self.fail_once = None
                raise RuntimeError("Neutron said 503")
            fip = SimpleNamespace(port_id=port_id, floating_ip_address=f"203.0.113.{len(self.fips) + 1}",
                                  description=description)
            self.fips.append(fip)
            self.building_when_attached.append(sum(s["status"] == "BUILD" for s in self.servers.values()))
            return fip


def present_with(cloud: FakeCloud, concurrency: int = 20) -> tuple[dict[str, Any], list[str]]:
    """rentstack_servers' present() against the fake cloud (preflight stubbed: it has its own tests)."""
    obj = MOD.ServersModule.__new__(MOD.ServersModule)
    obj.params = dict(ENGINE_PARAMS, floating_ip=True, api_workers=4, concurrency=concurrency)
    obj.names, obj.set_tag, obj.lines, obj.started = cloud.names, "rentstack-set:vm", [], time.monotonic()
    obj._parents = parent_chain()  # this test process's own: unchanged, so never "abandoned"
    obj.ansible = SimpleNamespace(check_mode=False, fail_json=lambda msg, **_: pytest.fail(msg))
    obj._pconn = cloud
    obj.list_set, obj.create_request = cloud.list_set, cloud.create
    obj.resolve = lambda: {"fip_network": SimpleNamespace(id="ext"), "flavor": None, "networks": []}
    obj.check_fit = lambda flavor, n, ports, fips: None
    obj.delete_ids = lambda ids: None
    obj.retry, obj.run_id = fast_retry(), "test:1:2026-12-07T10:00:00Z"
    obj.healed, obj.waited_for, obj.deleting, obj.kept = [], set(), set(), 0
    obj.renames, obj.renamed_at, obj.rename_hostnames, obj.multi_ok = {}, {}, True, False
    obj._lister = SimpleNamespace(listing_bug=False, fell_back=False, known={}, reprobe=lambda: None)
    return obj.present(), obj.lines


def test_floating_ips_are_attached_while_other_servers_still_build() -> None:
    cloud = FakeCloud([f"vm-{i:03d}" for i in range(1, 13)])
    result, lines = present_with(cloud)
    assert not cloud.forced, "the last server's floating IP waited for the end of the builds"
    assert result["summary"]["active"] == 12
    assert sorted(f.port_id for f in cloud.fips) == sorted(f"port-id-vm-{i:03d}" for i in range(1, 13))
    assert all(len(r["floating_ips"]) == 1 for r in result["servers"])
    assert max(cloud.building_when_attached) >= 1  # attached during the builds, not after them
    assert not any("attaching floating IPs" in line for line in lines)  # nothing left for the final pass
    assert any(re.search(r"building \d+, .*floating IPs \d+/\d+$", line) for line in lines)  # shown per poll


def test_a_failed_early_attach_is_done_again_by_the_final_pass() -> None:
    cloud = FakeCloud([f"vm-{i:03d}" for i in range(1, 7)], fail_once="vm-002")
    result, lines = present_with(cloud)
    assert sorted(f.port_id for f in cloud.fips) == sorted(f"port-id-vm-{i:03d}" for i in range(1, 7))
    assert any("floating IP for vm-002 failed: Neutron said 503" in line for line in lines)
    assert any("attaching floating IPs to 1 servers" in line for line in lines)
    assert all(len(r["floating_ips"]) == 1 for r in result["servers"])


def test_a_cancelled_create_sends_no_more_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """ansible-playbook killed mid-create (seen on the lab: the orphaned module went on creating all 100):
    the module notices its parents changed, stops, and says what it sent and what it did not."""
    cloud = FakeCloud([f"vm-{i:03d}" for i in range(1, 13)])
    real = parent_chain()
    monkeypatch.setattr(rentstack_openstack, "parent_chain", lambda: real if len(cloud.servers) < 4 else [1])
    with pytest.raises(pytest.fail.Exception) as err:
        present_with(cloud, concurrency=4)
    assert len(cloud.servers) == 4
    assert "is gone (cancelled or killed): stopped; 4 servers requested, 8 not yet" in str(err.value)


def test_parent_chain_reads_proc(tmp_path: Any) -> None:
    for pid, ppid in ((100, 50), (50, 7), (7, 1)):
        (tmp_path / str(pid)).mkdir()
        # The command name may hold spaces and parentheses; the parent PID is the 2nd field after the last ")".
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (sh -c (x) y) S {ppid} {pid} {pid} 0 -1\n")
    assert parent_chain(100, depth=3, proc=str(tmp_path)) == [50, 7, 1]
    assert parent_chain(100, depth=2, proc=str(tmp_path)) == [50, 7]
    assert parent_chain(7, depth=3, proc=str(tmp_path)) == [1]
    assert parent_chain(999, proc=str(tmp_path)) == []
    import os

    assert parent_chain()[:1] == [os.getppid()]


class Conflict(Exception):
    """Neutron's 409 as openstacksdk raises it (status_code)."""

    status_code = 409


def test_conflict_from_a_concurrent_run_keeps_its_floating_ip() -> None:
    """Three runs of one request at once (lab, 2026-12-07): run B's create for a port that run A had just given a
    floating IP was refused with 409 and stopped the whole run. Now B takes A's address and creates nothing more;
    a 409 with no floating IP on the port (some other conflict) is still an error."""
    on_port = {"port-a": ["203.0.113.7"], "port-b": []}
    lines: list[str] = []

    def create_ip(**kw: Any) -> SimpleNamespace:
        raise Conflict("Cannot associate floating IP ... as that fixed IP already has a floating IP")

    network = SimpleNamespace(create_ip=create_ip,
                              ips=lambda port_id: [SimpleNamespace(floating_ip_address=a) for a in on_port[port_id]])
    fake = SimpleNamespace(project_conn=SimpleNamespace(network=network), set_tag="rentstack-set:vm",
                           progress=lines.append, retry=fast_retry())
    res = {"fip_network": SimpleNamespace(id="ext")}
    assert MOD.ServersModule.create_floating_ip(fake, "vm-a", "port-a", res) == "203.0.113.7"
    assert lines == ["floating IP for vm-a: a concurrent run attached 203.0.113.7; kept it"]
    with pytest.raises(Conflict):
        MOD.ServersModule.create_floating_ip(fake, "vm-b", "port-b", res)
