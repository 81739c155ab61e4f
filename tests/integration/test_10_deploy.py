"""Deploy the whole cloud onto the lab with site.yml, the way AWX runs it
(ansible-runner), and check it: no failures, a second run changes nothing,
check mode runs, no secret in the output, every service up.

site.yml ends with verify.yml: a real guest boots on every compute host,
prints its UUID from the metadata service on its console, answers HTTP on
its floating IP, and its VNC console is served from the management address.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner import INVENTORY, REPO, Result, _envvars, lab_secrets_file, run_playbook  # noqa: E402


SECRETS = lab_secrets_file()


def test_site_deploys_and_verifies(site_first: Result) -> None:
    assert site_first.rc == 0 and site_first.status == "successful", site_first.explain(120)
    assert sum(site_first.per_host("failures").values()) == 0
    # verify.yml ran a guest on every compute host and saw its marker.
    markers = [line for line in site_first.stdout.splitlines() if "RENTSTACK-GUEST-READY uuid=" in line]
    compute = yaml.safe_load((REPO / "inventory/lab/hosts.yml").read_text())["all"]["children"]["lab"]["children"]["compute"]["hosts"]
    assert len(markers) >= len(compute), site_first.explain(120)


def test_second_site_run_changes_nothing(site_again: Result) -> None:
    assert site_again.rc == 0, site_again.explain(120)
    changed = {host: n for host, n in site_again.per_host("changed").items() if n and host != "localhost"}
    assert changed == {}, f"second run changed {changed}\n" + site_again.explain(120)


def test_second_run_boots_no_guest(site_again: Result) -> None:
    """verify.yml boots guests only when the cloud changed since the last guest check that passed: right after
    the first run nothing did (no config, package or service start differs), so the second run must say so.
    A guest boot here means a service restarted or a file changed between two runs that changed nothing."""
    assert site_again.rc == 0, site_again.explain(120)
    text = " ".join(site_again.stdout.split())
    assert "No guest boot: nothing changed since the last guest verification passed" in text, site_again.explain(200)
    assert "RENTSTACK-GUEST-READY" not in text


def test_no_secret_in_any_output(site_first: Result, site_again: Result) -> None:
    secrets = yaml.safe_load(SECRETS.read_text())["rentstack_secrets"]
    assert len(secrets) >= 15
    for name, value in secrets.items():
        for run in (site_first, site_again):
            assert value not in run.stdout, f"secret {name} appears in the ansible output"


def test_secrets_file_is_private(site_first: Result) -> None:
    assert SECRETS.stat().st_mode & 0o777 == 0o600
    # The keystone role writes the running user's own clouds.yaml (no /etc, no root needed; issue 23).
    clouds = Path.home() / ".config" / "openstack" / "clouds.yaml"
    assert clouds.stat().st_mode & 0o777 == 0o600
    entries = yaml.safe_load(clouds.read_text())["clouds"]
    assert {"rentstack", "rentstack-demo"} <= set(entries), sorted(entries)


def test_inventory_prints_no_secret(site_first: Result) -> None:
    """The secrets live outside the inventory (issue 24): `ansible-inventory --list --vars` of the lab, every host
    and group variable included, holds none of the secrets file's values."""
    secrets = {name: str(value) for name, value in yaml.safe_load(SECRETS.read_text())["rentstack_secrets"].items()}
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(INVENTORY), "--list",
                          "--vars"], cwd=REPO, env={**_envvars(), "HOME": str(Path.home())}, capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ctl1" in out.stdout and "lab_index" in out.stdout, "the listing is not the lab inventory"
    leaked = sorted(name for name, value in secrets.items() if value in out.stdout)
    assert not leaked, f"secrets printed by ansible-inventory --list --vars: {leaked}"
    assert "rentstack_secrets" not in out.stdout


def test_every_service_is_up(site_first: Result) -> None:
    import openstack

    conn = openstack.connect(cloud="rentstack")
    compute = yaml.safe_load((REPO / "inventory/lab/hosts.yml").read_text())["all"]["children"]["lab"]["children"]["compute"]["hosts"]
    services = list(conn.compute.services())
    down = [(s.binary, s.host, s.state) for s in services if s.state != "up" and s.status == "enabled"]
    assert down == []
    assert set(compute) <= {s.host for s in services if s.binary == "nova-compute"}
    hypervisors = {h.name.split(".")[0] for h in conn.compute.hypervisors()}
    assert set(compute) <= hypervisors
    agents = list(conn.network.agents())
    dead = [(a.agent_type, a.host) for a in agents if not a.is_alive]
    assert dead == []
    assert set(compute) <= {a.host.split(".")[0] for a in agents if a.agent_type == "OVN Controller agent"}


def test_service_users_hold_the_service_role(site_first: Result) -> None:
    """2025.1 policies reserve service-to-service calls (Nova binding ports in Neutron for a live migration)
    for the `service` role: each service user has it, with `admin`, in the service project."""
    import openstack

    conn = openstack.connect(cloud="rentstack")
    project = conn.identity.find_project("service", domain_id="default")
    roles = {r.id: r.name for r in conn.identity.roles()}
    users = {u.id: u.name for u in conn.identity.users(domain_id="default")}
    held: dict[str, set[str]] = {}
    for a in conn.identity.role_assignments(scope_project_id=project.id):
        held.setdefault(users.get(a.user["id"], a.user["id"]), set()).add(roles[a.role["id"]])
    for user in ("glance", "placement", "nova", "neutron"):
        assert {"admin", "service"} <= held.get(user, set()), (user, held)


@pytest.mark.parametrize(
    ("extravars", "expected"),
    [
        ({"rentstack_mgmt_cidr": "10.89.10.0"}, "rentstack_mgmt_cidr = '10.89.10.0' is not a network in CIDR notation"),
        ({"rentstack_provider_cidr": "banana"}, "rentstack_provider_cidr = 'banana' is not a network"),
        ({"rentstack_mgmt_cidr": "10.77.0.0/24"}, "is outside rentstack_mgmt_cidr 10.77.0.0/24"),
        ({"rentstack_selfservice_cidr": "10.89.10.0/25"}, "rentstack_selfservice_cidr = 10.89.10.0/25 overlaps rentstack_mgmt_cidr"),
    ],
)
def test_bad_inventory_fails_in_prechecks(lab_up: Result, tmp_path: Path, extravars: dict, expected: str) -> None:
    result = run_playbook("playbooks/prechecks.yml", tmp_path, extravars=extravars)
    assert result.rc != 0
    assert any(expected in m for m in result.failure_messages()), result.failure_messages()
    assert sum(result.per_host("changed").values()) == 0
