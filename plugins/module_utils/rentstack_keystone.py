"""Planning of the rentstack_keystone_service module, free of any API call (unit tested).

Keystone's objects come in as plain dicts of what the module read (service, endpoints,
user); the functions say what to change and how the catalog looks before and after,
for the module's `actions` and `diff`. Only what the caller passes is managed: other
interfaces, other regions and roles not asked for are left alone.
"""

from __future__ import annotations

from typing import Any

INTERFACES = ("public", "internal", "admin")


def endpoint_errors(endpoints: dict[str, Any]) -> list[str]:
    """What is wrong with the `endpoints` option (interface -> URL)."""
    errors = [f"endpoints: unknown interface '{k}'; use {', '.join(INTERFACES)}" for k in endpoints
              if k not in INTERFACES]
    errors += [f"endpoints: {k} has no URL" for k, v in endpoints.items() if k in INTERFACES and not v]
    return errors


def service_changes(current: dict[str, Any], description: str | None) -> dict[str, Any]:
    """Attributes to set on an existing catalog service: its description (when given) and enabled."""
    changes: dict[str, Any] = {}
    if description is not None and (current.get("description") or "") != description:
        changes["description"] = description
    if current.get("enabled") is False:
        changes["is_enabled"] = True
    return changes


def service_action(name: str, changes: dict[str, Any]) -> str:
    """The `actions` line for service_changes()."""
    parts = []
    if "description" in changes:
        parts.append(f"set description of service {name} to '{changes['description']}'")
    if "is_enabled" in changes:
        parts.append(f"enabled service {name}")
    return "; ".join(parts)


def endpoint_plan(current: list[dict[str, Any]], want: dict[str, str], region: str) -> list[dict[str, Any]]:
    """Steps giving the service one enabled endpoint per wanted interface in the region, at its URL.

    `current` is the service's endpoints ({id, interface, region_id, url, enabled}). A wrong URL is fixed
    in place on the endpoint Keystone has; when several endpoints share an interface and region (which
    makes clients pick one at random), the one with the right URL is kept and the others removed.
    Each step is {op: create|update|keep|delete, interface, url; all but create have the endpoint's id, and
    update has changes and was (the URL before)}.
    """
    steps: list[dict[str, Any]] = []
    for interface in INTERFACES:
        if interface not in want:
            continue
        url = want[interface]
        mine = sorted((e for e in current if e["interface"] == interface and e["region_id"] == region),
                      key=lambda e: e["id"])
        if not mine:
            steps.append({"op": "create", "interface": interface, "url": url})
            continue
        keep = next((e for e in mine if e["url"] == url), mine[0])
        changes: dict[str, Any] = {}
        if keep["url"] != url:
            changes["url"] = url
        if keep.get("enabled") is False:
            changes["is_enabled"] = True
        if changes:
            steps.append({"op": "update", "interface": interface, "id": keep["id"], "url": url,
                          "was": keep["url"], "changes": changes})
        else:
            steps.append({"op": "keep", "interface": interface, "id": keep["id"], "url": url})
        steps += [{"op": "delete", "interface": interface, "id": e["id"], "url": e["url"]}
                  for e in mine if e is not keep]
    return steps


def step_action(step: dict[str, Any]) -> str:
    """One line of the module's `actions` for an endpoint step ('' for keep)."""
    interface = step["interface"]
    if step["op"] == "keep":
        return ""
    if step["op"] == "create":
        return f"created endpoint {interface} {step['url']}"
    if step["op"] == "delete":
        return f"removed duplicate endpoint {interface} {step['id']} {step['url']}"
    parts = []
    if "url" in step["changes"]:
        parts.append(f"fixed endpoint {interface} URL {step['was']} -> {step['url']}")
    if "is_enabled" in step["changes"]:
        parts.append(f"enabled endpoint {interface}")
    return "; ".join(parts)


def endpoints_view(current: list[dict[str, Any]], interfaces: list[str], region: str) -> dict[str, Any]:
    """The wanted interfaces' endpoints in the region as the diff shows them: interface -> URL
    (a list when there are several, ' (disabled)' after a disabled one; missing interfaces left out)."""
    view: dict[str, Any] = {}
    for interface in INTERFACES:
        if interface not in interfaces:
            continue
        urls = [e["url"] + ("" if e.get("enabled", True) else " (disabled)")
                for e in sorted(current, key=lambda e: e["id"])
                if e["interface"] == interface and e["region_id"] == region]
        if urls:
            view[interface] = urls[0] if len(urls) == 1 else urls
    return view


def user_changes(current: dict[str, Any], project_id: str | None) -> dict[str, Any]:
    """Attributes to set on an existing user: its default project and enabled (the password is apart)."""
    changes: dict[str, Any] = {}
    if project_id and current.get("default_project_id") != project_id:
        changes["default_project_id"] = project_id
    if current.get("enabled") is False:
        changes["is_enabled"] = True
    return changes


def user_action(changes: dict[str, Any], project: str) -> list[str]:
    out = []
    if "default_project_id" in changes:
        out.append(f"set default project {project}")
    if "is_enabled" in changes:
        out.append("enabled user")
    return out


def missing_roles(want: list[str], have_ids: set[str], role_ids: dict[str, str]) -> list[str]:
    """Names of the wanted roles the user lacks in the project, in the order asked (no repeats).
    A role Keystone does not have (role_ids lacks it) is missing too."""
    out: list[str] = []
    for name in want:
        if role_ids.get(name) not in have_ids and name not in out:
            out.append(name)
    return out
