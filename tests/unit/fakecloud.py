"""A fake Nova and Neutron behind openstacksdk's proxy calls, for driving rentstack_servers end to end in unit tests.

Servers are stored in Nova's own JSON shape (OS-EXT-* keys, `created`/`updated`) and handed out through
openstacksdk's Server resource, so the module reads exactly what it reads from a real cloud. Faults are scripted:
`faults` maps a call name to a list of exceptions to raise on its next calls, and `lose_create` names servers whose
create reaches Nova but whose answer is lost.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
import time
from types import SimpleNamespace
from typing import Any

from libload import ENGINE_PARAMS, fast_retry, load_library
from openstack import exceptions as os_exc
from openstack.compute.v2.server import Server

MOD = load_library("rentstack_servers")
from ansible.module_utils.rentstack_openstack import parent_chain  # noqa: E402


class ConnectFailure(Exception):
    """Named like keystoneauth's: the connection was reset after the request was sent."""


def http_error(status: int, message: str = "") -> os_exc.HttpException:
    return os_exc.HttpException(message=message or f"HTTP {status}", http_status=status)


def stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeResponse:
    def __init__(self, body: dict[str, Any]) -> None:
        self.status_code, self.headers, self.content, self._body = 200, {}, b"{}", body

    def json(self) -> dict[str, Any]:
        return self._body


class FakeCompute:
    def __init__(self, cloud: "FakeCloud") -> None:
        self.cloud = cloud

    def servers(self, details: bool = True, name: str | None = None, changes_since: str | None = None
                ) -> list[Server]:
        return [Server.existing(**raw) for raw in self.cloud.listing("servers", name, changes_since, "2.100")]

    def get(self, path: str, params: dict[str, Any], microversion: str) -> FakeResponse:
        assert path == "/servers/detail"
        rows = self.cloud.listing("servers_at", params.get("name"), params.get("changes-since"), microversion)
        return FakeResponse({"servers": rows, "servers_links": []})

    def create_server(self, **attrs: Any) -> SimpleNamespace:
        return self.cloud.create(attrs)

    def delete_server(self, server_id: str, ignore_missing: bool = True) -> None:
        self.cloud.delete(server_id)

    def update_server(self, server_id: str, **attrs: Any) -> SimpleNamespace:
        return self.cloud.update(server_id, attrs)


