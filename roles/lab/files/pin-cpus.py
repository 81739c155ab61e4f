#!/usr/bin/python3
"""Set the CPUs every process of one lab host (a podman container) may run on.

    pin-cpus.py CONTAINER [CPULIST]

CPULIST is a taskset-style list ("0", "0-1", "0,2-3"); without it, every online CPU of the machine.
Prints "unchanged" when the host's init already has that set, else sets it on every thread of every
process in the host's PID namespace and prints "changed". Processes started later inherit the set from
their parent (systemd, sshd). roles/lab/tasks/service.yml says why the lab needs this.
"""

import os
import subprocess
import sys


def cpus(text):
    """The set of CPUs a list like "0,2-3" names."""
    found = set()
    for part in text.strip().split(","):
        first, _dash, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


def main(container, wanted=None):
    with open("/sys/devices/system/cpu/online", encoding="ascii") as online_file:
        online = cpus(online_file.read())
    try:
        want = cpus(wanted) if wanted else online
    except ValueError:
        sys.exit(f"lab_cpus of {container} is '{wanted}': write a CPU list such as 0 or 0-1")
    if not want or not want <= online:
        sys.exit(f"lab_cpus of {container} is '{wanted}', but this machine's CPUs are {sorted(online)}: "
                 "name some of those, or remove lab_cpus")
    pid = subprocess.run(["podman", "inspect", "--format", "{{.State.Pid}}", container], check=True,
                         capture_output=True, text=True).stdout.strip()
    if not pid.isdigit() or pid == "0":
        sys.exit(f"lab host {container} is not running: start it (make lab) first")
    if os.sched_getaffinity(int(pid)) == want:
        print("unchanged")
        return
    namespace = os.readlink(f"/proc/{pid}/ns/pid")
    for proc in os.listdir("/proc"):
        try:
            if not proc.isdigit() or os.readlink(f"/proc/{proc}/ns/pid") != namespace:
                continue
            for thread in os.listdir(f"/proc/{proc}/task"):
                os.sched_setaffinity(int(thread), want)
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited meanwhile
        except PermissionError:
            continue  # a process of the machine this user may not inspect: not the lab's
    print("changed")


if __name__ == "__main__":
    main(*sys.argv[1:3])
