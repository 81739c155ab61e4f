"""playbooks/lab.yml against the real lab: it comes up, stays idempotent, hosts answer."""

from __future__ import annotations

import sys
from pathlib import Path

import netaddr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner import Result, inventory_lab_hosts, lab_settings, run_module, run_playbook  # noqa: E402

LAB_HOSTS = sorted(inventory_lab_hosts())


def test_inventory_lists_the_four_lab_hosts() -> None:
    assert LAB_HOSTS == ["cmp1", "cmp2", "cmp3", "ctl1"]


def test_lab_playbook_brings_the_lab_up(lab_up: Result) -> None:
    assert lab_up.status == "successful", lab_up.explain()
    assert lab_up.rc == 0, lab_up.explain()
    assert sum(lab_up.per_host("failures").values()) == 0, lab_up.explain()
    assert sum(lab_up.per_host("dark").values()) == 0, lab_up.explain()
    # The second play reached every lab host over SSH.
    assert sorted(set(lab_up.hosts) - {"localhost"}) == LAB_HOSTS, lab_up.explain()


def test_second_lab_run_changes_nothing(lab_again: Result) -> None:
    assert lab_again.rc == 0, lab_again.explain()
    changed = lab_again.per_host("changed")
    assert set(changed) == {"localhost", *LAB_HOSTS}, lab_again.explain()
    assert changed == dict.fromkeys(changed, 0), f"changed on the second run: {changed}\n{lab_again.explain()}"


def test_every_lab_host_answers_ping(lab_up: Result, tmp_path: Path) -> None:
    result = run_module("ansible.builtin.ping", host_pattern="lab", private_data_dir=tmp_path)
    assert result.status == "successful", result.explain()
    assert result.rc == 0, result.explain()
    pongs = {host: res.get("ping") for host, res in result.host_results().items()}
    assert pongs == dict.fromkeys(LAB_HOSTS, "pong"), result.explain()


def test_systemd_is_running_on_every_lab_host(lab_up: Result, tmp_path: Path) -> None:
    result = run_module("ansible.builtin.command", "systemctl is-system-running", host_pattern="lab", private_data_dir=tmp_path)
    states = {host: res.get("stdout") for host, res in result.host_results().items()}
    states.update({host: res.get("stdout") or res.get("msg") for host, res in result.host_results("runner_on_failed").items()})
    assert states == dict.fromkeys(LAB_HOSTS, "running"), f"{states}\n{result.explain()}"
    assert result.rc == 0, result.explain()


def test_each_host_has_its_address_on_the_three_networks(lab_up: Result, tmp_path: Path) -> None:
    """eth0 keeps the management address; the tunnel and provider addresses are on eth1/eth2
    until the OVN role moves them onto its userspace bridges (br-phy, br-ex), see docs/lab.md."""
    settings = lab_settings()
    indexes = inventory_lab_hosts()
    result = run_module("ansible.builtin.command", "ip -o -4 addr show", host_pattern="lab", private_data_dir=tmp_path)
    assert result.rc == 0, result.explain()
    assert sorted(result.host_results()) == LAB_HOSTS, result.explain()
    for host, res in result.host_results().items():
        # "2: eth0    inet 10.89.10.11/24 brd ..." -> {"10.89.10.11/24": "eth0"}
        seen = {line.split()[3]: line.split()[1] for line in res["stdout"].splitlines()}
        for nics, cidr_var in ((("eth0",), "lab_mgmt_cidr"), (("eth1", "br-phy"), "lab_tunnel_cidr"),
                               (("eth2", "br-ex"), "lab_provider_cidr")):
            net = netaddr.IPNetwork(settings[cidr_var])
            want = f"{net[indexes[host]]}/{net.prefixlen}"
            assert seen.get(want) in nics, f"{host}: {want} ({cidr_var}) should be on {' or '.join(nics)}; addresses: {seen}"


def test_destroy_removes_a_container_whose_conmon_died(lab_up: Result, tmp_path: Path) -> None:
    """A machine restored from a snapshot of a running lab (CI, 2026-12-07) holds containers podman says are running
    but whose conmon and processes are gone; podman 4.3's first `rm --force` of one fails ("timed out waiting for
    file /run/libpod/exits/...") and lab.yml's destroy must still remove it. Checked on a throwaway container of the
    lab image under a lab prefix of its own (with its own state directory and KSM left alone), so the lab stays up."""
    import subprocess

    assert lab_up.rc == 0, lab_up.explain()
    prefix = "rsstaleprobe"
    image = subprocess.run(["podman", "images", "--quiet", "--filter", f"label=rentstack.lab-image={lab_settings()['lab_prefix']}"],
                           capture_output=True, text=True, check=True).stdout.split()[0]
    name = f"{prefix}-probe"
    subprocess.run(["podman", "rm", "--force", "--ignore", name], capture_output=True, check=False)
    subprocess.run(["podman", "--runtime", "runc", "run", "-d", "--name", name, "--label", f"rentstack.lab={prefix}",
                    "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=20000:20000", image, "sleep", "600"],
                   capture_output=True, text=True, check=True)
    try:
        pids = subprocess.run(["podman", "inspect", "--format", "{{.State.ConmonPid}} {{.State.Pid}}", name],
                              capture_output=True, text=True, check=True).stdout.split()
        for pid in pids:
            subprocess.run(["kill", "-9", pid], check=True)
        state_dir = tmp_path / "state"
        state_dir.mkdir()
        destroy = run_playbook("playbooks/lab.yml", tmp_path / "destroy", extravars={
            "lab_state": "absent", "lab_prefix": prefix, "lab_state_dir": str(state_dir), "lab_ksm_enabled": False})
        assert destroy.rc == 0, destroy.explain()
        left = subprocess.run(["podman", "ps", "--all", "--quiet", "--filter", f"label=rentstack.lab={prefix}"],
                              capture_output=True, text=True, check=True).stdout.split()
        assert left == [], f"the destroy left {left}"
    finally:
        subprocess.run(["podman", "rm", "--force", "--ignore", name], capture_output=True, check=False)
