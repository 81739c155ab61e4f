"""`molecule test -s <role>` for every per-role molecule scenario (molecule/<role>/, docs/testing.md "molecule").

The multi-node scenario molecule/default (site.yml on two instances, docs/testing.md "The default scenario")
deploys a whole second cloud: it is never run from here, only its layout is checked, and that `make molecule`
leaves it out.

Each scenario creates a container rentstack-mol-<role> from the lab image (`make lab` builds it), converges the
role with what it needs, converges it again (molecule's idempotence step: nothing may change), runs its verify
playbook and destroys the container, also after a failure. A few minutes each on the 2-core machine, so they
run only with RENTSTACK_MOLECULE=1; without it they are skipped, saying so. The layout checks below need no
container and always run.
"""

from __future__ import annotations

import ipaddress
import os
import re
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


def test_default_scenario_layout() -> None:
    """molecule/default: a controller and a compute host named rentstack-mol-*, site.yml as the converge."""
    config = yaml.safe_load((ROOT / "molecule" / "default" / "molecule.yml").read_text())
    platforms = config["platforms"]
    assert all(re.fullmatch(r"rentstack-mol-[a-z0-9-]+", p["name"]) for p in platforms), platforms
    assert sorted(g for p in platforms for g in p["groups"]) == ["compute", "controller"]
    assert config["provisioner"]["playbooks"]["converge"] == "../../playbooks/site.yml"
    assert (ROOT / "molecule" / "default" / "verify.yml").is_file()
    addresses = [p["ip"] for p in platforms] + [p["ip"] for s in SCENARIOS for p in _platforms(s)]
    assert len(addresses) == len(set(addresses)), addresses
    assert all(ipaddress.ip_address(p["ip"]) in PODMAN_NETWORK for p in platforms)


def test_default_scenario_networks_are_none_of_the_labs() -> None:
    """Its tunnel and provider networks overlap neither lab's networks (inventory/lab, inventory/lab2) nor podman's."""
    group_vars = yaml.safe_load((ROOT / "molecule" / "default" / "molecule.yml").read_text())[
        "provisioner"]["inventory"]["group_vars"]["all"]
    ours = [ipaddress.ip_network(group_vars[k]) for k in
            ("rentstack_tunnel_cidr", "rentstack_provider_cidr", "rentstack_selfservice_cidr")]
    labs = [ipaddress.ip_network(v) for inv in ("lab", "lab2")
            for k, v in yaml.safe_load((ROOT / "inventory" / inv / "group_vars" / "all" / "lab.yml").read_text()).items()
            if k.endswith("_cidr")]
    assert labs and not [(a, b) for a in ours for b in [*labs, PODMAN_NETWORK] if a.overlaps(b)]


def test_make_molecule_leaves_the_default_scenario_out() -> None:
    """`make molecule` runs the per-role scenarios only; `make molecule-default` runs the default one."""
    dry = subprocess.run(["make", "-n", "molecule"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    loop = re.search(r"for s in ([^;]*);", dry)
    assert loop and loop.group(1).split() == SCENARIOS and "default" not in SCENARIOS
    dry = subprocess.run(["make", "-n", "molecule-default"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "molecule test -s default" in dry
