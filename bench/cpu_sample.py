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
import signal
import sys
import time
from pathlib import Path
from types import FrameType

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("interval", type=float, help="seconds between two readings of /proc")
    parser.add_argument("out", type=Path, help="JSON file to write; the run stops when OUT.stop appears")
    args = parser.parse_args()
    seen: dict[tuple[str, str], tuple[str, float, float]] = {}
    sample(seen, baseline=True)

    def finish(_signum: int = 0, _frame: FrameType | None = None) -> None:
        total: dict[str, float] = {}
        for name, start, last in seen.values():
            total[name] = round(total.get(name, 0.0) + last - start, 1)
        args.out.write_text(json.dumps(dict(sorted(total.items(), key=lambda kv: -kv[1])), indent=1) + "\n",
                            encoding="utf-8")
        sys.exit(0)

    signal.signal(signal.SIGTERM, finish)
    while not args.out.with_name(args.out.name + ".stop").exists():
        time.sleep(args.interval)
        sample(seen)
    finish()


if __name__ == "__main__":
    main()
