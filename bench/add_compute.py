"""Time from a bare host to a canary VM ACTIVE on it (report 000, §5.3), with add_compute.yml.

    .venv/bin/python bench/add_compute.py [--host cmp3] [--cache warm|cold] [--no-remove]

Takes the lab's spare host out of the cloud if it is in (remove_compute.yml), recreates its container
bare (a fresh Debian with SSH, as lab.yml builds it; `cold` also empties its apt archive), then runs
add_compute.yml and reads from its events when the canary reached ACTIVE and when the run ended; then
times remove_compute.yml taking the host out again (unless --no-remove). Needs the deployed lab.
Writes bench/results/add_compute.json and the add run's task profile to
bench/results/profiles/add_compute.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import REPO, connect, say, this_command, write_result
from deploy import PROFILES, archive_dir, label_profile

from runner import Result, run_playbook

CANARY_TASK = "Boot the verification guest on this host"


def event_time(event: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(event["created"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="cmp3")
    parser.add_argument("--cache", choices=["warm", "cold"], default="warm")
    parser.add_argument("--no-remove", action="store_true", help="leave the host in the cloud")
    args = parser.parse_args()
    overlay = REPO / "inventory" / "lab-overlays" / f"{args.host}-compute.yml"
    grow = f"-i {overlay} --limit {args.host}"
    work = Path(tempfile.mkdtemp(prefix="rentstack-bench-add-"))

    if args.host in [s.host for s in connect().compute.services(binary="nova-compute")]:
        say(f"{args.host} is in the cloud: removing it first")
        removed = run_playbook("playbooks/remove_compute.yml", work / "remove", cmdline=grow,
                               extravars={"migrate": True})
        if removed.rc != 0:
            raise SystemExit(removed.explain())
    say(f"recreating {args.host} bare")
    subprocess.run(["podman", "rm", "-f", f"rentstack-{args.host}"], check=True, capture_output=True)
    if args.cache == "cold":
        shutil.rmtree(archive_dir() / args.host, ignore_errors=True)
    lab = run_playbook("playbooks/lab.yml", work / "lab")
    if lab.rc != 0:
        raise SystemExit(lab.explain())

    say(f"adding {args.host}")
    profile = PROFILES / "add_compute.json"
    os.environ["RENTSTACK_PROFILE"] = str(profile)
    try:
        result: Result = run_playbook("playbooks/add_compute.yml", work / "add", cmdline=grow, timeout=3600)
    finally:
        os.environ.pop("RENTSTACK_PROFILE", None)
    if result.rc != 0:
        raise SystemExit(result.explain(120))
    label_profile(profile)
    events = [e for e in result.events if "created" in e]
    start = event_time(events[0])
    canary = next(e for e in result.events if e.get("event") == "runner_on_ok"
                  and e["event_data"].get("task") == CANARY_TASK)
    row = {
        "host": args.host, "apt_cache": args.cache,
        "bare_to_canary_active_seconds": round((event_time(canary) - start).total_seconds()),
        "whole_run_seconds": round((event_time(events[-1]) - start).total_seconds()),
        "changed": result.per_host("changed"),
    }
    if not args.no_remove:
        say(f"removing {args.host}")
        started = time.monotonic()
        removed = run_playbook("playbooks/remove_compute.yml", work / "remove-after", cmdline=grow,
                               extravars={"migrate": True})
        if removed.rc != 0:
            raise SystemExit(removed.explain())
        row["remove_seconds"] = round(time.monotonic() - started)
    say(f"{row}")
    write_result("add_compute", f"add_compute.yml on a bare lab host ({args.host}): prechecks, deploy, discovery, "
                 "canary ACTIVE on it with console marker and VNC, other hosts undisturbed; then remove_compute.yml "
                 "taking it out again", this_command(), [row])


if __name__ == "__main__":
    main()
