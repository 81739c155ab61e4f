"""Run rentstack playbooks and ad-hoc modules through ansible-runner's Python API.

Every integration test goes through `run_playbook` / `run_module`, which run
from the repository root with its ansible.cfg and the lab inventory, and
return a `Result` with the status, rc, per-host stats, events and the full
stdout text (so a failing assertion can show what Ansible printed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventory" / "lab"
# Longest a single playbook may take: a cold lab build (debootstrap ~80 s,
# boot, SSH) stays far below this; a hung run fails instead of blocking CI.
TIMEOUT = 1800
# CI's job is killed at 90 minutes, and a killed job lands nothing. With
# RENTSTACK_TIME_LIMIT_MIN set (.ci/run), no playbook may run past that many
# minutes after this module was imported (pytest's collection): its timeout is
# cut to what is left, so a hung or slow run fails as a test, in time.
_IMPORTED = time.monotonic()


def _bounded(timeout: int) -> int:
    limit = os.environ.get("RENTSTACK_TIME_LIMIT_MIN")
    if not limit:
        return timeout
    left = float(limit) * 60 - (time.monotonic() - _IMPORTED)
    return max(30, min(timeout, int(left)))
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\]8;;[^\x1b]*\x1b\\")


@dataclass
class Result:
    """What one ansible-runner run produced."""

    status: str
    rc: int
    stats: dict[str, dict[str, int]]
    stdout: str
    events: list[dict[str, Any]] = field(repr=False)

    def per_host(self, key: str) -> dict[str, int]:
        """A stats counter (changed, failures, dark, ok, ...) for every processed host, 0 if absent."""
        counts = self.stats.get(key) or {}
        return {host: int(counts.get(host, 0)) for host in self.hosts}

    @property
    def hosts(self) -> list[str]:
        """Hosts the run touched (from the final stats, else from the events)."""
        processed = self.stats.get("processed") or {}
        if processed:
            return sorted(processed)
        return sorted({e["event_data"]["host"] for e in self.task_events()})

    def task_events(self, *names: str) -> list[dict[str, Any]]:
        """Events of task results on a host (runner_on_ok, runner_on_failed, ...), optionally only these names."""
        return [
            e for e in self.events
            if e.get("event", "").startswith("runner_on_") and "host" in e.get("event_data", {})
            and (not names or e["event"] in names)
        ]

    def host_results(self, event: str = "runner_on_ok") -> dict[str, dict[str, Any]]:
        """The module result (res) of each host for one event type (last one wins)."""
        return {e["event_data"]["host"]: e["event_data"].get("res", {}) for e in self.task_events(event)}

    def module_result(self, key: str) -> dict[str, Any]:
        """The result of the last task that returned `key` (e.g. a rentstack module's `summary`), else {}."""
        found = [e["event_data"].get("res", {}) for e in self.task_events("runner_on_ok", "runner_on_failed")]
        return next((res for res in reversed(found) if key in res), {})

    def artifacts(self) -> dict[str, Any]:
        """What the run returned with set_stats (AWX shows it as the job's artifacts), from the stats event."""
        stats = [e for e in self.events if e.get("event") == "playbook_on_stats"]
        return stats[-1]["event_data"].get("artifact_data", {}) if stats else {}

    def failure_messages(self) -> list[str]:
        """Every msg of a failed or unreachable task, including failed loop items."""
        messages: list[str] = []
        for event in self.task_events("runner_on_failed", "runner_on_unreachable"):
            res = event["event_data"].get("res", {})
            messages.append(str(res.get("msg", "")))
            messages.extend(str(item.get("msg", "")) for item in res.get("results", []) if item.get("failed"))
        return [m for m in messages if m]

    def task_paths(self) -> list[str]:
        """task_path of every task that ran on a host (file:line)."""
        return [e["event_data"].get("task_path", "") for e in self.task_events()]

    def explain(self, lines: int = 80) -> str:
        """The end of stdout, for assertion messages."""
        return f"status={self.status} rc={self.rc}\n--- last {lines} lines of output ---\n" + "\n".join(
            self.stdout.splitlines()[-lines:]
        )


def _envvars() -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        # ansible-runner starts ansible-playbook by name: use the venv's.
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        # ansible-runner sets ANSIBLE_CALLBACK_PLUGINS to its own directory, which hides ansible.cfg's
        # callback_plugins: without this our callbacks are skipped ("Skipping callback plugin
        # 'rentstack_profile', unable to load") and RENTSTACK_PROFILE writes nothing. Runner appends its
        # directory to a value set here.
        "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "plugins" / "callback"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        # ansible-runner does not pass the caller's environment on: the time profile of bench/deploy.py.
        **{key: os.environ[key] for key in ("RENTSTACK_PROFILE", "RENTSTACK_MITOGEN", "RENTSTACK_SECRETS_FILE",
                                            "XDG_CONFIG_HOME") if key in os.environ},
    }


