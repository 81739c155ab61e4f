"""The execution environment definition (execution-environment.yml; docs/awx.md) builds a sound context.

CI runs `ansible-builder create` (what `make ee-context` runs) and checks the result: the pins the image gets
are the control machine's, every file the Containerfile copies is in the context, the Debian package-manager
adapter does what ansible-builder asks of it. Building the image itself is `make ee` (docs/testing.md).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILDER = Path(sys.executable).parent / "ansible-builder"


def pins(path: Path) -> dict[str, str]:
    """name -> version of each `name==version` line of a pip requirements file."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\[\]-]+)==([^\s#]+)", line.strip())
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not BUILDER.exists():
        pytest.skip("ansible-builder is not installed: run `make deps` (requirements.txt pins it)")
    out = tmp_path_factory.mktemp("ee") / "context"
    made = subprocess.run([str(BUILDER), "create", "-f", "execution-environment.yml", "-c", str(out),
                           "--output-filename", "Containerfile"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert made.returncode == 0, made.stdout + made.stderr
    return out


def test_the_image_gets_the_control_machines_pins(context: Path) -> None:
    runtime = pins(ROOT / "requirements-runtime.txt")
    assert pins(context / "_build" / "requirements.txt") == runtime
    definition = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    for key in ("ansible_core", "ansible_runner"):
        name, version = definition["dependencies"][key]["package_pip"].split("==")
        assert runtime[name] == version, f"{key}: {name}=={version} in the EE, {runtime[name]} in requirements-runtime.txt"
    # requirements.txt installs the same run-time pins into .venv (and nothing pins them twice).
    assert "-r requirements-runtime.txt" in (ROOT / "requirements.txt").read_text()
    assert not set(pins(ROOT / "requirements.txt")) & set(runtime)


def test_every_file_the_containerfile_copies_is_in_the_context(context: Path) -> None:
    containerfile = (context / "Containerfile").read_text()
    copied = re.findall(r"^COPY (?!--from)(\S+)", containerfile, flags=re.M)
    assert copied, containerfile
    missing = [src for src in copied if not (context / src).exists()]
    assert not missing, missing
    assert (context / "_build" / "sdk_compat" / "rentstack_sdk_compat.pth").exists()
    assert 'ARG PKGMGR="/usr/local/bin/pkgmgr"' in containerfile
    assert re.search(r"^FROM \$EE_BASE_IMAGE as base", containerfile, flags=re.M)
    assert 'EE_BASE_IMAGE="localhost/rentstack-ee-base:trixie"' in containerfile


def test_the_base_image_provides_the_package_manager_adapter() -> None:
    base = (ROOT / "ee" / "Containerfile.base").read_text()
    assert "COPY pkgmgr /usr/local/bin/pkgmgr" in base


@pytest.mark.skipif(shutil.which("sh") is None, reason="no /bin/sh")
def test_the_package_manager_adapter_maps_dnf_calls_onto_apt(tmp_path: Path) -> None:
    """ee/pkgmgr with a recording apt-get first on PATH: what ansible-builder's scripts call it with."""
    log = tmp_path / "calls"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text(f"#!/bin/sh\necho \"apt-get $*\" >> {log}\n")
    (fake / "apt-get").chmod(0o755)
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "deb.debian.org_debian_dists_trixie_InRelease").write_text("x")
    # Never the machine's own apt lists: `clean` empties APT_LISTS_DIR.
    env = {"PATH": f"{fake}:/usr/bin:/bin", "APT_LISTS_DIR": str(lists)}

    def call(*args: str) -> int:
        return subprocess.run(["sh", str(ROOT / "ee" / "pkgmgr"), *args], env=env, capture_output=True, text=True,
                              timeout=30, check=False).returncode

    assert call("install", "-y", "--nodocs", "openssh-client", "git") == 0
    assert call("install", "-y") == 0  # nothing to install: no apt-get call
    assert call("clean", "all") == 0
    assert call("remove", "git") == 2
    assert not list(lists.iterdir())
    assert log.read_text().splitlines() == [
        "apt-get update -q",
        "apt-get install -y -q --no-install-recommends openssh-client git",
        "apt-get clean",
    ]
