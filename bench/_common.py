"""Shared helpers of the benchmarks: run a command timed, talk to the lab cloud, write a result.

Every benchmark writes `bench/results/<name>.json` with the command that
produced it, the date, the git commit, the lab's size and its rows; `make
bench` then renders docs/benchmarks.md from all of them (bench/_render.py).
Benchmarks compare methods side by side in one run on the same cloud, so
read the ratios, not the absolute times: the 2-core lab machine is noisy.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
VENV_BIN = Path(sys.executable).parent
CLOUD = os.environ.get("RENTSTACK_BENCH_CLOUD", "rentstack")
# The integration tests' helpers (runner, apicount) serve the benchmarks too.
sys.path.insert(0, str(REPO / "tests" / "integration"))


def env() -> dict[str, str]:
    """Environment for the commands a benchmark runs: the venv first on PATH, the repository's ansible.cfg."""
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
    }


def run(cmd: list[str], timeout: float = 3600, check: bool = True, quiet: bool = True) -> tuple[float, str]:
    """Run a command from the repository root; return (wall seconds, combined output)."""
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, timeout=timeout, check=False)
    elapsed = time.monotonic() - started
    output = proc.stdout + proc.stderr
    if not quiet:
        print(output)
    if check and proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-40:])
        raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode} after {elapsed:.0f}s:\n{tail}")
    return elapsed, output


def say(msg: str) -> None:
    """A progress line on stderr with a timestamp."""
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def git_commit() -> str:
    """The commit the benchmark ran from (with -dirty when the tree has changes); see STARTED_AT_COMMIT."""
    proc = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True,
                          check=False)
    return proc.stdout.strip() or "unknown"


STARTED_AT_COMMIT = git_commit()


def lab_size() -> dict[str, Any]:
    """Hosts per group of the lab inventory and the machine the lab ran on."""
    from runner import inventory_group_hosts  # tests/integration, on sys.path (see top)

    size: dict[str, Any] = {group: len(inventory_group_hosts(group)) for group in ("controller", "compute")}
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        mem_kb = int(meminfo.readline().split()[1])
    size["machine"] = f"{os.cpu_count()} cores, {round(mem_kb / 1048576)} GiB"
    size["virt_type"] = "qemu (TCG)"
    size["cpu_affinity"] = lab_cpu_affinity()
    return size


def lab_cpu_affinity() -> dict[str, str]:
    """CPUs each running lab host may use, read from its init process now (lab_cpus, docs/lab.md)."""
    from runner import lab_settings, podman_json  # tests/integration, on sys.path (see top)

    try:
        containers = podman_json("ps", "--filter", f"label=rentstack.lab={lab_settings()['lab_prefix']}")
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}  # a result is still written when podman cannot answer
    affinity = {}
    for container in containers:
        try:
            cpus = sorted(os.sched_getaffinity(int(container["Pid"])))
        except (KeyError, ValueError, OSError):
            continue
        affinity[container["Names"][0]] = ",".join(map(str, cpus))
    return dict(sorted(affinity.items()))


def write_result(name: str, benchmark: str, command: str, rows: list[dict[str, Any]], **extra: Any) -> Path:
    """Write bench/results/<name>.json and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": benchmark,
        "command": command,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": STARTED_AT_COMMIT,
        "lab": lab_size(),
        "rows": rows,
        **extra,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    say(f"wrote {path.relative_to(REPO)}")
    return path


def connect(project: str | None = None) -> Any:
    """An openstacksdk connection to the lab cloud, scoped to `project` when given."""
    import openstack  # noqa: PLC0415 - only the benchmarks that talk to the cloud need it

    conn = openstack.connect(cloud=CLOUD)
    if project:
        conn = conn.connect_as_project({"name": project, "domain_id": "default"})
    return conn


def this_command() -> str:
    """How this benchmark was started, for the result file."""
    return shlex.join([".venv/bin/python", *[str(Path(a).relative_to(REPO)) if a.startswith(str(REPO)) else a
                                             for a in sys.argv]])
