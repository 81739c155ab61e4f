"""Build the inventory of the same cloud two ways, side by side: time and API requests.

- ``rentstack``: our plugin (``inventory/lab/cloud.rentstack.yml``): compute hosts with Placement
  capacity, instances with flavor/addresses/state, projects with quota limits and usage.
- ``openstack.cloud.openstack``: the collection's inventory plugin (servers only, one paginated
  listing, ``all_projects: true``, ``expand_hostvars: false``), the usual alternative.

Each source is loaded by Ansible's own InventoryManager in this process, ``--repeat`` times with the
cache flushed, the two sources in turn (ours, theirs, ours, ...: the machine's drift favours neither), counting
every keystoneauth request (authentication and discovery included); then our
plugin's cached refresh (inventory cache warm, no request expected) is timed the same way. Wall times
of ``ansible-inventory --list`` as a subprocess are recorded too (what an operator waits for).
Needs the deployed lab; run it with N instances present (bench/bulk_rounds.py leaves none, so this
script can create a set first: ``--create 100``).

    .venv/bin/python bench/inventory.py [--create 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO, VENV_BIN, connect, run, say, this_command, write_result

from apicount import RequestCounter
from runner import run_playbook

OURS = REPO / "inventory" / "lab" / "cloud.rentstack.yml"
THEIRS_TEXT = """\
plugin: openstack.cloud.openstack
only_clouds: [rentstack]
all_projects: true
expand_hostvars: false
fail_on_errors: true
"""
REQUEST = {"requester": "bench", "project": "vm100", "menu": "1cpu.1gbmem.0disk", "os": "rentstack-guest",
           "prefix": "bench-inv", "floating_ip": False}


def load(source: Path, cache: bool) -> tuple[float, int, int]:
    """Parse one inventory source in-process: (seconds, requests, hosts)."""
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415
    from ansible.plugins.loader import init_plugin_loader  # noqa: PLC0415
    from ansible.inventory.manager import InventoryManager  # noqa: PLC0415

    init_plugin_loader()
    started = time.monotonic()
    with RequestCounter() as counter:
        inventory = InventoryManager(loader=DataLoader(), sources=[str(source)], cache=cache)
    elapsed = time.monotonic() - started
    return elapsed, counter.count, len(inventory.get_hosts())


def settle(limit: float, load: float) -> float:
    """Wait up to `limit` seconds for the 1-minute load average to fall below `load` (guests that just became
    ACTIVE are still booting, and TCG boots saturate the lab machine); return the load average then."""
    deadline = time.monotonic() + limit
    while os.getloadavg()[0] >= load and time.monotonic() < deadline:
        time.sleep(10)
    say(f"load average {os.getloadavg()[0]:.1f} when measuring starts")
    return round(os.getloadavg()[0], 1)


def row(name: str, cache: bool, runs: list[tuple[float, int, int]], wall: list[float]) -> dict[str, Any]:
    out = {
        "method": name, "cached": cache,
        "seconds_median": round(statistics.median(r[0] for r in runs), 3),
        "seconds_all": [round(r[0], 3) for r in runs],
        "requests": sorted({r[1] for r in runs}),
        "hosts": runs[-1][2],
        "ansible_inventory_wall_seconds_median": round(statistics.median(wall), 2),
    }
    say(f"{name}{' (cached)' if cache else ''}: {out}")
    return out


def wall_time(source: Path, cache: bool) -> float:
    return run([str(VENV_BIN / "ansible-inventory"), "-i", str(source), "--list"] + ([] if cache else ["--flush-cache"]))[0]


def measure_pairs(ours: Path, theirs: Path, repeat: int) -> tuple[list[dict[str, Any]], list[float]]:
    """Both sources in turn, `repeat` times (ours, theirs, ours, theirs, ...), so the machine's drift (guests
    booting, load falling) does not favour whichever is measured last; returns both rows and the ratio of
    each pair (ours / theirs)."""
    mine: list[tuple[float, int, int]] = []
    other: list[tuple[float, int, int]] = []
    mine_wall: list[float] = []
    other_wall: list[float] = []
    for _ in range(repeat):
        mine.append(load(ours, cache=False))
        other.append(load(theirs, cache=False))
    for _ in range(repeat):
        mine_wall.append(wall_time(ours, cache=False))
        other_wall.append(wall_time(theirs, cache=False))
    pairs = [round(a[0] / b[0], 2) for a, b in zip(mine, other)]
    say(f"pairwise time ratios rentstack/openstack.cloud: {pairs}")
    return [row("rentstack", False, mine, mine_wall), row("openstack.cloud.openstack", False, other, other_wall)], pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--create", type=int, default=0, help="create this many VMs in vm100 first, delete after")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--settle", type=float, default=120,
                        help="wait up to this many seconds for the load average to fall below --settle-load")
    parser.add_argument("--settle-load", type=float, default=10.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rentstack-bench-inv-"))
    theirs = work / "servers.openstack.yml"
    theirs.write_text(THEIRS_TEXT)
    request = dict(REQUEST, count=args.create)
    if args.create:
        say(f"creating {args.create} VMs in vm100")
        made = run_playbook("playbooks/vms_create.yml", work / "create", extravars={"rental_request": request},
                            timeout=3600)
        if made.rc != 0:
            raise SystemExit(made.explain())
    try:
        instances = len(list(connect().compute.servers(all_projects=True)))
        say(f"{instances} instances in the cloud")
        load_before = settle(args.settle, args.settle_load)
        rows, pairs = measure_pairs(OURS, theirs, args.repeat)
        cached = [load(OURS, cache=True) for _ in range(args.repeat)]
        rows.append(row("rentstack", True, cached, [wall_time(OURS, cache=True) for _ in range(args.repeat)]))
    finally:
        if args.create:
            run_playbook("playbooks/vms_delete.yml", work / "delete", extravars={"rental_request": request},
                         timeout=3600)
    ours, theirs_row = rows[0], rows[1]
    write_result(
        "inventory",
        f"build the inventory of the lab cloud with {instances} instances: rentstack plugin (hosts, instances, "
        "projects) vs openstack.cloud.openstack (servers only); in-process InventoryManager, cache flushed, "
        f"{args.repeat} runs of each, taken in turn (ours, theirs, ours, ...)",
        this_command(), rows, instances=instances,
        load_average_before=load_before, load_average_after=round(os.getloadavg()[0], 1),
        ratios={"time_rentstack_vs_openstack_cloud": round(ours["seconds_median"] / theirs_row["seconds_median"], 2),
                "time_ratio_median_of_pairs": statistics.median(pairs),
                "cached_refresh_seconds": rows[2]["seconds_median"]})


if __name__ == "__main__":
    main()
