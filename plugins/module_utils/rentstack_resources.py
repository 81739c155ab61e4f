"""Resource accounting of a rentstack cloud (the report's Table 5-9).

`collect()` makes list calls only (their number does not grow with the
number of servers); `build_inventory()` is pure and turns that raw data into
hosts, groups and variables, so the capacity arithmetic is unit tested on
recorded API data.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

RESOURCE_CLASSES = {"VCPU": "vcpu", "MEMORY_MB": "memory_mb", "DISK_GB": "disk_gb"}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def capacity(inv: dict[str, Any] | None, used: int) -> dict[str, Any]:
    """total, reserved, allocation ratio, capacity = (total - reserved) x ratio,
    allocated and free of one resource class on one provider."""
    if not inv:
        return {"total": 0, "reserved": 0, "allocation_ratio": 1.0, "capacity": 0, "allocated": used, "free": -used}
    total = int(inv.get("total", 0))
    reserved = int(inv.get("reserved", 0))
    ratio = float(inv.get("allocation_ratio", 1.0))
    cap = int(math.floor((total - reserved) * ratio))
    return {"total": total, "reserved": reserved, "allocation_ratio": ratio, "capacity": cap,
            "allocated": int(used), "free": cap - int(used)}


def flavor_disk_gb(flavor: dict[str, Any]) -> int:
    """Ephemeral disk of one server (root + ephemeral + swap), in GB. Swap is in MB."""
    return int(flavor.get("disk") or 0) + int(flavor.get("ephemeral") or 0) + math.ceil(int(flavor.get("swap") or 0) / 1024)


def _quota(limit: Any, used: Any) -> dict[str, Any]:
    limit = -1 if limit is None else int(limit)
    used = int(used or 0)
    return {"limit": limit, "used": used, "free": (limit - used) if limit >= 0 else None}


def _age(created: str | None, now: dt.datetime) -> int | None:
    if not created:
        return None
    stamp = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    return int((now - stamp).total_seconds())


def build_inventory(raw: dict[str, Any], now: dt.datetime | None = None,
                    ephemeral_limits: dict[str, int] | None = None,
                    default_ephemeral_limit: int = -1) -> dict[str, Any]:
    """Hosts, groups and group variables from the raw listings.

    raw keys: servers, flavors, projects, users, images, services,
    hypervisors, providers ({name, uuid, inventories, usages}), quotas
    ({project_id: {compute: {...}, network: {...}, volume: {...} | None}}).
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    ephemeral_limits = ephemeral_limits or {}
    projects = {p["id"]: p["name"] for p in raw["projects"]}
    users = {u["id"]: u["name"] for u in raw.get("users", [])}
    images = {i["id"]: i["name"] for i in raw.get("images", [])}
    flavors_by_name = {f["name"]: f for f in raw["flavors"]}
    flavors_by_id = {f["id"]: f for f in raw["flavors"]}
    hosts: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[str]] = {"compute_hosts": [], "instances": []}
    group_vars: dict[str, dict[str, Any]] = {}

    # ---- compute hosts, from Placement and the compute service list
    services = {s["host"]: s for s in raw["services"] if s.get("binary") == "nova-compute"}
    hv_ip = {h.get("name", "").split(".")[0]: h.get("host_ip") for h in raw.get("hypervisors", [])}
    count_by_host: dict[str, int] = {}
    for srv in raw["servers"]:
        if srv.get("compute_host"):
            count_by_host[srv["compute_host"]] = count_by_host.get(srv["compute_host"], 0) + 1
    for prov in raw["providers"]:
        name = prov["name"].split(".")[0]
        if name not in services and not any(rc in prov["inventories"] for rc in ("VCPU", "MEMORY_MB")):
            continue  # not a compute node (e.g. a sharing provider)
        svc = services.get(name, {})
        hv = {"rentstack_kind": "compute_host", "provider_uuid": prov.get("uuid"),
              "service_state": svc.get("state"), "service_status": svc.get("status"),
              "disabled_reason": svc.get("disabled_reason"), "instance_count": count_by_host.get(name, 0)}
        if hv_ip.get(name):
            hv["ansible_host"] = hv_ip[name]
        for rc, key in RESOURCE_CLASSES.items():
            for field, value in capacity(prov["inventories"].get(rc), prov["usages"].get(rc, 0)).items():
                hv[f"{key}_{field}"] = value
        hosts[name] = hv
        groups["compute_hosts"].append(name)

    # ---- instances
    seen: dict[str, int] = {}
    for srv in raw["servers"]:
        seen[srv["name"]] = seen.get(srv["name"], 0) + 1
    usage: dict[str, dict[str, int]] = {}
    for srv in sorted(raw["servers"], key=lambda s: (s["name"], s["id"])):
        name = srv["name"] if seen[srv["name"]] == 1 else f"{srv['name']}_{srv['id'][:8]}"
        project = projects.get(srv.get("project_id"), srv.get("project_id"))
        flv = srv.get("flavor") or {}
        full = flavors_by_id.get(flv.get("id")) or flavors_by_name.get(flv.get("original_name") or flv.get("name"), {})
        flavor = {
            "name": flv.get("original_name") or flv.get("name") or full.get("name"),
            "vcpus": flv.get("vcpus", full.get("vcpus")),
            "ram_mb": flv.get("ram", full.get("ram")),
            "root_gb": flv.get("disk", full.get("disk")),
            "ephemeral_gb": flv.get("ephemeral", full.get("ephemeral")),
            "swap_mb": flv.get("swap", full.get("swap")) or 0,
            "extra_specs": flv.get("extra_specs") or full.get("extra_specs") or {},
        }
        fixed, floating = [], []
        for entries in (srv.get("addresses") or {}).values():
            for entry in entries:
                (floating if entry.get("OS-EXT-IPS:type") == "floating" else fixed).append(entry.get("addr"))
        image = srv.get("image") or {}
        hv = {
            "rentstack_kind": "instance", "id": srv["id"], "project": project, "project_id": srv.get("project_id"),
            "user": users.get(srv.get("user_id"), srv.get("user_id")), "flavor": flavor,
            "image": images.get(image.get("id"), image.get("id")) if isinstance(image, dict) else None,
            "host": srv.get("compute_host"), "instance_name": srv.get("instance_name"),
            "status": srv.get("status"), "power_state": srv.get("power_state"),
            "task_state": srv.get("task_state"), "fixed_ips": fixed, "floating_ips": floating,
            "created": srv.get("created_at"), "age_seconds": _age(srv.get("created_at"), now),
            "fault": ((srv.get("fault") or {}).get("message")) if srv.get("status") == "ERROR" else None,
        }
        if floating or fixed:
            hv["ansible_host"] = (floating or fixed)[0]
        hosts[name] = hv
        groups["instances"].append(name)
        for group in (f"project_{_safe(str(project))}", f"status_{_safe(str(srv.get('status', '')).lower())}"):
            groups.setdefault(group, []).append(name)
        if srv.get("compute_host"):
            groups.setdefault(f"on_{_safe(srv['compute_host'])}", []).append(name)
        u = usage.setdefault(srv.get("project_id"), {"ephemeral_gb": 0, "instances_listed": 0})
        u["instances_listed"] += 1
        u["ephemeral_gb"] += flavor_disk_gb({"disk": flavor["root_gb"], "ephemeral": flavor["ephemeral_gb"],
                                             "swap": flavor["swap_mb"]})

    # ---- projects (group vars of project_<name>, and the list on group all)
    summary = []
    for pid, pname in sorted(projects.items(), key=lambda kv: kv[1]):
        q = raw["quotas"].get(pid)
        if q is None:
            continue
        comp, net, vol = q.get("compute") or {}, q.get("network") or {}, q.get("volume")
        limit_eph = int(ephemeral_limits.get(pname, default_ephemeral_limit))
        pv = {
            "project_id": pid, "project_name": pname,
            "instances": _quota(comp.get("instances", {}).get("limit"), comp.get("instances", {}).get("in_use")),
            "cores": _quota(comp.get("cores", {}).get("limit"), comp.get("cores", {}).get("in_use")),
            "ram_mb": _quota(comp.get("ram", {}).get("limit"), comp.get("ram", {}).get("in_use")),
            "floating_ips": _quota(net.get("floatingip", {}).get("limit"), net.get("floatingip", {}).get("used")),
            "ports": _quota(net.get("port", {}).get("limit"), net.get("port", {}).get("used")),
            "ephemeral_gb": _quota(limit_eph, usage.get(pid, {}).get("ephemeral_gb", 0)),
            "volumes": _quota(vol["volumes"]["limit"], vol["volumes"]["in_use"]) if vol else None,
            "gigabytes": _quota(vol["gigabytes"]["limit"], vol["gigabytes"]["in_use"]) if vol else None,
        }
        group_vars[f"project_{_safe(pname)}"] = {"rentstack_project": pv}
        groups.setdefault(f"project_{_safe(pname)}", [])
        summary.append(pv)
    group_vars["all"] = {"rentstack_projects": summary,
                         "rentstack_inventory_time": now.isoformat(timespec="seconds")}
    return {"hosts": hosts, "groups": groups, "group_vars": group_vars}


