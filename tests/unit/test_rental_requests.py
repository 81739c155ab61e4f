"""Unit tests of rental request validation (plugins/filter/rental.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "filter"))
from rental import FLAT, rental_request_merge, request_errors  # noqa: E402

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
        "menu (rental_flavor): 'huge' is not on the menu; choose one of: m1.nano, 1cpu.1gbmem.0disk",
        "os (rental_image): 'windows' is not on the menu; choose one of: rentstack-guest",
    ]


def test_field_errors() -> None:
    req = {"prefix": "1bad name", "count": 0, "menu": "m1.nano", "os": "rentstack-guest", "expires": "31/12/2026",
           "floating_ip": "maybe"}
    errors = request_errors(req, MENU, OS)
    for field in ("requester (rental_requester):", "project (rental_project):", "prefix (rental_prefix):",
                  "count (rental_count): 0", "expires (rental_expires):", "floating_ip (rental_floating_ip):"):
        assert any(e.startswith(field) for e in errors), field
    assert len(errors) == 6


def test_count_bounds_and_types() -> None:
    base = {"requester": "a", "project": "p", "prefix": "vm", "menu": "m1.nano", "os": "rentstack-guest"}
    assert request_errors({**base, "count": 500}, MENU, OS) == []
    assert request_errors({**base, "count": "20"}, MENU, OS) == []
    for bad in (501, -1, "lots", True, None):
        assert request_errors({**base, "count": bad}, MENU, OS), bad


def test_not_a_mapping() -> None:
    errors = request_errors("missing", MENU, OS)
    assert len(errors) == 1 and errors[0].startswith("rental_request must be a mapping (see requests/example.yml)")
    assert "rental_project" in errors[0] and "rental_count" in errors[0]


NOT_GIVEN = dict.fromkeys(FLAT)  # what the playbook passes when no flat variable is set


def test_flat_survey_variables_alone_make_a_request() -> None:
    flat = {**NOT_GIVEN, "requester": "a@example.com", "project": "p", "menu": "m1.nano", "os": "rentstack-guest",
            "count": "4", "prefix": "vm", "floating_ip": ""}
    assert request_errors(None, MENU, OS, flat) == []
    merged = rental_request_merge(None, flat)
    assert merged == {"requester": "a@example.com", "project": "p", "menu": "m1.nano", "os": "rentstack-guest",
                      "count": "4", "prefix": "vm"}


def test_flat_variables_complete_the_nested_request_and_conflicts_are_refused() -> None:
    nested = {"requester": "a", "project": "p", "prefix": "vm", "menu": "m1.nano", "os": "rentstack-guest"}
    assert rental_request_merge(nested, {**NOT_GIVEN, "count": 3})["count"] == 3
    assert request_errors(nested, MENU, OS, {**NOT_GIVEN, "count": 3}) == []
    errors = request_errors({**nested, "count": 2}, MENU, OS, {**NOT_GIVEN, "count": 3, "menu": "huge"})
    assert errors[:2] == ["rental_flavor: 'huge' differs from rental_request.menu 'm1.nano'; give one of them",
                          "rental_count: 3 differs from rental_request.count 2; give one of them"]
    assert any(e.startswith("menu (rental_flavor): 'huge'") for e in errors), errors
    # The same value given both ways is no conflict.
    assert request_errors({**nested, "count": 3}, MENU, OS, {**NOT_GIVEN, "count": "3"}) == []
    # Nothing given anywhere: the one message says both ways.
    assert request_errors(None, MENU, OS, NOT_GIVEN)[0].startswith("rental_request must be a mapping")


def test_survey_values_outside_the_menu_or_count_are_refused() -> None:
    flat = {**NOT_GIVEN, "requester": "a", "project": "p", "prefix": "vm", "menu": "xl", "os": "rentstack-guest",
            "count": 0}
    errors = request_errors(None, MENU, OS, flat)
    assert errors == ["count (rental_count): 0 is not a whole number from 1 to 500",
                      "menu (rental_flavor): 'xl' is not on the menu; choose one of: m1.nano, 1cpu.1gbmem.0disk"]
