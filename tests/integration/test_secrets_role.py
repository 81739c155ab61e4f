"""The secrets role on the control machine (no lab needed): where the file lives under AWX, and what it refuses.

AWX gives each job a fresh temporary inventory path, so a secrets file derived from the inventory's path would
give every job new passwords. $RENTSTACK_SECRETS_FILE (an injected credential or a persistent volume) or
-e secrets_file=... must win, and two jobs with different inventory paths must reuse the same secrets.
Without an override the file lives in the control machine user's ~/.config/rentstack/<cloud>/, never beside the
inventory (where every secret would be every host's variable). A vault-encrypted file that lacks a secret is written
encrypted again, its values kept. Compute hosts get only the secrets their services use.
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


SCOPES_PLAY = PLAY + """
- name: Show which secrets each host got (names only)
  hosts: all
  gather_facts: false
  tasks:
    - name: Names of this host's secrets
      ansible.builtin.debug:
        msg: "SECRET-NAMES {{ inventory_hostname }} {{ rentstack_secrets.keys() | sort | join(',') }}"
"""
# Hosts that are never contacted (the plays above only run on localhost and debug): groups as the lab's.
HOSTS = """all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: {python}
  children:
    controller:
      hosts:
        ctl-x: {{}}
    compute:
      hosts:
        cmp-x: {{}}
"""


def job(tmp_path: Path, name: str, env: dict[str, str], *extra: str,
        play: str = PLAY) -> subprocess.CompletedProcess[str]:
    """One AWX-like job: a fresh inventory directory of its own, the playbook, the given environment.
    XDG_CONFIG_HOME is the job's own directory unless `env` sets it, so no test touches the lab's secrets."""
    job_dir = tmp_path / name
    (job_dir / "inventory").mkdir(parents=True, exist_ok=True)
    (job_dir / "inventory" / "hosts.yml").write_text(HOSTS.format(python=sys.executable))
    (job_dir / "play.yml").write_text(play)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RENTSTACK_SECRETS")}
    full_env.update({"ANSIBLE_STRATEGY": "linear", "XDG_CONFIG_HOME": str(job_dir / "config"), **env})
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


def test_without_an_override_the_file_goes_to_the_users_config_never_beside_the_inventory(tmp_path: Path) -> None:
    result = job(tmp_path, "job", {})
    assert result.returncode == 0, result.stdout + result.stderr
    secrets = tmp_path / "job" / "config" / "rentstack" / "rentstack" / "secrets.yml"
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert secrets.parent.stat().st_mode & 0o777 == 0o700
    assert not (tmp_path / "job" / "inventory" / "group_vars").exists()


def test_secrets_left_beside_the_inventory_stop_the_run_naming_the_move(tmp_path: Path) -> None:
    legacy = tmp_path / "job" / "inventory" / "group_vars" / "all" / "secrets.yml"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(yaml.safe_dump({"rentstack_secrets": {"admin": "y" * 32}}))
    before = digest(legacy)
    result = job(tmp_path, "job", {})
    assert result.returncode != 0
    text = " ".join(result.stdout.split())
    new = tmp_path / "job" / "config" / "rentstack" / "rentstack" / "secrets.yml"
    assert f"mv {legacy} {new}" in text and "Nothing was changed" in text, result.stdout
    assert digest(legacy) == before and not new.exists()


def vault(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "ansible-vault"), *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)


def test_adding_a_secret_to_an_encrypted_file_keeps_it_encrypted_and_its_values(tmp_path: Path) -> None:
    secrets = tmp_path / "vaulted.yml"
    secrets.write_text(yaml.safe_dump({"rentstack_secrets": {"admin": "x" * 32}}))
    password = tmp_path / "vault-pass"
    password.write_text("not-a-real-password\n")
    password.chmod(0o600)
    enc = vault(tmp_path, "encrypt", "--vault-id", f"ops@{password}", str(secrets))
    assert enc.returncode == 0, enc.stderr
    result = job(tmp_path, "job", {}, "-e", f"secrets_file={secrets}", "--vault-id", f"ops@{password}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert secrets.read_text().startswith("$ANSIBLE_VAULT;1.2;AES256;ops\n"), "not encrypted with the same vault ID"
    assert secrets.stat().st_mode & 0o777 == 0o600
    plain = vault(tmp_path, "view", "--vault-id", f"ops@{password}", str(secrets))
    assert plain.returncode == 0, plain.stderr
    values = yaml.safe_load(plain.stdout)["rentstack_secrets"]
    assert values["admin"] == "x" * 32, "an existing secret changed"
    assert {"mariadb_root", "nova", "nova_migration_ssh_key"} <= set(values)
    assert values["admin"] not in result.stdout and values["mariadb_root"] not in result.stdout
    # Nothing to add: the file is left as it is (not re-encrypted with a new salt).
    before = digest(secrets)
    again = job(tmp_path, "job", {}, "-e", f"secrets_file={secrets}", "--vault-id", f"ops@{password}")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "changed=0" in again.stdout and digest(secrets) == before


def test_an_encrypted_file_without_its_password_fails_before_any_change(tmp_path: Path) -> None:
    secrets = tmp_path / "vaulted.yml"
    secrets.write_text(yaml.safe_dump({"rentstack_secrets": {"admin": "x" * 32}}))
    password = tmp_path / "vault-pass"
    password.write_text("not-a-real-password\n")
    assert vault(tmp_path, "encrypt", "--vault-password-file", str(password), str(secrets)).returncode == 0
    before = digest(secrets)
    result = job(tmp_path, "job", {}, "-e", f"secrets_file={secrets}")
    assert result.returncode != 0
    assert "run with the vault password that encrypted it" in " ".join((result.stdout + result.stderr).split()), result.stdout
    assert digest(secrets) == before


def test_compute_hosts_get_only_the_secrets_their_services_use(tmp_path: Path) -> None:
    """With secrets_scopes set (off by default: add_compute.yml's cell mapping runs in the new host's context)."""
    scopes = '{"secrets_scopes": {"compute": ["rabbitmq", "nova", "placement", "neutron", "metadata_secret", ' \
             '"memcache_secret", "nova_migration_ssh_key"]}}'
    result = job(tmp_path, "job", {}, "-e", scopes, play=SCOPES_PLAY)
    assert result.returncode == 0, result.stdout + result.stderr
    got = dict(line.split("SECRET-NAMES ", 1)[1].strip().strip('"').split(" ", 1)
               for line in result.stdout.splitlines() if "SECRET-NAMES " in line)
    full = set(yaml.safe_load((tmp_path / "job" / "config" / "rentstack" / "rentstack" / "secrets.yml").read_text())
               ["rentstack_secrets"])
    assert set(got["cmp-x"].split(",")) == {"rabbitmq", "nova", "placement", "neutron", "metadata_secret",
                                            "memcache_secret", "nova_migration_ssh_key"}
    assert set(got["ctl-x"].split(",")) == full and set(got["localhost"].split(",")) == full
    # Without scopes (the default) every host gets every secret.
    plain = job(tmp_path, "job", {}, play=SCOPES_PLAY)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    names = [line.split("SECRET-NAMES ", 1)[1].strip().strip('"').split(" ", 1)
             for line in plain.stdout.splitlines() if "SECRET-NAMES " in line]
    assert names and all(set(keys.split(",")) == full for _, keys in names), names
