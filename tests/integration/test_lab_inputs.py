"""Bad lab inputs fail in the prechecks, naming the variable, before anything changes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner import lab_objects, lab_settings, run_playbook  # noqa: E402

BAD_INPUTS = [
    pytest.param({"lab_mgmt_cidr": "not-a-cidr"}, "lab_mgmt_cidr", id="mgmt-cidr-not-a-cidr"),
    pytest.param({"lab_provider_cidr": "10.89.20.7/33"}, "lab_provider_cidr", id="provider-cidr-bad-prefix"),
    pytest.param({"lab_hosts": ["ctl1", "ctl1"]}, "lab_hosts", id="host-listed-twice"),
    pytest.param({"lab_tunnel_cidr": "10.89.10.128/25"}, "lab_tunnel_cidr", id="tunnel-overlaps-mgmt"),
    pytest.param({"lab_provider_cidr": "10.89.0.0/16"}, "lab_provider_cidr", id="provider-contains-mgmt"),
    pytest.param({"lab_tunnel_cidr": "10.89.10.0/24"}, "lab_tunnel_cidr", id="tunnel-same-as-mgmt"),
    pytest.param({"lab_hosts": ["ctl1", "nosuchhost"]}, "lab_index", id="host-not-in-inventory"),
    pytest.param({"lab_cpus": "99"}, "lab_cpus", id="cpus-not-on-this-machine"),
    pytest.param({"lab_cpus": "0;1"}, "lab_cpus", id="cpus-not-a-cpu-list"),
]
# Only the role's argument validation and the checks of precheck.yml may run.
PRECHECK_FILE = "roles/lab/tasks/precheck.yml"


@pytest.mark.parametrize(("extravars", "variable"), BAD_INPUTS)
def test_bad_input_fails_before_anything_is_created(extravars: dict[str, Any], variable: str, tmp_path: Path) -> None:
    prefix = lab_settings()["lab_prefix"]
    before = lab_objects(prefix)

    result = run_playbook("playbooks/lab.yml", tmp_path, extravars=extravars)

    assert result.status == "failed", result.explain()
    assert result.rc != 0, result.explain()
    assert result.per_host("failures").get("localhost", 0) >= 1, result.explain()
    messages = result.failure_messages()
    assert any(variable in m for m in messages), f"no failure names {variable}: {messages}\n{result.explain()}"
    changed = result.per_host("changed")
    assert sum(changed.values()) == 0, f"changed: {changed}\n{result.explain()}"
    assert not [e for e in result.task_events("runner_on_ok") if e["event_data"].get("res", {}).get("changed")]
    strays = [
        (e["event_data"].get("task"), e["event_data"].get("task_path"))
        for e in result.task_events()
        if PRECHECK_FILE not in e["event_data"].get("task_path", "")
        and e["event_data"].get("resolved_action") != "ansible.builtin.validate_argument_spec"
    ]
    assert not strays, f"tasks outside the prechecks ran: {strays}"
    # The lab hosts were not touched: no play reached them.
    assert set(result.hosts) <= {"localhost"}, result.hosts
    assert lab_objects(prefix) == before
