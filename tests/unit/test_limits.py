"""Unit tests of the flavor-vs-domain tuning comparison (plugins/module_utils/rentstack_limits.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "module_utils"))
from rentstack_limits import compare, cpu_percent, expected_tuning, idle_cpu_percent  # noqa: E402

SPECS = {"quota:cpu_period": "100000", "quota:cpu_quota": "50000", "quota:disk_read_bytes_sec": "10485760",
         "quota:vif_inbound_average": "10240", "hw:cpu_policy": "shared"}
# As libvirt-python reports a domain tuned by Nova for SPECS.
CPU = {"cpu_shares": 1024, "vcpu_period": 100000, "vcpu_quota": 50000, "emulator_period": 100000}
DISKS = {"vda": {"read_bytes_sec": 10485760, "write_bytes_sec": 0, "total_iops_sec": 0}}
VIFS = {"tap1234": {"inbound.average": 10240, "inbound.peak": 0, "outbound.average": 0}}


def test_expected_tuning_maps_specs() -> None:
    exp = expected_tuning(SPECS)
    assert exp == {"cpu": {"vcpu_period": 100000, "vcpu_quota": 50000}, "disk": {"read_bytes_sec": 10485760},
                   "vif": {"inbound.average": 10240}}


def test_matching_domain_is_ok() -> None:
    assert compare(expected_tuning(SPECS), CPU, DISKS, VIFS) == []


def test_changed_quota_is_a_mismatch() -> None:
    cpu = dict(CPU, vcpu_quota=90000)  # as after `virsh schedinfo --set vcpu_quota=90000`
    assert compare(expected_tuning(SPECS), cpu, DISKS, VIFS) == [
        "cpu vcpu_quota: flavor says 50000, domain has 90000"]


def test_missing_disk_and_vif_limits() -> None:
    problems = compare(expected_tuning(SPECS), CPU, {"vda": {"read_bytes_sec": 0}}, {"tap1": {}})
    assert problems == ["disk vda read_bytes_sec: flavor says 10485760, domain has 0",
                        "vif tap1 inbound.average: flavor says 10240, domain has None"]
    assert compare(expected_tuning(SPECS), CPU, {}, VIFS) == ["disk limits expected but the domain has no disks"]


def test_cpu_percent() -> None:
    assert cpu_percent(0, 10 * 10**9, 20.0) == 50.0


def test_idle_cpu_percent_of_the_machine() -> None:
    before = "cpu  100 0 50 1000 20 0 0 0 0 0\ncpu0 50 0 25 500 10 0 0 0 0 0\nintr 1\n"
    after = "cpu  1100 0 50 2000 40 0 0 0 0 0\ncpu0 550 0 25 1000 20 0 0 0 0 0\nintr 2\n"
    # 1000 idle + 20 iowait ticks at 100 Hz over 10 s: 1020 / 1000 = 102 % of one CPU.
    assert idle_cpu_percent(before, after, 10.0, 100) == 102.0
    assert idle_cpu_percent(before, before, 10.0) == 0.0

