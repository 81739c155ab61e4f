"""The report's bulk test (000, §5.1) with our playbooks: N VMs with floating IPs, three rounds.

Each round: one `vms_create.yml` run creates N VMs (flavor 1cpu.1gbmem.0disk, one floating IP each) in
project vm100, one `vms_delete.yml` run deletes them, then the project's servers, ports and floating IPs
are listed (leftovers are leaks). The first round also re-runs the create (must be changed=0), applies
stop / start / hard reboot to all N, and submits an over-quota request (130 VMs) that must fail before
creating anything. Needs the deployed lab with tenants.yml and flavors.yml applied.

    .venv/bin/python bench/bulk_rounds.py [--count 100] [--rounds 3] [--no-actions] [--inventory-bench]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO, connect, run, say, this_command, write_result

from apicount import count_requests
from guests import not_booted
from runner import Result, run_playbook

PROJECT = "vm100"
REQUEST = {"requester": "bench", "project": PROJECT, "menu": "1cpu.1gbmem.0disk", "os": "rentstack-guest",
           "prefix": "vm100", "floating_ip": True}
TIMEOUT = 3600


def listing(conn: Any, project_id: str) -> dict[str, int]:
    """What the project holds now: servers, compute ports, floating IPs (listed, not assumed)."""
    return {
        "servers": len(list(conn.compute.servers(project_id=project_id))),
        "ports": sum((p.device_owner or "").startswith("compute:") for p in conn.network.ports(project_id=project_id)),
        "floating_ips": len(list(conn.network.ips(project_id=project_id))),
    }


def wait_booted(conn: Any, server_ids: list[str], timeout: float = 900) -> dict[str, Any]:
    """Wait until each guest printed its marker on the console (tests/integration/guests.py); the counts."""
    start = time.monotonic()
    left = not_booted(conn, server_ids, timeout, interval=15)
    return {"booted": len(server_ids) - len(left), "boot_wait_seconds": round(time.monotonic() - start),
            "not_booted": left}


def playbook(name: str, work: Path, request: dict[str, Any], **extra: Any) -> Result:
    return run_playbook(f"playbooks/{name}", Path(tempfile.mkdtemp(dir=work)),
                        extravars={"rental_request": request, **extra}, timeout=TIMEOUT)


def bulk_actions(work: Path, request: dict[str, Any], conn: Any, actions: list[str]) -> dict[str, Any]:
    """Apply each action to the whole set with one vms_action.yml run; after start and hard reboot also count the
    guests that booted (the marker on the console)."""
    out: dict[str, Any] = {}
    for action in actions:
        result = playbook("vms_action.yml", work, request, vms_action=action)
        records = result.module_result("summary")
        summary = records.get("summary", {})
        out[action] = {"rc": result.rc, "acted": summary.get("acted"), "failed": summary.get("failed"),
                       "seconds": summary.get("elapsed_seconds"),
                       "retried": sum(r.get("attempts", 1) > 1 for r in records.get("servers", []))}
        say(f"  {action}: {out[action]}")
        if action in ("start", "reboot_hard"):
            ids = [r["id"] for r in records.get("servers", []) if r.get("id")]
            out[action].update(wait_booted(conn, ids, 600))
            say(f"  booted after {action}: {out[action]['booted']}/{len(ids)}")
    return out


def first_round_extras(work: Path, request: dict[str, Any], conn: Any, project_id: str,
                       actions: bool, inventory_bench: bool) -> dict[str, Any]:
    """Re-run, bulk actions (unless actions is false) and the over-quota request, on the round's N running VMs;
    with inventory_bench, first bench/inventory.py on them (a fresh interpreter: it writes inventory.json)."""
    extras: dict[str, Any] = {"inventory_requests_with_the_set": count_requests(connect())}
    if inventory_bench:
        seconds, out = run([sys.executable, str(REPO / "bench" / "inventory.py"), "--repeat", "5"], timeout=1800,
                           check=False)
        extras["inventory_bench"] = {"seconds": round(seconds), "last_line": (out.strip().splitlines() or [""])[-1]}
        say(f"  bench/inventory.py: {extras['inventory_bench']}")
    say(f"  inventory refresh with {request['count']} more VMs: {extras['inventory_requests_with_the_set']} requests")
    again = playbook("vms_create.yml", work, request)
    extras["rerun_changed"] = sum(again.per_host("changed").values())
    say(f"  rerun: rc={again.rc} changed={extras['rerun_changed']}")
    extras.update(bulk_actions(work, request, conn, ["stop", "start", "reboot_hard"] if actions else []))
    before = listing(conn, project_id)
    over = playbook("vms_create.yml", work, dict(request, prefix="vm100-over", count=130, floating_ip=False))
    extras["over_quota"] = {"rc": over.rc, "message": " ".join(over.failure_messages())[:600],
                            "servers_before": before["servers"], "servers_after": listing(conn, project_id)["servers"]}
    say(f"  over quota: rc={over.rc}, servers {before['servers']} -> {extras['over_quota']['servers_after']}")
    return extras


def one_round(number: int, count: int, work: Path, conn: Any, project_id: str, actions: bool,
              inventory_bench: bool) -> dict[str, Any]:
    request = dict(REQUEST, count=count)
    say(f"round {number}: creating {count} VMs with floating IPs")
    created = playbook("vms_create.yml", work, request)
    result = created.module_result("summary")
    servers = result.get("servers", [])
    row: dict[str, Any] = {
        "round": number, "count": count, "create_rc": created.rc,
        "active": result.get("summary", {}).get("active"),
        "with_floating_ip": sum(len(s.get("floating_ips", [])) == 1 for s in servers),
        "create_seconds": result.get("summary", {}).get("elapsed_seconds"),
        "retried": sum(s.get("attempts", 1) > 1 for s in servers),
    }
    say(f"  created: {row}")
    if created.rc != 0 and not servers:
        # Nothing was built (a refused request: quota, capacity, bad input): the rounds after it would only repeat
        # the refusal, and writing them would replace the last real result with empty rows.
        raise SystemExit(f"round {number}: vms_create.yml refused the request, nothing written: "
                         + "; ".join(created.failure_messages()))
    row.update(wait_booted(conn, [s["id"] for s in servers if s.get("id")]))
    say(f"  booted (marker on the console): {row['booted']}/{len(servers)} after {row['boot_wait_seconds']} s")
    if number == 1:
        row.update(first_round_extras(work, request, conn, project_id, actions, inventory_bench))
    deleted = playbook("vms_delete.yml", work, request)
    freed = deleted.module_result("freed")
    row.update({
        "delete_rc": deleted.rc,
        "freed_servers": len(freed.get("freed", {}).get("servers", [])),
        "freed_floating_ips": len(freed.get("freed", {}).get("floating_ips", [])),
        "freed_ports": len(freed.get("freed", {}).get("ports", [])),
        "delete_seconds": freed.get("summary", {}).get("elapsed_seconds"),
        "left_after_delete": listing(conn, project_id),
    })
    say(f"  deleted: freed {row['freed_servers']} servers, {row['freed_floating_ips']} floating IPs; "
        f"left {row['left_after_delete']}")
    return row


def actions_only(args: argparse.Namespace, conn: Any, project_id: str) -> None:
    present = listing(conn, project_id)
    if present["servers"] != args.count:
        raise SystemExit(f"project {PROJECT} has {present['servers']} servers, not {args.count}: create the set first")
    work = Path(tempfile.mkdtemp(prefix="rentstack-bench-actions-"))
    actions = args.actions_on_existing.split(",")
    say(f"{', '.join(actions)} on the {args.count} VMs of set {REQUEST['prefix']}")
    row = {"count": args.count, **bulk_actions(work, dict(REQUEST, count=args.count), conn, actions)}
    write_result("bulk_actions", f"bulk {', '.join(actions)} of {args.count} running VMs (one vms_action.yml run each)",
                 this_command(), [row])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-actions", action="store_true",
                        help="skip round 1's stop/start/hard reboot (each reboots all N TCG guests: ~15 min at 100)")
    parser.add_argument("--inventory-bench", action="store_true",
                        help="in round 1, with the N VMs running, also run bench/inventory.py (writes inventory.json)")
    parser.add_argument("--actions-on-existing", metavar="ACTIONS",
                        help="no rounds: apply these comma-separated actions (e.g. stop,start,reboot_hard) to the "
                             "--count VMs of the set that exist already, write bulk_actions.json")
    args = parser.parse_args()
    conn = connect(PROJECT)
    project_id = conn.current_project_id
    if args.actions_on_existing:
        actions_only(args, conn, project_id)
        return
    if listing(conn, project_id)["servers"]:
        raise SystemExit(f"project {PROJECT} is not empty: delete its servers first")
    work = Path(tempfile.mkdtemp(prefix="rentstack-bench-rounds-"))
    baseline = count_requests(connect())
    say(f"inventory refresh before the rounds: {baseline} requests")
    rows: list[dict[str, Any]] = []
    for number in range(1, args.rounds + 1):
        rows.append(one_round(number, args.count, work, conn, project_id, not args.no_actions, args.inventory_bench))
        # Written after every round: a run stopped part-way (a round of 100 takes ~40 min here) keeps its data.
        write_result(
            "bulk_rounds",
            f"{args.rounds} rounds of: create {args.count} VMs with floating IPs in one operation, delete them in one "
            "operation, list leftovers (round 1 also: rerun, "
            + ("" if args.no_actions else "stop/start/hard reboot, ") + "over-quota request)",
            this_command(), rows, inventory_requests_before=baseline, rounds_completed=number,
            rounds_requested=args.rounds)


if __name__ == "__main__":
    main()
