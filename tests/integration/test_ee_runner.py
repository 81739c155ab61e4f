"""The playbooks run as AWX runs them: `ansible-runner run` inside the execution environment image
(localhost/rentstack-ee:latest, `make ee`), each job in a fresh private_data_dir laid out as AWX lays it out
(docs/awx.md, "What the ee-test checks"):

- project/      the repository's tracked files as they are in the work tree (no .venv, .cache, secrets);
- inventory/hosts  an executable printing the lab inventory as JSON, without the secrets file's values and
                   without ansible_ssh_private_key_file (AWX gives those through credentials);
- env/ssh_key   the lab's SSH key (a machine credential); env/extravars (a survey); env/settings;
- env/envvars   OS_CLIENT_CONFIG_FILE + OS_CLOUD=devstack (AWX's OpenStack credential: a clouds.yaml with one
                entry named devstack, made from the lab's `rentstack` admin entry) and RENTSTACK_SECRETS_FILE
                (the "rentstack secrets" credential of awx/objects.yml: a 0600 copy of the lab's secrets file).

The container runs as uid 1000, gid 0, as AWX's do: the project must not need root on the control node.
Only with RENTSTACK_EE=1 (`make ee-test`); it loads the shared lab, so run it under
`flock /tmp/rentstack-lab.lock`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labcloud import inventory_data, leftovers  # noqa: E402
from runner import (  # noqa: E402
    INVENTORY, REPO, Result, _bounded, lab_secrets_file, lab_settings, result_from_artifacts, run_playbook)

pytestmark = pytest.mark.skipif(
    os.environ.get("RENTSTACK_EE") != "1",
    reason="runs site.yml (--check, then twice), a 2-VM rental and the report through ansible-runner inside the "
           "execution environment image on the deployed lab (about 4 min with the image built; it loads the shared lab): run it with "
           "`make ee-test` (builds the image, then RENTSTACK_EE=1 pytest tests/integration/test_ee_runner.py), as "
           "root, with the lab deployed")

BIN = Path(sys.executable).parent
IMAGE = os.environ.get("RENTSTACK_EE_IMAGE", "localhost/rentstack-ee:latest")
SECRETS = lab_secrets_file()
HOST_CLOUDS = Path.home() / ".config" / "openstack" / "clouds.yaml"
# AWX's OpenStack credential names its clouds.yaml entry devstack (awx/main/models/credential/injectors.py).
CLOUD = "devstack"
# The user of AWX's execution environments (ansible-builder's images end with USER 1000; the group is root's).
JOB_UID, JOB_GID = 1000, 0
# podman on this machine needs the ulimits (docs/awx.md); the lab hosts are on a bridge of this machine.
CONTAINER_OPTIONS = ["--network=host", "--ulimit=nofile=20000:20000", "--ulimit=nproc=20000:20000",
                     f"--user={JOB_UID}:{JOB_GID}"]
# Variables AWX gives through credentials, never through the inventory.
# A `podman` first on ansible-runner's PATH: gives the private_data_dir to the job's user, then runs podman
# (see the script for why).
PODMAN_DIR = Path(__file__).resolve().parent / "ee_bin"
NOT_IN_INVENTORY = ("rentstack_secrets", "ansible_ssh_private_key_file")
# What the job templates of awx/objects.yml set (the deploy's extra vars).
DEPLOY_VARS = yaml.safe_load((REPO / "awx" / "objects.yml").read_text())[0]["vars"]["awx_deploy_extra_vars"]
SURVEY = {"rental_requester": "ee-test@example.com", "rental_project": "A1", "rental_flavor": "m1.nano",
          "rental_image": "rentstack-guest", "rental_count": 2, "rental_prefix": "ee-test",
          "rental_floating_ip": "true", "rental_expires": ""}
SITE_TIMEOUT = 3600
JOB_TIMEOUT = 1800


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def secret_values() -> dict[str, str]:
    return {name: str(value) for name, value in yaml.safe_load(SECRETS.read_text())["rentstack_secrets"].items()}


def strip(node: Any) -> Any:
    """The inventory data without the variables AWX gives through credentials."""
    if isinstance(node, dict):
        return {key: strip(value) for key, value in node.items() if key not in NOT_IN_INVENTORY}
    if isinstance(node, list):
        return [strip(value) for value in node]
    return node


@pytest.fixture(scope="module")
def ee_image() -> str:
    exists = subprocess.run(["podman", "image", "exists", IMAGE], check=False, timeout=60)
    assert exists.returncode == 0, f"no image {IMAGE}: build it with `make ee` (`make ee-test` does)"
    return IMAGE


@pytest.fixture(scope="module")
def project_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The AWX project: the tracked files as they are in the work tree (uncommitted changes included)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60)
    tree = tmp_path_factory.mktemp("ee-project") / "project"
    for name in listed.stdout.decode().split("\0"):
        source = REPO / name
        if not name or not (source.exists() or source.is_symlink()):
            continue  # deleted in the work tree
        target = tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return tree


@pytest.fixture(scope="module")
def lab_inventory() -> dict[str, Any]:
    """`ansible-inventory --list --export` of inventory/lab, as an AWX inventory synced from it holds it."""
    listed = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(INVENTORY), "--list", "--export"], cwd=REPO,
                            capture_output=True, text=True, timeout=300, check=False)
    assert listed.returncode == 0, listed.stderr
    data = strip(inventory_data(listed.stdout))
    text = json.dumps(data)
    leaked = [name for name, value in secret_values().items() if value in text]
    assert not leaked, f"secrets left in the inventory: {leaked}"
    assert "ctl1" in data["controller"]["hosts"], data.get("controller")
    return data


@pytest.fixture(scope="module")
def clouds_yaml() -> str:
    """The OpenStack credential's clouds.yaml: the lab's admin entry, renamed (AWX has only this one entry)."""
    clouds = yaml.safe_load(HOST_CLOUDS.read_text())["clouds"]
    return yaml.safe_dump({"clouds": {CLOUD: clouds["rentstack"]}})


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ee-jobs")


def write_inventory_script(path: Path, data: dict[str, Any]) -> None:
    """An executable that prints `data` for --list, as the inventory script AWX hands a job."""
    path.write_text("#!/usr/bin/env python3\nimport json, sys\n"
                    f"DATA = json.loads({json.dumps(data)!r})\n"
                    "print(json.dumps(DATA if '--list' in sys.argv else {}))\n")
    path.chmod(0o755)


class Job:
    """One AWX-like job: a fresh private_data_dir, `ansible-runner run` in the image, its artifacts read back."""

    def __init__(self, root: Path, name: str, project: Path, inventory: dict[str, Any], clouds: str) -> None:
        self.name, self.pdd = name, root / name
        shutil.copytree(project, self.pdd / "project", symlinks=True)
        (self.pdd / "inventory").mkdir()
        write_inventory_script(self.pdd / "inventory" / "hosts", inventory)
        env = self.pdd / "env"
        env.mkdir()
        # Credential files as AWX writes them: tmp* names in env/, 0600, the paths in the job's environment.
        self.secrets = env / "tmpsecrets_ee"
        shutil.copyfile(SECRETS, self.secrets)
        self.secrets.chmod(0o600)
        (env / "tmpopenstack_ee").write_text(clouds)
        (env / "tmpopenstack_ee").chmod(0o600)
        (env / "ssh_key").write_text((Path(lab_settings()["lab_state_dir"]) / "ssh" / "id_ed25519").read_text())
        (env / "ssh_key").chmod(0o600)
        (env / "envvars").write_text(yaml.safe_dump({
            "OS_CLIENT_CONFIG_FILE": "/runner/env/tmpopenstack_ee",
            "OS_CLOUD": CLOUD,
            "RENTSTACK_SECRETS_FILE": "/runner/env/tmpsecrets_ee",
        }))

    def run(self, playbook: str, extravars: dict[str, Any] | None = None, cmdline: str | None = None,
            timeout: int = JOB_TIMEOUT) -> Result:
        env = self.pdd / "env"
        (env / "extravars").write_text(yaml.safe_dump(extravars or {}))
        (env / "settings").write_text(yaml.safe_dump({"job_timeout": _bounded(timeout)}))
        self.own()
        argv = [str(BIN / "ansible-runner"), "run", str(self.pdd), "-p", playbook, "--ident", self.name,
                "--process-isolation", "--process-isolation-executable", "podman", "--container-image", IMAGE,
                *[f"--container-option={option}" for option in CONTAINER_OPTIONS]]
        if cmdline:
            argv.append(f"--cmdline={cmdline}")  # "=": argparse takes a lone "--check" for an option
        started = time.monotonic()
        path = {**os.environ, "PATH": f"{PODMAN_DIR}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_bounded(timeout) + 300, check=False,
                              env=path)
        artifacts = self.pdd / "artifacts" / self.name
        assert (artifacts / "job_events").is_dir(), f"no artifacts from {argv}:\n{done.stdout[-3000:]}{done.stderr}"
        result = result_from_artifacts(artifacts)
        print(f"{self.name}: {playbook} {cmdline or ''} rc={result.rc} {time.monotonic() - started:.0f}s "
              f"changed={result.per_host('changed')}")
        return result

    def own(self) -> None:
        """The job's user owns its private_data_dir (AWX's runs as the job's user): chown to uid 1000, gid 0."""
        for path in [self.pdd, *self.pdd.rglob("*")]:
            os.chown(path, JOB_UID, JOB_GID, follow_symlinks=False)

    def outputs(self) -> str:
        """Every file the run wrote under artifacts/ (stdout, events, command, ...)."""
        return "\n".join(path.read_text(errors="replace") for path in (self.pdd / "artifacts").rglob("*")
                         if path.is_file())


