#!/usr/bin/python
"""Register a service in Keystone: catalog entry, endpoints, service user, its password and roles, in one run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rentstack_keystone_service
short_description: Register a service, its endpoints and its user in Keystone in one run
description:
  - Makes true, in one process and one connection, what a service needs in Keystone - the catalog
    service (I(service), I(service_type), I(description)), one enabled endpoint per interface given in
    I(endpoints) in I(region), and a user in I(domain) with I(project) as default project, the password
    I(password) and the roles I(roles) in that project.
  - A wrong endpoint URL is fixed in place; a missing interface is created; when several endpoints of
    the service share an interface and the region, the one with the right URL is kept and the others
    removed. Other interfaces, other regions and roles not listed are left alone.
  - The password - Keystone does not say whether a password matches without a login. With
    I(keystone_url), the module logs in as the user with I(password) (an unscoped password
    authentication, C(POST /v3/auth/tokens)) and sets the password only when Keystone refuses it
    (401), so the secrets file stays the source of truth and a second run changes nothing. Without it
    the password is set when the user is created and never again.
  - Without I(service) only the user part runs (e.g. the demo user); without I(user) only the catalog.
  - Check mode reports what would change and changes nothing; the login that checks the password is
    read-only and runs in check mode too. The diff shows the service, endpoints, user and roles before
    and after, never the password.
options:
  timeout:
    description: Not used (no waits); accepted as for every rentstack module.
    type: int
    default: 600
  service:
    description: Catalog name of the service (glance, nova, ...). Omit for a user-only call.
    type: str
  service_type:
    description: Catalog type (image, compute, ...). Required with I(service).
    type: str
  description:
    description: Description of the catalog service; omitted, an existing one is left as it is.
    type: str
  endpoints:
    description:
      - Interface (C(public), C(internal), C(admin)) to URL. Interfaces not given are left alone.
        Requires I(service).
    type: dict
    default: {}
  region:
    description: Region of the endpoints (it must exist in Keystone).
    type: str
    default: RegionOne
  user:
    description: User name. Omit to manage only the catalog.
    type: str
  password:
    description: The user's password (required with I(user)). Never shown in the results or the diff.
    type: str
  domain:
    description: ID of the domain of the user and of I(project).
    type: str
    default: default
  project:
    description: The user's default project, where I(roles) are given (required with I(user)).
    type: str
  roles:
    description: Roles the user must hold in I(project); roles it has beyond these are kept.
    type: list
    elements: str
    default: []
  keystone_url:
    description:
      - Keystone's URL (C(http://host:5000)) to check the password by logging in; the module appends
        C(/v3/auth/tokens). Empty - the password is set only when the user is created.
    type: str
    default: ""
author: rentstack (!UNKNOWN)
extends_documentation_fragment:
  - rentstack.cloud.cloud
"""

EXAMPLES = r"""
- name: Register Glance, its endpoints and its user in Keystone
  rentstack_keystone_service:
    cloud: rentstack
    service: glance
    service_type: image
    description: OpenStack Image
    endpoints:
      public: http://ctl1:9292
      internal: http://ctl1:9292
      admin: http://ctl1:9292
    region: RegionOne
    user: glance
    password: "{{ rentstack_secrets.glance }}"
    project: service
    roles: [admin, service]
    keystone_url: http://ctl1:5000
  delegate_to: localhost
  run_once: true
  no_log: true

- name: Create the demo user with the secrets file's password and the member role (user only)
  rentstack_keystone_service:
    user: demo
    password: "{{ rentstack_secrets.demo }}"
    project: demo
    roles: [member]
    keystone_url: http://ctl1:5000
"""

RETURN = r"""
actions:
  description:
    - What was done, or in check mode would be done, one line each, e.g. C(created service glance),
      C(created endpoint public http://ctl1:9292), C(fixed endpoint admin URL old -> new),
      C(created user glance), C(reset password), C(added role service in project service). Empty when
      nothing changed.
  returned: always
  type: list
  elements: str
diff:
  description:
    - C(before) and C(after) - C(service) (name, type, description, enabled), C(endpoints) (interface to
      URL in the region), C(user) (name, domain, default project, enabled), C(roles) (the user's roles in
      the project). Only the parts the call manages; no password.
  returned: always
  type: dict
service:
  description: The catalog service - C(id) (null when check mode would create it), C(name), C(type).
  returned: when service is given
  type: dict
endpoints:
  description: Interface to C(id) and C(url) of its endpoint after the run (C(id) null when check mode would create it).
  returned: when service is given
  type: dict
user:
  description: The user - C(id) (null when check mode would create it), C(name).
  returned: when user is given
  type: dict
"""

from typing import Any  # noqa: E402

