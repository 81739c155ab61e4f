#!/usr/bin/python
"""Enable, disable, drain or remove a compute host of the cloud."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rentstack_compute_host
short_description: Enable, disable, drain or remove a compute host
description:
  - C(enabled) / C(disabled) set the host's nova-compute service status (with a reason).
  - C(drained) makes sure no instance remains on the host. With I(migrate=false)
    it fails listing the instances; with I(migrate=true) it live-migrates ACTIVE
    instances (falling back to cold migration) and cold-migrates the others,
    confirming the resize, and waits until every instance runs elsewhere.
  - C(absent) deletes the host's compute service record and its resource provider.
  - Idempotent and check-mode aware; safe to re-run after a failure half-way.
options:
  timeout:
    description: Seconds to wait for migrations.
    type: int
    default: 900
  host:
    description: Compute host name (as nova-compute registered it).
    type: str
    required: true
  state:
    description: What to make true of the host.
    type: str
    choices: [enabled, disabled, drained, absent]
    required: true
  reason:
    description: Disabled reason (state=disabled).
    type: str
    default: maintenance
  migrate:
    description: With state=drained, move instances off instead of failing.
    type: bool
    default: false
  missing_ok:
    description:
      - With state=disabled, a host without a nova-compute service is not an error (nothing to do).
        remove_compute.yml sets it so a re-run after the service was deleted succeeds.
    type: bool
    default: false
author: rentstack (!UNKNOWN)
extends_documentation_fragment:
  - rentstack.cloud.cloud
"""

EXAMPLES = r"""
- name: Put cmp2 into maintenance
  rentstack_compute_host:
    host: cmp2
    state: disabled
    reason: "disk replacement, ticket 42"
- name: Move its VMs away
  rentstack_compute_host:
    host: cmp2
    state: drained
    migrate: true
"""

