"""Shared base of rentstack's OpenStack modules.

One place for the common options (cloud, timeout), the openstacksdk
connection, and turning SDK and config errors into `fail_json` messages that
carry the API's answer instead of a traceback.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import openstack
    from openstack import exceptions as os_exc

    HAS_SDK = True
    SDK_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the host
    HAS_SDK = False
    SDK_IMPORT_ERROR = exc

COMMON_ARGS: dict[str, Any] = {
    "cloud": {"type": "str", "default": "rentstack"},
    "timeout": {"type": "int", "default": 600},
}

CLOUDS_YAML_PATHS = (
    "./clouds.yaml",
    os.path.expanduser("~/.config/openstack/clouds.yaml"),
    "/etc/openstack/clouds.yaml",
)


def api_error_message(exc: Exception) -> str:
    """A one-line message with the HTTP status and the API's own answer."""
    parts = [type(exc).__name__ + ":", str(exc).strip()]
    details = getattr(exc, "details", None)
    if details and details not in parts[1]:
        parts.append(f"(API said: {details})")
    return " ".join(p for p in parts if p)


class RentstackModule:
    """Subclass and implement `run()`; call `main()` from the module."""

    argument_spec: dict[str, Any] = {}
    module_kwargs: dict[str, Any] = {}

    def __init__(self) -> None:
        spec = dict(COMMON_ARGS)
        spec.update(self.argument_spec)
        kwargs = {"supports_check_mode": True}
        kwargs.update(self.module_kwargs)
        self.ansible = AnsibleModule(argument_spec=spec, **kwargs)
        self.params = self.ansible.params
        self.check_mode = self.ansible.check_mode
        self._conn = None
        if not HAS_SDK:
            self.ansible.fail_json(msg=missing_required_lib("openstacksdk"), exception=str(SDK_IMPORT_ERROR))

    @property
    def conn(self) -> Any:
        if self._conn is None:
            cloud = self.params["cloud"]
            try:
                self._conn = openstack.connect(cloud=cloud)
                self._conn.authorize()
            except os_exc.ConfigException as exc:
                searched = os.environ.get("OS_CLIENT_CONFIG_FILE") or ", ".join(CLOUDS_YAML_PATHS)
                self.fail(f"cloud '{cloud}' is not defined in clouds.yaml (looked in {searched}): {exc}. "
                          "Run playbooks/site.yml (it writes /etc/openstack/clouds.yaml) or set 'cloud'.")
            except os_exc.SDKException as exc:
                self.fail(f"cannot connect to cloud '{cloud}': {api_error_message(exc)}")
        return self._conn

    def fail(self, msg: str, **kwargs: Any) -> None:
        self.ansible.fail_json(msg=msg, **kwargs)

    def log(self, msg: str) -> None:
        """Progress line (visible with -v and in the module's 'progress' result)."""
        self.ansible.log(msg)

    def wait_for(self, check: Callable[[], bool], what: str, interval: float = 2.0,
                 detail: Callable[[], str] | None = None) -> None:
        """Poll check() until true; fail after the module's timeout, saying what was awaited."""
        deadline = time.monotonic() + self.params["timeout"]
        while not check():
            if time.monotonic() > deadline:
                extra = f"; last seen: {detail()}" if detail else ""
                self.fail(f"timed out after {self.params['timeout']}s waiting for {what}{extra}")
            time.sleep(interval)

    def run(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def main(self) -> None:
        try:
            result = self.run()
        except os_exc.SDKException as exc:
            self.fail(api_error_message(exc))
        self.ansible.exit_json(**result)
