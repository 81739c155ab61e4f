"""Unit tests of the capacity report rows and formatting (plugins/filter/report.py)."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "module_utils"))
from report import HOST_COLUMNS, PROJECT_COLUMNS, report_html, report_rows, text_table, to_csv  # noqa: E402
from test_resources import NOW, raw_sample  # noqa: E402
from rentstack_resources import build_inventory  # noqa: E402


def rows() -> dict:
    inv = build_inventory(raw_sample(), now=NOW, ephemeral_limits={"A1": 100})
    return report_rows(inv["hosts"], inv["groups"], inv["group_vars"]["all"]["rentstack_projects"])


def test_rows_cover_hosts_projects_instances() -> None:
    r = rows()
    assert [h["host"] for h in r["hosts"]] == ["cmp1", "cmp2"]
    a1 = next(p for p in r["projects"] if p["project"] == "A1")
    assert (a1["running"], a1["cores_limit"], a1["cores_used"], a1["cores_free"]) == (1, 20, 2, 18)
    assert a1["gigabytes_limit"] == "n/a"
    assert len(r["instances"]) == 3


def test_csv_has_every_table_5_9_column() -> None:
    r = rows()
    hosts = list(csv.DictReader(io.StringIO(to_csv(r["hosts"], HOST_COLUMNS))))
    assert hosts[0]["vcpu_capacity"] == "128" and hosts[0]["memory_mb_free"] == "32160"
    projects = list(csv.DictReader(io.StringIO(to_csv(r["projects"], PROJECT_COLUMNS))))
    for col in ("cores_limit", "cores_used", "cores_free", "ram_mb_limit", "instances_limit", "running",
                "ephemeral_gb_limit", "ephemeral_gb_used", "gigabytes_limit", "gigabytes_used"):
        assert col in projects[0], col


def test_text_table_aligns_columns() -> None:
    out = text_table([{"a": "x", "b": 10}, {"a": "longer", "b": 5}], ["a", "b"])
    lines = out.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[2].startswith("x     ") and lines[2].endswith("10")


def test_html_prints_every_name_as_text() -> None:
    """A tenant names its VMs: the HTML report escapes them (Jinja2 autoescape), it never runs them."""
    r = rows()
    hostile = '<script>alert(1)</script><img src=x onerror="x()">'
    r["instances"][0]["name"] = hostile
    r["projects"][0]["project"] = "<b>A&B</b>"
    template = Path(__file__).resolve().parents[2] / "playbooks" / "templates" / "report.html.j2"
    html = report_html(r, "20261208T000000Z", str(template))
    assert hostile not in html and "<script" not in html and "<img" not in html and "<b>A" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&#34;x()&#34;&gt;" in html
    assert "&lt;b&gt;A&amp;B&lt;/b&gt;" in html
    # The template's own markup is kept: tables, bars and the entities in its text.
    assert html.count("<table>") == 4 and 'class="bar"' in html and "&times;" in html
    assert html.startswith("<!DOCTYPE html>")
