"""`make demo` as on a fresh machine: a clean clone, no venv, no lab image, an empty apt archive.

    .venv/bin/python bench/demo.py

Destroys the lab with its image and shared apt archive (lab.yml -e lab_state=absent -e lab_purge_cache=true),
clones this repository's HEAD into a new directory and runs `make demo` there, timing it end to end and each
phase from the lines `make demo` prints: deps (apt and the venv from PyPI), then every playbook of
DEMO_PLAYBOOKS (lab.yml builds the image with debootstrap; site.yml deploys with a cold apt archive and boots
a guest on each compute host) and the capacity report. What it cannot redo is the machine's own Debian
packages (podman, runc, ...): they stay installed, so `deps` here is the venv and a no-op apt check.
DESTRUCTIVE: it replaces the lab's cloud. The clone generates its own secrets (RENTSTACK_SECRETS_FILE points
into the scratch directory, as on a machine that never had them); they then replace the lab's secrets file
(~/.config/rentstack/rentstack/secrets.yml), since the lab's cloud now uses them. Writes
bench/results/demo_fresh.json.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO, say, this_command, write_result

from runner import lab_secrets_file, run_playbook

TIMEOUT = 3600
PHASE = re.compile(r"^demo: (?:ansible-playbook (\S+)|(capacity report))")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="rentstack-bench-demo-"))
    say("destroying the lab with its image and apt archive")
    result = run_playbook("playbooks/lab.yml", work / "destroy", extravars={"lab_state": "absent", "lab_purge_cache": True},
                          timeout=TIMEOUT)
    if result.rc != 0:
        raise SystemExit(result.explain())
    clone = work / "rentstack"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    commit = subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"], check=True, capture_output=True,
                            text=True).stdout.strip()
    say(f"make demo in a clean clone of {commit}: {clone}")
    started = time.monotonic()
    marks: list[tuple[str, float]] = [("deps", 0.0)]
    tail: list[str] = []
    # pip's download cache of this machine would make the venv faster than on a fresh one.
    secrets = work / "secrets.yml"
    environment = {**os.environ, "PIP_NO_CACHE_DIR": "1", "RENTSTACK_SECRETS_FILE": str(secrets)}
    with subprocess.Popen(["make", "demo"], cwd=clone, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1, env=environment) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-40:]
            match = PHASE.match(line)
            if match:
                marks.append((match.group(1) or match.group(2), time.monotonic() - started))
                say(f"  {marks[-1][0]} at {marks[-1][1]:.0f}s")
        rc = proc.wait(timeout=TIMEOUT)
    total = time.monotonic() - started
    if secrets.exists():
        lab_secrets_file().parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copy2(secrets, lab_secrets_file())
        say(f"copied the clone's secrets to {lab_secrets_file()} (the lab's cloud uses them now)")
    if rc != 0:
        raise SystemExit("make demo failed:\n" + "\n".join(tail))
    phases: dict[str, Any] = {}
    for (name, at), (_, end) in zip(marks, marks[1:] + [("end", total)]):
        phases[Path(name).name if name.endswith(".yml") else name] = round(end - at)
    row = {"commit_cloned": commit, "apt_cache": "cold", "lab_image": "rebuilt", "venv": "new",
           "demo_seconds": round(total), **{f"{k}_seconds": v for k, v in phases.items()}}
    write_result("demo_fresh", "make demo in a clean clone: venv, lab image and apt archive made from nothing "
                 "(the machine's own apt packages already installed)", this_command(), [row])


if __name__ == "__main__":
    main()
