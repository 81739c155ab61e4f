"""CPU and I/O limits of the flavor menu, verified on the KVM hosts (report 000, §5.5).

Three guests run a busy loop (metadata rentstack_burn=1, started by the guest's init): one of flavor
cap50.nano (50 % of a CPU), one of cap30.nano (30 %), one of m1.nano (uncapped). verify_limits.yml
reads each domain's tuning through libvirt on its host, compares it with the flavor's extra specs and
measures the domain's CPU time over an interval: 50 ± 10 %, 30 ± 10 %, and well above for the
uncapped one. Then a limit is changed behind Nova's back (virsh schedinfo) and must be reported.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner import Result, run_module, run_playbook  # noqa: E402

GUESTS = {"lim-cap50": ("cap50.nano", "cmp1"), "lim-cap30": ("cap30.nano", "cmp2"), "lim-free": ("m1.nano", "cmp2")}
MEASURE_SECONDS = 20


def servers() -> dict[str, object]:
    import openstack

    conn = openstack.connect(cloud="rentstack")
    return {s.name: s for s in conn.compute.servers(details=True, all_projects=True) if s.name in GUESTS}


def burning(name: str, server_id: str) -> bool:
    import openstack

    conn = openstack.connect(cloud="rentstack")
    return "started 1 busy loop" in (conn.compute.get_server_console_output(server_id).get("output") or "")


@pytest.fixture(scope="module")
def burners(flavors: Result, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    assert flavors.rc == 0, flavors.explain()
    for name, (flavor, host) in GUESTS.items():
        made = run_module("rentstack_servers", f"names={name} host={host} flavor={flavor} image=rentstack-guest "
                          "networks=selfservice metadata='{\"rentstack_burn\": \"1\"}'", host_pattern="localhost",
                          private_data_dir=tmp_path_factory.mktemp(name))
        assert made.rc == 0, made.explain()
    found = servers()
    deadline = time.monotonic() + 300
    while not all(burning(n, s.id) for n, s in found.items()):
        assert time.monotonic() < deadline, "the guests did not report their busy loop within 300 s"
        time.sleep(5)
    yield found
    gone = run_module("rentstack_servers", f"names={','.join(GUESTS)} state=absent", host_pattern="localhost",
                      private_data_dir=tmp_path_factory.mktemp("lim-delete"))
    assert gone.rc == 0, gone.explain()


def limits_report(tmp_path: Path, **extravars: object) -> dict[str, dict]:
    result = run_playbook("playbooks/verify_limits.yml", tmp_path, extravars=extravars)
    assert result.rc == 0, result.explain()
    report = {}
    for event in result.task_events("runner_on_ok"):  # one module result per compute host
        for inst in event["event_data"].get("res", {}).get("instances", []):
            report[inst["name"]] = inst
    return report


def test_caps_are_configured_and_measured(burners: dict, tmp_path: Path) -> None:
    report = limits_report(tmp_path, verify_limits_measure_seconds=MEASURE_SECONDS)
    for name in GUESTS:
        assert report[name]["result"] == "ok", report[name]
    assert report["lim-cap50"]["tuning"]["cpu"]["vcpu_quota"] == 50000
    assert 40 <= report["lim-cap50"]["cpu_percent"] <= 60, report["lim-cap50"]
    assert 20 <= report["lim-cap30"]["cpu_percent"] <= 40, report["lim-cap30"]
    assert report["lim-free"]["cpu_percent"] >= 70, report["lim-free"]


def test_a_limit_changed_behind_novas_back_is_reported(burners: dict, tmp_path: Path) -> None:
    server = burners["lim-cap50"]
    changed = subprocess.run(["podman", "exec", "rentstack-cmp1", "virsh", "schedinfo", server.instance_name,
                              "--live", "--set", "vcpu_quota=80000"], capture_output=True, text=True, check=False)
    assert changed.returncode == 0, changed.stderr
    report = limits_report(tmp_path, verify_limits_fail=False)
    assert report["lim-cap50"]["result"] == "mismatch"
    assert any("80000" in p and "50000" in p for p in report["lim-cap50"]["problems"]), report["lim-cap50"]
