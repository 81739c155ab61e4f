"""Shared base of rentstack's OpenStack modules.

One place for the common options (cloud, timeout), the openstacksdk
connection, and turning SDK and config errors into `fail_json` messages that
carry the API's answer instead of a traceback.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Callable

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
# Imported at the top, not inside the functions that use them: module_utils finders (Ansible's and
# mitogen's) must see every import to ship the file with the module.
try:  # from the checkout: ansible.cfg's module_utils = plugins/module_utils (docs/collection.md)
    from ansible.module_utils.rentstack_bulk import (GONE, SET_TAG_PREFIX, canonical_server, expand_names, placement_fit,
                                                     quota_shortfalls, reconcile, set_width)
    from ansible.module_utils.rentstack_engine import (FALLBACK_MICROVERSION, Limits, RetryPolicy, ServerLister, describe, fault_kind,
                                                       read_quotas, utc_stamp)
    from ansible.module_utils.rentstack_resources import flavor_disk_gb, placement_providers, raw_servers_listing
except ImportError:  # from the installed collection rentstack.cloud
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_bulk import (GONE, SET_TAG_PREFIX, canonical_server, expand_names,
                                                                                         placement_fit, quota_shortfalls, reconcile, set_width)
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_engine import (FALLBACK_MICROVERSION, Limits, RetryPolicy, ServerLister,
                                                                                           describe, fault_kind, read_quotas, utc_stamp)
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_resources import flavor_disk_gb, placement_providers, raw_servers_listing

try:
    import openstack
    from openstack import exceptions as os_exc

    HAS_SDK = True
    SDK_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the host
    # The names stay importable (modules import os_exc from here); RentstackModule fails with missing_required_lib.
    openstack = os_exc = None
    HAS_SDK = False
    SDK_IMPORT_ERROR = exc

COMMON_ARGS: dict[str, Any] = {
    # Playbooks pass rentstack_cloud_name (playbooks/group_vars/all/cloud.yml); a module called on its own
    # takes $OS_CLOUD (what an AWX OpenStack credential sets), then the keystone role's entry.
    "cloud": {"type": "str", "default": "rentstack", "fallback": (env_fallback, ["OS_CLOUD"])},
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
                          "Set rentstack_cloud (or OS_CLOUD) to an entry that exists, give the job a cloud "
                          "credential, or run playbooks/site.yml (it writes the entry into "
                          "~/.config/openstack/clouds.yaml of the user running Ansible).")
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
        except Exception as exc:  # noqa: BLE001 - keystoneauth/requests faults are answers too; others raise
            if fault_kind(exc) == "fatal":
                raise
            self.fail(f"the cloud did not answer after the retries: {describe(exc)}; run again when it is back")
        self.ansible.exit_json(**result)


def parent_chain(pid: int | None = None, depth: int = 3, proc: str = "/proc") -> list[int]:
    """The PIDs of a process's parent, grandparent, ... (up to `depth`), read from /proc; [] without /proc.

    A module runs under `/bin/sh -c` started by an ansible-playbook worker. When that run is killed
    (Ctrl-C on a terminal reaches the whole process group, but AWX's cancel or a `kill` of
    ansible-playbook may not), the shells are re-parented and this chain changes."""
    chain: list[int] = []
    pid = os.getpid() if pid is None else pid
    for _level in range(depth):
        try:
            with open(f"{proc}/{pid}/stat", encoding="ascii") as fh:
                stat = fh.read()
        except OSError:
            break
        # Fields after the command (which may hold spaces and parentheses): state, ppid, ...
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        chain.append(pid)
        if pid <= 1:
            break
    return chain


SET_ARGS: dict[str, Any] = {
    "timeout": {"type": "int", "default": 1800},
    "project": {"type": "str"},
    "prefix": {"type": "str"},
    "count": {"type": "int"},
    "names": {"type": "list", "elements": "str"},
    "name_width": {"type": "int", "default": 3},
    "concurrency": {"type": "int", "default": 20},
    "poll_interval": {"type": "float", "default": 3},
    "max_attempts": {"type": "int", "default": 3},
    "stuck_timeout": {"type": "int", "default": 900},
    "api_retries": {"type": "int", "default": 5},
    "retry_delay": {"type": "float", "default": 1.0},
    "retry_max_delay": {"type": "float", "default": 30.0},
    "full_list_every": {"type": "int", "default": 20},
    "progress_file": {"type": "path"},
}
SET_KWARGS: dict[str, Any] = {
    "mutually_exclusive": [("names", "prefix")],
    "required_together": [("prefix", "count")],
    "required_one_of": [("names", "prefix")],
}


class ServerSetModule(RentstackModule):
    """Base of the modules that act on a set of servers (prefix + count, or names) in one project: the set's
    names, the project-scoped connection, the engine's retry policy and listing (rentstack_engine), the one
    quota and capacity check, and progress lines (shown live by the rentstack_servers action plugin)."""

    positive_options: tuple[str, ...] = ("concurrency", "max_attempts", "api_retries", "full_list_every")

    def __init__(self) -> None:

        self.argument_spec = dict(SET_ARGS, **self.argument_spec)
        kwargs = {k: list(v) for k, v in SET_KWARGS.items()}
        for key, value in self.module_kwargs.items():
            kwargs[key] = kwargs.get(key, []) + list(value)
        self.module_kwargs = kwargs
        super().__init__()
        self.started = time.monotonic()
        self.lines: list[str] = []
        self._parents = parent_chain()
        # Who this run is, stamped on the servers it creates and named by runs that wait for it.
        self.run_id = f"{socket.gethostname()}:{os.getpid()}:{utc_stamp()}"
        for opt in self.positive_options:
            if self.params[opt] < 1:
                self.fail(f"{opt} must be 1 or more, got {self.params[opt]}")
        self.retry = RetryPolicy(attempts=self.params["api_retries"], base=self.params["retry_delay"],
                                 cap=self.params["retry_max_delay"], reauth=self.reauth, log=self.progress)
        try:
            self.names = expand_names(self.params["prefix"], self.params["count"], self.params["names"],
                                      self.params["name_width"])
        except ValueError as exc:
            self.fail(str(exc))
        # The set's identity, stamped on its servers (metadata rentstack_set) and its floating IPs.
        self.set_tag = SET_TAG_PREFIX + (self.params["prefix"] or "names:" + ",".join(self.names)[:200])
        # Servers of the set that still carry the name their multi-create request left them: id -> (set name,
        # hostname); filled by every listing (canonical()), emptied by the listing that shows them renamed.
        self.renames: dict[str, tuple[str, str | None]] = {}

    def progress(self, msg: str) -> None:
        line = f"[{time.monotonic() - self.started:6.1f}s] {msg}"
        self.lines.append(line)
        if self.params["progress_file"]:
            with open(self.params["progress_file"], "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def reauth(self) -> None:
        """Drop the tokens (expired or revoked: the API answered 401) so the next request authenticates again."""
        for conn in {id(c): c for c in (self._conn, getattr(self, "_pconn", None)) if c is not None}.values():
            auth = getattr(getattr(conn, "session", None), "auth", None)
            if auth is not None:
                auth.invalidate()

    def stop_if_abandoned(self, what: str) -> None:
        """Fail (and so stop sending requests) when the ansible-playbook run that started this module is gone:
        a cancelled job must not go on creating or acting on servers nobody waits for."""
        if self._parents and parent_chain() != self._parents:
            msg = (f"the ansible-playbook run that started this module is gone (cancelled or killed): stopped; "
                   f"{what}. Run the playbook again to finish, or vms_delete.yml to remove the set.")
            self.progress(msg)
            self.fail(msg)

    @property
    def project_conn(self) -> Any:
        if not hasattr(self, "_pconn"):
            project = self.params["project"]
            self._pconn = self.conn
            if project:
                found = self.retry.call(lambda: self.conn.identity.find_project(project, ignore_missing=True),
                                        f"finding project {project}")
                if found is None:
                    self.fail(f"project '{project}' not found; create it first (playbooks/tenants.yml)")
                try:
                    # A dict (id + domain_id) scopes by ID; a string would be taken as a name.
                    self._pconn = self.conn.connect_as_project({"id": found.id, "domain_id": found.domain_id})
                    self._pconn.authorize()
                except Exception as exc:  # noqa: BLE001 - keystoneauth raises several types
                    self.fail(f"cannot act in project '{project}' as the user of cloud '{self.params['cloud']}': "
                              f"{exc}. Give that user a role in the project (e.g. member).")
        return self._pconn

    def project_id(self) -> str:
        return self.project_conn.current_project_id

    @property
    def lister(self) -> Any:
        """The engine's listing of the set (rentstack_engine.ServerLister), made on first use."""
        if not hasattr(self, "_lister"):
            import re

            query: dict[str, Any] = {}
            if self.params["prefix"]:
                query["name"] = "^" + re.escape(self.params["prefix"]) + "-"
            self._lister = ServerLister(
                lambda q: self.canonical([s.to_dict(computed=False)
                                          for s in self.project_conn.compute.servers(details=True, **q)]),
                lambda q: self.canonical(raw_servers_listing(self.project_conn.compute, q, FALLBACK_MICROVERSION)),
                query, self.retry, self.params["full_list_every"], self.progress)
        return self._lister

    @property
    def name_digits(self) -> int:
        """Digits of the number in the set's generated names (expand_names' width)."""
        return set_width(self.params["count"] or 0, self.params["name_width"])

    def canonical(self, rows: list[dict]) -> list[dict]:
        """A listing with each server a multi-create made under its set name (rentstack_bulk.canonical_server), so
        every run, of any module, sees one set whatever stage the renames are at; the ones to rename are noted."""
        out = []
        width = self.name_digits
        for row in rows:
            seen = canonical_server(row, self.params["prefix"], width, self.set_tag)
            if seen is None:
                self.renames.pop(row.get("id"), None)
                out.append(row)
            else:
                if row.get("status") not in GONE:
                    self.renames[row["id"]] = (seen["name"], seen.get("hostname"))
                out.append(seen)
        return out

    def list_set(self, poll: bool = False, expect: dict[str, str] | None = None, full: bool = False
                 ) -> tuple[dict[str, dict], list[dict]]:
        """The set's servers by name (one each, by reconcile()'s rule) and the extra ones (duplicates of a name,
        servers listed as DELETED). poll=True asks only for what changed since the previous poll; when a server
        in `expect` ({name: id}) is then missing, the set is listed in full before it is taken as gone (a
        changes-since poll misses servers when this machine's clock is ahead of the cloud's). full=True makes the
        poll a full listing."""

        if not poll:
            return reconcile(self.lister.list(), self.names)
        keep, extra = reconcile(self.lister.poll(full=full), self.names)
        if expect and any(sid not in self.lister.known for sid in expect.values()):
            keep, extra = reconcile(self.lister.poll(full=True), self.names)
        return keep, extra

    def lookup(self, name: str) -> dict | None:
        """The live server of one name of the set, by a listing of that name (after a lost response)."""
        import re

        keep, _extra = reconcile(self.lister.list(name="^" + re.escape(name) + "$"), [name])
        srv = keep.get(name)
        return srv if srv is not None and srv.get("status") != "ERROR" else None

    def check_fit(self, flavor: Any, n: int, ports_per_server: int = 1, floating_ips: bool = False) -> None:
        """The one quota and capacity check: headroom in the project's quota, and free Placement capacity for
        `n` more servers of `flavor`; fail with the numbers, having changed nothing."""

        if n <= 0:
            return
        pid = self.project_id()
        quotas = self.retry.call(lambda: read_quotas(self.conn, pid), "reading quotas")
        requested = {"instances": n, "cores": n * flavor.vcpus, "ram": n * flavor.ram,
                     "ports": n * max(ports_per_server, 1), "floating_ips": n if floating_ips else 0}
        short = quota_shortfalls(requested, quotas)
        if short:
            detail = "; ".join(f"{s['resource']}: requested {s['requested']}, used {s['used']}, limit {s['limit']}, "
                               f"free {s['free']}" for s in short)
            self.fail(f"request of {n} servers does not fit the quota of project {self.params['project'] or pid}: "
                      f"{detail}. Nothing was created; raise the quota or ask for fewer.", shortfalls=short)
        if not self.params.get("check_capacity", True) or self.params.get("host"):
            return
        providers = self.retry.call(lambda: placement_providers(self.conn), "reading Placement")
        need = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.ram,
                "DISK_GB": flavor_disk_gb({"disk": flavor.disk, "ephemeral": flavor.ephemeral, "swap": flavor.swap})}
        fit = placement_fit(need, providers)
        if fit < n:
            self.fail(f"request of {n} servers of flavor {flavor.name} does not fit the free capacity of the "
                      f"compute hosts: {fit} fit ({len(providers)} resource providers). Nothing was created; add "
                      "compute hosts, raise allocation ratios, or ask for fewer.", capacity_fit=fit)

    def delete_servers(self, ids: list[str], workers: int = 8) -> None:
        """Delete servers by ID in parallel (a server already gone is no error), each with the retry policy."""
        from concurrent.futures import ThreadPoolExecutor

        if not ids:
            return
        compute = self.project_conn.compute
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda i: self.retry.call(lambda: compute.delete_server(i, ignore_missing=True),
                                                    f"deleting server {i}"), ids))

    def loop_limits(self) -> Any:

        p = self.params
        return Limits(concurrency=p["concurrency"], poll_interval=p["poll_interval"], timeout=p["timeout"],
                      max_attempts=p["max_attempts"], stuck_timeout=p["stuck_timeout"])
