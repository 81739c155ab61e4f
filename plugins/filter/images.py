"""Validate the images file (rentstack_images) before any change, and turn it
into what the rentstack_images module takes.

Every error names the image, the field and the fix. The checks follow
Glance's own rules (formats, the AMI format pairing, visibility values,
string-only extra properties of at most 255 characters) so a bad entry is
refused before the first API call instead of half-way through a run.
"""

from __future__ import annotations

import posixpath
from typing import Any

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("bare", "ovf", "aki", "ari", "ami", "ova", "docker", "compressed")
AMAZON_FORMATS = ("aki", "ari", "ami")
VISIBILITIES = ("public", "private", "shared", "community")
STATES = ("present", "absent")
KEYS = ("name", "file", "build", "disk_format", "container_format", "min_disk", "min_ram", "properties",
        "visibility", "protected", "hidden", "tags", "state")
# build recipes: the files each one writes, chosen by the entry's disk_format.
BUILDS = {"guest_image": {"aki": "vmlinuz", "ari": "initrd.gz", None: "disk.raw"}}
BUILT_BY = {"guest_image": "the guest_image role (playbooks/bootstrap_cloud.yml, or the role with --tags build)"}
# properties.kernel / properties.ramdisk name another entry; they become kernel_id / ramdisk_id.
REFERENCES = {"kernel": ("kernel_id", "aki"), "ramdisk": ("ramdisk_id", "ari")}
# Image attributes Glance owns or the entry sets with its own key: never extra properties.
RESERVED = {"name": "name", "visibility": "visibility", "protected": "protected", "os_hidden": "hidden",
            "min_disk": "min_disk", "min_ram": "min_ram", "tags": "tags", "disk_format": "disk_format",
            "container_format": "container_format"}
GLANCE_OWNED = ("id", "status", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size", "owner",
                "created_at", "updated_at", "locations", "direct_url", "self", "file", "schema", "stores")
MAX_LENGTH = 255


def _whole(value: Any) -> bool:
    """A whole number >= 0 (int, or digits as a string)."""
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) and value >= 0) or (isinstance(value, str) and value.isdigit())


def _default_container(disk_format: Any) -> str:
    return disk_format if disk_format in AMAZON_FORMATS else "bare"


def image_file(entry: dict[str, Any], build_dir: str) -> str | None:
    """The local file an entry uploads: its `file`, or the build recipe's output for its disk_format."""
    if entry.get("file"):
        return str(entry["file"])
    recipe = BUILDS.get(entry.get("build"))  # type: ignore[arg-type]
    if recipe is None:
        return None
    return posixpath.join(build_dir, recipe.get(entry.get("disk_format"), recipe[None]))


def _property_errors(label: str, props: Any, present: dict[str, dict[str, Any]]) -> list[str]:
    if not isinstance(props, dict):
        return [f"{label}: properties must be a mapping of name: value (e.g. {{hw_disk_bus: virtio}}), got {props!r}"]
    errors = []
    for key, value in props.items():
        if not isinstance(key, str) or not key:
            errors.append(f"{label}: property name {key!r} must be a non-empty string")
            continue
        if key in RESERVED:
            errors.append(f"{label}: properties.{key} is an image attribute, not a property; "
                          f"set it with the entry's own '{RESERVED[key]}' key")
            continue
        if key in GLANCE_OWNED:
            errors.append(f"{label}: properties.{key} is set by Glance and cannot be given; remove it")
            continue
        if len(key) > MAX_LENGTH:
            errors.append(f"{label}: property name {key[:40]}... is longer than {MAX_LENGTH} characters; shorten it")
        if key in REFERENCES:
            id_key, wanted_format = REFERENCES[key]
            if id_key in props:
                errors.append(f"{label}: properties set both {key} and {id_key}; keep one "
                              f"({key} names an image of this list, {id_key} is a literal image id)")
            target = present.get(value) if isinstance(value, str) else None
            if target is None:
                errors.append(f"{label}: properties.{key} = {value!r} names no image of this list with state present; "
                              f"use the name of the {wanted_format} image entry (or {id_key} with an image id)")
            elif target.get("disk_format") != wanted_format:
                errors.append(f"{label}: properties.{key} = {value} is a {target.get('disk_format')} image; "
                              f"it must name an image with disk_format {wanted_format}")
            elif isinstance(target.get("properties"), dict) and any(r in target["properties"] for r in REFERENCES):
                errors.append(f"{label}: properties.{key} = {value} itself has kernel/ramdisk properties; "
                              f"a {wanted_format} image must not")
            continue
        if value is None or isinstance(value, (list, dict)):
            errors.append(f"{label}: properties.{key} = {value!r} must be a string, number or true/false; "
                          "Glance stores every property as a string")
        elif len(str(value)) > MAX_LENGTH:
            errors.append(f"{label}: properties.{key} is longer than {MAX_LENGTH} characters (Glance's limit); shorten it")
    return errors


