#!/usr/bin/python
"""Upload Glance images from local files and keep their attributes as declared, idempotently."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rentstack_images
short_description: Upload and manage a list of Glance images idempotently
description:
  - Takes the whole list at once (the rentstack_images file after the images
    role's checks), so an image can name the kernel and ramdisk images of the
    same list (C(properties.kernel) / C(properties.ramdisk)); they become
    C(kernel_id) / C(ramdisk_id), the ids of the images this run keeps or uploads.
  - Only images owned by the project of I(cloud) are considered. An entry's
    image is the one carrying its name whose C(checksum) (MD5) equals the
    file's and whose formats match; it is uploaded only when there is none.
    Any other image of that name is renamed C(<name>-retired-<id8>) (not
    deleted, instances may still use it), so names stay unique.
  - Attributes are compared with what Glance returns and sent as one JSON
    patch only when they differ; a second run reports no change. Only what an
    entry sets is managed (visibility always, the role gives it a default);
    other properties are left alone, never removed.
  - C(state=absent) deletes every image of that name; a protected one is
    refused unless the entry says C(protected=false) (then it is unprotected
    first). Every entry is looked at before the first change, so a refusal
    changes nothing.
  - Check mode shows the plan (C(actions) per image, and a diff with --diff).
options:
  timeout:
    description: Seconds an upload may take to become active.
    type: int
    default: 3600
  images:
    description: The images, in any order.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Image name.
        type: str
        required: true
      state:
        description: Whether the image should exist.
        type: str
        choices: [present, absent]
        default: present
      file:
        description: Local file to upload (control machine). Required when present.
        type: path
      disk_format:
        description: Glance disk format. Required when present.
        type: str
      container_format:
        description: Glance container format. Required when present.
        type: str
      visibility:
        description: public, private, shared or community.
        type: str
        choices: [public, private, shared, community]
      protected:
        description: Glance C(protected) (prevents deletion). Unmanaged when omitted.
        type: bool
      hidden:
        description: Glance C(os_hidden) (left out of image lists). Unmanaged when omitted.
        type: bool
      min_disk:
        description: Minimum disk (GB). Unmanaged when omitted.
        type: int
      min_ram:
        description: Minimum RAM (MB). Unmanaged when omitted.
        type: int
      tags:
        description: The image's exact set of tags. Unmanaged when omitted.
        type: list
        elements: str
      properties:
        description:
          - Extra properties (values stored as strings, booleans as true/false).
          - C(kernel) / C(ramdisk) name another image of the list and set C(kernel_id) / C(ramdisk_id).
        type: dict
author: rentstack (!UNKNOWN)
extends_documentation_fragment:
  - rentstack.cloud.cloud
"""

EXAMPLES = r"""
- name: Upload a kernel and a bootable image that boots it
  rentstack_images:
    cloud: rentstack
    images:
      - name: guest-kernel
        file: /srv/images/vmlinuz
        disk_format: aki
        container_format: aki
        visibility: public
      - name: guest
        file: /srv/images/disk.raw
        disk_format: raw
        container_format: bare
        visibility: public
        properties:
          kernel: guest-kernel
          os_command_line: console=ttyS0
"""

RETURN = r"""
images:
  description:
    - Per image, in the order given - C(name), C(state), C(id), C(status),
      C(checksum) (of the file), C(actions) (what was or, in check mode, would
      be done; empty when nothing), C(changes) (attribute - before/after),
      C(retired) (older uploads renamed).
  returned: always
  type: list
  elements: dict
"""

import hashlib  # noqa: E402
import os  # noqa: E402
from typing import Any  # noqa: E402

try:  # from the checkout: ansible.cfg's module_utils = plugins/module_utils (docs/collection.md)
    from ansible.module_utils.rentstack_glance import (NEW_IMAGE, REFERENCES, choose, differences, order, patch_ops, retired_name, shown, wanted)
    from ansible.module_utils.rentstack_openstack import RentstackModule
except ImportError:  # from the installed collection rentstack.cloud
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_glance import (NEW_IMAGE, REFERENCES, choose, differences, order,
                                                                                           patch_ops, retired_name, shown, wanted)
    from ansible_collections.rentstack.cloud.plugins.module_utils.rentstack_openstack import RentstackModule

try:
    from openstack import exceptions as os_exc
