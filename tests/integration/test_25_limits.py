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
# Measurements test_caps_are_configured_and_measured may take before one shows every guest's share.
MEASUREMENTS = 3


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
    """A cap is an upper bound: no measurement may exceed it. What a guest gets below its cap depends on what else
    the 2 cores run (the cloud's own services, since 2026-12-07 on both cores): CI once measured the uncapped
    guest at 42.8 % while the same test on the lab an hour later passed. So every measurement must respect the
    caps, and one of up to MEASUREMENTS must also show the guests getting their share (cap50 40-60 %, cap30
    20-40 %, the uncapped one at 70 % or more, which no cap at or below 60 % allows)."""
    seen = []
    for attempt in range(1, MEASUREMENTS + 1):
        workdir = tmp_path / f"measurement-{attempt}"
        workdir.mkdir()
        report = limits_report(workdir, verify_limits_measure_seconds=MEASURE_SECONDS)
        for name in GUESTS:
            assert report[name]["result"] == "ok", report[name]
        assert report["lim-cap50"]["tuning"]["cpu"]["vcpu_quota"] == 50000
        percent = {name: report[name]["cpu_percent"] for name in GUESTS}
        seen.append(percent)
        assert percent["lim-cap50"] <= 60 and percent["lim-cap30"] <= 40, f"a cap was exceeded: {seen}"
        if 40 <= percent["lim-cap50"] and 20 <= percent["lim-cap30"] and percent["lim-free"] >= 70:
            return
    pytest.fail(f"no measurement of {MEASUREMENTS} showed cap50 40-60 %, cap30 20-40 % and the uncapped guest "
                f"at 70 % or more (CPU percent per measurement: {seen})")


def test_a_limit_changed_behind_novas_back_is_reported(burners: dict, tmp_path: Path) -> None:
    server = burners["lim-cap50"]
    changed = subprocess.run(["podman", "exec", "rentstack-cmp1", "virsh", "schedinfo", server.instance_name,
                              "--live", "--set", "vcpu_quota=80000"], capture_output=True, text=True, check=False)
    assert changed.returncode == 0, changed.stderr
    report = limits_report(tmp_path, verify_limits_fail=False)
    assert report["lim-cap50"]["result"] == "mismatch"
    assert any("80000" in p and "50000" in p for p in report["lim-cap50"]["problems"]), report["lim-cap50"]
