"""awx/objects.yml (AWX job templates, surveys, workflows as code) checked without an AWX server.

Each task's arguments are validated against the awx.awx module's documented argument spec (ansible-doc: option
names and aliases, choices, required options, sub-options of the workflow nodes); the surveys against AWX's survey
format and the variables the rental playbooks accept; the job templates against the playbooks in the tree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OBJECTS = ROOT / "awx" / "objects.yml"
sys.path.insert(0, str(ROOT / "plugins" / "filter"))
from rental import FLAT  # noqa: E402

# AWX's survey question types (awx/api/serializers.py, SurveySpec validation).
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def play() -> dict[str, Any]:
    return yaml.safe_load(OBJECTS.read_text())[0]


def module_tasks() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(module, its arguments, the task) for every awx.awx task."""
    found = []
    for task in play()["tasks"]:
        for key, value in task.items():
            if key.startswith("awx.awx."):
                found.append((key, value, task))
    return found


@pytest.fixture(scope="module")
def specs() -> dict[str, dict[str, Any]]:
    modules = sorted({module for module, _, _ in module_tasks()})
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "-j", *modules], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    return {name: doc["doc"]["options"] for name, doc in json.loads(out.stdout).items()}


def templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def problems(options: dict[str, Any], args: dict[str, Any], where: str) -> list[str]:
    """What is wrong with `args` under the documented `options` (recursing into sub-options)."""
    names = {}
    for name, option in options.items():
        names[name] = option
        for alias in option.get("aliases", []):
            names[alias] = option
    found = [f"{where}: unknown option {key!r}" for key in args if key not in names]
    for name, option in options.items():
        given = [k for k in [name, *option.get("aliases", [])] if k in args]
        if option.get("required") and not given:
            found.append(f"{where}: required option {name!r} missing")
        for key in given:
            value = args[key]
            if templated(value):
                continue
            if option.get("choices") and value not in option["choices"]:
                found.append(f"{where}: {key}={value!r} not one of {option['choices']}")
            sub = option.get("suboptions")
            if sub and option.get("type") == "list" and isinstance(value, list):
                for i, element in enumerate(value):
                    found += problems(sub, element, f"{where}.{key}[{i}]") if isinstance(element, dict) else []
            elif sub and option.get("type") == "dict" and isinstance(value, dict):
                found += problems(sub, value, f"{where}.{key}")
    return found


def test_the_file_has_the_objects_the_issue_asks_for() -> None:
    modules = [module for module, _, _ in module_tasks()]
    assert modules.count("awx.awx.workflow_job_template") == 2
    assert {"awx.awx.job_template", "awx.awx.project", "awx.awx.credential_type",
            "awx.awx.execution_environment"} <= set(modules)


def test_every_task_matches_its_modules_argument_spec(specs: dict[str, dict[str, Any]]) -> None:
    found = []
    for module, args, task in module_tasks():
        found += problems(specs[module], args, f"{task['name']} ({module})")
    assert not found, "\n".join(found)


def test_the_validator_catches_mistakes(specs: dict[str, dict[str, Any]]) -> None:
    """A wrong option, a value off its choices and a bad workflow node are each reported."""
    spec = specs["awx.awx.workflow_job_template"]
    bad = {"name": "x", "colour": "red", "state": "gone",
           "workflow_nodes": [{"identifier": "a", "unified_job_template": {"name": "n"}, "relatd": {}}]}
    text = "\n".join(problems(spec, bad, "t"))
    assert "unknown option 'colour'" in text and "state='gone'" in text and "workflow_nodes[0]: unknown option 'relatd'" in text


def test_job_templates_run_playbooks_that_exist() -> None:
    templates = play()["vars"]["awx_job_templates"]
    assert {t["playbook"] for t in templates} >= {"playbooks/site.yml", "playbooks/verify.yml", "playbooks/report.yml",
                                                  "playbooks/vms_create.yml"}
    for template in templates:
        assert (ROOT / template["playbook"]).is_file(), template


def test_workflow_nodes_name_job_templates_of_this_file() -> None:
    names = {t["name"] for t in play()["vars"]["awx_job_templates"]}
    for module, args, _ in module_tasks():
        if module == "awx.awx.workflow_job_template":
            identifiers = {node["identifier"] for node in args["workflow_nodes"]}
            for node in args["workflow_nodes"]:
                assert node["unified_job_template"]["name"] in names, node
                for kind in ("success_nodes", "failure_nodes", "always_nodes"):
                    for child in node.get("related", {}).get(kind, []):
                        assert child["identifier"] in identifiers, child


def test_the_survey_asks_exactly_what_the_rental_playbooks_accept() -> None:
    survey = play()["vars"]["awx_rental_survey"]
    assert {"name", "description", "spec"} <= set(survey)
    for question in survey["spec"]:
        assert {"question_name", "variable", "type", "required"} <= set(question), question
        assert question["type"] in SURVEY_TYPES, question
        if question["type"] in ("multiplechoice", "multiselect"):
            assert question.get("choices"), question
    assert {q["variable"] for q in survey["spec"]} == set(FLAT.values())
    menu = {q["variable"]: q["choices"] for q in survey["spec"] if q["type"] == "multiplechoice"}
    assert menu["rental_flavor"] == "{{ rentstack_menu_flavors }}" and menu["rental_image"] == "{{ rentstack_menu_images }}"


def test_the_secrets_credential_sets_what_the_secrets_role_reads() -> None:
    ctype = next(args for module, args, _ in module_tasks() if module == "awx.awx.credential_type")
    assert "RENTSTACK_SECRETS_FILE" in ctype["injectors"]["env"]
    assert "'RENTSTACK_SECRETS_FILE'" in (ROOT / "roles" / "secrets" / "defaults" / "main.yml").read_text()
