#!/usr/bin/python
"""Read a RabbitMQ broker's vhosts, users and permissions with one rabbitmqctl call, and whether a user's
password is a given one, without putting the password on any command line."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rentstack_rabbitmq_state
short_description: Read RabbitMQ's vhosts, users, permissions and check a user's password
description:
  - Runs C(rabbitmqctl export_definitions -) once (one Erlang VM boot) and returns the virtual
    hosts, users and permissions of the broker.
  - With I(user) and I(password), compares the password with the user's stored salted hash in
    this process; the password travels in the module's arguments, never on a command line
    (C(rabbitmqctl authenticate_user) would need it as an argument, since its read from stdin
    hangs on RabbitMQ 4.0 with Erlang 27).
  - When the password does not match (or the user is missing), returns I(password_hash), a new
    salted hash of I(password) in RabbitMQ's default algorithm (C(rabbit_password_hashing_sha256)), to import with
    C(rabbitmqctl import_definitions).
  - Never changes anything; runs in check mode.
options:
  user:
    description: User whose password to check.
    type: str
  password:
    description: Password I(user) must have.
    type: str
requirements: [rabbitmqctl on the broker host, run as root]

author: rentstack (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Read the broker's users and check the OpenStack user's password
  rentstack_rabbitmq_state:
    user: openstack
    password: "{{ rentstack_secrets.rabbitmq }}"
  register: rabbitmq_state
  no_log: true
"""

RETURN = r"""
vhosts:
  description: Names of the virtual hosts.
  returned: always
  type: list
  elements: str
users:
  description: Names of the users.
  returned: always
  type: list
  elements: str
permissions:
  description: Permissions, one per user and vhost (user, vhost, configure, write, read).
  returned: always
  type: list
  elements: dict
password_matches:
  description: Whether I(user) exists with I(password) (false without I(user)).
  returned: always
  type: bool
password_hash:
  description: A new salted hash of I(password), when it does not match; empty otherwise.
  returned: always
  type: str
"""

import base64  # noqa: E402 (imports follow the documentation blocks)
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

# rabbit_password_hashing_* module -> hashlib algorithm (RabbitMQ's default is sha256).
HASHES = {"rabbit_password_hashing_sha256": "sha256", "rabbit_password_hashing_sha512": "sha512",
          "rabbit_password_hashing_md5": "md5"}
DEFAULT_HASHING = "rabbit_password_hashing_sha256"


def hash_password(password: str, algorithm: str, salt: bytes) -> str:
    """RabbitMQ's stored form: base64(salt ++ H(salt ++ password)), salt of 4 bytes."""
    digest = hashlib.new(HASHES[algorithm], salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def password_matches(user: dict[str, Any], password: str) -> bool:
    """Whether the exported user's password_hash is the hash of password."""
    algorithm = user.get("hashing_algorithm", DEFAULT_HASHING)
    try:
        stored = base64.b64decode(user.get("password_hash", ""))
    except ValueError:
        return False
    if algorithm not in HASHES or len(stored) <= 4:
        return False
    return hash_password(password, algorithm, stored[:4]) == user["password_hash"]


def summarize(definitions: dict[str, Any], user: str | None, password: str | None,
              salt: bytes) -> dict[str, Any]:
    """The module's result from exported definitions: names and permissions, never stored hashes."""
    users = {u["name"]: u for u in definitions.get("users", [])}
    matches = bool(user and password is not None and user in users and password_matches(users[user], password))
    new_hash = hash_password(password, DEFAULT_HASHING, salt) if user and password is not None and not matches else ""
    return {
        "vhosts": sorted(v["name"] for v in definitions.get("vhosts", [])),
        "users": sorted(users),
        "permissions": [{k: p[k] for k in ("user", "vhost", "configure", "write", "read")}
                        for p in definitions.get("permissions", [])],
        "password_matches": matches,
        "password_hash": new_hash,
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={"user": {"type": "str"}, "password": {"type": "str", "no_log": True}},
        required_together=[["user", "password"]],
        supports_check_mode=True,
    )
    # stdin from /dev/null: rabbitmqctl reads its stdin and would wait on an open pipe.
    proc = subprocess.run(["rabbitmqctl", "--quiet", "export_definitions", "-", "--format", "json"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        module.fail_json(msg=f"rabbitmqctl export_definitions failed: {proc.stderr.strip() or proc.stdout.strip()}",
                         rc=proc.returncode)
    try:
        definitions = json.loads(proc.stdout)
    except ValueError as exc:
        module.fail_json(msg=f"rabbitmqctl export_definitions did not print JSON: {exc}")
    result = summarize(definitions, module.params["user"], module.params["password"], os.urandom(4))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