@pytest.fixture(scope="module")
def new_job(ee_image: str, jobs: Path, project_tree: Path, lab_inventory: dict[str, Any], clouds_yaml: str):  # noqa: ANN201
    made: list[Job] = []

    def make(name: str, inventory: dict[str, Any] | None = None) -> Job:
        job = Job(jobs, name, project_tree, inventory or lab_inventory, clouds_yaml)
        made.append(job)
        return job

    make.made = made
    return make


@pytest.fixture(scope="module")
def secrets_digest() -> str:
    return digest(SECRETS)


@pytest.fixture(scope="module")
def site_check(new_job, secrets_digest: str) -> Result:  # noqa: ANN001
    # The whole of site.yml, verify and bootstrap_cloud included (test_90 skips those tags to save CI time).
    return new_job("site-check").run("playbooks/site.yml", DEPLOY_VARS, cmdline="--check", timeout=SITE_TIMEOUT)


@pytest.fixture(scope="module")
def site_runs(new_job, site_check: Result) -> list[tuple[Job, Result]]:  # noqa: ANN001
    runs = []
    for name in ("site-1", "site-2"):
        job = new_job(name)
        runs.append((job, job.run("playbooks/site.yml", DEPLOY_VARS, timeout=SITE_TIMEOUT)))
    return runs


