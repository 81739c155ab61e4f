"""Unit tests of plugins/modules/rentstack_keystone_service.py (and its planning in
plugins/module_utils/rentstack_keystone.py) against an in-memory Keystone.

The fake serves the calls the module makes on openstacksdk's identity proxy, refuses
query parameters and attributes openstacksdk would not map (checked against the SDK's
own resource classes), and answers the password login as Keystone does (201 or 401).
The real Keystone is exercised on the lab by site.yml (tests/integration/test_10_deploy.py).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from libload import load_library
from openstack.identity.v3 import endpoint as sdk_endpoint
from openstack.identity.v3 import service as sdk_service
from openstack.identity.v3 import user as sdk_user

MOD = load_library("rentstack_keystone_service")
ROOT = Path(__file__).resolve().parents[2]
KEYSTONE = "http://ctl1:5000"
SECRET = "s3cret-from-the-secrets-file"


class Failed(Exception):
    pass


def check_attrs(resource: type, attrs: dict[str, Any]) -> None:
    """openstacksdk silently drops attributes its resource does not define (e.g. 'enabled' for 'is_enabled')."""
    unknown = [k for k in attrs if not hasattr(resource, k)]
    assert not unknown, f"{resource.__name__} has no attribute {unknown}"


class Keystone:
    """The parts of the identity v3 API the module uses, as openstacksdk's proxy presents them."""

    def __init__(self) -> None:
        self.ids = (f"id{n}" for n in itertools.count(1))
        self.services_db: dict[str, SimpleNamespace] = {}
        self.endpoints_db: dict[str, SimpleNamespace] = {}
        self.users_db: dict[str, SimpleNamespace] = {}
        self.passwords: dict[str, str] = {}
        self.projects_db = {p: SimpleNamespace(id=f"p-{p}", name=p, domain_id="default") for p in ("service", "demo")}
        self.roles_db = {r: SimpleNamespace(id=f"r-{r}", name=r) for r in ("admin", "member", "reader", "service")}
        self.assignments: set[tuple[str, str, str]] = set()  # (user id, project id, role id)
        self.writes: list[tuple] = []
        self.logins: list[str] = []

    # --- seeding ---

    def add_service(self, name: str, stype: str, description: str = "", enabled: bool = True) -> SimpleNamespace:
        svc = SimpleNamespace(id=next(self.ids), name=name, type=stype, description=description, is_enabled=enabled)
        self.services_db[svc.id] = svc
        return svc

    def add_endpoint(self, service_id: str, interface: str, url: str, region: str = "RegionOne",
                     enabled: bool = True) -> SimpleNamespace:
        ep = SimpleNamespace(id=next(self.ids), service_id=service_id, interface=interface, url=url,
                             region_id=region, is_enabled=enabled)
        self.endpoints_db[ep.id] = ep
        return ep

    def add_user(self, name: str, password: str, project: str = "service", enabled: bool = True) -> SimpleNamespace:
        user = SimpleNamespace(id=next(self.ids), name=name, domain_id="default",
                               default_project_id=self.projects_db[project].id, is_enabled=enabled)
        self.users_db[user.id] = user
        self.passwords[user.id] = password
        return user

    def assign(self, user: SimpleNamespace, project: str, role: str) -> None:
        self.assignments.add((user.id, self.projects_db[project].id, self.roles_db[role].id))

    def user_named(self, name: str) -> SimpleNamespace:
        return next(u for u in self.users_db.values() if u.name == name)

    # --- reads ---

    def services(self, **query: Any) -> list[SimpleNamespace]:
        assert set(query) <= {"name", "type"}, query
        return [s for s in self.services_db.values() if all(getattr(s, k) == v for k, v in query.items())]

    def endpoints(self, **query: Any) -> list[SimpleNamespace]:
        assert set(query) <= {"interface", "region_id", "service_id"}, query
        return [e for e in self.endpoints_db.values() if all(getattr(e, k) == v for k, v in query.items())]

    def projects(self, **query: Any) -> list[SimpleNamespace]:
        assert set(query) <= {"name", "domain_id"}, query
        return [p for p in self.projects_db.values() if all(getattr(p, k) == v for k, v in query.items())]

    def users(self, **query: Any) -> list[SimpleNamespace]:
        assert set(query) <= {"name", "domain_id"}, query
        return [u for u in self.users_db.values() if all(getattr(u, k) == v for k, v in query.items())]

    def roles(self, **query: Any) -> list[SimpleNamespace]:
        assert not query
        return list(self.roles_db.values())

    def role_assignments(self, **query: Any) -> list[SimpleNamespace]:
        assert set(query) == {"user_id", "scope_project_id"}, query
        return [SimpleNamespace(role={"id": r}, user={"id": u}, scope={"project": {"id": p}})
                for u, p, r in sorted(self.assignments) if u == query["user_id"] and p == query["scope_project_id"]]

    # --- writes ---

    def create_service(self, **attrs: Any) -> SimpleNamespace:
        check_attrs(sdk_service.Service, attrs)
        self.writes.append(("create service", attrs["name"]))
        return self.add_service(attrs["name"], attrs["type"], attrs.get("description") or "", attrs["is_enabled"])

    def update_service(self, svc: Any, **attrs: Any) -> None:
        check_attrs(sdk_service.Service, attrs)
        self.writes.append(("update service", svc.id, attrs))
        vars(self.services_db[svc.id]).update(attrs)

    def create_endpoint(self, **attrs: Any) -> SimpleNamespace:
        check_attrs(sdk_endpoint.Endpoint, attrs)
        assert attrs["service_id"] in self.services_db
        self.writes.append(("create endpoint", attrs["interface"], attrs["url"]))
        return self.add_endpoint(attrs["service_id"], attrs["interface"], attrs["url"], attrs["region_id"],
                                 attrs["is_enabled"])

    def update_endpoint(self, endpoint_id: str, **attrs: Any) -> None:
        check_attrs(sdk_endpoint.Endpoint, attrs)
        self.writes.append(("update endpoint", endpoint_id, attrs))
        vars(self.endpoints_db[endpoint_id]).update(attrs)

    def delete_endpoint(self, endpoint_id: str, ignore_missing: bool) -> None:
        self.writes.append(("delete endpoint", endpoint_id))
        self.endpoints_db.pop(endpoint_id)

    def create_user(self, **attrs: Any) -> SimpleNamespace:
        check_attrs(sdk_user.User, attrs)
        assert attrs["default_project_id"] in {p.id for p in self.projects_db.values()}
        self.writes.append(("create user", attrs["name"]))
        user = self.add_user(attrs["name"], attrs["password"])
        user.default_project_id, user.is_enabled = attrs["default_project_id"], attrs["is_enabled"]
        return user

    def update_user(self, user: Any, **attrs: Any) -> None:
        check_attrs(sdk_user.User, attrs)
        self.writes.append(("update user", user.name, sorted(attrs)))
        if "password" in attrs:
            self.passwords[user.id] = attrs.pop("password")
        vars(self.users_db[user.id]).update(attrs)

    def assign_project_role_to_user(self, project: str, user: str, role: str) -> None:
        assert project in {p.id for p in self.projects_db.values()} and user in self.users_db
        self.writes.append(("assign", user, project, role))
        self.assignments.add((user, project, role))


