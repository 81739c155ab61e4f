"""inventory/example/ is a complete starting point for real hosts (docs/real-hosts.md), no lab needed.

`ansible-inventory -i inventory/example/hosts.yml` (local files only, a few seconds), then checks taken from
the playbooks and the filters they use, not from a copy of them:

- it parses, with one controller, compute hosts, and each host's addresses (prechecks' HOST_VARS);
- every inventory variable the playbooks and roles use without a default is defined, on each host and on the
  control machine's implicit localhost, where vms_create.yml and the prechecks' inventory check run;
- the prechecks' inventory check (`inventory_errors`) finds nothing;
- the self-service CIDR bootstrap_cloud.yml reads overlaps none of the site's networks;
- the menu offers flavors of flavors.yml and images of images.yml on the networks bootstrap_cloud.yml creates,
  what verify.yml boots is there, and requests/example.yml passes the rental request check;
- tenancy, flavors and images pass their validators; the test guest entries are the lab's;
- no password or secret, and nothing of the lab (its `lab` group, `lab_*` variables).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventory" / "example"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "plugins" / "filter"))
from images import image_errors  # noqa: E402
from prechecks import HOST_VARS, SITE_ADDRESSES, SITE_CIDRS, inventory_errors  # noqa: E402
from rental import request_errors  # noqa: E402
from tenancy import flavor_errors, tenancy_errors  # noqa: E402

# Where a variable is used: Jinja in the playbooks, the roles' tasks, defaults, vars and templates.
_JINJA = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.S)
# A rentstack_* variable: not an attribute (hostvars[h].x), a quoted string, a call or a key; optional when
# followed by a default or an `is defined` test.
_VAR = re.compile(r"(?<![\w.'\"])(rentstack_[a-z0-9_]+)\b(?!\s*[(:=])(\s*\|\s*default\b|\s+is\s+(?:not\s+)?defined)?")
# Keys whose value is a bare Jinja expression.
_BARE = {"that", "when", "failed_when", "changed_when", "until", "loop"}


def _inventory(*args: str) -> dict[str, Any]:
    tool = BIN / "ansible-inventory"
    if not tool.exists():
        pytest.skip("ansible-inventory is not installed: run `make deps`")
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "NO_COLOR": "1"}
    proc = subprocess.run([str(tool), "-i", str(EXAMPLE / "hosts.yml"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, f"exit {proc.returncode}: {' '.join(proc.args)}\n{proc.stdout}\n{proc.stderr}"
    assert "[WARNING]" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def listing() -> dict[str, Any]:
    return _inventory("--list")


@pytest.fixture(scope="module")
def local_vars() -> dict[str, Any]:
    """What the plays on the control machine (hosts: localhost) see."""
    return _inventory("--host", "localhost")


def _members(listing: dict[str, Any], group: str) -> list[str]:
    entry = listing.get(group) or {}
    hosts = list(entry.get("hosts", []))
    for child in entry.get("children", []):
        hosts += [h for h in _members(listing, child) if h not in hosts]
    return hosts


def required_variables() -> dict[str, set[str]]:
    """{variable: files} for every rentstack_* variable used without a default and defined by no playbook or role
    (a play's or task's vars, set_fact, register, a defaults or vars file, playbooks/group_vars): the inventory
    must define it."""
    used: dict[str, set[str]] = {}
    defined: set[str] = set()

    def note(text: str, bare: bool, where: str) -> None:
        exprs = [a or b for a, b in _JINJA.findall(text)] + ([text] if bare and "{{" not in text else [])
        for expr in exprs:
            for m in _VAR.finditer(expr):
                if not m.group(2):
                    used.setdefault(m.group(1), set()).add(where)

    def walk(node: Any, key: Any, where: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("vars", "set_fact", "ansible.builtin.set_fact") and isinstance(v, dict):
                    defined.update(v)
                if k == "register" and isinstance(v, str):
                    defined.add(v)
                else:
                    walk(v, k, where)
        elif isinstance(node, list):
            for v in node:
                walk(v, key, where)
        elif isinstance(node, str):
            note(node, key in _BARE, where)

    for path in sorted(ROOT.glob("playbooks/**/*.yml")) + sorted(ROOT.glob("roles/*/*/*.yml")):
        data = yaml.safe_load(path.read_text())
        # A role's defaults and vars, a playbook's vars files, and group_vars/host_vars beside the playbooks.
        rel = path.relative_to(ROOT).parts
        if isinstance(data, dict) and (path.parent.name in ("defaults", "vars") or rel[1] in ("group_vars", "host_vars")):
            defined.update(data)
        walk(data, None, str(path.relative_to(ROOT)))
    for path in sorted(ROOT.glob("roles/*/templates/*.j2")) + sorted(ROOT.glob("playbooks/templates/*")):
        note(path.read_text(), False, str(path.relative_to(ROOT)))
    return {name: files for name, files in used.items() if name not in defined}


def test_the_scan_finds_what_vms_create_uses() -> None:
    """The scan is not vacuous: the menu variables of vms_create.yml and its request check are in it."""
    text = (ROOT / "playbooks/vms_create.yml").read_text() + (ROOT / "playbooks/tasks/validate_request.yml").read_text()
    menu = set(re.findall(r"\brentstack_menu_[a-z_]+", text))
    assert menu, "vms_create.yml no longer names rentstack_menu_* variables: update this test"
    assert menu <= set(required_variables())


def test_parses_with_a_controller_and_compute_hosts(listing: dict[str, Any]) -> None:
    assert len(_members(listing, "controller")) == 1
    assert _members(listing, "compute")
    hostvars = listing["_meta"]["hostvars"]
    for host in _members(listing, "all"):
        missing = [v for v in HOST_VARS if not hostvars.get(host, {}).get(v)]
        assert not missing, f"host {host} has no {', '.join(missing)} in inventory/example/hosts.yml"


def test_defines_every_variable_the_playbooks_need(listing: dict[str, Any], local_vars: dict[str, Any]) -> None:
    required = required_variables()
    site = (set(required) | set(SITE_CIDRS) | set(SITE_ADDRESSES)) - set(HOST_VARS)
    hostvars = listing["_meta"]["hostvars"]
    problems = [f"localhost (control machine): {name} (used in {', '.join(sorted(required.get(name, ['prechecks'])))})"
                for name in sorted(site) if name not in local_vars]
    for host in _members(listing, "controller") + _members(listing, "compute"):
        problems += [f"{host}: {name}" for name in sorted(site | set(HOST_VARS)) if name not in hostvars[host]]
    assert not problems, "inventory/example does not define:\n" + "\n".join(problems)


def test_passes_the_inventory_precheck(listing: dict[str, Any], local_vars: dict[str, Any]) -> None:
    hosts = _members(listing, "controller") + _members(listing, "compute")
    hostvars = listing["_meta"]["hostvars"]
    site = {name: local_vars.get(name) for name in SITE_CIDRS + SITE_ADDRESSES}
    addresses = {h: {v: hostvars[h].get(v) for v in HOST_VARS} for h in hosts}
    groups = {"controller": _members(listing, "controller"), "compute": _members(listing, "compute")}
    assert inventory_errors(site, addresses, groups) == []


def test_self_service_network_stands_apart(local_vars: dict[str, Any]) -> None:
    """bootstrap_cloud.yml's self-service subnet (rentstack_selfservice_cidr) overlaps none of the site's networks:
    router1 joins it to the provider network, and an overlap would make the router's two sides one range. The
    prechecks' own rule decides (inventory_errors)."""
    cidr = local_vars.get("rentstack_selfservice_cidr")
    assert cidr, "inventory/example should show rentstack_selfservice_cidr (bootstrap_cloud.yml reads it)"
    site = {name: local_vars.get(name) for name in SITE_CIDRS + SITE_ADDRESSES}
    errors = [e for e in inventory_errors({**site, "rentstack_selfservice_cidr": cidr}, {}, {})
              if "rentstack_selfservice_cidr" in e]
    assert not errors, errors


