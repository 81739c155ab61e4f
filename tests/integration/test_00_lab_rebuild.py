"""Destroy the lab and build it again (destructive: RENTSTACK_DESTRUCTIVE=1 only).

Runs before every other test (tests/conftest.py), so the rest of the suite
checks a lab that was just rebuilt from nothing but the cached image and apt
archive. Never run it on a lab other people are using.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner import inventory_lab_hosts, lab_objects, lab_settings, run_playbook  # noqa: E402


@pytest.mark.destructive
def test_destroy_then_create_again(tmp_path: Path) -> None:
    settings = lab_settings()
    prefix = settings["lab_prefix"]
    lab_hosts = sorted(inventory_lab_hosts())
    apt_cache = Path(settings["lab_apt_cache_dir"])
    apt_cache_existed = apt_cache.is_dir()  # not on a fresh machine

    destroy = run_playbook("playbooks/lab.yml", tmp_path / "destroy", extravars={"lab_state": "absent"})
    assert destroy.rc == 0, destroy.explain()
    assert sum(destroy.per_host("failures").values()) == 0, destroy.explain()
    assert lab_objects(prefix) == {"containers": [], "networks": []}
    assert not Path(settings["lab_state_dir"]).exists(), "destroy left the lab state directory (SSH key) behind"
    # The shared apt archive is kept for the next build (lab_purge_cache=false).
    assert apt_cache.is_dir() == apt_cache_existed

    create = run_playbook("playbooks/lab.yml", tmp_path / "create")
    assert create.rc == 0, create.explain()
    assert sum(create.per_host("failures").values()) == 0, create.explain()
    assert sum(create.per_host("dark").values()) == 0, create.explain()
    assert create.per_host("changed").get("localhost", 0) > 0, create.explain()
    objects = lab_objects(prefix)
    assert len(objects["networks"]) == 3, objects
    assert [state for _, state, _ in objects["containers"]] == ["running"] * len(lab_hosts), objects

    again = run_playbook("playbooks/lab.yml", tmp_path / "again")
    assert again.rc == 0, again.explain()
    changed = again.per_host("changed")
    assert set(changed) == {"localhost", *lab_hosts}, again.explain()
    assert changed == dict.fromkeys(changed, 0), f"changed on the run after the rebuild: {changed}\n{again.explain()}"
    assert lab_objects(prefix) == objects, "the idempotent run replaced containers or networks"
