"""The bulk engine of rentstack_servers and rentstack_server_action: one retry policy, one server listing (with
`changes-since` polls and the microversion 2.95 fallback), and one planning-and-polling loop.

The cloud is reached only through callables handed in (the modules' openstacksdk calls, or a fake cloud in the
unit tests), and time through `clock`/`sleep`, so every decision here is tested without a cloud.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

try:  # from the checkout: ansible.cfg's module_utils = plugins/module_utils (docs/collection.md)
    from ansible.module_utils.rentstack_bulk import GONE, launch_slots
except ImportError:  # from the installed collection rentstack.cloud
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_bulk import GONE, launch_slots

# Exception class names (anywhere in an exception's MRO) of faults worth retrying: keystoneauth's connection
# and timeout errors, requests'/urllib3's, and the builtin ones. Matched by name so this file imports neither.
TRANSIENT_NAMES = frozenset({
    "ConnectFailure", "ConnectTimeout", "ConnectionError", "RetriableConnectionFailure", "UnknownConnectionError",
    "RequestTimeout", "GatewayTimeout", "ServiceUnavailable", "BadGateway", "Timeout", "ReadTimeout",
    "ChunkedEncodingError", "ProtocolError", "RemoteDisconnected", "ConnectionResetError", "TimeoutError",
})
AUTH_NAMES = frozenset({"Unauthorized", "InvalidToken"})
# The last compute microversion whose server listing does not read request specs (Nova 31: a 2.96+ listing
# answers 500 while an ERROR instance without a request spec exists; docs/operations.md).
FALLBACK_MICROVERSION = "2.95"
# changes-since is read from this machine's clock: ask from this many seconds before the previous poll, so a
# clock a little ahead of the controller's misses nothing (a server listed twice is merged, not counted twice).
CLOCK_MARGIN_SECONDS = 10


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of an SDK or keystoneauth error, None for others."""
    for attr in ("status_code", "http_status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    return None


def fault_kind(exc: BaseException) -> str:
    """'auth' (token expired or revoked: authenticate again, then retry), 'transient' (5xx, 408, 429, connection
    reset or refused, timeouts: retry) or 'fatal' (any other answer: report it)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    status = http_status(exc)
    if status == 401 or names & AUTH_NAMES:
        return "auth"
    if status is not None:
        return "transient" if status >= 500 or status in (408, 429) else "fatal"
    return "transient" if names & TRANSIENT_NAMES else "fatal"


def backoff(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before try `attempt + 1`: 'full jitter' (a random share of base * 2^(attempt-1), at most
    cap), so runs that failed together do not come back together."""
    return rand() * min(cap, base * 2 ** max(attempt - 1, 0))


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class RetryPolicy:
    """Bounded retries with backoff and jitter for API requests.

    `reauth` is called after a 401 (a token that expired or was revoked mid-run) so the next try
    authenticates again. `before_retry`, given to call(), runs before every retry and may end the retries
    with its own answer: that is how a create whose response was lost looks its server up by name before
    sending the request again."""

    attempts: int = 5
    base: float = 1.0
    cap: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random
    reauth: Callable[[], None] | None = None
    log: Callable[[str], None] | None = None
    faults: list[str] = field(default_factory=list)

    def call(self, fn: Callable[[], Any], what: str, before_retry: Callable[[], Any] | None = None) -> Any:
        for attempt in range(1, self.attempts + 1):
            if attempt > 1 and before_retry is not None:
                found = before_retry()
                if found is not None:
                    return found
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified: fatal ones and the last one are raised
                kind = fault_kind(exc)
                if kind == "fatal" or attempt == self.attempts:
                    raise
                self.faults.append(f"{what}: {describe(exc)}")
                if kind == "auth" and self.reauth is not None:
                    self.reauth()
                delay = backoff(attempt, self.base, self.cap, self.rand)
                if self.log is not None:
                    self.log(f"{what}: {describe(exc)}; try {attempt + 1}/{self.attempts} in {delay:.1f}s")
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def utc_stamp(now: dt.datetime | None = None, margin: float = 0) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return (now - dt.timedelta(seconds=margin)).strftime("%Y-%m-%dT%H:%M:%SZ")


class ServerLister:
    """The set's servers, one listing per poll.

    The first poll and every `full_every`-th list the set in full; the others ask only for the servers changed
    since the previous poll (`changes-since`, which also returns servers deleted since, as DELETED) and merge them
    into what is known. When a listing at the negotiated microversion answers 500, the same listing at 2.95 is
    tried; if that works, `listing_bug` is set (the engine then deletes the set's ERROR servers, the suspects)
    and listings stay at 2.95 until `reprobe()`."""

    def __init__(self, list_default: Callable[[dict[str, Any]], list[dict]],
                 list_fallback: Callable[[dict[str, Any]], list[dict]], query: dict[str, Any], retry: RetryPolicy,
                 full_every: int = 20, log: Callable[[str], None] | None = None,
                 now: Callable[[], dt.datetime] | None = None) -> None:
        self.list_default, self.list_fallback = list_default, list_fallback
        self.query, self.retry, self.full_every, self.log = query, retry, max(1, full_every), log
        self.now = now or (lambda: dt.datetime.now(dt.timezone.utc))
        self.listing_bug = False
        self.fell_back = False  # a listing of this run was made at 2.95
        self.known: dict[str, dict] = {}
        self.since: str | None = None
        self.polls = 0
        self.full_polls = 0

    def _once(self, query: dict[str, Any]) -> list[dict]:
        if not self.listing_bug:
            try:
                return self.list_default(query)
            except Exception as exc:  # noqa: BLE001 - only a 500 is followed by the 2.95 listing
                if http_status(exc) != 500:
                    raise
                rows = self.list_fallback(query)  # a failure here is an outage: the retry policy's business
                self.listing_bug = self.fell_back = True
                if self.log is not None:
                    self.log(f"server listing answered 500 ({describe(exc)}) but works at microversion "
                             f"{FALLBACK_MICROVERSION}: listing at {FALLBACK_MICROVERSION} and deleting the set's "
                             "ERROR servers (Nova 31 fails every 2.96+ listing while an ERROR server has no "
                             "request spec)")
                return rows
        return self.list_fallback(query)

    def list(self, **extra: Any) -> list[dict]:
        """One listing (with the retry policy), not merged into what is known."""
        query = dict(self.query, **extra)
        return self.retry.call(lambda: self._once(query), "listing servers")

    def poll(self, full: bool = False) -> list[dict]:
        """The set's servers now: a full listing or the changes since the previous poll, merged."""
        stamp = utc_stamp(self.now(), CLOCK_MARGIN_SECONDS)
        full = full or self.since is None or self.polls % self.full_every == 0
        self.polls += 1
        if full:
            self.full_polls += 1
            self.known = {s["id"]: s for s in self.list()}  # DELETED-but-listed ones stay: the heal step's
        else:
            for srv in self.list(changes_since=self.since):
                if srv.get("status") in GONE:
                    self.known.pop(srv["id"], None)  # deleted since the last poll
                else:
                    self.known[srv["id"]] = srv
        self.since = stamp
        return list(self.known.values())

    def forget(self, server_ids: list[str]) -> None:
        for sid in server_ids:
            self.known.pop(sid, None)

    def reprobe(self) -> None:
        """Try the negotiated microversion again (after the suspects were deleted)."""
        self.listing_bug = False


@dataclass
class Limits:
    concurrency: int
    poll_interval: float
    timeout: float
    max_attempts: int
    stuck_timeout: float


class Job(Protocol):
    """What one bulk operation does; BulkLoop decides when."""

    def launch(self, names: list[str]) -> dict[str, str]:
        """Send the requests of `names`; each name -> 'flight' (sent), 'retry' (queue it again), 'failed'."""

    def settle(self, names: list[str]) -> dict[str, str]:
        """Poll once; each in-flight name -> 'wait', 'done', 'retry' or 'failed'."""

    def line(self, counts: dict[str, int]) -> str:
        """The progress line after a poll."""

    def sent(self, queued: int, in_flight: int) -> str:
        """What was sent and what was not (said when the run is abandoned)."""


@dataclass
class LoopResult:
    done: list[str]
    failed: list[str]
    left: list[str]  # not finished when the deadline came
    timed_out: bool


class BulkLoop:
    """The one planning-and-polling loop: at most `concurrency` requests in flight, one poll per interval,
    retries while attempts last, a deadline, and a stop when the run that started the module is gone."""

    def __init__(self, limits: Limits, deadline: float, progress: Callable[[str], None],
                 stop_if_abandoned: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limits, self.deadline, self.progress = limits, deadline, progress
        self.stop_if_abandoned, self.clock, self.sleep = stop_if_abandoned, clock, sleep

    def run(self, job: Job, queue: list[str], in_flight: set[str]) -> LoopResult:
        queue, in_flight = list(queue), set(in_flight)
        done: list[str] = []
        failed: list[str] = []
        while queue or in_flight:
            self.stop_if_abandoned(job.sent(len(queue), len(in_flight)))
            n_new = launch_slots(self.limits.concurrency, len(in_flight), len(queue))
            batch, queue = queue[:n_new], queue[n_new:]
            for name, outcome in job.launch(batch).items():
                {"flight": in_flight.add, "retry": queue.append, "failed": failed.append}[outcome](name)
            if self.clock() > self.deadline:
                self.progress(f"timeout: {len(in_flight)} still in progress, {len(queue)} not started")
                return LoopResult(done, failed, sorted(in_flight) + queue, True)
            if not in_flight:
                continue
            self.sleep(self.limits.poll_interval)
            retried = 0
            for name, decision in job.settle(sorted(in_flight)).items():
                if decision == "wait" or name not in in_flight:
                    continue
                in_flight.discard(name)
                if decision == "retry":
                    queue.append(name)
                    retried += 1
                else:
                    (done if decision == "done" else failed).append(name)
            self.progress(job.line({"done": len(done), "in_flight": len(in_flight), "queued": len(queue),
                                    "failed": len(failed), "retried": retried}))
        return LoopResult(done, failed, [], False)


def read_quotas(conn: Any, project_id: str) -> dict[str, dict[str, int]]:
    """The one place the engine reads quota: instances, cores, RAM (Nova) and ports, floating IPs (Neutron),
    each {limit, in_use, reserved}, the shape quota_shortfalls() reads."""
    cq = conn.compute.get_quota_set(project_id, usage=True)
    quotas: dict[str, dict[str, int]] = {}
    for key in ("instances", "cores", "ram"):
        quotas[key] = {"limit": getattr(cq, key), "in_use": (cq.usage or {}).get(key, 0),
                       "reserved": (cq.reservation or {}).get(key, 0)}
    nq = conn.network.get_quota(project_id, details=True)
    for attr in ("ports", "floating_ips"):
        detail = getattr(nq, attr) or {}
        quotas[attr] = {"limit": detail.get("limit", -1), "in_use": detail.get("used", 0),
                        "reserved": detail.get("reserved", 0)}
    return quotas
