"""Every ansible-playbook / ansible-inventory command in README.md and docs/*.md names its inventory with -i.

Without -i, ansible.cfg's `inventory = inventory/lab` applies: a command copied from the docs would act on
the lab's hosts and data (docs/operations.md, "Which inventory"). Checked: every line of a code block (fenced,
or indented by four spaces) where either tool appears with an argument, comments included
(`make lab  # ansible-playbook ...` says what make runs), and every inline code span that is a runnable command (it names a playbook or an
inventory action). A bare mention (`ansible-playbook --syntax-check`, "a separate `ansible-playbook`
process") is not a command.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Inline spans of this file are records, not instructions: generated from bench/results/*.json by bench/_render.py
# ("do not edit by hand"), each the command a measurement ran, as it ran (on the lab, through ansible.cfg).
RECORDS = {ROOT / "docs" / "benchmarks.md"}

_TOOL = re.compile(r"\bansible-(?:playbook|inventory)\b")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SPAN = re.compile(r"`([^`\n]+)`")
# A span that is a command: the tool, then a playbook (path or collection name) or an inventory action.
_RUNNABLE = re.compile(r"\bansible-(?:playbook|inventory)\b.*(\.ya?ml\b|rentstack\.cloud\.\w+|--(?:list|graph|host)\b)")
# A code line's command: the tool followed by an argument (not a diagram's "ansible-playbook / AWX").
_ARGUMENT = re.compile(r"^ansible-(?:playbook|inventory)\s+[-<\w@.]")
_INVENTORY = re.compile(r"(?:^|\s)(?:-i|--inventory(?:-file)?)(?:\s|=|$)")


def _commands(line: str) -> list[str]:
    """Each command in a line: from the tool's name to the end of that command (comment, ;, && or |)."""
    return [re.split(r"\s#\s|;|&&|\|\|?", line[m.start():])[0] for m in _TOOL.finditer(line)]


def missing_inventory(path: Path, root: Path = ROOT) -> list[str]:
    """'file:line: command' (file relative to root) for every documented command of the file without -i."""
    found: list[str] = []
    lines = path.read_text().splitlines()
    fenced = False
    previous_blank = True
    indented = False
    for number, line in enumerate(lines, 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        indented = (line.startswith("    ") or line.startswith("\t")) and (indented or previous_blank) and not fenced
        previous_blank = not line.strip()
        if fenced or indented:
            # A command continued with a trailing backslash: the -i may stand on a later line.
            text, follow = line, number
            while text.endswith("\\") and follow < len(lines):
                text, follow = text[:-1] + " " + lines[follow], follow + 1
            commands = [c for c in _commands(text) if _ARGUMENT.match(c)]
        elif path in RECORDS:
            continue
        else:
            commands = [c for span in _SPAN.findall(line) if _RUNNABLE.search(span) for c in _commands(span)]
        found += [f"{path.relative_to(root)}:{number}: {c.strip()}" for c in commands if not _INVENTORY.search(c)]
    return found


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_documented_command_names_its_inventory(path: Path) -> None:
    missing = missing_inventory(path)
    assert not missing, ("add -i (inventory/lab for the lab, inventory/<env>/hosts.yml for yours):\n"
                         + "\n".join(missing))


def test_the_check_catches_a_command_without_inventory(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("Run `ansible-playbook playbooks/site.yml` or `ansible-playbook -i inventory/lab playbooks/site.yml`.\n"
                   "a separate `ansible-playbook` process\n\n"
                   "    control machine (ansible-playbook / AWX)\n\n"
                   "```sh\nansible-inventory -i inventory/lab --graph\nmake lab  # ansible-playbook playbooks/lab.yml\n"
                   "ansible-playbook \\\n  -i inventory/lab playbooks/site.yml\n```\n\n"
                   "    ansible-playbook playbooks/network.yml\n")
    assert missing_inventory(doc, tmp_path) == ["doc.md:1: ansible-playbook playbooks/site.yml",
                                                "doc.md:8: ansible-playbook playbooks/lab.yml",
                                                "doc.md:13: ansible-playbook playbooks/network.yml"]


def test_there_are_documented_commands() -> None:
    assert any(_TOOL.search(p.read_text()) for p in DOCS)
