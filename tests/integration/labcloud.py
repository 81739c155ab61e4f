"""The lab cloud as the tests see it from the control machine: the admin's openstacksdk connection, what a
VM set left behind, whether the cloud's services are up, and the resource inventory's output.

Shared by test_30_bulk.py, test_35_bulk_faults.py and test_40_inventory.py. Every call goes to the lab's
own hosts only (the APIs on ctl1, through the clouds.yaml the keystone role writes)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner import REPO, _envvars, inventory_group_hosts  # noqa: E402

CLOUD_INVENTORY = REPO / "inventory" / "lab" / "cloud.rentstack.yml"


def admin() -> Any:
    """An openstacksdk connection as the lab's admin."""
    import openstack

    return openstack.connect(cloud="rentstack")


def leftovers(project: str, prefix: str) -> dict[str, list[str]]:
    """What is in `project`: the servers named `<prefix>-*`, and every compute port and floating IP (a deleted
    set's are not told apart from the others', so callers compare with what was there before)."""
    conn = admin()
    pid = conn.identity.find_project(project).id
    servers = [s.name for s in conn.compute.servers(all_projects=True, project_id=pid)
               if s.name.startswith(f"{prefix}-")]
    ports = [p.id for p in conn.network.ports(project_id=pid) if (p.device_owner or "").startswith("compute:")]
    fips = [f.floating_ip_address for f in conn.network.ips(project_id=pid)]
    return {"servers": servers, "ports": ports, "floating_ips": fips}


def lab_cloud_hosts() -> dict[str, list[str]]:
    """The inventory's controller and compute hosts (inventory/lab/hosts.yml), by group."""
    return {group: sorted(inventory_group_hosts(group)) for group in ("controller", "compute")}


def cloud_problems(conn: Any) -> list[str]:
    """Why the cloud is not fully up, [] when it is: every enabled Nova service of a controller or compute host
    up, a nova-compute service for each compute host, every network agent of those hosts alive."""
    groups = lab_cloud_hosts()
    hosts = set(groups["controller"]) | set(groups["compute"])
    services = list(conn.compute.services())
    problems = [f"{s.binary} on {s.host} is {s.state}" for s in services
                if s.host in hosts and s.status == "enabled" and s.state != "up"]
    problems += [f"no nova-compute service on {h}" for h in groups["compute"]
                 if not any(s.binary == "nova-compute" and s.host == h for s in services)]
    problems += [f"{a.agent_type} on {a.host} is not alive" for a in conn.network.agents()
                 if (a.host or "").split(".")[0] in hosts and not a.is_alive]
    return problems


def wait_cloud_up(timeout: float, interval: float = 5) -> None:
    """Wait until cloud_problems() is empty (a fresh connection each time: an API may have just restarted);
    AssertionError with the last problems after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    problems: list[str] = ["not checked yet"]
    while time.monotonic() < deadline:
        try:
            problems = cloud_problems(admin())
        except Exception as exc:  # noqa: BLE001 - an API still down is one more problem to wait out
            problems = [f"{type(exc).__name__}: {exc}"]
        if not problems:
            return
        time.sleep(interval)
    raise AssertionError(f"the cloud was not back up within {timeout:.0f}s: {problems}")


def ansible_inventory(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`ansible-inventory -i inventory/lab/cloud.rentstack.yml ARGS` from the repository root, with its
    ansible.cfg and the venv's tools; rc, stdout and stderr as they are (no check)."""
    return subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(CLOUD_INVENTORY), *args],
                          cwd=REPO, env={**_envvars(), "HOME": str(Path.home())}, capture_output=True, text=True,
                          timeout=timeout)


def inventory_data(stdout: str) -> dict[str, Any]:
    """`ansible-inventory --list` output as plain data. ansible-core 2.19 prints values that came from an
    inventory plugin (not a trusted template source) as {"__ansible_unsafe": value}; playbooks see the plain
    values, and so do the tests."""
    return json.loads(stdout, object_hook=lambda d: d["__ansible_unsafe"] if set(d) == {"__ansible_unsafe"} else d)
