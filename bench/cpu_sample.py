"""CPU seconds by process name on this machine while another benchmark runs: where the 2 cores go.

Every lab host and every TCG guest is a process of this machine, so reading /proc here sees all of them.
Every INTERVAL seconds the script reads each process's utime+stime. At the end it writes the CPU seconds used
since its start, summed by name, to OUT (JSON, largest first). A process that exits between two samples loses
what it used after its last sample, so keep INTERVAL short compared with the processes' lifetime. It stops on
SIGTERM or when the file OUT.stop appears.

Names: the process's comm, with two refinements. Python services get their script's name (nova-compute,
nova-conductor, ...). The API services under uWSGI get their port (uwsgi:5000 Keystone, :8774 Nova API,
:8775 Nova metadata, :8778 Placement, :9696 Neutron).

    python3 bench/cpu_sample.py 30 /tmp/cpu.json &  # then run the benchmark; touch /tmp/cpu.json.stop
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import threading
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def name_of(pid: str, comm: str) -> str:
    """A readable name for one process (see the module docstring)."""
    if not (comm.startswith(("python", "uwsgi")) or comm == "nova-compute"):
        return comm
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_text(encoding="utf-8", errors="replace").split("\0")
    except OSError:
        return comm
    if comm.startswith("uwsgi"):
        port = next((a.rsplit(":", 1)[-1] for a in argv if a.startswith(":") or a.startswith("0.0.0.0:")), "")
        return f"uwsgi:{port}" if port else comm
    script = next((a for a in argv[1:3] if a.startswith("/usr/bin/") or "ansible" in a), "")
    return os.path.basename(script) or comm


def sample(seen: dict[tuple[str, str], tuple[str, float, float]], baseline: bool = False) -> None:
    """Record each live process's name, CPU seconds at the start and CPU seconds now, keyed by (pid, start time)
    so a reused pid is a new key. With baseline (the first sample) the start is what it had used already; for a
    process first seen later it is 0, since all its CPU time falls in the run."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        key = (pid, fields[19])
        name, start, _ = seen.get(key) or (name_of(pid, comm), cpu if baseline else 0.0, cpu)
        seen[key] = (name, start, cpu)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from the first line of /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text(encoding="utf-8").split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def children_cpu() -> float:
    """User+system CPU seconds of this process's children that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuSampler:
    """Sample /proc every `interval` seconds in a thread while a `with` block runs; then `result()` gives the
    machine's busy share and the CPU seconds by process name used inside the block."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.seen: dict[tuple[str, str], tuple[str, float, float]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.ticks = (0, 0)
        self.children = 0.0

    def __enter__(self) -> CpuSampler:
        self.ticks = machine_ticks()
        self.children = children_cpu()
        sample(self.seen, baseline=True)
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()
        sample(self.seen)
        busy, total = machine_ticks()
        self.ticks = (busy - self.ticks[0], total - self.ticks[1])
        self.children = children_cpu() - self.children

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            sample(self.seen)

    def by_process(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for name, start, last in self.seen.values():
            total[name] = total.get(name, 0.0) + last - start
        return {k: round(v, 1) for k, v in sorted(total.items(), key=lambda kv: -kv[1])}

    def result(self, top: int = 8) -> dict[str, object]:
        """busy_share: the machine's CPUs busy / available in the block (1.0 = every core busy all the time).
        client_cpu_seconds: CPU of the commands the block ran and waited for, their children included (exact,
        from getrusage; the /proc samples miss short-lived processes such as each CLI call of a loop)."""
        busy, total = self.ticks
        return {"busy_share": round(busy / total, 2) if total else None,
                "client_cpu_seconds": round(self.children, 1),
                "cpu_seconds_by_process": dict(list(self.by_process().items())[:top])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("interval", type=float, help="seconds between two readings of /proc")
    parser.add_argument("out", type=Path, help="JSON file to write; the run stops when OUT.stop appears")
    args = parser.parse_args()
    stop = args.out.with_name(args.out.name + ".stop")
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.touch())
    with CpuSampler(args.interval) as sampler:
        while not stop.exists():
            time.sleep(min(args.interval, 1.0))
    args.out.write_text(json.dumps(sampler.by_process(), indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
