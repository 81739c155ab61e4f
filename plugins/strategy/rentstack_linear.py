"""Ansible's linear strategy, on mitogen's connection layer when mitogen is installed.

ansible.cfg sets `strategy = rentstack_linear`. With mitogen (pinned in requirements.txt) each host
keeps one Python interpreter that runs every module in-process, instead of a new SSH command and
Python start-up per task: on the lab a changed=0 rerun of site.yml drops from ~200 s to ~70 s
(bench/results/deploy.json). Without mitogen (an execution environment that lacks it) or with
RENTSTACK_MITOGEN=0 it is plain `linear`, with a warning in the first case.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: rentstack_linear
short_description: Ansible's linear strategy, run through mitogen when it is installed
description:
  - Task by task on every host in lock step, exactly as C(ansible.builtin.linear).
  - When the C(mitogen) Python package is importable and C(RENTSTACK_MITOGEN) is not C(0), connections
    and module execution go through mitogen (one persistent interpreter per host and become user).
  - Otherwise plain C(linear); a warning says so when mitogen is missing.
author: rentstack (!UNKNOWN)
"""

import os  # noqa: E402 - below the documentation, as ansible-test wants

from ansible.plugins.loader import strategy_loader  # noqa: E402
from ansible.utils.display import Display  # noqa: E402

display = Display()
_LINEAR = strategy_loader.get("linear", class_only=True)
_WANTED = os.environ.get("RENTSTACK_MITOGEN", "1").lower() not in ("0", "false", "no", "off")

StrategyModule = None
_MITOGEN_MISSING: ImportError | None = None
if _WANTED:
    try:
        import ansible_mitogen.affinity
        import ansible_mitogen.loaders
        import ansible_mitogen.strategy
    except ImportError as exc:  # pragma: no cover - depends on the installation
        _MITOGEN_MISSING = exc
    else:
        # mitogen pins Ansible's processes to CPUs (ansible_mitogen/affinity.py, FixedPolicy). On a machine
        # with 2 or 3 CPUs it reserves CPU 0 for its multiplexer and pins the top-level process, every
        # worker and every command they start to CPU 1 alone. Whatever those commands start inherits the
        # mask: the lab's podman hosts, made by lab.yml, ran the whole cloud on one of the test machine's
        # two cores (vmstat 49% idle through a fresh deploy; /proc/<pid>/status Cpus_allowed_list 1 on
        # every lab process, 2026-12-07), and an operator's local commands would too. The no-op Policy
        # leaves placement to the kernel.
        ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()
        _BASE = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)

        class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _BASE):  # type: ignore[no-redef]
            """linear, through mitogen."""

if StrategyModule is None:
    class StrategyModule(_LINEAR):  # type: ignore[no-redef]
        """Plain linear."""

        def __init__(self, *args, **kwargs) -> None:
            # Said when a run uses the strategy, not when the plugin is merely loaded (ansible-doc, ansible-lint).
            if _MITOGEN_MISSING is not None:
                display.warning(f"rentstack_linear: mitogen is not installed ({_MITOGEN_MISSING}); running the plain linear "
                                "strategy, which is ~3x slower on a rerun. Install requirements.txt or set RENTSTACK_MITOGEN=0.")
            super().__init__(*args, **kwargs)
