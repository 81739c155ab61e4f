"""Planning of the rentstack_images module, free of any API call (unit tested).

Images are compared as Glance's API returns them (GET /v2/images/{id}):
core attributes typed (visibility, protected, os_hidden, min_disk, min_ram,
tags) and every extra property a string. Only what an entry sets is
managed: attributes and properties it does not mention are left alone.
"""

from __future__ import annotations

from typing import Any

# properties.kernel / properties.ramdisk name another entry of the list.
REFERENCES = {"kernel": "kernel_id", "ramdisk": "ramdisk_id"}
# The entry keys that map onto core image attributes (entry key -> Glance attribute).
CORE = {"visibility": "visibility", "protected": "protected", "hidden": "os_hidden", "min_disk": "min_disk",
        "min_ram": "min_ram", "tags": "tags"}
# What Glance gives a new image (used to show the plan of an upload in check mode).
NEW_IMAGE = {"visibility": "shared", "protected": False, "os_hidden": False, "min_disk": 0, "min_ram": 0, "tags": [],
             "status": "queued"}


def glance_string(value: Any) -> str:
    """A property value as Glance stores it: a string; booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def retired_name(name: str, image_id: str) -> str:
    """The name an older upload is renamed to, so the entry's name stays unique."""
    return f"{name}-retired-{image_id[:8]}"


def order(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries others reference by kernel/ramdisk first, so their ids are known when needed (stable)."""
    refers = [s for s in specs if any(k in (s.get("properties") or {}) for k in REFERENCES)]
    return [s for s in specs if s not in refers] + refers


def wanted(spec: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """The managed attributes of a present entry, as Glance returns them; references resolved through ids (name -> id)."""
    out: dict[str, Any] = {}
    for key, attr in CORE.items():
        value = spec.get(key)
        if value is None:
            continue
        if key == "tags":
            value = sorted(set(value))
        elif key in ("min_disk", "min_ram"):
            value = int(value)
        out[attr] = value
    for key, value in (spec.get("properties") or {}).items():
        if key in REFERENCES:
            if value not in ids:
                raise KeyError(f"image {spec['name']}: properties.{key} = {value} is not an image of this list")
            out[REFERENCES[key]] = ids[value]
        else:
            out[key] = glance_string(value)
    return out


def differences(current: dict[str, Any], want: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Managed attributes whose current value differs: {attribute: {before, after}}."""
    diff = {}
    for key, value in want.items():
        have = current.get(key)
        if key == "tags":
            have = sorted(set(have or []))
        if have != value:
            diff[key] = {"before": have, "after": value}
    return diff


def _pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def patch_ops(current: dict[str, Any], diff: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-patch operations (application/openstack-images-v2.1-json-patch) applying diff to current."""
    return [{"op": "replace" if key in current else "add", "path": _pointer(key), "value": change["after"]}
            for key, change in diff.items()]


def choose(candidates: list[dict[str, Any]], md5: str, disk_format: str, container_format: str
           ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Of the images carrying an entry's name, the one to keep (the oldest with the file's
    checksum and formats, not failed) and those to retire (every other one)."""
    def matches(image: dict[str, Any]) -> bool:
        return (image.get("checksum") == md5 and image.get("disk_format") == disk_format
                and image.get("container_format") == container_format
                and image.get("status") not in ("killed", "deleted", "pending_delete"))

    ordered = sorted(candidates, key=lambda i: (str(i.get("created_at") or ""), str(i.get("id"))))
    keep = next((i for i in ordered if matches(i)), None)
    return keep, [i for i in ordered if i is not keep]


def shown(image: dict[str, Any] | None, want: dict[str, Any]) -> dict[str, Any]:
    """The part of an image a diff shows: its data checksum and formats, and the managed attributes."""
    if image is None:
        return {}
    out = {key: image.get(key) for key in ("checksum", "disk_format", "container_format")}
    for key in want:
        out[key] = sorted(set(image.get(key) or [])) if key == "tags" else image.get(key)
    return out
