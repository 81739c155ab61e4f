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
        res = event["event_data"].get("res", {})
        for inst in res.get("instances", []):
            report[inst["name"]] = {**inst, "idle_cpu_percent": res.get("idle_cpu_percent")}
    return report


# What each guest must get when the machine has CPU to spare: cap50 40-60 %, cap30 20-40 %, the uncapped one 70 %
# or more (which no cap at or below 60 % allows).
FLOORS = {"lim-cap50": 40, "lim-cap30": 20, "lim-free": 70}
# A guest below its floor fails the test only if its host measured this much idle CPU (percent of one CPU) in the
# same window: it could have had more and did not get it. With less, the machine was saturated (the cloud's
# services and whatever else shares the 2 cores) and the measurement says nothing about the guest's limit.
SPARE = 30


def test_caps_are_configured_and_measured(burners: dict, tmp_path: Path) -> None:
    """A cap is an upper bound: no measurement may exceed it. Below its cap a guest gets what the 2 cores leave: CI
    once measured the uncapped guest at 42.8 %, and a run beside other jobs at 33-40 %. So every measurement must
    respect the caps; a guest below its floor while its host had CPU to spare (SPARE) is a failure; and one of up to
    MEASUREMENTS must show every guest at its floor. When every measurement found the machine saturated, the shares
    were not measurable and the test says so (skip with the figures) instead of guessing."""
    seen = []
    for attempt in range(1, MEASUREMENTS + 1):
        workdir = tmp_path / f"measurement-{attempt}"
        workdir.mkdir()
        report = limits_report(workdir, verify_limits_measure_seconds=MEASURE_SECONDS)
        for name in GUESTS:
            assert report[name]["result"] == "ok", report[name]
        assert report["lim-cap50"]["tuning"]["cpu"]["vcpu_quota"] == 50000
        percent = {name: report[name]["cpu_percent"] for name in GUESTS}
        idle = {name: report[name]["idle_cpu_percent"] for name in GUESTS}
        seen.append({"cpu": percent, "host_idle": idle})
        assert percent["lim-cap50"] <= 60 and percent["lim-cap30"] <= 40, f"a cap was exceeded: {seen}"
        short = [name for name, floor in FLOORS.items() if percent[name] < floor]
        if not short:
            return
        starved = [name for name in short if idle[name] >= SPARE]
        assert not starved, f"{starved} below the floor {FLOORS} while the host had CPU to spare: {seen}"
    pytest.skip(f"every one of {MEASUREMENTS} measurements found the machine saturated (under {SPARE} % of a CPU "
                f"idle): the guests' shares were not measurable; the caps held. Figures: {seen}")


def test_a_limit_changed_behind_novas_back_is_reported(burners: dict, tmp_path: Path) -> None:
    server = burners["lim-cap50"]
    changed = subprocess.run(["podman", "exec", "rentstack-cmp1", "virsh", "schedinfo", server.instance_name,
                              "--live", "--set", "vcpu_quota=80000"], capture_output=True, text=True, check=False)
    assert changed.returncode == 0, changed.stderr
    report = limits_report(tmp_path, verify_limits_fail=False)
    assert report["lim-cap50"]["result"] == "mismatch"
    assert any("80000" in p and "50000" in p for p in report["lim-cap50"]["problems"]), report["lim-cap50"]
