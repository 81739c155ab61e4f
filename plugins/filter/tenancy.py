"""Validate the tenancy and flavor-menu data files before any change.

Every error names the entry (project, user, flavor, extra spec) and the fix.
"""

from __future__ import annotations

import re
from typing import Any

KNOWN_ROLES = {"admin", "member", "reader", "manager"}
QUOTA_KEYS = {"instances", "cores", "ram", "floating_ips", "ports", "security_groups", "volumes", "gigabytes",
              "networks", "routers", "key_pairs", "server_groups"}
_INT_SPEC = re.compile(r"^quota:(cpu_shares|disk_(read|write|total)_(bytes|iops)_sec|"
                       r"vif_(inbound|outbound)_(average|peak|burst))$")
ALLOWED_SPEC_PREFIXES = ("hw:", "hw_rng:", "trait:", "resources:", "aggregate_instance_extra_specs:",
                         "os:", "accel:", "pci_passthrough:")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) or (isinstance(value, str) and value.lstrip("-").isdigit())


def _named(entries: list[dict[str, Any]], section: str, errors: list[str]) -> dict[str, dict[str, Any]]:
    """Entries of one section by name; an entry without a name or a name listed twice is an error."""
    named: dict[str, dict[str, Any]] = {}
    for entry in entries:
        name = entry.get("name")
        if not name:
            errors.append(f"{section}: an entry has no name: {entry}")
        elif name in named:
            errors.append(f"{section}: {name} is listed twice; keep one entry")
        else:
            named[name] = entry
    return named


def tenancy_errors(tenancy: dict[str, Any]) -> list[str]:
    """Problems of the tenancy file (domains, projects, users, assignments)."""
    errors: list[str] = []
    domains = {d["name"] if isinstance(d, dict) else d for d in tenancy.get("domains", [])} | {"Default", "default"}
    projects = _named(tenancy.get("projects", []), "projects", errors)
    for name, p in projects.items():
        if p.get("domain", "Default") not in domains:
            errors.append(f"project {name}: domain {p['domain']} is not declared under domains")
        for key, value in (p.get("quotas") or {}).items():
            if key not in QUOTA_KEYS:
                errors.append(f"project {name}: quota '{key}' is unknown; use one of {', '.join(sorted(QUOTA_KEYS))}")
            elif not _is_int(value) or int(value) < -1:
                errors.append(f"project {name}: quota {key} = {value!r} must be a whole number >= 0, or -1 for unlimited")
    users = _named(tenancy.get("users", []), "users", errors)
    for name, u in users.items():
        if u.get("default_project") and u["default_project"] not in projects:
            errors.append(f"user {name}: default_project {u['default_project']} is not defined under projects")
        if u.get("email") and "@" not in str(u["email"]):
            errors.append(f"user {name}: email {u['email']!r} is not an address")
    for i, a in enumerate(tenancy.get("role_assignments", [])):
        label = f"role_assignments[{i}] ({a.get('user')} {a.get('role')} on {a.get('project', 'system')})"
        if a.get("role") not in KNOWN_ROLES:
            errors.append(f"{label}: role '{a.get('role')}' is unknown; use one of {', '.join(sorted(KNOWN_ROLES))}")
        if a.get("user") not in users and a.get("user") != "admin":
            errors.append(f"{label}: user {a.get('user')} is not defined under users")
        if a.get("project") and a["project"] not in projects and a["project"] not in ("admin", "service", "demo"):
            errors.append(f"{label}: project {a['project']} is not defined under projects")
        if a.get("role") == "admin" and a.get("user") != "admin":
            errors.append(f"{label}: only the cloud administrator holds 'admin' (it is global in OpenStack); "
                          "give project administrators 'manager' or 'member'")
    return errors


