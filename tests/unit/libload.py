"""Import a custom module from plugins/modules/ in a unit test, with ansible.module_utils.rentstack_* resolvable."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))


def load_library(name: str) -> Any:
    """plugins/modules/<name>.py as a Python module."""
    import ansible.module_utils

    if str(ROOT / "plugins" / "module_utils") not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(str(ROOT / "plugins" / "module_utils"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "plugins" / "modules" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# The engine's options at their module defaults, with no waiting: what a test harness built with __new__ sets.
ENGINE_PARAMS = {"max_attempts": 3, "stuck_timeout": 900, "api_retries": 5, "retry_delay": 0.0, "retry_max_delay": 0.0,
                 "full_list_every": 20, "poll_interval": 0, "timeout": 600, "concurrency": 20, "progress_file": None,
                 "count": None, "name_width": 3,
                 # single creates: the multi-create path has its own tests (test_engine_multi.py)
                 "multi_create": False}


def fast_retry(**kw: Any) -> Any:
    """The engine's retry policy without sleeping (the sleeps are recorded in .slept)."""
    from ansible.module_utils.rentstack_engine import RetryPolicy

    slept: list[float] = []
    policy = RetryPolicy(**{"attempts": 5, "sleep": slept.append, "rand": lambda: 0.5, **kw})
    policy.slept = slept
    return policy
