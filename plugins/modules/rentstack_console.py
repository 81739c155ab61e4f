#!/usr/bin/python
"""Read a server's console log or get its remote console URL."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rentstack_console
short_description: Read a server's console log or get its remote console URL
description:
  - Returns the serial console output of a server, or a URL of its remote
    (noVNC) console. Read-only; safe in check mode.
options:
  timeout:
    description: Seconds to wait for C(wait_for) to appear in the console log.
    type: int
    default: 600
  server:
    description: Server name or ID (a name must be unique in the project).
    type: str
    required: true
  kind:
    description: C(log) for the console output, C(url) for a remote console URL.
    type: str
    choices: [log, url]
    default: log
  lines:
    description: With C(kind=log), only the last N lines (0 for all).
    type: int
    default: 0
  console_type:
    description: With C(kind=url), the console protocol.
    type: str
    choices: [novnc, spice-html5, serial]
    default: novnc
  wait_for:
    description: With C(kind=log), wait until this text appears in the log.
    type: str
  fail_on:
    description:
      - With O(wait_for), texts that mean the awaited text will never come (a guest that reports it
        has no address, a kernel panic). The module fails as soon as one appears in the log, naming
        it, instead of waiting out O(timeout).
    type: list
    elements: str
    default: []
author: rentstack (!UNKNOWN)
extends_documentation_fragment:
  - rentstack.cloud.cloud
"""

EXAMPLES = r"""
- name: Wait for the guest's boot marker
  rentstack_console:
    server: verify-cmp1
    wait_for: RENTSTACK-GUEST-READY
    fail_on: ["RENTSTACK-GUEST-READY uuid=unknown", "Kernel panic"]
    timeout: 300
  register: console

- name: Get the noVNC URL
  rentstack_console:
    server: verify-cmp1
    kind: url
"""

RETURN = r"""
output:
  description: The console log (kind=log).
  returned: when kind=log
  type: str
url:
  description: The remote console URL (kind=url).
  returned: when kind=url
  type: str
server_id:
  description: ID of the server.
  returned: always
  type: str
"""

try:  # from the checkout: ansible.cfg's module_utils = plugins/module_utils (docs/collection.md)
    from ansible.module_utils.rentstack_openstack import RentstackModule
except ImportError:  # from the installed collection rentstack.cloud
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_openstack import RentstackModule


def first_seen(text: str, needles: list[str]) -> str | None:
    """The needle that occurs earliest in text, or None: the first sign of failure is the one to report."""
    found = [(text.find(n), n) for n in needles if n and n in text]
    return min(found)[1] if found else None


class ConsoleModule(RentstackModule):
    argument_spec = {
        "server": {"type": "str", "required": True},
        "kind": {"type": "str", "choices": ["log", "url"], "default": "log"},
        "lines": {"type": "int", "default": 0},
        "console_type": {"type": "str", "choices": ["novnc", "spice-html5", "serial"], "default": "novnc"},
        "wait_for": {"type": "str"},
        "fail_on": {"type": "list", "elements": "str", "default": []},
    }

    def run(self) -> dict:
        server = self.conn.compute.find_server(self.params["server"], ignore_missing=True)
        if server is None:
            self.fail(f"server '{self.params['server']}' not found in cloud '{self.params['cloud']}'")
        if self.params["kind"] == "url":
            console = self.conn.compute.create_console(server, console_type=self.params["console_type"])
            return {"changed": False, "server_id": server.id, "url": console["url"]}
        length = self.params["lines"] or None
        output = {"text": ""}

        def seen() -> bool:
            output["text"] = self.conn.compute.get_server_console_output(server, length=length).get("output", "")
            if not self.params["wait_for"] or self.params["wait_for"] in output["text"]:
                return True
            hit = first_seen(output["text"], self.params["fail_on"])
            if hit is not None:
                self.fail(f"'{hit}' appeared in the console log of {server.name} ({server.id}) before "
                          f"'{self.params['wait_for']}': it will not come; last seen: {output['text'][-1500:]}",
                          server_id=server.id, output=output["text"])
            return False

        self.wait_for(seen, f"'{self.params['wait_for']}' in the console log of {server.name}", interval=3,
                      detail=lambda: output["text"][-1500:])
        return {"changed": False, "server_id": server.id, "output": output["text"]}


def main() -> None:
    ConsoleModule().main()


if __name__ == "__main__":
    main()
