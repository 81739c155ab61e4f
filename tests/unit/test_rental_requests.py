"""Unit tests of rental request validation (plugins/filter/rental.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "filter"))
from rental import request_errors  # noqa: E402

MENU = ["m1.nano", "1cpu.1gbmem.0disk"]
OS = ["rentstack-guest"]


def test_shipped_requests_are_valid() -> None:
    menu = yaml.safe_load((ROOT / "inventory/lab/group_vars/all/menu.yml").read_text())
    for path in sorted((ROOT / "requests").glob("*.yml")):
        req = yaml.safe_load(path.read_text())["rental_request"]
        assert request_errors(req, menu["rentstack_menu_flavors"], menu["rentstack_menu_images"]) == [], path


def test_off_menu_request_lists_the_menu() -> None:
    req = {"requester": "a", "project": "p", "prefix": "vm", "count": 3, "menu": "huge", "os": "windows"}
    assert request_errors(req, MENU, OS) == [
        "menu: 'huge' is not on the menu; choose one of: m1.nano, 1cpu.1gbmem.0disk",
        "os: 'windows' is not on the menu; choose one of: rentstack-guest",
    ]


def test_field_errors() -> None:
    req = {"prefix": "1bad name", "count": 0, "menu": "m1.nano", "os": "rentstack-guest", "expires": "31/12/2026",
           "floating_ip": "maybe"}
    errors = request_errors(req, MENU, OS)
    for field in ("requester:", "project:", "prefix:", "count: 0", "expires:", "floating_ip:"):
        assert any(e.startswith(field) for e in errors), field
    assert len(errors) == 6


def test_count_bounds_and_types() -> None:
    base = {"requester": "a", "project": "p", "prefix": "vm", "menu": "m1.nano", "os": "rentstack-guest"}
    assert request_errors({**base, "count": 500}, MENU, OS) == []
    assert request_errors({**base, "count": "20"}, MENU, OS) == []
    for bad in (501, -1, "lots", True, None):
        assert request_errors({**base, "count": bad}, MENU, OS), bad


def test_not_a_mapping() -> None:
    assert request_errors("missing", MENU, OS) == ["rental_request must be a mapping (see requests/example.yml)"]
