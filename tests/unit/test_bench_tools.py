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
