#!/usr/bin/python
"""Create or delete a set of servers in one operation, with zero leaks."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rentstack_servers
short_description: Create or delete a set of servers in one operation
description:
  - Declares a set of servers in a project, by a name prefix and a count or by
    an explicit list of names, and makes it exist (C(state=present)) or go
    away (C(state=absent)).
  - Before creating anything it resolves the flavor, image, networks and key
    pair, checks the project's quota headroom (instances, cores, RAM, ports,
    floating IPs) and the free Placement capacity for the flavor; a request
    that cannot fit fails with the numbers and creates nothing.
  - Creation keeps at most I(concurrency) servers building at once, issues
    requests without a blocking wait per server, follows every server with
    one server listing per poll, and deletes and rebuilds servers that end in
    ERROR up to I(max_attempts) times.
  - With I(floating_ip), each server this run builds gets its floating IP as
    soon as it is ACTIVE, while the others still build; a last pass lists
    Neutron and gives one to every ACTIVE server of the set still without one
    (servers kept from an earlier run, or an early attach that failed).
  - Deletion removes every server of the set (ERROR ones included), waits
    until they are gone, then deletes the floating IPs this module created
    for them and any port left behind.
  - Progress is written to I(progress_file) (the rentstack_servers action
    plugin shows it live) and returned in C(progress).
  - When the ansible-playbook run that started it is killed (an AWX job
    cancelled, a C(kill) of ansible-playbook), the module sends no more
    create requests and stops; servers already requested stay and belong to
    the set, so a rerun finishes the set and vms_delete.yml removes it.
options:
  cloud:
    description: clouds.yaml entry to use.
    type: str
    default: rentstack
  timeout:
    description: Seconds the whole operation may take.
    type: int
    default: 1800
  project:
    description:
      - Project that owns the set. The cloud's user must have a role in it.
      - Default is the project of the I(cloud) entry.
    type: str
  prefix:
    description: Name prefix; servers are named C(<prefix>-001) ... Use with I(count).
    type: str
  count:
    description: Number of servers named from I(prefix).
    type: int
  names:
    description: Explicit server names (instead of I(prefix)/I(count)).
    type: list
    elements: str
  name_width:
    description: Minimum digits of the number in generated names.
    type: int
    default: 3
  state:
    description: C(present) creates what is missing; C(absent) deletes the set.
    type: str
    choices: [present, absent]
    default: present
  flavor:
    description: Flavor name or ID (required for C(present)).
    type: str
  image:
    description: Image name or ID (required for C(present)).
    type: str
  networks:
    description: Network names or IDs, one NIC each.
    type: list
    elements: str
    default: []
  key_name:
    description: Key pair name.
    type: str
  security_groups:
    description: Security group names.
    type: list
    elements: str
    default: []
  user_data:
    description: User data (plain text; encoded by the module).
    type: str
  metadata:
    description: Server metadata.
    type: dict
    default: {}
  floating_ip:
    description: Give each server a floating IP from I(floating_network).
    type: bool
    default: false
  floating_network:
    description: External network of the floating IPs.
    type: str
  availability_zone:
    description: Availability zone (C(zone) or C(zone:host) for admins).
    type: str
  host:
    description: Compute host to build on (admin; uses C(nova:<host>)).
    type: str
  concurrency:
    description: Most servers building at once.
    type: int
    default: 20
  api_workers:
    description: Parallel API requests when issuing creates and deletes.
    type: int
    default: 8
  max_attempts:
    description: Builds per server before it is reported failed.
    type: int
    default: 3
  poll_interval:
    description: Seconds between server listings.
    type: float
    default: 3
  check_capacity:
    description: Check free Placement capacity before creating.
    type: bool
    default: true
  progress_file:
    description: File to append progress lines to (set by the action plugin).
    type: path
requirements: [openstacksdk >= 4.16]
author: rentstack
"""

