"""`molecule test -s <role>` for every per-role molecule scenario (molecule/<role>/, docs/testing.md "molecule").

Each scenario creates a container rentstack-mol-<role> from the lab image (`make lab` builds it), converges the
role with what it needs, converges it again (molecule's idempotence step: nothing may change), runs its verify
playbook and destroys the container, also after a failure. A few minutes each on the 2-core machine, so they
run only with RENTSTACK_MOLECULE=1; without it they are skipped, saying so. The layout checks below need no
container and always run.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ROLES = {p.name for p in (ROOT / "roles").iterdir() if p.is_dir()}
# A per-role scenario is molecule/<name>/molecule.yml where <name> is a role of roles/.
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml") if p.parent.name in ROLES)
# The longest a scenario may take: keystone's is the longest (MariaDB, memcached and Keystone from a fresh
# container, twice); a hung run fails instead of blocking the session.
TIMEOUT = 2400
# podman's default network, where every instance sits (.config/molecule/config.yml, rentstack_mgmt_cidr).
PODMAN_NETWORK = ipaddress.ip_network("10.88.0.0/16")


def _platforms(scenario: str) -> list[dict]:
    return yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())["platforms"]


def _container_exists(name: str) -> bool:
    return subprocess.run(["podman", "container", "exists", name], check=False).returncode == 0


def _molecule(*argv: str, timeout: int = TIMEOUT) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "NO_COLOR": "1",
        "PY_COLORS": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    return subprocess.run([str(BIN / "molecule"), *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def test_there_are_the_per_role_scenarios() -> None:
    assert {"memcached", "mariadb", "rabbitmq", "keystone"} <= set(SCENARIOS), SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_layout(scenario: str) -> None:
    """Each scenario converges and verifies, and names its one container rentstack-mol-<scenario> (never a lab host)."""
    directory = ROOT / "molecule" / scenario
    assert (directory / "converge.yml").is_file() and (directory / "verify.yml").is_file()
    platforms = _platforms(scenario)
    assert [p["name"] for p in platforms] == [f"rentstack-mol-{scenario}"]
    assert ipaddress.ip_address(platforms[0]["ip"]) in PODMAN_NETWORK


def test_scenarios_have_addresses_of_their_own() -> None:
    addresses = [p["ip"] for s in SCENARIOS for p in _platforms(s)]
    assert len(addresses) == len(set(addresses)), addresses


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str) -> None:
    if os.environ.get("RENTSTACK_MOLECULE") != "1":
        pytest.skip("the molecule scenarios (a container from the lab image per role, the role converged twice and "
                    "verified, a few minutes each) run only with RENTSTACK_MOLECULE=1; or `make molecule`")
    if not (BIN / "molecule").exists():
        pytest.skip("molecule is not installed: run `make deps` (requirements.txt pins it)")
    container = f"rentstack-mol-{scenario}"
    try:
        proc = _molecule("test", "-s", scenario)
    except subprocess.TimeoutExpired as exc:
        _molecule("destroy", "-s", scenario, timeout=300)
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        pytest.fail(f"molecule test -s {scenario} did not end in {TIMEOUT} s (its container was destroyed)\n{out[-8000:]}")
    left = _container_exists(container)
    if left:  # `molecule test` destroys even after a failure; make sure nothing is left behind.
        _molecule("destroy", "-s", scenario, timeout=300)
    assert proc.returncode == 0, f"molecule test -s {scenario}: exit {proc.returncode}\n{proc.stdout[-12000:]}\n{proc.stderr[-4000:]}"
    assert not left, f"molecule test -s {scenario} passed but left the container {container}"
