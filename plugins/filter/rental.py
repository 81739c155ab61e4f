"""Validate a rental request (the report's service flow) against the menu."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,40}$")
MAX_COUNT = 500
# The flat variable of each field, for an AWX survey (a survey cannot fill the nested rental_request).
FLAT = {"requester": "rental_requester", "project": "rental_project", "menu": "rental_flavor", "os": "rental_image",
        "count": "rental_count", "prefix": "rental_prefix", "floating_ip": "rental_floating_ip",
        "expires": "rental_expires"}


def _given(value: Any) -> bool:
    return value is not None and value != ""


def _merge(nested: Any, flat: dict | None) -> tuple[Any, list[str]]:
    """(the request, conflicts): the nested rental_request completed by the flat variables that are given."""
    given = {field: value for field, value in (flat or {}).items() if field in FLAT and _given(value)}
    if not given:
        return nested, []
    base = dict(nested) if isinstance(nested, dict) else {}
    conflicts = [f"{FLAT[field]}: {value!r} differs from rental_request.{field} {base[field]!r}; give one of them"
                 for field, value in given.items() if _given(base.get(field)) and str(base[field]) != str(value)]
    base.update(given)
    return base, conflicts


def rental_request_merge(nested: Any, flat: dict | None = None) -> Any:
    """The effective rental request: rental_request (-e @requests/x.yml) and/or the flat survey variables."""
    return _merge(nested, flat)[0]


def request_errors(req: Any, flavors: list[str], images: list[str], flat: dict | None = None) -> list[str]:
    """Every problem of a rental request, each naming the field and what is accepted.

    `flat` maps each field to its flat variable's value (None when not given); see FLAT."""
    req, conflicts = _merge(req, flat)
    if not isinstance(req, dict):
        return ["rental_request must be a mapping (see requests/example.yml), or give the flat variables "
                + ", ".join(FLAT.values())]
    errors = list(conflicts)
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
    # Each field's message names its flat variable too: a survey user never saw rental_request.menu.
    return errors[:len(conflicts)] + [_label(error) for error in errors[len(conflicts):]]


def _label(error: str) -> str:
    field, sep, rest = error.partition(":")
    return f"{field} ({FLAT[field]}){sep}{rest}" if field in FLAT else error


class FilterModule:
    """rentstack rental request filters."""

    def filters(self) -> dict[str, Any]:
        return {"request_errors": request_errors, "rental_request_merge": rental_request_merge}
