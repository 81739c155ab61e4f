#!/usr/bin/python
"""Read-only questions the playbooks ask the cloud (instances by host, a host's readiness, leftovers)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rentstack_cloud_info
short_description: Answer the playbooks' read-only questions about the cloud
description:
  - C(query=servers_by_host) lists the ACTIVE servers of every project, grouped by compute
    host, with the libvirt instance name and the flavor embedded in the server record
    (name and extra specs as they were when the server was built). One listing call.
  - C(query=compute_host) tells whether I(host) is listed as a hypervisor and which resource
    classes its Placement resource provider has inventory for. With I(wait=true) it polls
    until both are there or I(timeout) passes.
  - C(query=leftovers) lists the ports still bound to I(server_id) and the floating IPs with
    one of I(floating_ips) as address (what a deleted server must not leave behind).
  - Never changes anything; runs in check mode.
options:
  timeout:
    description: Seconds I(wait) may poll.
    type: int
    default: 300
  query:
    description: Which question to answer.
    type: str
    choices: [servers_by_host, compute_host, leftovers]
    required: true
  host:
    description: Compute host name (query=compute_host).
    type: str
  wait:
    description: With query=compute_host, poll until the host is a hypervisor with inventory.
    type: bool
    default: false
  server_id:
    description: ID of the deleted server (query=leftovers).
    type: str
  floating_ips:
    description: Floating IP addresses the server had (query=leftovers).
    type: list
    elements: str
    default: []
author: rentstack (!UNKNOWN)
extends_documentation_fragment:
  - rentstack.cloud.cloud
"""

EXAMPLES = r"""
- name: Instances per host, with their flavors' extra specs
  rentstack_cloud_info:
    query: servers_by_host
  register: by_host

- name: Wait until cmp3 is a hypervisor with Placement inventory
  rentstack_cloud_info:
    query: compute_host
    host: cmp3
    wait: true

- name: What did the deleted guest leave behind?
  rentstack_cloud_info:
    query: leftovers
    server_id: "{{ server.id }}"
    floating_ips: ["{{ fip }}"]
"""

RETURN = r"""
servers_by_host:
  description: Host name to a list of {name, id, instance_name, flavor, extra_specs}.
  returned: query=servers_by_host
  type: dict
hypervisor:
  description: Hypervisor names matching I(host) (short name compared).
  returned: query=compute_host
  type: list
inventory:
  description: Resource classes of the host's resource provider inventory (e.g. VCPU, MEMORY_MB, DISK_GB).
  returned: query=compute_host
  type: list
ready:
  description: The host is one hypervisor and its provider has VCPU inventory.
  returned: query=compute_host
  type: bool
ports:
  description: IDs of ports still bound to the server.
  returned: query=leftovers
  type: list
floating_ips:
  description: IDs of the floating IPs still allocated at the given addresses.
  returned: query=leftovers
  type: list
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

try:  # from the checkout: ansible.cfg's module_utils = plugins/module_utils (docs/collection.md)
    from ansible.module_utils.rentstack_openstack import RentstackModule
except ImportError:  # from the installed collection rentstack.cloud
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_openstack import RentstackModule


class CloudInfoModule(RentstackModule):
    argument_spec = {
        "timeout": {"type": "int", "default": 300},
        "query": {"type": "str", "choices": ["servers_by_host", "compute_host", "leftovers"], "required": True},
        "host": {"type": "str"},
        "wait": {"type": "bool", "default": False},
        "server_id": {"type": "str"},
        "floating_ips": {"type": "list", "elements": "str", "default": []},
    }
    module_kwargs = {"required_if": [("query", "compute_host", ["host"]), ("query", "leftovers", ["server_id"])]}

    def servers_by_host(self) -> dict[str, Any]:
        found: dict[str, list[dict[str, Any]]] = {}
        for server in self.conn.compute.servers(details=True, all_projects=True):
            if server.status != "ACTIVE" or not server.compute_host:
                continue
            flavor = server.flavor or {}
            found.setdefault(server.compute_host, []).append({
                "name": server.name, "id": server.id, "instance_name": server.instance_name,
                "flavor": flavor.get("original_name"), "extra_specs": flavor.get("extra_specs") or {}})
        return {"servers_by_host": found}

    def compute_host(self) -> dict[str, Any]:
        host = self.params["host"]
        hypervisors = [h.name for h in self.conn.compute.hypervisors() if h.name.split(".")[0] == host]
        providers = list(self.conn.placement.resource_providers(name=host))
        inventory = sorted(i.resource_class for i in self.conn.placement.resource_provider_inventories(providers[0])) \
            if providers else []
        return {"hypervisor": hypervisors, "inventory": inventory,
                "ready": len(hypervisors) == 1 and "VCPU" in inventory}

    def leftovers(self) -> dict[str, Any]:
        ports = [p.id for p in self.conn.network.ports(device_id=self.params["server_id"])]
        fips = [f.id for address in self.params["floating_ips"]
                for f in self.conn.network.ips(floating_ip_address=address)]
        return {"ports": ports, "floating_ips": fips}

    def run(self) -> dict[str, Any]:
        query = self.params["query"]
        if query == "servers_by_host":
            return {"changed": False, **self.servers_by_host()}
        if query == "leftovers":
            return {"changed": False, **self.leftovers()}
        result = self.compute_host()
        deadline = time.monotonic() + self.params["timeout"]
        while self.params["wait"] and not result["ready"] and time.monotonic() < deadline:
            time.sleep(5)
            result = self.compute_host()
        if self.params["wait"] and not result["ready"]:
            self.fail(f"{self.params['host']} is not a hypervisor with Placement inventory after "
                      f"{self.params['timeout']}s (hypervisors: {result['hypervisor']}, inventory: "
                      f"{result['inventory']}); check nova-compute's log on the host", **result)
        return {"changed": False, **result}


def main() -> None:
    CloudInfoModule().main()


if __name__ == "__main__":
    main()