EXAMPLES = r"""
- name: Create the report's 100 VMs in project vm100 in one operation
  rentstack_servers:
    project: vm100
    prefix: vm
    count: 100
    flavor: 1cpu.1gbmem.0disk
    image: rentstack-guest
    networks: [selfservice]
    floating_ip: true
    floating_network: provider

- name: Delete them, with their floating IPs and ports
  rentstack_servers:
    project: vm100
    prefix: vm
    count: 100
    state: absent
"""

RETURN = r"""
servers:
  description: One record per server of the set.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Server name., type: str}
    id: {description: Server ID (last one built)., type: str}
    status: {description: Final status (ACTIVE, ERROR, DELETED, ...)., type: str}
    host: {description: Compute host., type: str}
    fixed_ips: {description: Fixed addresses., type: list}
    floating_ips: {description: Floating addresses., type: list}
    attempts: {description: Builds made by this run., type: int}
    fault: {description: Nova's fault message of the last failed build., type: str}
summary:
  description: requested, active, failed, created, deleted, elapsed_seconds.
  returned: always
  type: dict
freed:
  description: What a delete released (server, floating IP and port IDs).
  returned: when state=absent
  type: dict
plan:
  description: What the run would do (names to create, replace, delete).
  returned: always
  type: dict
progress:
  description: The progress lines of the run.
  returned: always
  type: list
"""

import base64  # noqa: E402
import time  # noqa: E402
from concurrent.futures import Future, ThreadPoolExecutor  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.rentstack_bulk import (  # noqa: E402
    SET_TAG_PREFIX,
    Build,
    addresses,
    fault_message,
    launch_slots,
    next_action,
    placement_fit,
    plan_present,
    quota_shortfalls,
    summarize,
)
from ansible.module_utils.rentstack_openstack import ServerSetModule  # noqa: E402
from ansible.module_utils.rentstack_resources import flavor_disk_gb, placement_providers  # noqa: E402


