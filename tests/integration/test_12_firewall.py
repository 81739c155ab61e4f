"""The host firewall (issue 24), proved by port scans against the deployed lab.

Two positions:
- **tenant side**: a network namespace on the lab's provider network (where floating IPs live, so where a
  tenant VM's traffic comes from), at an address outside the floating pool and the hosts' addresses, routed
  through the machine like a VM's traffic. Only the controller's public API ports and Horizon may be open,
  on every address of every host; nothing at all on a compute host.
- **management side**: this machine (10.89.10.1 on the management bridge). Only the port table's ports of each
  host may be open.

Each scan covers TCP 1-65535 (tests/integration/portscan.py; UDP cannot be scanned honestly). The expected
tables come from the firewall role's port table, and a documented port must also be open when its service
listens (`ss -ltn` on the host), so a firewall that dropped everything fails too.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner import REPO, Result, inventory_group_hosts, inventory_lab_hosts, lab_settings, run_playbook  # noqa: E402

PORTSCAN = Path(__file__).resolve().parent / "portscan.py"
TABLE = yaml.safe_load((REPO / "roles" / "firewall" / "defaults" / "main.yml").read_text())["firewall_service_ports"]
NS = "rentstack-tenant-scan"
VETH = "rs-scan0"


def documented(groups: set[str], zones: set[str]) -> set[int]:
    """TCP ports of the table open to `zones` on a host of `groups` (ranges expanded)."""
    ports: set[int] = set()
    for entry in TABLE:
        if entry["proto"] != "tcp" or entry["zone"] not in zones or entry["group"] not in groups | {"all"}:
            continue
        first, _, last = str(entry["port"]).partition("-")
        ports.update(range(int(first), int(last or first) + 1))
    return ports


def lab_hosts() -> dict[str, dict]:
    """Every deployed host (controller and compute groups) with its groups and addresses."""
    hosts: dict[str, dict] = {}
    for group in ("controller", "compute"):
        for name in inventory_group_hosts(group):
            hosts.setdefault(name, {"groups": set()})["groups"].add(group)
    settings = lab_settings()
    indexes = inventory_lab_hosts()
    for name, info in hosts.items():
        index = indexes[name]
        info["addresses"] = [str(ipaddress.ip_network(settings[key]).network_address + index)
                             for key in ("lab_mgmt_cidr", "lab_provider_cidr")]
    return hosts


def listening(host: str, address: str) -> set[int]:
    """TCP ports the host listens on at `address` (bound to it or to every address; never loopback)."""
    out = subprocess.run(["podman", "exec", f"{lab_settings()['lab_prefix']}-{host}", "ss", "-ltnH"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    ports = set()
    for line in out.splitlines():
        bound, _, port = line.split()[3].rpartition(":")
        if bound.split("%")[0] in ("0.0.0.0", "*", "[::]", address):
            ports.add(int(port))
    return ports


def scan(address: str, namespace: str | None = None, ports: set[int] | None = None) -> set[int]:
    """Open TCP ports of `address` seen from `namespace` (None: this machine). Without `ports`, a sweep of
    1-65535; with them, a careful pass over just those (20 at a time, 3 s each)."""
    argv = [sys.executable, str(PORTSCAN), address]
    argv += ["1-65535"] if ports is None else [",".join(map(str, sorted(ports))), "20", "3"]
    if namespace:
        argv = ["ip", "netns", "exec", namespace, *argv]
    if ports == set():
        return set()
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=900).stdout
    return {int(line) for line in out.split()}


def open_on(address: str, host: str, namespace: str | None, sweep: bool = True) -> tuple[set[int], set[int]]:
    """(open ports, the host's listening ports): the sweep's finds plus a careful pass over every port the host
    listens on. Only a listening port can be open, so the careful pass settles each of them either way: a
    loaded machine cannot hide a leak, nor a firewall that drops everything."""
    listens = listening(host, address)
    return (scan(address, namespace) if sweep else set()) | scan(address, namespace, listens), listens


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def tenant_side(site_first: Result) -> Iterator[str]:
    """A namespace on the provider bridge, addressed and routed like a tenant VM's traffic; removed after."""
    assert site_first.rc == 0, site_first.explain()
    settings = lab_settings()
    net = ipaddress.ip_network(settings["lab_provider_cidr"])
    bridge = json.loads(subprocess.run(["podman", "network", "inspect", f"{settings['lab_prefix']}-provider"],
                                       capture_output=True, text=True, check=True).stdout)[0]["network_interface"]
    address = f"{net.network_address + 99}/{net.prefixlen}"  # below the floating pool (.100-.250), above the hosts
    subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)
    subprocess.run(["ip", "link", "del", VETH], capture_output=True, check=False)
    try:
        sh("ip", "netns", "add", NS)
        sh("ip", "link", "add", VETH, "type", "veth", "peer", "name", "eth0", "netns", NS)
        sh("ip", "link", "set", VETH, "master", bridge, "up")
        sh("ip", "-n", NS, "addr", "add", address, "dev", "eth0")
        sh("ip", "-n", NS, "link", "set", "lo", "up")
        sh("ip", "-n", NS, "link", "set", "eth0", "up")
        sh("ip", "-n", NS, "route", "add", "default", "via", str(net.network_address + 1))
        yield NS
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", VETH], capture_output=True, check=False)


