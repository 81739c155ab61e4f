"""Glance images as data (playbooks/images.yml, role images) on the deployed lab
cloud: the lab file converges with what bootstrap_cloud.yml uploaded, a second
run changes nothing, check mode changes nothing, a bad entry is refused before
any change naming the field, and an image's life cycle (upload, typed
properties, hidden, protected, tags, deletion of a protected image)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner import REPO, Result, run_playbook  # noqa: E402

LAB_IMAGES = yaml.safe_load((REPO / "inventory" / "lab" / "group_vars" / "all" / "images.yml").read_text())["rentstack_images"]
TEST_IMAGE = "rentstack-test-image"


def changed(result: Result) -> int:
    return sum(result.per_host("changed").values())


def glance_images(name: str) -> list[Any]:
    import openstack

    conn = openstack.connect(cloud="rentstack")
    found = {i.id: i for hidden in (False, True) for i in conn.image.images(name=name, is_hidden=hidden)}
    return list(found.values())


@pytest.fixture(scope="module")
def images_first(site_first: Result, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """images.yml once, with the lab file, after site.yml (whose bootstrap_cloud uploaded the same images)."""
    assert site_first.rc == 0, site_first.explain()
    return run_playbook("playbooks/images.yml", tmp_path_factory.mktemp("images1"))


def test_lab_images_converge_with_bootstrap_cloud(images_first: Result) -> None:
    # bootstrap_cloud.yml uploads the guest image through the same role: nothing is left to do.
    assert images_first.rc == 0 and changed(images_first) == 0, images_first.explain()
    boot = glance_images("rentstack-guest")
    kernel = glance_images("rentstack-guest-kernel")
    ramdisk = glance_images("rentstack-guest-ramdisk")
    assert len(boot) == len(kernel) == len(ramdisk) == 1
    assert boot[0].kernel_id == kernel[0].id and boot[0].ramdisk_id == ramdisk[0].id
    assert boot[0].os_command_line == "console=tty0 console=ttyS0,115200n8 hpet=disable no_timer_check"


def test_images_second_run_changes_nothing(images_first: Result, tmp_path: Path) -> None:
    again = run_playbook("playbooks/images.yml", tmp_path)
    assert again.rc == 0 and changed(again) == 0, again.explain()


def test_check_mode_shows_a_new_image_and_uploads_nothing(images_first: Result, tmp_path: Path) -> None:
    data = tmp_path / "test.raw"
    data.write_bytes(b"\0" * 4096)
    extra = {"name": TEST_IMAGE, "file": str(data), "disk_format": "raw"}
    result = run_playbook("playbooks/images.yml", tmp_path / "run", extravars={"rentstack_images": LAB_IMAGES + [extra]},
                          cmdline="--check --diff")
    assert result.rc == 0, result.explain()
    plans = [e["event_data"]["res"]["images"] for e in result.task_events("runner_on_ok")
             if "images" in e["event_data"].get("res", {})]
    planned = {i["name"]: i["actions"] for i in plans[0]}
    assert planned[TEST_IMAGE][0].startswith(f"upload {data}"), planned
    assert not any(planned[i["name"]] for i in LAB_IMAGES), planned
    assert glance_images(TEST_IMAGE) == []


BAD_ENTRIES = [
    ({"name": "bad1", "file": "FILE", "disk_format": "qcow3"}, "image bad1: disk_format 'qcow3' is not a Glance disk format"),
    ({"name": "bad2", "file": "FILE", "disk_format": "aki", "container_format": "bare"},
     "image bad2: disk_format aki with container_format bare"),
    ({"name": "bad3", "file": "FILE", "disk_format": "raw", "visibility": "world"}, "image bad3: visibility 'world'"),
    ({"name": "bad4", "file": "FILE", "disk_format": "raw", "colour": "red"}, "image bad4: unknown key(s) colour"),
    ({"name": "bad5", "file": "/nonexistent.img", "disk_format": "raw"}, "image bad5: file /nonexistent.img does not exist"),
    ({"name": "bad6", "file": "FILE", "disk_format": "raw", "properties": {"kernel": "nope"}},
     "image bad6: properties.kernel = 'nope' names no image of this list"),
]


def test_bad_entries_are_refused_before_any_change(images_first: Result, tmp_path: Path) -> None:
    # One run with every bad entry after the good lab entries: each is named in the refusal, and the
    # refusal stops the good ones too (all checks before any change).
    data = tmp_path / "bad.img"
    data.write_bytes(b"bad")
    entries = [{k: str(data) if v == "FILE" else v for k, v in entry.items()} for entry, _ in BAD_ENTRIES]
    result = run_playbook("playbooks/images.yml", tmp_path, extravars={"rentstack_images": LAB_IMAGES + entries})
    assert result.rc != 0
    messages = " ".join(result.failure_messages())
    for _, expected in BAD_ENTRIES:
        assert expected in messages, messages
    assert changed(result) == 0
    assert not any(glance_images(entry["name"]) for entry, _ in BAD_ENTRIES)


def test_image_life_cycle(images_first: Result, tmp_path: Path) -> None:
    data = tmp_path / "test.raw"
    data.write_bytes(b"\0" * 8192)
    entry = {"name": TEST_IMAGE, "file": str(data), "disk_format": "raw", "visibility": "private", "protected": True,
             "hidden": True, "min_ram": 64, "tags": ["rentstack", "test"],
             "properties": {"hw_video_ram": 8, "hw_qemu_guest_agent": True, "os_distro": "busybox"}}
    images = LAB_IMAGES + [entry]
    try:
        first = run_playbook("playbooks/images.yml", tmp_path / "1", extravars={"rentstack_images": images})
        assert first.rc == 0 and changed(first) > 0, first.explain()
        found = glance_images(TEST_IMAGE)
        assert len(found) == 1 and found[0].is_hidden and found[0].is_protected and found[0].min_ram == 64
        assert set(found[0].tags) == {"rentstack", "test"} and found[0].os_distro == "busybox"
        again = run_playbook("playbooks/images.yml", tmp_path / "2", extravars={"rentstack_images": images})
        assert again.rc == 0 and changed(again) == 0, again.explain()
        # A new file under the same name: the old upload is retired, not deleted.
        data.write_bytes(b"\1" * 8192)
        rebuilt = run_playbook("playbooks/images.yml", tmp_path / "3", extravars={"rentstack_images": images})
        assert rebuilt.rc == 0 and changed(rebuilt) > 0, rebuilt.explain()
        assert glance_images(f"{TEST_IMAGE}-retired-{found[0].id[:8]}")
        # Deleting a protected image needs protected: false in the entry.
        gone = {"name": TEST_IMAGE, "state": "absent"}
        refused = run_playbook("playbooks/images.yml", tmp_path / "4", extravars={"rentstack_images": LAB_IMAGES + [gone]})
        assert refused.rc != 0 and changed(refused) == 0
        assert any("is protected" in m and "protected: false" in m for m in refused.failure_messages()), refused.failure_messages()
        gone["protected"] = False
        deleted = run_playbook("playbooks/images.yml", tmp_path / "5", extravars={"rentstack_images": LAB_IMAGES + [gone]})
        assert deleted.rc == 0 and changed(deleted) > 0, deleted.explain()
        assert glance_images(TEST_IMAGE) == []
    finally:
        leftovers = {i.name for i in _all_images() if i.name == TEST_IMAGE or i.name.startswith(f"{TEST_IMAGE}-retired-")}
        if leftovers:
            cleanup = [{"name": n, "state": "absent", "protected": False} for n in sorted(leftovers)]
            run_playbook("playbooks/images.yml", tmp_path / "cleanup", extravars={"rentstack_images": LAB_IMAGES + cleanup})


def _all_images() -> list[Any]:
    import openstack

    conn = openstack.connect(cloud="rentstack")
    return list(conn.image.images()) + list(conn.image.images(is_hidden=True))
