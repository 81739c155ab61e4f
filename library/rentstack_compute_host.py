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
  cloud:
    description: clouds.yaml entry (admin).
    type: str
    default: rentstack
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
requirements: [openstacksdk]
author: rentstack
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

from ansible.module_utils.rentstack_openstack import RentstackModule  # noqa: E402

SETTLED = {"ACTIVE", "SHUTOFF", "ERROR", "PAUSED", "SUSPENDED"}


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
        return [s for s in self.conn.compute.servers(details=True, all_projects=True, host=self.params["host"])
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
        if self.check_mode:
            return {"changed": True, "migrated": [], "remaining": remaining}
        svc = self.service()
        if svc is not None and svc.status != "disabled":
            self.set_status(svc, enabled=False)
        moved: dict[str, str] = {}
        for s in servers:
            if s.status == "ACTIVE":
                try:
                    self.conn.compute.live_migrate_server(s, host=None, block_migration="auto")
                    moved[s.id] = "live"
                    continue
                except Exception as exc:  # noqa: BLE001 - fall back to a cold migration
                    self.log(f"live migration of {s.name} refused ({exc}); migrating cold")
            self.conn.compute.migrate_server(s)
            moved[s.id] = "cold"
        deadline = time.monotonic() + self.params["timeout"]
        while True:
            pending = []
            for s in self.conn.compute.servers(details=True, all_projects=True):
                if s.id not in moved:
                    continue
                if s.status == "VERIFY_RESIZE":
                    self.conn.compute.confirm_server_resize(s)
                    pending.append(s.id)
                elif s.status not in SETTLED or s.task_state or s.compute_host == self.params["host"]:
                    if s.status == "ERROR" and s.compute_host == self.params["host"]:
                        self.fail(f"migrating {s.name} failed: {(s.fault or {}).get('message')}")
                    if s.status == "ACTIVE" and not s.task_state and s.compute_host == self.params["host"] \
                            and moved[s.id] == "live":
                        # Live migration ended without moving it (rolled back): go cold.
                        self.conn.compute.migrate_server(s)
                        moved[s.id] = "cold"
                    pending.append(s.id)
            if not pending:
                break
            if time.monotonic() > deadline:
                self.fail(f"timed out with {len(pending)} instances still migrating off {self.params['host']}")
            time.sleep(5)
        final = {s.id: s for s in self.conn.compute.servers(details=True, all_projects=True) if s.id in moved}
        migrated = [{"name": final[i].name, "id": i, "how": how, "host": final[i].compute_host,
                     "status": final[i].status} for i, how in moved.items() if i in final]
        return {"changed": True, "migrated": migrated, "remaining": []}

    def absent(self) -> dict[str, Any]:
        svc = self.service()
        rps = [r for r in self.conn.placement.resource_providers() if r.name.split(".")[0] == self.params["host"]]
        if svc is None and not rps:
            return {"changed": False, "service": None}
        if self.servers_on_host():
            self.fail(f"instances remain on {self.params['host']}; drain it first (state=drained, migrate=true)")
        if not self.check_mode:
            if svc is not None:
                self.conn.compute.delete_service(svc, ignore_missing=True)
            for rp in rps:
                self.conn.placement.delete_resource_provider(rp, ignore_missing=True)
        return {"changed": True, "service": None}

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
