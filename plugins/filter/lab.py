"""Filters that turn the lab's inventory into podman container specs.

Pure functions (no I/O) so the planning is unit tested without podman.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any


def lab_address(cidr: str, index: int) -> str:
    """The index-th address of cidr (1 is the gateway)."""
    net = ipaddress.ip_network(cidr, strict=False)
    if not 1 < int(index) < net.num_addresses - 1:
        raise ValueError(f"index {index} is outside the usable addresses of {cidr}")
    return str(net[int(index)])


def lab_network_args(networks: list[dict[str, Any]], index: int) -> list[str]:
    """The `podman run` arguments that attach a host to each network at its index-th address.

    networks: [{name, cidr, interface}], in the order of the host's interfaces. Also used by molecule's
    create (molecule/shared/create.yml) for a scenario's own networks.
    """
    argv: list[str] = []
    for net in networks:
        argv += ["--network", f"{net['name']}:ip={lab_address(net['cidr'], index)},interface_name={net['interface']}"]
    return argv


def lab_container_specs(
    hosts: list[str],
    indexes: dict[str, int],
    networks: list[dict[str, Any]],
    settings: dict[str, Any],
) -> list[dict[str, Any]]:
    """One podman container spec per lab host.

    Each spec carries the full `podman run` argv and a fingerprint of it and the
    image, so a container whose inputs changed is recreated and others are kept.
    """
    specs = []
    for host in hosts:
        index = int(indexes[host])
        name = f"{settings['prefix']}-{host}"
        addresses = {net["name"]: lab_address(net["cidr"], index) for net in networks}
        argv = [
            "podman", "--runtime", settings["runtime"], "run", "--detach",
            "--name", name, "--hostname", host,
            "--privileged", "--systemd=always", "--no-hosts",
            "--ulimit", f"nofile={settings['nofile']}:{settings['nofile']}",
            "--ulimit", f"nproc={settings['nproc']}:{settings['nproc']}",
            "--device", "/dev/kvm",
            "--volume", f"{settings['apt_cache_dir']}:/var/cache/apt/archives",
            "--volume", f"{settings['state_dir']}/ssh/authorized_keys:/root/.ssh/authorized_keys:ro",
            "--label", f"rentstack.lab={settings['prefix']}",
        ]
        argv += lab_network_args(networks, index)
        fingerprint = hashlib.sha256(" ".join(argv + [settings["image"]]).encode()).hexdigest()[:16]
        argv += ["--label", f"rentstack.fingerprint={fingerprint}", settings["image"]]
        specs.append({
            "host": host,
            "name": name,
            "index": index,
            "addresses": addresses,
            "argv": argv,
            "fingerprint": fingerprint,
        })
    return specs


def lab_container_plan(specs: list[dict[str, Any]], existing: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Compare desired specs with `podman ps -a --format json` output.

    Returns the container names to create, to recreate (inputs changed), to
    start (stopped but current), and that are fine as they are.
    """
    found = {}
    for ctr in existing:
        for name in ctr.get("Names") or []:
            found[name] = ctr
    plan: dict[str, list[str]] = {"create": [], "recreate": [], "start": [], "ok": []}
    for spec in specs:
        ctr = found.get(spec["name"])
        if ctr is None:
            plan["create"].append(spec["name"])
        elif (ctr.get("Labels") or {}).get("rentstack.fingerprint") != spec["fingerprint"]:
            plan["recreate"].append(spec["name"])
        elif ctr.get("State") != "running":
            plan["start"].append(spec["name"])
        else:
            plan["ok"].append(spec["name"])
    return plan


class FilterModule:
    """rentstack lab filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "lab_address": lab_address,
            "lab_container_specs": lab_container_specs,
            "lab_network_args": lab_network_args,
            "lab_container_plan": lab_container_plan,
        }
