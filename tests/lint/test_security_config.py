"""Settings that keep the defaults secure for real sites (issue 24): SSH host key checking stays on for every
inventory but the lab's, whose hosts are rebuilt with new keys."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
LAB_INVENTORIES = {"lab", "lab2"}


def test_ansible_cfg_leaves_host_key_checking_on() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert cfg.getboolean("defaults", "host_key_checking", fallback=True), "ansible.cfg turns host key checking off"
    assert "StrictHostKeyChecking" not in cfg.get("ssh_connection", "ssh_args", fallback="")


def test_only_the_lab_inventories_turn_host_key_checking_off() -> None:
    offenders = []
    for path in sorted((ROOT / "inventory").rglob("*.yml")):
        inventory = path.relative_to(ROOT / "inventory").parts[0]
        text = path.read_text()
        data = yaml.safe_load(text) or {}
        off = "StrictHostKeyChecking=no" in text or "UserKnownHostsFile=/dev/null" in text or (
            isinstance(data, dict) and data.get("ansible_host_key_checking") is False)
        if off and inventory not in LAB_INVENTORIES:
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"host key checking turned off outside the lab: {offenders}"
    # And the lab does turn it off for mitogen too (ansible_host_key_checking), not only for ssh's own options.
    lab = yaml.safe_load((ROOT / "inventory" / "lab" / "group_vars" / "lab" / "connection.yml").read_text())
    assert lab["ansible_host_key_checking"] is False