class Session:
    """POST /v3/auth/tokens as Keystone answers it: 201 for the right password of an enabled user, else 401."""

    def __init__(self, keystone: Keystone) -> None:
        self.keystone = keystone

    def post(self, url: str, json: dict[str, Any], authenticated: bool, raise_exc: bool, log: bool) -> SimpleNamespace:
        assert url == f"{KEYSTONE}/v3/auth/tokens" and authenticated is False and raise_exc is False and log is False
        who = json["auth"]["identity"]["password"]["user"]
        self.keystone.logins.append(who["name"])
        user = next((u for u in self.keystone.users_db.values()
                     if u.name == who["name"] and u.domain_id == who["domain"]["id"]), None)
        ok = user is not None and user.is_enabled and self.keystone.passwords[user.id] == who["password"]
        return SimpleNamespace(status_code=201 if ok else 401, text="" if ok else '{"error": {"code": 401}}')


GLANCE = {"service": "glance", "service_type": "image", "description": "OpenStack Image",
          "endpoints": {"public": "http://ctl1:9292", "internal": "http://ctl1:9292", "admin": "http://ctl1:9292"},
          "region": "RegionOne", "user": "glance", "password": SECRET, "project": "service",
          "roles": ["admin", "service"], "keystone_url": KEYSTONE}
DEMO = {"user": "demo", "password": SECRET, "project": "demo", "roles": ["member"], "keystone_url": KEYSTONE}


def run(keystone: Keystone, params: dict[str, Any], check: bool = False) -> dict[str, Any]:
    with patch_module_args({**params, "_ansible_check_mode": check}):
        mod = MOD.KeystoneServiceModule()
    mod._conn = SimpleNamespace(identity=keystone, session=Session(keystone))

    def fail(msg: str, **_: Any) -> None:
        raise Failed(msg)

    mod.fail = fail
    mod.warnings = []
    mod.ansible.warn = mod.warnings.append
    result = mod.run()
    assert SECRET not in json.dumps(result), "the password must never be in the result"
    return result


