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
            result[name] = "".join(secrets.choice(_ALPHABET) for _ in range(int(length)))
    return result


class FilterModule:
    """rentstack secret filters."""

    def filters(self) -> dict[str, Any]:
        return {"fill_secrets": fill_secrets}