def lab_secrets_file() -> Path:
    """The lab cloud's secrets file, where roles/secrets keeps it (its secrets_file default, cloud `rentstack`)."""
    if os.environ.get("RENTSTACK_SECRETS_FILE"):
        return Path(os.environ["RENTSTACK_SECRETS_FILE"])
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "rentstack" / "rentstack" / "secrets.yml"


def lab_secrets() -> dict[str, str]:
    """The lab's secrets by name (read by tests that log in as a user the deploy made)."""
    return yaml.safe_load(lab_secrets_file().read_text())["rentstack_secrets"]


def _runner_kwargs(private_data_dir: Path | None, timeout: int, **kwargs: Any) -> dict[str, Any]:
    if private_data_dir is None:
        private_data_dir = Path(tempfile.mkdtemp(prefix="rentstack-runner-"))
    private_data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "private_data_dir": str(private_data_dir),
        "project_dir": str(REPO),
        "inventory": str(INVENTORY),
        "envvars": _envvars(),
        "quiet": True,
        "timeout": _bounded(timeout),
        **kwargs,
    }


def _run(private_data_dir: Path | None, timeout: int = TIMEOUT, **kwargs: Any) -> Result:
    return _result(ansible_runner.run(**_runner_kwargs(private_data_dir, timeout, **kwargs)))


def _result(runner: Any) -> Result:
    """The Result of a finished ansible-runner Runner."""
    stdout = _ANSI.sub("", runner.stdout.read()) if runner.stdout else ""
    return Result(
        status=runner.status,
        rc=runner.rc,
        stats=runner.stats or {},
        stdout=stdout,
        events=list(runner.events),
    )


def result_from_artifacts(artifact_dir: Path) -> Result:
    """The Result of a finished run read from its artifacts directory (private_data_dir/artifacts/<ident>), as
    AWX reads a job: for runs made by the `ansible-runner` command, e.g. inside an execution environment."""
    events = [json.loads(path.read_text()) for path in (artifact_dir / "job_events").glob("*.json")]
    events.sort(key=lambda event: event.get("counter", 0))
    stats = next((e["event_data"] for e in reversed(events) if e.get("event") == "playbook_on_stats"), {})
    stdout = artifact_dir / "stdout"
    rc = artifact_dir / "rc"
    return Result(
        status=(artifact_dir / "status").read_text().strip() if (artifact_dir / "status").exists() else "unknown",
        rc=int(rc.read_text().strip()) if rc.exists() else -1,
        stats={key: value for key, value in stats.items() if isinstance(value, dict) and key != "artifact_data"},
        stdout=_ANSI.sub("", stdout.read_text(errors="replace")) if stdout.exists() else "",
        events=events,
    )


def run_playbook(
    playbook: str,
    private_data_dir: Path | None = None,
    extravars: dict[str, Any] | None = None,
    limit: str | None = None,
    timeout: int = TIMEOUT,
    cmdline: str | None = None,
    inventory: Path | None = None,
) -> Result:
    """Run playbooks/<playbook> (path relative to the repository root), on inventory/lab unless told another."""
    kwargs: dict[str, Any] = {"playbook": playbook, "timeout": timeout}
    if inventory is not None:
        kwargs["inventory"] = str(inventory)
    if cmdline:
        kwargs["cmdline"] = cmdline
    if extravars:
        kwargs["extravars"] = extravars
    if limit:
        kwargs["limit"] = limit
    return _run(private_data_dir, **kwargs)


