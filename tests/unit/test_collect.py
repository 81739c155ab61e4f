"""rentstack_resources.collect(): the concurrent refresh makes the same requests as a serial one, and no
service gets a second request before its first (the one that does version discovery) has finished."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "module_utils"))

from rentstack_resources import collect  # noqa: E402

PROJECTS = ["p-admin", "p-a", "p-b", "p-c"]
PROVIDERS = ["rp-1", "rp-2", "rp-3"]


class Item(SimpleNamespace):
    def to_dict(self, computed: bool = True) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


class Recorder:
    """Every call: (service, name, args); per service, when its first call started and ended and when later
    calls started. The first call of a service is slow, as version discovery is."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str, tuple]] = []
        self.first_end: dict[str, float] = {}
        self.later_starts: dict[str, list[float]] = {}

    def call(self, service: str, name: str, args: tuple, result: Any) -> Any:
        with self.lock:
            first = not any(c[0] == service for c in self.calls)
            self.calls.append((service, name, args))
            if not first:
                self.later_starts.setdefault(service, []).append(time.monotonic())
        time.sleep(0.05 if first else 0.005)
        if first:
            with self.lock:
                self.first_end[service] = time.monotonic()
        return result


class Service:
    def __init__(self, rec: Recorder, name: str, methods: dict[str, Any]) -> None:
        self._rec, self._name, self._methods = rec, name, methods

    def __getattr__(self, attr: str) -> Any:
        fn = self._methods[attr]
        return lambda *args, **kwargs: self._rec.call(
            self._name, attr, tuple(map(repr, args + tuple(sorted(kwargs.items())))), fn(*args, **kwargs))


def fake_conn(rec: Recorder, volume: bool) -> Any:
    quota = Item(instances=10, cores=20, ram=4096, volumes=5, gigabytes=50, usage={"instances": 1})
    usage_resp = SimpleNamespace(json=lambda: {"usages": {"VCPU": 1}})
    quota_resp = SimpleNamespace(json=lambda: {"quota": {"port": {"limit": 5, "used": 1}}})
    return SimpleNamespace(
        current_project_id="p-admin",
        endpoint_for=lambda name: "http://cinder" if volume and name == "block-storage" else None,
        compute=Service(rec, "compute", {
            "services": lambda: [Item(host="cmp1", binary="nova-compute", state="up")],
            "servers": lambda **_: [Item(id=f"s{i}", name=f"vm{i}") for i in range(5)],
            "flavors": lambda **_: [Item(id="f1", name="tiny")],
            "hypervisors": lambda **_: [Item(name="cmp1", host_ip="10.0.0.1")],
            "get_quota_set": lambda pid, **_: quota,
        }),
        identity=Service(rec, "identity", {
            "projects": lambda: [Item(id=p, name=p) for p in PROJECTS],
            "users": lambda: [Item(id="u1", name="alice")],
        }),
        image=Service(rec, "image", {"images": lambda: [Item(id="i1", name="guest")]}),
        placement=Service(rec, "placement", {
            "resource_providers": lambda: [Item(id=r, name=r) for r in PROVIDERS],
            "resource_provider_inventories": lambda rp: [Item(resource_class="VCPU", total=2)],
            "get": lambda url, **_: usage_resp,
        }),
        network=Service(rec, "network", {"get": lambda url: quota_resp}),
        block_storage=Service(rec, "block-storage", {"get_quota_set": lambda pid, **_: quota}),
    )


@pytest.mark.parametrize("volume", [False, True])
def test_concurrent_refresh_makes_the_serial_requests_and_returns_the_same(volume: bool) -> None:
    serial, parallel = Recorder(), Recorder()
    one = collect(fake_conn(serial, volume), workers=1)
    many = collect(fake_conn(parallel, volume), workers=8)
    assert Counter(parallel.calls) == Counter(serial.calls)
    assert one == many
    per_project = 3 if volume else 2
    assert len(serial.calls) == 8 + 2 * len(PROVIDERS) + per_project * len(PROJECTS)
    assert set(many["quotas"]) == set(PROJECTS)
    assert all(q["volume"] is not None for q in many["quotas"].values()) is volume


