#!/usr/bin/python
"""Apply an instance action to a set of servers in bulk."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rentstack_server_action
short_description: Apply an instance action to a set of servers in bulk
description:
  - Selects a set of servers like M(rentstack.cloud.rentstack_servers) (a prefix and count,
    or names) and applies one action to all of them, at most I(concurrency)
    at a time, waiting until each reaches the action's target state.
  - Servers already in the target state are left alone (C(changed=false)),
    so a re-run is idempotent. Servers in a state the action cannot start
    from are reported and fail the task unless I(skip_refused=true).
  - It runs on the same engine as M(rentstack.cloud.rentstack_servers) (rentstack_engine), with
    one poll per I(poll_interval) asking only for the servers changed since
    the previous poll (C(changes-since)), transient API faults retried up to
    I(api_retries) times with backoff and jitter (an action whose answer was
    lost is looked up before it is sent again), and server listings made at
    microversion 2.95 when 2.96+ answers 500.
  - An action that Nova rolls back (a resize or rescue that ends in its old
    state) is reported at once with the state it returned to, instead of
    being waited on until I(timeout). A server still in a task state after
    I(stuck_timeout) is reported failed with that state.
  - It deletes nothing. Servers of the set that share a name fail the task
    with their IDs, and broken servers are reported with Nova's fault.
  - C(console_url) and C(console_log) are read-only and return one entry per
    server.
  - When the ansible-playbook run that started it is killed (an AWX job
    cancelled, a C(kill) of ansible-playbook), the module sends the action
    to no more servers and stops; a rerun finishes it (idempotent).
options:
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
  skip_refused:
    description: Do not fail when some servers are in a state the action cannot start from.
    type: bool
    default: false
author: rentstack (!UNKNOWN)
extends_documentation_fragment:
  - rentstack.cloud.cloud
  - rentstack.cloud.engine
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
  description:
    - One record per server (name, id, status, result, attempts, and url/log for console actions).
    - "C(result) is C(ok), C(already done), C(not acted on), C(not finished) (timeout), or C(failed) with the
      reason, e.g. C(failed: rolled back to ACTIVE (fault))."
  returned: always
  type: list
  elements: dict
summary:
  description: requested, acted, already_done, refused, missing, failed, rolled_back, elapsed_seconds; C(error) when the run stopped on a fault.
  returned: always
  type: dict
plan:
  description: Names to act on, already done, refused (with status), missing.
  returned: always
  type: dict
api_faults:
  description: Transient faults met and retried (the request and the answer).
  returned: always
  type: list
  elements: str
progress:
  description: Progress lines.
  returned: always
  type: list
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

try:  # from the checkout: ansible.cfg's module_utils = plugins/module_utils (docs/collection.md)
    from ansible.module_utils.rentstack_bulk import ACTIONS, GONE, action_outcome, action_settled, fault_message, plan_action
    from ansible.module_utils.rentstack_engine import BulkLoop, describe
    from ansible.module_utils.rentstack_openstack import ServerSetModule, os_exc
except ImportError:  # from the installed collection rentstack.cloud
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_bulk import (ACTIONS, GONE, action_outcome, action_settled,
                                                                                         fault_message, plan_action)
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_engine import BulkLoop, describe
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_openstack import ServerSetModule, os_exc

READ_ONLY = ("console_url", "console_log")


class ActionJob:
    """One bulk action, driven by rentstack_engine.BulkLoop."""

    def __init__(self, module: "ServerActionModule", servers: dict[str, dict], extra: dict[str, Any]) -> None:
        self.m, self.servers, self.extra = module, servers, extra
        self.action = module.params["action"]
        self.target = ACTIONS[self.action]["target"]
        self.results: dict[str, str] = {}
        self.attempts: dict[str, int] = {}
        self.sent_at: dict[str, float] = {}
        self.rolled_back = 0

    def accepted(self, name: str) -> bool | None:
        """After a lost answer: True when the listing shows Nova took the action (a task state, or a change)."""
        now = self.m.lookup_any(name)
        before = self.servers[name]
        if now is not None and (now.get("task_state") or now.get("updated_at") != before.get("updated_at")):
            return True
        return None

    def launch(self, names: list[str]) -> dict[str, str]:
        out = {}
        for name in names:
            self.attempts[name] = self.attempts.get(name, 0) + 1
            try:
                self.m.retry.call(lambda n=name: self.m.apply(self.servers[n], self.extra), f"{self.action} {name}",
                                  before_retry=lambda n=name: self.accepted(n))
                self.sent_at[name] = time.monotonic()
                out[name] = "flight"
            except Exception as exc:  # noqa: BLE001 - report the API's answer per server
                self.results[name] = f"failed: {describe(exc)}"
                out[name] = "failed"
        return out

    def settle(self, names: list[str]) -> dict[str, str]:
        current = self.m.listing(poll=True)
        decisions: dict[str, str] = {}
        for name in names:
            srv = current.get(name)
            state = action_settled(self.action, self.servers[name], srv)
            if state == "wait":
                waited = time.monotonic() - self.sent_at.get(name, time.monotonic())
                if waited <= self.m.params["stuck_timeout"]:
                    decisions[name] = "wait"
                    continue
                self.results[name] = (f"failed: still {srv.get('status')} in task {srv.get('task_state')} after "
                                      f"{int(waited)}s (stuck_timeout)")
                decisions[name] = "failed"
                continue
            status = (srv or {}).get("status")
            fault = fault_message(srv)
            if state == "rolled_back":
                self.rolled_back += 1
                self.results[name] = f"failed: rolled back to {status}" + (f" ({fault})" if fault else "")
                self.m.progress(f"{name}: Nova rolled {self.action} back, the server is {status} again"
                                + (f": {fault}" if fault else ""))
                decisions[name] = "failed"
                continue
            present = not (self.target == "ACTIVE" and status == "ACTIVE") or self.m.guest_present(srv)
            outcome = action_outcome(self.action, status, self.attempts[name], self.m.params["max_attempts"], present)
            if outcome == "retry":
                self.servers[name] = srv
                decisions[name] = "retry"
            elif outcome == "ok":
                self.results[name] = "ok"
                decisions[name] = "done"
            else:
                self.results[name] = (f"failed: ACTIVE in Nova but host {srv.get('compute_host') or '?'} has no "
                                      "guest for it (its console answers 404); hard-reboot it") if not present \
                    else f"failed: ended {status}" + (f" ({fault})" if fault else "")
                decisions[name] = "failed"
        return decisions

    def line(self, counts: dict[str, int]) -> str:
        return (f"{self.action}: done {counts['done'] + counts['failed']}/{len(self.attempts) or 0}, in progress "
                f"{counts['in_flight']}, queued {counts['queued']}"
                + (f", {counts['retried']} failed and go again" if counts["retried"] else ""))

    def sent(self, queued: int, in_flight: int) -> str:
        return (f"{self.action} sent to {len(self.results) + in_flight} servers, {queued} not sent, "
                f"{in_flight} still in progress")


class ServerActionModule(ServerSetModule):
    argument_spec = {
        "action": {"type": "str", "required": True, "choices": sorted(list(ACTIONS) + list(READ_ONLY))},
        "image": {"type": "str"},
        "flavor": {"type": "str"},
        "snapshot_name": {"type": "str", "default": "{name}-snapshot"},
        "console_lines": {"type": "int", "default": 50},
        "skip_refused": {"type": "bool", "default": False},
    }
    module_kwargs = {"required_if": [("action", "rebuild", ("image",)), ("action", "resize", ("flavor",))]}

    @property
    def c(self) -> Any:
        return self.project_conn

    def listing(self, poll: bool = False) -> dict[str, dict]:
        """The set's servers by name; servers sharing a name fail the task (an action deletes nothing)."""
        by_name, extra = self.list_set(poll)
        dupes: dict[str, list[str]] = {}
        for srv in extra:
            if srv.get("status") not in GONE and srv.get("task_state") != "deleting":
                dupes.setdefault(srv["name"], [by_name[srv["name"]]["id"]]).append(srv["id"])
        if dupes:
            detail = "; ".join(f"{n}: {', '.join(sorted(ids))}" for n, ids in sorted(dupes.items()))
            self.fail(f"several servers share a name of the set ({detail}); delete the extra ones by ID first")
        return by_name

    def lookup_any(self, name: str) -> dict | None:
        return self.listing().get(name)

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

    def read_only(self, servers: dict[str, dict]) -> dict[str, Any]:
        records = []
        for name in self.names:
            srv = servers.get(name)
            rec: dict[str, Any] = {"name": name, "id": (srv or {}).get("id"), "status": (srv or {}).get("status")}
            if srv and self.params["action"] == "console_url":
                rec["url"] = self.retry.call(lambda sid=srv["id"]: self.c.compute.create_console(sid, console_type="novnc"),
                                             f"console of {name}")["url"]
            elif srv:
                length = self.params["console_lines"] or None
                rec["log"] = self.retry.call(
                    lambda sid=srv["id"], n=length: self.c.compute.get_server_console_output(sid, length=n),
                    f"console log of {name}").get("output", "")
            records.append(rec)
        missing = [r["name"] for r in records if r["id"] is None]
        return {"changed": False, "servers": records, "plan": {"missing": missing},
                "summary": {"requested": len(self.names), "missing": len(missing)}}

    def run(self) -> dict[str, Any]:
        action = self.params["action"]
        servers = self.listing(poll=True)
        if action in READ_ONLY:
            result = self.read_only(servers)
            result["progress"] = self.lines
            return result
        extra: dict[str, Any] = {}
        flavor_id = flavor_name = None
        if self.params["flavor"]:
            extra["flavor"] = self.retry.call(lambda: self.c.compute.find_flavor(self.params["flavor"],
                                                                                 ignore_missing=False), "finding flavor")
            flavor_id, flavor_name = extra["flavor"].id, extra["flavor"].name
        if self.params["image"]:
            extra["image"] = self.retry.call(lambda: self.c.image.find_image(self.params["image"], ignore_missing=False),
                                             "finding image")
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
                                "refused": len(plan["refused"]), "missing": len(plan["missing"]), "failed": 0,
                                "rolled_back": 0}}
        job = ActionJob(self, servers, extra)
        job.attempts = {n: 0 for n in plan["act"]}
        loop = BulkLoop(self.loop_limits(), self.started + self.params["timeout"], self.progress,
                        self.stop_if_abandoned)
        error = None
        try:
            outcome = loop.run(job, list(plan["act"]), set())
            if outcome.timed_out:
                error = f"timed out after {self.params['timeout']}s with {len(outcome.left)} servers not finished"
                for name in outcome.left:
                    job.results.setdefault(name, "not finished")
        except Exception as exc:  # noqa: BLE001 - a fault is a result: every server is still reported below
            error = f"stopped on {describe(exc)}"
            self.progress(error)
        try:
            final = self.listing()
        except Exception as exc:  # noqa: BLE001 - report what is known rather than a traceback
            error = error or f"stopped on {describe(exc)}"
            final = {s["name"]: s for s in self.lister.known.values() if s.get("name") in servers}
        records = [{"name": n, "id": (final.get(n) or {}).get("id"), "status": (final.get(n) or {}).get("status"),
                    "result": job.results.get(n, "already done" if n in plan["done"] else "not acted on"),
                    "attempts": job.attempts.get(n, 0),
                    **({"image_id": extra["images"][n]} if n in extra.get("images", {}) else {})}
                   for n in self.names]
        failed = [r for r in records if str(r["result"]).startswith(("failed", "not finished"))]
        summary = {"requested": len(self.names), "acted": len(plan["act"]), "already_done": len(plan["done"]),
                   "refused": len(plan["refused"]), "missing": len(plan["missing"]), "failed": len(failed),
                   "rolled_back": job.rolled_back, "elapsed_seconds": round(time.monotonic() - self.started, 1)}
        self.progress(f"{action}: {summary['acted'] - summary['failed']}/{summary['acted']} reached "
                      f"{target or 'done'} in {summary['elapsed_seconds']}s")
        result = {"changed": True, "plan": plan, "servers": records, "summary": summary, "progress": self.lines,
                  "api_faults": self.retry.faults}
        if failed or error:
            if error:
                summary["error"] = error
            self.ansible.fail_json(msg=f"{len(failed)} servers failed {action}" + (f" ({error})" if error else "")
                                   + ": " + "; ".join(f"{r['name']}: {r['result']}" for r in failed[:10]), **result)
        return result


def main() -> None:
    ServerActionModule().main()


if __name__ == "__main__":
    main()