class Background:
    """A playbook run going on while the test does something else (see start_playbook)."""

    def __init__(self, thread: threading.Thread, runner: Any, cancelled: threading.Event, timeout: int) -> None:
        self._thread, self._runner, self._cancelled, self.timeout = thread, runner, cancelled, timeout
        self.started = time.monotonic()

    def is_alive(self) -> bool:
        """The run has not ended yet."""
        return self._thread.is_alive()

    def cancel(self) -> None:
        """Ask ansible-runner to kill the ansible-playbook process (it checks about once a second)."""
        self._cancelled.set()

    def wait(self) -> Result:
        """The run's Result once it ended. ansible-runner kills ansible-playbook at the run's timeout (status
        'timeout'); if even that does not end it, it is cancelled (status 'canceled'), so this always returns."""
        self._thread.join(max(0.0, self.timeout + 60 - (time.monotonic() - self.started)))
        if self._thread.is_alive():
            self.cancel()
            self._thread.join(120)
        if self._thread.is_alive():
            raise AssertionError(f"ansible-runner did not end {self.timeout + 180}s after the playbook started, "
                                 "even when cancelled")
        return _result(self._runner)


def start_playbook(
    playbook: str,
    private_data_dir: Path | None = None,
    extravars: dict[str, Any] | None = None,
    timeout: int = TIMEOUT,
) -> Background:
    """Start playbooks/<playbook> and return at once, like run_playbook otherwise.

    ansible-runner starts ansible-playbook as its own process (from a thread of this one), so the run meets a
    fault the test makes while it goes like any other client of the cloud. Our own cancel callback also
    keeps ansible-runner from taking over pytest's SIGINT/SIGTERM handlers (it does that when started from
    the main thread without one): Ctrl-C still reaches the test, whose cleanup then cancels the run.
    """
    cancelled = threading.Event()
    kwargs: dict[str, Any] = {"playbook": playbook}
    if extravars:
        kwargs["extravars"] = extravars
    options = _runner_kwargs(private_data_dir, timeout, cancel_callback=cancelled.is_set, **kwargs)
    thread, runner = ansible_runner.run_async(**options)
    return Background(thread, runner, cancelled, options["timeout"])


def run_module(
    module: str,
    module_args: str = "",
    host_pattern: str = "lab",
    private_data_dir: Path | None = None,
) -> Result:
    """Run one module ad hoc, like `ansible HOST_PATTERN -m MODULE -a ARGS`."""
    return _run(private_data_dir, module=module, module_args=module_args, host_pattern=host_pattern)


def inventory_group_hosts(group: str, inventory: Path = INVENTORY) -> dict[str, dict[str, Any]]:
    """{host: its variables} of every host under `group` (at any depth) in <inventory>/hosts.yml."""
    data = yaml.safe_load((inventory / "hosts.yml").read_text())

    def hosts_of(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
        found = {name: hv or {} for name, hv in (node.get("hosts") or {}).items()}
        for child in (node.get("children") or {}).values():
            found.update(hosts_of(child or {}))
        return found

    def find(node: dict[str, Any]) -> dict[str, Any] | None:
        for name, child in (node.get("children") or {}).items():
            if name == group:
                return child or {}
            sub = find(child or {})
            if sub is not None:
                return sub
        return None

    return hosts_of(find(data["all"]) or {})


def inventory_lab_hosts() -> dict[str, int]:
    """{host: lab_index} of every host under group `lab` in inventory/lab/hosts.yml."""
    return {name: int(hv["lab_index"]) for name, hv in inventory_group_hosts("lab").items()}


def lab_settings() -> dict[str, Any]:
    """The lab role's defaults overlaid with inventory/lab/group_vars/all/lab.yml."""
    settings = yaml.safe_load((REPO / "roles" / "lab" / "defaults" / "main.yml").read_text())
    settings.update(yaml.safe_load((INVENTORY / "group_vars" / "all" / "lab.yml").read_text()) or {})
    return settings


def podman_json(*args: str) -> list[dict[str, Any]]:
    """Parsed JSON output of a read-only podman command."""
    out = subprocess.run(["podman", *args, "--format", "json"], check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout or "[]") or []


def lab_objects(prefix: str) -> dict[str, list[tuple[str, ...]]]:
    """The lab's containers (id, state, start time) and networks (id, subnets), found by their label."""
    label = f"label=rentstack.lab={prefix}"
    containers = podman_json("ps", "--all", "--filter", label)
    networks = podman_json("network", "ls", "--filter", label)
    return {
        "containers": sorted((c["Id"], c.get("State", ""), str(c.get("StartedAt", ""))) for c in containers),
        "networks": sorted(
            (n["id"], ",".join(sub["subnet"] for sub in n.get("subnets") or [])) for n in networks
        ),
    }