@pytest.mark.parametrize("volume", [False, True])
def test_no_service_is_asked_twice_before_its_first_answer(volume: bool) -> None:
    rec = Recorder()
    collect(fake_conn(rec, volume), workers=8)
    for service, starts in rec.later_starts.items():
        assert min(starts) >= rec.first_end[service], f"{service}: second request began during the first"
    assert set(rec.first_end) == {"compute", "identity", "image", "placement", "network"} | (
        {"block-storage"} if volume else set())


def test_a_project_that_vanishes_and_a_failing_call_degrade_the_inventory() -> None:
    """Project p-b is deleted between the projects listing and its quota requests (Nova answers 400 'Project ID
    ... is not a valid project', Neutron 404); the hypervisors listing fails; the servers listing answers 500 at
    the negotiated microversion (Nova 31's request-spec bug) and works at 2.95. Every other host is listed."""
    from openstack import exceptions as os_exc
    from rentstack_resources import build_inventory

    rec = Recorder()
    conn = fake_conn(rec, volume=False)
    methods = conn.compute._methods
    quota = methods["get_quota_set"]("x")

    def compute_quota(pid: str, **_: Any) -> Any:
        if pid == "p-b":
            raise os_exc.BadRequestException(message=f"Project ID {pid} is not a valid project.", http_status=400)
        return quota

    def hypervisors(**_: Any) -> Any:
        raise os_exc.HttpException(message="Service Unavailable", http_status=503)

    def servers(**_: Any) -> Any:
        raise os_exc.HttpException(message="Unexpected API Error", http_status=500)

    raw_rows = [{"id": f"s{i}", "name": f"vm{i}", "status": "ACTIVE", "tenant_id": "p-a"} for i in range(3)]
    raw_rows.append({"id": "s9", "name": "broken", "status": "ERROR", "tenant_id": "p-a",
                     "fault": {"message": "Quota exceeded for instances: Requested 1, but already used 10"}})
    calls: list[str] = []

    def get(path: str, params: dict[str, Any], microversion: str) -> Any:
        calls.append(microversion)
        return SimpleNamespace(status_code=200, headers={}, content=b"{}",
                               json=lambda: {"servers": raw_rows, "servers_links": []})

    methods.update(get_quota_set=compute_quota, hypervisors=hypervisors, servers=servers, get=get)
    network_get = conn.network._methods["get"]

    def network_quota(url: str) -> Any:
        if "p-b" in url:
            raise os_exc.NotFoundException(message="Project p-b not found", http_status=404)
        return network_get(url)

    conn.network._methods["get"] = network_quota
    raw = collect(conn, volume=False, workers=4)
    warnings = raw["warnings"]
    assert any("compute quota of project p-b (p-b) vanished between two calls; skipped" in w for w in warnings)
    assert any("network quota of project p-b (p-b) vanished" in w for w in warnings)
    assert any(w.startswith("hypervisors listing failed: HttpException") for w in warnings)
    assert any("listed at microversion 2.95" in w for w in warnings) and calls == ["2.95"]
    assert set(raw["quotas"]) == {"p-admin", "p-a", "p-c"}
    inv = build_inventory(raw)
    assert {"vm0", "vm1", "vm2", "broken", "rp-1", "rp-2", "rp-3"} <= set(inv["hosts"])
    assert inv["groups"]["status_error"] == ["broken"]
    assert inv["hosts"]["broken"]["fault"].startswith("Quota exceeded for instances")
    assert inv["hosts"]["vm0"]["fault"] is None
    assert "project_p_b" not in inv["group_vars"] and "project_p_a" in inv["group_vars"]
