"""Compare a flavor's extra specs with a libvirt domain's effective tuning.

Pure logic: `expected_tuning` maps Nova extra specs to libvirt parameter
names; `compare` reports every difference. Unit tested without libvirt.
"""

from __future__ import annotations

from typing import Any

# Nova extra spec -> (libvirt area, parameter name as libvirt-python reports it)
CPU_SPECS = {
    "quota:cpu_period": "vcpu_period",
    "quota:cpu_quota": "vcpu_quota",
    "quota:cpu_shares": "cpu_shares",
}
DISK_SPECS = {
    f"quota:disk_{kind}_{unit}_sec": f"{kind}_{unit}_sec"
    for kind in ("read", "write", "total") for unit in ("bytes", "iops")
}
VIF_SPECS = {
    "quota:vif_inbound_average": "inbound.average",
    "quota:vif_outbound_average": "outbound.average",
    "quota:vif_inbound_peak": "inbound.peak",
    "quota:vif_outbound_peak": "outbound.peak",
    "quota:vif_inbound_burst": "inbound.burst",
    "quota:vif_outbound_burst": "outbound.burst",
}


def expected_tuning(extra_specs: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The tuning a domain must have for these extra specs, by area."""
    out: dict[str, dict[str, int]] = {"cpu": {}, "disk": {}, "vif": {}}
    for spec, value in (extra_specs or {}).items():
        for area, table in (("cpu", CPU_SPECS), ("disk", DISK_SPECS), ("vif", VIF_SPECS)):
            if spec in table:
                out[area][table[spec]] = int(value)
    return out


def compare(expected: dict[str, dict[str, int]], cpu: dict[str, Any], disks: dict[str, dict[str, Any]],
            vifs: dict[str, dict[str, Any]]) -> list[str]:
    """Differences between the expected tuning and what libvirt reports.

    cpu: schedulerParameters(); disks: {target: blockIoTune(target)};
    vifs: {device: interfaceParameters(device)}. Unset limits in libvirt read 0.
    """
    problems = []
    for key, want in expected["cpu"].items():
        have = cpu.get(key)
        if have is None or int(have) != want:
            problems.append(f"cpu {key}: flavor says {want}, domain has {have}")
    for target, tune in sorted(disks.items()):
        for key, want in expected["disk"].items():
            have = tune.get(key)
            if have is None or int(have) != want:
                problems.append(f"disk {target} {key}: flavor says {want}, domain has {have}")
    for dev, params in sorted(vifs.items()):
        for key, want in expected["vif"].items():
            have = params.get(key)
            if have is None or int(have) != want:
                problems.append(f"vif {dev} {key}: flavor says {want}, domain has {have}")
    if expected["disk"] and not disks:
        problems.append("disk limits expected but the domain has no disks")
    return problems


def cpu_percent(cpu_time_before_ns: int, cpu_time_after_ns: int, seconds: float) -> float:
    """CPU use of a domain over an interval, in percent of one CPU."""
    return round(100.0 * (cpu_time_after_ns - cpu_time_before_ns) / (seconds * 1e9), 1)


def idle_cpu_percent(stat_before: str, stat_after: str, seconds: float, hz: int = 100) -> float:
    """Idle CPU of the whole machine over an interval, from two readings of /proc/stat, in percent of one CPU
    (200 = two CPUs idle throughout). A measured share below a guest's expectation means something only when
    the machine had CPU to spare: this says whether it had."""

    def idle(stat: str) -> int:
        fields = next(line for line in stat.splitlines() if line.startswith("cpu ")).split()[1:]
        return int(fields[3]) + int(fields[4])  # idle + iowait, in USER_HZ ticks

    return round(100.0 * (idle(stat_after) - idle(stat_before)) / (seconds * hz), 1)
