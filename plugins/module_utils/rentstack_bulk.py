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


def fault_message(server: dict[str, Any] | None) -> str | None:
    """Nova's fault message of a listed server (None when it has none or is not listed)."""
    return ((server or {}).get("fault") or {}).get("message")


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
    width = set_width(count, width)
    return [f"{prefix}-{i:0{width}d}" for i in range(1, count + 1)]


def set_width(count: int, width: int = 3) -> int:
    """Digits of the number in the names of a set of `count` servers (at least `width`)."""
    return max(width, len(str(count)))


# Metadata a multi-create request stamps on its servers: the name it gave Nova and the set index of its first
# server. Nova names the servers of one request `<name>-1` .. `<name>-<n>` (hard-coded since the Rocky release;
# nova/compute/api.py _populate_instance_names), which are not the set's names; every run maps them back with
# canonical_server() and the creating run renames them.
MULTI_NAME_KEY = "rentstack_multi_name"
MULTI_FIRST_KEY = "rentstack_multi_first"


def multi_batches(names: list[str], all_names: list[str]) -> list[list[str]]:
    """`names` (some of the set's `all_names`) split into runs of consecutive set positions, in set order: each run
    of two or more can be one Nova multi-create request."""
    pos = {n: i for i, n in enumerate(all_names)}
    runs: list[list[str]] = []
    for name in sorted(names, key=lambda n: pos[n]):
        if runs and pos[runs[-1][-1]] + 1 == pos[name]:
            runs[-1].append(name)
        else:
            runs.append([name])
    return runs


def multi_request_name(prefix: str, first: int, last: int, width: int) -> str:
    """The name a multi-create of set positions first..last (1-based) gives Nova: `<prefix>-<first>-<last>`, so
    Nova's `-<i>` suffixes cannot be mistaken for the set's own names."""
    return f"{prefix}-{first:0{width}d}-{last:0{width}d}"


def canonical_server(srv: dict[str, Any], prefix: str | None, width: int, set_tag: str) -> dict[str, Any] | None:
    """A server of the set still named as its multi-create request left it, seen under its set name: a copy with
    `name` (and `hostname`, when it ends as Nova derived it) rewritten and `nova_name` holding the name it has.
    None for every other server (one named already, one of another set, one made by a single create)."""
    meta = srv.get("metadata") or {}
    base = meta.get(MULTI_NAME_KEY)
    if not prefix or meta.get("rentstack_set") != set_tag or not base or not srv.get("name", "").startswith(base + "-"):
        return None
    suffix = srv["name"][len(base) + 1:]
    try:
        first = int(meta.get(MULTI_FIRST_KEY, ""))
    except ValueError:
        return None
    if not suffix.isdigit() or suffix.startswith("0"):
        return None
    name = f"{prefix}-{first + int(suffix) - 1:0{width}d}"
    out = dict(srv, name=name, nova_name=srv["name"])
    hostname = srv.get("hostname") or ""
    tail = base[len(prefix):] + "-" + suffix  # Nova's hostname is sanitize(base) + "-<i>"
    if hostname.lower().endswith(tail.lower()):
        out["hostname"] = hostname[:-len(tail)] + name[len(prefix):]
    return out


GONE = {"DELETED", "SOFT_DELETED"}


def age_key(srv: dict[str, Any]) -> tuple[str, str]:
    """Order of servers of one name: oldest first by Nova's created_at, then by ID (both set by Nova, so every run
    that lists the same servers orders them the same way)."""
    return (str(srv.get("created_at") or srv.get("created") or ""), str(srv.get("id") or ""))


def reconcile(servers: Iterable[dict[str, Any]], names: list[str]) -> tuple[dict[str, dict], list[dict]]:
    """The one server each name of the set keeps, and the extra servers to delete.

    Concurrent runs of one request may each create a server of a name. Every run applies the same rule to what
    it lists, so they agree without talking to each other: a name keeps its oldest live server (not ERROR, not
    DELETED) by created_at then ID; the other live servers of the name are extras. A name without a live server
    keeps its oldest ERROR server (the plan replaces it) and its other ERROR servers are extras. Servers listed
    as DELETED (Nova lists them after their delete) or being deleted are extras too."""
    wanted = set(names)
    by_name: dict[str, list[dict]] = {}
    extra: list[dict] = []
    for srv in servers:
        if srv.get("name") not in wanted:
            continue
        if srv.get("status") in GONE or srv.get("task_state") == "deleting":
            extra.append(srv)  # on its way out: never the one a name keeps
        else:
            by_name.setdefault(srv["name"], []).append(srv)
    keep: dict[str, dict] = {}
    for name, group in by_name.items():
        group.sort(key=age_key)
        live = [s for s in group if s.get("status") not in TERMINAL_BAD]
        winner = live[0] if live else group[0]
        keep[name] = winner
        extra.extend(s for s in group if s is not winner)
    return keep, sorted(extra, key=age_key)


def heal_reason(srv: dict[str, Any], listing_bug: bool = False, build_age: float | None = None,
                build_timeout: float | None = None) -> str | None:
    """Why a listed server of the set is broken and must be deleted (and replaced), or None.

    listing_bug: a server listing at compute microversion 2.96+ answered 500 while 2.95 worked (Nova 31's
    KeyError on an ERROR instance without a request spec: docs/operations.md); every ERROR server of the set is
    then suspected. build_age: seconds this run has seen the server in BUILD."""
    status = srv.get("status")
    if status in GONE:
        return f"listed as {status} after its delete"
    if status in TERMINAL_BAD:
        fault = fault_message(srv) or ""
        if listing_bug:
            return "ERROR while server listings at microversion 2.96 fail (suspected: no request spec)"
        if "quota" in fault.lower():
            return f"ERROR from a quota recheck ({fault})"
        return f"ERROR ({fault})" if fault else "ERROR"
    if status == "BUILD" and build_age is not None and build_timeout is not None and build_age > build_timeout:
        return f"stuck in BUILD for {int(build_age)}s (build_timeout {int(build_timeout)}s)"
    return None


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
    seen_building: float | None = None  # when this run first saw its server in BUILD (monotonic seconds)


def next_action(build: Build, status: str | None, max_attempts: int, stuck: bool = False) -> str:
    """Decide what to do with a build after a poll.

    Returns one of: 'active', 'wait', 'retry' (delete it and build again),
    'failed' (delete it, no attempts left). A server gone while building, in
    ERROR, or `stuck` (BUILD past the build deadline) is built again while
    attempts are left.
    """
    if status in TERMINAL_OK:
        return "active"
    if status in TERMINAL_BAD or status is None or status in GONE or stuck:
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


def action_settled(action: str, before: dict[str, Any], now: dict[str, Any] | None) -> str:
    """Where an action sent to a server stands after a poll: 'wait', 'settled' (its target, or ERROR, or gone),
    or 'rolled_back' (Nova finished with the server in another stable state, e.g. a resize or rescue it reverted).

    `before` is the server as listed before the action was sent. Nova sets the task state before it accepts the
    action, and updates `updated_at` on every change, so a server with no task state whose record changed since
    `before` and that is neither in the target state nor in ERROR has been put back."""
    if now is None:
        return "settled"
    if now.get("task_state"):
        return "wait"
    target = ACTIONS[action]["target"]
    status = now.get("status")
    if target is None or status in (target, "ERROR"):
        return "settled"
    changed = (now.get("updated_at") or now.get("updated")) != (before.get("updated_at") or before.get("updated"))
    return "rolled_back" if changed or status != before.get("status") else "wait"


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
