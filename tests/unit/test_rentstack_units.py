"""Unit tests of plugins/modules/rentstack_units.py and its planning in plugins/module_utils/rentstack_units.py.

The planning runs on `systemctl show` output as systemd 257 (Debian trixie) prints it; the module
runs against a fake systemctl that keeps unit states and records every call, to show a list of units
costs one read and at most one call per kind of change. The real systemd is exercised on the lab by
the roles (site.yml).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from libload import load_library
from rentstack_units import RUNNING, failed_to_start, parse_show, plan, show_args, status_tail

MOD = load_library("rentstack_units")

# `systemctl show --property=Id,LoadState,ActiveState,SubState,UnitFileState -- nova-api nosuch haproxy
# ovn-controller libvirtd.socket nova-compute`, recorded shape (systemd prints the properties in its own order).
SHOW = """\
Id=nova-api.service
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=enabled

Id=nosuch.service
LoadState=not-found
ActiveState=inactive
SubState=dead
UnitFileState=

Id=haproxy.service
LoadState=masked
ActiveState=inactive
SubState=dead
UnitFileState=masked

Id=ovn-controller.service
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=static

Id=libvirtd.socket
LoadState=loaded
ActiveState=inactive
SubState=dead
UnitFileState=disabled

Id=nova-compute.service
LoadState=loaded
ActiveState=activating
SubState=start
UnitFileState=enabled
"""
NAMES = ["nova-api", "nosuch", "haproxy", "ovn-controller", "libvirtd.socket", "nova-compute"]


def unit(active: str = "active", file_state: str = "enabled", load: str = "loaded") -> dict[str, str]:
    sub = {"active": "running", "activating": "start", "failed": "failed"}.get(active, "dead")
    return {"Id": "", "LoadState": load, "ActiveState": active, "SubState": sub, "UnitFileState": file_state}


# --- parsing -------------------------------------------------------------------


def test_show_output_is_parsed_per_name_in_the_order_asked() -> None:
    units = parse_show(SHOW, NAMES)
    assert list(units) == NAMES
    assert units["nova-api"]["Id"] == "nova-api.service"
    assert units["nosuch"] == {"Id": "nosuch.service", "LoadState": "not-found", "ActiveState": "inactive",
                               "SubState": "dead", "UnitFileState": ""}
    assert units["haproxy"]["LoadState"] == "masked"
    assert units["ovn-controller"]["UnitFileState"] == "static"
    assert units["nova-compute"]["ActiveState"] == "activating"


def test_missing_properties_read_empty_and_extra_blank_lines_are_ignored() -> None:
    out = "\n\nId=a.service\nLoadState=loaded\nActiveState=active\n\n\n\nId=b.service\nLoadState=loaded\n\n"
    units = parse_show(out, ["a", "b"])
    assert units["a"]["UnitFileState"] == "" and units["b"]["ActiveState"] == ""


def test_a_block_count_other_than_the_names_is_an_error() -> None:
    with pytest.raises(ValueError, match="returned 6 unit.*for 2 asked"):
        parse_show(SHOW, ["nova-api", "nosuch"])


def test_show_args_read_every_unit_in_one_call() -> None:
    assert show_args(["a", "b"]) == ["show", "--property=Id,LoadState,ActiveState,SubState,UnitFileState", "--", "a", "b"]


# --- planning ------------------------------------------------------------------


def test_not_found_and_masked_units_are_errors_naming_each_unit() -> None:
    todo = plan(parse_show(SHOW, NAMES), "started", True)
    assert todo.errors == ["unit nosuch not found", "unit haproxy is masked (systemctl unmask haproxy)"]


def test_a_masked_unit_is_already_stopped_and_disabled() -> None:
    units = parse_show(SHOW, NAMES)
    todo = plan({"haproxy": units["haproxy"]}, "stopped", False)
    assert not todo.errors and not todo.changed and not todo.notes


def test_static_units_are_not_enabled_and_say_so_without_a_change() -> None:
    units = parse_show(SHOW, NAMES)
    todo = plan({"ovn-controller": units["ovn-controller"]}, "started", True)
    assert not todo.changed and todo.enable == []
    assert todo.notes == ["ovn-controller is static: it cannot be enabled, left as it is"]
    todo = plan({"ovn-controller": units["ovn-controller"]}, "stopped", False)
    assert todo.stop == ["ovn-controller"] and todo.disable == []
    assert todo.notes == ["ovn-controller is static: it cannot be disabled, left as it is"]


@pytest.mark.parametrize("file_state", ["indirect", "generated", "alias", "transient"])
def test_other_unit_files_without_install_section_are_left_alone(file_state: str) -> None:
    todo = plan({"u": unit(file_state=file_state)}, "started", True)
    assert not todo.changed and todo.notes == [f"u is {file_state}: it cannot be enabled, left as it is"]


def test_plan_enables_and_starts_only_what_needs_it() -> None:
    units = parse_show(SHOW, NAMES)
    wanted = {n: units[n] for n in ("nova-api", "ovn-controller", "libvirtd.socket", "nova-compute")}
    todo = plan(wanted, "started", True)
    assert not todo.errors
    assert todo.enable == ["libvirtd.socket"] and todo.start == ["libvirtd.socket"]
    assert todo.stop == [] and todo.disable == []
    assert todo.actions() == ["enabled libvirtd.socket", "started libvirtd.socket"]
    assert todo.before["libvirtd.socket"] == {"active": "inactive", "enabled": "disabled"}
    assert todo.after["libvirtd.socket"] == {"active": "active", "enabled": "enabled"}
    assert todo.after["nova-compute"] == {"active": "activating", "enabled": "enabled"}, "activating counts as started"


def test_plan_stops_and_disables_running_enabled_units() -> None:
    units = {"haproxy": unit("active", "enabled"), "idle": unit("inactive", "disabled"),
             "going": unit("deactivating", "disabled"), "broken": unit("failed", "enabled")}
    todo = plan(units, "stopped", False)
    assert todo.stop == ["haproxy", "going"] and todo.disable == ["haproxy", "broken"]
    assert todo.actions() == ["stopped haproxy", "stopped going", "disabled haproxy", "disabled broken"]
    assert todo.after["haproxy"] == {"active": "inactive", "enabled": "disabled"}


def test_a_failed_unit_is_started_again() -> None:
    assert plan({"u": unit("failed")}, "started", True).start == ["u"]


def test_enabled_none_leaves_the_boot_state_and_unchanged_leaves_the_running_state() -> None:
    todo = plan({"u": unit("inactive", "disabled")}, "started", None)
    assert todo.start == ["u"] and todo.enable == [] and todo.after["u"]["enabled"] == "disabled"
    todo = plan({"libvirtd.service": unit("inactive", "disabled")}, "unchanged", True)
    assert todo.enable == ["libvirtd.service"] and todo.start == []
    assert todo.after["libvirtd.service"] == {"active": "inactive", "enabled": "enabled"}


def test_enabled_runtime_is_made_permanent_and_linked_units_are_enabled() -> None:
    todo = plan({"a": unit(file_state="enabled-runtime"), "b": unit(file_state="linked")}, "started", True)
    assert todo.enable == ["a", "b"]


def test_converged_units_plan_nothing() -> None:
    todo = plan({"a": unit(), "b": unit("activating"), "c": unit("reloading")}, "started", True)
    assert not todo.changed and todo.actions() == [] and todo.before == todo.after


def test_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="state must be one of"):
        plan({"a": unit()}, "restarted", True)


def test_failed_to_start_names_the_units_not_running() -> None:
    units = {"a": unit("active"), "b": unit("failed")}
    assert failed_to_start(units, ["a", "b"]) == ["b"]
    assert failed_to_start({"a": unit("active")}, ["a"]) == ["a"], "when none can be told, all are named"


def test_status_tail_keeps_the_last_lines() -> None:
    assert status_tail("\n".join(str(i) for i in range(40)) + "\n", 3) == "37\n38\n39"


# --- the module against a fake systemctl ---------------------------------------------


class FakeSystemctl:
    """Unit states in memory; answers the calls the module makes and records them."""

    def __init__(self, units: dict[str, dict[str, str]], broken: tuple[str, ...] = ()) -> None:
        self.units = units
        self.broken = broken
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str], **_: Any) -> tuple[int, str, str]:
        verb, rest = args[1], [a for a in args[2:] if not a.startswith("-") and a != "20"]
        self.calls.append(args[1:])
        if verb == "show":
            return 0, "\n".join(self.block(n) for n in rest), ""
        if verb == "status":
            lines = [f"x {rest[0]}.service - {rest[0]}", "     Active: failed (Result: exit-code)"]
            return 3, "\n".join(lines + [f"log line {i}" for i in range(30)]), ""
        if verb == "daemon-reload":
            return 0, "", ""
        rc = 0
        for name in rest:
            u = self.units[name]
            if verb == "start":
                u["ActiveState"] = "failed" if name in self.broken else "active"
                rc = 1 if name in self.broken else rc
            elif verb == "stop":
                u["ActiveState"] = "inactive"
            else:
                u["UnitFileState"] = "enabled" if verb == "enable" else "disabled"
        err = "Job for x.service failed because the control process exited with error code." if rc else ""
        return rc, "", err

    def block(self, name: str) -> str:
        u = self.units.get(name) or unit("inactive", "", "not-found")
        return "".join(f"{k}={name if k == 'Id' else u[k]}\n" for k in ("Id", "LoadState", "ActiveState", "SubState",
                                                                         "UnitFileState"))

    def verbs(self) -> list[str]:
        return [c[0] for c in self.calls]


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake: FakeSystemctl,
        params: dict[str, Any], check: bool = False) -> dict[str, Any]:
    monkeypatch.setattr(AnsibleModule, "run_command", lambda self, args, **kw: fake(args, **kw))
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, *a, **kw: "/usr/bin/systemctl")
    with patch_module_args({**params, "_ansible_check_mode": check}), pytest.raises(SystemExit):
        MOD.main()
    return json.loads(capsys.readouterr().out)


def nova_units() -> dict[str, dict[str, str]]:
    return {"nova-api": unit("active"), "nova-conductor": unit("inactive", "disabled"),
            "nova-scheduler": unit("failed", "enabled"), "nova-novncproxy": unit("inactive", "disabled")}


def test_a_list_costs_one_read_one_enable_one_start_then_a_rerun_changes_nothing(monkeypatch, capsys) -> None:
    fake = FakeSystemctl(nova_units())
    params = {"names": list(fake.units), "enabled": True}
    result = run(monkeypatch, capsys, fake, params)
    assert result["changed"] is True
    assert fake.calls == [
        ["show", "--property=Id,LoadState,ActiveState,SubState,UnitFileState", "--", *fake.units],
        ["enable", "--", "nova-conductor", "nova-novncproxy"],
        ["start", "--", "nova-conductor", "nova-scheduler", "nova-novncproxy"],
        ["show", "--property=Id,LoadState,ActiveState,SubState,UnitFileState", "--", *fake.units],
    ]
    assert result["actions"] == ["enabled nova-conductor", "enabled nova-novncproxy",
                                 "started nova-conductor", "started nova-scheduler", "started nova-novncproxy"]
    assert result["units"]["nova-scheduler"] == {"active": "active", "enabled": "enabled"}
    assert result["diff"]["before"]["nova-conductor"] == {"active": "inactive", "enabled": "disabled"}
    fake.calls.clear()
    again = run(monkeypatch, capsys, fake, params)
    assert again["changed"] is False and again["actions"] == [] and fake.verbs() == ["show"]


def test_check_mode_reports_the_plan_and_only_reads(monkeypatch, capsys) -> None:
    fake = FakeSystemctl(nova_units())
    result = run(monkeypatch, capsys, fake, {"names": list(fake.units), "enabled": True, "daemon_reload": True}, check=True)
    assert result["changed"] is True and fake.verbs() == ["show"], "check mode neither reloads nor changes"
    assert result["units"]["nova-conductor"] == {"active": "active", "enabled": "enabled"}
    assert fake.units["nova-conductor"]["ActiveState"] == "inactive"


def test_stopped_and_disabled_with_no_block_and_daemon_reload(monkeypatch, capsys) -> None:
    fake = FakeSystemctl({"haproxy": unit("active", "enabled")})
    result = run(monkeypatch, capsys, fake, {"names": ["haproxy"], "state": "stopped", "enabled": False,
                                             "daemon_reload": True, "no_block": True})
    assert result["actions"] == ["stopped haproxy", "disabled haproxy"]
    assert fake.calls[:4] == [["daemon-reload"], fake.calls[1], ["stop", "--no-block", "--", "haproxy"],
                              ["disable", "--", "haproxy"]]


def test_missing_units_fail_before_any_change_naming_them(monkeypatch, capsys) -> None:
    fake = FakeSystemctl({"nova-api": unit("inactive", "disabled")})
    result = run(monkeypatch, capsys, fake, {"names": ["nova-api", "nova-apii"], "enabled": True})
    assert result["failed"] is True and result["msg"] == "unit nova-apii not found"
    assert fake.verbs() == ["show"]


def test_a_start_that_fails_names_the_unit_with_its_status(monkeypatch, capsys) -> None:
    fake = FakeSystemctl(nova_units(), broken=("nova-scheduler",))
    result = run(monkeypatch, capsys, fake, {"names": list(fake.units), "enabled": True})
    assert result["failed"] is True and result["failed_units"] == ["nova-scheduler"]
    assert result["msg"].startswith("could not start nova-scheduler: Job for x.service failed")
    assert "--- systemctl status nova-scheduler" in result["msg"] and "log line 29" in result["msg"]
    assert "log line 0\n" not in result["msg"], "only the last lines of the status"
    assert ["status", "--no-pager", "-n", "20", "--", "nova-scheduler"] in fake.calls


def test_an_empty_list_does_nothing(monkeypatch, capsys) -> None:
    fake = FakeSystemctl({})
    assert run(monkeypatch, capsys, fake, {"names": []})["changed"] is False and fake.calls == []


def test_the_documented_options_are_the_accepted_ones() -> None:
    doc = yaml.safe_load(MOD.DOCUMENTATION)
    assert set(doc["options"]) == set(MOD.ARGUMENT_SPEC)
    for name, spec in MOD.ARGUMENT_SPEC.items():
        assert doc["options"][name]["type"] == spec["type"]
        assert doc["options"][name].get("default") == spec.get("default"), name
        assert doc["options"][name].get("choices") == spec.get("choices"), name
    assert set(RUNNING) == {"active", "activating", "reloading"}
