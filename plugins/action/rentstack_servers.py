"""Action plugin for rentstack_servers: shows the module's progress live.

A module cannot print while it runs. When the module runs on the control
machine (the usual case: it only talks to the OpenStack API), this plugin
gives it a progress file and prints each new line as it appears, so a
100-server operation reports done/left every poll instead of minutes of
silence. The same file serves rentstack_server_action (plugins/action/rentstack_server_action.py is a
link to it).
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()


class _Tail(threading.Thread):
    def __init__(self, path: str, host: str) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.host = host
        self.stop = threading.Event()

    def run(self) -> None:
        pos = 0
        while True:
            stopping = self.stop.wait(1.0)
            try:
                with open(self.path, encoding="utf-8") as fh:
                    fh.seek(pos)
                    chunk = fh.read()
                    pos = fh.tell()
            except FileNotFoundError:
                chunk = ""
            for line in chunk.splitlines():
                display.display(f"  [{self.host}] {line}")
            if stopping:
                return


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        local = self._connection.transport == "local"
        tail = None
        path = None
        if local and "progress_file" not in args:
            fd, path = tempfile.mkstemp(prefix="rentstack-progress-")
            os.close(fd)
            args["progress_file"] = path
            tail = _Tail(path, (task_vars or {}).get("inventory_hostname", "localhost"))
            tail.start()
        try:
            result.update(self._execute_module(module_name=self._task.action, module_args=args,
                                               task_vars=task_vars))
        finally:
            if tail is not None:
                tail.stop.set()
                tail.join(timeout=5)
            if path:
                os.unlink(path)
        return result
