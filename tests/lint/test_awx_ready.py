"""What AWX/AAP need from the playbooks (issue 23), checked without a cloud:

- an inventory handed over as an executable script parses (ansible.cfg's enable_plugins has `script`);
- one variable names the cloud: `rentstack_cloud` (inventory, extra vars), else $OS_CLOUD (an AWX OpenStack
  credential), else `rentstack`, resolved once as `rentstack_cloud_name` (playbooks/group_vars/all/cloud.yml),
  and no task or role default names a cloud literally;
- every task delegated to the control node runs with `become: false` (an AWX job's hosts often have
  ansible_become set; the control node is a container without sudo).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
TASK_FILES = sorted([*ROOT.glob("playbooks/**/*.yml"), *ROOT.glob("roles/*/tasks/*.yml"),
                     *ROOT.glob("roles/*/handlers/*.yml")])
BLOCK_KEYS = ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers")


def tasks_of(path: Path) -> list[dict]:
    """Every task of a playbook or task file, blocks and plays walked."""
    found: list[dict] = []

    def walk(items: object) -> None:
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            for key in BLOCK_KEYS:
                walk(item.get(key))
            if "hosts" not in item and not any(key in item for key in BLOCK_KEYS):
                found.append(item)

    walk(yaml.safe_load(path.read_text()))
    return found


def test_the_scan_sees_the_tasks() -> None:
    """The walker finds the tasks the other tests judge (a walker that finds none would pass them all)."""
    delegated = [t for f in TASK_FILES for t in tasks_of(f) if t.get("delegate_to") == "localhost"]
    assert len(delegated) >= 40


def test_every_task_on_the_control_node_runs_without_become() -> None:
    missing = [f"{f.relative_to(ROOT)}: {t.get('name')}" for f in TASK_FILES for t in tasks_of(f)
               if t.get("delegate_to") == "localhost" and t.get("become") is not False]
    assert not missing, "delegate_to: localhost without become: false:\n" + "\n".join(missing)


def test_no_task_or_role_default_names_a_cloud_literally() -> None:
    literal = []
    for f in TASK_FILES:
        for task in tasks_of(f):
            for module, args in task.items():
                if isinstance(args, dict) and isinstance(args.get("cloud"), str) and "{{" not in args["cloud"]:
                    literal.append(f"{f.relative_to(ROOT)}: {task.get('name')} ({module}: cloud={args['cloud']})")
    for defaults in ROOT.glob("roles/*/defaults/main.yml"):
        for key, value in (yaml.safe_load(defaults.read_text()) or {}).items():
            if key.endswith(("_cloud", "_cloud_name")) and "rentstack_cloud_name" not in str(value):
                literal.append(f"{defaults.relative_to(ROOT)}: {key}={value}")
    for vars_file in ROOT.glob("playbooks/vars/*.yml"):
        for key, value in (yaml.safe_load(vars_file.read_text()) or {}).items():
            if key.endswith("_cloud") and "rentstack_cloud_name" not in str(value):
                literal.append(f"{vars_file.relative_to(ROOT)}: {key}={value}")
    assert not literal, "cloud names not taken from rentstack_cloud_name:\n" + "\n".join(literal)


def script_inventory(tmp_path: Path, group_vars: dict) -> Path:
    """An inventory as AWX hands it to a job: an executable that prints JSON for --list."""
    inventory = {
        "all": {"children": ["controller"], "vars": group_vars},
        "controller": {"hosts": ["awxhost"]},
        "_meta": {"hostvars": {"awxhost": {"ansible_connection": "local",
                                           "ansible_python_interpreter": sys.executable}}},
    }
    script = tmp_path / "awx_inventory.py"
    script.write_text(f"#!{sys.executable}\nimport json, sys\n"
                      f"print(json.dumps({inventory!r} if '--list' in sys.argv else {{}}))\n")
    script.chmod(0o755)
    return script


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("OS_CLOUD", "ANSIBLE_INVENTORY")}
    full_env.update(env or {})
    return subprocess.run(argv, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=180, check=False)


def test_a_script_inventory_parses(tmp_path: Path) -> None:
    script = script_inventory(tmp_path, {"rentstack_cloud": "fromscript"})
    listed = run([str(VENV_BIN / "ansible-inventory"), "-i", str(script), "--list"])
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["controller"]["hosts"] == ["awxhost"], data


@pytest.fixture
def cloud_name_playbook() -> Path:
    """A one-task playbook beside the others, so playbooks/group_vars applies to it as to them."""
    path = ROOT / "playbooks" / f".test-cloud-name-{os.getpid()}.yml"
    path.write_text("- name: Print the cloud name\n  hosts: controller\n  gather_facts: false\n  tasks:\n"
                    "    - name: Print it\n      ansible.builtin.debug:\n        msg: 'CLOUD=<{{ rentstack_cloud_name }}>'\n")
    yield path
    path.unlink()


@pytest.mark.parametrize(("group_vars", "env", "extra", "expected"), [
    ({}, {}, [], "rentstack"),
    ({}, {"OS_CLOUD": "awxcred"}, [], "awxcred"),
    ({"rentstack_cloud": "site2"}, {"OS_CLOUD": "awxcred"}, [], "site2"),
    ({"rentstack_cloud": "site2"}, {}, ["-e", "rentstack_cloud=survey"], "survey"),
])
def test_one_variable_names_the_cloud(tmp_path: Path, cloud_name_playbook: Path, group_vars: dict,
                                      env: dict, extra: list[str], expected: str) -> None:
    script = script_inventory(tmp_path, group_vars)
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(script), str(cloud_name_playbook), *extra],
                 env={"ANSIBLE_STRATEGY": "linear", **env})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"CLOUD=<{expected}>" in result.stdout, result.stdout
