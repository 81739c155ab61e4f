"""Unit tests of the filter plugins: to_ini (ini.py), the lab planning (lab.py), fill_secrets (secret_gen.py)."""

from __future__ import annotations

import configparser
import importlib.util
import re
import secrets as _stdlib_secrets  # noqa: F401  (stdlib first, before any plugin path is on sys.path)
import string
from pathlib import Path
from types import ModuleType

import netaddr
import pytest

FILTERS = Path(__file__).resolve().parents[2] / "plugins" / "filter"


def _load(name: str) -> ModuleType:
    """Import plugins/filter/<name>.py under a private name (secrets.py would shadow the stdlib)."""
    spec = importlib.util.spec_from_file_location(f"rentstack_filter_{name}", FILTERS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ini = _load("ini")
lab = _load("lab")
secrets_filter = _load("secret_gen")


# --- to_ini -------------------------------------------------------------------


def test_to_ini_renders_sections_and_options() -> None:
    text = ini.to_ini({"database": {"connection": "mysql+pymysql://nova:pw@10.0.0.1/nova", "max_retries": -1}})
    assert text == "[database]\nconnection = mysql+pymysql://nova:pw@10.0.0.1/nova\nmax_retries = -1\n"


def test_to_ini_puts_default_first_and_keeps_the_order_of_the_others() -> None:
    text = ini.to_ini({"keystone_authtoken": {"a": 1}, "DEFAULT": {"debug": False}, "api": {"b": 2}})
    assert re.findall(r"^\[(.+)\]$", text, re.M) == ["DEFAULT", "keystone_authtoken", "api"]


def test_to_ini_omits_none_values() -> None:
    text = ini.to_ini({"DEFAULT": {"keep": "yes", "drop": None, "also_keep": 0}})
    assert "drop" not in text
    assert "keep = yes" in text
    assert "also_keep = 0" in text


def test_to_ini_formats_booleans_lists_and_numbers() -> None:
    text = ini.to_ini({"s": {"on": True, "off": False, "hosts": ["a", "b", "c"], "ports": (1, 2), "ratio": 1.5, "empty": []}})
    lines = text.splitlines()
    assert "on = true" in lines
    assert "off = false" in lines
    assert "hosts = a,b,c" in lines
    assert "ports = 1,2" in lines
    assert "ratio = 1.5" in lines
    assert "empty = " in lines
    assert "True" not in text and "False" not in text


def test_to_ini_renders_an_empty_or_none_section_as_its_header() -> None:
    assert ini.to_ini({"oslo_concurrency": {}, "cache": None}) == "[oslo_concurrency]\n\n[cache]\n"


def test_to_ini_of_no_sections_is_empty() -> None:
    assert ini.to_ini({}) == ""


def test_to_ini_output_parses_back_with_configparser() -> None:
    sections = {
        "DEFAULT": {"transport_url": "rabbit://openstack:p4ss@10.89.10.11:5672/", "debug": True},
        "glance": {"api_servers": ["http://10.89.10.11:9292"]},
        "placement": {"region_name": "RegionOne", "password": None},
    }
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(ini.to_ini(sections))
    assert parser.get("DEFAULT", "transport_url") == "rabbit://openstack:p4ss@10.89.10.11:5672/"
    assert parser.getboolean("DEFAULT", "debug") is True
    assert parser.get("glance", "api_servers") == "http://10.89.10.11:9292"
    assert parser.get("placement", "region_name") == "RegionOne"
    assert not parser.has_option("placement", "password")


@pytest.mark.parametrize("bad", [None, [], "[DEFAULT]", [("DEFAULT", {})]])
def test_to_ini_rejects_anything_but_a_dict_of_sections(bad: object) -> None:
    with pytest.raises(TypeError, match="dict of sections"):
        ini.to_ini(bad)  # type: ignore[arg-type]


def test_to_ini_rejects_a_section_that_is_not_a_dict_and_names_it() -> None:
    with pytest.raises(TypeError, match=r"section \[nova\]"):
        ini.to_ini({"DEFAULT": {}, "nova": ["a", "b"]})


def test_to_ini_is_registered_as_a_filter() -> None:
    assert ini.FilterModule().filters() == {"to_ini": ini.to_ini}


# --- lab_address ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cidr", "index", "address"),
    [
        ("10.89.10.0/24", 11, "10.89.10.11"),
        ("10.89.10.0/24", "21", "10.89.10.21"),  # inventory values may arrive as strings
        ("10.89.10.0/24", 2, "10.89.10.2"),  # first after the gateway
        ("10.89.10.0/24", 254, "10.89.10.254"),  # last before broadcast
        ("172.16.0.0/22", 300, "172.16.1.44"),
        ("192.168.1.0/30", 2, "192.168.1.2"),  # the only host address besides the gateway
    ],
)
def test_lab_address_is_the_index_th_address(cidr: str, index: int | str, address: str) -> None:
    assert lab.lab_address(cidr, index) == address


