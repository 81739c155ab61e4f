"""The bench's own measuring tools: the CPU sampler (on this machine's real /proc) and argument parsing."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import bulk_compare  # noqa: E402
import cpu_sample  # noqa: E402

BURN = [sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass"]


def test_sampler_counts_a_child_that_ended_between_samples() -> None:
    # The child lives well under one interval: the /proc samples never see it, getrusage must.
    with cpu_sample.CpuSampler(30) as sampler:
        subprocess.run(BURN, check=True)
    result = sampler.result()
    assert result["client_cpu_seconds"] >= 0.5
    assert 0 < result["busy_share"] <= 1


def test_sampler_follows_a_running_process() -> None:
    # A child that burns 1.5 s of CPU and then blocks, alive, until told to end: the samples must see all of it.
    script = BURN[2].replace("0.6", "1.5") + "\nimport sys\nsys.stdin.read(1)"
    with cpu_sample.CpuSampler(0.1) as sampler:
        child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and child_cpu(sampler, child.pid) < 1.5:
                time.sleep(0.2)
        finally:
            child.communicate(b"x")
    assert child_cpu(sampler, child.pid) >= 1.5
    assert sampler.by_process()[next(n for (pid, _), (n, _, _) in sampler.seen.items() if pid == str(child.pid))] >= 1.5


def child_cpu(sampler: cpu_sample.CpuSampler, pid: int) -> float:
    return sum(last - start for (p, _), (_, start, last) in sampler.seen.items() if p == str(pid))


@pytest.mark.parametrize(("text", "values"), [("20", [20]), ("5,10,20", [5, 10, 20])])
def test_concurrency_list(text: str, values: list[int]) -> None:
    assert bulk_compare.concurrency_list(text) == values


@pytest.mark.parametrize(("text", "message"), [("5,x", "comma-separated list"), ("0", "at least 1"), ("", "list")])
def test_concurrency_list_rejects(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        bulk_compare.concurrency_list(text)


@pytest.mark.parametrize(("text", "values"), [("on", [True]), ("off", [False]), ("On, off", [True, False])])
def test_on_off_list(text: str, values: list[bool]) -> None:
    assert bulk_compare.on_off_list(text) == values


@pytest.mark.parametrize("text", ["yes", "", "on,maybe"])
def test_on_off_list_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="give on, off or on,off"):
        bulk_compare.on_off_list(text)


def test_summarize_cpu_floor() -> None:
    # The loop: 500 s with both cores 90 % busy, 100 s of it its own CLI calls: the cloud spent 800 CPU-s, 8 per VM.
    # On 2 cores that work needs at least 400 s: 0.8 of the loop's time whatever the client.
    loop = {"method": "osc_serial_loop", "active": 100, "create_seconds": 500.0, "delete_seconds": 200.0,
            "create_cpu": {"busy_share": 0.9, "client_cpu_seconds": 100.0}}
    ours = {"method": "rentstack_servers", "active": 50, "create_seconds": 250.0, "delete_seconds": 50.0,
            "create_cpu": {"busy_share": 0.5, "client_cpu_seconds": 50.0}}
    old = {"method": "nova_multi_create", "active": 100, "create_seconds": 400.0, "delete_seconds": 100.0}
    ratios = bulk_compare.summarize([loop, ours, old], cores=2)
    assert ratios["osc_serial_loop"] == {"create_time_vs_serial_loop": 1.0, "delete_time_vs_serial_loop": 1.0,
                                         "create_time_vs_nova_multi_create": 1.25,
                                         "cloud_cpu_seconds_per_vm": 8.0, "create_cpu_floor_vs_serial_loop": 0.8}
    assert ratios["rentstack_servers"] == {"create_time_vs_serial_loop": 0.5, "delete_time_vs_serial_loop": 0.25,
                                           "create_time_vs_nova_multi_create": 0.62,
                                           "cloud_cpu_seconds_per_vm": 4.0, "create_cpu_floor_vs_serial_loop": 0.2}
    # A row measured before the CPU fields existed gets its time ratios only.
    assert ratios["nova_multi_create"] == {"create_time_vs_serial_loop": 0.8, "delete_time_vs_serial_loop": 0.5,
                                           "create_time_vs_nova_multi_create": 1.0}
    # Without the serial loop in the run: no ratio against it, no floor.
    assert bulk_compare.summarize([ours], cores=2) == {"rentstack_servers": {"cloud_cpu_seconds_per_vm": 4.0}}


def test_summarize_rounds_compare_within_their_round() -> None:
    """Round 2's rows are compared with round 2's reference rows; a method run only in round 1 serves every round."""
    loop = {"method": "osc_serial_loop", "active": 100, "create_seconds": 500.0, "delete_seconds": 200.0, "round": 1}
    rows = [loop,
            {"method": "nova_multi_create", "active": 100, "create_seconds": 400.0, "delete_seconds": 100.0, "round": 1},
            {"method": "rentstack_servers", "active": 100, "create_seconds": 420.0, "delete_seconds": 50.0, "round": 1},
            {"method": "nova_multi_create", "active": 100, "create_seconds": 300.0, "delete_seconds": 100.0, "round": 2},
            {"method": "rentstack_servers", "active": 100, "create_seconds": 330.0, "delete_seconds": 60.0, "round": 2}]
    ratios = bulk_compare.summarize(rows, cores=2)
    assert ratios["rentstack_servers"]["create_time_vs_nova_multi_create"] == 1.05
    assert ratios["rentstack_servers (round 2)"]["create_time_vs_nova_multi_create"] == 1.1
    assert ratios["rentstack_servers (round 2)"]["create_time_vs_serial_loop"] == 0.66