def changed_tasks(result: Result) -> list[str]:
    return [f"{e['event_data']['host']}: {e['event_data'].get('task')} ({e['event_data'].get('task_path')})"
            for e in result.task_events("runner_on_ok") if e["event_data"].get("res", {}).get("changed")]


def test_a_job_runs_in_the_image_as_uid_1000(new_job) -> None:  # noqa: ANN001
    """The layout, the inventory script, the injected files and the SSH agent work (no lab host is touched)."""
    job = new_job("syntax")
    result = job.run("playbooks/site.yml", DEPLOY_VARS, cmdline="--syntax-check", timeout=300)
    assert result.rc == 0, result.explain()
    command = json.loads((job.pdd / "artifacts" / "syntax" / "command").read_text())["command"]
    assert command[:2] == ["podman", "run"] and f"--user={JOB_UID}:{JOB_GID}" in command, command
    assert IMAGE in command and any("ssh-add" in arg for arg in command), command


def test_site_check_mode_passes_in_the_ee(site_check: Result) -> None:
    assert site_check.rc == 0, site_check.explain()
    assert not site_check.per_host("failures") or not any(site_check.per_host("failures").values()), site_check.explain()
    assert {"ctl1", "cmp1", "cmp2", "localhost"} <= set(site_check.hosts), site_check.hosts


def test_site_twice_in_fresh_jobs_keeps_the_secrets_and_changes_nothing_the_second_time(
        site_runs: list[tuple[Job, Result]], secrets_digest: str) -> None:
    (_, first), (second_job, second) = site_runs
    assert first.rc == 0, first.explain()
    print("first run changed:", changed_tasks(first))
    assert second.rc == 0, second.explain()
    assert {"ctl1", "cmp1", "cmp2", "localhost"} <= set(second.hosts), second.hosts
    changed = {host: n for host, n in second.per_host("changed").items() if n}
    assert not changed, f"second run changed {changed}: {changed_tasks(second)}"
    for job, _ in site_runs:
        assert digest(job.secrets) == secrets_digest, f"{job.name} rewrote its injected secrets file"
    assert digest(SECRETS) == secrets_digest, "the lab's secrets file changed"
    # The keystone role's write into the container's throwaway home is off (awx_deploy_extra_vars).
    writes = [e for e in second.task_events() if (e["event_data"].get("task") or "").startswith(
        "Write the admin and demo entries into clouds.yaml")]
    outcomes = [e["event"] for e in writes if e["event"] != "runner_on_start"]
    assert outcomes and set(outcomes) == {"runner_on_skipped"}, outcomes