def test_tenant_side_reaches_only_the_public_ports(tenant_side: str) -> None:
    provider_prefix = str(ipaddress.ip_network(lab_settings()["lab_provider_cidr"]).network_address).rsplit(".", 1)[0]
    for name, info in lab_hosts().items():
        allowed = documented(info["groups"], {"public"})
        for address in info["addresses"]:
            # The management addresses do not answer the tenant side at all in the lab (below): the careful pass
            # over their listening ports settles them without a 65535-port sweep of timeouts (CI time).
            ports, listens = open_on(address, name, tenant_side, sweep=address.startswith(provider_prefix + "."))
            assert ports <= allowed, f"{name} {address}: open to the tenant side beyond the public ports: {sorted(ports - allowed)}"
            # The internal services by name: nothing a tenant could log in to or read from.
            for port in (22, 3306, 5672, 11211, 6641, 6642, 8775, 4369, 25672):
                assert port not in ports, f"{name} {address}: port {port} open to the tenant side"
            if "controller" not in info["groups"]:
                assert ports == set(), f"compute host {name} {address} has ports open to the tenant side: {sorted(ports)}"
            elif address.startswith(provider_prefix + "."):
                # On the network the tenants share with it, the controller serves the public APIs. (Its management
                # address is not reachable from there at all in the lab: the machine's bridges do not route the
                # replies, which come back the direct way; so nothing is open there either.)
                should = allowed & listens
                assert {5000, 8774, 9292, 9696, 80} <= should, f"{name} does not listen on the API ports: {sorted(listens)}"
                assert ports == should, f"{name} {address} from the tenant side: open {sorted(ports)}, public and listening {sorted(should)}"


def test_management_side_reaches_only_the_documented_ports(site_first: Result) -> None:
    assert site_first.rc == 0, site_first.explain()
    for name, info in lab_hosts().items():
        allowed = documented(info["groups"], {"public", "mgmt", "admin"})
        ports, listens = open_on(info["addresses"][0], name, None)
        assert ports <= allowed, f"{name}: open on the management network beyond the port table: {sorted(ports - allowed)}"
        assert ports == allowed & listens, f"{name}: open {sorted(ports)}, documented and listening {sorted(allowed & listens)}"
        assert 22 in ports


def test_memcached_refuses_the_tenant_side(tenant_side: str) -> None:
    """A plain `stats` to the controller's memcached from the tenant side gets no answer; from the management
    network it does (so the check can fail)."""
    ctl = next(info for info in lab_hosts().values() if "controller" in info["groups"])["addresses"][0]
    probe = ("import socket,sys\ntry:\n s=socket.create_connection((sys.argv[1],11211),timeout=3)\n"
             " s.sendall(b'stats\\r\\n'); print(s.recv(100).decode(errors='replace'))\n"
             "except OSError as e:\n print('refused', type(e).__name__)\n")
    tenant = subprocess.run(["ip", "netns", "exec", tenant_side, sys.executable, "-c", probe, ctl],
                            capture_output=True, text=True, timeout=60)
    mgmt = subprocess.run([sys.executable, "-c", probe, ctl], capture_output=True, text=True, timeout=60)
    assert mgmt.stdout.startswith("STAT "), mgmt.stdout + mgmt.stderr
    assert tenant.stdout.startswith("refused"), tenant.stdout + tenant.stderr


def test_rules_that_would_cut_off_ansible_are_refused_before_any_change(site_first: Result, tmp_path: Path) -> None:
    """A management network that does not hold the control machine (as on a site whose Ansible or AWX runs from
    another network): the role stops before writing rules that would refuse its next SSH connection."""
    assert site_first.rc == 0, site_first.explain()
    ctl = f"{lab_settings()['lab_prefix']}-ctl1"
    before = subprocess.run(["podman", "exec", ctl, "sha256sum", "/etc/nftables.conf"], capture_output=True, text=True,
                            check=True).stdout
    result = run_playbook("playbooks/site.yml", tmp_path / "cutoff", cmdline="--tags firewall",
                          extravars={"firewall_mgmt_cidr": "192.0.2.0/24"}, limit="controller")
    assert result.rc != 0, result.explain()
    text = " ".join(result.stdout.split())
    assert "the firewall would refuse the next connection" in text and "firewall_admin_cidrs" in text, result.explain()
    assert "Nothing was changed" in text
    assert result.per_host("changed").get("ctl1", 0) == 0, result.explain()
    after = subprocess.run(["podman", "exec", ctl, "sha256sum", "/etc/nftables.conf"], capture_output=True, text=True,
                           check=True).stdout
    assert after == before
