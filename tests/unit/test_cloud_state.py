"""Filters that decide which cloud objects a rerun must still create (plugins/filter/cloud_state.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))

from cloud_state import objects_pending, sg_rules_pending  # noqa: E402

RULES = [{"protocol": "icmp"}, {"protocol": "tcp", "port": 22}, {"protocol": "tcp", "port": 80}]
PROJECTS = [{"name": "admin", "id": "a1"}, {"name": "demo", "id": "d1"}]


def _rule(protocol, port=None, prefix="0.0.0.0/0", direction="ingress", group=None):
    return {"direction": direction, "ethertype": "IPv4", "protocol": protocol, "port_range_min": port,
            "port_range_max": port, "remote_ip_prefix": prefix, "remote_group_id": group}


def test_nothing_pending_when_every_rule_is_there() -> None:
    full = [_rule(None, group="g"), _rule("icmp"), _rule("tcp", 22), _rule("tcp", 80)]
    groups = [{"name": "default", "project_id": "a1", "security_group_rules": full},
              {"name": "default", "project_id": "d1", "security_group_rules": list(reversed(full))}]
    assert sg_rules_pending(["admin", "demo"], RULES, PROJECTS, groups) == []


def test_missing_or_different_rules_are_pending() -> None:
    groups = [{"name": "default", "project_id": "a1",
               # 22 from one network only, 80 as egress: neither is the wanted rule
               "security_group_rules": [_rule("icmp"), _rule("tcp", 22, prefix="10.0.0.0/8"),
                                        _rule("tcp", 80, direction="egress")]},
              {"name": "other", "project_id": "d1", "security_group_rules": [_rule("icmp")]}]
    pending = sg_rules_pending(["admin", "demo"], RULES, PROJECTS, groups)
    assert pending == [["admin", RULES[1]], ["admin", RULES[2]],
                       ["demo", RULES[0]], ["demo", RULES[1]], ["demo", RULES[2]]]


def test_unknown_project_counts_every_rule() -> None:
    assert sg_rules_pending(["ghost"], RULES[:1], PROJECTS, []) == [["ghost", RULES[0]]]


def test_objects_pending() -> None:
    have = [{"name": "service", "description": "OpenStack service users"}, {"name": "admin", "description": None}]
    assert objects_pending(["service", "demo"], have) == ["demo"]
    wanted = [{"name": "demo", "description": "x"}, {"name": "admin"},
              {"name": "service", "description": "OpenStack service users"}]
    assert objects_pending(wanted, have, ["description"]) == [wanted[0]]
    changed = {"name": "service", "description": "Service users"}
    assert objects_pending([changed], have, ["description"]) == [changed]
    assert objects_pending([changed], have) == []
    assert objects_pending(["a"], []) == ["a"]