def endpoint_urls(keystone: Keystone) -> list[tuple[str, str, str]]:
    return sorted((e.interface, e.region_id, e.url) for e in keystone.endpoints_db.values())


def roles_of(keystone: Keystone, name: str, project: str = "service") -> set[str]:
    user = keystone.user_named(name)
    by_id = {r.id: r.name for r in keystone.roles_db.values()}
    return {by_id[r] for u, p, r in keystone.assignments if u == user.id and p == keystone.projects_db[project].id}


def test_empty_cloud_gets_everything_then_a_rerun_changes_nothing() -> None:
    keystone = Keystone()
    first = run(keystone, GLANCE)
    assert first["changed"] and first["actions"] == [
        "created service glance (image)",
        "created endpoint public http://ctl1:9292",
        "created endpoint internal http://ctl1:9292",
        "created endpoint admin http://ctl1:9292",
        "created user glance",
        "added role admin in project service",
        "added role service in project service",
    ]
    (svc,) = keystone.services_db.values()
    assert (svc.name, svc.type, svc.description, svc.is_enabled) == ("glance", "image", "OpenStack Image", True)
    assert endpoint_urls(keystone) == [(i, "RegionOne", "http://ctl1:9292") for i in ("admin", "internal", "public")]
    user = keystone.user_named("glance")
    assert keystone.passwords[user.id] == SECRET and user.default_project_id == "p-service"
    assert roles_of(keystone, "glance") == {"admin", "service"}
    assert keystone.logins == [], "a user just created with the password needs no login check"
    assert first["diff"]["before"] == {"service": None, "endpoints": {}, "user": None, "roles": []}
    assert first["diff"]["after"]["roles"] == ["admin", "service"]
    assert first["service"]["id"] == svc.id and first["user"]["id"] == user.id
    assert {i: e["id"] for i, e in first["endpoints"].items()} == {
        e.interface: e.id for e in keystone.endpoints_db.values()}

    keystone.writes.clear()
    second = run(keystone, GLANCE)
    assert not second["changed"] and second["actions"] == [] and keystone.writes == []
    assert second["diff"]["before"] == second["diff"]["after"] == first["diff"]["after"]
    assert keystone.logins == ["glance"], "the rerun checks the password by one login"
    assert second["endpoints"] == first["endpoints"] and second["user"] == first["user"]


def test_a_wrong_endpoint_url_is_fixed_in_place_and_nothing_duplicated() -> None:
    keystone = Keystone()
    run(keystone, GLANCE)
    admin = next(e for e in keystone.endpoints_db.values() if e.interface == "admin")
    admin.url = "http://old-ctl:9292"
    other_region = keystone.add_endpoint(admin.service_id, "admin", "http://far:9292", region="RegionTwo")
    keystone.writes.clear()
    result = run(keystone, GLANCE)
    assert result["actions"] == ["fixed endpoint admin URL http://old-ctl:9292 -> http://ctl1:9292"]
    assert keystone.writes == [("update endpoint", admin.id, {"url": "http://ctl1:9292"})]
    assert admin.url == "http://ctl1:9292" and len(keystone.endpoints_db) == 4
    assert keystone.endpoints_db[other_region.id].url == "http://far:9292", "other regions are left alone"
    assert result["diff"]["before"]["endpoints"]["admin"] == "http://old-ctl:9292"
    assert result["diff"]["after"]["endpoints"]["admin"] == "http://ctl1:9292"
    assert result["endpoints"]["admin"]["id"] == admin.id
    assert not run(keystone, GLANCE)["changed"]


def test_duplicate_endpoints_keep_the_right_one_and_a_disabled_one_is_enabled() -> None:
    keystone = Keystone()
    svc = keystone.add_service("glance", "image", "OpenStack Image", enabled=False)
    wrong = keystone.add_endpoint(svc.id, "public", "http://old:9292")
    right = keystone.add_endpoint(svc.id, "public", "http://ctl1:9292")
    internal = keystone.add_endpoint(svc.id, "internal", "http://ctl1:9292", enabled=False)
    keystone.add_user("glance", SECRET)
    assert run(keystone, {**GLANCE, "description": "Glance"}, check=True)["actions"][0] == (
        "set description of service glance to 'Glance'; enabled service glance")
    result = run(keystone, {**GLANCE, "endpoints": {"public": "http://ctl1:9292", "internal": "http://ctl1:9292"},
                            "roles": []})
    assert result["actions"] == ["enabled service glance",
                                 f"removed duplicate endpoint public {wrong.id} http://old:9292",
                                 "enabled endpoint internal"]
    assert wrong.id not in keystone.endpoints_db and keystone.endpoints_db[right.id].url == "http://ctl1:9292"
    assert internal.is_enabled and svc.is_enabled
    assert result["diff"]["before"]["endpoints"] == {"public": ["http://old:9292", "http://ctl1:9292"],
                                                     "internal": "http://ctl1:9292 (disabled)"}
    assert result["endpoints"]["public"]["id"] == right.id


