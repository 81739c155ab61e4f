"""rentstack inventory plugin: compute hosts, instances and projects with
their resource state (the report's Table 5-9)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: rentstack
short_description: Compute hosts, instances and project quotas of a rentstack cloud
description:
  - Builds an inventory of every compute host (with Placement capacity for
    VCPU, MEMORY_MB and DISK_GB and the service state), every instance (with
    project, flavor, host, addresses, state and age) and every project (quota
    limits and usage as group variables of C(project_<name>)).
  - Makes list calls only; the number of API requests does not grow with the
    number of instances. Results can be cached with the inventory cache.
  - Keeps working while projects and servers come and go. A call that fails
    (a project deleted between the listing and its quota request answers
    400 or 404, a service that is down) is skipped with a warning naming the
    call; the hosts and the rest are still listed. A server listing that
    answers 500 is made again at compute microversion 2.95.
  - Servers in ERROR are in the group C(status_error), with Nova's fault
    message in the host variable C(fault).
  - Configuration files must end in C(.rentstack.yml) or C(.rentstack.yaml).
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Must be C(rentstack).
    required: true
    choices: [rentstack]
  cloud:
    description:
      - clouds.yaml entry (admin) to read from. Without it in the inventory file, the environment variable
        E(OS_CLOUD) (an AWX OpenStack credential sets it); without that, C(rentstack).
    type: str
    default: rentstack
    env:
      - name: OS_CLOUD
  ephemeral_disk_limits:
    description:
      - Per-project limit of ephemeral disk (root + ephemeral + swap) in GB.
        Nova has no quota for it; this is the operators' own limit.
    type: dict
    default: {}
  default_ephemeral_disk_limit:
    description: Ephemeral disk limit (GB) of projects not in I(ephemeral_disk_limits); -1 is unlimited.
    type: int
    default: -1
  include_volume_quotas:
    description: Read volume quotas when the cloud has a block-storage endpoint.
    type: bool
    default: true
  api_workers:
    description:
      - API requests issued at the same time while building the inventory (the
        servers listing, the per-provider and the per-project requests). The
        requests made are the same whatever this is; 1 makes them one by one.
    type: int
    default: 8
"""

EXAMPLES = r"""
# inventory/lab/cloud.rentstack.yml
plugin: rentstack
cloud: rentstack
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: .cache/inventory
cache_timeout: 300
default_ephemeral_disk_limit: 200
keyed_groups:
  - key: flavor.name
    prefix: flavor
"""

import os  # noqa: E402
import sys  # noqa: E402

from ansible.errors import AnsibleError, AnsibleParserError  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable  # noqa: E402

# The accounting code lives with the modules' shared code; controller-side
# plugins cannot import project module_utils as ansible.module_utils.*, so
# load it from its directory.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "module_utils"))
from rentstack_resources import build_inventory, collect  # noqa: E402

CLOUDS_YAML_PATHS = ("./clouds.yaml", "~/.config/openstack/clouds.yaml", "/etc/openstack/clouds.yaml")


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "rentstack"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith((".rentstack.yml", ".rentstack.yaml"))

    def _connect(self, cloud: str):  # noqa: ANN202 - openstack.Connection
        try:
            import openstack
            from openstack import exceptions as os_exc
        except ImportError as exc:
            raise AnsibleError("the rentstack inventory needs openstacksdk: pip install openstacksdk") from exc
        files = os.environ.get("OS_CLIENT_CONFIG_FILE") or ", ".join(CLOUDS_YAML_PATHS)
        try:
            conn = openstack.connect(cloud=cloud)
            conn.authorize()
        except os_exc.ConfigException as exc:
            raise AnsibleError(f"rentstack inventory: cloud '{cloud}' is not defined in clouds.yaml "
                               f"(looked in {files}): {exc}. Set `cloud:` in the inventory file (or OS_CLOUD) "
                               "to an entry that exists, or give the job a cloud credential") from None
        except Exception as exc:  # noqa: BLE001 - keystoneauth raises many types
            raise AnsibleError(f"rentstack inventory: cannot reach cloud '{cloud}' (from {files}): "
                               f"{type(exc).__name__}: {exc}") from None
        return conn

    def parse(self, inventory, loader, path, cache=True):  # noqa: ANN001, ANN201 - Ansible's signature
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        if self.get_option("api_workers") < 1:
            raise AnsibleParserError(f"rentstack inventory {path}: api_workers must be 1 or more "
                                     f"(got {self.get_option('api_workers')}); 8 is the default")
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        data = None
        if use_cache:
            try:
                data = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if data is None:
            conn = self._connect(self.get_option("cloud"))
            try:
                raw = collect(conn, volume=self.get_option("include_volume_quotas"),
                              workers=self.get_option("api_workers"))
            except Exception as exc:  # noqa: BLE001 - report the API's answer, not a traceback
                raise AnsibleParserError(f"rentstack inventory: reading cloud '{self.get_option('cloud')}' failed: "
                                         f"{type(exc).__name__}: {exc}") from None
            for warning in raw.get("warnings", []):
                self.display.warning(f"rentstack inventory (cloud '{self.get_option('cloud')}'): {warning}")
            data = build_inventory(raw, ephemeral_limits=self.get_option("ephemeral_disk_limits"),
                                   default_ephemeral_limit=self.get_option("default_ephemeral_disk_limit"))
        if update_cache:
            self._cache[cache_key] = data
        self._populate(data)

    def _populate(self, data: dict) -> None:
        strict = self.get_option("strict")
        for group in data["groups"]:
            self.inventory.add_group(group)
        for name, hostvars in data["hosts"].items():
            self.inventory.add_host(name)
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, value)
            self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
        for group, hosts in data["groups"].items():
            for host in hosts:
                self.inventory.add_child(group, host)
        for group, gvars in data["group_vars"].items():
            self.inventory.add_group(group)
            for key, value in gvars.items():
                self.inventory.set_variable(group, key, value)