def raw_servers_listing(compute: Any, query: dict[str, Any], microversion: str) -> list[dict]:
    """GET /servers/detail at a given microversion, every page, as openstacksdk's Server.to_dict() shapes."""
    from openstack import exceptions as os_exc
    from openstack.compute.v2.server import Server

    params = {("changes-since" if k == "changes_since" else k): v for k, v in query.items() if k != "details"}
    rows: list[dict] = []
    while True:
        resp = compute.get("/servers/detail", params=params, microversion=microversion)
        os_exc.raise_from_response(resp)
        body = resp.json()
        page = body.get("servers") or []
        rows.extend(Server.existing(**raw).to_dict(computed=False) for raw in page)
        if not page or not any(link.get("rel") == "next" for link in body.get("servers_links") or []):
            return rows
        params["marker"] = page[-1]["id"]


def _vanished(exc: BaseException) -> bool:
    """An answer saying the object asked about no longer exists (deleted between two calls): 404, or the quota
    APIs' 400 'Project ID ... is not a valid project'."""
    status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
    return status == 404 or (status == 400 and "not a valid project" in str(exc).lower())


def _take(future: Any, call: str, default: Any, warnings: list[str]) -> Any:
    """A call's answer, or `default` with a warning naming the call: one failing call degrades the inventory
    (its part missing), never empties it."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - any answer of any service: reported, not raised
        what = "vanished between two calls; skipped" if _vanished(exc) else "failed"
        warnings.append(f"{call} {what}: {type(exc).__name__}: {str(exc).strip()[:300]}")
        return default


def _servers(conn: Any, warnings: list[str]) -> list[dict]:
    """Every server; at microversion 2.95 when the negotiated one answers 500 (Nova 31 fails every 2.96+
    listing while an ERROR server has no request spec: docs/operations.md)."""
    try:
        return [s.to_dict(computed=False) for s in conn.compute.servers(details=True, all_projects=True)]
    except Exception as exc:  # noqa: BLE001 - only a 500 is followed by the 2.95 listing
        if (getattr(exc, "status_code", None) or getattr(exc, "http_status", None)) != 500:
            raise
        warnings.append(f"servers listing answered 500 ({type(exc).__name__}: {str(exc).strip()[:200]}); listed at "
                        "microversion 2.95 instead (an ERROR server without a request spec? see docs/operations.md)")
        return raw_servers_listing(conn.compute, {"all_tenants": True}, "2.95")


def _provider(conn: Any, rp: Any) -> dict[str, Any]:
    """One resource provider with its inventories and usages (two requests)."""
    inv = {i.resource_class: i.to_dict(computed=False) for i in conn.placement.resource_provider_inventories(rp)}
    usages = conn.placement.get(f"/resource_providers/{rp.id}/usages", microversion="1.9").json().get("usages", {})
    return {"name": rp.name, "uuid": rp.id, "inventories": inv, "usages": usages}


def placement_providers(conn: Any) -> list[dict[str, Any]]:
    """Every resource provider with its inventories and usages (one listing,
    then two requests per provider): the shape capacity() and placement_fit() read."""
    return [_provider(conn, rp) for rp in conn.placement.resource_providers()]


def _compute_quota(conn: Any, project_id: str) -> dict[str, Any]:
    cq = conn.compute.get_quota_set(project_id, usage=True)
    return {k: {"limit": getattr(cq, k), "in_use": (cq.usage or {}).get(k, 0)} for k in ("instances", "cores", "ram")}


def _network_quota(conn: Any, project_id: str) -> dict[str, Any]:
    return conn.network.get(f"/quotas/{project_id}/details.json").json().get("quota", {})


def _volume_quota(conn: Any, project_id: str) -> dict[str, Any]:
    vq = conn.block_storage.get_quota_set(project_id, usage=True)
    return {k: {"limit": getattr(vq, k), "in_use": (vq.usage or {}).get(k, 0)} for k in ("volumes", "gigabytes")}


def collect(conn: Any, volume: bool = True, workers: int = 8) -> dict[str, Any]:
    """All listings build_inventory needs. The number of API requests depends
    on the number of projects and resource providers, never on servers.

    The token comes first (one authentication). Then each service's first
    request runs at the same time as the other services' first requests (the
    compute services listing, the projects, the images, the resource providers,
    the network and volume quotas of the token's project): each does its
    service's version discovery once, and no two threads discover the same
    service. Everything else (the servers listing, the other listings, two
    requests per resource provider, the quota requests of the other projects)
    is queued as soon as its service is discovered, on ``workers`` threads. The
    refresh takes about as long as its slowest chain (usually the servers
    listing), and makes exactly the same requests as ``workers=1``."""
    own = conn.current_project_id  # authenticates
    has_volume = volume and bool(conn.endpoint_for("block-storage") or conn.endpoint_for("volumev3")) \
        if hasattr(conn, "endpoint_for") else False
    warnings: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        services = pool.submit(lambda: [s.to_dict(computed=False) for s in conn.compute.services()])
        projects_f = pool.submit(lambda: [{"id": p.id, "name": p.name} for p in conn.identity.projects()])
        images = pool.submit(lambda: [{"id": i.id, "name": i.name} for i in conn.image.images()])
        rps_f = pool.submit(lambda: list(conn.placement.resource_providers()))
        own_network = pool.submit(_network_quota, conn, own)
        own_volume = pool.submit(_volume_quota, conn, own) if has_volume else None
        services_list = _take(services, "compute services listing", [], warnings)  # compute discovered
        servers = pool.submit(_servers, conn, warnings)
        flavors = pool.submit(lambda: [f.to_dict(computed=False)
                                       for f in conn.compute.flavors(details=True, is_public=None)])
        hypervisors = pool.submit(lambda: [{"name": h.name, "host_ip": h.host_ip}
                                           for h in conn.compute.hypervisors(details=True)])
        providers = [(rp, pool.submit(_provider, conn, rp))
                     for rp in _take(rps_f, "resource providers listing", [], warnings)]
        projects = _take(projects_f, "projects listing", [], warnings)  # identity discovered
        users = pool.submit(lambda: [{"id": u.id, "name": u.name} for u in conn.identity.users()])
        quotas: dict[str, Any] = {p["id"]: {"volume": None} for p in projects}
        pending = [(p["id"], "compute", pool.submit(_compute_quota, conn, p["id"])) for p in projects]
        _take(own_network, "network quota of the token's project", None, warnings)  # network discovered
        if own_volume is not None:
            _take(own_volume, "volume quota of the token's project", None, warnings)
        for p in projects:
            pending.append((p["id"], "network", own_network if p["id"] == own
                            else pool.submit(_network_quota, conn, p["id"])))
            if has_volume:
                pending.append((p["id"], "volume", own_volume if p["id"] == own
                                else pool.submit(_volume_quota, conn, p["id"])))
        names = {p["id"]: p["name"] for p in projects}
        failed: set[str] = set()
        for pid, kind, future in pending:
            value = _take(future, f"{kind} quota of project {names[pid]} ({pid})", None, warnings)
            if value is None:
                failed.add(pid)
            else:
                quotas[pid][kind] = value
        provider_rows = [row for row in (_take(f, f"inventories and usages of resource provider {rp.name}", None,
                                               warnings) for rp, f in providers) if row is not None]
        return {"servers": _take(servers, "servers listing", [], warnings),
                "flavors": _take(flavors, "flavors listing", [], warnings), "projects": projects,
                "users": _take(users, "users listing", [], warnings),
                "images": _take(images, "images listing", [], warnings), "services": services_list,
                "hypervisors": _take(hypervisors, "hypervisors listing", [], warnings), "providers": provider_rows,
                "quotas": {pid: q for pid, q in quotas.items() if pid not in failed}, "warnings": warnings}
