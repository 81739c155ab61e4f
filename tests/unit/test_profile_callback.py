"""The rentstack_profile callback: a real ansible-playbook run on localhost writes a time profile as JSON."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_callback():
    spec = importlib.util.spec_from_file_location("rentstack_profile", ROOT / "plugins/callback/rentstack_profile.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_summarize_sums_roles_and_orders_the_costliest_tasks() -> None:
    cb = _load_callback()
    tasks = [
        {"name": "a", "role": "nova", "play": "p1", "wall_s": 2.0},
        {"name": "b", "role": "nova", "play": "p1", "wall_s": 3.5},
        {"name": "c", "role": "", "play": "p2", "wall_s": 9.0},
        {"name": "d", "role": "glance", "play": "p2", "wall_s": 0.5},
    ]
    summary = cb.summarize(tasks, top=2)
    assert summary["roles"] == {"(playbook)": 9.0, "nova": 5.5, "glance": 0.5}
    assert list(summary["roles"]) == ["(playbook)", "nova", "glance"]
    assert summary["plays"] == {"p2": 9.5, "p1": 5.5}
    assert [t["name"] for t in summary["top_tasks"]] == ["c", "b"]


def test_a_playbook_run_writes_every_task_with_its_time(tmp_path: Path) -> None:
    playbook = tmp_path / "pb.yml"
    playbook.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - name: Sleep a little\n      ansible.builtin.command: sleep 1.2\n      changed_when: false\n"
        "    - name: Say hello\n      ansible.builtin.debug:\n        msg: hello\n"
    )
    out = tmp_path / "profile.json"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), RENTSTACK_PROFILE=str(out))
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
         str(playbook)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    profile = json.loads(out.read_text())
    names = [t["name"] for t in profile["tasks"]]
    assert names == ["Sleep a little", "Say hello"]
    sleep = profile["tasks"][0]
    assert sleep["wall_s"] >= 1.2
    assert sleep["hosts"]["localhost"] >= 1.2
    assert sleep["status"] == {"ok": 1}
    assert profile["top_tasks"][0]["name"] == "Sleep a little"
    assert profile["playbook"] == "pb.yml"
    assert profile["elapsed_s"] >= sleep["wall_s"]


def test_without_an_output_file_nothing_is_written(tmp_path: Path) -> None:
    playbook = tmp_path / "pb.yml"
    playbook.write_text("- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
                        "    - name: Say hello\n      ansible.builtin.debug:\n        msg: hello\n")
    env = {k: v for k, v in os.environ.items() if k != "RENTSTACK_PROFILE"}
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
         str(playbook)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(tmp_path.iterdir()) == [playbook]
