"""rentstack_rabbitmq_state: the broker's state from exported definitions, and the password check
against RabbitMQ's salted hashes (without any rabbitmqctl call)."""

from __future__ import annotations

from libload import load_library

mod = load_library("rentstack_rabbitmq_state")

# The example of RabbitMQ's passwords guide: salt 908DC60A, password test12.
GUIDE_HASH = "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
DEFINITIONS = {
    "vhosts": [{"name": "/", "limits": []}],
    "users": [{"name": "openstack", "password_hash": GUIDE_HASH,
               "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": [], "limits": {}},
              {"name": "guest", "password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha256"}],
    "permissions": [{"user": "openstack", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}],
    "queues": [{"name": "q"}],
}


def test_hash_is_rabbitmqs_salted_sha256() -> None:
    assert mod.hash_password("test12", "rabbit_password_hashing_sha256", bytes.fromhex("908DC60A")) == GUIDE_HASH


def test_matching_password_returns_no_new_hash_and_never_the_stored_one() -> None:
    state = mod.summarize(DEFINITIONS, "openstack", "test12", b"\0\0\0\0")
    assert state["password_matches"] is True
    assert state["password_hash"] == ""
    assert GUIDE_HASH not in repr(state)
    assert state["vhosts"] == ["/"]
    assert state["users"] == ["guest", "openstack"]
    assert state["permissions"] == DEFINITIONS["permissions"]


def test_other_password_or_missing_user_gets_a_new_hash_of_the_password() -> None:
    salt = bytes.fromhex("908DC60A")
    for user, password in (("openstack", "other"), ("nobody", "test12")):
        state = mod.summarize(DEFINITIONS, user, password, salt)
        assert state["password_matches"] is False
        assert state["password_hash"] == mod.hash_password(password, "rabbit_password_hashing_sha256", salt)


def test_empty_or_unknown_hash_never_matches() -> None:
    assert not mod.password_matches({"password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha256"}, "")
    assert not mod.password_matches({"password_hash": GUIDE_HASH, "hashing_algorithm": "other"}, "test12")


def test_without_user_only_names_and_permissions() -> None:
    state = mod.summarize(DEFINITIONS, None, None, b"\0\0\0\0")
    assert state["password_matches"] is False and state["password_hash"] == ""
