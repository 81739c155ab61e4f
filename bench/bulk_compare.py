"""Create and delete N VMs four ways on the same cloud, side by side: success, wall time, leaks.

Methods (each creates N servers of one flavor in one project, then deletes them):

- ``rentstack_servers``: ``playbooks/vms_create.yml`` / ``vms_delete.yml`` with a rental request
  (our module: bounded concurrency, one listing per poll, retries).
- ``osc_serial_loop``: a shell loop of ``openstack server create`` (no ``--wait``, like the report's
  ``nova boot`` loop, its working method), then a loop of ``openstack server delete``.
- ``nova_multi_create``: one ``openstack server create --min N --max N`` (Nova multi-create), then one
  ``openstack server delete`` naming every server.
- ``openstack_cloud_server_loop``: a playbook looping ``openstack.cloud.server`` (``wait: true``, how it is
  usually written), then the same loop with ``state: absent``.

Create time runs from the start of the command until every server of the set is ACTIVE or ERROR
(followed by one server listing every 3 s for the methods that return before that); delete time until
none is left. After each delete the project's ports and floating IPs are listed: anything left is a leak.
Each phase also records where the machine's CPU went (``create_cpu``/``delete_cpu``): the share of the
machine's cores that were busy, the CPU the method's own commands used (the client side), and the processes
that used most (bench/cpu_sample.py). From these the ratios add each method's CPU floor: the cloud's CPU for
the create (busy time minus the client's) spread over all cores, the shortest time any client could reach for
that work on this machine, as a share of the serial loop's time. ``--concurrency 5,10,20`` runs our method
once per value of builds in flight; ``--multi-create on,off`` once with the engine's multi-create requests and once
with one create per server (vms_multi_create).
Needs the deployed lab with tenants.yml and flavors.yml applied (project vm100, its quotas and flavor).

    .venv/bin/python bench/bulk_compare.py [--count 100] [--methods a,b] [--concurrency 5,10,20] [--multi-create on,off]
        [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from _common import REPO, connect, run, say, this_command, write_result
from cpu_sample import CpuSampler

PROJECT = "vm100"
FLAVOR = "1cpu.1gbmem.0disk"
IMAGE = "rentstack-guest"
NETWORK = "selfservice"
POLL = 3.0
# Seconds between two readings of /proc while a phase runs (where the machine's CPU went, see cpu_sample.py).
CPU_INTERVAL = 10.0


class Bench:
    """One benchmark run: a cloud entry scoped to the project for the CLI methods, and the result rows."""

    def __init__(self, count: int, timeout: int, concurrency: list[int], multi_create: list[bool]) -> None:
        self.count = count
        self.timeout = timeout
        self.concurrency = concurrency
        self.multi_create = multi_create
        self.conn = connect(PROJECT)
        self.project_id = self.conn.current_project_id
        self.tmp = Path(tempfile.mkdtemp(prefix="rentstack-bench-"))
        os.chmod(self.tmp, 0o700)
        self.clouds_file = self._clouds_file()

    def _clouds_file(self) -> Path:
        """A private clouds.yaml: the lab's entries plus `bench-vm100`, the admin user scoped to the project."""
        from openstack.config.loader import OpenStackConfig

        # The clouds.yaml openstacksdk reads (the keystone role writes ~/.config/openstack/clouds.yaml).
        clouds = yaml.safe_load(Path(OpenStackConfig().config_filename).read_text())
        entry = json.loads(json.dumps(clouds["clouds"]["rentstack"]))
        entry["auth"]["project_name"] = PROJECT
        clouds["clouds"]["bench-vm100"] = entry
        path = self.tmp / "clouds.yaml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(clouds, out)
        return path

    def cli(self, script: str) -> list[str]:
        """A bash command run with the private clouds.yaml (the password never appears on a command line)."""
        return ["bash", "-c", f"export OS_CLIENT_CONFIG_FILE={shlex.quote(str(self.clouds_file))}\n{script}"]

    # -- observation -------------------------------------------------------------------------------

    def servers(self, prefix: str) -> list[Any]:
        return [s for s in self.conn.compute.servers(project_id=self.project_id) if s.name.startswith(prefix + "-")]

    def wait(self, prefix: str, done: Callable[[list[Any]], bool], started: float) -> float:
        """Poll one listing at a time until `done(servers)`; return seconds since `started`."""
        while True:
            servers = self.servers(prefix)
            if done(servers):
                return time.monotonic() - started
            if time.monotonic() - started > self.timeout:
                say(f"  timeout: {len(servers)} servers of {prefix} still listed")
                return time.monotonic() - started
            time.sleep(POLL)

    def settled(self, servers: list[Any]) -> bool:
        return len(servers) >= self.count and all(s.status in ("ACTIVE", "ERROR") for s in servers)

    def leaks(self) -> dict[str, int]:
        """Ports of deleted servers (compute-owned, device gone) and floating IPs left in the project."""
        alive = {s.id for s in self.conn.compute.servers(project_id=self.project_id)}
        ports = [p for p in self.conn.network.ports(project_id=self.project_id)
                 if (p.device_owner or "").startswith("compute:") and p.device_id not in alive]
        fips = list(self.conn.network.ips(project_id=self.project_id))
        return {"ports": len(ports), "floating_ips": len(fips)}

    def check_empty(self) -> None:
        left = list(self.conn.compute.servers(project_id=self.project_id))
        if left:
            raise SystemExit(f"project {PROJECT} has {len(left)} servers already (e.g. {left[0].name}); "
                             "delete them first: the benchmark needs its quota")

    # -- one method --------------------------------------------------------------------------------

    def measure(self, method: str, prefix: str, create: list[str], delete: Callable[[], list[str]]) -> dict[str, Any]:
        say(f"{method}: creating {self.count} servers {prefix}-*")
        started = time.monotonic()
        with CpuSampler(CPU_INTERVAL) as create_cpu:
            _, out = run(create, timeout=self.timeout, check=False)
            create_s = self.wait(prefix, self.settled, started)
        servers = self.servers(prefix)
        active = sum(s.status == "ACTIVE" for s in servers)
        errors = sorted({(s.fault or {}).get("message", "?") for s in servers if s.status == "ERROR"})
        say(f"{method}: {active}/{self.count} ACTIVE in {create_s:.0f}s; deleting")
        started = time.monotonic()
        with CpuSampler(CPU_INTERVAL) as delete_cpu:
            run(delete(), timeout=self.timeout, check=False)
            delete_s = self.wait(prefix, lambda s: not s, started)
        gone = self.count - len(self.servers(prefix))
        # Leftovers of a method are removed before the next one runs (and counted as its leaks first).
        leaks = self.leaks()
        self.cleanup(prefix)
        say(f"{method}: {gone}/{self.count} deleted in {delete_s:.0f}s; leaks {leaks}")
        return {
            "method": method, "count": self.count, "active": active, "create_seconds": round(create_s, 1),
            "deleted": gone, "delete_seconds": round(delete_s, 1), "leaked_ports": leaks["ports"],
            "leaked_floating_ips": leaks["floating_ips"], "errors": errors[:5],
            "create_output_tail": out.splitlines()[-3:],
            "create_cpu": create_cpu.result(), "delete_cpu": delete_cpu.result(),
        }

    def cleanup(self, prefix: str) -> None:
        for server in self.servers(prefix):
            self.conn.compute.delete_server(server, force=False)
        self.wait(prefix, lambda s: not s, time.monotonic())
        alive = {s.id for s in self.conn.compute.servers(project_id=self.project_id)}
        for port in self.conn.network.ports(project_id=self.project_id):
            if (port.device_owner or "").startswith("compute:") and port.device_id not in alive:
                self.conn.network.delete_port(port)
        for fip in self.conn.network.ips(project_id=self.project_id):
            self.conn.network.delete_ip(fip)

    # -- the four methods --------------------------------------------------------------------------

    def rentstack_servers(self) -> list[dict[str, Any]]:
        """One row per --concurrency value (builds in flight, the playbooks' vms_concurrency) and --multi-create
        value (vms_multi_create)."""
        request = self.tmp / "request.yml"
        request.write_text(yaml.safe_dump({"rental_request": {
            "requester": "bench", "project": PROJECT, "menu": FLAVOR, "os": IMAGE,
            "count": self.count, "prefix": "bench-rs", "floating_ip": False}}))
        rows = []
        for value in self.concurrency:
            for multi in self.multi_create:
                extra = ["-e", f"@{request}", "-e", f"vms_concurrency={value}",
                         "-e", f"vms_multi_create={str(multi).lower()}"]
                labels = ([f"concurrency {value}"] if len(self.concurrency) > 1 else []) + \
                    ([f"multi-create {'on' if multi else 'off'}"] if len(self.multi_create) > 1 else [])
                row = self.measure(
                    "rentstack_servers" + (f" ({', '.join(labels)})" if labels else ""),
                    "bench-rs", ["ansible-playbook", "playbooks/vms_create.yml", *extra],
                    lambda extra=extra: ["ansible-playbook", "playbooks/vms_delete.yml", *extra])
                rows.append({**row, "concurrency": value, "multi_create": multi})
        return rows

    def osc_serial_loop(self) -> list[dict[str, Any]]:
        names = " ".join(f"bench-osc-{i:03d}" for i in range(1, self.count + 1))
        create = (f"for n in {names}; do openstack --os-cloud bench-vm100 server create --flavor {FLAVOR} "
                  f"--image {IMAGE} --network {NETWORK} -f value -c id $n || true; done")
        delete = f"for n in {names}; do openstack --os-cloud bench-vm100 server delete $n || true; done"
        return [self.measure("osc_serial_loop", "bench-osc", self.cli(create), lambda: self.cli(delete))]

    def nova_multi_create(self) -> list[dict[str, Any]]:
        create = (f"openstack --os-cloud bench-vm100 server create --flavor {FLAVOR} --image {IMAGE} "
                  f"--network {NETWORK} --min {self.count} --max {self.count} -f value -c id bench-multi")

        def delete() -> list[str]:
            ids = " ".join(s.id for s in self.servers("bench-multi"))
            return self.cli(f"openstack --os-cloud bench-vm100 server delete {ids}")

        return [self.measure("nova_multi_create", "bench-multi", self.cli(create), delete)]

    def openstack_cloud_server_loop(self) -> list[dict[str, Any]]:
        playbook = str(REPO / "bench" / "playbooks" / "cloud_server_loop.yml")
        args = ["-e", f"bench_count={self.count}", "-e", "bench_prefix=bench-occ", "-e", f"bench_flavor={FLAVOR}",
                "-e", f"bench_image={IMAGE}", "-e", f"bench_network={NETWORK}"]
        env = f"export OS_CLIENT_CONFIG_FILE={shlex.quote(str(self.clouds_file))}; "
        return [self.measure(
            "openstack_cloud_server_loop", "bench-occ",
            ["bash", "-c", env + shlex.join(["ansible-playbook", playbook, *args])],
            lambda: ["bash", "-c", env + shlex.join(["ansible-playbook", playbook, *args, "-e", "bench_state=absent"])])]


