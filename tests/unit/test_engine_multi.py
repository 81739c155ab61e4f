"""rentstack_servers' multi-create path against the fake Nova (tests/unit/fakecloud.py): runs of consecutive names
built with one request each, Nova's `<name>-<i>` names mapped back to the set's and renamed, and the cases that
must still hold on this path: a refused request, a lost answer, a build that ends in ERROR, a delete (whole or
part of the set) before the renames, a cloud that cannot rename hostnames (runs started together:
test_engine_faults.py)."""

from __future__ import annotations

from typing import Any

from fakecloud import FakeCloud, run_module, servers_module

from ansible.module_utils.rentstack_bulk import canonical_server, multi_batches, multi_request_name  # noqa: E402

TAG = "rentstack-set:vm"


def names_of(n: int) -> list[str]:
    return [f"vm-{i:03d}" for i in range(1, n + 1)]


def multi(cloud: FakeCloud, names: list[str], **params: Any) -> Any:
    return servers_module(cloud, names, multi_create=True, count=len(names), **params)


def live_names(cloud: FakeCloud) -> list[tuple[str, str, str]]:
    return sorted((s["name"], s["OS-EXT-SRV-ATTR:hostname"], s["status"]) for s in cloud.live())


def converge(cloud: FakeCloud, names: list[str], **params: Any) -> dict[str, Any]:
    """A multi-create run that must succeed, leaving exactly the set: each name once, ACTIVE, hostname renamed."""
    result = run_module(multi(cloud, names, **params))
    assert not result.get("failed"), result.get("msg")
    assert live_names(cloud) == [(n, n, "ACTIVE") for n in names]
    return result


# ---------------------------------------------------------------- pure logic
def test_batches_are_runs_of_consecutive_set_positions() -> None:
    names = names_of(10)
    assert multi_batches(["vm-003", "vm-001", "vm-002", "vm-007", "vm-009", "vm-010"], names) == [
        ["vm-001", "vm-002", "vm-003"], ["vm-007"], ["vm-009", "vm-010"]]
    assert multi_batches([], names) == []
    assert multi_request_name("vm", 21, 40, 3) == "vm-021-040"


def test_canonical_server_maps_nova_names_of_this_set_only() -> None:
    meta = {"rentstack_set": TAG, "rentstack_multi_name": "vm-021-040", "rentstack_multi_first": "21"}
    seen = canonical_server({"id": "a", "name": "vm-021-040-3", "hostname": "vm-021-040-3", "metadata": meta},
                            "vm", 3, TAG)
    assert seen is not None and (seen["name"], seen["hostname"], seen["nova_name"]) == ("vm-023", "vm-023",
                                                                                         "vm-021-040-3")
    # renamed already, another set, a single create, a hostname Nova did not derive, damaged metadata
    assert canonical_server({"name": "vm-023", "metadata": meta}, "vm", 3, TAG) is None
    assert canonical_server({"name": "vm-021-040-3", "metadata": dict(meta, rentstack_set="rentstack-set:x")},
                            "vm", 3, TAG) is None
    assert canonical_server({"name": "vm-023", "metadata": {"rentstack_set": TAG}}, "vm", 3, TAG) is None
    odd = canonical_server({"name": "vm-021-040-3", "hostname": "custom", "metadata": meta}, "vm", 3, TAG)
    assert odd is not None and odd["name"] == "vm-023" and odd["hostname"] == "custom"
    assert canonical_server({"name": "vm-021-040-3", "metadata": dict(meta, rentstack_multi_first="x")},
                            "vm", 3, TAG) is None
    assert canonical_server({"name": "vm-021-040-03", "metadata": meta}, "vm", 3, TAG) is None
    # a mixed-case prefix: Nova lowercases the hostname
    upper = dict(meta, rentstack_set="rentstack-set:Web", rentstack_multi_name="Web-001-020", rentstack_multi_first="1")
    seen = canonical_server({"name": "Web-001-020-20", "hostname": "web-001-020-20", "metadata": upper},
                            "Web", 3, "rentstack-set:Web")
    assert seen is not None and (seen["name"], seen["hostname"]) == ("Web-020", "web-020")


# ---------------------------------------------------------------- the module on the fake cloud
def test_a_new_set_is_created_by_multi_create_and_renamed() -> None:
    cloud = FakeCloud(build_ticks=2)
    names = names_of(10)
    result = converge(cloud, names)
    assert cloud.calls["create_multi"] == 1 and "create" not in cloud.calls
    assert [r["name"] for r in result["servers"]] == names
    assert all(r["status"] == "ACTIVE" and r["attempts"] == 1 for r in result["servers"])
    assert result["summary"]["created"] == 10
    assert any("requested vm-001 .. vm-010 (10 servers) in one multi-create" in line for line in result["progress"])