@pytest.mark.parametrize(
    ("cidr", "index"),
    [
        ("10.89.10.0/24", 0),  # network address
        ("10.89.10.0/24", 1),  # gateway
        ("10.89.10.0/24", 255),  # broadcast
        ("10.89.10.0/24", 256),  # outside
        ("10.89.10.0/24", -3),
        ("192.168.1.0/30", 3),
    ],
)
def test_lab_address_rejects_an_index_outside_the_usable_addresses(cidr: str, index: int) -> None:
    with pytest.raises(ValueError, match=re.escape(f"index {index} is outside the usable addresses of {cidr}")):
        lab.lab_address(cidr, index)


@pytest.mark.parametrize("cidr", ["not-a-cidr", "10.89.10.0/33", "300.1.1.0/24"])
def test_lab_address_rejects_a_bad_cidr(cidr: str) -> None:
    with pytest.raises((netaddr.AddrFormatError, ValueError)):
        lab.lab_address(cidr, 11)


def test_lab_address_rejects_a_non_numeric_index() -> None:
    with pytest.raises(ValueError):
        lab.lab_address("10.89.10.0/24", "eleven")


# --- lab_container_specs -----------------------------------------------------------

NETWORKS = [
    {"name": "rentstack-mgmt", "cidr": "10.89.10.0/24", "interface": "eth0", "internal": False},
    {"name": "rentstack-tunnel", "cidr": "10.89.11.0/24", "interface": "eth1", "internal": True},
    {"name": "rentstack-provider", "cidr": "10.89.20.0/24", "interface": "eth2", "internal": True},
]
SETTINGS = {
    "prefix": "rentstack",
    "runtime": "runc",
    "nofile": 20000,
    "nproc": 20000,
    "apt_cache_dir": "/var/cache/rentstack-lab/apt-archives",
    "state_dir": "/var/lib/rentstack-lab",
    "image": "localhost/rentstack-lab:7c5f5ba8bbcf",
}
INDEXES = {"ctl1": 11, "cmp1": 21, "cmp2": 22, "cmp3": 23}


def _specs(hosts: list[str] | None = None, **settings: object) -> list[dict]:
    return lab.lab_container_specs(hosts or ["ctl1", "cmp1"], INDEXES, NETWORKS, {**SETTINGS, **settings})


def _option_values(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == option]


def test_specs_one_per_host_in_order_with_names_and_addresses() -> None:
    specs = _specs(["ctl1", "cmp1", "cmp2"])
    assert [s["host"] for s in specs] == ["ctl1", "cmp1", "cmp2"]
    assert [s["name"] for s in specs] == ["rentstack-ctl1", "rentstack-cmp1", "rentstack-cmp2"]
    assert specs[0]["index"] == 11
    assert specs[0]["addresses"] == {
        "rentstack-mgmt": "10.89.10.11",
        "rentstack-tunnel": "10.89.11.11",
        "rentstack-provider": "10.89.20.11",
    }


