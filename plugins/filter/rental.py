"""Validate a rental request (the report's service flow) against the menu."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,40}$")
MAX_COUNT = 500


def request_errors(req: Any, flavors: list[str], images: list[str]) -> list[str]:
    """Every problem of a rental request, each naming the field and what is accepted."""
    if not isinstance(req, dict):
        return ["rental_request must be a mapping (see requests/example.yml)"]
    errors = []
    if not req.get("requester"):
        errors.append("requester: missing; say who asked for the VMs")
    if not req.get("project"):
        errors.append("project: missing; name the project the VMs belong to")
    if not _PREFIX.match(str(req.get("prefix") or "")):
        errors.append(f"prefix: {req.get('prefix')!r} is not a name (a letter, then letters, digits or '-', "
                      "at most 41); e.g. prefix: team-a")
    count = req.get("count")
    if isinstance(count, bool) or not str(count).isdigit() or not 1 <= int(count) <= MAX_COUNT:
        errors.append(f"count: {count!r} is not a whole number from 1 to {MAX_COUNT}")
    if req.get("menu") not in flavors:
        errors.append(f"menu: {req.get('menu')!r} is not on the menu; choose one of: {', '.join(flavors)}")
    if req.get("os") not in images:
        errors.append(f"os: {req.get('os')!r} is not on the menu; choose one of: {', '.join(images)}")
    if req.get("expires") not in (None, ""):
        try:
            dt.date.fromisoformat(str(req["expires"]))
        except ValueError:
            errors.append(f"expires: {req['expires']!r} is not a date YYYY-MM-DD")
    if "floating_ip" in req and str(req["floating_ip"]).lower() not in ("true", "false"):
        errors.append(f"floating_ip: {req['floating_ip']!r} must be true or false")
    return errors


class FilterModule:
    """rentstack rental request filters."""

    def filters(self) -> dict[str, Any]:
        return {"request_errors": request_errors}
