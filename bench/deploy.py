"""Deploy time from a destroyed lab, with a cold or a warm apt cache, and the rerun time.

    .venv/bin/python bench/deploy.py --cache warm|cold [--no-rerun] [--linear-rerun]

Destroys the lab (playbooks/lab.yml -e lab_state=absent), for `cold` also empties the lab's shared apt
archive (so every package is downloaded again, as on a fresh machine), then times lab.yml, site.yml
(which ends with verify.yml: a real guest on every compute host) and a second site.yml. DESTRUCTIVE:
it replaces the lab's cloud. Writes bench/results/deploy_<cache>.json, and the per-task time profile of
each site.yml run (plugins/callback/rentstack_profile.py) to bench/results/profiles/site_<cache>.json and
rerun_<cache>.json; bench/_render.py names their top 20 costs in docs/benchmarks.md. With --linear-rerun a
third site.yml runs with RENTSTACK_MITOGEN=0 (Ansible's plain linear strategy, as before mitogen), so
the row holds both reruns of the same cloud side by side (profile rerun_<cache>_linear.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import STARTED_AT_COMMIT, lab_size, say, this_command, write_result

from runner import Result, lab_settings, run_playbook

TIMEOUT = 5400


def archive_dir() -> Path:
    """The shared apt archive of the lab hosts (role lab's lab_apt_cache_dir, as the lab inventory sets it)."""
    return Path(lab_settings()["lab_apt_cache_dir"])


PROFILES = Path(__file__).resolve().parent / "results" / "profiles"


def timed(playbook: str, work: Path, profile: str = "", **kwargs: Any) -> tuple[float, Result]:
    """Run a playbook timed; with `profile`, its task profile goes to bench/results/profiles/<profile>.json."""
    say(f"running {playbook} {kwargs or ''}")
    if profile:
        # An older profile of the same name must not be labelled as this run's if the callback writes none.
        (PROFILES / f"{profile}.json").unlink(missing_ok=True)
        os.environ["RENTSTACK_PROFILE"] = str(PROFILES / f"{profile}.json")
    started = time.monotonic()
    try:
        result = run_playbook(playbook, Path(tempfile.mkdtemp(dir=work)), timeout=TIMEOUT, **kwargs)
    finally:
        os.environ.pop("RENTSTACK_PROFILE", None)
    elapsed = time.monotonic() - started
    if profile:
        label_profile(PROFILES / f"{profile}.json")
    say(f"  {playbook}: rc={result.rc} in {elapsed:.0f}s")
    if result.rc != 0:
        raise SystemExit(result.explain())
    return elapsed, result


def label_profile(path: Path) -> None:
    """Add the command, commit and lab size to a profile the callback wrote (it knows none of them)."""
    if path.exists():
        document = json.loads(path.read_text())
        document.update({"command": this_command(), "commit": STARTED_AT_COMMIT, "lab": lab_size()})
        path.write_text(json.dumps(document, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", choices=["cold", "warm"], required=True)
    parser.add_argument("--no-rerun", action="store_true", help="skip the second site.yml")
    parser.add_argument("--linear-rerun", action="store_true",
                        help="then a third site.yml with RENTSTACK_MITOGEN=0 (plain linear strategy), for the ratio")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rentstack-bench-deploy-"))
    timed("playbooks/lab.yml", work, extravars={"lab_state": "absent"})
    archive = archive_dir()
    if args.cache == "cold" and archive.exists():
        say(f"emptying {archive}")
        shutil.rmtree(archive)
    packages = sum(1 for _ in archive.rglob("*.deb")) if archive.exists() else 0
    lab_s, _ = timed("playbooks/lab.yml", work)
    site_s, site = timed("playbooks/site.yml", work, profile=f"site_{args.cache}")
    row: dict[str, Any] = {"apt_cache": args.cache, "debs_cached_before": packages, "lab_seconds": round(lab_s),
                           "site_seconds": round(site_s), "site_changed": sum(site.per_host("changed").values())}
    if not args.no_rerun:
        rerun_s, rerun = timed("playbooks/site.yml", work, profile=f"rerun_{args.cache}")
        row.update({"rerun_seconds": round(rerun_s), "rerun_changed": rerun.per_host("changed")})
    if args.linear_rerun:
        os.environ["RENTSTACK_MITOGEN"] = "0"
        try:
            linear_s, linear = timed("playbooks/site.yml", work, profile=f"rerun_{args.cache}_linear")
        finally:
            os.environ.pop("RENTSTACK_MITOGEN", None)
        row.update({"rerun_linear_seconds": round(linear_s), "rerun_linear_changed": linear.per_host("changed")})
        if not args.no_rerun:
            row["rerun_linear_over_mitogen"] = round(linear_s / rerun_s, 2)
    write_result(f"deploy_{args.cache}", "fresh deploy from a destroyed lab: lab.yml, site.yml (incl. verify.yml "
                 "booting a guest per compute host), then a second site.yml", this_command(), [row])


if __name__ == "__main__":
    main()