def test_spec_argv_is_a_complete_podman_run() -> None:
    argv = _specs(["ctl1"])[0]["argv"]
    assert argv[:5] == ["podman", "--runtime", "runc", "run", "--detach"]
    assert _option_values(argv, "--name") == ["rentstack-ctl1"]
    assert _option_values(argv, "--hostname") == ["ctl1"]
    for flag in ("--privileged", "--systemd=always", "--no-hosts"):
        assert flag in argv
    assert _option_values(argv, "--ulimit") == ["nofile=20000:20000", "nproc=20000:20000"]
    assert _option_values(argv, "--device") == ["/dev/kvm"]
    assert _option_values(argv, "--volume") == [
        "/var/cache/rentstack-lab/apt-archives:/var/cache/apt/archives",
        "/var/lib/rentstack-lab/ssh/authorized_keys:/root/.ssh/authorized_keys:ro",
    ]
    # Networks in order, so the interfaces are eth0, eth1, eth2 as named.
    assert _option_values(argv, "--network") == [
        "rentstack-mgmt:ip=10.89.10.11,interface_name=eth0",
        "rentstack-tunnel:ip=10.89.11.11,interface_name=eth1",
        "rentstack-provider:ip=10.89.20.11,interface_name=eth2",
    ]
    spec = _specs(["ctl1"])[0]
    assert _option_values(argv, "--label") == ["rentstack.lab=rentstack", f"rentstack.fingerprint={spec['fingerprint']}"]
    assert argv[-1] == SETTINGS["image"]


def test_spec_fingerprint_is_stable_and_short() -> None:
    first, again = _specs(["ctl1"])[0], _specs(["ctl1"])[0]
    assert first["fingerprint"] == again["fingerprint"]
    assert re.fullmatch(r"[0-9a-f]{16}", first["fingerprint"])


@pytest.mark.parametrize(
    "change",
    [
        {"image": "localhost/rentstack-lab:000000000000"},
        {"nofile": 10000},
        {"nproc": 4096},
        {"runtime": "crun"},
        {"apt_cache_dir": "/srv/apt"},
        {"state_dir": "/srv/lab"},
    ],
)
def test_spec_fingerprint_changes_with_any_input(change: dict) -> None:
    assert _specs(["ctl1"], **change)[0]["fingerprint"] != _specs(["ctl1"])[0]["fingerprint"]


def test_spec_fingerprint_changes_with_the_network_address() -> None:
    moved = [{**NETWORKS[0], "cidr": "10.99.10.0/24"}, *NETWORKS[1:]]
    spec = lab.lab_container_specs(["ctl1"], INDEXES, moved, SETTINGS)[0]
    assert spec["addresses"]["rentstack-mgmt"] == "10.99.10.11"
    assert spec["fingerprint"] != _specs(["ctl1"])[0]["fingerprint"]


def test_spec_of_one_host_does_not_depend_on_the_others() -> None:
    alone = _specs(["cmp1"])[0]
    together = {s["host"]: s for s in _specs(["ctl1", "cmp1", "cmp2", "cmp3"])}
    assert together["cmp1"] == alone
    assert len({s["fingerprint"] for s in together.values()}) == 4


def test_specs_accept_string_indexes() -> None:
    spec = lab.lab_container_specs(["ctl1"], {"ctl1": "11"}, NETWORKS, SETTINGS)[0]
    assert spec["index"] == 11
    assert spec == _specs(["ctl1"])[0]


def test_specs_of_no_hosts_is_empty() -> None:
    assert lab.lab_container_specs([], INDEXES, NETWORKS, SETTINGS) == []


def test_specs_fail_for_a_host_without_an_index() -> None:
    with pytest.raises(KeyError, match="cmp9"):
        lab.lab_container_specs(["cmp9"], INDEXES, NETWORKS, SETTINGS)


