"""site.yml in check mode on the deployed lab runs without errors (last in the deploy tier: it is
the longest check that changes nothing, so a CI time budget skips it first)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner import Result, run_playbook  # noqa: E402

from conftest import DEPLOY_TIMEOUT  # noqa: E402


def test_check_mode_runs(site_again: Result, tmp_path: Path) -> None:
    result = run_playbook("playbooks/site.yml", tmp_path, timeout=DEPLOY_TIMEOUT,
                          cmdline="--check --skip-tags verify,bootstrap_cloud")
    assert result.rc == 0, result.explain(120)
    assert sum(result.per_host("failures").values()) == 0