def test_a_missing_role_assignment_is_added_and_extra_roles_kept() -> None:
    keystone = Keystone()
    run(keystone, GLANCE)
    user = keystone.user_named("glance")
    keystone.assignments.discard((user.id, "p-service", "r-service"))
    keystone.assign(user, "service", "reader")
    keystone.writes.clear()
    result = run(keystone, GLANCE)
    assert result["actions"] == ["added role service in project service"]
    assert keystone.writes == [("assign", user.id, "p-service", "r-service")]
    assert roles_of(keystone, "glance") == {"admin", "reader", "service"}
    assert result["diff"]["before"]["roles"] == ["admin", "reader"]
    assert result["diff"]["after"]["roles"] == ["admin", "reader", "service"]


def test_a_refused_password_is_reset_and_an_accepted_one_is_not() -> None:
    keystone = Keystone()
    user = keystone.add_user("glance", "old-password")
    keystone.assign(user, "service", "admin")
    keystone.assign(user, "service", "service")
    params = {k: v for k, v in GLANCE.items() if k not in ("service", "service_type", "description", "endpoints")}
    result = run(keystone, params)
    assert result["actions"] == ["reset password"] and keystone.passwords[user.id] == SECRET
    assert keystone.writes == [("update user", "glance", ["password"])]
    assert "password" not in json.dumps(result["diff"])
    keystone.writes.clear()
    again = run(keystone, params)
    assert not again["changed"] and keystone.writes == [] and keystone.logins == ["glance", "glance"]


def test_without_keystone_url_the_password_is_set_on_create_only() -> None:
    keystone = Keystone()
    user = keystone.add_user("glance", "old-password")
    result = run(keystone, {**GLANCE, "keystone_url": "", "roles": []})
    assert "reset password" not in result["actions"] and keystone.logins == []
    assert keystone.passwords[user.id] == "old-password"


def test_a_disabled_user_is_enabled_and_given_its_default_project() -> None:
    keystone = Keystone()
    user = keystone.add_user("demo", SECRET, project="service", enabled=False)
    keystone.assign(user, "demo", "member")
    result = run(keystone, DEMO)
    assert result["actions"] == ["set default project demo; enabled user"]
    assert (user.default_project_id, user.is_enabled) == ("p-demo", True)
    assert keystone.writes == [("update user", "demo", ["default_project_id", "is_enabled"])]


def test_check_mode_reports_the_plan_and_changes_nothing() -> None:
    keystone = Keystone()
    plan = run(keystone, GLANCE, check=True)
    assert plan["changed"] and keystone.writes == [] and keystone.services_db == {} and keystone.users_db == {}
    assert plan["actions"] == run(Keystone(), GLANCE)["actions"]
    assert plan["service"]["id"] is None and plan["user"]["id"] is None
    assert plan["diff"]["after"]["endpoints"] == GLANCE["endpoints"]

    run(keystone, GLANCE)
    next(e for e in keystone.endpoints_db.values() if e.interface == "public").url = "http://wrong:1"
    keystone.passwords[keystone.user_named("glance").id] = "rotated-away"
    keystone.assignments = {a for a in keystone.assignments if a[2] != "r-admin"}
    keystone.writes.clear()
    keystone.logins.clear()
    plan = run(keystone, GLANCE, check=True)
    assert plan["actions"] == ["fixed endpoint public URL http://wrong:1 -> http://ctl1:9292", "reset password",
                               "added role admin in project service"]
    assert keystone.writes == [], "check mode changes nothing"
    assert keystone.logins == ["glance"], "the read-only login check runs in check mode"


def test_check_mode_on_a_cloud_without_the_project_and_roles_yet_warns_instead_of_failing() -> None:
    keystone = Keystone()
    keystone.projects_db.pop("demo")
    keystone.roles_db.pop("member")
    with pytest.raises(Failed, match="project demo not found in domain default"):
        run(keystone, DEMO)
    plan = run(keystone, DEMO, check=True)
    assert plan["actions"] == ["created user demo", "added role member in project demo"] and keystone.writes == []


