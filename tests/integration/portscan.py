"""A TCP connect scanner, run as a script (inside a network namespace with `ip netns exec`) or imported.

    python3 portscan.py HOST PORTS [CONCURRENCY TIMEOUT]   -> prints the open ports, one per line

PORTS is "1-65535" or "22,80,5000". A port is open when a TCP connection completes within TIMEOUT seconds;
refused and silently dropped ports are both "not open" (a default-drop firewall answers nothing, so each dropped
port costs the timeout: the scan runs CONCURRENCY connections at once). A sweep of every port at high
concurrency can miss an open port on a loaded machine (its answer waits in the event loop past the timeout), so
callers confirm the ports that matter with a second, careful pass (low concurrency, long timeout). TCP only: a
UDP scan cannot tell an open port from a filtered one without each protocol's payload.
"""

from __future__ import annotations

import asyncio
import resource
import sys

TIMEOUT = 1.0
CONCURRENCY = 3000


async def _probe(host: str, port: int, gate: asyncio.Semaphore, timeout: float) -> int | None:
    async with gate:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (OSError, asyncio.TimeoutError):
            return None
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return port


async def _scan(host: str, ports: list[int], concurrency: int, timeout: float) -> list[int]:
    gate = asyncio.Semaphore(concurrency)
    found = await asyncio.gather(*(_probe(host, port, gate, timeout) for port in ports))
    return sorted(port for port in found if port is not None)


def parse_ports(spec: str) -> list[int]:
    """ "1-65535" or "22,80,5000-5002" as a list of ports (pure)."""
    ports: list[int] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        ports.extend(range(int(first), int(last or first) + 1))
    return ports


def open_ports(host: str, ports: list[int], concurrency: int = CONCURRENCY, timeout: float = TIMEOUT) -> list[int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, concurrency + 200)), hard))
    return asyncio.run(_scan(host, ports, concurrency, timeout))


if __name__ == "__main__":
    options = sys.argv[3:5]
    for open_port in open_ports(sys.argv[1], parse_ports(sys.argv[2]),
                                *(int(options[0]), float(options[1])) if options else ()):
        print(open_port)
