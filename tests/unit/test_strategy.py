"""plugins/strategy/rentstack_linear.py: linear through mitogen, or plain linear when asked or without mitogen."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "strategy" / "rentstack_linear.py"


def load(monkeypatch: pytest.MonkeyPatch, mitogen: str | None):  # noqa: ANN201
    if mitogen is None:
        monkeypatch.delenv("RENTSTACK_MITOGEN", raising=False)
    else:
        monkeypatch.setenv("RENTSTACK_MITOGEN", mitogen)
    spec = importlib.util.spec_from_file_location("rentstack_linear_under_test", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mro_names(module) -> list[str]:  # noqa: ANN001
    return [f"{c.__module__}.{c.__name__}" for c in module.StrategyModule.__mro__]


def test_mitogen_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ansible_mitogen", reason="mitogen is in requirements.txt; this venv lacks it")
    names = mro_names(load(monkeypatch, None))
    assert "ansible_mitogen.strategy.StrategyMixin" in names
    assert any(n.endswith("linear.StrategyModule") for n in names[1:])


@pytest.mark.parametrize("value", ["0", "false", "no", "off"])
def test_plain_linear_when_turned_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    names = mro_names(load(monkeypatch, value))
    assert not any("mitogen" in n for n in names)
    assert "ansible.plugins.strategy.linear.StrategyModule" in names


def test_plain_linear_with_a_warning_without_mitogen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ansible_mitogen", None)  # import fails as when not installed
    warnings: list[str] = []
    from ansible.utils.display import Display

    monkeypatch.setattr(Display, "warning", lambda self, msg, *a, **k: warnings.append(msg))
    module = load(monkeypatch, "1")
    assert not any("mitogen" in n for n in mro_names(module))
    assert not warnings, "loading the plugin (ansible-doc, ansible-lint) must not warn"
    monkeypatch.setattr(module._LINEAR, "__init__", lambda self, *a, **k: None)
    module.StrategyModule(None)  # a run that uses the strategy
    assert warnings and "mitogen is not installed" in warnings[0]


def test_mitogen_leaves_cpu_placement_to_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """mitogen's FixedPolicy pinned every command Ansible started (the lab's hosts too) to CPU 1 of 2."""
    affinity = pytest.importorskip("ansible_mitogen.affinity", reason="mitogen is in requirements.txt; this venv lacks it")
    load(monkeypatch, None)
    assert type(affinity.policy) is affinity.Policy
    before = os.sched_getaffinity(0)
    affinity.policy.assign_worker()
    affinity.policy.assign_subprocess()
    assert os.sched_getaffinity(0) == before