METHODS = ["rentstack_servers", "osc_serial_loop", "nova_multi_create", "openstack_cloud_server_loop"]


def cloud_create_cpu(row: dict[str, Any], cores: int) -> float | None:
    """CPU seconds the cloud spent on a row's create: the machine's busy time in the phase minus the method's own
    client CPU (every lab host and guest is a process of this machine). None for rows measured without it."""
    cpu = row.get("create_cpu") or {}
    if cpu.get("busy_share") is None:
        return None
    return cpu["busy_share"] * row["create_seconds"] * cores - cpu["client_cpu_seconds"]


def summarize(rows: list[dict[str, Any]], cores: int) -> dict[str, Any]:
    """Ratios against the report's working method (the serial loop) and against Nova multi-create, each taken from
    the same round when that round ran it (else the first round that did), and the CPU floor: the cloud's CPU for
    the create spread over every core of the machine, the shortest create time any client could reach for that work
    here. A floor above a third of the loop's time means that target cannot be reached on this machine."""

    def reference(method: str, round_: int) -> dict[str, Any] | None:
        same = [r for r in rows if r["method"] == method and r.get("round", 1) == round_]
        return (same or [r for r in rows if r["method"] == method] or [None])[0]

    ratios = {}
    for r in rows:
        round_ = r.get("round", 1)
        key = r["method"] if round_ == 1 else f"{r['method']} (round {round_})"
        entry: dict[str, Any] = {}
        base = reference("osc_serial_loop", round_)
        if base:
            entry["create_time_vs_serial_loop"] = round(r["create_seconds"] / base["create_seconds"], 2)
            entry["delete_time_vs_serial_loop"] = round(r["delete_seconds"] / base["delete_seconds"], 2)
        multi = reference("nova_multi_create", round_)
        if multi:
            entry["create_time_vs_nova_multi_create"] = round(r["create_seconds"] / multi["create_seconds"], 2)
        cloud = cloud_create_cpu(r, cores)
        if cloud is not None and r["active"]:
            entry["cloud_cpu_seconds_per_vm"] = round(cloud / r["active"], 1)
            if base:
                entry["create_cpu_floor_vs_serial_loop"] = round(cloud / cores / base["create_seconds"], 2)
        ratios[key] = entry
    return ratios