def _play_vars(playbook: str, name: str) -> Any:
    plays = yaml.safe_load((ROOT / "playbooks" / playbook).read_text())
    values = [p["vars"][name] for p in plays if name in (p.get("vars") or {})]
    assert values, f"playbooks/{playbook} has no play variable {name}: update this test"
    return values[0]


def test_menu_offers_what_the_cloud_has(local_vars: dict[str, Any]) -> None:
    flavors = [f["name"] for f in local_vars["rentstack_flavors"]]
    images = [i["name"] for i in local_vars["rentstack_images"] if i.get("state", "present") == "present"]
    assert set(local_vars["rentstack_menu_flavors"]) <= set(flavors), "a menu flavor is not in flavors.yml"
    assert set(local_vars["rentstack_menu_images"]) <= set(images), "a menu image is not in images.yml"
    assert local_vars["rentstack_menu_network"] == _play_vars("bootstrap_cloud.yml", "bootstrap_selfservice_network")
    assert local_vars["rentstack_menu_floating_network"] == _play_vars("bootstrap_cloud.yml", "bootstrap_provider_network")
    assert _play_vars("verify.yml", "verify_flavor") in flavors, "verify.yml boots a flavor flavors.yml lacks"
    assert _play_vars("verify.yml", "verify_image") in images


