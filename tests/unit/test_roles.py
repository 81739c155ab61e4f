"""Structural checks every rentstack role must pass (house rules)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists())
# Single-purpose helper roles called by the service roles: one short task list,
# no install/config/service phases to split.
HELPER_ROLES = {"db_sync", "keystone_service", "packages", "secrets"}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_argument_specs_for_every_default(role: Path) -> None:
    defaults_file = role / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"].get("options", {})
    missing = sorted(set(defaults or {}) - set(options))
    assert not missing, f"{role.name}: variables in defaults without argument spec: {missing}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_variables_are_prefixed_with_its_name(role: Path) -> None:
    defaults_file = role / "defaults" / "main.yml"
    if not defaults_file.exists():
        pytest.skip(f"{role.name} has no defaults")
    defaults = yaml.safe_load(defaults_file.read_text()) or {}
    bad = [name for name in defaults if not name.startswith(role.name + "_")]
    assert not bad, f"{role.name}: variables not prefixed with '{role.name}_': {bad}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_main_only_imports_phase_files(role: Path) -> None:
    if role.name in HELPER_ROLES:
        pytest.skip(f"{role.name} is a single-purpose helper role without phases")
    tasks = yaml.safe_load((role / "tasks" / "main.yml").read_text())
    for task in tasks:
        if "block" in task:
            inner = task["block"]
        else:
            inner = [task]
        for t in inner:
            keys = set(t) - {"name", "tags", "when", "vars"}
            assert keys <= {"ansible.builtin.import_tasks", "ansible.builtin.include_tasks"}, (
                f"{role.name}: tasks/main.yml should only import phase files, found {sorted(keys)}"
            )


def _authtoken_sections() -> list[tuple[str, str, dict]]:
    """Every [keystone_authtoken] section a role's vars define: (role, variable, section)."""
    found = []
    for role in ROLES:
        vars_file = role / "vars" / "main.yml"
        if not vars_file.exists():
            continue
        for name, value in (yaml.safe_load(vars_file.read_text()) or {}).items():
            if isinstance(value, dict) and isinstance(value.get("keystone_authtoken"), dict):
                found.append((role.name, name, value["keystone_authtoken"]))
    return found


def test_every_authtoken_section_encrypts_its_memcached_tokens() -> None:
    """keystonemiddleware caches validated tokens in memcached: with ENCRYPT and a secret key, an address that can
    reach memcached reads nothing useful (issue 24). Five services validate tokens."""
    sections = _authtoken_sections()
    assert {role for role, _, _ in sections} >= {"glance", "neutron", "nova", "nova_compute", "placement"}
    bad = [f"{role}:{name}" for role, name, sec in sections
           if sec.get("memcached_servers") and (sec.get("memcache_security_strategy") != "ENCRYPT"
                                                or "rentstack_secrets.memcache_secret" not in str(sec.get("memcache_secret_key")))]
    assert not bad, f"keystone_authtoken sections caching tokens in clear: {bad}"