def test_specs_fail_for_an_index_outside_a_network() -> None:
    with pytest.raises(ValueError, match="10.89.11.0/24"):
        lab.lab_container_specs(["ctl1"], {"ctl1": 300}, NETWORKS[1:], SETTINGS)


# --- lab_container_plan ------------------------------------------------------------


def _ctr(name: str, fingerprint: str | None, state: str = "running", **extra: object) -> dict:
    labels = {"rentstack.lab": "rentstack"}
    if fingerprint is not None:
        labels["rentstack.fingerprint"] = fingerprint
    return {"Names": [name], "Labels": labels, "State": state, **extra}


def test_plan_creates_missing_hosts() -> None:
    specs = _specs(["ctl1", "cmp1"])
    assert lab.lab_container_plan(specs, []) == {"create": ["rentstack-ctl1", "rentstack-cmp1"], "recreate": [], "start": [], "ok": []}


def test_plan_covers_create_recreate_start_and_ok_at_once() -> None:
    ctl1, cmp1, cmp2, cmp3 = _specs(["ctl1", "cmp1", "cmp2", "cmp3"])
    existing = [
        _ctr("rentstack-ctl1", ctl1["fingerprint"], "running"),
        _ctr("rentstack-cmp1", "0123456789abcdef", "running"),  # settings changed
        _ctr("rentstack-cmp2", cmp2["fingerprint"], "exited"),  # lab restarted
    ]
    plan = lab.lab_container_plan([ctl1, cmp1, cmp2, cmp3], existing)
    assert plan == {
        "create": ["rentstack-cmp3"],
        "recreate": ["rentstack-cmp1"],
        "start": ["rentstack-cmp2"],
        "ok": ["rentstack-ctl1"],
    }


@pytest.mark.parametrize("state", ["exited", "created", "stopped", "paused", "configured"])
def test_plan_starts_current_hosts_that_are_not_running(state: str) -> None:
    spec = _specs(["ctl1"])[0]
    assert lab.lab_container_plan([spec], [_ctr(spec["name"], spec["fingerprint"], state)])["start"] == [spec["name"]]


def test_plan_recreates_a_stopped_host_whose_inputs_changed_instead_of_starting_it() -> None:
    spec = _specs(["ctl1"])[0]
    plan = lab.lab_container_plan([spec], [_ctr(spec["name"], "stale", "exited")])
    assert plan["recreate"] == [spec["name"]]
    assert plan["start"] == []


@pytest.mark.parametrize("labels", [None, {}, {"rentstack.lab": "rentstack"}])
def test_plan_recreates_a_container_without_a_fingerprint(labels: dict | None) -> None:
    spec = _specs(["ctl1"])[0]
    existing = [{"Names": [spec["name"]], "Labels": labels, "State": "running"}]
    assert lab.lab_container_plan([spec], existing)["recreate"] == [spec["name"]]


def test_plan_ignores_unrelated_containers_and_matches_any_name() -> None:
    spec = _specs(["ctl1"])[0]
    existing = [
        {"Names": None, "Labels": None, "State": "running"},
        _ctr("someone-elses", "x"),
        {"Names": ["alias", spec["name"]], "Labels": {"rentstack.fingerprint": spec["fingerprint"]}, "State": "running"},
    ]
    assert lab.lab_container_plan([spec], existing) == {"create": [], "recreate": [], "start": [], "ok": [spec["name"]]}


def test_plan_of_podman_ps_json_output() -> None:
    """Shaped like `podman ps --all --format json` (only the keys the plan reads matter)."""
    spec = _specs(["ctl1"])[0]
    existing = [{
        "Id": "04543b6dde52",
        "Image": SETTINGS["image"],
        "Names": ["rentstack-ctl1"],
        "Labels": {"rentstack.fingerprint": spec["fingerprint"], "rentstack.lab": "rentstack"},
        "State": "running",
        "Status": "Up 12 minutes",
        "Exited": False,
    }]
    assert lab.lab_container_plan([spec], existing)["ok"] == ["rentstack-ctl1"]