class FakeCloud:
    """Nova and Neutron of one project. Each listing is one tick: a BUILD server goes ACTIVE `build_ticks`
    ticks after its create, unless its name is in `stuck` (its first server stays in BUILD)."""

    def __init__(self, build_ticks: int = 2, skew: float = 0) -> None:
        self.lock = threading.RLock()
        self.raw: dict[str, dict[str, Any]] = {}  # id -> Nova JSON; deleted ones stay with deleted=True
        self.ticks = 0
        self.build_ticks = build_ticks
        # Nova's clock: `skew` seconds off this machine's (negative: behind).
        self.clock = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=skew)
        self.ids = itertools.count(1)
        self.faults: dict[str, list[Exception]] = {}
        self.lose_create: set[str] = set()
        self.stuck: set[str] = set()
        self.calls: dict[str, int] = {}
        self.ports: dict[str, SimpleNamespace] = {}
        self.fips: dict[str, SimpleNamespace] = {}
        self.invalidated = 0
        self.quota_left: int | None = None  # instances a multi-create may still ask for (None: no limit)
        self.no_hostname_updates = False  # a cloud before compute microversion 2.90
        self.lose_rename: set[str] = set()  # names whose next rename answers OK but changes nothing
        self.fail_build: set[str] = set()  # names (as Nova gives them) of multi-created servers that end in ERROR
        self.current_project_id = "p1"
        self.compute = FakeCompute(self)
        self.network = SimpleNamespace(ports=self.list_ports, ips=self.list_ips, create_ip=self.create_ip,
                                       delete_ip=self.delete_ip, delete_port=self.delete_port)
        self.session = SimpleNamespace(auth=SimpleNamespace(invalidate=self.invalidate))

    # ---- plumbing
    def invalidate(self) -> bool:
        self.invalidated += 1
        return True

    def _call(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        queue = self.faults.get(name)
        if queue:
            raise queue.pop(0)

    def _now(self) -> str:
        self.clock += dt.timedelta(seconds=1)
        return stamp(self.clock)

    # ---- Nova
    def add_server(self, name: str, status: str = "ACTIVE", run: str | None = None, metadata: dict | None = None,
                   **extra: Any) -> str:
        with self.lock:
            sid = f"{next(self.ids):08d}-0000-4000-8000-000000000000"
            now = self._now()
            self.raw[sid] = {"id": sid, "name": name, "status": status, "created": now, "updated": now,
                             "OS-EXT-STS:task_state": None, "OS-EXT-SRV-ATTR:host": "cmp1",
                             "OS-EXT-SRV-ATTR:hostname": name.lower(),
                             "metadata": dict(metadata or {}, **({"rentstack_run": run} if run else {})),
                             "addresses": {},
                             "ready_at": self.ticks + self.build_ticks, "deleted": False, **extra}
            port = SimpleNamespace(id=f"port-{sid}", device_id=sid, device_owner="compute:nova")
            self.ports[port.id] = port
            return sid

    def create(self, attrs: dict[str, Any]) -> SimpleNamespace:
        if attrs.get("max_count", 1) > 1:
            return self.create_multi(attrs)
        with self.lock:
            self._call("create")
            name = attrs["name"]
            stuck = name in self.stuck
            sid = self.add_server(name, "BUILD", attrs["metadata"].get("rentstack_run"), stuck=stuck)
            self.stuck.discard(name)
            if name in self.lose_create:
                self.lose_create.discard(name)
                raise ConnectFailure("Connection reset by peer after the request was sent")
            return SimpleNamespace(id=sid)

    def create_multi(self, attrs: dict[str, Any]) -> SimpleNamespace:
        """Nova's multi-create: min_count = max_count servers named <name>-1 .. <name>-<n> (hostnames likewise), all
        or none; `quota_left` (when set) refuses a request larger than it with 403, as Nova's quota check does."""
        with self.lock:
            self._call("create_multi")
            n = attrs["max_count"]
            assert attrs["min_count"] == n
            if self.quota_left is not None:
                if n > self.quota_left:
                    raise http_error(403, f"Quota exceeded for instances: Requested {n}, but already used ...")
                self.quota_left -= n
            ids = [self.add_server(f"{attrs['name']}-{i}", "BUILD", metadata=attrs["metadata"],
                                   fails=f"{attrs['name']}-{i}" in self.fail_build) for i in range(1, n + 1)]
            if attrs["name"] in self.lose_create:
                self.lose_create.discard(attrs["name"])
                raise ConnectFailure("Connection reset by peer after the request was sent")
            return SimpleNamespace(id=ids[0])

    def update(self, sid: str, attrs: dict[str, Any]) -> SimpleNamespace:
        with self.lock:
            self._call("update")
            srv = self.raw.get(sid)
            if srv is None or srv["deleted"]:
                raise http_error(404, f"Instance {sid} could not be found.")
            if "hostname" in attrs and self.no_hostname_updates:
                raise http_error(400, "Additional properties are not allowed ('hostname' was unexpected)")
            if srv["name"] in self.lose_rename:  # Nova's race: the build request was updated after the conductor read it
                self.lose_rename.discard(srv["name"])
                return SimpleNamespace(id=sid)
            srv["name"] = attrs.get("name", srv["name"])
            srv["OS-EXT-SRV-ATTR:hostname"] = attrs.get("hostname", srv["OS-EXT-SRV-ATTR:hostname"])
            srv["updated"] = self._now()
            return SimpleNamespace(id=sid)

    def delete(self, sid: str) -> None:
        with self.lock:
            self._call("delete")
            srv = self.raw.get(sid)
            if srv is None or srv["deleted"]:
                return
            srv.update(deleted=True, status="DELETED", updated=self._now())
            for port in [p for p in self.ports.values() if p.device_id == sid]:
                del self.ports[port.id]
                for fip in self.fips.values():
                    if fip.port_id == port.id:
                        fip.port_id = None

    def listing(self, call: str, name: str | None, since: str | None, microversion: str) -> list[dict]:
        with self.lock:
            self._call(call)
            broken = [s for s in self.raw.values() if not s["deleted"] and s.get("no_request_spec")]
            if broken and float(microversion.split(".")[1]) >= 96:
                raise http_error(500, "Unexpected API Error. KeyError")
            self.ticks += 1
            for srv in self.raw.values():
                if srv["status"] == "BUILD" and not srv.get("stuck") and self.ticks >= srv["ready_at"]:
                    srv.update(status="ERROR" if srv.get("fails") else "ACTIVE", updated=self._now())
                    if srv.get("fails"):
                        srv["fault"] = {"message": "No valid host was found."}
            rows = []
            for srv in self.raw.values():
                if name and not re.search(name, srv["name"]):
                    continue
                if since is not None:
                    if srv["updated"] < since:
                        continue
                elif srv["deleted"] and not srv.get("listed_after_delete"):
                    continue
                rows.append({k: v for k, v in srv.items()
                             if k not in ("ready_at", "deleted", "stuck", "no_request_spec", "listed_after_delete", "fails")})
            return rows

    def live(self) -> list[dict]:
        return [s for s in self.raw.values() if not s["deleted"]]

    # ---- Neutron
    def list_ports(self, project_id: str | None = None, device_id: str | None = None) -> list[SimpleNamespace]:
        with self.lock:
            return [p for p in self.ports.values() if device_id in (None, p.device_id)]

    def list_ips(self, project_id: str | None = None, port_id: str | None = None) -> list[SimpleNamespace]:
        with self.lock:
            return [f for f in self.fips.values() if port_id in (None, f.port_id)]

    def create_ip(self, floating_network_id: str, port_id: str | None, description: str) -> SimpleNamespace:
        with self.lock:
            n = len(self.fips) + 1
            fip = SimpleNamespace(id=f"fip-{n}", floating_ip_address=f"203.0.113.{n}", port_id=port_id,
                                  description=description)
            self.fips[fip.id] = fip
            return fip

    def delete_ip(self, fip: SimpleNamespace, ignore_missing: bool = True) -> None:
        with self.lock:
            self.fips.pop(fip.id, None)

    def delete_port(self, port: SimpleNamespace, ignore_missing: bool = True) -> None:
        with self.lock:
            self.ports.pop(port.id, None)


class Failed(Exception):
    """fail_json of the module under test: carries the message and the result."""

    def __init__(self, msg: str, result: dict[str, Any]) -> None:
        super().__init__(msg)
        self.result = result


def servers_module(cloud: FakeCloud, names: list[str], state: str = "present", run: str = "run-a",
                   **params: Any) -> Any:
    """A ServersModule acting on the fake cloud: real engine, listing, retries, heal, create and delete code;
    only the preflight (resolve, quota and capacity: tested in test_bulk_planning) is stubbed."""
    obj = MOD.ServersModule.__new__(MOD.ServersModule)
    obj.params = dict(ENGINE_PARAMS, state=state, prefix="vm", names=None, api_workers=4, floating_ip=False,
                      metadata={}, key_name=None, security_groups=[], user_data=None, host=None,
                      availability_zone=None, **params)
    obj.names, obj.set_tag, obj.lines, obj.started = names, "rentstack-set:vm", [], time.monotonic()
    obj.run_id = run
    obj.renames = {}
    obj._parents = parent_chain()
    obj._conn = obj._pconn = cloud

    def fail_json(msg: str, **result: Any) -> None:
        raise Failed(msg, result)

    obj.ansible = SimpleNamespace(check_mode=False, fail_json=fail_json)
    obj.retry = fast_retry(attempts=params.get("api_retries", 5), reauth=obj.reauth, log=obj.progress)
    obj.resolve = lambda: {"flavor": SimpleNamespace(id="f1"), "image": SimpleNamespace(id="i1"), "networks": [],
                           "fip_network": SimpleNamespace(id="ext")}
    obj.check_fit = lambda *a: None
    return obj


def run_module(obj: Any) -> dict[str, Any]:
    """run() of the module; a failed run's result (fail_json) is returned with failed=True."""
    try:
        return obj.run()
    except Failed as exc:
        return dict(exc.result, failed=True, msg=str(exc))