def test_no_secret_in_any_runner_output(site_runs: list[tuple[Job, Result]], new_job) -> None:  # noqa: ANN001
    secrets = {name: value for name, value in secret_values().items() if len(value) >= 8}
    assert {"admin", "mariadb_root", "demo"} <= set(secrets)
    for job in new_job.made:
        text = job.outputs()
        assert len(text) > 1000, f"{job.name}: no artifacts to search"
        found = [name for name, value in secrets.items() if value in text]
        assert not found, f"{job.name}: secrets in the runner's artifacts: {found}"


def test_a_bad_survey_value_fails_before_any_change(new_job) -> None:  # noqa: ANN001
    before = leftovers(SURVEY["rental_project"], SURVEY["rental_prefix"])
    result = new_job("bad-survey").run("playbooks/vms_create.yml", {**SURVEY, "rental_count": 0})
    assert result.rc != 0, result.explain()
    assert any("rental_count" in message for message in result.failure_messages()), result.failure_messages()
    assert not any(result.per_host("changed").values()), result.per_host("changed")
    assert not [e for e in result.task_events() if e["event_data"].get("task") == "Create the VMs"]
    assert leftovers(SURVEY["rental_project"], SURVEY["rental_prefix"]) == before


def resource_inventory(job: Job) -> dict[str, Any]:
    """An AWX inventory sync of the project's resource inventory source (inventory/example/cloud.rentstack.yml,
    no `cloud:`: it takes $OS_CLOUD), run in the image with the job's cloud credential, as AWX runs it. AWX keeps
    a source's group variables on their groups (--export): the project rows (rentstack_projects) are variables
    of `all`, which the report's play on localhost reads."""
    job.own()
    synced = subprocess.run(
        ["podman", "run", "--rm", *CONTAINER_OPTIONS, "-v", f"{job.pdd}:/runner", "-w", "/runner/project",
         "-e", "OS_CLIENT_CONFIG_FILE=/runner/env/tmpopenstack_ee", "-e", f"OS_CLOUD={CLOUD}", IMAGE,
         "ansible-inventory", "-i", "inventory/example/cloud.rentstack.yml", "--list", "--export"],
        capture_output=True, text=True, timeout=600, check=False)
    assert synced.returncode == 0, synced.stderr[-3000:]
    return inventory_data(synced.stdout)


def test_rental_create_report_delete_with_survey_variables(new_job) -> None:  # noqa: ANN001
    project, prefix = SURVEY["rental_project"], SURVEY["rental_prefix"]
    before = leftovers(project, prefix)
    assert not before["servers"], f"{prefix}-* servers left from an earlier run: {before['servers']}"
    try:
        created = new_job("vms-create").run("playbooks/vms_create.yml", SURVEY)
        assert created.rc == 0, created.explain()
        vms = created.artifacts()["rentstack_vms"]
        assert vms["operation"] == "create" and int(vms["request"]["count"]) == 2, vms
        assert (vms["summary"]["active"], vms["summary"]["failed"]) == (2, 0), vms["summary"]
        assert len(leftovers(project, prefix)["servers"]) == 2

        report_job = new_job("report")
        inventory = resource_inventory(report_job)
        assert {"cmp1", "cmp2"} <= set(inventory["compute_hosts"]["hosts"]), inventory.get("compute_hosts")
        write_inventory_script(report_job.pdd / "inventory" / "hosts", inventory)
        report = report_job.run("playbooks/report.yml")
        assert report.rc == 0, report.explain()
        rows = report.artifacts()["rentstack_report"]
        assert int(rows["instance_count"]) >= 2, rows["instance_count"]
        assert {"cmp1", "cmp2"} <= {str(row.get("host", row.get("name"))) for row in rows["hosts"]}, rows["hosts"]
        assert project in json.dumps(rows["projects"]), rows["projects"]

        deleted = new_job("vms-delete").run("playbooks/vms_delete.yml", SURVEY)
        assert deleted.rc == 0, deleted.explain()
        gone = deleted.artifacts()["rentstack_vms"]
        assert gone["operation"] == "delete", gone
    finally:
        # Whatever happened above: the host's own delete of the set (tests/integration/runner.py).
        if leftovers(project, prefix)["servers"]:
            run_playbook("playbooks/vms_delete.yml", extravars=SURVEY)
    after = leftovers(project, prefix)
    assert not after["servers"], after
    assert sorted(after["ports"]) == sorted(before["ports"]), (before, after)
    assert sorted(after["floating_ips"]) == sorted(before["floating_ips"]), (before, after)
