"""Generate secrets for names that do not have one yet."""

from __future__ import annotations

import secrets
import string
from typing import Any

_ALPHABET = string.ascii_letters + string.digits


def fill_secrets(current: dict[str, str], names: list[str], length: int = 32) -> dict[str, str]:
    """Return current plus a new random secret for each name it lacks.

    Existing values are never changed. Letters and digits only, so a secret is
    safe inside URLs (transport_url, database connection strings) and INI files.
    """
    if int(length) < 16:
        raise ValueError(f"secrets_length must be at least 16, got {length}")
    result = dict(current or {})
    for name in names:
        if not result.get(name):
            result[name] = "".join(secrets.choice(_ALPHABET) for _position in range(int(length)))
    return result


def fill_ssh_keys(current: dict[str, str], names: list[str]) -> dict[str, str]:
    """Return current plus a new Ed25519 private key (OpenSSH format) for each name it lacks.

    Used for the key pair the compute hosts' nova users share for migrations
    (docs/operations.md). Existing keys are never changed.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    result = dict(current or {})
    for name in names:
        if not result.get(name):
            key = Ed25519PrivateKey.generate()
            result[name] = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
            ).decode("ascii")
    return result


def ssh_public_key(private_key: str, comment: str = "") -> str:
    """The OpenSSH public key line of an OpenSSH private key (no passphrase)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_ssh_private_key(private_key.encode("ascii"), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode("ascii") + (f" {comment}" if comment else "")


class FilterModule:
    """rentstack secret filters."""

    def filters(self) -> dict[str, Any]:
        return {"fill_secrets": fill_secrets, "fill_ssh_keys": fill_ssh_keys, "ssh_public_key": ssh_public_key}
