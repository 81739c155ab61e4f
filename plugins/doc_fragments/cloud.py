"""Documentation fragment rentstack.cloud.cloud: the option every rentstack module that talks to OpenStack takes.

COMMON_ARGS in plugins/module_utils/rentstack_openstack.py is the code side (C(timeout) is common too, but each
module documents its own, with its own default and meaning).
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  cloud:
    description:
      - Name of the clouds.yaml entry to use (C(./clouds.yaml), C(~/.config/openstack/clouds.yaml), C(/etc/openstack/clouds.yaml)).
      - Without it, the environment variable E(OS_CLOUD) (an AWX OpenStack credential sets it); without
        that, C(rentstack), the admin entry the keystone role writes. The playbooks pass the variable
        C(rentstack_cloud_name) (C(rentstack_cloud), else E(OS_CLOUD), else C(rentstack)). Modules that read or change every
        project or the service catalog (C(rentstack_cloud_info), C(rentstack_compute_host), C(rentstack_keystone_service))
        need an entry with admin rights.
      - Set it once for all these modules with C(module_defaults) and the action group
        C(group/rentstack.cloud.rentstack).
    type: str
    default: rentstack
requirements: [openstacksdk >= 4.16]
"""
