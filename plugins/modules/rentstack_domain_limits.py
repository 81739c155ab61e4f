#!/usr/bin/python
"""Check that libvirt domains run with the CPU and I/O limits of their flavors."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rentstack_domain_limits
short_description: Check libvirt domains run with their flavor's CPU and I/O limits
description:
  - Runs on a compute host. For each instance given, finds its libvirt domain,
    reads the effective CPU tuning (period, quota, shares), the block I/O tuning
    of each disk and the bandwidth of each interface, and compares them with
    the flavor's C(quota:*) extra specs.
  - Optionally measures each domain's CPU use over an interval (domain CPU
    time), to show a cap holds under load, and the machine's idle CPU over the
    same interval (C(/proc/stat)), which says whether a share below a guest's
    expectation was for want of CPU.
  - Read-only; safe in check mode.
options:
  instances:
    description: Instances on this host, each with C(name), C(id), C(instance_name) and C(extra_specs).
    type: list
    elements: dict
    required: true
  measure_seconds:
    description: Measure CPU use over this many seconds (0 to skip).
    type: float
    default: 0
  uri:
    description: libvirt connection URI.
    type: str
    default: qemu:///system
requirements: [libvirt-python (python3-libvirt, installed with nova-compute)]
author: rentstack (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Check the limits of the instances on this host
  rentstack_domain_limits:
    instances: "{{ instances_on_this_host }}"
    measure_seconds: 20
"""

RETURN = r"""
instances:
  description: Per instance, C(result) (ok, mismatch, missing), C(problems), the C(tuning) read, and C(cpu_percent) when measured.
  returned: always
  type: list
  elements: dict
idle_cpu_percent:
  description: Idle CPU of the machine while measuring, in percent of one CPU (200 = two CPUs idle throughout).
  returned: when measured
  type: float
summary:
  description: Counts of ok, mismatch and missing.
  returned: always
  type: dict
"""

import os  # noqa: E402
import time  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402
try:  # from the checkout: ansible.cfg's module_utils = plugins/module_utils (docs/collection.md)
    from ansible.module_utils.rentstack_limits import compare, cpu_percent, expected_tuning, idle_cpu_percent
except ImportError:  # from the installed collection rentstack.cloud
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_limits import compare, cpu_percent, expected_tuning, idle_cpu_percent

try:
    import libvirt

    HAS_LIBVIRT = True
except ImportError:  # pragma: no cover - depends on the host
    HAS_LIBVIRT = False


def read_domain(dom) -> dict:  # noqa: ANN001 - libvirt.virDomain
    xml = ET.fromstring(dom.XMLDesc(0))
    disks = {}
    for disk in xml.findall("./devices/disk"):
        target = disk.find("target")
        if target is not None and disk.get("device") == "disk":
            disks[target.get("dev")] = dom.blockIoTune(target.get("dev"), 0)
    vifs = {}
    for iface in xml.findall("./devices/interface"):
        target = iface.find("target")
        if target is not None:
            vifs[target.get("dev")] = dom.interfaceParameters(target.get("dev"), 0)
    return {"cpu": dom.schedulerParameters(), "disks": disks, "vifs": vifs}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "instances": {"type": "list", "elements": "dict", "required": True},
            "measure_seconds": {"type": "float", "default": 0},
            "uri": {"type": "str", "default": "qemu:///system"},
        },
        supports_check_mode=True,
    )
    if not HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib("libvirt-python (python3-libvirt)"))
    try:
        conn = libvirt.openReadOnly(module.params["uri"])
    except libvirt.libvirtError as exc:
        module.fail_json(msg=f"cannot connect to libvirt at {module.params['uri']}: {exc}")
    results = []
    domains = {}
    for inst in module.params["instances"]:
        rec = {"name": inst.get("name"), "id": inst.get("id"), "instance_name": inst.get("instance_name")}
        try:
            dom = conn.lookupByName(inst["instance_name"])
        except libvirt.libvirtError:
            rec.update(result="missing", problems=[f"no libvirt domain {inst.get('instance_name')} on this host"])
            results.append(rec)
            continue
        tuning = read_domain(dom)
        expected = expected_tuning(inst.get("extra_specs") or {})
        problems = compare(expected, tuning["cpu"], tuning["disks"], tuning["vifs"])
        rec.update(result="mismatch" if problems else "ok", problems=problems, expected=expected, tuning=tuning)
        results.append(rec)
        domains[inst["instance_name"]] = dom
    seconds = module.params["measure_seconds"]
    measured = {}
    if seconds > 0 and domains:
        before = {n: d.info()[4] for n, d in domains.items()}
        stat_before = read_stat()
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        after = {n: d.info()[4] for n, d in domains.items()}
        stat_after = read_stat()
        for rec in results:
            n = rec["instance_name"]
            if n in before:
                rec["cpu_percent"] = cpu_percent(before[n], after[n], elapsed)
        measured["idle_cpu_percent"] = idle_cpu_percent(stat_before, stat_after, elapsed, os.sysconf("SC_CLK_TCK"))
    summary = {k: sum(1 for r in results if r["result"] == k) for k in ("ok", "mismatch", "missing")}
    module.exit_json(changed=False, instances=results, summary=summary, **measured)


def read_stat() -> str:
    with open("/proc/stat", encoding="ascii") as stat:
        return stat.read()


if __name__ == "__main__":
    main()
