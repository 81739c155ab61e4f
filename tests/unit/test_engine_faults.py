"""rentstack_servers on the bulk engine against a fake Nova/Neutron (tests/unit/fakecloud.py): lost create
responses, the Nova 31 listing 500 and its 2.95 fallback, token expiry mid-run, a server stuck in BUILD,
duplicate names from concurrent runs, and a delete of part of a set: the cases issue 22 lists (blind create
retries, a bare 500, no BUILD deadline, duplicates failing the run, the whole set's floating IPs freed)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fakecloud import ConnectFailure, FakeCloud, http_error, run_module, servers_module
from libload import fast_retry

from ansible.module_utils.rentstack_bulk import action_settled, heal_reason, reconcile  # noqa: E402
from ansible.module_utils.rentstack_engine import RetryPolicy, ServerLister, backoff, fault_kind  # noqa: E402

NAMES = ["vm-001", "vm-002", "vm-003"]


def one_active_per_name(cloud: FakeCloud, names: list[str]) -> dict[str, str]:
    live = cloud.live()
    assert sorted(s["name"] for s in live) == sorted(names), [(s["name"], s["status"]) for s in live]
    assert all(s["status"] == "ACTIVE" for s in live)
    return {s["name"]: s["id"] for s in live}


# ---------------------------------------------------------------- retry policy
def test_fault_kinds() -> None:
    assert fault_kind(http_error(500)) == "transient" and fault_kind(http_error(503)) == "transient"
    assert fault_kind(http_error(429)) == "transient"
    assert fault_kind(http_error(401)) == "auth"
    assert fault_kind(http_error(400)) == "fatal" and fault_kind(http_error(409)) == "fatal"
    assert fault_kind(ConnectFailure("reset")) == "transient" and fault_kind(TimeoutError()) == "transient"
    assert fault_kind(KeyError("x")) == "fatal"


def test_backoff_is_bounded_and_jittered() -> None:
    assert backoff(1, 1.0, 30.0, lambda: 1.0) == 1.0
    assert backoff(4, 1.0, 30.0, lambda: 1.0) == 8.0
    assert backoff(10, 1.0, 30.0, lambda: 1.0) == 30.0
    assert backoff(4, 1.0, 30.0, lambda: 0.25) == 2.0


def test_retry_gives_up_after_its_attempts_and_raises_fatal_at_once() -> None:
    calls: list[int] = []

    def always_503() -> None:
        calls.append(1)
        raise http_error(503)

    policy = fast_retry(attempts=4)
    with pytest.raises(Exception, match="HTTP 503"):
        policy.call(always_503, "listing")
    assert len(calls) == 4 and len(policy.slept) == 3 and len(policy.faults) == 3
    calls.clear()

    def bad_request() -> None:
        calls.append(1)
        raise http_error(400)

    with pytest.raises(Exception, match="HTTP 400"):
        policy.call(bad_request, "create")
    assert len(calls) == 1


# ---------------------------------------------------------------- lost create response
def test_lost_create_response_is_looked_up_not_sent_again() -> None:
    cloud = FakeCloud()
    cloud.lose_create = {"vm-002"}
    result = run_module(servers_module(cloud, NAMES))
    assert not result.get("failed"), result.get("msg")
    one_active_per_name(cloud, NAMES)
    assert cloud.calls["create"] == 3  # the lost one was found by name, not created twice
    assert any("creating vm-002: ConnectFailure" in f for f in result["api_faults"])
    assert {r["name"]: r["status"] for r in result["servers"]} == dict.fromkeys(NAMES, "ACTIVE")


def test_lost_create_after_all_retries_is_looked_up_on_the_next_attempt() -> None:
    """Every try of a create meets a reset (it reached Nova the first time): the next attempt looks it up first."""
    cloud = FakeCloud()
    cloud.lose_create = {"vm-001"}
    obj = servers_module(cloud, ["vm-001"], api_retries=1)
    result = run_module(obj)
    assert not result.get("failed"), result.get("msg")
    one_active_per_name(cloud, ["vm-001"])
    assert cloud.calls["create"] == 1
    assert any("its earlier create reached Nova after all" in line for line in result["progress"])


# ---------------------------------------------------------------- 500 on list, 2.95 fallback
def test_listing_500_falls_back_to_2_95_and_deletes_the_broken_server() -> None:
    cloud = FakeCloud()
    cloud.add_server("vm-001")
    broken = cloud.add_server("vm-002", "ERROR", fault={"message": "Quota exceeded for instances"},
                              no_request_spec=True)
    result = run_module(servers_module(cloud, NAMES))
    assert not result.get("failed"), result.get("msg")
    ids = one_active_per_name(cloud, NAMES)
    assert broken not in ids.values() and cloud.raw[broken]["deleted"]
    assert result["listing_fallback"] is True
    assert any(h["id"] == broken and "2.96" in h["reason"] for h in result["healed"])
    assert any("works at microversion 2.95" in line for line in result["progress"])
    # Once the broken server was gone, the negotiated microversion was used again.
    default_before = cloud.calls["servers"]
    cloud.compute.servers()
    assert cloud.calls["servers"] == default_before + 1


def test_lister_uses_2_95_only_for_a_500() -> None:
    cloud = FakeCloud()
    cloud.add_server("vm-001")
    lister = ServerLister(lambda q: (_ for _ in ()).throw(http_error(404)), lambda q: [], {}, fast_retry())
    with pytest.raises(Exception, match="HTTP 404"):
        lister.poll()
    assert lister.listing_bug is False


# ---------------------------------------------------------------- token expiry
def test_token_expiry_mid_run_authenticates_again() -> None:
    cloud = FakeCloud()
    obj = servers_module(cloud, NAMES)
    real = cloud.listing

    def listing(call: str, *args: Any) -> list[dict]:
        if call == "servers" and cloud.calls.get("servers", 0) == 2 and not cloud.invalidated:
            cloud.calls["servers"] += 1
            raise http_error(401, "The request you have made requires authentication.")
        return real(call, *args)

    cloud.listing = listing
    result = run_module(obj)
    assert not result.get("failed"), result.get("msg")
    assert cloud.invalidated == 1
    one_active_per_name(cloud, NAMES)
    assert any("HTTP 401" in f or "requires authentication" in f for f in result["api_faults"])


def test_a_cloud_that_stays_down_ends_in_records_not_a_traceback() -> None:
    cloud = FakeCloud()
    cloud.add_server("vm-001")
    obj = servers_module(cloud, NAMES, api_retries=2)
    real = cloud.create

    def create(attrs: dict[str, Any]) -> Any:
        result = real(attrs)
        cloud.faults["servers"] = [http_error(503)] * 50  # Nova API goes down after the first create
        return result

    cloud.create = create
    result = run_module(obj)
    assert result["failed"] and "stopped on HttpException" in result["msg"]
    assert [r["name"] for r in result["servers"]] == NAMES  # every requested VM has a record
    assert result["servers"][0]["status"] == "ACTIVE"


# ---------------------------------------------------------------- stuck BUILD
def test_a_server_stuck_in_build_is_replaced_and_counted() -> None:
    cloud = FakeCloud(build_ticks=1)
    cloud.stuck = {"vm-002"}
    result = run_module(servers_module(cloud, NAMES, stuck_timeout=0))
    assert not result.get("failed"), result.get("msg")
    one_active_per_name(cloud, NAMES)
    stuck = [s for s in cloud.raw.values() if s.get("stuck")]
    assert len(stuck) == 1 and stuck[0]["deleted"]
    record = {r["name"]: r for r in result["servers"]}["vm-002"]
    assert record["attempts"] == 2
    assert any(h["id"] == stuck[0]["id"] and "stuck in BUILD" in h["reason"] for h in result["healed"])


def test_attempts_run_out_on_a_stuck_build_and_the_reason_is_reported() -> None:
    cloud = FakeCloud(build_ticks=1)
    cloud.stuck = {"vm-001"}
    result = run_module(servers_module(cloud, ["vm-001"], stuck_timeout=0, max_attempts=1))
    assert result["failed"] and "stuck in BUILD" in result["msg"]
    assert cloud.live() == []  # no BUILD leftover


# ---------------------------------------------------------------- concurrent runs
@pytest.mark.parametrize("multi_create", [False, True], ids=["single-creates", "multi-create"])
def test_three_runs_started_together_end_with_one_server_per_name(multi_create: bool) -> None:
    cloud = FakeCloud(build_ticks=3)
    names = [f"vm-{i:03d}" for i in range(1, 11)]
    results: dict[str, dict[str, Any]] = {}

    def run(run_id: str) -> None:
        results[run_id] = run_module(servers_module(cloud, names, run=run_id, concurrency=4,
                                                    multi_create=multi_create, count=len(names)))

    threads = [threading.Thread(target=run, args=(f"run-{c}",)) for c in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(not r.get("failed") for r in results.values()), {k: r.get("msg") for k, r in results.items()}
    ids = one_active_per_name(cloud, names)
    for r in results.values():  # every run reports the same, surviving, server per name
        assert {s["name"]: s["id"] for s in r["servers"]} == ids
    assert not [s for s in cloud.live() if s["status"] == "ERROR"]
    # the multi-create's servers carry their set names and hostnames in the end
    assert sorted((s["name"], s["OS-EXT-SRV-ATTR:hostname"]) for s in cloud.live()) == [(n, n) for n in names]


def test_duplicates_left_by_a_concurrent_run_are_reconciled_and_the_wait_is_named() -> None:
    cloud = FakeCloud(build_ticks=2)
    older = cloud.add_server("vm-001", "BUILD", run="host2:4242:2026-12-07T10:00:00Z")
    newer = cloud.add_server("vm-001", "BUILD", run="host3:77:2026-12-07T10:00:01Z")
    result = run_module(servers_module(cloud, NAMES))
    assert not result.get("failed"), result.get("msg")
    ids = one_active_per_name(cloud, NAMES)
    assert ids["vm-001"] == older and cloud.raw[newer]["deleted"]
    assert "host2:4242:2026-12-07T10:00:00Z" in result["waited_for"]
    assert any("waiting for run host2:4242" in line for line in result["progress"])


# ---------------------------------------------------------------- delete
def test_subset_delete_frees_only_what_it_deletes() -> None:
    cloud = FakeCloud()
    for name in NAMES:
        sid = cloud.add_server(name)
        cloud.create_ip("ext", f"port-{sid}", f"rentstack-set:vm server:{name}")
    spare = cloud.create_ip("ext", None, "rentstack-set:vm server:vm-003")  # detached, of vm-003
    mine = cloud.create_ip("ext", None, "rentstack-set:vm server:vm-002")  # detached, of vm-002
    result = run_module(servers_module(cloud, NAMES[:2], state="absent"))
    assert not result.get("failed"), result.get("msg")
    assert [s["name"] for s in cloud.live()] == ["vm-003"]
    assert sorted(result["freed"]["floating_ips"]) == ["203.0.113.1", "203.0.113.2", mine.floating_ip_address]
    assert sorted(f.id for f in cloud.fips.values()) == ["fip-3", spare.id]
    assert len(cloud.ports) == 1  # vm-003's


def test_three_deletes_at_once_leave_nothing() -> None:
    cloud = FakeCloud()
    for name in NAMES:
        sid = cloud.add_server(name)
        cloud.create_ip("ext", f"port-{sid}", f"rentstack-set:vm server:{name}")
    results = []
    threads = [threading.Thread(target=lambda r=r: results.append(
        run_module(servers_module(cloud, NAMES, state="absent", run=r)))) for r in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(not r.get("failed") for r in results), [r.get("msg") for r in results]
    assert cloud.live() == [] and cloud.fips == {} and cloud.ports == {}


def test_deleted_but_listed_is_deleted_again() -> None:
    cloud = FakeCloud()
    ghost = cloud.add_server("vm-001", "DELETED", listed_after_delete=True)
    result = run_module(servers_module(cloud, NAMES))
    assert not result.get("failed"), result.get("msg")
    one_active_per_name(cloud, NAMES)
    assert any(h["id"] == ghost and "DELETED" in h["reason"] for h in result["healed"])
    assert cloud.calls["delete"] >= 1


# ---------------------------------------------------------------- changes-since polling
def test_polls_between_full_listings_ask_only_for_changes() -> None:
    cloud = FakeCloud(build_ticks=4)
    seen: list[str | None] = []
    real = cloud.listing

    def listing(call: str, name: str | None, since: str | None, mv: str) -> list[dict]:
        seen.append(since)
        return real(call, name, since, mv)

    cloud.listing = listing
    result = run_module(servers_module(cloud, NAMES, full_list_every=100))
    assert not result.get("failed"), result.get("msg")
    polls = seen[:-1]  # the last one is the final full listing of the heal step
    assert polls[0] is None and len(polls) >= 3 and all(s is not None for s in polls[1:])


# ---------------------------------------------------------------- pure rules
def test_heal_reasons() -> None:
    assert "quota recheck" in heal_reason({"status": "ERROR", "fault": {"message": "Quota exceeded for cores"}})
    assert "2.96" in heal_reason({"status": "ERROR"}, listing_bug=True)
    assert heal_reason({"status": "BUILD"}, build_age=100, build_timeout=900) is None
    assert "stuck in BUILD for 901s" in heal_reason({"status": "BUILD"}, build_age=901, build_timeout=900)
    assert "DELETED" in heal_reason({"status": "DELETED"})
    assert heal_reason({"status": "ACTIVE"}) is None


def test_action_settled_detects_a_rollback_at_once() -> None:
    before = {"status": "ACTIVE", "updated_at": "t1"}
    assert action_settled("resize", before, {"status": "RESIZE", "task_state": "resize_migrating"}) == "wait"
    assert action_settled("resize", before, {"status": "VERIFY_RESIZE", "updated_at": "t3"}) == "settled"
    assert action_settled("resize", before, {"status": "ACTIVE", "updated_at": "t3"}) == "rolled_back"
    assert action_settled("resize", before, {"status": "ACTIVE", "updated_at": "t1"}) == "wait"  # not seen yet
    assert action_settled("rescue", before, {"status": "ACTIVE", "updated_at": "t2"}) == "rolled_back"
    assert action_settled("stop", before, {"status": "ERROR", "updated_at": "t2"}) == "settled"
    assert action_settled("stop", before, None) == "settled"


def test_reconcile_is_the_same_for_every_run() -> None:
    rows = [{"id": f"{i:02d}", "name": "vm-001", "status": "BUILD", "created_at": f"2026-12-07T10:00:0{9 - i}Z"}
            for i in range(5)]
    winners = {reconcile(order, ["vm-001"])[0]["vm-001"]["id"] for order in (rows, rows[::-1], rows[2:] + rows[:2])}
    assert winners == {"04"}


def test_retry_policy_reauth_hook_runs_on_401_only() -> None:
    hits: list[int] = []
    outcomes = iter([http_error(401), http_error(502), "ok"])

    def call() -> str:
        item = next(outcomes)
        if isinstance(item, Exception):
            raise item
        return item

    policy = RetryPolicy(attempts=5, sleep=lambda s: None, rand=lambda: 0, reauth=lambda: hits.append(1))
    assert policy.call(call, "x") == "ok" and hits == [1]


def test_a_cloud_clock_an_hour_behind_makes_no_duplicates() -> None:
    """changes-since is computed from this machine's clock: with Nova's an hour behind, the changes polls return
    nothing; a build missing from them is checked by a full listing before it is taken as gone."""
    cloud = FakeCloud(skew=-3600)
    result = run_module(servers_module(cloud, NAMES))
    assert not result.get("failed"), result.get("msg")
    one_active_per_name(cloud, NAMES)
    assert cloud.calls["create"] == 3
