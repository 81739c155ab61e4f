"""Every custom module documents exactly the options it accepts, with valid YAML in
DOCUMENTATION / EXAMPLES / RETURN (what `ansible-doc` shows operators). Options shared by several modules
live in documentation fragments (plugins/doc_fragments, `rentstack.cloud.<name>`), merged here as Ansible
merges them: the module's own entry of an option wins."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MODULES = sorted((REPO / "plugins" / "modules").glob("rentstack_*.py"))
FRAGMENTS = REPO / "plugins" / "doc_fragments"


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def module_utils() -> Any:
    """The real plugins/module_utils files, importable under the names the modules use."""
    for util in sorted((REPO / "plugins" / "module_utils").glob("rentstack_*.py")):
        _load(f"ansible.module_utils.{util.stem}", util)
    return sys.modules["ansible.module_utils.rentstack_openstack"]


def doc_blocks(path: Path) -> dict[str, Any]:
    tree = ast.parse(path.read_text())
    blocks = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
            blocks[node.targets[0].id] = yaml.safe_load(ast.literal_eval(node.value))
    return blocks


def fragment_doc(name: str) -> dict[str, Any]:
    """DOCUMENTATION of the fragment rentstack.cloud.<name> (plugins/doc_fragments/<name>.py)."""
    namespace, collection, short = name.split(".")
    assert (namespace, collection) == ("rentstack", "cloud"), f"{name} is not a fragment of this collection"
    return yaml.safe_load(_load(f"rentstack_doc_fragment_{short}", FRAGMENTS / f"{short}.py").ModuleDocFragment.DOCUMENTATION)


def documented_options(doc: dict[str, Any]) -> dict[str, Any]:
    """The module's options with those of its fragments (the module's own entry of an option wins)."""
    options: dict[str, Any] = {}
    for name in doc.get("extends_documentation_fragment", []):
        options.update(fragment_doc(name)["options"])
    options.update(doc.get("options") or {})
    return options


def accepted_options(module: Any, utils: Any) -> set[str]:
    """Option names the module's AnsibleModule is built with (common + set + its own)."""
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, utils.RentstackModule) and c.__module__ == module.__name__]
    if not classes:
        return set()
    cls = classes[0]
    spec = dict(utils.COMMON_ARGS, **cls.argument_spec)
    if issubclass(cls, utils.ServerSetModule):
        spec.update(utils.SET_ARGS)
    return set(spec)


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_documentation_is_complete(path: Path, module_utils: Any) -> None:
    blocks = doc_blocks(path)
    assert set(blocks) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, f"{path.name} lacks {blocks.keys()}"
    doc = blocks["DOCUMENTATION"]
    assert doc["module"] == path.stem
    assert doc.get("short_description") and doc.get("description")
    assert isinstance(blocks["EXAMPLES"], list) and blocks["EXAMPLES"], "EXAMPLES must hold at least one task"
    options = documented_options(doc)
    for name, option in options.items():
        assert option.get("description"), f"{path.name}: option {name} has no description"
        assert option.get("type"), f"{path.name}: option {name} has no type"
    accepted = accepted_options(_load(f"rentstack_lib_{path.stem}", path), module_utils)
    if accepted:  # modules built on RentstackModule: the docs list exactly what the spec accepts
        assert set(options) == accepted, (
            f"{path.name}: documented but not accepted {set(options) - accepted}, "
            f"accepted but not documented {accepted - set(options)}")


def test_fragments_document_the_shared_code(module_utils: Any) -> None:
    """rentstack.cloud.engine is SET_ARGS and rentstack.cloud.cloud is COMMON_ARGS but timeout (each module documents
    its own timeout), with the code's types and defaults."""
    for fragment, spec in (("rentstack.cloud.engine", module_utils.SET_ARGS),
                           ("rentstack.cloud.cloud", {k: v for k, v in module_utils.COMMON_ARGS.items() if k != "timeout"})):
        options = fragment_doc(fragment)["options"]
        assert set(options) == set(spec), fragment
        for name, arg in spec.items():
            assert (options[name]["type"], options[name].get("default")) == (arg["type"], arg.get("default")), f"{fragment}: {name}"
