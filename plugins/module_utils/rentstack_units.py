"""Planning of the rentstack_units module, free of any I/O (unit tested).

The module reads every unit in one `systemctl show` call; `parse_show` turns that output into one
dict per unit, `plan` says which units to enable, disable, start and stop, which cannot be touched
(and why), and how each unit looks before and after, for the module's `actions` and `diff`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SHOW_PROPERTIES = ("Id", "LoadState", "ActiveState", "SubState", "UnitFileState")

# ActiveState values that count as running (a unit starting or reloading is running, as for
# ansible.builtin.systemd_service); a deactivating unit is still to be stopped.
RUNNING = frozenset({"active", "activating", "reloading"})
TO_STOP = RUNNING | {"deactivating"}

# UnitFileState values `systemctl enable` turns into "enabled" (enabled-runtime: made permanent).
ENABLE_FROM = frozenset({"disabled", "enabled-runtime", "linked", "linked-runtime"})
# Unit files without an [Install] section of their own: they run when another unit, a socket or a
# generator wants them, and `systemctl enable`/`disable` cannot change that.
NOT_ENABLEABLE = frozenset({"static", "indirect", "generated", "alias", "transient"})
MASKED = frozenset({"masked", "masked-runtime"})
STATES = ("started", "stopped", "unchanged")


def show_args(names: list[str]) -> list[str]:
    """The arguments of the one `systemctl show` call that reads every unit."""
    return ["show", "--property=" + ",".join(SHOW_PROPERTIES), "--", *names]


def parse_show(output: str, names: list[str]) -> dict[str, dict[str, str]]:
    """`systemctl show` output (one block per unit, blank-line separated, in the order asked) by name.

    Properties systemd leaves out read as "". Raises ValueError when the blocks do not match the names.
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in output.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key.strip()] = value.strip()
    if current:
        blocks.append(current)
    if len(blocks) != len(names):
        raise ValueError(f"systemctl show returned {len(blocks)} unit(s) for {len(names)} asked ({', '.join(names)})")
    return {name: {p: block.get(p, "") for p in SHOW_PROPERTIES} for name, block in zip(names, blocks)}


def view(unit: dict[str, str]) -> dict[str, str]:
    """What the diff and the `units` result show of a unit."""
    return {"active": unit.get("ActiveState", ""), "enabled": unit.get("UnitFileState", "")}


@dataclass
class Plan:
    """What to do with a list of units; `errors` non-empty means do nothing."""

    enable: list[str] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    start: list[str] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    before: dict[str, dict[str, str]] = field(default_factory=dict)
    after: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.enable or self.disable or self.start or self.stop)

    def actions(self) -> list[str]:
        """One human line per change, in the order the module carries them out."""
        return ([f"stopped {n}" for n in self.stop] + [f"disabled {n}" for n in self.disable]
                + [f"enabled {n}" for n in self.enable] + [f"started {n}" for n in self.start])


def enabled_step(name: str, file_state: str, enabled: bool) -> tuple[str | None, str | None]:
    """("enable"|"disable"|None, note) for one unit file state and the wanted `enabled`."""
    if enabled and file_state == "enabled":
        return None, None
    if enabled and file_state in ENABLE_FROM:
        return "enable", None
    if not enabled and file_state == "enabled":
        return "disable", None
    if not enabled and file_state not in NOT_ENABLEABLE and file_state != "enabled-runtime":
        return None, None  # disabled, masked, linked: not started at boot
    verb = "enabled" if enabled else "disabled"
    return None, f"{name} is {file_state or 'without a unit file state'}: it cannot be {verb}, left as it is"


def plan_unit(name: str, unit: dict[str, str], state: str, enabled: bool | None, plan: Plan) -> None:
    """Add one unit's steps, note or error to the plan."""
    load, active, file_state = unit["LoadState"], unit["ActiveState"], unit["UnitFileState"]
    if load == "not-found":
        plan.errors.append(f"unit {name} not found")
        return
    masked = load == "masked" or file_state in MASKED
    if masked and (state == "started" or enabled):
        plan.errors.append(f"unit {name} is masked (systemctl unmask {name})")
        return
    if load not in ("loaded", "masked"):
        plan.errors.append(f"unit {name} did not load (LoadState={load})")
        return
    after = view(unit)
    if enabled is not None:
        step, note = enabled_step(name, file_state, enabled)
        if note:
            plan.notes.append(note)
        if step:
            getattr(plan, step).append(name)
            after["enabled"] = "enabled" if step == "enable" else "disabled"
    if state == "started" and active not in RUNNING:
        plan.start.append(name)
        after["active"] = "active"
    elif state == "stopped" and active in TO_STOP:
        plan.stop.append(name)
        after["active"] = "inactive"
    plan.before[name] = view(unit)
    plan.after[name] = after


def plan(units: dict[str, dict[str, str]], state: str = "started", enabled: bool | None = None) -> Plan:
    """What to do so that every unit is `state` (started, stopped, unchanged) and `enabled` (None: leave)."""
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, not {state}")
    result = Plan()
    for name, unit in units.items():
        plan_unit(name, unit, state, enabled, result)
    return result


def status_tail(output: str, lines: int = 25) -> str:
    """The last lines of `systemctl status` output, for a failure message."""
    return "\n".join(output.rstrip().splitlines()[-lines:])


def failed_to_start(units: dict[str, dict[str, str]], asked: list[str]) -> list[str]:
    """Units of `asked` that are not running in a fresh read (all of them when none can be told)."""
    failed = [n for n in asked if units.get(n, {}).get("ActiveState") not in RUNNING]
    return failed or list(asked)


def summary(units: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The `units` result: name -> {active, enabled}."""
    return {name: view(unit) for name, unit in units.items()}
