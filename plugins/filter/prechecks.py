"""Validate a rentstack inventory before anything is changed.

`inventory_errors` returns every problem at once, each naming the host, the
variable, the value seen and how to fix it. Pure logic: unit tested on data.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

_HOSTNAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
SITE_CIDRS = ("rentstack_mgmt_cidr", "rentstack_tunnel_cidr", "rentstack_provider_cidr")
SITE_ADDRESSES = ("rentstack_provider_gateway", "rentstack_provider_pool_start", "rentstack_provider_pool_end")
HOST_VARS = ("rentstack_mgmt_ip", "rentstack_tunnel_ip")


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """value as a network, None unless it is one written as address/prefix with no host bits set."""
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value, strict=True)
    except (ValueError, TypeError):
        return None


def _address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return None


def inventory_errors(site: dict[str, Any], hosts: dict[str, dict[str, Any]], groups: dict[str, list[str]]) -> list[str]:
    """Every problem of the inventory, as messages an operator can act on.

    site: the site-wide variables (SITE_CIDRS, SITE_ADDRESSES).
    hosts: {inventory_hostname: {var: value}} for the hosts to deploy.
    groups: the inventory groups (controller, compute).
    """
    errors: list[str] = []
    controllers = groups.get("controller") or []
    if len(controllers) != 1:
        errors.append(
            f"group 'controller' has {len(controllers)} hosts ({', '.join(controllers) or 'none'}); "
            "rentstack deploys exactly one controller: list one host under 'controller' in the inventory"
        )
    if not groups.get("compute"):
        errors.append("group 'compute' is missing or empty: list at least one KVM host under 'compute' in the inventory")

    nets: dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network] = {}
    for name in SITE_CIDRS:
        value = site.get(name)
        net = _network(value)
        if net is None:
            errors.append(f"{name} = {value!r} is not a network in CIDR notation (e.g. 10.0.0.0/24, host bits zero); fix it in group_vars/all")
        else:
            nets[name] = net
    for name in SITE_ADDRESSES:
        value = site.get(name)
        addr = _address(value)
        if addr is None:
            errors.append(f"{name} = {value!r} is not an IP address; fix it in group_vars/all")
        elif "rentstack_provider_cidr" in nets and addr not in nets["rentstack_provider_cidr"]:
            errors.append(
                f"{name} = {value} is outside rentstack_provider_cidr {nets['rentstack_provider_cidr']}; "
                "pick an address inside the provider network"
            )

    if "rentstack_selfservice_cidr" in site:
        errors.extend(_selfservice_errors(site["rentstack_selfservice_cidr"], nets))

    seen: dict[str, str] = {}
    for host, hv in sorted(hosts.items()):
        if not _HOSTNAME.match(host):
            errors.append(f"host {host}: the name is not a valid host name (RFC 1123: a-z, 0-9, '-', at most 63); rename it in the inventory")
        for var, cidr_var in (("rentstack_mgmt_ip", "rentstack_mgmt_cidr"), ("rentstack_tunnel_ip", "rentstack_tunnel_cidr")):
            value = hv.get(var)
            if value is None:
                errors.append(f"host {host}: {var} is not set; set it in host_vars/{host}.yml or the inventory")
                continue
            addr = _address(value)
            if addr is None:
                errors.append(f"host {host}: {var} = {value!r} is not an IP address; fix it in host_vars/{host}.yml")
            elif cidr_var in nets and addr not in nets[cidr_var]:
                errors.append(
                    f"host {host}: {var} = {value} is outside {cidr_var} {nets[cidr_var]}; "
                    f"give the host an address inside {nets[cidr_var]} or fix {cidr_var}"
                )
            if var == "rentstack_mgmt_ip" and addr is not None:
                other = seen.get(str(addr))
                if other:
                    errors.append(f"hosts {other} and {host} both have rentstack_mgmt_ip = {addr}; give each host its own address")
                seen[str(addr)] = host
    return errors


def _selfservice_errors(value: Any, nets: dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network]) -> list[str]:
    """The self-service subnet must be a network apart from the site's: guests on it reach the hosts' networks
    through the router, and an overlap makes those addresses unreachable from the guests (or the guests from the
    floating IPs)."""
    net = _network(value)
    if net is None:
        return [f"rentstack_selfservice_cidr = {value!r} is not a network in CIDR notation (e.g. 10.89.100.0/24, host "
                "bits zero); fix it in group_vars/all"]
    return [f"rentstack_selfservice_cidr = {net} overlaps {name} {other}; pick a self-service range apart from the "
            "site's networks" for name, other in nets.items() if other.version == net.version and net.overlaps(other)]


class FilterModule:
    """rentstack precheck filters."""

    def filters(self) -> dict[str, Any]:
        return {"inventory_errors": inventory_errors}
