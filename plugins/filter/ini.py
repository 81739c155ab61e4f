"""Render INI configuration files from nested dicts.

Each service role builds its config as a dict of sections (role vars) and
merges the operator's `<role>_<file>_overrides` dict on top, then renders it
with `to_ini` from a template. Any option can be set without forking a template.
"""

from __future__ import annotations

from typing import Any


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_value(v) for v in value)
    return str(value)


def to_ini(sections: dict[str, dict[str, Any]]) -> str:
    """Render {section: {key: value}} as INI text.

    `DEFAULT` comes first; other sections in the dict's order. A value of None
    omits the key (so an override can remove a managed option). Lists are joined
    with commas, booleans are lower case.
    """
    if not isinstance(sections, dict):
        raise TypeError(f"to_ini expects a dict of sections, got {type(sections).__name__}")
    order = (["DEFAULT"] if "DEFAULT" in sections else []) + [s for s in sections if s != "DEFAULT"]
    out: list[str] = []
    for name in order:
        options = sections[name] or {}
        if not isinstance(options, dict):
            raise TypeError(f"section [{name}] must be a dict of options, got {type(options).__name__}")
        out.append(f"[{name}]")
        out.extend(f"{key} = {_value(val)}" for key, val in options.items() if val is not None)
        out.append("")
    return "\n".join(out)


class FilterModule:
    """rentstack INI filters."""

    def filters(self) -> dict[str, Any]:
        return {"to_ini": to_ini}
