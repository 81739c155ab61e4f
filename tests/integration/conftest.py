"""Fixtures of the integration tests: they drive the real lab (docs/testing.md)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner import Result, run_playbook  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def lab_requirements() -> None:
    """Skip, saying why, where the lab cannot be driven (checked before any session fixture runs lab.yml)."""
    if os.geteuid() != 0:
        pytest.skip("integration tests drive podman as root and the lab needs privileged containers: run them as root (make test)")
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: run `make deps` first (make test installs it)")


@pytest.fixture(autouse=True)
def _destructive_opt_in(request: pytest.FixtureRequest) -> None:
    """Skip destructive tests unless RENTSTACK_DESTRUCTIVE=1."""
    if request.node.get_closest_marker("destructive") and os.environ.get("RENTSTACK_DESTRUCTIVE") != "1":
        pytest.skip(
            "destroys and rebuilds the lab, which may be shared: set RENTSTACK_DESTRUCTIVE=1 to run it "
            "(.ci/run does)"
        )


@pytest.fixture(scope="session")
def lab_up(lab_requirements: None, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """lab.yml run once: builds the lab on a fresh machine, repairs or confirms it otherwise."""
    return run_playbook("playbooks/lab.yml", tmp_path_factory.mktemp("lab-up"))


@pytest.fixture(scope="session")
def lab_again(lab_up: Result, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """lab.yml run a second time, right after `lab_up`."""
    return run_playbook("playbooks/lab.yml", tmp_path_factory.mktemp("lab-again"))


# A cold deploy on a busy 2-core machine takes 20-40 minutes.
DEPLOY_TIMEOUT = 3600


@pytest.fixture(scope="session")
def site_first(lab_up: Result, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """site.yml once: deploys the cloud (and verifies it with real guests)."""
    if os.environ.get("RENTSTACK_DEPLOY") != "1":
        pytest.skip("the deploy tier (site.yml on the lab, 30-40 min on a cold machine, then the tests that use "
                    "the cloud) runs only with RENTSTACK_DEPLOY=1; see docs/testing.md")
    return run_playbook("playbooks/site.yml", tmp_path_factory.mktemp("site1"), timeout=DEPLOY_TIMEOUT)


@pytest.fixture(scope="session")
def site_again(site_first: Result, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """site.yml a second time, for the idempotency check."""
    assert site_first.rc == 0, site_first.explain()
    return run_playbook("playbooks/site.yml", tmp_path_factory.mktemp("site2"), timeout=DEPLOY_TIMEOUT)


@pytest.fixture(scope="session")
def tenants(site_first: Result, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """tenants.yml once on the deployed cloud."""
    assert site_first.rc == 0, site_first.explain()
    return run_playbook("playbooks/tenants.yml", tmp_path_factory.mktemp("tenants"))


@pytest.fixture(scope="session")
def flavors(site_first: Result, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """flavors.yml once on the deployed cloud."""
    assert site_first.rc == 0, site_first.explain()
    return run_playbook("playbooks/flavors.yml", tmp_path_factory.mktemp("flavors"))
