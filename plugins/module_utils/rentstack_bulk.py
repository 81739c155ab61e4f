"""Planning logic of rentstack's bulk server operations.

Pure functions over plain dicts (the shapes openstacksdk's `to_dict()` gives),
so batching, retry decisions and quota arithmetic are unit tested on recorded
API data without a cloud.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

# Nova statuses that end a build, and those that mean "still working on it".
TERMINAL_OK = {"ACTIVE"}
TERMINAL_BAD = {"ERROR"}
SET_TAG_PREFIX = "rentstack-set:"


def expand_names(prefix: str | None, count: int | None, names: list[str] | None, width: int = 3) -> list[str]:
    """The names of the set: explicit `names`, or prefix-001 .. prefix-<count>."""
    if names:
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"names lists {', '.join(dupes)} more than once; list each server once")
        return list(names)
    if not prefix:
        raise ValueError("give either names, or prefix and count")
    if count is None or count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    width = max(width, len(str(count)))
    return [f"{prefix}-{i:0{width}d}" for i in range(1, count + 1)]


def index_servers(servers: Iterable[dict[str, Any]], names: list[str]) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """Servers of the set by name, and names held by more than one server."""
    wanted = set(names)
    by_name: dict[str, list[dict]] = {}
    for srv in servers:
        if srv.get("name") in wanted:
            by_name.setdefault(srv["name"], []).append(srv)
    dupes = {n: sorted(s["id"] for s in lst) for n, lst in by_name.items() if len(lst) > 1}
    return {n: lst[0] for n, lst in by_name.items() if len(lst) == 1}, dupes


@dataclass
class PresentPlan:
    keep: list[str] = field(default_factory=list)       # ACTIVE (or otherwise settled) already
    create: list[str] = field(default_factory=list)     # missing
    replace: list[str] = field(default_factory=list)    # in ERROR: delete and build again
    wait: list[str] = field(default_factory=list)       # still BUILDing from an earlier run


def plan_present(names: list[str], existing: dict[str, dict]) -> PresentPlan:
    """What a `state: present` run must do for each name of the set."""
    plan = PresentPlan()
    for name in names:
        srv = existing.get(name)
        if srv is None:
            plan.create.append(name)
        elif srv.get("status") in TERMINAL_BAD:
            plan.replace.append(name)
        elif srv.get("status") == "BUILD":
            plan.wait.append(name)
        else:
            plan.keep.append(name)
    return plan


def quota_shortfalls(requested: dict[str, int], quotas: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Resources whose request does not fit in the project's quota.

    requested: {resource: amount}; quotas: {resource: {"limit": L, "in_use": U,
    "reserved": R}} with L = -1 meaning unlimited. Each shortfall names the
    resource with the numbers: requested, used, limit, free.
    """
    out = []
    for resource, amount in requested.items():
        if amount <= 0:
            continue
        q = quotas.get(resource)
        if q is None:
            continue
        limit = int(q.get("limit", -1))
        if limit < 0:
            continue
        used = int(q.get("in_use", 0)) + int(q.get("reserved", 0) or 0)
        free = max(limit - used, 0)
        if amount > free:
            out.append({"resource": resource, "requested": amount, "used": used, "limit": limit, "free": free})
    return out


def provider_capacity(inventory: dict[str, Any], used: int) -> int:
    """Free units of one resource class: (total - reserved) * ratio - used."""
    total = int(inventory.get("total", 0))
    reserved = int(inventory.get("reserved", 0))
    ratio = float(inventory.get("allocation_ratio", 1.0))
    return int(math.floor((total - reserved) * ratio)) - int(used)


