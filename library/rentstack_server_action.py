#!/usr/bin/python
"""Apply an instance action to a set of servers in bulk."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rentstack_server_action
short_description: Apply an instance action to a set of servers in bulk
description:
  - Selects a set of servers like M(rentstack_servers) (a prefix and count,
    or names) and applies one action to all of them, at most I(concurrency)
    at a time, waiting until each reaches the action's target state.
  - Servers already in the target state are left alone (C(changed=false)),
    so a re-run is idempotent. Servers in a state the action cannot start
    from are reported and fail the task unless I(skip_refused=true).
  - C(console_url) and C(console_log) are read-only and return one entry per
    server.
  - When the ansible-playbook run that started it is killed (an AWX job
    cancelled, a C(kill) of ansible-playbook), the module sends the action
    to no more servers and stops; a rerun finishes it (idempotent).
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
    description: Project that owns the set (default the cloud entry's).
    type: str
  prefix:
    description: Name prefix of the set (servers C(<prefix>-NNN)). Use with I(count).
    type: str
  count:
    description: Number of servers named from I(prefix).
    type: int
  names:
    description: Explicit server names.
    type: list
    elements: str
  name_width:
    description: Minimum digits of the number in generated names.
    type: int
    default: 3
  action:
    description: The action.
    type: str
    required: true
    choices: [start, stop, reboot_soft, reboot_hard, pause, unpause, suspend, resume, rebuild,
              resize, confirm_resize, revert_resize, snapshot, rescue, unrescue, lock, unlock,
              console_url, console_log]
  image:
    description: Image for C(rebuild) (and the rescue image for C(rescue), optional).
    type: str
  flavor:
    description: New flavor for C(resize).
    type: str
  snapshot_name:
    description: Name pattern of C(snapshot) images; C({name}) is the server name.
    type: str
    default: "{name}-snapshot"
  console_lines:
    description: Lines of console log to return (0 for all).
    type: int
    default: 50
  concurrency:
    description: Most servers acted on at once.
    type: int
    default: 20
  poll_interval:
    description: Seconds between server listings.
    type: float
    default: 3
  max_attempts:
    description:
      - How many times a server that ends C(reboot_hard) in ERROR is hard-rebooted in all (Nova accepts a hard
        reboot from ERROR).
      - Other actions are not repeated; a server that ends them in ERROR is reported with Nova's fault message.
    type: int
    default: 3
  skip_refused:
    description: Do not fail when some servers are in a state the action cannot start from.
    type: bool
    default: false
  progress_file:
    description: File to append progress lines to (set by the action plugin).
    type: path
requirements: [openstacksdk >= 4.16]
author: rentstack
"""

EXAMPLES = r"""
- name: Hard-reboot the 100 VMs of the request
  rentstack_server_action:
    project: vm100
    prefix: vm
    count: 100
    action: reboot_hard

- name: Resize one VM and confirm
  rentstack_server_action:
    names: [VM-A1]
    action: resize
    flavor: 2cpu.2gbmem.0disk
"""