def concurrency_list(text: str) -> list[int]:
    """argparse type: comma-separated positive integers."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers, e.g. 5,10,20") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every value must be at least 1")
    return values


def on_off_list(text: str) -> list[bool]:
    """argparse type: comma-separated on/off values."""
    values = [v.strip().lower() for v in text.split(",")]
    if not values or any(v not in ("on", "off") for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give on, off or on,off")
    return [v == "on" for v in values]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated, from: " + ", ".join(METHODS))
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per create or delete phase")
    parser.add_argument("--concurrency", type=concurrency_list, default=[20],
                        help="builds in flight for rentstack_servers (vms_concurrency), e.g. 5,10,20: "
                             "one row per value (default 20, the playbooks' default)")
    parser.add_argument("--multi-create", type=on_off_list, default=[True],
                        help="rentstack_servers with the engine's multi-create requests (on, the default), one create "
                             "per server (off), or both (on,off): one row per value")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the methods this many times, in turn (round 1: each method, round 2: ...)")
    args = parser.parse_args()
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    bench = Bench(args.count, args.timeout, args.concurrency, args.multi_create)
    bench.check_empty()
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    rows: list[dict[str, Any]] = []
    plan = [(round_, method) for round_ in range(1, args.rounds + 1) for method in methods]
    for done, (round_, method) in enumerate(plan, 1):
        say(f"round {round_} of {args.rounds}, method {method} ({done} of {len(plan)})")
        rows.extend({**row, "round": round_} for row in getattr(bench, method)())
        # Written after every method: at 100 one method takes 30-60 min here, a stopped run keeps what it measured.
        write_result(
            "bulk_compare",
            f"create then delete {args.count} servers (flavor {FLAVOR}, no floating IP) in project {PROJECT}, "
            f"{len(methods)} ways, {args.rounds} round(s)",
            this_command(), rows, ratios=summarize(rows, os.cpu_count() or 1), methods_completed=done,
            methods_requested=methods, rounds=args.rounds)


if __name__ == "__main__":
    main()