def placement_fit(flavor: dict[str, int], providers: list[dict[str, Any]]) -> int:
    """How many servers of `flavor` fit in the free capacity of the providers.

    flavor: {"VCPU": n, "MEMORY_MB": m, "DISK_GB": d}; providers: each
    {"inventories": {rc: inventory}, "usages": {rc: used}}. A server must fit
    on one provider; a provider without the class cannot host it.
    """
    fit = 0
    for prov in providers:
        per_host = None
        for rc, amount in flavor.items():
            if amount <= 0:
                continue
            inv = prov.get("inventories", {}).get(rc)
            if inv is None:
                per_host = 0
                break
            free = provider_capacity(inv, prov.get("usages", {}).get(rc, 0))
            step = int(inv.get("step_size", 1)) or 1
            need = max(amount, int(inv.get("min_unit", 1)))
            if need > int(inv.get("max_unit", need)):
                per_host = 0
                break
            n = max(free, 0) // (math.ceil(need / step) * step)
            per_host = n if per_host is None else min(per_host, n)
        fit += per_host or 0
    return fit


@dataclass
class Build:
    """One server of the set being built."""

    name: str
    attempts: int = 0
    server_id: str | None = None
    status: str = "PENDING"
    fault: str | None = None
    host: str | None = None


def next_action(build: Build, status: str | None, max_attempts: int) -> str:
    """Decide what to do with a build after a poll.

    Returns one of: 'active', 'wait', 'retry' (delete it and build again),
    'failed' (delete it, no attempts left), 'vanished' (gone while building:
    build again if attempts are left, else failed).
    """
    if status in TERMINAL_OK:
        return "active"
    if status in TERMINAL_BAD:
        return "retry" if build.attempts < max_attempts else "failed"
    if status is None:
        return "retry" if build.attempts < max_attempts else "failed"
    return "wait"


def launch_slots(concurrency: int, in_flight: int, queued: int) -> int:
    """How many new create requests to issue now, keeping at most
    `concurrency` servers in BUILD at once."""
    return max(0, min(concurrency - in_flight, queued))


def summarize(records: list[dict[str, Any]], requested: int, created: int, deleted: int, elapsed: float) -> dict[str, Any]:
    """The summary returned by rentstack_servers."""
    active = sum(1 for r in records if r.get("status") == "ACTIVE")
    failed = sum(1 for r in records if r.get("status") not in ("ACTIVE", "DELETED"))
    return {
        "requested": requested,
        "active": active,
        "failed": failed,
        "created": created,
        "deleted": deleted,
        "elapsed_seconds": round(elapsed, 1),
    }


