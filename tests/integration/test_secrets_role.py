"""The secrets role on the control machine (no lab needed): where the file lives under AWX, and what it refuses.

AWX gives each job a fresh temporary inventory path, so a secrets file derived from the inventory's path would
give every job new passwords. $RENTSTACK_SECRETS_FILE (an injected credential or a persistent volume) or
-e secrets_file=... must win, and two jobs with different inventory paths must reuse the same secrets.
A vault-encrypted file that lacks a secret is never rewritten in clear.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLAY = """- name: Load or generate the secrets
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: secrets
      secrets_extra_names: []
"""


def job(tmp_path: Path, name: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """One AWX-like job: a fresh inventory directory of its own, the playbook, the given environment."""
    job_dir = tmp_path / name
    (job_dir / "inventory").mkdir(parents=True)
    (job_dir / "inventory" / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                                                     f"      ansible_python_interpreter: {sys.executable}\n")
    (job_dir / "play.yml").write_text(PLAY)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RENTSTACK_SECRETS")}
    full_env.update({"ANSIBLE_STRATEGY": "linear", **env})
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(job_dir / "inventory"), str(job_dir / "play.yml"),
                           *extra], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300, check=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_jobs_with_fresh_inventory_paths_reuse_the_secrets_file(tmp_path: Path) -> None:
    secrets = tmp_path / "persistent" / "secrets.yml"
    secrets.parent.mkdir()
    first = job(tmp_path, "job1", {"RENTSTACK_SECRETS_FILE": str(secrets)})
    assert first.returncode == 0, first.stdout + first.stderr
    assert secrets.stat().st_mode & 0o777 == 0o600
    names = set(yaml.safe_load(secrets.read_text())["rentstack_secrets"])
    assert {"admin", "mariadb_root", "nova_migration_ssh_key"} <= names
    assert not (tmp_path / "job1" / "inventory" / "group_vars").exists(), "written beside the inventory too"
    before = digest(secrets)
    second = job(tmp_path, "job2", {"RENTSTACK_SECRETS_FILE": str(secrets)})
    assert second.returncode == 0, second.stdout + second.stderr
    assert digest(secrets) == before, "the second job rotated secrets"
    assert "changed=0" in second.stdout, second.stdout
    # No secret value reaches the output.
    admin = yaml.safe_load(secrets.read_text())["rentstack_secrets"]["admin"]
    assert admin not in first.stdout + second.stdout


def test_without_an_override_the_file_goes_beside_the_inventory(tmp_path: Path) -> None:
    result = job(tmp_path, "job", {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "job" / "inventory" / "group_vars" / "all" / "secrets.yml").stat().st_mode & 0o777 == 0o600


def test_an_encrypted_file_lacking_a_secret_is_not_rewritten_in_clear(tmp_path: Path) -> None:
    secrets = tmp_path / "vaulted.yml"
    secrets.write_text(yaml.safe_dump({"rentstack_secrets": {"admin": "x" * 32}}))
    password = tmp_path / "vault-pass"
    password.write_text("not-a-real-password\n")
    password.chmod(0o600)
    enc = subprocess.run([str(BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(password), str(secrets)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert enc.returncode == 0, enc.stderr
    before = digest(secrets)
    result = job(tmp_path, "job", {}, "-e", f"secrets_file={secrets}", "--vault-password-file", str(password))
    assert result.returncode != 0
    text = " ".join(result.stdout.split())
    assert "vault-encrypted" in text and "mariadb_root" in text and "Nothing was changed" in text, result.stdout
    assert digest(secrets) == before and secrets.read_text().startswith("$ANSIBLE_VAULT")