RETURN = r"""
service:
  description: The compute service record after the change (absent when deleted).
  returned: always
  type: dict
migrated:
  description: Instances moved off the host, with their new host.
  returned: when state=drained
  type: list
remaining:
  description: Instances still on the host (state=drained without migrate).
  returned: when state=drained
  type: list
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

try:  # from the checkout: ansible.cfg's module_utils = plugins/module_utils (docs/collection.md)
    from ansible.module_utils.rentstack_openstack import RentstackModule
except ImportError:  # from the installed collection rentstack.cloud
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_openstack import RentstackModule

SETTLED = {"ACTIVE", "SHUTOFF", "ERROR", "PAUSED", "SUSPENDED"}
# States Nova migrates from: live (ACTIVE, PAUSED) or cold (ACTIVE, SHUTOFF).
MOVABLE = {"ACTIVE", "PAUSED", "SHUTOFF"}


class ComputeHostModule(RentstackModule):
    argument_spec = {
        "timeout": {"type": "int", "default": 900},
        "host": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["enabled", "disabled", "drained", "absent"], "required": True},
        "reason": {"type": "str", "default": "maintenance"},
        "migrate": {"type": "bool", "default": False},
        "missing_ok": {"type": "bool", "default": False},
    }

    def service(self) -> Any:
        found = [s for s in self.conn.compute.services(binary="nova-compute") if s.host == self.params["host"]]
        return found[0] if found else None

    def servers_on_host(self) -> list[Any]:
        return [s for s in self.conn.compute.servers(details=True, all_projects=True, compute_host=self.params["host"])
                if s.compute_host == self.params["host"]]

    def set_status(self, svc: Any, enabled: bool) -> dict[str, Any]:
        if svc is None:
            if self.params["missing_ok"] and not enabled:
                return {"changed": False, "service": None}
            self.fail(f"no nova-compute service on host {self.params['host']}")
        want = "enabled" if enabled else "disabled"
        changed = svc.status != want or (not enabled and svc.disabled_reason != self.params["reason"])
        if changed and not self.check_mode:
            if enabled:
                svc = self.conn.compute.enable_service(svc, svc.host, svc.binary)
            else:
                svc = self.conn.compute.disable_service(svc, svc.host, svc.binary,
                                                        disabled_reason=self.params["reason"])
        return {"changed": changed, "service": svc.to_dict(computed=False)}

    def drain(self) -> dict[str, Any]:
        servers = self.servers_on_host()
        remaining = [{"name": s.name, "id": s.id, "status": s.status} for s in servers]
        if not servers:
            return {"changed": False, "migrated": [], "remaining": []}
        if not self.params["migrate"]:
            self.fail(f"{len(servers)} instances remain on {self.params['host']}: "
                      + ", ".join(f"{r['name']} ({r['status']})" for r in remaining[:20])
                      + ". Set migrate=true to move them off, or delete them.", remaining=remaining)
        stuck = [s for s in servers if s.status not in MOVABLE]
        if stuck:
            self.fail(f"{len(stuck)} instances on {self.params['host']} cannot be migrated in their state: "
                      + ", ".join(f"{s.name} {s.id} ({s.status})" for s in stuck[:20])
                      + ". Nova migrates ACTIVE, PAUSED and SHUTOFF instances only: delete them, or bring them to"
                      " one of those states, then run again. Nothing was migrated.", remaining=remaining)
        if self.check_mode:
            return {"changed": True, "migrated": [], "remaining": remaining}
        svc = self.service()
        if svc is not None and svc.status != "disabled":
            self.set_status(svc, enabled=False)
        moved: dict[str, str] = {}
        # A pass moves what is on the host now; anything that landed meanwhile (a build scheduled before
        # the service was disabled) is caught by the next pass.
        for _try in range(3):
            for srv in servers:
                moved[srv.id] = self.start_migration(srv)
            final = self.wait_migrated(moved)
            servers = self.servers_on_host()
            if not servers:
                break
        else:
            self.fail(f"instances keep arriving on {self.params['host']}: "
                      + ", ".join(f"{s.name} {s.id}" for s in servers[:20]))
        migrated = [{"name": final[i].name, "id": i, "how": how, "host": final[i].compute_host,
                     "status": final[i].status} for i, how in moved.items() if i in final]
        return {"changed": True, "migrated": migrated, "remaining": []}

    def start_migration(self, srv: Any) -> str:
        """Live-migrate ACTIVE/PAUSED instances (scheduler picks the host), cold-migrate SHUTOFF ones."""
        if srv.status in ("ACTIVE", "PAUSED"):
            try:
                self.conn.compute.live_migrate_server(srv, host=None, block_migration="auto")
                return "live"
            except Exception as exc:  # noqa: BLE001 - fall back to a cold migration
                if srv.status == "PAUSED":
                    self.fail(f"live migration of paused {srv.name} refused ({exc}); unpause it and run again")
                self.log(f"live migration of {srv.name} refused ({exc}); migrating cold")
        self.conn.compute.migrate_server(srv)
        return "cold"

    def wait_migrated(self, moved: dict[str, str]) -> dict[str, Any]:
        """Poll one server listing until every moved instance is settled on another host; return them by ID.

        Nova sets the task state synchronously when it accepts a migration, so an instance back to no
        task state on this host means the migration ended without moving it (rolled back): a live one
        is retried cold, a cold one fails with Nova's fault.
        """
        host = self.params["host"]
        confirmed: set[str] = set()
        deadline = time.monotonic() + self.params["timeout"]
        while True:
            pending = []
            seen = {srv.id: srv for srv in self.conn.compute.servers(details=True, all_projects=True)
                    if srv.id in moved}
            for srv in seen.values():
                fault = (srv.fault or {}).get("message")
                if srv.status == "VERIFY_RESIZE":
                    if srv.id not in confirmed:
                        self.conn.compute.confirm_server_resize(srv)
                        confirmed.add(srv.id)
                    pending.append(srv.id)
                elif srv.status == "ERROR":
                    self.fail(f"migrating {srv.name} {srv.id} off {host} failed, it is in ERROR on "
                              f"{srv.compute_host}: {fault}")
                elif srv.status not in SETTLED or srv.task_state:
                    pending.append(srv.id)
                elif srv.compute_host == host:
                    if moved[srv.id] != "live":
                        self.fail(f"cold migration of {srv.name} {srv.id} ended with it still on {host}: "
                                  f"{fault or 'no other host accepted it (nova-scheduler log)'}")
                    self.log(f"live migration of {srv.name} rolled back ({fault}); migrating cold")
                    self.conn.compute.migrate_server(srv)
                    moved[srv.id] = "cold"
                    pending.append(srv.id)
            if not pending:
                return seen
            if time.monotonic() > deadline:
                self.fail(f"timed out with {len(pending)} instances still migrating off {host}: "
                          + ", ".join(pending[:20]))
            self.log(f"migrating off {host}: {len(moved) - len(pending)} done, {len(pending)} left")
            time.sleep(5)

    def absent(self) -> dict[str, Any]:
        svc = self.service()
        rps = [r for r in self.conn.placement.resource_providers() if r.name.split(".")[0] == self.params["host"]]
        if svc is None and not rps:
            return {"changed": False, "service": None}
        if self.servers_on_host():
            self.fail(f"instances remain on {self.params['host']}; drain it first (state=drained, migrate=true)")
        if not self.check_mode:
            if svc is not None:
                self.delete_service(svc)
            for rp in rps:
                self.conn.placement.delete_resource_provider(rp, ignore_missing=True)
        return {"changed": True, "service": None}

    def delete_service(self, svc: Any) -> None:
        """Delete the service record; Nova refuses (409) while its DB still counts instances on the host.

        Nova counts every non-deleted instance row whose host is this one, which can include instances
        the server listing above did not show yet (a migration finishing). Retry for a minute, then
        fail naming what the API lists on the host.
        """
        from openstack import exceptions

        deadline = time.monotonic() + 60
        while True:
            try:
                self.conn.compute.delete_service(svc, ignore_missing=True)
                return
            except exceptions.ConflictException as exc:
                if time.monotonic() > deadline:
                    listed = ", ".join(f"{s.name} {s.id} ({s.status}/{s.task_state})"
                                       for s in self.servers_on_host()) or "none listed by the API"
                    self.fail(f"Nova refuses to delete the compute service of {self.params['host']}: {exc}. "
                              f"Instances on the host: {listed}. Migrate or delete them "
                              "(state=drained, migrate=true), then run again.")
                time.sleep(5)

    def run(self) -> dict[str, Any]:
        state = self.params["state"]
        if state in ("enabled", "disabled"):
            return self.set_status(self.service(), enabled=state == "enabled")
        if state == "drained":
            return self.drain()
        return self.absent()


def main() -> None:
    ComputeHostModule().main()


if __name__ == "__main__":
    main()
