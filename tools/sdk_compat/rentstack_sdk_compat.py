"""Compatibility shim: openstack.cloud 2.5.0 (bundled with ansible 12.x) reads
`openstack.version.__version__` right after `import openstack`, but
openstacksdk >= 4.15 no longer imports its `version` submodule from
`openstack/__init__.py` (upstream commit 3ae89d61; fixed in openstack.cloud
2.6.0, which PyPI's `ansible` does not carry yet). Every openstack.cloud module
then fails with "module 'openstack' has no attribute 'version'".

Installed into the project venv by `make venv` (with rentstack_sdk_compat.pth),
this hook imports `openstack.version` whenever `openstack` itself is imported,
lazily: interpreters that never import openstack pay nothing. Remove it once
the bundled collection is >= 2.6.0.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys


class _OpenstackVersionFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201 - importlib protocol
        if name != "openstack":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        original = spec.loader.exec_module

        def exec_module(module):  # noqa: ANN001, ANN202
            original(module)
            importlib.import_module("openstack.version")

        spec.loader.exec_module = exec_module
        return spec


if not any(isinstance(f, _OpenstackVersionFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _OpenstackVersionFinder())
