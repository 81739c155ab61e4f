"""Static checks of the whole tree, as pytest tests so `make test` ends in one summary.

yamllint (.yamllint), ansible-lint with the production profile (.ansible-lint,
offline), `ansible-playbook --syntax-check` of every playbook, and ruff
(ruff.toml). Each runs from the repository root with its ansible.cfg.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    """The venv's copy of a tool, else the one on PATH; skip if there is none."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed: run `make deps` (it installs requirements.txt into .venv)")
    return found


def _run(argv: list[str], timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    return subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
    )


def _report(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}: {' '.join(proc.args)}\n{proc.stdout}\n{proc.stderr}"


def test_yamllint() -> None:
    proc = _run([_tool("yamllint"), "--strict", "--format", "parsable", "."])
    assert proc.returncode == 0, _report(proc)


def test_ansible_lint_production_profile() -> None:
    # --offline as well as `offline: true` in .ansible-lint: Galaxy is unreachable.
    proc = _run([_tool("ansible-lint"), "--profile", "production", "--offline", "--nocolor"])
    assert proc.returncode == 0, _report(proc)


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_playbook_syntax(playbook: Path) -> None:
    proc = _run([_tool("ansible-playbook"), "--syntax-check", str(playbook.relative_to(ROOT))], timeout=300)
    assert proc.returncode == 0, _report(proc)


def test_ruff() -> None:
    proc = _run([_tool("ruff"), "check", "--no-cache", "."], timeout=300)
    assert proc.returncode == 0, _report(proc)


def test_there_are_playbooks_to_check() -> None:
    assert any(p.name == "lab.yml" for p in PLAYBOOKS)