def flavor_errors(flavors: list[dict[str, Any]], projects: list[str] | None = None) -> list[str]:
    """Problems of the flavor menu (sizes and extra specs)."""
    errors: list[str] = []
    seen = set()
    for f in flavors:
        name = f.get("name")
        if not name:
            errors.append(f"flavors: an entry has no name: {f}")
            continue
        if name in seen:
            errors.append(f"flavor {name}: listed twice; keep one entry")
        seen.add(name)
        for key, low in (("vcpus", 1), ("ram", 64), ("disk", 0), ("ephemeral", 0), ("swap", 0)):
            value = f.get(key, 0 if key in ("disk", "ephemeral", "swap") else None)
            if not _is_int(value) or int(value) < low:
                errors.append(f"flavor {name}: {key} = {value!r} must be a whole number >= {low}")
        for proj in f.get("projects", []) or []:
            if projects is not None and proj not in projects:
                errors.append(f"flavor {name}: project {proj} (access list) is not defined in the tenancy file")
        specs = f.get("extra_specs") or {}
        for key, value in specs.items():
            if key == "quota:cpu_period":
                if not _is_int(value) or not 1000 <= int(value) <= 1000000:
                    errors.append(f"flavor {name}: {key} = {value!r} must be 1000..1000000 (microseconds)")
            elif key == "quota:cpu_quota":
                if not _is_int(value) or not (int(value) == -1 or int(value) >= 1000):
                    errors.append(f"flavor {name}: {key} = {value!r} must be -1 (no cap) or >= 1000 (microseconds)")
            elif _INT_SPEC.match(key):
                if not _is_int(value) or int(value) < 0:
                    errors.append(f"flavor {name}: {key} = {value!r} must be a whole number >= 0")
            elif key.startswith("quota:") or not key.startswith(ALLOWED_SPEC_PREFIXES):
                errors.append(f"flavor {name}: extra spec '{key}' is unknown; use quota:cpu_period, quota:cpu_quota, "
                              "quota:cpu_shares, quota:disk_{read,write,total}_{bytes,iops}_sec, "
                              "quota:vif_{inbound,outbound}_average or hw:* keys")
        if "quota:cpu_quota" in specs and "quota:cpu_period" not in specs:
            errors.append(f"flavor {name}: quota:cpu_quota needs quota:cpu_period (the cap is quota/period)")
    return errors


def flavor_size_changed(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """True when a flavor's immutable fields differ from the menu entry."""
    pairs = (("vcpus", "vcpus", None), ("ram", "ram", None), ("disk", "disk", 0), ("ephemeral", "ephemeral", 0),
             ("swap", "swap", 0), ("is_public", "public", True))
    for have_key, want_key, default in pairs:
        have = existing.get(have_key)
        want = wanted.get(want_key, default)
        if have_key == "swap":
            have = int(have or 0) if str(have or "0").isdigit() else 0
        if have != want and not (isinstance(want, int) and str(have) == str(want)):
            return True
    return False


def flavors_pending(menu: list[dict[str, Any]], existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The menu entries whose flavor Nova lacks or has with other attributes (size, public, description,
    extra specs): only these need the flavor module, so a rerun of an unchanged menu makes no call."""
    have = {f.get("name"): f for f in existing or []}
    pending = []
    for item in menu or []:
        current = have.get(item.get("name"))
        if (current is None or flavor_size_changed(current, item)
                or ("description" in item and (current.get("description") or "") != (item["description"] or ""))
                or spec_strings(current.get("extra_specs")) != spec_strings(item.get("extra_specs"))):
            pending.append(item)
    return pending


def spec_strings(specs: dict[str, Any] | None) -> dict[str, str]:
    """Extra specs as Nova stores them: every value a string."""
    return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in (specs or {}).items()}


class FilterModule:
    """rentstack tenancy and flavor validation filters."""

    def filters(self) -> dict[str, Any]:
        return {"tenancy_errors": tenancy_errors, "flavor_errors": flavor_errors,
                "flavor_size_changed": flavor_size_changed, "spec_strings": spec_strings,
                "flavors_pending": flavors_pending}
