"""Import a custom module from library/ in a unit test, with ansible.module_utils.rentstack_* resolvable."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))


def load_library(name: str) -> Any:
    """library/<name>.py as a Python module."""
    import ansible.module_utils

    if str(ROOT / "plugins" / "module_utils") not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(str(ROOT / "plugins" / "module_utils"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "library" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
