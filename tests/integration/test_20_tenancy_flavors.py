"""Tenancy, flavor menu and the report's access-control scenario (000, §5.4)
on the deployed lab cloud: applied idempotently, then checked by logging in
as each user."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import chromium, horizon_login  # noqa: E402
from runner import Result, lab_secrets_file, run_playbook  # noqa: E402

SECRETS = lab_secrets_file()
HORIZON = "http://10.89.10.11/horizon"


def test_tenants_apply_then_change_nothing(tenants: Result, tmp_path: Path) -> None:
    assert tenants.rc == 0, tenants.explain()
    again = run_playbook("playbooks/tenants.yml", tmp_path)
    assert again.rc == 0 and sum(again.per_host("changed").values()) == 0, again.explain()


def test_flavors_apply_then_change_nothing(flavors: Result, tmp_path: Path) -> None:
    assert flavors.rc == 0, flavors.explain()
    again = run_playbook("playbooks/flavors.yml", tmp_path)
    assert again.rc == 0 and sum(again.per_host("changed").values()) == 0, again.explain()


@pytest.mark.parametrize(
    ("extravars", "expected"),
    [
        ({"rentstack_tenancy": {"projects": [{"name": "P", "quotas": {"cores": -5}}]}}, "quota cores = -5"),
        ({"rentstack_tenancy": {"projects": [{"name": "P", "quotas": {"ram": "lots"}}]}}, "quota ram = 'lots'"),
        ({"rentstack_tenancy": {"users": [{"name": "u"}], "role_assignments": [
            {"user": "u", "project": "Q", "role": "owner"}]}}, "role 'owner' is unknown"),
        ({"rentstack_tenancy": {"users": [{"name": "u", "default_project": "Nope"}]}}, "default_project Nope is not defined"),
    ],
)
def test_bad_tenancy_is_refused_before_any_change(site_first: Result, tmp_path: Path, extravars: dict, expected: str) -> None:
    result = run_playbook("playbooks/tenants.yml", tmp_path, extravars=extravars)
    assert result.rc != 0
    assert any(expected in m for m in result.failure_messages()), result.failure_messages()
    assert sum(result.per_host("changed").values()) == 0


@pytest.mark.parametrize(
    ("spec", "expected"),
    [({"quota:cpu_quota": 10, "quota:cpu_period": 100000}, "cpu_quota = 10"),
     ({"quota:bogus": 1}, "'quota:bogus' is unknown")],
)
def test_bad_flavor_is_refused_before_any_change(site_first: Result, tmp_path: Path, spec: dict, expected: str) -> None:
    menu = [{"name": "bad.flavor", "vcpus": 1, "ram": 128, "extra_specs": spec}]
    result = run_playbook("playbooks/flavors.yml", tmp_path, extravars={"rentstack_flavors": menu})
    assert result.rc != 0
    assert any(expected in m for m in result.failure_messages()), result.failure_messages()
    assert sum(result.per_host("changed").values()) == 0


def test_access_scenario_by_logging_in_as_each_user(tenants: Result, flavors: Result, tmp_path: Path) -> None:
    """VM-A1, VM-A2, VM-B1; admin sees all, admin-a sees A1+A2, user-x A1 only (API and dashboard), user-y B1 only."""
    import openstack
    from openstack import exceptions
    from selenium.webdriver.support.ui import WebDriverWait

    vms = {"A1": "VM-A1", "A2": "VM-A2", "B1": "VM-B1"}
    for project, name in vms.items():
        created = run_playbook("playbooks/vms_create.yml", tmp_path / project, extravars={"rental_request": {
            "requester": "test", "project": project, "menu": "m1.nano", "os": "rentstack-guest", "count": 1,
            "prefix": name}})
        assert created.rc == 0, created.explain()
    secrets = yaml.safe_load(SECRETS.read_text())["rentstack_secrets"]
    admin = openstack.connect(cloud="rentstack")
    auth_url = admin.config.auth["auth_url"]

    def login(user: str, project: str):  # noqa: ANN202
        return openstack.connect(auth_url=auth_url, username=user, password=secrets[f"user_{user}"],
                                 project_name=project, user_domain_name="Default", project_domain_name="Default",
                                 region_name="RegionOne")

    def seen(conn) -> set[str]:  # noqa: ANN001
        return {s.name.rsplit("-", 1)[0] for s in conn.compute.servers()}

    try:
        all_names = {s.name.rsplit("-", 1)[0] for s in admin.compute.servers(all_projects=True)}
        assert set(vms.values()) <= all_names
        assert seen(login("admin-a", "A1")) | seen(login("admin-a", "A2")) == {"VM-A1", "VM-A2"}
        assert seen(login("user-x", "A1")) == {"VM-A1"}
        assert seen(login("user-y", "B1")) == {"VM-B1"}
        # user-x cannot scope to A2 or B1 at all, nor act on their VMs.
        # (openstacksdk's authorize() re-raises keystoneauth's 401 as a bare SDKException.)
        for project in ("A2", "B1"):
            with pytest.raises(exceptions.SDKException, match="HTTP 401"):
                login("user-x", project).authorize()
        x = login("user-x", "A1")
        a2 = next(s for s in admin.compute.servers(all_projects=True) if s.name.startswith("VM-A2"))
        with pytest.raises(exceptions.ResourceNotFound):
            x.compute.stop_server(a2.id)
        # Nobody but admin holds the admin role. The services' own accounts (nova, glance, ...) hold it
        # on the `service` project, as the install guide sets them up; no person's account does.
        admin_role = admin.identity.find_role("admin")
        service_project = admin.identity.find_project("service")
        holders = {a.user["id"] for a in admin.identity.role_assignments(role_id=admin_role.id)
                   if a.user and (a.scope.get("project") or {}).get("id") != service_project.id}
        assert {admin.identity.get_user(u).name for u in holders} == {"admin"}
        service_accounts = {admin.identity.get_user(a.user["id"]).name
                            for a in admin.identity.role_assignments(role_id=admin_role.id,
                                                                     scope_project_id=service_project.id)}
        assert service_accounts <= {"nova", "glance", "neutron", "placement", "cinder"}, service_accounts
        # The same through the dashboard, in a real browser: user X's instances page.
        driver = chromium()
        try:
            horizon_login(driver, HORIZON, "user-x", secrets["user_user-x"])
            driver.get(f"{HORIZON}/project/instances/")
            WebDriverWait(driver, 60).until(lambda d: "VM-A1" in d.page_source or "No items" in d.page_source)
            driver.save_screenshot(str(tmp_path / "horizon-user-x-instances.png"))
            page = driver.page_source
            assert "VM-A1" in page and "VM-A2" not in page and "VM-B1" not in page
        finally:
            driver.quit()
    finally:
        for project, name in vms.items():
            deleted = run_playbook("playbooks/vms_delete.yml", tmp_path / f"del-{project}", extravars={
                "rental_request": {"requester": "test", "project": project, "menu": "m1.nano",
                                   "os": "rentstack-guest", "count": 1, "prefix": name}})
            assert deleted.rc == 0, deleted.explain()
