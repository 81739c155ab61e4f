# rentstack: time profile of a playbook run, written as JSON.
"""Callback plugin: where a playbook run spends its time, per task and per role, as data."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rentstack_profile
type: aggregate
short_description: Write a per-task and per-role time profile of the run as JSON
description:
  - Records the wall time of every task (from its start to the start of the next task, as
    C(ansible.posix.profile_tasks) does, so waits for the slowest host count), each host's own time
    for it, and sums them per role and per play.
  - Writes nothing unless an output file is set, so it can stay enabled in C(ansible.cfg).
  - Used by C(bench/deploy.py) to commit deploy profiles as benchmark data.
options:
  output:
    description:
      - Path of the JSON file to write at the end of the run. Empty means no file.
      - A string, not a path, so that an empty value stays empty (a path option expands it to the current directory).
    type: str
    default: ""
    env:
      - name: RENTSTACK_PROFILE
    ini:
      - section: rentstack_profile
        key: output
"""

import json  # noqa: E402 - below the documentation, as ansible-test wants
import os  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from ansible.plugins.callback import CallbackBase  # noqa: E402


class CallbackModule(CallbackBase):
    """Collects task timings; writes them at the end of the run when `output` is set."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "rentstack_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._started = time.time()
        self._play = ""
        self._tasks: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None
        self._host_start: dict[tuple[str, str], float] = {}
        self._playbook = ""

    # -- helpers ---------------------------------------------------------------------------
    def _close_open_task(self, now: float) -> None:
        if self._open is not None:
            self._open["wall_s"] = round(now - self._open.pop("_t0"), 3)
            self._open = None

    def _host_done(self, result: Any, status: str) -> None:
        host = result._host.get_name()
        uuid = result._task._uuid
        entry = next((t for t in reversed(self._tasks) if t["_uuid"] == uuid), None)
        if entry is None:
            return
        t0 = self._host_start.pop((uuid, host), None)
        if t0 is not None:
            entry["hosts"][host] = round(entry["hosts"].get(host, 0.0) + time.time() - t0, 3)
        entry["status"][status] = entry["status"].get(status, 0) + 1

    # -- events ----------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._playbook = os.path.basename(getattr(playbook, "_file_name", "") or "")

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._close_open_task(time.time())
        self._play = play.get_name().strip()

    def _task_start(self, task: Any, kind: str) -> None:
        now = time.time()
        self._close_open_task(now)
        role = task._role.get_name() if getattr(task, "_role", None) else ""
        self._open = {
            "_uuid": task._uuid,
            "_t0": now,
            "name": task.get_name().strip(),
            "role": role,
            "play": self._play,
            "path": task.get_path() or "",
            "kind": kind,
            "hosts": {},
            "status": {},
        }
        self._tasks.append(self._open)

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._task_start(task, "task")

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._task_start(task, "handler")

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        self._host_start[(task._uuid, host.get_name())] = time.time()

    def v2_runner_on_ok(self, result: Any) -> None:
        self._host_done(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._host_done(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._host_done(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._host_done(result, "unreachable")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        now = time.time()
        self._close_open_task(now)
        output = (self.get_option("output") or "").strip()
        if not output:
            return
        tasks = [{k: v for k, v in t.items() if not k.startswith("_")} for t in self._tasks]
        write_profile(output, self._playbook, self._started, now, tasks)


def summarize(tasks: list[dict[str, Any]], top: int = 20) -> dict[str, Any]:
    """Totals per role and per play, and the `top` costliest tasks (pure: unit-tested)."""
    roles: dict[str, float] = {}
    plays: dict[str, float] = {}
    for task in tasks:
        wall = float(task.get("wall_s", 0.0))
        roles[task.get("role") or "(playbook)"] = roles.get(task.get("role") or "(playbook)", 0.0) + wall
        plays[task.get("play", "")] = plays.get(task.get("play", ""), 0.0) + wall
    costly = sorted(tasks, key=lambda t: float(t.get("wall_s", 0.0)), reverse=True)[:top]
    return {
        "roles": {k: round(v, 1) for k, v in sorted(roles.items(), key=lambda kv: -kv[1])},
        "plays": {k: round(v, 1) for k, v in sorted(plays.items(), key=lambda kv: -kv[1])},
        "top_tasks": [
            {"name": t["name"], "role": t.get("role", ""), "path": t.get("path", ""), "wall_s": t.get("wall_s", 0.0)}
            for t in costly
        ],
    }


def write_profile(output: str, playbook: str, started: float, ended: float, tasks: list[dict[str, Any]]) -> None:
    """Write the profile document to `output` (its directory is created)."""
    document = {
        "playbook": playbook,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "elapsed_s": round(ended - started, 1),
        "task_count": len(tasks),
        **summarize(tasks),
        "tasks": tasks,
    }
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    with open(output, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1)
        handle.write("\n")
