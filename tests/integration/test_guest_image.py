"""Build the test guest with the guest_image role and boot it under qemu.

Runs the role on the control machine (localhost) twice through
ansible-playbook: the first run builds (or reuses) vmlinuz + initrd.gz and
boots them under TCG with user-mode networking and a fake metadata answer;
its serial console must show the marker line with an IPv4 address and the
fake instance uuid (the role asserts that, the busy-loop helper and the uuid
served over HTTP, and prints the marker). The second run must change nothing
and must not boot again: the self-test runs once per build (the build's stamp
is kept as selftest.stamp once it passed).

Needs root (apt, mknod in the initramfs, qemu) and a Debian control machine
whose apt can download packages (or a warm cache in the image directory).
Set RENTSTACK_GUEST_IMAGE_DIR to build somewhere else than the role default.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE_DIR = os.environ.get("RENTSTACK_GUEST_IMAGE_DIR", "/var/cache/rentstack-lab/guest-image")
UUID = "00000000-0000-4000-8000-00000000c0de"
MARKER = re.compile(r"RENTSTACK-GUEST-READY uuid=(\S+) ip=(\d+\.\d+\.\d+\.\d+)")
RECAP = re.compile(r"^localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
PLAYBOOK = """\
---
- name: Build and boot the rentstack test guest
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: guest_image
"""

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the guest_image role needs root (apt, mknod, qemu)"),
    pytest.mark.skipif(shutil.which("apt-get") is None, reason="the guest_image role needs a Debian control machine"),
]


def _run(playbook: Path) -> tuple[str, dict[str, int]]:
    bin_dir = Path(sys.executable).parent
    ansible_playbook = shutil.which("ansible-playbook", path=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    assert ansible_playbook, "ansible-playbook not found"
    # JSON results keep the marker on one line (the yaml format wraps it).
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    proc = subprocess.run(
        [ansible_playbook, str(playbook), "-e", f"guest_image_dir={IMAGE_DIR}",
         "-e", f"guest_image_selftest_uuid={UUID}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )
    out = proc.stdout + proc.stderr
    recap = RECAP.search(out)
    assert proc.returncode == 0 and recap, f"ansible-playbook failed (rc={proc.returncode}):\n{out[-6000:]}"
    ok, changed, unreachable, failed = (int(n) for n in recap.groups())
    return out, {"ok": ok, "changed": changed, "unreachable": unreachable, "failed": failed}


def test_guest_image_builds_boots_and_is_idempotent(tmp_path: Path) -> None:
    playbook = tmp_path / "guest_image.yml"
    playbook.write_text(PLAYBOOK)
    # Forget which build passed the self-test, so this run must boot the guest.
    Path(IMAGE_DIR, "selftest.stamp").unlink(missing_ok=True)

    out, stats = _run(playbook)
    # The role's own assert printed the marker it saw (the serial log itself
    # may already belong to a later run: runs on one directory take turns).
    marker = MARKER.search(out)
    assert marker, f"no marker in the playbook output:\n{out[-6000:]}"
    assert marker.group(1) == UUID, marker.group(0)
    for name in ("vmlinuz", "initrd.gz", "disk.raw"):
        assert Path(IMAGE_DIR, name).stat().st_size > 0, name
    assert Path(IMAGE_DIR, "disk.raw").stat().st_size == 1024 * 1024

    assert Path(IMAGE_DIR, "selftest.stamp").read_text() == Path(IMAGE_DIR, "build.stamp").read_text()

    out, stats = _run(playbook)
    assert stats["changed"] == 0, f"second run changed {stats['changed']} task(s):\n{out[-6000:]}"
    assert not MARKER.search(out), f"the second run booted the same build again:\n{out[-6000:]}"