def addresses(server: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Fixed and floating addresses of a server record, told apart."""
    fixed, floating = [], []
    for entries in (server.get("addresses") or {}).values():
        for entry in entries:
            kind = entry.get("OS-EXT-IPS:type")
            (floating if kind == "floating" else fixed).append(entry.get("addr"))
    return fixed, floating


# ---------------------------------------------------------------- actions
# For each bulk action: the statuses it may start from, the status it ends in,
# and the statuses in which the action is already done (idempotence).
ACTIONS: dict[str, dict[str, Any]] = {
    "start": {"target": "ACTIVE", "done": {"ACTIVE"}, "from": {"SHUTOFF"}},
    "stop": {"target": "SHUTOFF", "done": {"SHUTOFF"}, "from": {"ACTIVE", "ERROR"}},
    "reboot_soft": {"target": "ACTIVE", "done": set(), "from": {"ACTIVE"}},
    "reboot_hard": {"target": "ACTIVE", "done": set(), "from": {"ACTIVE", "SHUTOFF", "ERROR"}},
    "pause": {"target": "PAUSED", "done": {"PAUSED"}, "from": {"ACTIVE"}},
    "unpause": {"target": "ACTIVE", "done": {"ACTIVE"}, "from": {"PAUSED"}},
    "suspend": {"target": "SUSPENDED", "done": {"SUSPENDED"}, "from": {"ACTIVE"}},
    "resume": {"target": "ACTIVE", "done": {"ACTIVE"}, "from": {"SUSPENDED"}},
    "rebuild": {"target": "ACTIVE", "done": set(), "from": {"ACTIVE", "SHUTOFF", "ERROR"}},
    "resize": {"target": "VERIFY_RESIZE", "done": {"VERIFY_RESIZE"}, "from": {"ACTIVE", "SHUTOFF"}},
    "confirm_resize": {"target": "ACTIVE", "done": {"ACTIVE", "SHUTOFF"}, "from": {"VERIFY_RESIZE"}},
    "revert_resize": {"target": "ACTIVE", "done": {"ACTIVE", "SHUTOFF"}, "from": {"VERIFY_RESIZE"}},
    "rescue": {"target": "RESCUE", "done": {"RESCUE"}, "from": {"ACTIVE", "SHUTOFF"}},
    "unrescue": {"target": "ACTIVE", "done": {"ACTIVE"}, "from": {"RESCUE"}},
    "lock": {"target": None, "done": set(), "from": None},
    "unlock": {"target": None, "done": set(), "from": None},
    "snapshot": {"target": None, "done": set(), "from": None},
}


def fault_message(server: dict[str, Any] | None) -> str | None:
    """Nova's fault message of a listed server (None when it has none or is not listed)."""
    return ((server or {}).get("fault") or {}).get("message")


# Actions done again when a server ends them in ERROR: Nova accepts a hard reboot from ERROR, and it is the
# documented way back from a failed one. On the loaded lab 9 of 100 hard reboots ended in ERROR (libvirt timed
# out starting qemu, 2026-12-02); the other actions would change what was asked (a stop retried as a reboot).
RETRY_FROM_ERROR = frozenset({"reboot_hard"})


def action_outcome(action: str, status: str | None, attempts: int, max_attempts: int,
                   guest_present: bool = True) -> str:
    """What to do with a server whose action has settled in `status`: 'ok', 'retry' (apply it again) or 'failed'.

    `guest_present` False means Nova lists the server ACTIVE but its host has no guest for it (a hard reboot
    that failed in libvirt while Nova saw the old guest running: "Reboot failed but instance is running").
    A hard reboot builds the guest again, so that is retried like ERROR."""
    target = ACTIONS[action]["target"]
    if target is None or (status == target and (target != "ACTIVE" or guest_present)):
        return "ok"
    broken = status == "ERROR" or (status == "ACTIVE" and not guest_present)
    if broken and action in RETRY_FROM_ERROR and attempts < max_attempts:
        return "retry"
    return "failed"


def plan_action(action: str, servers: dict[str, dict[str, Any]], names: list[str],
                flavor_id: str | None = None, flavor_name: str | None = None) -> dict[str, list[str]]:
    """Sort the set for an action: act on, already done, cannot act (wrong
    status, with the status), and missing.

    resize counts as done when the server already has the target flavor (by
    ID, or by name: since compute microversion 2.47 a server embeds its
    flavor's name, not its ID).
    lock/unlock are done when `locked` already matches.
    """
    spec = ACTIONS[action]
    plan: dict[str, list[str]] = {"act": [], "done": [], "refused": [], "missing": []}
    for name in names:
        srv = servers.get(name)
        if srv is None:
            plan["missing"].append(name)
            continue
        status = srv.get("status")
        if action in ("lock", "unlock"):
            locked = bool(srv.get("is_locked", srv.get("locked")))
            plan["done" if locked == (action == "lock") else "act"].append(name)
            continue
        flavor = srv.get("flavor") or {}
        has_flavor = (flavor_id and flavor.get("id") == flavor_id) or (
            flavor_name and flavor_name in (flavor.get("original_name"), flavor.get("name")))
        if action == "resize" and has_flavor and status in ("ACTIVE", "SHUTOFF"):
            plan["done"].append(name)
            continue
        if status in spec["done"]:
            plan["done"].append(name)
        elif spec["from"] is None or status in spec["from"]:
            plan["act"].append(name)
        else:
            plan["refused"].append(f"{name} ({status})")
    return plan