def test_the_example_request_fits_the_menu_and_tenancy(local_vars: dict[str, Any]) -> None:
    request = yaml.safe_load((ROOT / "requests" / "example.yml").read_text())["rental_request"]
    assert request_errors(request, local_vars["rentstack_menu_flavors"], local_vars["rentstack_menu_images"]) == []
    tenancy = local_vars["rentstack_tenancy"]
    assert request["project"] in [p["name"] for p in tenancy["projects"]]
    # The rental playbooks log in as admin scoped to the request's project.
    assert any(a["user"] == "admin" and a.get("project") == request["project"] for a in tenancy["role_assignments"])


def test_tenancy_flavors_and_images_are_valid(local_vars: dict[str, Any]) -> None:
    tenancy = local_vars["rentstack_tenancy"]
    assert tenancy_errors(tenancy) == []
    assert flavor_errors(local_vars["rentstack_flavors"], [p["name"] for p in tenancy["projects"]]) == []
    guest = yaml.safe_load((ROOT / "roles/guest_image/defaults/main.yml").read_text())
    assert image_errors(local_vars["rentstack_images"], guest["guest_image_dir"]) == []
    lab = yaml.safe_load((ROOT / "inventory/lab/group_vars/all/images.yml").read_text())["rentstack_images"]
    built = [i for i in local_vars["rentstack_images"] if i.get("build")]
    assert built == [i for i in lab if i.get("build")], "the test guest entries differ from inventory/lab's"


def _keys(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [str(k) for k in node] + [k for v in node.values() for k in _keys(v)]
    if isinstance(node, list):
        return [k for v in node for k in _keys(v)]
    return []


def test_holds_no_secrets_and_nothing_of_the_lab(listing: dict[str, Any], local_vars: dict[str, Any]) -> None:
    # secrets.yml is what site.yml generates beside an inventory (git-ignored, .gitignore): not part of it.
    files = [p for p in sorted(EXAMPLE.rglob("*.y*ml")) if not re.fullmatch(r"secrets.*\.ya?ml", p.name)]
    assert files
    for path in files:
        secret = [k for k in _keys(yaml.safe_load(path.read_text())) if re.search("password|secret", k, re.I)]
        assert not secret, f"{path.relative_to(ROOT)} sets {secret}: secrets belong in the generated secrets.yml"
    assert "lab" not in listing
    lab_vars = {k for hv in [local_vars, *listing["_meta"]["hostvars"].values()] for k in hv if k.startswith("lab_")}
    assert not lab_vars, f"lab-only variables in inventory/example: {sorted(lab_vars)}"
