"""Rows, CSV and text tables of the capacity report (playbooks/report.yml)."""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

HOST_COLUMNS = [
    "host", "service_state", "service_status", "instance_count",
    "vcpu_total", "vcpu_reserved", "vcpu_allocation_ratio", "vcpu_capacity", "vcpu_allocated", "vcpu_free",
    "memory_mb_total", "memory_mb_reserved", "memory_mb_allocation_ratio", "memory_mb_capacity",
    "memory_mb_allocated", "memory_mb_free",
    "disk_gb_total", "disk_gb_reserved", "disk_gb_allocation_ratio", "disk_gb_capacity", "disk_gb_allocated",
    "disk_gb_free",
]
PROJECT_QUOTAS = ["instances", "cores", "ram_mb", "ephemeral_gb", "floating_ips", "volumes", "gigabytes"]
PROJECT_COLUMNS = ["project", "running"] + [f"{q}_{f}" for q in PROJECT_QUOTAS for f in ("limit", "used", "free")]
INSTANCE_COLUMNS = ["name", "id", "project", "user", "status", "power_state", "task_state", "host", "instance_name",
                    "flavor", "vcpus", "ram_mb", "root_gb", "ephemeral_gb", "swap_mb", "image", "fixed_ips",
                    "floating_ips", "created", "age_seconds"]


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return value


def report_rows(hostvars: dict[str, Any], groups: dict[str, list[str]], projects: list[dict[str, Any]]) -> dict[str, list]:
    """Rows for the hosts, projects and instances tables."""
    hosts = [{"host": h, **{c: _fmt(hostvars[h].get(c)) for c in HOST_COLUMNS[1:]}}
             for h in sorted(groups.get("compute_hosts", []))]
    instances = []
    running: dict[str, int] = {}
    for name in sorted(groups.get("instances", [])):
        hv = hostvars[name]
        flv = hv.get("flavor") or {}
        if hv.get("status") == "ACTIVE":
            running[hv.get("project")] = running.get(hv.get("project"), 0) + 1
        instances.append({
            "name": name, "id": hv.get("id"), "project": hv.get("project"), "user": hv.get("user"),
            "status": hv.get("status"), "power_state": _fmt(hv.get("power_state")),
            "task_state": _fmt(hv.get("task_state")), "host": _fmt(hv.get("host")),
            "instance_name": _fmt(hv.get("instance_name")), "flavor": flv.get("name"), "vcpus": flv.get("vcpus"),
            "ram_mb": flv.get("ram_mb"), "root_gb": flv.get("root_gb"), "ephemeral_gb": flv.get("ephemeral_gb"),
            "swap_mb": flv.get("swap_mb"), "image": _fmt(hv.get("image")), "fixed_ips": _fmt(hv.get("fixed_ips")),
            "floating_ips": _fmt(hv.get("floating_ips")), "created": hv.get("created"),
            "age_seconds": hv.get("age_seconds"),
        })
    prows = []
    for p in projects:
        row: dict[str, Any] = {"project": p["project_name"], "running": running.get(p["project_name"], 0)}
        for q in PROJECT_QUOTAS:
            vals = p.get(q) or {}
            for f in ("limit", "used", "free"):
                row[f"{q}_{f}"] = _fmt(vals.get(f)) if vals else "n/a"
        prows.append(row)
    return {"hosts": hosts, "projects": prows, "instances": instances}


def to_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def text_table(rows: list[dict[str, Any]], columns: list[str], headers: list[str] | None = None) -> str:
    """A fixed-width table for the terminal."""
    headers = headers or columns
    cells = [[str(_fmt(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(vals: list[str]) -> str:
        return "  ".join(v.rjust(w) if v.replace(".", "").lstrip("-").isdigit() else v.ljust(w) for v, w in zip(vals, widths))

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def percent(used: Any, total: Any) -> float:
    try:
        return round(100.0 * float(used) / float(total), 1) if float(total) > 0 else 0.0
    except (TypeError, ValueError):
        return 0.0


def report_html(report: dict[str, Any], stamp: str, template_path: str) -> str:
    """The HTML report: `template_path` rendered by Jinja2 with autoescape on, so every value (VM, project and host
    names come from tenants) is printed as text. Ansible's own templating does not honour `{% autoescape %}`
    (ansible-core 2.19 printed a VM named <script>... as markup, 2026-12-07), hence a plain Jinja2 environment here."""
    import jinja2  # Ansible's own dependency

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.dirname(template_path)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True)
    env.filters["percent"] = percent
    # Plain Python values (Ansible's tagged strings are str subclasses; JSON drops the tags).
    plain = json.loads(json.dumps(report, default=str))
    return env.get_template(os.path.basename(template_path)).render(report=plain, report_stamp=str(stamp))


class FilterModule:
    """rentstack report filters."""

    def filters(self) -> dict[str, Any]:
        return {"report_rows": report_rows, "to_csv": to_csv, "text_table": text_table, "percent": percent,
                "report_html": report_html,
                "report_columns": lambda kind: {"hosts": HOST_COLUMNS, "projects": PROJECT_COLUMNS,
                                                "instances": INSTANCE_COLUMNS}[kind]}
