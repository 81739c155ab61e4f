"""Documentation fragment rentstack.cloud.engine: the options of the modules that act on a set of servers in bulk.

rentstack_servers and rentstack_server_action share the set's selection (project, prefix and count, or names)
and the bulk engine's knobs (plugins/module_utils/rentstack_engine.py): SET_ARGS in
plugins/module_utils/rentstack_openstack.py is the code side of exactly these options.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  timeout:
    description: Seconds the whole operation may take.
    type: int
    default: 1800
  project:
    description:
      - Project that owns the set. The cloud's user must have a role in it.
      - Default is the project of the I(cloud) entry.
    type: str
  prefix:
    description: Name prefix of the set; servers are named C(<prefix>-001) ... Use with I(count).
    type: str
  count:
    description: Number of servers named from I(prefix).
    type: int
  names:
    description: Explicit server names (instead of I(prefix)/I(count)).
    type: list
    elements: str
  name_width:
    description: Minimum digits of the number in generated names.
    type: int
    default: 3
  concurrency:
    description: Most servers in flight at once (building, or acted on).
    type: int
    default: 20
  poll_interval:
    description: Seconds between server listings.
    type: float
    default: 3
  max_attempts:
    description:
      - How many times one server is tried in all.
      - M(rentstack.cloud.rentstack_servers) builds a server up to this many times; a broken server found by the
        heal step (ERROR, stuck in BUILD) counts as one build.
      - M(rentstack.cloud.rentstack_server_action) hard-reboots a server that ends C(reboot_hard) in ERROR up to
        this many times (Nova accepts a hard reboot from ERROR). Other actions are not repeated; a server that
        ends them in ERROR is reported with Nova's fault message.
    type: int
    default: 3
  stuck_timeout:
    description:
      - Seconds one server may stay in a transitional state before it counts as stuck.
      - M(rentstack.cloud.rentstack_servers) deletes a server stuck in BUILD and builds it again (one attempt);
        M(rentstack.cloud.rentstack_server_action) reports a server stuck in the action's task state as failed.
    type: int
    default: 900
  api_retries:
    description: Tries of one API request that met a transient fault (5xx, reset, timeout, expired token).
    type: int
    default: 5
  retry_delay:
    description: Base of the backoff between tries, in seconds (doubled each try, with random jitter).
    type: float
    default: 1.0
  retry_max_delay:
    description: Longest wait between two tries, in seconds.
    type: float
    default: 30.0
  full_list_every:
    description:
      - Every this many polls, list the whole set; the polls between ask only
        for the servers changed since the previous poll (C(changes-since)).
    type: int
    default: 20
  progress_file:
    description: File to append progress lines to (set by the action plugin of the same name).
    type: path
"""