def test_lab_filters_are_registered() -> None:
    assert lab.FilterModule().filters() == {
        "lab_address": lab.lab_address,
        "lab_container_specs": lab.lab_container_specs,
        "lab_container_plan": lab.lab_container_plan,
        "lab_network_args": lab.lab_network_args,
    }


def test_lab_network_args_attach_at_the_index_th_address_of_each_network() -> None:
    networks = [{"name": "rentstack-mol-tunnel", "cidr": "10.66.11.0/24", "interface": "eth1"},
                {"name": "rentstack-mol-provider", "cidr": "10.66.20.0/24", "interface": "eth2"}]
    assert lab.lab_network_args(networks, "21") == [
        "--network", "rentstack-mol-tunnel:ip=10.66.11.21,interface_name=eth1",
        "--network", "rentstack-mol-provider:ip=10.66.20.21,interface_name=eth2",
    ]
    assert lab.lab_network_args([], 21) == []


# --- fill_secrets ---------------------------------------------------------------

NAMES = ["mariadb_root", "rabbitmq", "keystone_db", "admin"]
ALPHANUMERIC = set(string.ascii_letters + string.digits)


def test_fill_secrets_generates_every_missing_name() -> None:
    result = secrets_filter.fill_secrets({}, NAMES)
    assert sorted(result) == sorted(NAMES)
    for value in result.values():
        assert len(value) == 32
        assert set(value) <= ALPHANUMERIC


def test_fill_secrets_never_changes_existing_values() -> None:
    current = {"mariadb_root": "operator-chosen-password", "rabbitmq": "x" * 40, "unlisted": "kept-too"}
    result = secrets_filter.fill_secrets(current, NAMES)
    assert result["mariadb_root"] == "operator-chosen-password"
    assert result["rabbitmq"] == "x" * 40
    assert result["unlisted"] == "kept-too"
    assert set(result) == set(NAMES) | {"unlisted"}


def test_fill_secrets_does_not_mutate_its_input() -> None:
    current = {"admin": "a" * 20}
    secrets_filter.fill_secrets(current, NAMES)
    assert current == {"admin": "a" * 20}


def test_fill_secrets_is_idempotent() -> None:
    first = secrets_filter.fill_secrets({}, NAMES)
    assert secrets_filter.fill_secrets(first, NAMES) == first
    assert secrets_filter.fill_secrets(first, NAMES + ["nova"])["admin"] == first["admin"]


@pytest.mark.parametrize("current", [None, {}])
def test_fill_secrets_accepts_no_current_secrets(current: dict | None) -> None:
    assert sorted(secrets_filter.fill_secrets(current, NAMES)) == sorted(NAMES)


@pytest.mark.parametrize("blank", ["", None])
def test_fill_secrets_replaces_a_blank_value(blank: str | None) -> None:
    result = secrets_filter.fill_secrets({"admin": blank}, ["admin"])
    assert len(result["admin"]) == 32


def test_fill_secrets_generates_distinct_values() -> None:
    result = secrets_filter.fill_secrets({}, [f"s{i}" for i in range(50)])
    assert len(set(result.values())) == 50


@pytest.mark.parametrize(("length", "expected"), [(16, 16), ("24", 24), (64, 64)])
def test_fill_secrets_honours_the_length(length: int | str, expected: int) -> None:
    assert len(secrets_filter.fill_secrets({}, ["x"], length)["x"]) == expected


@pytest.mark.parametrize("length", [15, 0, -1])
def test_fill_secrets_refuses_short_secrets(length: int) -> None:
    with pytest.raises(ValueError, match="secrets_length must be at least 16"):
        secrets_filter.fill_secrets({}, ["x"], length)


def test_fill_secrets_of_no_names_returns_the_current_secrets() -> None:
    assert secrets_filter.fill_secrets({"a": "b" * 16}, []) == {"a": "b" * 16}


