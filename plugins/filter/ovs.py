"""Read the answer of one `ovs-vsctl -f json -d json` call that lists several tables.

ovs-vsctl runs several commands separated by `--` in one transaction and prints
one JSON object per `list` command, then the plain lines of commands such as
`get-manager`. roles/ovn reads bridges, ports, the switch settings and the
managers this way in one call instead of four.
"""

from __future__ import annotations

import json
from typing import Any


def _datum(value: Any) -> Any:
    """An OVSDB JSON datum as plain data: ["uuid", U] -> U, ["set", [...]] -> list, ["map", [...]] -> dict."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        kind, body = value
        if kind in ("uuid", "named-uuid"):
            return body
        if kind == "set":
            return [_datum(v) for v in body]
        if kind == "map":
            return {_datum(k): _datum(v) for k, v in body}
    return value


def ovs_tables(stdout: str) -> list[list[dict[str, Any]]]:
    """The rows of each JSON table in the output, in order: one list of {column: value} per table."""
    tables: list[list[dict[str, Any]]] = []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        table = json.loads(line)
        tables.append([dict(zip(table["headings"], map(_datum, row))) for row in table["data"]])
    return tables


def ovs_plain_lines(stdout: str) -> list[str]:
    """The lines of the output that are not a JSON table (get-manager, get-controller ...)."""
    return [line for line in stdout.splitlines() if line and not line.startswith("{")]


def ovs_port_bridges(bridges: list[dict[str, Any]], ports: list[dict[str, Any]]) -> dict[str, str]:
    """{port name: bridge name} from the rows of `list Bridge` (name, ports) and `list Port` (_uuid, name)."""
    names = {port["_uuid"]: port["name"] for port in ports}
    found: dict[str, str] = {}
    for bridge in bridges:
        members = bridge.get("ports") or []
        # A set of one element is the element itself in OVSDB JSON.
        for uuid in members if isinstance(members, list) else [members]:
            if uuid in names:
                found[names[uuid]] = bridge["name"]
    return found


class FilterModule:
    """ovs_tables, ovs_plain_lines, ovs_port_bridges."""

    def filters(self) -> dict[str, Any]:
        return {"ovs_tables": ovs_tables, "ovs_plain_lines": ovs_plain_lines, "ovs_port_bridges": ovs_port_bridges}