except ImportError:  # pragma: no cover - RentstackModule reports the missing SDK
    os_exc = None

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
IMAGE_OPTIONS = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "file": {"type": "path"},
    "disk_format": {"type": "str"},
    "container_format": {"type": "str"},
    "visibility": {"type": "str", "choices": ["public", "private", "shared", "community"]},
    "protected": {"type": "bool"},
    "hidden": {"type": "bool"},
    "min_disk": {"type": "int"},
    "min_ram": {"type": "int"},
    "tags": {"type": "list", "elements": "str"},
    "properties": {"type": "dict"},
}


def file_hashes(path: str) -> tuple[str, str]:
    """MD5 (Glance's checksum) and SHA-256 of a file, in one read."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            md5.update(chunk)
            sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()


class ImagesModule(RentstackModule):
    argument_spec = {
        "timeout": {"type": "int", "default": 3600},
        "images": {"type": "list", "elements": "dict", "required": True, "options": IMAGE_OPTIONS,
                   "required_if": [("state", "present", ("file", "disk_format", "container_format"))]},
    }

    # --- Glance, read -------------------------------------------------------

    def raw(self, image_id: str) -> dict[str, Any]:
        """The image exactly as Glance returns it (extra properties as strings)."""
        resp = self.conn.image.get(f"/images/{image_id}")
        os_exc.raise_from_response(resp, error_message=f"cannot read image {image_id}")
        return resp.json()

    def namesakes(self, name: str) -> list[dict[str, Any]]:
        """This project's images carrying the name, hidden ones included (Glance lists those only on request)."""
        found: dict[str, dict[str, Any]] = {}
        for hidden in ("false", "true"):
            for img in self.conn.image.images(name=name, owner=self.conn.current_project_id, visibility="all",
                                              is_hidden=hidden):
                found[img.id] = {"id": img.id, "name": img.name, "checksum": img.checksum, "status": img.status,
                                 "disk_format": img.disk_format, "container_format": img.container_format,
                                 "created_at": img.created_at, "protected": bool(img.is_protected)}
        return list(found.values())

    # --- Glance, write ------------------------------------------------------

    def patch(self, image_id: str, ops: list[dict[str, Any]]) -> None:
        resp = self.conn.image.patch(f"/images/{image_id}", json=ops, headers={"Content-Type": PATCH_TYPE})
        os_exc.raise_from_response(resp, error_message=f"cannot update image {image_id} with {ops}")

    def upload(self, spec: dict[str, Any], md5: str, sha256: str) -> dict[str, Any]:
        name = spec["name"]
        # allow_duplicates: names were made unique above; validate_checksum deletes a corrupted upload.
        image = self.conn.image.create_image(name, filename=spec["file"], md5=md5, sha256=sha256,
                                             disk_format=spec["disk_format"], container_format=spec["container_format"],
                                             allow_duplicates=True, validate_checksum=True)
        seen: dict[str, Any] = {}

        def settled() -> bool:
            seen.update(self.raw(image.id))
            return seen.get("status") in ("active", "killed", "deactivated")

        self.wait_for(settled, f"image {name} ({image.id}) to become active", detail=lambda: str(seen.get("status")))
        if seen["status"] != "active" or seen.get("checksum") != md5:
            self.fail(f"image {name} ({image.id}) ended {seen['status']} with checksum {seen.get('checksum')}, "
                      f"expected active with {md5} (the file's MD5); see the Glance API log")
        return dict(seen)

    # --- plan and apply -----------------------------------------------------

    def plan(self, spec: dict[str, Any], errors: list[str]) -> dict[str, Any]:
        """Everything read before the first change: hashes, namesakes, the image to keep."""
        name = spec["name"]
        plan: dict[str, Any] = {"spec": spec, "candidates": self.namesakes(name)}
        if spec["state"] == "absent":
            locked = [c["id"] for c in plan["candidates"] if c["protected"]]
            if locked and spec.get("protected") is not False:
                errors.append(f"image {name}: {', '.join(locked)} is protected and Glance refuses to delete it; set "
                              "protected: false in the entry to have it unprotected, then deleted")
            return plan
        if not os.path.isfile(spec["file"]):
            errors.append(f"image {name}: file {spec['file']} does not exist on the control machine")
            return plan
        plan["md5"], plan["sha256"] = file_hashes(spec["file"])
        keep, plan["retire"] = choose(plan["candidates"], plan["md5"], spec["disk_format"], spec["container_format"])
        plan["current"] = self.raw(keep["id"]) if keep else None
        return plan

    def apply_present(self, plan: dict[str, Any], ids: dict[str, str], diffs: list[dict[str, Any]]) -> dict[str, Any]:
        spec, name = plan["spec"], plan["spec"]["name"]
        actions: list[str] = []
        retired = []
        for old in plan["retire"]:
            new_name = retired_name(name, old["id"])
            actions.append(f"retire {old['id']} (checksum {old['checksum']}) as {new_name}")
            diffs.append({"before_header": f"{name} {old['id']}", "after_header": f"{name} {old['id']}",
                          "before": {"name": name}, "after": {"name": new_name}})
            if not self.check_mode:
                self.patch(old["id"], [{"op": "replace", "path": "/name", "value": new_name}])
            retired.append({"id": old["id"], "name": new_name})
        current = plan["current"]
        if current is None:
            actions.append(f"upload {spec['file']} (md5 {plan['md5']})")
            if self.check_mode:
                current = dict(NEW_IMAGE, id=None, name=name, checksum=plan["md5"], disk_format=spec["disk_format"],
                               container_format=spec["container_format"])
            else:
                current = self.upload(spec, plan["md5"], plan["sha256"])
        reactivate = current.get("status") == "deactivated"
        if reactivate:
            actions.append("reactivate")
            if not self.check_mode:
                self.conn.image.reactivate_image(current["id"])
        ids[name] = current["id"] or f"(id of the new {name} upload)"
        try:
            want = wanted(spec, ids)
        except KeyError as exc:
            self.fail(str(exc.args[0]))
        changes = differences(current, want)
        if changes:
            actions.append("set " + ", ".join(changes))
            if not self.check_mode:
                self.patch(current["id"], patch_ops(current, changes))
        if plan["current"] is None or changes or reactivate:
            after = {"checksum": plan["md5"], "disk_format": spec["disk_format"],
                     "container_format": spec["container_format"], **want}
            diffs.append({"before_header": name, "after_header": name, "before": shown(plan["current"], want),
                          "after": after})
            if not self.check_mode:
                current = self.raw(current["id"])
        return {"name": name, "state": "present", "id": current["id"], "status": current.get("status"),
                "checksum": plan["md5"], "actions": actions, "changes": changes, "retired": retired}

    def apply_absent(self, plan: dict[str, Any], diffs: list[dict[str, Any]]) -> dict[str, Any]:
        name = plan["spec"]["name"]
        actions: list[str] = []
        for img in plan["candidates"]:
            if img["protected"]:
                actions.append(f"unprotect {img['id']}")
                if not self.check_mode:
                    self.patch(img["id"], [{"op": "replace", "path": "/protected", "value": False}])
            actions.append(f"delete {img['id']}")
            diffs.append({"before_header": f"{name} {img['id']}", "after_header": f"{name} {img['id']} (deleted)",
                          "before": {k: img[k] for k in ("name", "id", "checksum", "status", "protected")}, "after": ""})
            if not self.check_mode:
                self.conn.image.delete_image(img["id"], ignore_missing=True)
        return {"name": name, "state": "absent", "id": None, "status": None, "checksum": None, "actions": actions,
                "changes": {}, "retired": []}

    def run(self) -> dict[str, Any]:
        names = [s["name"] for s in self.params["images"]]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            self.fail(f"images listed twice: {', '.join(twice)}; keep one entry per name")
        present = {s["name"] for s in self.params["images"] if s["state"] == "present"}
        errors = [f"image {s['name']}: properties.{key} = {s['properties'][key]} is not an image of this list with state present"
                  for s in self.params["images"] for key in REFERENCES
                  if s["state"] == "present" and key in (s["properties"] or {}) and s["properties"][key] not in present]
        plans = [self.plan(spec, errors) for spec in order(self.params["images"])]
        if errors:
            self.fail("Images refused (nothing was changed): " + " | ".join(errors), errors=errors)
        ids: dict[str, str] = {}
        diffs: list[dict[str, Any]] = []
        results = {}
        for plan in plans:
            if plan["spec"]["state"] == "present":
                results[plan["spec"]["name"]] = self.apply_present(plan, ids, diffs)
            else:
                results[plan["spec"]["name"]] = self.apply_absent(plan, diffs)
        images = [results[n] for n in names]
        return {"changed": any(r["actions"] for r in images), "images": images, "diff": diffs}


def main() -> None:
    ImagesModule().main()


if __name__ == "__main__":
    main()