RETURN = r"""
servers:
  description: One record per server (name, id, status, result, attempts, and url/log for console actions).
  returned: always
  type: list
  elements: dict
summary:
  description: requested, acted, already_done, refused, missing, failed, elapsed_seconds.
  returned: always
  type: dict
plan:
  description: Names to act on, already done, refused (with status), missing.
  returned: always
  type: dict
progress:
  description: Progress lines.
  returned: always
  type: list
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.rentstack_bulk import ACTIONS, action_outcome, fault_message, launch_slots, plan_action  # noqa: E402
from ansible.module_utils.rentstack_openstack import ServerSetModule, os_exc  # noqa: E402

READ_ONLY = ("console_url", "console_log")


class ServerActionModule(ServerSetModule):
    argument_spec = {
        "action": {"type": "str", "required": True, "choices": sorted(list(ACTIONS) + list(READ_ONLY))},
        "image": {"type": "str"},
        "flavor": {"type": "str"},
        "snapshot_name": {"type": "str", "default": "{name}-snapshot"},
        "console_lines": {"type": "int", "default": 50},
        "skip_refused": {"type": "bool", "default": False},
        "max_attempts": {"type": "int", "default": 3},
    }
    positive_options = ("concurrency", "max_attempts")
    module_kwargs = {"required_if": [("action", "rebuild", ("image",)), ("action", "resize", ("flavor",))]}

    @property
    def c(self) -> Any:
        return self.project_conn

    def listing(self) -> dict[str, dict]:
        by_name, dupes = self.list_set()
        self.fail_on_duplicates(dupes)
        return by_name

    def apply(self, srv: dict[str, Any], extra: dict[str, Any]) -> None:
        compute = self.c.compute
        sid = srv["id"]
        action = self.params["action"]
        calls = {
            "start": lambda: compute.start_server(sid),
            "stop": lambda: compute.stop_server(sid),
            "reboot_soft": lambda: compute.reboot_server(sid, "SOFT"),
            "reboot_hard": lambda: compute.reboot_server(sid, "HARD"),
            "pause": lambda: compute.pause_server(sid),
            "unpause": lambda: compute.unpause_server(sid),
            "suspend": lambda: compute.suspend_server(sid),
            "resume": lambda: compute.resume_server(sid),
            "rebuild": lambda: compute.rebuild_server(sid, image=extra["image"].id),
            "resize": lambda: compute.resize_server(sid, extra["flavor"].id),
            "confirm_resize": lambda: compute.confirm_server_resize(sid),
            "revert_resize": lambda: compute.revert_server_resize(sid),
            "rescue": lambda: compute.rescue_server(sid, image_ref=extra["image"].id if extra.get("image") else None),
            "unrescue": lambda: compute.unrescue_server(sid),
            "lock": lambda: compute.lock_server(sid),
            "unlock": lambda: compute.unlock_server(sid),
            "snapshot": lambda: extra.setdefault("images", {}).__setitem__(
                srv["name"], compute.create_server_image(
                    sid, self.params["snapshot_name"].format(name=srv["name"]), wait=False).id),
        }
        calls[action]()

    def guest_present(self, srv: dict[str, Any]) -> bool:
        """Whether the server's host runs a guest for it. Nova can list a server ACTIVE whose guest is gone: a hard
        reboot that failed in libvirt while the old guest still ran ("Reboot failed but instance is running";
        19 of 100 on the loaded lab, 2026-12-02). Its console then answers 404: one read of one line tells."""
        try:
            self.c.compute.get_server_console_output(srv["id"], length=1)
        except os_exc.NotFoundException:
            return False
        except Exception:  # noqa: BLE001 - any other answer is no evidence that the guest is gone
            return True
        return True

    def settled(self, srv: dict[str, Any] | None, target: str | None) -> bool:
        if srv is None:
            return True
        if srv.get("task_state"):
            return False
        return target is None or srv.get("status") in (target, "ERROR")

    def read_only(self, servers: dict[str, dict]) -> dict[str, Any]:
        records = []
        for name in self.names:
            srv = servers.get(name)
            rec: dict[str, Any] = {"name": name, "id": (srv or {}).get("id"), "status": (srv or {}).get("status")}
            if srv and self.params["action"] == "console_url":
                rec["url"] = self.c.compute.create_console(srv["id"], console_type="novnc")["url"]
            elif srv:
                length = self.params["console_lines"] or None
                rec["log"] = self.c.compute.get_server_console_output(srv["id"], length=length).get("output", "")
            records.append(rec)
        missing = [r["name"] for r in records if r["id"] is None]
        return {"changed": False, "servers": records, "plan": {"missing": missing},
                "summary": {"requested": len(self.names), "missing": len(missing)}}

    def run(self) -> dict[str, Any]:
        action = self.params["action"]
        servers = self.listing()
        if action in READ_ONLY:
            result = self.read_only(servers)
            result["progress"] = self.lines
            return result
        extra: dict[str, Any] = {}
        flavor_id = flavor_name = None
        if self.params["flavor"]:
            extra["flavor"] = self.c.compute.find_flavor(self.params["flavor"], ignore_missing=False)
            flavor_id, flavor_name = extra["flavor"].id, extra["flavor"].name
        if self.params["image"]:
            extra["image"] = self.c.image.find_image(self.params["image"], ignore_missing=False)
        plan = plan_action(action, servers, self.names, flavor_id, flavor_name)
        target = ACTIONS[action]["target"]
        self.progress(f"{action}: {len(plan['act'])} to act on, {len(plan['done'])} already done, "
                      f"{len(plan['refused'])} refused, {len(plan['missing'])} missing")
        if plan["refused"] and not self.params["skip_refused"]:
            self.fail(f"{action} cannot start from the state of: {', '.join(plan['refused'][:20])}; "
                      "fix those servers or set skip_refused=true. Nothing was changed.", plan=plan)
        if self.ansible.check_mode or not plan["act"]:
            return {"changed": bool(plan["act"]), "plan": plan, "servers": [], "progress": self.lines,
                    "summary": {"requested": len(self.names), "acted": 0, "already_done": len(plan["done"]),
                                "refused": len(plan["refused"]), "missing": len(plan["missing"]), "failed": 0}}
        queue = list(plan["act"])
        in_flight: set[str] = set()
        results: dict[str, str] = {}
        attempts: dict[str, int] = {}
        deadline = self.started + self.params["timeout"]
        while queue or in_flight:
            self.stop_if_abandoned(f"{action} sent to {len(results) + len(in_flight)} servers, "
                                   f"{len(queue)} not sent, {len(in_flight)} still in progress")
            for name in queue[:launch_slots(self.params["concurrency"], len(in_flight), len(queue))]:
                attempts[name] = attempts.get(name, 0) + 1
                try:
                    self.apply(servers[name], extra)
                    in_flight.add(name)
                except Exception as exc:  # noqa: BLE001 - report the API's answer per server
                    results[name] = f"failed: {exc}"
                queue.remove(name)
            if time.monotonic() > deadline:
                self.fail(f"timed out with {len(in_flight)} servers still in {action}", plan=plan)
            time.sleep(self.params["poll_interval"])
            current = self.listing()
            retried = 0
            for name in sorted(in_flight):
                srv = current.get(name)
                if not self.settled(srv, target):
                    continue
                in_flight.discard(name)
                status = (srv or {}).get("status")
                present = not (target == "ACTIVE" and status == "ACTIVE") or self.guest_present(srv)
                outcome = action_outcome(action, status, attempts[name], self.params["max_attempts"], present)
                if outcome == "retry":
                    queue.append(name)
                    retried += 1
                    continue
                fault = fault_message(srv)
                if outcome == "ok":
                    results[name] = "ok"
                elif not present:
                    results[name] = (f"failed: ACTIVE in Nova but host {srv.get('compute_host') or '?'} has no guest "
                                     "for it (its console answers 404); hard-reboot it")
                else:
                    results[name] = f"failed: ended {status}" + (f" ({fault})" if fault else "")
            self.progress(f"{action}: done {len(results)}/{len(plan['act'])}, in progress {len(in_flight)}, "
                          f"queued {len(queue)}" + (f", {retried} failed and go again" if retried else ""))
        final = self.listing()
        records = [{"name": n, "id": (final.get(n) or {}).get("id"), "status": (final.get(n) or {}).get("status"),
                    "result": results.get(n, "already done" if n in plan["done"] else "not acted on"),
                    "attempts": attempts.get(n, 0),
                    **({"image_id": extra["images"][n]} if n in extra.get("images", {}) else {})}
                   for n in self.names]
        failed = [r for r in records if str(r["result"]).startswith("failed")]
        summary = {"requested": len(self.names), "acted": len(plan["act"]), "already_done": len(plan["done"]),
                   "refused": len(plan["refused"]), "missing": len(plan["missing"]), "failed": len(failed),
                   "elapsed_seconds": round(time.monotonic() - self.started, 1)}
        self.progress(f"{action}: {summary['acted'] - summary['failed']}/{summary['acted']} reached "
                      f"{target or 'done'} in {summary['elapsed_seconds']}s")
        result = {"changed": True, "plan": plan, "servers": records, "summary": summary, "progress": self.lines}
        if failed:
            self.ansible.fail_json(msg=f"{len(failed)} servers failed {action}: "
                                       + "; ".join(f"{r['name']}: {r['result']}" for r in failed[:10]), **result)
        return result


def main() -> None:
    ServerActionModule().main()


if __name__ == "__main__":
    main()
