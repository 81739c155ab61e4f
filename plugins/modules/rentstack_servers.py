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
    requests without a blocking wait per server (with I(multi_create), one
    Nova multi-create request for each run of consecutive names of a
    C(prefix) set, so Nova schedules them together), follows every server with
    one server listing per poll (only the servers changed since the previous
    poll, with C(changes-since); a full listing every I(full_list_every)
    polls), and deletes and rebuilds servers that end in ERROR, vanish, or
    stay in BUILD longer than I(stuck_timeout), up to I(max_attempts) builds.
  - Faults are results. Answers 5xx, 408 and 429, connection resets,
    timeouts and an expired token (401, after which it authenticates again)
    are retried up to I(api_retries) times with backoff and jitter. A create
    whose answer was lost is followed by a lookup of the name before any
    retry, so it never makes a second server. The result lists every server
    of the set with its status and fault even when the run fails.
  - Self-healing, before and after the builds. A server listing that answers
    500 at the negotiated compute microversion is made again at 2.95 (Nova 31
    fails every 2.96+ listing while an ERROR server has no request spec); the
    set's ERROR servers are then deleted and built again. Servers of the set
    listed as DELETED are deleted again.
  - Safe under concurrent runs of the same request. Every run keeps, for each
    name, the oldest live server (by Nova's created_at, then ID) and deletes
    the others, after every poll and at the end, so runs started together end
    with one server per name. A run that follows a server another run is
    building says so with that run's identity (host:pid:start, in the
    server's C(rentstack_run) metadata). See docs/architecture.md.
  - With I(floating_ip), each server this run builds gets its floating IP as
    soon as it is ACTIVE, while the others still build; a last pass lists
    Neutron and gives one to every ACTIVE server of the set still without one
    (servers kept from an earlier run, or an early attach that failed).
  - Deletion removes every server of the set (ERROR ones included), waits
    until they are gone, then deletes the floating IPs of those servers
    (attached to their ports, or made by this module for their names) and
    any port left behind. A delete of part of a set (a smaller I(count), or
    I(names)) frees only what belongs to the servers it deletes.
  - Progress is written to I(progress_file) (the rentstack_servers action
    plugin shows it live) and returned in C(progress).
  - When the ansible-playbook run that started it is killed (an AWX job
    cancelled, a C(kill) of ansible-playbook), the module sends no more
    create requests and stops; servers already requested stay and belong to
    the set, so a rerun finishes the set and vms_delete.yml removes it.
options:
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
  api_workers:
    description: Parallel API requests when issuing creates and deletes.
    type: int
    default: 8
  check_capacity:
    description: Check free Placement capacity before creating.
    type: bool
    default: true
  multi_create:
    description:
      - Create consecutive names of a I(prefix) set that are first built (no
        earlier attempt) with one Nova multi-create request
        (C(min_count)=C(max_count)) per run of names, at most I(concurrency)
        long. That is one API request and one scheduling pass for up to
        I(concurrency) servers, where single creates cost one each
        (bench/bulk_compare.py measures the difference).
      - Nova names the servers of such a request C(<name>-1) ..
        C(<name>-<n>); the request is named C(<prefix>-<first>-<last>) and
        stamps C(rentstack_multi_name)/C(rentstack_multi_first) in the
        servers' metadata, so every run sees them under their set names, and
        this run renames them (name and, from compute microversion 2.90, the
        hostname) as soon as they are listed.
      - A refused request (quota taken by a concurrent run, any error) is
        not retried as a multi-create; its names are created one by one.
        Rebuilds are always single creates. Ignored with I(names).
    type: bool
    default: true
author: rentstack (!UNKNOWN)
extends_documentation_fragment:
  - rentstack.cloud.cloud
  - rentstack.cloud.engine
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
    status: {description: "Final status (ACTIVE, ERROR, DELETED, ...).", type: str}
    host: {description: Compute host., type: str}
    fixed_ips: {description: Fixed addresses., type: list}
    floating_ips: {description: Floating addresses., type: list}
    attempts: {description: Builds made by this run., type: int}
    fault: {description: Nova's fault message of the last failed build (or the API's answer)., type: str}
    run: {description: Identity of the run that created the server (host:pid:start)., type: str}
healed:
  description: Broken servers of the set this run deleted (name, id, status, reason), before or after its work.
  returned: always
  type: list
  elements: dict