def _entry_errors(label: str, entry: dict[str, Any], present: dict[str, dict[str, Any]]) -> list[str]:
    errors = []
    unknown = sorted(str(k) for k in entry if k not in KEYS)
    if unknown:
        errors.append(f"{label}: unknown key(s) {', '.join(unknown)}; use only {', '.join(KEYS)}")
    state = entry.get("state", "present")
    if state not in STATES:
        errors.append(f"{label}: state {state!r} must be present or absent")
    if "file" in entry and "build" in entry:
        errors.append(f"{label}: sets both file and build; keep one (file: a path on the control machine, "
                      "or build: guest_image)")
    elif state == "present" and "file" not in entry and "build" not in entry:
        errors.append(f"{label}: has neither file nor build; set file: <path on the control machine> "
                      "or build: guest_image")
    if "file" in entry and not (isinstance(entry["file"], str) and entry["file"].startswith("/")):
        errors.append(f"{label}: file {entry['file']!r} must be an absolute path on the control machine")
    if "build" in entry and entry["build"] not in BUILDS:
        errors.append(f"{label}: build {entry['build']!r} is unknown; use one of {', '.join(BUILDS)}")
    if state == "absent" and entry.get("protected") is True:
        errors.append(f"{label}: state absent with protected: true cannot both hold; "
                      "set protected: false to delete a protected image")
    if state != "present":
        return errors
    disk = entry.get("disk_format")
    container = entry.get("container_format", _default_container(disk))
    if disk is None:
        errors.append(f"{label}: disk_format is missing; set one of {', '.join(DISK_FORMATS)}")
    elif disk not in DISK_FORMATS:
        errors.append(f"{label}: disk_format {disk!r} is not a Glance disk format; use one of {', '.join(DISK_FORMATS)}")
    if container not in CONTAINER_FORMATS:
        errors.append(f"{label}: container_format {container!r} is not a Glance container format; "
                      f"use one of {', '.join(CONTAINER_FORMATS)}")
    elif (disk in AMAZON_FORMATS or container in AMAZON_FORMATS) and disk in DISK_FORMATS and disk != container:
        errors.append(f"{label}: disk_format {disk} with container_format {container}: Glance requires the two to be "
                      f"equal when either is aki, ari or ami; set container_format: {disk}"
                      + ("" if disk in AMAZON_FORMATS else f" (or disk_format: {container})"))
    for key in ("min_disk", "min_ram"):
        if key in entry and not _whole(entry[key]):
            unit = "GB" if key == "min_disk" else "MB"
            errors.append(f"{label}: {key} = {entry[key]!r} must be a whole number of {unit} >= 0")
    if "visibility" in entry and entry["visibility"] not in VISIBILITIES:
        errors.append(f"{label}: visibility {entry['visibility']!r} must be one of {', '.join(VISIBILITIES)}")
    for key in ("protected", "hidden"):
        if key in entry and not isinstance(entry[key], bool):
            errors.append(f"{label}: {key} = {entry[key]!r} must be true or false")
    if "tags" in entry:
        tags = entry["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t) <= MAX_LENGTH for t in tags):
            errors.append(f"{label}: tags = {tags!r} must be a list of non-empty strings of at most {MAX_LENGTH} characters")
    if "properties" in entry:
        errors += _property_errors(label, entry["properties"], present)
    return errors


def image_errors(images: Any, build_dir: str = "", missing_files: list[str] | None = None) -> list[str]:
    """Problems of the images list; missing_files: the local files found not to exist (stat)."""
    if not isinstance(images, list):
        return [f"rentstack_images must be a list of image entries, got {type(images).__name__}"]
    errors: list[str] = []
    entries: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for i, entry in enumerate(images):
        if not isinstance(entry, dict):
            errors.append(f"images[{i}]: must be a mapping with at least a name, got {entry!r}")
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"images[{i}]: name is missing; give every entry a name (the Glance image name)")
            continue
        if len(name) > MAX_LENGTH:
            errors.append(f"image {name[:40]}...: name is longer than {MAX_LENGTH} characters; shorten it")
        if name in seen:
            errors.append(f"image {name}: listed twice; keep one entry per name")
        seen.add(name)
        entries.append((f"image {name}", entry))
    present = {e["name"]: e for _index, e in entries if e.get("state", "present") == "present"}
    missing = set(missing_files or [])
    for label, entry in entries:
        errors += _entry_errors(label, entry, present)
        path = image_file(entry, build_dir)
        if path in missing and entry.get("state", "present") == "present":
            if "build" in entry:
                errors.append(f"{label}: {path} (build {entry['build']}) does not exist; "
                              f"build it first with {BUILT_BY.get(entry['build'], 'its recipe')}")
            else:
                errors.append(f"{label}: file {path} does not exist or is not a regular file on the control machine; "
                              "fix the path")
    return errors


def image_specs(images: Any, build_dir: str, default_visibility: str = "private") -> list[dict[str, Any]]:
    """The entries as the rentstack_images module takes them: the file resolved, defaults applied.

    Tolerant of bad entries (they are skipped): precheck stats the files of
    this list before image_errors has judged the data.
    """
    specs = []
    for entry in images if isinstance(images, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        state = entry.get("state", "present")
        spec: dict[str, Any] = {"name": entry["name"], "state": state}
        if "protected" in entry:
            spec["protected"] = entry["protected"]
        if state == "present":
            spec["file"] = image_file(entry, build_dir)
            spec["disk_format"] = entry.get("disk_format")
            spec["container_format"] = entry.get("container_format", _default_container(entry.get("disk_format")))
            spec["visibility"] = entry.get("visibility", default_visibility)
            for key in ("min_disk", "min_ram", "hidden", "tags", "properties"):
                if key in entry:
                    spec[key] = entry[key]
        specs.append(spec)
    return specs


class FilterModule:
    """rentstack images-file validation filters."""

    def filters(self) -> dict[str, Any]:
        return {"image_errors": image_errors, "image_specs": image_specs}
