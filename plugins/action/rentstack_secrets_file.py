"""Action plugin rentstack_secrets_file: write the secrets file on the control machine, vault-encrypted when it was.

Runs entirely on the controller (the file belongs to the control machine, whatever host the task targets), so it can
use the vault secrets Ansible already holds for this run (--vault-password-file, --vault-id, an AWX vault
credential): a file that was vault-encrypted is written encrypted again, with the same vault ID, and never in clear.
Documentation: plugins/modules/rentstack_secrets_file.py.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import yaml
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.parsing.vault import VaultLib, is_encrypted, parse_vaulttext_envelope
from ansible.plugins.action import ActionBase

ARGS = {"path", "data", "encrypt", "vault_id", "mode", "header"}


def _plain(value: Any) -> Any:
    """Ansible's tagged/unsafe strings and containers as plain Python types, for yaml.safe_dump."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def render(data: dict[str, Any], header: str) -> str:
    """The file's plain text: the header as YAML comments, then the data (pure)."""
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) if header else ""
    return comments + yaml.safe_dump(_plain(data), default_flow_style=False, sort_keys=True, width=1000)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self._task.args
        unknown = sorted(set(args) - ARGS)
        if unknown:
            raise AnsibleActionFail(f"rentstack_secrets_file: unsupported option(s) {', '.join(unknown)}")
        path = args.get("path")
        data = args.get("data")
        if not path or not isinstance(path, str):
            raise AnsibleActionFail("rentstack_secrets_file: path is required (the secrets file on the control machine)")
        if not isinstance(data, dict):
            raise AnsibleActionFail("rentstack_secrets_file: data must be a mapping (what the file holds)")
        encrypt = args.get("encrypt")
        if encrypt is not None and not isinstance(encrypt, bool):
            raise AnsibleActionFail("rentstack_secrets_file: encrypt is true, false or unset (keep the file's form)")
        try:
            mode = int(str(args.get("mode", "0600")), 8)
        except ValueError as exc:
            raise AnsibleActionFail("rentstack_secrets_file: mode is an octal string such as '0600'") from exc
        path = os.path.expanduser(path)
        header = str(args.get("header") or "")

        old_text, old_vault_id = self._read(path)
        if encrypt is None:
            encrypt = old_vault_id is not None
        vault_id = args.get("vault_id") or old_vault_id
        data = _plain(data)
        old_data = yaml.safe_load(old_text) if old_text is not None else None
        content_changed = old_data != data
        form_changed = old_text is not None and (old_vault_id is not None) != encrypt
        mode_changed = os.path.exists(path) and (os.stat(path).st_mode & 0o7777) != mode
        result.update(path=path, encrypted=encrypt, changed=content_changed or form_changed or mode_changed)
        if encrypt:
            result["vault_id"] = vault_id or "default"
        if not result["changed"] or self._task.check_mode:
            return result
        if content_changed or form_changed:
            text = render(data, header)
            payload = self._encrypt(text, vault_id) if encrypt else to_bytes(text)
            self._write(path, payload, mode)
        else:
            os.chmod(path, mode)
        return result

    def _read(self, path: str) -> tuple[str | None, str | None]:
        """The file's plain text and the vault ID it was encrypted with ('default' for an unlabelled vault), or
        (None, None) when it does not exist. An encrypted file this run cannot open fails here, before any change."""
        if not os.path.exists(path):
            return None, None
        with open(path, "rb") as fh:
            raw = fh.read()
        if not is_encrypted(raw):
            return to_text(raw), None
        vault_id = parse_vaulttext_envelope(raw)[3]
        try:
            plain = VaultLib(self._secrets()).decrypt_and_get_vault_id(raw)[0]
        except Exception as exc:  # noqa: BLE001  AnsibleVaultError and friends: name the fix
            raise AnsibleActionFail(f"rentstack_secrets_file: cannot decrypt {path} ({exc}); run with the vault password "
                                    "that encrypted it (--vault-id or --vault-password-file). Nothing was changed.") from exc
        return to_text(plain), vault_id or "default"

    def _secrets(self) -> list[Any]:
        return list(self._loader._vault.secrets or [])

    def _encrypt(self, text: str, vault_id: str | None) -> bytes:
        secrets = self._secrets()
        if not secrets:
            raise AnsibleActionFail("rentstack_secrets_file: the file is to be vault-encrypted but this run has no vault "
                                    "password: add --vault-id or --vault-password-file (AWX: a vault credential). "
                                    "Nothing was changed.")
        chosen = [s for s in secrets if s[0] == vault_id] or ([] if vault_id and vault_id != "default" else secrets)
        if not chosen:
            names = ", ".join(s[0] for s in secrets)
            raise AnsibleActionFail(f"rentstack_secrets_file: no vault password with vault ID {vault_id!r} in this run "
                                    f"(it has {names}); add --vault-id {vault_id}@<source>. Nothing was changed.")
        label, secret = chosen[0]
        return VaultLib().encrypt(text, secret=secret, vault_id=None if label == "default" else label)

    @staticmethod
    def _write(path: str, payload: bytes, mode: int) -> None:
        """Atomically: a private temporary file in the same directory, renamed over the old one."""
        directory = os.path.dirname(path) or "."
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp_path = tempfile.mkstemp(prefix=".secrets-", dir=directory)
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
            os.replace(tmp_path, path)
        except BaseException:
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)
            raise
