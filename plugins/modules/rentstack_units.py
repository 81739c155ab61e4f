#!/usr/bin/python
"""Make a list of systemd units started or stopped, enabled or disabled, in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rentstack_units
short_description: Make a list of systemd units started or stopped, enabled or disabled, in one call
description:
  - Reads every unit of I(names) in one C(systemctl show) call, then runs at most one
    C(systemctl stop), one C(disable), one C(enable) and one C(start), each naming all the units that
    need it. A list of units costs one module run instead of one per unit (a loop of
    M(ansible.builtin.systemd_service)).
  - A unit counts as started when its C(ActiveState) is C(active), C(activating) or C(reloading)
    (as for M(ansible.builtin.systemd_service)), as stopped when it is C(inactive) or C(failed).
  - Unit files that are C(static), C(indirect), C(generated), C(alias) or C(transient) have no
    install section of their own; I(enabled) leaves them as they are and says so in C(notes) (no
    change reported, so a second run changes nothing).
  - A unit that does not exist, or a masked unit to start or enable, fails the task before anything
    is changed, naming every such unit. A unit that fails to start fails the task with the last lines
    of its C(systemctl status).
  - Check mode reports what would change and changes nothing. The diff shows each unit's
    C(active) and C(enabled) state before and after.
options:
  names:
    description:
      - Units to manage, with or without the C(.service) suffix (C(chrony), C(libvirtd.socket)).
        An empty list does nothing.
    type: list
    elements: str
    required: true
  state:
    description:
      - C(started) starts the units that do not run, C(stopped) stops the ones that run,
        C(unchanged) leaves the running state alone (with I(enabled), only the boot-time state is set).
      - Restarts are not this module's job (handlers use M(ansible.builtin.systemd_service)).
    type: str
    choices: [started, stopped, unchanged]
    default: started
  enabled:
    description: Whether the units start at boot. Omitted, left as they are.
    type: bool
  daemon_reload:
    description:
      - Run C(systemctl daemon-reload) before reading the units (after a unit file was written).
        Not counted as a change, and not run in check mode.
    type: bool
    default: false
  no_block:
    description:
      - Start and stop with C(--no-block) - queue the jobs and return without waiting (for a
        C(Type=notify) unit that reports ready late; C(activating) counts as started).
    type: bool
    default: false
author: rentstack (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Enable and start the Nova controller services
  rentstack_units:
    names: [nova-api, nova-conductor, nova-scheduler, nova-novncproxy]
    enabled: true

- name: Keep Debian's stand-alone haproxy service off
  rentstack_units:
    names: [haproxy]
    state: stopped
    enabled: false

- name: Enable libvirt at boot without starting it (socket activated)
  rentstack_units:
    names: [libvirtd.service]
    state: unchanged
    enabled: true

- name: Enable and start a unit whose file was just written
  rentstack_units:
    names: [rentstack-ovs-tunnel-address]
    enabled: true
    daemon_reload: true
"""

RETURN = r"""
actions:
  description:
    - What was done, or in check mode would be done, one line per unit and step, e.g.
      C(enabled nova-api), C(started nova-api), C(stopped haproxy), C(disabled haproxy). Empty when
      nothing changed.
  returned: always
  type: list
  elements: str
units:
  description:
    - Each name of I(names) to C(active) (its C(ActiveState) - C(active), C(activating), C(inactive),
      C(failed), ...) and C(enabled) (its C(UnitFileState) - C(enabled), C(disabled), C(static), ...),
      after the run (in check mode, as the run would leave them).
  returned: always
  type: dict
  sample: {"nova-api": {"active": "active", "enabled": "enabled"}}
notes:
  description: Units I(enabled) could not apply to, and why (e.g. C(ovn-controller is static - it cannot be enabled, left as it is)).
  returned: always
  type: list
  elements: str
diff:
  description: C(before) and C(after) - each unit's C(active) and C(enabled), as in I(units).
  returned: always
  type: dict
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
try:  # from the checkout: ansible.cfg's module_utils = plugins/module_utils (docs/collection.md)
    from ansible.module_utils.rentstack_units import STATES, failed_to_start, parse_show, plan, show_args, status_tail, summary
except ImportError:  # from the installed collection rentstack.cloud
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_units import (STATES, failed_to_start, parse_show, plan, show_args,
                                                                                          status_tail, summary)

ARGUMENT_SPEC: dict[str, Any] = {
    "names": {"type": "list", "elements": "str", "required": True},
    "state": {"type": "str", "choices": list(STATES), "default": "started"},
    "enabled": {"type": "bool"},
    "daemon_reload": {"type": "bool", "default": False},
    "no_block": {"type": "bool", "default": False},
}


class Systemctl:
    """The systemctl calls of one module run."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.bin = module.get_bin_path("systemctl", required=True)

    def run(self, *args: str, fail: bool = True) -> tuple[int, str, str]:
        rc, out, err = self.module.run_command([self.bin, *args])
        if rc != 0 and fail:
            self.module.fail_json(msg=f"systemctl {' '.join(args)} failed (rc {rc}): {(err or out).strip()}")
        return rc, out, err

    def show(self, names: list[str]) -> dict[str, dict[str, str]]:
        _rc, out, _err = self.run(*show_args(names))
        try:
            return parse_show(out, names)
        except ValueError as exc:
            self.module.fail_json(msg=str(exc), stdout=out)
        raise AssertionError("unreachable")  # fail_json exits

    def change(self, verb: str, names: list[str], no_block: bool = False) -> None:
        if names:
            self.run(verb, *(["--no-block"] if no_block else []), "--", *names)

    def start(self, names: list[str], no_block: bool) -> None:
        """Start the units; on failure, fail naming the ones not running, with their status."""
        if not names:
            return
        rc, out, err = self.run("start", *(["--no-block"] if no_block else []), "--", *names, fail=False)
        if rc == 0:
            return
        failed = failed_to_start(self.show(names), names)
        report = [f"could not start {', '.join(failed)}: {(err or out).strip()}"]
        for name in failed:
            _rc, status, _err = self.run("status", "--no-pager", "-n", "20", "--", name, fail=False)
            report.append(f"--- systemctl status {name}\n{status_tail(status)}")
        self.module.fail_json(msg="\n".join(report), failed_units=failed)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    names: list[str] = module.params["names"]
    if not names:
        module.exit_json(changed=False, actions=[], units={}, notes=[], diff={"before": {}, "after": {}})
    systemctl = Systemctl(module)
    no_block = module.params["no_block"]
    if module.params["daemon_reload"] and not module.check_mode:
        systemctl.run("daemon-reload")
    units = systemctl.show(names)
    todo = plan(units, module.params["state"], module.params["enabled"])
    if todo.errors:
        module.fail_json(msg="; ".join(todo.errors), units=summary(units))
    after = todo.after
    if todo.changed and not module.check_mode:
        systemctl.change("stop", todo.stop, no_block)
        systemctl.change("disable", todo.disable)
        systemctl.change("enable", todo.enable)
        systemctl.start(todo.start, no_block)
        after = summary(systemctl.show(names))
    module.exit_json(changed=todo.changed, actions=todo.actions(), units=after, notes=todo.notes,
                     diff={"before": todo.before, "after": after})


if __name__ == "__main__":
    main()
