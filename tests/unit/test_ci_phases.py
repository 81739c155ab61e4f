"""The per-phase time summary printed at the end of a test session (tests/conftest.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("rentstack_root_conftest", ROOT / "tests" / "conftest.py")
conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conftest)


def test_lint_and_unit_are_one_phase_each_integration_files_their_own() -> None:
    assert conftest.phase_of("tests/unit/test_filters.py::test_x[a]") == "tests/unit"
    assert conftest.phase_of("tests/lint/test_lint.py::test_ruff") == "tests/lint"
    assert conftest.phase_of("tests/integration/test_10_deploy.py::test_site") == "tests/integration/test_10_deploy.py"


def test_table_keeps_run_order_and_adds_a_running_total() -> None:
    lines = conftest.phase_table({"tests/lint": 120.0, "tests/integration/test_10_deploy.py": 600.0},
                                 {"tests/lint": 4, "tests/integration/test_10_deploy.py": 7}, before=180.0)
    assert lines[1].split()[-2:] == ["3.0", "3.0"]
    assert lines[2].split() == ["tests/lint", "4", "2.0", "5.0"]
    assert lines[3].split() == ["tests/integration/test_10_deploy.py", "7", "10.0", "15.0"]
    assert len(conftest.phase_table({"a": 1.0}, {}, before=None)) == 2
