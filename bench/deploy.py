"""Deploy time from a destroyed lab, with a cold or a warm apt cache, and the rerun time.

    .venv/bin/python bench/deploy.py --cache warm|cold [--no-rerun]

Destroys the lab (playbooks/lab.yml -e lab_state=absent), for `cold` also empties the lab's shared apt
archive (so every package is downloaded again, as on a fresh machine), then times lab.yml, site.yml
(which ends with verify.yml: a real guest on every compute host) and a second site.yml. DESTRUCTIVE:
it replaces the lab's cloud. Writes bench/results/deploy_<cache>.json.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import say, this_command, write_result

from runner import Result, lab_settings, run_playbook

TIMEOUT = 5400


def archive_dir() -> Path:
    """The shared apt archive of the lab hosts (role lab's lab_apt_cache_dir, as the lab inventory sets it)."""
    return Path(lab_settings()["lab_apt_cache_dir"])


def timed(playbook: str, work: Path, **kwargs: Any) -> tuple[float, Result]:
    say(f"running {playbook} {kwargs or ''}")
    started = time.monotonic()
    result = run_playbook(playbook, Path(tempfile.mkdtemp(dir=work)), timeout=TIMEOUT, **kwargs)
    elapsed = time.monotonic() - started
    say(f"  {playbook}: rc={result.rc} in {elapsed:.0f}s")
    if result.rc != 0:
        raise SystemExit(result.explain())
    return elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", choices=["cold", "warm"], required=True)
    parser.add_argument("--no-rerun", action="store_true", help="skip the second site.yml")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rentstack-bench-deploy-"))
    timed("playbooks/lab.yml", work, extravars={"lab_state": "absent"})
    archive = archive_dir()
    if args.cache == "cold" and archive.exists():
        say(f"emptying {archive}")
        shutil.rmtree(archive)
    packages = sum(1 for _ in archive.rglob("*.deb")) if archive.exists() else 0
    lab_s, _ = timed("playbooks/lab.yml", work)
    site_s, site = timed("playbooks/site.yml", work)
    row: dict[str, Any] = {"apt_cache": args.cache, "debs_cached_before": packages, "lab_seconds": round(lab_s),
                           "site_seconds": round(site_s), "site_changed": sum(site.per_host("changed").values())}
    if not args.no_rerun:
        rerun_s, rerun = timed("playbooks/site.yml", work)
        row.update({"rerun_seconds": round(rerun_s), "rerun_changed": rerun.per_host("changed")})
    write_result(f"deploy_{args.cache}", "fresh deploy from a destroyed lab: lab.yml, site.yml (incl. verify.yml "
                 "booting a guest per compute host), then a second site.yml", this_command(), [row])


if __name__ == "__main__":
    main()