class ServersModule(ServerSetModule):
    argument_spec = {
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "flavor": {"type": "str"},
        "image": {"type": "str"},
        "networks": {"type": "list", "elements": "str", "default": []},
        "key_name": {"type": "str", "no_log": False},
        "security_groups": {"type": "list", "elements": "str", "default": []},
        "user_data": {"type": "str"},
        "metadata": {"type": "dict", "default": {}},
        "floating_ip": {"type": "bool", "default": False},
        "floating_network": {"type": "str"},
        "availability_zone": {"type": "str"},
        "host": {"type": "str"},
        "api_workers": {"type": "int", "default": 8},
        "max_attempts": {"type": "int", "default": 3},
        "check_capacity": {"type": "bool", "default": True},
    }
    module_kwargs = {"required_if": [("floating_ip", True, ("floating_network",))]}
    positive_options = ("concurrency", "api_workers", "max_attempts")

    def __init__(self) -> None:
        super().__init__()
        self.set_tag = SET_TAG_PREFIX + (self.params["prefix"] or "names:" + ",".join(self.names)[:200])

    def find_one(self, kind: str, finder: Any, value: str) -> Any:
        try:
            found = finder(value, ignore_missing=True)
        except Exception as exc:  # noqa: BLE001 - DuplicateResource and friends
            self.fail(f"{kind} '{value}' is ambiguous: {exc}. Use the ID.")
        if found is None:
            self.fail(f"{kind} '{value}' not found")
        return found

    # ------------------------------------------------------------ preflight
    def resolve(self) -> dict[str, Any]:
        c = self.project_conn
        res: dict[str, Any] = {}
        for opt in ("flavor", "image"):
            if not self.params[opt]:
                self.fail(f"{opt} is required with state=present")
        res["flavor"] = self.find_one("flavor", c.compute.find_flavor, self.params["flavor"])
        res["image"] = self.find_one("image", c.image.find_image, self.params["image"])
        res["networks"] = [self.find_one("network", c.network.find_network, n) for n in self.params["networks"]]
        if self.params["key_name"]:
            self.find_one("key pair", c.compute.find_keypair, self.params["key_name"])
        if self.params["floating_ip"]:
            res["fip_network"] = self.find_one("floating network", c.network.find_network, self.params["floating_network"])
        return res

    def check_fit(self, res: dict[str, Any], n: int) -> None:
        """Quota headroom and Placement capacity for n more servers; fail with the numbers."""
        if n == 0:
            return
        flavor = res["flavor"]
        pid = self.project_id()
        cq = self.conn.compute.get_quota_set(pid, usage=True)
        quotas = {}
        for key, res_name in (("instances", "instances"), ("cores", "cores"), ("ram", "ram")):
            usage = (cq.usage or {}).get(key, 0)
            reservation = (cq.reservation or {}).get(key, 0)
            quotas[res_name] = {"limit": getattr(cq, key), "in_use": usage, "reserved": reservation}
        nq = self.conn.network.get_quota(pid, details=True)
        for attr, res_name in (("ports", "ports"), ("floating_ips", "floating_ips")):
            detail = getattr(nq, attr) or {}
            quotas[res_name] = {"limit": detail.get("limit", -1), "in_use": detail.get("used", 0),
                                "reserved": detail.get("reserved", 0)}
        requested = {
            "instances": n,
            "cores": n * flavor.vcpus,
            "ram": n * flavor.ram,
            "ports": n * max(len(res["networks"]), 1),
            "floating_ips": n if self.params["floating_ip"] else 0,
        }
        short = quota_shortfalls(requested, quotas)
        if short:
            detail = "; ".join(f"{s['resource']}: requested {s['requested']}, used {s['used']}, limit {s['limit']}, "
                               f"free {s['free']}" for s in short)
            self.fail(f"request of {n} servers does not fit the quota of project {self.params['project'] or pid}: "
                      f"{detail}. Nothing was created; raise the quota or ask for fewer.", shortfalls=short)
        if self.params["check_capacity"] and not self.params["host"]:
            self.check_placement(flavor, n)

    def check_placement(self, flavor: Any, n: int) -> None:
        providers = placement_providers(self.conn)
        need = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.ram,
                "DISK_GB": flavor_disk_gb({"disk": flavor.disk, "ephemeral": flavor.ephemeral, "swap": flavor.swap})}
        fit = placement_fit(need, providers)
        if fit < n:
            self.fail(f"request of {n} servers of flavor {flavor.name} does not fit the free capacity of the "
                      f"compute hosts: {fit} fit ({len(providers)} resource providers). Nothing was created; add "
                      "compute hosts, raise allocation ratios, or ask for fewer.", capacity_fit=fit)

    # ------------------------------------------------------------ present
    def create_request(self, name: str, res: dict[str, Any]) -> str:
        p = self.params
        attrs: dict[str, Any] = {
            "name": name,
            "flavor_id": res["flavor"].id,
            "image_id": res["image"].id,
            "networks": [{"uuid": n.id} for n in res["networks"]] or "auto",
            "metadata": dict(p["metadata"], rentstack_set=self.set_tag),
        }
        if p["key_name"]:
            attrs["key_name"] = p["key_name"]
        if p["security_groups"]:
            attrs["security_groups"] = [{"name": g} for g in p["security_groups"]]
        if p["user_data"]:
            attrs["user_data"] = base64.b64encode(p["user_data"].encode()).decode()
        if p["host"]:
            attrs["availability_zone"] = f"{p['availability_zone'] or 'nova'}:{p['host']}"
        elif p["availability_zone"]:
            attrs["availability_zone"] = p["availability_zone"]
        return self.project_conn.compute.create_server(**attrs).id

    def delete_ids(self, ids: list[str]) -> None:
        if not ids:
            return
        with ThreadPoolExecutor(max_workers=self.params["api_workers"]) as pool:
            list(pool.map(lambda i: self.project_conn.compute.delete_server(i, ignore_missing=True), ids))

    def present(self) -> dict[str, Any]:
        existing, dupes = self.list_set()
        self.fail_on_duplicates(dupes)
        plan = plan_present(self.names, existing)
        todo = plan.create + plan.replace
        result_plan = {"create": plan.create, "replace": plan.replace, "keep": plan.keep, "wait": plan.wait}
        self.progress(f"set {self.set_tag}: {len(self.names)} servers, {len(plan.keep)} ready, "
                      f"{len(plan.create)} to create, {len(plan.replace)} in ERROR to rebuild, {len(plan.wait)} building")
        res = self.resolve()
        self.check_fit(res, len(plan.create))
        if self.ansible.check_mode:
            records = [self.record(n, existing.get(n), Build(n)) for n in self.names]
            return {"changed": bool(todo), "plan": result_plan, "servers": records,
                    "summary": summarize(records, len(self.names), 0, 0, time.monotonic() - self.started)}

        builds = {n: Build(n) for n in todo + plan.wait}
        for n in plan.wait:
            builds[n].server_id = existing[n]["id"]
            builds[n].attempts = 0
        self.delete_ids([existing[n]["id"] for n in plan.replace])
        queue = list(todo)
        in_flight: set[str] = set(plan.wait)
        done: dict[str, dict] = {n: existing[n] for n in plan.keep}
        failed: set[str] = set()
        created = 0
        rebuilt = len(plan.replace)  # servers deleted to be built again
        deadline = self.started + self.params["timeout"]
        pool = ThreadPoolExecutor(max_workers=self.params["api_workers"])
        # Each server built by this run gets its floating IP as soon as it is ACTIVE, while the others still
        # build (100 addresses took ~8 min on the lab after the builds when attached at the end).
        fip_pool = ThreadPoolExecutor(max_workers=self.params["api_workers"]) if self.params["floating_ip"] else None
        fip_jobs: dict[str, Future] = {}
        try:
            while queue or in_flight:
                self.stop_if_abandoned(f"{created} create requests sent, {len(queue)} not sent, "
                                       f"{len(in_flight)} servers still building")
                n_new = launch_slots(self.params["concurrency"], len(in_flight), len(queue))
                batch, queue = queue[:n_new], queue[n_new:]
                if batch:
                    futures = {name: pool.submit(self.create_request, name, res) for name in batch}
                    for name, fut in futures.items():
                        b = builds[name]
                        b.attempts += 1
                        try:
                            b.server_id = fut.result()
                            created += 1
                            in_flight.add(name)
                        except Exception as exc:  # noqa: BLE001 - report the API's answer per server
                            b.fault = str(exc)
                            if b.attempts < self.params["max_attempts"]:
                                queue.append(name)
                            else:
                                failed.add(name)
                if time.monotonic() > deadline:
                    self.progress(f"timeout: {len(in_flight)} still building, {len(queue)} not started")
                    break
                time.sleep(self.params["poll_interval"])
                current, _ = self.list_set()
                retry_ids = []
                for name in sorted(in_flight):
                    b = builds[name]
                    srv = current.get(name)
                    status = srv.get("status") if srv and srv.get("id") == b.server_id else None
                    action = next_action(b, status, self.params["max_attempts"])
                    if action == "wait":
                        continue
                    in_flight.discard(name)
                    if action == "active":
                        done[name] = srv
                        if fip_pool is not None and name in todo:
                            fip_jobs[name] = fip_pool.submit(self.attach_new_server, name, srv["id"], res)
                        continue
                    b.fault = fault_message(srv) or b.fault or f"status {status}"
                    if status is not None:
                        retry_ids.append(b.server_id)
                    if action == "retry":
                        queue.append(name)
                    else:
                        failed.add(name)
                self.delete_ids(retry_ids)
                rebuilt += len(retry_ids)
                self.progress(f"active {len(done)}/{len(self.names)}, building {len(in_flight)}, "
                              f"queued {len(queue)}, failed {len(failed)}, retried {len(retry_ids)}"
                              + (f", floating IPs {sum(f.done() for f in fip_jobs.values())}/{len(fip_jobs)}"
                                 if fip_pool is not None else ""))
        finally:
            pool.shutdown(wait=True)
            if fip_pool is not None:
                fip_pool.shutdown(wait=True)
        for name, job in sorted(fip_jobs.items()):
            error = job.exception()
            if error is not None:  # the pass below lists Neutron and tries once more
                self.progress(f"floating IP for {name} failed: {error}")
        floating = self.attach_floating_ips(done, res) if self.params["floating_ip"] else {}
        final, _ = self.list_set()
        records = [self.record(n, final.get(n), builds.get(n, Build(n)), floating) for n in self.names]
        summary = summarize(records, len(self.names), created, rebuilt, time.monotonic() - self.started)
        self.progress(f"done: {summary['active']}/{len(self.names)} active, {summary['failed']} failed, "
                      f"{created} create requests in {summary['elapsed_seconds']}s")
        result = {"changed": created > 0 or bool(plan.replace), "plan": result_plan, "servers": records,
                  "summary": summary}
        if summary["failed"]:
            bad = [f"{r['name']}: {r['fault'] or r['status']}" for r in records if r["status"] != "ACTIVE"][:10]
            self.ansible.fail_json(msg=f"{summary['failed']} of {len(self.names)} servers are not ACTIVE: "
                                       + "; ".join(bad), **result, progress=self.lines)
        return result

    def neutron_floating(self) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """The project's server ports by server ID, and floating addresses by server ID (two list calls).

        Nova's server record learns a new floating IP only when its network info cache is refreshed
        (an external event from Neutron, seconds to minutes later on a busy cloud), so right after
        attaching, its `addresses` still lack them: Neutron is the source of truth here.
        """
        c = self.project_conn
        pid = self.project_id()
        port_of_server: dict[str, Any] = {}
        server_of_port: dict[str, str] = {}
        for port in c.network.ports(project_id=pid):
            if (port.device_owner or "").startswith("compute:"):
                port_of_server.setdefault(port.device_id, port)
                server_of_port[port.id] = port.device_id
        floating: dict[str, list[str]] = {}
        for fip in c.network.ips(project_id=pid):
            if fip.port_id in server_of_port:
                floating.setdefault(server_of_port[fip.port_id], []).append(fip.floating_ip_address)
        return port_of_server, floating

    def create_floating_ip(self, name: str, port_id: str, res: dict[str, Any]) -> str:
        """A floating IP on the port, described with the set's tag and the server name (what delete looks for)."""
        fip = self.project_conn.network.create_ip(floating_network_id=res["fip_network"].id, port_id=port_id,
                                                  description=f"{self.set_tag} server:{name}")
        return fip.floating_ip_address

    def attach_new_server(self, name: str, server_id: str, res: dict[str, Any]) -> str | None:
        """The floating IP of a server this run just built (no address yet): its first compute port's."""
        ports = [p for p in self.project_conn.network.ports(device_id=server_id)
                 if (p.device_owner or "").startswith("compute:")]
        return self.create_floating_ip(name, ports[0].id, res) if ports else None

    def attach_floating_ips(self, done: dict[str, dict], res: dict[str, Any]) -> dict[str, list[str]]:
        """One floating IP per ACTIVE server of the set that has none; floating addresses by server ID."""
        port_of_server, floating = self.neutron_floating()
        need = sorted(n for n, s in done.items() if s["id"] not in floating and s["id"] in port_of_server)

        def attach(name: str) -> tuple[str, str]:
            server_id = done[name]["id"]
            return server_id, self.create_floating_ip(name, port_of_server[server_id].id, res)

        if need:
            # 100 floating IPs took ~8 min on the lab (Neutron with OVN, 2 API workers): say how far it got.
            self.progress(f"attaching floating IPs to {len(need)} servers")
            with ThreadPoolExecutor(max_workers=self.params["api_workers"]) as pool:
                for done_count, (server_id, address) in enumerate(pool.map(attach, need), 1):
                    floating.setdefault(server_id, []).append(address)
                    if done_count % 10 == 0 and done_count < len(need):
                        self.progress(f"floating IPs: {done_count}/{len(need)} attached, {len(need) - done_count} left")
            self.progress(f"floating IPs attached to {len(need)} servers")
        return floating

    @staticmethod
    def record(name: str, srv: dict | None, build: Build, floating_ips: dict[str, list[str]] | None = None
               ) -> dict[str, Any]:
        fixed, floating = addresses(srv or {})
        server_id = (srv or {}).get("id") or build.server_id
        floating = sorted(set(floating) | set((floating_ips or {}).get(server_id, [])))
        return {
            "name": name,
            "id": server_id,
            "status": (srv or {}).get("status") or ("ERROR" if build.fault else "MISSING"),
            "host": (srv or {}).get("compute_host"),
            "fixed_ips": fixed,
            "floating_ips": floating,
            "attempts": build.attempts,
            "fault": fault_message(srv) or build.fault,
        }

    # ------------------------------------------------------------ absent
    def set_floating_ips(self) -> list[Any]:
        """The project's floating IPs this set created (their description starts with the set's tag)."""
        return [f for f in self.project_conn.network.ips(project_id=self.project_id())
                if (f.description or "").startswith(self.set_tag + " ")]

    def absent(self) -> dict[str, Any]:
        existing, dupes = self.list_set()
        ids = [s["id"] for s in existing.values()] + [i for lst in dupes.values() for i in lst]
        c = self.project_conn
        pid = self.project_id()
        fips = self.set_floating_ips()
        plan = {"delete": sorted(existing) + sorted(dupes), "floating_ips": [f.floating_ip_address for f in fips]}
        self.progress(f"set {self.set_tag}: {len(ids)} servers and {len(fips)} floating IPs to delete")
        if self.ansible.check_mode or (not ids and not fips):
            return {"changed": bool(ids or fips), "plan": plan, "servers": [], "freed": {},
                    "summary": summarize([], len(self.names), 0, 0, time.monotonic() - self.started)}
        self.delete_ids(ids)
        remaining = set(ids)
        deadline = self.started + self.params["timeout"]
        while remaining:
            if time.monotonic() > deadline:
                self.fail(f"timed out with {len(remaining)} servers still deleting: {sorted(remaining)}")
            time.sleep(self.params["poll_interval"])
            by_name, dupes = self.list_set()
            current = {srv["id"]: srv for srv in by_name.values()}
            current.update({i: {"id": i, "status": None} for ids in dupes.values() for i in ids})
            errored = [i for i in remaining if i in current and current[i].get("status") == "ERROR"]
            self.delete_ids(errored)  # a delete that failed leaves ERROR: ask again
            remaining = {i for i in remaining if i in current}
            self.progress(f"deleted {len(ids) - len(remaining)}/{len(ids)}, {len(remaining)} left")
        known = {f.id for f in fips}  # and any the set got while its servers were deleted
        fips += [f for f in self.set_floating_ips() if f.id not in known]
        gone = set(ids)
        ports = [port for port in c.network.ports(project_id=pid) if port.device_id in gone]
        # In parallel like the server deletes (one at a time, 100 floating IPs took ~36 s of the delete on the lab).
        with ThreadPoolExecutor(max_workers=self.params["api_workers"]) as pool:
            list(pool.map(lambda f: c.network.delete_ip(f, ignore_missing=True), fips))
            list(pool.map(lambda port: c.network.delete_port(port, ignore_missing=True), ports))
        freed_fips = [f.floating_ip_address for f in fips]
        freed_ports = [port.id for port in ports]
        summary = summarize([], len(self.names), 0, len(ids), time.monotonic() - self.started)
        self.progress(f"done: deleted {len(ids)} servers, {len(freed_fips)} floating IPs, {len(freed_ports)} ports")
        return {"changed": True, "plan": plan, "servers": [{"name": n, "id": s["id"], "status": "DELETED"}
                                                            for n, s in existing.items()],
                "freed": {"servers": ids, "floating_ips": freed_fips, "ports": freed_ports}, "summary": summary}

    def run(self) -> dict[str, Any]:
        result = self.present() if self.params["state"] == "present" else self.absent()
        result["progress"] = self.lines
        return result


def main() -> None:
    ServersModule().main()


if __name__ == "__main__":
    main()
