"""playbooks/keystone_rotate.yml on the deployed lab (issue 24): Fernet and credential key rotation.

Not due (keys younger than keystone_key_rotation_days) it changes nothing. Forced, it rotates: the primary Fernet
key's number goes up, a token issued before still validates, a credential stored before is still readable (its
blob re-encrypted with the new credential key), and a new token works.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner import Result, lab_settings, run_playbook  # noqa: E402


def primary_key(directory: str) -> int:
    out = subprocess.run(["podman", "exec", f"{lab_settings()['lab_prefix']}-ctl1", "ls", directory],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return max(int(name) for name in out.split())


def test_rotation_keeps_tokens_and_credentials(site_first: Result, tmp_path: Path) -> None:
    import openstack

    assert site_first.rc == 0, site_first.explain()
    idle = run_playbook("playbooks/keystone_rotate.yml", tmp_path / "idle")
    assert idle.rc == 0, idle.explain()
    assert idle.per_host("changed") == {"ctl1": 0}, idle.explain()
    assert "Not due" in idle.stdout

    conn = openstack.connect(cloud="rentstack")
    token = conn.auth_token
    user = conn.current_user_id
    blob = json.dumps({"access": "rentstack-rotate-test", "secret": "not-a-real-secret"})
    credential = conn.identity.create_credential(type="ec2", blob=blob, user_id=user,
                                                 project_id=conn.current_project_id)
    fernet_before = primary_key("/etc/keystone/fernet-keys")
    credential_before = primary_key("/etc/keystone/credential-keys")
    try:
        forced = run_playbook("playbooks/keystone_rotate.yml", tmp_path / "forced",
                              extravars={"keystone_key_rotation_force": True})
        assert forced.rc == 0, forced.explain()
        assert forced.per_host("changed")["ctl1"] >= 1, forced.explain()
        assert primary_key("/etc/keystone/fernet-keys") == fernet_before + 1
        assert primary_key("/etc/keystone/credential-keys") == credential_before + 1
        # The token issued before the rotation, checked from here too (the playbook checks its own).
        import requests

        check = requests.get(conn.identity.get_endpoint_data().url.rstrip("/") + "/auth/tokens",
                             headers={"X-Auth-Token": token, "X-Subject-Token": token}, timeout=30)
        assert check.status_code == 200, check.text
        fresh = openstack.connect(cloud="rentstack")
        assert fresh.identity.get_credential(credential.id).blob == blob
    finally:
        openstack.connect(cloud="rentstack").identity.delete_credential(credential.id, ignore_missing=True)
    again = run_playbook("playbooks/keystone_rotate.yml", tmp_path / "again")
    assert again.rc == 0 and again.per_host("changed") == {"ctl1": 0}, again.explain()
