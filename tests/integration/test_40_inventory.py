"""The rentstack inventory plugin and capacity report against the lab cloud
(report 000, §5.2, Table 5-9): every figure equals what the APIs report, the
number of API requests does not depend on the number of instances, and the
report covers the 16 items."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apicount import count_requests  # noqa: E402
from browser import chromium  # noqa: E402
from labcloud import CLOUD_INVENTORY as INVENTORY  # noqa: E402
from labcloud import ansible_inventory, inventory_data  # noqa: E402
from runner import REPO, Result, _envvars, run_playbook  # noqa: E402


def make_set(tmp: Path, project: str, prefix: str, count: int, flavor: str, state: str = "create") -> None:
    result = run_playbook(f"playbooks/vms_{state}.yml", tmp, extravars={"rental_request": {
        "requester": "ci", "project": project, "menu": flavor, "os": "rentstack-guest", "count": count,
        "prefix": prefix}})
    assert result.rc == 0, result.explain()


def inventory_json() -> dict:
    out = ansible_inventory("--list", "--flush-cache")
    out.check_returncode()
    return inventory_data(out.stdout)


@pytest.fixture(scope="module")
def populated(tenants: Result, flavors: Result, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    tmp = tmp_path_factory.mktemp("inv")
    make_set(tmp / "a", "A1", "inv-a", 2, "m1.nano")
    make_set(tmp / "b", "B1", "inv-b", 1, "cap50.nano")
    yield
    make_set(tmp / "da", "A1", "inv-a", 2, "m1.nano", "delete")
    make_set(tmp / "db", "B1", "inv-b", 1, "cap50.nano", "delete")


def test_figures_match_the_apis(populated: None) -> None:
    import openstack

    conn = openstack.connect(cloud="rentstack")
    inv = inventory_json()
    hostvars = inv["_meta"]["hostvars"]
    for rp in conn.placement.resource_providers():
        name = rp.name.split(".")[0]
        invs = {i.resource_class: i for i in conn.placement.resource_provider_inventories(rp)}
        usages = conn.placement.get(f"/resource_providers/{rp.id}/usages", microversion="1.9").json()["usages"]
        hv = hostvars[name]
        for rc, key in (("VCPU", "vcpu"), ("MEMORY_MB", "memory_mb"), ("DISK_GB", "disk_gb")):
            i = invs[rc]
            assert hv[f"{key}_total"] == i.total
            assert hv[f"{key}_capacity"] == int((i.total - i.reserved) * i.allocation_ratio)
            assert hv[f"{key}_allocated"] == usages.get(rc, 0)
    servers = list(conn.compute.servers(all_projects=True))
    assert len(inv["instances"]["hosts"]) == len(servers)
    a1 = conn.identity.find_project("A1")
    quota = conn.compute.get_quota_set(a1.id, usage=True)
    # A project's figures are group variables of project_<name>; `ansible-inventory --list` shows group
    # variables merged into each host's variables (as a playbook sees them), so read them from an A1 VM.
    proj = hostvars[inv["project_A1"]["hosts"][0]]["rentstack_project"]
    assert proj["cores"]["limit"] == quota.cores and proj["cores"]["used"] == quota.usage["cores"]
    assert proj["instances"]["used"] == quota.usage["instances"] == 2
    vm = hostvars[next(h for h in inv["project_B1"]["hosts"] if h.startswith("inv-b"))]
    assert vm["flavor"]["extra_specs"]["quota:cpu_quota"] == "50000"


def test_request_count_does_not_grow_with_instances(populated: None, tmp_path: Path) -> None:
    import openstack

    # A fresh connection per count: each refresh pays the same authentication and discovery.
    before = count_requests(openstack.connect(cloud="rentstack"))
    make_set(tmp_path / "more", "A1", "inv-more", 4, "m1.nano")
    try:
        after = count_requests(openstack.connect(cloud="rentstack"))
    finally:
        make_set(tmp_path / "less", "A1", "inv-more", 4, "m1.nano", "delete")
    assert after == before, f"{before} requests with fewer instances, {after} with 4 more"


# A tenant chooses its VMs' names; the report must print this one as text (issue 24).
HOSTILE_NAME = '<script>document.title="pwned"</script><b id="injected">bold</b>'


def test_report_covers_table_5_9(populated: None, tmp_path: Path) -> None:
    import openstack

    conn = openstack.connect(cloud="rentstack")
    victim = next(s for s in conn.compute.servers(all_projects=True) if s.name.startswith("inv-a"))
    original = victim.name  # update_server rewrites the object's attributes
    conn.compute.update_server(victim.id, name=HOSTILE_NAME)
    try:
        # --flush-cache: the inventory's 300 s cache would still hold the old name.
        out = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(INVENTORY),
                              "--flush-cache", "playbooks/report.yml"], cwd=REPO, env={**_envvars(), "HOME": str(Path.home())},
                             capture_output=True, text=True)
    finally:
        conn.compute.update_server(victim.id, name=original)  # the set's delete finds it by its name
    assert conn.compute.get_server(victim.id).name == original
    assert out.returncode == 0, out.stdout[-3000:]
    report_dir = sorted((REPO / "reports").iterdir())[-1]
    hosts = list(csv.DictReader((report_dir / "hosts.csv").open()))
    projects = list(csv.DictReader((report_dir / "projects.csv").open()))
    for col in ("vcpu_total", "vcpu_allocated", "vcpu_free", "memory_mb_total", "memory_mb_allocated",
                "memory_mb_free", "disk_gb_total", "disk_gb_allocated", "disk_gb_free"):
        assert col in hosts[0]
    for col in ("cores_limit", "cores_used", "cores_free", "ram_mb_limit", "ram_mb_used", "ram_mb_free",
                "instances_limit", "running", "instances_free", "ephemeral_gb_limit", "ephemeral_gb_used",
                "ephemeral_gb_free", "gigabytes_limit", "gigabytes_used"):
        assert col in projects[0]
    html = (report_dir / "report.html").read_text()
    assert "<script" not in html and "http" not in html.split("<body>")[1][:200]
    assert "&lt;script&gt;" in html, "the VM with HTML in its name is missing from the report"
    # The page as an operator sees it: opened from disk in headless Chromium (no network needed).
    driver = chromium()
    try:
        driver.get((report_dir / "report.html").as_uri())
        text = driver.find_element(By.TAG_NAME, "body").text
        injected = driver.find_elements(By.ID, "injected")
        title = driver.title
        shot = tmp_path / "report.png"
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    for name in ("cmp1", "cmp2", "A1", "B1", HOSTILE_NAME):
        assert name in text, f"{name} not shown on the rendered report"
    assert injected == [] and title != "pwned", "a VM's name was rendered as HTML"
    assert shot.stat().st_size > 10_000
    # RENTSTACK_SCREENSHOT_DIR=docs/img keeps it (docs/img/report.png is made that way).
    if os.environ.get("RENTSTACK_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["RENTSTACK_SCREENSHOT_DIR"]) / "report.png")


def test_unknown_cloud_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "x.rentstack.yml"
    cfg.write_text("plugin: rentstack\ncloud: no-such-cloud\n")
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(cfg), "--list"],
                         cwd=REPO, env={**_envvars(), "HOME": str(Path.home())}, capture_output=True, text=True)
    text = out.stdout + out.stderr
    assert "cloud 'no-such-cloud' is not defined in clouds.yaml" in text, text[-2000:]
    assert "Traceback" not in text