waited_for:
  description: Identities of other runs whose servers this run followed instead of creating its own.
  returned: when state=present
  type: list
  elements: str
api_faults:
  description: Transient faults met and retried (the request and the answer).
  returned: always
  type: list
  elements: str
listing_fallback:
  description: True when server listings failed at the negotiated microversion and were made at 2.95.
  returned: always
  type: bool
summary:
  description: requested, active, failed, created, deleted, elapsed_seconds; and C(error) when the run stopped on a fault.
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

try:  # from the checkout: ansible.cfg's module_utils = plugins/module_utils (docs/collection.md)
    from ansible.module_utils.rentstack_bulk import (MULTI_FIRST_KEY, MULTI_NAME_KEY, Build, addresses, fault_message, heal_reason,
                                                     multi_batches, multi_request_name, next_action, plan_present, summarize)
    from ansible.module_utils.rentstack_engine import BulkLoop, describe, http_status
    from ansible.module_utils.rentstack_openstack import ServerSetModule
except ImportError:  # from the installed collection rentstack.cloud
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_bulk import (MULTI_FIRST_KEY, MULTI_NAME_KEY, Build, addresses,
                                                                                         fault_message, heal_reason, multi_batches,
                                                                                         multi_request_name, next_action, plan_present,
                                                                                         summarize)
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_engine import BulkLoop, describe, http_status
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_openstack import ServerSetModule

# Seconds before a server listed under its multi-create name is renamed again (the first rename raced Nova).
RENAME_AGAIN_SECONDS = 30