def test_multi_creates_respect_concurrency() -> None:
    cloud = FakeCloud(build_ticks=2)
    names = names_of(10)
    result = converge(cloud, names, concurrency=4)
    # the first request is 4 long; the others fill the slots the finished builds free, never more than 4 at once
    sizes = [int(line.split("(")[1].split()[0]) for line in result["progress"] if "in one multi-create" in line]
    assert sizes[0] == 4 and max(sizes) <= 4 and sum(sizes) + cloud.calls.get("create", 0) == 10


def test_a_refused_multi_create_falls_back_to_single_creates() -> None:
    cloud = FakeCloud()
    cloud.quota_left = 3  # a concurrent run took the rest of the quota: Nova refuses the request of 5 with 403
    names = names_of(5)
    result = converge(cloud, names)
    assert cloud.calls["create_multi"] == 1 and cloud.calls["create"] == 5
    assert any("refused (HttpException" in line and "one by one" in line for line in result["progress"])
    assert all(r["attempts"] == 1 for r in result["servers"])  # a refused request made nothing: no attempt spent


def test_a_lost_multi_create_answer_is_not_sent_again() -> None:
    cloud = FakeCloud()
    cloud.lose_create = {"vm-001-004"}
    names = names_of(4)
    result = converge(cloud, names)
    assert cloud.calls["create_multi"] == 1 and "create" not in cloud.calls
    assert any("vm-001 .. vm-004 (multi-create): ConnectFailure" in f for f in result["api_faults"])


def test_a_multi_created_server_in_error_is_rebuilt_by_a_single_create() -> None:
    cloud = FakeCloud()
    cloud.fail_build = {"vm-001-005-2"}
    names = names_of(5)
    result = converge(cloud, names)
    assert cloud.calls["create"] == 1
    record = {r["name"]: r for r in result["servers"]}["vm-002"]
    assert record["attempts"] == 2
    assert any(h["name"] == "vm-002" and "No valid host" in h["reason"] for h in result["healed"])


def test_a_set_left_under_nova_names_is_deleted_whole_or_in_part() -> None:
    """A run killed before its renames leaves `vm-001-004-<i>`: a delete finds them under their set names, and a
    delete of part of the set removes only its own."""
    cloud = FakeCloud()
    meta = {"rentstack_set": TAG, "rentstack_multi_name": "vm-001-004", "rentstack_multi_first": "1"}
    for i in range(1, 5):
        cloud.add_server(f"vm-001-004-{i}", metadata=meta)
    part = run_module(servers_module(cloud, names_of(2), state="absent", count=2))
    assert not part.get("failed"), part.get("msg")
    assert sorted(s["name"] for s in cloud.live()) == ["vm-001-004-3", "vm-001-004-4"]
    assert sorted(s["name"] for s in part["servers"]) == ["vm-001", "vm-002"]
    rest = run_module(servers_module(cloud, names_of(4), state="absent", count=4))
    assert not rest.get("failed"), rest.get("msg")
    assert cloud.live() == [] and cloud.ports == {}


def test_a_rerun_renames_what_an_earlier_run_left_and_creates_nothing() -> None:
    cloud = FakeCloud()
    meta = {"rentstack_set": TAG, "rentstack_multi_name": "vm-001-003", "rentstack_multi_first": "1"}
    for i in range(1, 4):
        cloud.add_server(f"vm-001-003-{i}", metadata=meta)
    result = converge(cloud, names_of(3))
    assert "create" not in cloud.calls and "create_multi" not in cloud.calls
    assert result["summary"]["created"] == 0


def test_a_rename_lost_to_nova_is_made_again() -> None:
    cloud = FakeCloud(build_ticks=1)
    cloud.lose_rename = {"vm-001-003-2"}
    converge(cloud, names_of(3))
    assert cloud.calls["update"] == 4 and not cloud.lose_rename


def test_a_cloud_without_hostname_updates_still_gets_the_names() -> None:
    cloud = FakeCloud()
    cloud.no_hostname_updates = True
    result = run_module(multi(cloud, names_of(3)))
    assert not result.get("failed"), result.get("msg")
    assert [s[0] for s in live_names(cloud)] == names_of(3)
    assert any("refuses hostname updates" in line for line in result["progress"])


def test_check_mode_plans_without_creating_or_renaming() -> None:
    cloud = FakeCloud()
    meta = {"rentstack_set": TAG, "rentstack_multi_name": "vm-001-002", "rentstack_multi_first": "1"}
    for i in range(1, 3):
        cloud.add_server(f"vm-001-002-{i}", metadata=meta)
    obj = multi(cloud, names_of(4))
    obj.ansible.check_mode = True
    result = run_module(obj)
    assert result["plan"]["create"] == ["vm-003", "vm-004"] and result["plan"]["keep"] == ["vm-001", "vm-002"]
    assert "update" not in cloud.calls and "create_multi" not in cloud.calls