def test_fill_secrets_is_registered_as_a_filter() -> None:
    assert secrets_filter.FilterModule().filters() == {
        "fill_secrets": secrets_filter.fill_secrets, "fill_ssh_keys": secrets_filter.fill_ssh_keys,
        "ssh_public_key": secrets_filter.ssh_public_key}


# --- fill_ssh_keys / ssh_public_key ------------------------------------------------


def test_fill_ssh_keys_generates_openssh_ed25519_keys_once() -> None:
    first = secrets_filter.fill_ssh_keys({"admin": "kept"}, ["nova_migration_ssh_key"])
    key = first["nova_migration_ssh_key"]
    assert key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----") and first["admin"] == "kept"
    assert secrets_filter.fill_ssh_keys(first, ["nova_migration_ssh_key"]) == first
    other = secrets_filter.fill_ssh_keys({}, ["nova_migration_ssh_key"])["nova_migration_ssh_key"]
    assert other != key


def test_ssh_public_key_matches_its_private_key() -> None:
    from cryptography.hazmat.primitives import serialization

    key = secrets_filter.fill_ssh_keys({}, ["k"])["k"]
    public = secrets_filter.ssh_public_key(key, "nova@rentstack")
    kind, blob, comment = public.split(" ")
    assert kind == "ssh-ed25519" and comment == "nova@rentstack"
    loaded = serialization.load_ssh_public_key(f"{kind} {blob}".encode())
    private = serialization.load_ssh_private_key(key.encode(), password=None)
    assert loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == \
        private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# --- ovs_tables, ovs_port_bridges (ovs.py) ------------------------------------

ovs = _load("ovs")

# One `ovs-vsctl -f json -d json` call: list Bridge -- list Port -- list Open_vSwitch -- get-manager.
OVS_ANSWER = "\n".join([
    '{"data":[["br-phy","netdev",["set",[["uuid","u1"],["uuid","u2"]]]],["br-ex","netdev",["uuid","u3"]],'
    '["br-int","system",["set",[]]]],"headings":["name","datapath_type","ports"]}',
    '{"data":[[["uuid","u3"],"eth2"],[["uuid","u1"],"br-phy"],[["uuid","u2"],"eth1"]],"headings":["_uuid","name"]}',
    '{"data":[[["map",[["hostname","ctl1"],["system-id","ctl1"]]],["map",[["userspace-tso-enable","true"]]]]],'
    '"headings":["external_ids","other_config"]}',
    "ptcp:6640:127.0.0.1",
])


def test_ovs_tables_decodes_each_table_in_order() -> None:
    bridges, ports, switch = ovs.ovs_tables(OVS_ANSWER)
    assert [b["name"] for b in bridges] == ["br-phy", "br-ex", "br-int"]
    assert bridges[0]["ports"] == ["u1", "u2"] and bridges[1]["ports"] == "u3" and bridges[2]["ports"] == []
    assert ports[0] == {"_uuid": "u3", "name": "eth2"}
    assert switch == [{"external_ids": {"hostname": "ctl1", "system-id": "ctl1"},
                       "other_config": {"userspace-tso-enable": "true"}}]


def test_ovs_plain_lines_are_the_non_table_commands() -> None:
    assert ovs.ovs_plain_lines(OVS_ANSWER) == ["ptcp:6640:127.0.0.1"]
    assert ovs.ovs_plain_lines(OVS_ANSWER.rsplit("\n", 1)[0]) == []


def test_ovs_port_bridges_maps_each_port_to_its_bridge() -> None:
    bridges, ports, _ = ovs.ovs_tables(OVS_ANSWER)
    # A bridge of one port (a bare uuid) and a bridge of none both work.
    assert ovs.ovs_port_bridges(bridges, ports) == {"br-phy": "br-phy", "eth1": "br-phy", "eth2": "br-ex"}
