"""The repository builds as the collection rentstack.cloud (galaxy.yml) and the artifact holds what it should.

A few seconds: `ansible-galaxy collection build` of a copy of the tracked files into which a secrets.yml, a
.venv and benchmark results are planted (as a working tree may have them), then `collection install` of the
tarball. The full `ansible-test sanity` run on the installed collection is `make sanity` (docs/collection.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Files a working tree may hold that must never enter the artifact, each with a marker in its content.
PLANTED = (
    "inventory/lab/group_vars/all/secrets.yml",
    "inventory/example/group_vars/all/secrets.yml",
    "secrets.yml",
    ".venv/bin/python-marker",
    "bench/results/planted.json",
    "reports/capacity.html",
    ".cache/facts/ctl1",
    "tests/output/junit.xml",
    "plugins/modules/__pycache__/x.cpython-311.pyc",
)
MARKER = "rentstack-planted-do-not-ship"


def _galaxy(*argv: str, cwd: Path) -> None:
    tool = BIN / "ansible-galaxy"
    if not tool.exists():
        pytest.skip("ansible-galaxy is not installed: run `make deps`")
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "NO_COLOR": "1"}
    proc = subprocess.run([str(tool), "collection", *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, f"exit {proc.returncode}: {' '.join(proc.args)}\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("collection")
    tree = base / "tree"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, tracked):
        src = ROOT / rel
        if src.is_file():  # a file deleted in the working tree is not built either
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tree / rel)
    for rel in PLANTED:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(f"rentstack_secrets: {{admin: {MARKER}}}\n")
    _galaxy("build", "--output-path", str(base / "build"), cwd=tree)
    tarballs = list((base / "build").glob("rentstack-cloud-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    _galaxy("install", "--no-deps", "-p", str(base / "installed"), str(tarballs[0]), cwd=base)
    return {"tarball": tarballs[0], "installed": base / "installed" / "ansible_collections" / "rentstack" / "cloud"}


@pytest.fixture(scope="module")
def members(artifact: dict[str, Path]) -> dict[str, bytes]:
    with tarfile.open(artifact["tarball"]) as tar:
        return {m.name: tar.extractfile(m).read() if m.isfile() else b"" for m in tar.getmembers()}


def test_version_and_name(artifact: dict[str, Path]) -> None:
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert artifact["tarball"].name == f"rentstack-cloud-{galaxy['version']}.tar.gz"


def test_holds_the_modules_roles_and_runtime(members: dict[str, bytes]) -> None:
    modules = sorted(p.name for p in (ROOT / "plugins" / "modules").glob("*.py"))
    assert modules, "plugins/modules is empty"
    assert {f"plugins/modules/{m}" for m in modules} <= set(members)
    for path in ("meta/runtime.yml", "plugins/module_utils/rentstack_engine.py", "plugins/doc_fragments/engine.py",
                 "plugins/doc_fragments/cloud.py", "plugins/action/rentstack_servers.py", "roles/nova/tasks/main.yml",
                 "playbooks/site.yml", "README.md", "CHANGELOG.md", "tests/sanity/ignore-2.19.txt"):
        assert path in members, path
    roles = {p.name for p in (ROOT / "roles").iterdir() if p.is_dir()}
    assert roles <= {m.split("/")[1] for m in members if m.startswith("roles/") and m.count("/") > 1}


def test_holds_no_secrets_venv_or_local_state(members: dict[str, bytes]) -> None:
    leaked = [m for m, data in members.items() if MARKER.encode() in data]
    assert not leaked, f"planted files in the artifact: {leaked}"
    forbidden = (".venv/", ".cache/", ".ci/", "inventory/", "bench/", "reports/", "tests/output/", "tests/integration/",
                 "tests/unit/", "tests/lint/", ".git/", "molecule/", ".config/")
    bad = [m for m in members if m.startswith(forbidden) or m.endswith((".pyc", "secrets.yml")) or "__pycache__" in m]
    assert not bad, bad


def test_installs_as_rentstack_cloud(artifact: dict[str, Path]) -> None:
    installed = artifact["installed"]
    assert (installed / "MANIFEST.json").is_file()
    runtime = yaml.safe_load((installed / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"].startswith(">=2.19")
    group = set(runtime["action_groups"]["rentstack"])
    assert group and all((installed / "plugins" / "modules" / f"{m}.py").is_file() for m in group)


def test_ansible_test_sanity_passes_on_the_installed_collection() -> None:
    """`make sanity`: build, install into a temporary path, `ansible-test sanity --venv` there; 0 errors
    (35 s with ansible-test's venvs made, about 95 s the first time). Its exceptions are tests/sanity/ignore-2.19.txt."""
    if not (BIN / "ansible-test").exists():
        pytest.skip("ansible-test is not installed: run `make deps`")
    proc = subprocess.run(["make", "--no-print-directory", "sanity", f"VENV={BIN.parent}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200, check=False)
    assert proc.returncode == 0, f"make sanity failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
