"""Bulk VM lifecycle (report 000, §5.1) on the lab: one operation creates a
set of VMs with floating IPs, bulk actions reach their target state, one
operation deletes them, and nothing is leaked (ports and floating IPs are
listed, not assumed). CI runs 20 VMs; bench/ runs the report's 100."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guests import not_booted  # noqa: E402
from labcloud import admin, leftovers  # noqa: E402
from runner import REPO, Result, run_playbook  # noqa: E402

COUNT = 20
REQUEST = {"requester": "ci", "project": "vm100", "menu": "m1.nano", "os": "rentstack-guest", "count": COUNT,
           "prefix": "ci-bulk", "floating_ip": True}


@pytest.fixture(scope="module")
def created(tenants: Result, flavors: Result, tmp_path_factory: pytest.TempPathFactory) -> Result:
    return run_playbook("playbooks/vms_create.yml", tmp_path_factory.mktemp("bulk"), extravars={"rental_request": REQUEST})


def test_one_operation_creates_all(created: Result) -> None:
    assert created.rc == 0, created.explain(100)
    result = created.module_result("summary")
    assert result["summary"]["active"] == COUNT and result["summary"]["failed"] == 0
    assert all(len(s["floating_ips"]) == 1 for s in result["servers"])
    # An AWX workflow sees the outcome (set_stats): the same summary, and the request it came from.
    returned = created.artifacts()["rentstack_vms"]
    assert returned["summary"]["active"] == COUNT and returned["request"]["prefix"] == REQUEST["prefix"], returned
    # Progress was shown while it ran, not only at the end.
    assert created.stdout.count("active ") >= 2
    # The set went to Nova as multi-create requests (vms_multi_create, the default); Nova's `<name>-<i>` names
    # were replaced by the set's, hostnames too, before the module returned.
    assert any("in one multi-create" in line for line in result["progress"]), result["progress"]
    conn = admin()
    project = conn.identity.find_project(REQUEST["project"])
    servers = [s for s in conn.compute.servers(all_projects=True, project_id=project.id)
               if s.name.startswith(REQUEST["prefix"] + "-")]
    expected = [f"{REQUEST['prefix']}-{i:03d}" for i in range(1, COUNT + 1)]
    assert sorted(s.name for s in servers) == expected
    assert sorted(s.hostname for s in servers) == expected


def test_rerun_is_unchanged(created: Result, tmp_path: Path) -> None:
    again = run_playbook("playbooks/vms_create.yml", tmp_path, extravars={"rental_request": REQUEST})
    assert again.rc == 0 and sum(again.per_host("changed").values()) == 0, again.explain()


@pytest.mark.parametrize("action", ["stop", "start", "reboot_hard"])
def test_bulk_action_reaches_target(created: Result, tmp_path: Path, action: str) -> None:
    if action == "stop":
        # Every guest booted (and started acpid, which answers the stop's ACPI power button) first.
        ids = [s["id"] for s in created.module_result("summary")["servers"]]
        assert not_booted(admin(), ids, 900) == []
    result = run_playbook("playbooks/vms_action.yml", tmp_path,
                          extravars={"rental_request": REQUEST, "vms_action": action})
    assert result.rc == 0, result.explain()
    summary = result.module_result("summary")["summary"]
    assert summary["acted"] == COUNT and summary["failed"] == 0
    if action == "stop":
        # A graceful stop: Nova pressed the ACPI power button and each guest powered itself off. A guest that
        # ignores it is destroyed after shutdown_timeout (60 s): nova-compute logs "failed to shutdown".
        conn = admin()
        ids = {s["id"]: conn.compute.get_server(s["id"]).compute_host
               for s in result.module_result("summary")["servers"]}
        logs = {host: subprocess.run(["podman", "exec", f"rentstack-{host}", "grep", "-h", "shutdown",
                                      "/var/log/nova/nova-compute.log"],
                                     capture_output=True, text=True, timeout=120).stdout
                for host in set(ids.values())}
        graceful = [i for i, host in ids.items() if f"[instance: {i}] Instance shutdown successfully" in logs[host]]
        assert len(graceful) == COUNT, {i: "not graceful" for i in ids if i not in graceful}


def test_over_quota_creates_nothing(created: Result, tmp_path: Path) -> None:
    """Given as an AWX survey gives it (flat rental_* variables, no rental_request): refused before any change."""
    before = leftovers("vm100", "ci-bulk")
    request = dict(REQUEST, prefix="ci-over", count=130, floating_ip=False)
    sys.path.insert(0, str(REPO / "plugins" / "filter"))
    from rental import FLAT

    result = run_playbook("playbooks/vms_create.yml", tmp_path,
                          extravars={FLAT[field]: value for field, value in request.items()})
    assert result.rc != 0
    message = " ".join(result.failure_messages())
    assert "instances: requested 130" in message and "limit 120" in message, message
    assert leftovers("vm100", "ci-bulk")["servers"] == before["servers"]


def test_one_operation_deletes_all_without_leaks(created: Result, tmp_path: Path) -> None:
    result = run_playbook("playbooks/vms_delete.yml", tmp_path, extravars={"rental_request": REQUEST})
    assert result.rc == 0, result.explain()
    freed = result.module_result("freed")["freed"]
    assert len(freed["servers"]) == COUNT and len(freed["floating_ips"]) == COUNT
    assert leftovers("vm100", "ci-bulk") == {"servers": [], "ports": [], "floating_ips": []}


def _listing_status_during(runs: list[Any]) -> list[int]:
    """HTTP status of the admin's cloud-wide server listing (negotiated microversion), polled while runs go."""
    import time

    conn = admin()
    statuses = []
    while any(t.is_alive() for t in runs):
        resp = conn.compute.get("/servers/detail?all_tenants=1&limit=1",
                                microversion=conn.compute.get_endpoint_data().max_microversion)
        statuses.append(resp.status_code)
        time.sleep(5)
    return statuses


@pytest.mark.parametrize("state", ["present", "absent"])
def test_three_runs_at_once_converge(created: Result, tmp_path: Path, state: str) -> None:
    """Issue 22: three ansible-playbook processes of the same 10-VM request at once end with exactly 10 ACTIVE
    servers (then, deleting, with 0 servers, ports and floating IPs), and the cloud-wide listing answers 200
    throughout. Runs after the 20-VM tests above, on their own prefix."""
    import threading

    request = dict(REQUEST, prefix="ci-conc", count=10)
    playbook = "playbooks/vms_create.yml" if state == "present" else "playbooks/vms_delete.yml"
    results: list[Result] = []
    runs = [threading.Thread(target=lambda i=i: results.append(
        run_playbook(playbook, tmp_path / f"run{i}", extravars={"rental_request": request}))) for i in range(3)]
    for run in runs:
        run.start()
    statuses = _listing_status_during(runs)
    for run in runs:
        run.join()
    assert all(r.rc == 0 for r in results), [r.explain(40) for r in results if r.rc]
    assert set(statuses) <= {200}, statuses
    conn = admin()
    project = conn.identity.find_project("vm100")
    servers = [s for s in conn.compute.servers(all_projects=True, project_id=project.id)
               if s.name.startswith("ci-conc-")]
    if state == "present":
        assert sorted(s.name for s in servers) == [f"ci-conc-{i:03d}" for i in range(1, 11)]
        assert {s.status for s in servers} == {"ACTIVE"}
    else:
        assert servers == []
        # The 20-VM set was deleted by the test before: the project holds no port or floating IP at all.
        assert leftovers("vm100", "ci-bulk") == {"servers": [], "ports": [], "floating_ips": []}