def test_user_only_call_touches_no_catalog() -> None:
    keystone = Keystone()
    result = run(keystone, DEMO)
    assert result["actions"] == ["created user demo", "added role member in project demo"]
    assert keystone.services_db == {} and keystone.endpoints_db == {}
    assert "service" not in result and "endpoints" not in result
    assert set(result["diff"]["before"]) == {"user", "roles"}
    assert roles_of(keystone, "demo", "demo") == {"member"}
    assert keystone.user_named("demo").default_project_id == "p-demo"
    assert not run(keystone, DEMO)["changed"]


def test_catalog_only_call_touches_no_user() -> None:
    keystone = Keystone()
    params = {k: GLANCE[k] for k in ("service", "service_type", "endpoints")}
    result = run(keystone, params)
    assert len(result["actions"]) == 4 and keystone.users_db == {} and "user" not in result


@pytest.mark.parametrize(("params", "message"), [
    ({**GLANCE, "endpoints": {"public": "http://x", "private": "http://y"}}, "unknown interface 'private'"),
    ({**GLANCE, "endpoints": {"public": ""}}, "endpoints: public has no URL"),
    ({**DEMO, "endpoints": {"public": "http://x"}}, "endpoints needs service"),
])
def test_bad_endpoints_fail_before_any_call(params: dict[str, Any], message: str) -> None:
    keystone = Keystone()
    with pytest.raises(Failed, match=message):
        run(keystone, params)
    assert keystone.writes == []


def test_unknown_role_fails_naming_it() -> None:
    with pytest.raises(Failed, match="role.s. manager not found in Keystone"):
        run(Keystone(), {**DEMO, "roles": ["member", "manager"]})


def test_two_services_of_the_same_name_and_type_fail_naming_them() -> None:
    keystone = Keystone()
    a, b = keystone.add_service("glance", "image"), keystone.add_service("glance", "image")
    with pytest.raises(Failed, match=f"2 services named glance of type image .{a.id}, {b.id}."):
        run(keystone, GLANCE)


def test_the_password_option_is_no_log_and_user_requires_it() -> None:
    assert MOD.KeystoneServiceModule.argument_spec["password"]["no_log"] is True
    with patch_module_args({"user": "demo", "project": "demo"}), pytest.raises(SystemExit):
        MOD.KeystoneServiceModule()


# --- the roles call the module once per service ---------------------------------


def tasks(path: str) -> list[dict[str, Any]]:
    return yaml.safe_load((ROOT / path).read_text())


def modules_of(task_list: list[dict[str, Any]]) -> list[str]:
    keys = {"name", "when", "delegate_to", "run_once", "no_log", "register", "vars", "loop", "loop_control",
            "check_mode", "changed_when", "tags"}
    return [next(k for k in t if k not in keys) for t in task_list]


def test_keystone_service_role_makes_one_module_call_and_a_free_report() -> None:
    main = tasks("roles/keystone_service/tasks/main.yml")
    assert modules_of(main) == ["rentstack_keystone_service", "ansible.builtin.debug"]
    call, report = main
    assert call["no_log"] is True and call["run_once"] is True and call["delegate_to"] == "localhost"
    assert "loop" not in call and "loop" not in report
    assert report["when"] == f"{call['register']}.actions | length > 0", "a no-op run skips the report"
    assert not (ROOT / "roles/keystone_service/tasks/password.yml").exists()
    specs = yaml.safe_load((ROOT / "roles/keystone_service/meta/argument_specs.yml").read_text())
    assert not any(o.get("required") for o in specs["argument_specs"]["main"]["options"].values()), (
        "a user-only call (the demo user) passes no service name, type or URL")


def test_keystone_register_creates_the_demo_user_through_the_role() -> None:
    register = tasks("roles/keystone/tasks/register.yml")
    demo = [t for t in register if t.get("ansible.builtin.include_role", {}).get("name") == "keystone_service"]
    assert len(demo) == 1 and "tasks_from" not in demo[0]["ansible.builtin.include_role"]
    args = demo[0]["vars"]
    assert "keystone_service_name" not in args and args["keystone_service_roles"] == ["member"]
    assert args["keystone_service_keystone_url"] == "{{ keystone_url }}"
    assert not any(m in ("openstack.cloud.identity_user", "openstack.cloud.role_assignment") for m in modules_of(register)), (
        "the demo user's tasks are the module's now")