class CreateJob:
    """The creates of one state=present run, driven by rentstack_engine.BulkLoop."""

    def __init__(self, module: "ServersModule", res: dict[str, Any], builds: dict[str, Build]) -> None:
        self.m, self.res, self.builds = module, res, builds
        self.created = 0
        self.rebuilt = 0
        self.done: dict[str, dict] = {}
        self.unsure: set[str] = set()  # names whose last create raised: look them up before creating again
        self.fip_jobs: dict[str, Future] = {}
        self.pool = ThreadPoolExecutor(max_workers=module.params["api_workers"])
        self.fip_pool = ThreadPoolExecutor(max_workers=module.params["api_workers"]) \
            if module.params["floating_ip"] else None

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        if self.fip_pool is not None:
            self.fip_pool.shutdown(wait=True)

    def _create(self, name: str) -> str:
        if name in self.unsure:
            found = self.m.lookup(name)
            if found is not None:
                self.m.progress(f"{name}: its earlier create reached Nova after all: following {found['id']}")
                return found["id"]
        return self.m.create_request(name, self.res)

    def launch_multi(self, names: list[str]) -> dict[str, str]:
        """Runs of consecutive names built for the first time, each one multi-create request; {} for the names
        left to single creates. After a refused request no more are tried in this run."""
        out: dict[str, str] = {}
        fresh = [n for n in names if self.builds[n].attempts == 0 and n not in self.unsure]
        for batch in multi_batches(fresh, self.m.names):
            if len(batch) < 2 or not self.m.multi_ok:
                continue
            try:
                self.m.create_multi(batch, self.res)
            except Exception as exc:  # noqa: BLE001 - the names are created one by one instead
                self.m.multi_ok = False
                self.m.progress(f"multi-create of {batch[0]} .. {batch[-1]} refused ({describe(exc)}): "
                                "creating the set's servers one by one")
                continue
            self.m.progress(f"requested {batch[0]} .. {batch[-1]} ({len(batch)} servers) in one multi-create")
            for name in batch:
                b = self.builds[name]
                b.attempts += 1
                b.seen_building = b.server_id = None  # found by name in the next (full) listing
                out[name] = "flight"
            self.created += len(batch)
        return out

    def launch(self, names: list[str]) -> dict[str, str]:
        out = self.launch_multi(names) if self.m.multi_ok else {}
        futures = {name: self.pool.submit(self._create, name) for name in names if name not in out}
        for name, fut in futures.items():
            b = self.builds[name]
            b.attempts += 1
            b.seen_building = None
            try:
                b.server_id = fut.result()
                self.unsure.discard(name)
                self.created += 1
                out[name] = "flight"
            except Exception as exc:  # noqa: BLE001 - report the API's answer per server
                self.unsure.add(name)
                b.fault = describe(exc)
                out[name] = "retry" if b.attempts < self.m.params["max_attempts"] else "failed"
        return out

    def settle(self, names: list[str]) -> dict[str, str]:
        expect = {n: self.builds[n].server_id for n in names if self.builds[n].server_id}
        # A multi-create's servers are not known by ID yet: a full listing finds them by name.
        current, extra = self.m.list_set(poll=True, expect=expect, full=len(expect) < len(names))
        self.m.heal(extra)
        self.m.rename_pending(pool=self.pool)
        now = time.monotonic()
        decisions: dict[str, str] = {}
        retry_ids = []
        for name in names:
            b = self.builds[name]
            srv = current.get(name)
            if srv is not None and srv["id"] != b.server_id:
                self.m.follow(name, b, srv)
            status = srv.get("status") if srv else None
            if status == "BUILD" and b.seen_building is None:
                b.seen_building = now
            age = now - b.seen_building if status == "BUILD" and b.seen_building is not None else None
            reason = heal_reason(srv, self.m.lister.listing_bug, age, self.m.params["stuck_timeout"]) if srv else None
            action = next_action(b, status, self.m.params["max_attempts"], stuck=bool(reason) and status == "BUILD")
            decisions[name] = {"active": "done", "wait": "wait"}.get(action, action)
            if action == "wait":
                continue
            if action == "active":
                self.done[name] = srv
                if self.fip_pool is not None and srv.get("metadata", {}).get("rentstack_run", self.m.run_id) \
                        == self.m.run_id:
                    self.fip_jobs[name] = self.fip_pool.submit(self.m.attach_new_server, name, srv["id"], self.res)
                continue
            b.fault = (reason if status == "BUILD" else None) or fault_message(srv) or b.fault \
                or ("vanished while building" if status is None else f"status {status}")
            if srv is not None:
                retry_ids.append(srv["id"])
                self.m.healed.append({"name": name, "id": srv["id"], "status": status, "reason": reason or b.fault})
        self.m.delete_ids(retry_ids)
        self.rebuilt += len(retry_ids)
        return decisions

    def line(self, counts: dict[str, int]) -> str:
        fips = (f", floating IPs {sum(f.done() for f in self.fip_jobs.values())}/{len(self.fip_jobs)}"
                if self.fip_pool is not None else "")
        return (f"active {len(self.done) + self.m.kept}/{len(self.m.names)}, building {counts['in_flight']}, "
                f"queued {counts['queued']}, failed {counts['failed']}, retried {counts['retried']}" + fips)

    def sent(self, queued: int, in_flight: int) -> str:
        return f"{self.created} servers requested, {queued} not yet, {in_flight} servers still building"


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
        "check_capacity": {"type": "bool", "default": True},
        "multi_create": {"type": "bool", "default": True},
    }
    module_kwargs = {"required_if": [("floating_ip", True, ("floating_network",))]}
    positive_options = ServerSetModule.positive_options + ("api_workers",)

    def find_one(self, kind: str, finder: Any, value: str) -> Any:
        try:
            found = self.retry.call(lambda: finder(value, ignore_missing=True), f"finding {kind} {value}")
        except Exception as exc:  # noqa: BLE001 - DuplicateResource and friends
            self.fail(f"{kind} '{value}' is ambiguous or cannot be read: {describe(exc)}. Use the ID.")
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

    # ------------------------------------------------------------ present
    def create_attrs(self, name: str, res: dict[str, Any], **metadata: str) -> dict[str, Any]:
        """The body of a create request (one server, or a multi-create with min/max_count added)."""
        p = self.params
        attrs: dict[str, Any] = {
            "name": name,
            "flavor_id": res["flavor"].id,
            "image_id": res["image"].id,
            "networks": [{"uuid": n.id} for n in res["networks"]] or "auto",
            "metadata": dict(p["metadata"], rentstack_set=self.set_tag, rentstack_run=self.run_id, **metadata),
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
        return attrs

    def create_request(self, name: str, res: dict[str, Any]) -> str:
        """One create, retried on transient faults; before each retry the name is looked up, so a create whose
        answer was lost (it may have reached Nova) is followed, not sent again."""
        attrs = self.create_attrs(name, res)
        found = self.retry.call(lambda: {"id": self.project_conn.compute.create_server(**attrs).id},
                                f"creating {name}", before_retry=lambda: self.lookup(name))
        return found["id"]

    def create_multi(self, names: list[str], res: dict[str, Any]) -> None:
        """One Nova multi-create for consecutive names of the set, retried on transient faults; before each retry
        the set is listed for this request's servers, so a request whose answer was lost is not sent twice."""
        first = self.names.index(names[0]) + 1
        base = multi_request_name(self.params["prefix"], first, first + len(names) - 1, self.name_digits)
        attrs = self.create_attrs(base, res, **{MULTI_NAME_KEY: base, MULTI_FIRST_KEY: str(first)})
        attrs.update(min_count=len(names), max_count=len(names))

        def landed() -> bool | None:
            mine = [s for s in self.lister.list() if (s.get("metadata") or {}).get(MULTI_NAME_KEY) == base
                    and s["metadata"].get("rentstack_run") == self.run_id]
            return True if mine else None

        self.retry.call(lambda: bool(self.project_conn.compute.create_server(**attrs)),
                        f"creating {names[0]} .. {names[-1]} (multi-create)", before_retry=landed)

    def rename_pending(self, now_or_never: bool = False, pool: ThreadPoolExecutor | None = None) -> None:
        """Give the set's servers that still carry their multi-create names the set's names (and hostnames), at
        most once per RENAME_AGAIN_SECONDS each: a rename that raced Nova's scheduling (it updates the build
        request the conductor may already have read) shows in a later listing and is made again. The run's last
        pass (now_or_never) renames whatever its final listing still shows under a Nova name. With `pool` (the
        build loop's) the renames are queued there and not waited for: a poll does not wait on them."""
        now = time.monotonic()
        wait = 0 if now_or_never else RENAME_AGAIN_SECONDS
        todo = sorted((sid, name, host) for sid, (name, host) in self.renames.items()
                      if sid not in self.deleting and now - self.renamed_at.get(sid, -wait) >= wait)
        if not todo:
            return
        for sid, _name, _host in todo:
            self.renamed_at[sid] = now

        def rename(item: tuple[str, str, str | None]) -> bool:
            sid, name, host = item
            while True:
                attrs = {"name": name, **({"hostname": host} if host and self.rename_hostnames else {})}
                try:
                    self.retry.call(lambda a=attrs: self.project_conn.compute.update_server(sid, **a), f"renaming {name}")
                    return True
                except Exception as exc:  # noqa: BLE001 - a rename that fails is made again after a later listing
                    if "hostname" in attrs and http_status(exc) == 400:
                        if self.rename_hostnames:  # a cloud before compute microversion 2.90: the name only
                            self.rename_hostnames = False
                            self.progress(f"renaming {name}: the cloud refuses hostname updates ({describe(exc)}); "
                                          "renaming servers only")
                        continue
                    if http_status(exc) != 404:  # 404: deleted meanwhile
                        self.progress(f"renaming {name}: {describe(exc)}; tried again after a later listing")
                    return False

        if pool is not None:
            for item in todo:
                pool.submit(rename, item)
            self.progress(f"renaming {len(todo)} servers from their multi-create names to the set's")
            return
        with ThreadPoolExecutor(max_workers=self.params["api_workers"]) as own:
            renamed = sum(own.map(rename, todo))
        self.progress(f"renamed {renamed} of {len(todo)} servers from their multi-create names to the set's")

    def delete_ids(self, ids: list[str]) -> None:
        ids = [i for i in ids if i not in self.deleting]
        self.deleting.update(ids)
        self.delete_servers(ids, self.params["api_workers"])

    def heal(self, extra: list[dict]) -> None:
        """Delete the extra servers of the set (duplicates of a name by reconcile()'s rule, servers listed as
        DELETED), saying which and why. A server already being deleted is left to finish."""
        todo = [s for s in extra if s["id"] not in self.deleting and s.get("task_state") != "deleting"]
        for srv in todo:
            reason = heal_reason(srv) if srv.get("status") in ("DELETED", "SOFT_DELETED") else \
                f"duplicate of {srv['name']}: an older server keeps the name"
            run = (srv.get("metadata") or {}).get("rentstack_run")
            self.healed.append({"name": srv["name"], "id": srv["id"], "status": srv.get("status"), "reason": reason,
                                "run": run})
            self.progress(f"healing: deleting {srv['name']} {srv['id']} ({reason})"
                          + (f", made by run {run}" if run and run != self.run_id else ""))
        self.delete_ids([s["id"] for s in todo])

    def follow(self, name: str, build: Build, srv: dict) -> None:
        """The set's server of `name` is not the one this run built (an older one of a concurrent run keeps the
        name, or a lost create reached Nova): follow it, and say whose it is."""
        run = (srv.get("metadata") or {}).get("rentstack_run")
        if run and run != self.run_id:
            self.waited_for.add(run)
            self.progress(f"{name}: following server {srv['id']} of run {run} (older than this run's "
                          f"{build.server_id or 'request'}); waiting for that run's build")
        build.server_id = srv["id"]
        build.seen_building = None

    def present(self) -> dict[str, Any]:
        existing, extra = self.list_set(poll=True)
        plan = plan_present(self.names, existing)
        todo = plan.create + plan.replace
        self.kept = len(plan.keep)
        result_plan = {"create": plan.create, "replace": plan.replace, "keep": plan.keep, "wait": plan.wait,
                       "delete": [s["id"] for s in extra]}
        self.progress(f"set {self.set_tag}: {len(self.names)} servers, {len(plan.keep)} ready, "
                      f"{len(plan.create)} to create, {len(plan.replace)} in ERROR to rebuild, {len(plan.wait)} building"
                      + (f", {len(extra)} extra to delete" if extra else ""))
        if self.renames and not self.ansible.check_mode:
            self.rename_pending()  # left by an earlier run that stopped before its renames
        for name in plan.wait:
            run = (existing[name].get("metadata") or {}).get("rentstack_run")
            if run and run != self.run_id:
                self.waited_for.add(run)
        for run in sorted(self.waited_for):
            names = [n for n in plan.wait if (existing[n].get("metadata") or {}).get("rentstack_run") == run]
            self.progress(f"waiting for run {run}: it is building {len(names)} servers of this set "
                          f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})")
        res = self.resolve()
        self.check_fit(res["flavor"], len(plan.create), len(res["networks"]), self.params["floating_ip"])
        if self.ansible.check_mode:
            records = [self.record(n, existing.get(n), Build(n)) for n in self.names]
            return {"changed": bool(todo or extra), "plan": result_plan, "servers": records,
                    "summary": summarize(records, len(self.names), 0, 0, time.monotonic() - self.started)}

        builds = {n: Build(n) for n in self.names}
        for n in plan.wait:
            builds[n].server_id = existing[n]["id"]
        self.heal(extra)
        for n in plan.replace:  # the broken server is this name's first attempt
            srv = existing[n]
            builds[n].attempts, builds[n].fault = 1, fault_message(srv) or "ERROR"
            self.healed.append({"name": n, "id": srv["id"], "status": srv.get("status"),
                                "reason": heal_reason(srv, self.lister.listing_bug)})
        self.delete_ids([existing[n]["id"] for n in plan.replace])
        job = CreateJob(self, res, builds)
        job.rebuilt = len(plan.replace)
        loop = BulkLoop(self.loop_limits(), self.started + self.params["timeout"], self.progress,
                        self.stop_if_abandoned)
        error = None
        try:
            outcome = loop.run(job, [n for n in todo if builds[n].attempts < self.params["max_attempts"]],
                               set(plan.wait))
            if outcome.timed_out:
                error = f"timed out after {self.params['timeout']}s with {len(outcome.left)} servers not ACTIVE"
        except Exception as exc:  # noqa: BLE001 - a fault is a result: every server is still reported below
            error = f"stopped on {describe(exc)}"
            self.progress(error)
        finally:
            job.close()
        for name, fip_job in sorted(job.fip_jobs.items()):
            fip_error = fip_job.exception()
            if fip_error is not None:  # the pass below lists Neutron and tries once more
                self.progress(f"floating IP for {name} failed: {fip_error}")
        return self.finish_present(result_plan, builds, job, res, error, bool(plan.replace or extra))

    def finish_present(self, result_plan: dict[str, Any], builds: dict[str, Build], job: CreateJob,
                       res: dict[str, Any], error: str | None, healed_before: bool) -> dict[str, Any]:
        """After the builds: heal again (duplicates a concurrent run made after the last poll), attach the
        missing floating IPs, and report every server of the set, also when the run failed."""
        floating: dict[str, list[str]] = {}
        try:
            final, extra = self.list_set()
            self.heal(extra)
            self.rename_pending(now_or_never=True)
            if self.lister.listing_bug:
                self.lister.reprobe()
            if self.params["floating_ip"]:
                floating = self.attach_floating_ips({n: s for n, s in final.items() if s.get("status") == "ACTIVE"},
                                                    res)
        except Exception as exc:  # noqa: BLE001 - report what is known rather than a traceback
            error = error or f"stopped on {describe(exc)}"
            final = {s["name"]: s for s in self.lister.known.values() if s.get("name") in builds}
        records = [self.record(n, final.get(n), builds[n], floating) for n in self.names]
        summary = summarize(records, len(self.names), job.created, job.rebuilt, time.monotonic() - self.started)
        self.progress(f"done: {summary['active']}/{len(self.names)} active, {summary['failed']} failed, "
                      f"{job.created} servers requested in {summary['elapsed_seconds']}s")
        result = {"changed": job.created > 0 or healed_before or bool(self.healed), "plan": result_plan,
                  "servers": records, "summary": summary, "healed": self.healed,
                  "waited_for": sorted(self.waited_for)}
        if summary["failed"] or error:
            if error:
                summary["error"] = error
            bad = [f"{r['name']}: {r['fault'] or r['status']}" for r in records if r["status"] != "ACTIVE"][:10]
            self.ansible.fail_json(msg=f"{summary['failed']} of {len(self.names)} servers are not ACTIVE"
                                       + (f" ({error})" if error else "") + (": " + "; ".join(bad) if bad else ""),
                                   **result, **self.engine_facts(), progress=self.lines)
        return result

    def engine_facts(self) -> dict[str, Any]:
        return {"api_faults": self.retry.faults, "listing_fallback": self.lister.fell_back}

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
        for port in self.retry.call(lambda: list(c.network.ports(project_id=pid)), "listing ports"):
            if (port.device_owner or "").startswith("compute:"):
                port_of_server.setdefault(port.device_id, port)
                server_of_port[port.id] = port.device_id
        floating: dict[str, list[str]] = {}
        for fip in self.retry.call(lambda: list(c.network.ips(project_id=pid)), "listing floating IPs"):
            if fip.port_id in server_of_port:
                floating.setdefault(server_of_port[fip.port_id], []).append(fip.floating_ip_address)
        return port_of_server, floating

    def create_floating_ip(self, name: str, port_id: str, res: dict[str, Any]) -> str:
        """A floating IP on the port, described with the set's tag and the server name (what delete looks for).
        Before a retry the port's floating IPs are listed: a create whose answer was lost is not made twice."""
        net = self.project_conn.network

        def existing() -> str | None:
            found = [f.floating_ip_address for f in net.ips(port_id=port_id)]
            return found[0] if found else None

        try:
            return self.retry.call(lambda: net.create_ip(floating_network_id=res["fip_network"].id, port_id=port_id,
                                                         description=f"{self.set_tag} server:{name}").floating_ip_address,
                                   f"floating IP for {name}", before_retry=existing)
        except Exception as exc:
            # 409 "that fixed IP already has a floating IP": a concurrent run of the same request attached one
            # between this run's listing and its create (seen on the lab with three runs at once). Neutron made
            # nothing for the refused create (allocation and association are one transaction), so the
            # server's floating IP is the other run's: take it, release nothing.
            if http_status(exc) != 409:
                raise
            address = self.retry.call(existing, f"floating IPs of {name}'s port")
            if address is None:
                raise
            self.progress(f"floating IP for {name}: a concurrent run attached {address}; kept it")
            return address

    def attach_new_server(self, name: str, server_id: str, res: dict[str, Any]) -> str | None:
        """The floating IP of a server this run just built (no address yet): its first compute port's."""
        ports = [p for p in self.retry.call(lambda: list(self.project_conn.network.ports(device_id=server_id)),
                                            f"ports of {name}")
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
            "run": ((srv or {}).get("metadata") or {}).get("rentstack_run"),
        }

    # ------------------------------------------------------------ absent
    def set_floating_ips(self, server_ports: set[str]) -> list[Any]:
        """The floating IPs of the servers this delete removes: those on their ports, and those this module made
        for their names (description '<set tag> server:<name>'), never the rest of the set's."""
        mine = {f"{self.set_tag} server:{n}" for n in self.names}
        ips = self.retry.call(lambda: list(self.project_conn.network.ips(project_id=self.project_id())),
                              "listing floating IPs")
        return [f for f in ips if f.port_id in server_ports or (f.description or "") in mine]

    def absent(self) -> dict[str, Any]:
        existing, extra = self.list_set()
        servers = list(existing.values()) + extra
        ids = [s["id"] for s in servers]
        c = self.project_conn
        pid = self.project_id()
        ports = [p for p in self.retry.call(lambda: list(c.network.ports(project_id=pid)), "listing ports")
                 if p.device_id in set(ids)]
        fips = self.set_floating_ips({p.id for p in ports})
        plan = {"delete": sorted({s["name"] for s in servers}), "floating_ips": [f.floating_ip_address for f in fips]}
        self.progress(f"set {self.set_tag}: {len(ids)} servers and {len(fips)} floating IPs to delete")
        if self.ansible.check_mode or (not ids and not fips):
            return {"changed": bool(ids or fips), "plan": plan, "servers": [], "freed": {},
                    "summary": summarize([], len(self.names), 0, 0, time.monotonic() - self.started)}
        self.delete_ids(ids)
        remaining = set(ids)
        deadline = self.started + self.params["timeout"]
        while remaining:
            if time.monotonic() > deadline:
                self.fail(f"timed out with {len(remaining)} servers still deleting: {sorted(remaining)}",
                          servers=[{"id": i, "status": "DELETING"} for i in sorted(remaining)])
            time.sleep(self.params["poll_interval"])
            current = {s["id"]: s for s in self.lister.poll() if s.get("status") not in ("DELETED", "SOFT_DELETED")}
            errored = [i for i in remaining if current.get(i, {}).get("status") == "ERROR"
                       and current[i].get("task_state") != "deleting"]
            self.deleting.difference_update(errored)
            self.delete_ids(errored)  # a delete that failed leaves ERROR: ask again
            remaining = {i for i in remaining if i in current}
            if not remaining:
                # Nova shows a server as DELETED (vm_state) before its row is destroyed, and a changes-since
                # poll reports it DELETED then; it is gone only when a full listing no longer has it (seen
                # on the lab: the set's servers still listed right after the module said they were deleted).
                remaining = set(ids) & {s["id"] for s in self.lister.list()}
            self.progress(f"deleted {len(ids) - len(remaining)}/{len(ids)}, {len(remaining)} left")
        known = {f.id for f in fips}  # and any these servers got while they were deleted
        fips += [f for f in self.set_floating_ips({p.id for p in ports}) if f.id not in known]
        gone = set(ids)
        ports = [port for port in self.retry.call(lambda: list(c.network.ports(project_id=pid)), "listing ports")
                 if port.device_id in gone]
        # In parallel like the server deletes (one at a time, 100 floating IPs took ~36 s of the delete on the lab).
        with ThreadPoolExecutor(max_workers=self.params["api_workers"]) as pool:
            list(pool.map(lambda f: self.retry.call(lambda: c.network.delete_ip(f, ignore_missing=True),
                                                    f"deleting floating IP {f.floating_ip_address}"), fips))
            list(pool.map(lambda port: self.retry.call(lambda: c.network.delete_port(port, ignore_missing=True),
                                                       f"deleting port {port.id}"), ports))
        freed_fips = [f.floating_ip_address for f in fips]
        freed_ports = [port.id for port in ports]
        summary = summarize([], len(self.names), 0, len(ids), time.monotonic() - self.started)
        self.progress(f"done: deleted {len(ids)} servers, {len(freed_fips)} floating IPs, {len(freed_ports)} ports")
        deleted = [{"name": s["name"], "id": s["id"], "status": "DELETED"} for s in servers]
        return {"changed": True, "plan": plan, "servers": deleted,
                "freed": {"servers": ids, "floating_ips": freed_fips, "ports": freed_ports}, "summary": summary}

    def run(self) -> dict[str, Any]:
        self.healed: list[dict[str, Any]] = []
        self.waited_for: set[str] = set()
        self.deleting: set[str] = set()
        self.kept = 0
        self.renamed_at: dict[str, float] = {}
        self.rename_hostnames = True
        self.multi_ok = bool(self.params["multi_create"] and self.params["prefix"])
        result = self.present() if self.params["state"] == "present" else self.absent()
        result.setdefault("healed", self.healed)
        result.update(self.engine_facts())
        result["progress"] = self.lines
        return result


def main() -> None:
    ServersModule().main()


if __name__ == "__main__":
    main()
