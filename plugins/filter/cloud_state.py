"""Compare what the cloud has (read once) with what a playbook wants, so a rerun calls no module
for what is already in place. Pure functions, unit tested."""

from __future__ import annotations

from typing import Any


def _rule_matches(have: dict[str, Any], want: dict[str, Any]) -> bool:
    """A rule of Neutron's listing equals the wanted ingress rule from anywhere (IPv4)."""
    port = want.get("port")
    return (have.get("direction") == "ingress" and have.get("ethertype", "IPv4") == "IPv4"
            and have.get("protocol") == want.get("protocol")
            and have.get("port_range_min") == port and have.get("port_range_max") == port
            and have.get("remote_ip_prefix") == want.get("remote_ip_prefix", "0.0.0.0/0")
            and not have.get("remote_group_id"))


def sg_rules_pending(projects: list[str], rules: list[dict[str, Any]], project_list: list[dict[str, Any]],
                     groups: list[dict[str, Any]], group: str = "default") -> list[list[Any]]:
    """[project, rule] pairs whose rule the project's security group `group` lacks.

    `project_list` is openstack.cloud.project_info's projects, `groups` security_group_info's groups
    with their rules. A project or group not found counts every rule as pending (the rule module then
    creates the group's rule or fails naming what is missing).
    """
    ids = {p.get("name"): p.get("id") for p in project_list or []}
    pending: list[list[Any]] = []
    for name in projects or []:
        pid = ids.get(name)
        mine = [g for g in groups or [] if pid and g.get("project_id") == pid and g.get("name") == group]
        have = mine[0].get("security_group_rules") or [] if mine else None
        for rule in rules or []:
            if have is None or not any(_rule_matches(r, rule) for r in have):
                pending.append([name, rule])
    return pending


def objects_pending(wanted: list[Any], existing: list[dict[str, Any]], keys: list[str] | None = None) -> list[Any]:
    """The wanted entries (names, or dicts with a name) that no existing object has the name of, or
    whose object differs in one of `keys` (compared when the wanted dict has the key)."""
    have = {e.get("name"): e for e in existing or []}
    pending = []
    for w in wanted or []:
        current = have.get(w.get("name") if isinstance(w, dict) else w)
        if current is None or (isinstance(w, dict) and any(
                k in w and (current.get(k) or "") != (w[k] or "") for k in keys or [])):
            pending.append(w)
    return pending


class FilterModule:
    """rentstack filters comparing the cloud's state with the wanted state."""

    def filters(self) -> dict[str, Any]:
        return {"sg_rules_pending": sg_rules_pending, "objects_pending": objects_pending}