try:  # from the checkout: ansible.cfg's module_utils = plugins/module_utils (docs/collection.md)
    from ansible.module_utils.rentstack_keystone import (endpoint_errors, endpoint_plan, endpoints_view, missing_roles, service_action,
                                                         service_changes, step_action, user_action, user_changes)
    from ansible.module_utils.rentstack_openstack import RentstackModule
except ImportError:  # from the installed collection rentstack.cloud
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_keystone import (endpoint_errors, endpoint_plan, endpoints_view,
                                                                                             missing_roles, service_action, service_changes,
                                                                                             step_action, user_action, user_changes)
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_openstack import RentstackModule

try:
    from keystoneauth1 import exceptions as ks_exc
except ImportError:  # pragma: no cover - openstacksdk brings keystoneauth1; RentstackModule reports the missing SDK
    ks_exc = None


def endpoint_dict(ep: Any) -> dict[str, Any]:
    return {"id": ep.id, "interface": ep.interface, "region_id": ep.region_id, "url": ep.url,
            "enabled": ep.is_enabled is not False}


class KeystoneServiceModule(RentstackModule):
    argument_spec = {
        "service": {"type": "str"},
        "service_type": {"type": "str"},
        "description": {"type": "str"},
        "endpoints": {"type": "dict", "default": {}},
        "region": {"type": "str", "default": "RegionOne"},
        "user": {"type": "str"},
        "password": {"type": "str", "no_log": True},
        "domain": {"type": "str", "default": "default"},
        "project": {"type": "str"},
        "roles": {"type": "list", "elements": "str", "default": []},
        "keystone_url": {"type": "str", "default": "", "no_log": False},  # a URL, not a secret
    }
    module_kwargs = {
        "required_one_of": [("service", "user")],
        "required_by": {"service": ("service_type",), "user": ("password", "project")},
    }

    def run(self) -> dict[str, Any]:
        errors = endpoint_errors(self.params["endpoints"])
        if self.params["endpoints"] and not self.params["service"]:
            errors.append("endpoints needs service")
        if errors:
            self.fail("; ".join(errors))
        self.actions: list[str] = []
        self.before: dict[str, Any] = {}
        self.after: dict[str, Any] = {}
        result: dict[str, Any] = {}
        if self.params["service"]:
            service_id = self.ensure_service()
            result["service"] = {"id": service_id, "name": self.params["service"],
                                 "type": self.params["service_type"]}
            result["endpoints"] = self.ensure_endpoints(service_id)
        if self.params["user"]:
            project_id = self.project_id()
            user_id = self.ensure_user(project_id)
            result["user"] = {"id": user_id, "name": self.params["user"]}
            self.ensure_roles(user_id, project_id)
        return {"changed": bool(self.actions), "actions": self.actions,
                "diff": {"before": self.before, "after": self.after}, **result}

    def act(self, line: str) -> bool:
        """Record an action; True when it is to be carried out (not check mode)."""
        self.actions.append(line)
        return not self.check_mode

    # --- catalog --------------------------------------------------------------

    def ensure_service(self) -> str | None:
        """The catalog service's ID (None when check mode would create it)."""
        name, stype, description = self.params["service"], self.params["service_type"], self.params["description"]
        found = [s for s in self.conn.identity.services(type=stype) if s.name == name]
        if len(found) > 1:
            self.fail(f"Keystone has {len(found)} services named {name} of type {stype} "
                      f"({', '.join(s.id for s in found)}); delete the extra ones (openstack service delete ID)")
        want = {"name": name, "type": stype, "description": description or "", "enabled": True}
        if not found:
            self.before["service"] = None
            self.after["service"] = want
            if self.act(f"created service {name} ({stype})"):
                attrs = {"description": description} if description is not None else {}
                return self.conn.identity.create_service(name=name, type=stype, is_enabled=True, **attrs).id
            return None
        svc = found[0]
        current = {"name": name, "type": stype, "description": svc.description or "",
                   "enabled": svc.is_enabled is not False}
        changes = service_changes(current, description)
        self.before["service"] = current
        self.after["service"] = {**current, **{"enabled" if k == "is_enabled" else k: v for k, v in changes.items()}}
        if changes and self.act(service_action(name, changes)):
            self.conn.identity.update_service(svc, **changes)
        return svc.id

    def ensure_endpoints(self, service_id: str | None) -> dict[str, Any]:
        """Apply the endpoint plan; interface -> {id, url} after the run."""
        want: dict[str, str] = self.params["endpoints"]
        region = self.params["region"]
        current = [endpoint_dict(e) for e in self.conn.identity.endpoints(service_id=service_id)] if service_id else []
        self.before["endpoints"] = endpoints_view(current, list(want), region)
        self.after["endpoints"] = dict(want)
        ids: dict[str, str | None] = {}
        for step in endpoint_plan(current, want, region):
            interface = step["interface"]
            if step["op"] != "create":
                ids.setdefault(interface, step["id"])  # the kept endpoint comes first, its duplicates after
            if step["op"] == "keep" or not self.act(step_action(step)):
                continue
            if step["op"] == "create":
                ids[interface] = self.conn.identity.create_endpoint(service_id=service_id, interface=interface,
                                                                    url=step["url"], region_id=region,
                                                                    is_enabled=True).id
            elif step["op"] == "update":
                self.conn.identity.update_endpoint(step["id"], **step["changes"])
            else:
                self.conn.identity.delete_endpoint(step["id"], ignore_missing=True)
        return {i: {"id": ids.get(i), "url": want[i]} for i in want}

    # --- user -----------------------------------------------------------------

    def project_id(self) -> str | None:
        name, domain = self.params["project"], self.params["domain"]
        found = list(self.conn.identity.projects(name=name, domain_id=domain))
        if found:
            return found[0].id
        msg = f"project {name} not found in domain {domain}"
        if self.check_mode:  # a check run of site.yml on a new cloud: the keystone role's check did not create it
            self.ansible.warn(f"{msg}; check mode assumes an earlier task creates it")
            return None
        self.fail(f"{msg}; create it first (the keystone role creates the service and demo projects)")
        return None  # pragma: no cover - fail() does not return

    def ensure_user(self, project_id: str | None) -> str | None:
        """The user's ID (None when check mode would create it), with its password made the one passed in."""
        name, domain, project = self.params["user"], self.params["domain"], self.params["project"]
        found = list(self.conn.identity.users(name=name, domain_id=domain))
        if not found:
            self.before["user"] = None
            self.after["user"] = {"name": name, "domain": domain, "default_project": project, "enabled": True}
            if self.act(f"created user {name}"):
                return self.conn.identity.create_user(name=name, password=self.params["password"], domain_id=domain,
                                                      default_project_id=project_id, is_enabled=True).id
            return None
        user = found[0]
        current = {"default_project_id": user.default_project_id, "enabled": user.is_enabled is not False}
        changes = user_changes(current, project_id)
        shown = {"name": name, "domain": domain,
                 "default_project": project if user.default_project_id == project_id else user.default_project_id,
                 "enabled": current["enabled"]}
        self.before["user"] = shown
        self.after["user"] = {**shown, "default_project": project, "enabled": True}
        lines = user_action(changes, project)
        if changes and self.act("; ".join(lines)):
            self.conn.identity.update_user(user, **changes)
        # Keystone refuses a disabled user's login too: the user is enabled above first (in check mode a
        # disabled user's right password is reported as to be reset).
        if self.params["keystone_url"] and not self.password_accepted() and self.act("reset password"):
            self.conn.identity.update_user(user, password=self.params["password"])
        return user.id

    def password_accepted(self) -> bool:
        """Log in as the user with the password passed in: True when Keystone accepts it, False on 401."""
        url = self.params["keystone_url"].rstrip("/") + "/v3/auth/tokens"
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": self.params["user"], "domain": {"id": self.params["domain"]},
            "password": self.params["password"]}}}}}
        try:
            resp = self.conn.session.post(url, json=body, authenticated=False, raise_exc=False, log=False)
        except ks_exc.ClientException as exc:
            self.fail(f"cannot log in to Keystone at {url} to check {self.params['user']}'s password: "
                      f"{type(exc).__name__}: {exc}")
        if resp.status_code == 201:
            return True
        if resp.status_code == 401:
            return False
        self.fail(f"Keystone answered {resp.status_code} to {self.params['user']}'s login at {url} "
                  f"(expected 201 or 401): {resp.text[:500]}")
        return False  # pragma: no cover - fail() does not return

    def ensure_roles(self, user_id: str | None, project_id: str | None) -> None:
        want: list[str] = self.params["roles"]
        if not want:
            return
        role_ids = {r.name: r.id for r in self.conn.identity.roles()}
        unknown = [r for r in want if r not in role_ids]
        if unknown:
            msg = f"role(s) {', '.join(unknown)} not found in Keystone"
            if not self.check_mode:
                self.fail(f"{msg}; create them first (the keystone role creates keystone_roles)")
            self.ansible.warn(f"{msg}; check mode assumes an earlier task creates them")
        names = {v: k for k, v in role_ids.items()}
        have = {a.role["id"] for a in self.conn.identity.role_assignments(user_id=user_id, scope_project_id=project_id)
                if a.role} if user_id and project_id else set()
        missing = missing_roles(want, have, role_ids)
        self.before["roles"] = sorted(names.get(i, i) for i in have)
        self.after["roles"] = sorted(set(self.before["roles"]) | set(want))
        for role in missing:
            if self.act(f"added role {role} in project {self.params['project']}"):
                self.conn.identity.assign_project_role_to_user(project_id, user_id, role_ids[role])


def main() -> None:
    KeystoneServiceModule().main()


if __name__ == "__main__":
    main()
