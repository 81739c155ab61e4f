"""Unit tests of the images file: its validation and specs (plugins/filter/images.py), the
planning helpers (plugins/module_utils/rentstack_glance.py), and the rentstack_images
module run against an in-memory Glance that behaves like the v2 API (list by name and
os_hidden, GET, JSON-patch, upload with checksum, protected images refuse deletion)."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "filter"))
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))
from images import image_errors, image_specs  # noqa: E402
from rentstack_glance import choose, differences, glance_string, order, patch_ops, wanted  # noqa: E402

BUILD = "/var/cache/rentstack-lab/guest-image"


def lab_images() -> list[dict[str, Any]]:
    return yaml.safe_load((ROOT / "inventory" / "lab" / "group_vars" / "all" / "images.yml").read_text())["rentstack_images"]


def one(**entry: Any) -> list[str]:
    return image_errors([{"name": "img", "file": "/srv/img.qcow2", "disk_format": "qcow2", **entry}], BUILD)


# --- validation ---------------------------------------------------------------


def test_shipped_lab_file_is_valid() -> None:
    assert image_errors(lab_images(), BUILD) == []


def test_lab_file_matches_what_the_guest_image_role_uploads() -> None:
    """images.yml and bootstrap_cloud.yml (guest_image) must converge on the same images, not fight."""
    defaults = yaml.safe_load((ROOT / "roles" / "guest_image" / "defaults" / "main.yml").read_text())
    name = defaults["guest_image_name"]
    by_name = {e["name"]: e for e in lab_images()}
    assert set(by_name) == {name, f"{name}-kernel", f"{name}-ramdisk"}
    assert {e.get("visibility") for e in by_name.values()} == {defaults["guest_image_visibility"]}
    assert (by_name[name]["disk_format"], by_name[name]["container_format"]) == (
        defaults["guest_image_disk_format"], defaults["guest_image_container_format"])
    assert by_name[name]["properties"] == {"kernel": f"{name}-kernel", "ramdisk": f"{name}-ramdisk",
                                           "os_command_line": defaults["guest_image_kernel_cmdline"],
                                           **defaults["guest_image_properties"]}
    files = {s["name"]: s["file"] for s in image_specs(lab_images(), defaults["guest_image_dir"])}
    assert files == {f"{name}-kernel": f"{defaults['guest_image_dir']}/vmlinuz",
                     f"{name}-ramdisk": f"{defaults['guest_image_dir']}/initrd.gz",
                     name: f"{defaults['guest_image_dir']}/disk.raw"}
    upload = (ROOT / "roles" / "guest_image" / "tasks" / "upload.yml").read_text()
    assert "name: images" in upload, "guest_image must upload through the images role (one implementation)"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"colour": "red"}, "image img: unknown key(s) colour; use only name, file, build"),
        ({"disk_format": "qcow3"}, "image img: disk_format 'qcow3' is not a Glance disk format; use one of ami, ari"),
        ({"container_format": "tar"}, "image img: container_format 'tar' is not a Glance container format"),
        ({"disk_format": "aki"}, None),
        ({"disk_format": "aki", "container_format": "bare"},
         "image img: disk_format aki with container_format bare: Glance requires the two to be equal when either is "
         "aki, ari or ami; set container_format: aki"),
        ({"container_format": "ami"}, "disk_format qcow2 with container_format ami"),
        ({"visibility": "everyone"}, "image img: visibility 'everyone' must be one of public, private, shared, community"),
        ({"build": "guest_image"}, "image img: sets both file and build; keep one"),
        ({"file": "images/x.img"}, "image img: file 'images/x.img' must be an absolute path"),
        ({"min_ram": -1}, "image img: min_ram = -1 must be a whole number of MB >= 0"),
        ({"min_disk": "2"}, None),
        ({"protected": "yes"}, "image img: protected = 'yes' must be true or false"),
        ({"hidden": 1}, "image img: hidden = 1 must be true or false"),
        ({"tags": "a,b"}, "image img: tags = 'a,b' must be a list of non-empty strings"),
        ({"state": "gone"}, "image img: state 'gone' must be present or absent"),
        ({"properties": {"hw_disk_bus": ["virtio"]}}, "image img: properties.hw_disk_bus = ['virtio'] must be a string, number"),
        ({"properties": {"hw_vif_model": None}}, "properties.hw_vif_model = None must be a string"),
        ({"properties": {"hw_video_ram": 64, "hw_qemu_guest_agent": True, "os_distro": "debian"}}, None),
        ({"properties": {"os_hidden": True}}, "properties.os_hidden is an image attribute, not a property; set it with the entry's own 'hidden' key"),
        ({"properties": {"checksum": "x"}}, "properties.checksum is set by Glance and cannot be given"),
        ({"properties": {"kernel": "nope"}}, "image img: properties.kernel = 'nope' names no image of this list"),
        ({"properties": {"os_command_line": "x" * 300}}, "properties.os_command_line is longer than 255 characters"),
    ],
)
def test_each_bad_field_is_named_with_its_fix(entry: dict, expected: str | None) -> None:
    errors = one(**entry)
    if expected is None:
        assert errors == []
    else:
        assert any(expected in e for e in errors), errors


def test_name_duplicates_missing_sources_and_all_errors_at_once() -> None:
    errors = image_errors([
        {"disk_format": "raw", "file": "/x"},
        "just-a-name",
        {"name": "a", "disk_format": "raw"},
        {"name": "a", "file": "/a", "disk_format": "raw", "visibility": "world"},
        {"name": "b", "file": "/b"},
    ], BUILD)
    assert "images[0]: name is missing; give every entry a name (the Glance image name)" in errors
    assert any(e.startswith("images[1]: must be a mapping") for e in errors)
    assert "image a: has neither file nor build; set file: <path on the control machine> or build: guest_image" in errors
    assert "image a: listed twice; keep one entry per name" in errors
    assert any(e.startswith("image a: visibility 'world'") for e in errors)
    assert any(e.startswith("image b: disk_format is missing") for e in errors)
    assert image_errors({"name": "x"}) == ["rentstack_images must be a list of image entries, got dict"]


def test_references_must_name_a_present_kernel_or_ramdisk_of_the_list() -> None:
    images = [
        {"name": "k", "file": "/k", "disk_format": "aki"},
        {"name": "r", "file": "/r", "disk_format": "ari", "properties": {"kernel": "k"}},
        {"name": "gone", "state": "absent"},
        {"name": "g", "file": "/g", "disk_format": "raw",
         "properties": {"kernel": "r", "ramdisk": "gone", "kernel_id": "0000"}},
    ]
    errors = image_errors(images, BUILD)
    assert "image g: properties.kernel = r is a ari image; it must name an image with disk_format aki" in errors
    assert any(e.startswith("image g: properties.ramdisk = 'gone' names no image of this list with state present") for e in errors)
    assert any(e.startswith("image g: properties set both kernel and kernel_id; keep one") for e in errors)


def test_absent_entries_need_no_file_and_protected_true_contradicts_absent() -> None:
    assert image_errors([{"name": "old", "state": "absent"}], BUILD) == []
    assert image_errors([{"name": "old", "state": "absent", "protected": False}], BUILD) == []
    assert image_errors([{"name": "old", "state": "absent", "protected": True}], BUILD) == [
        "image old: state absent with protected: true cannot both hold; set protected: false to delete a protected image"]


def test_missing_files_are_named_with_how_to_make_them() -> None:
    images = [{"name": "k", "build": "guest_image", "disk_format": "aki"}, {"name": "f", "file": "/srv/f.img", "disk_format": "raw"}]
    errors = image_errors(images, BUILD, [f"{BUILD}/vmlinuz", "/srv/f.img"])
    assert errors[0].startswith(f"image k: {BUILD}/vmlinuz (build guest_image) does not exist; build it first with the guest_image role")
    assert errors[1] == "image f: file /srv/f.img does not exist or is not a regular file on the control machine; fix the path"
    assert image_errors([{"name": "k", "build": "lfs", "disk_format": "raw"}], BUILD) == [
        "image k: build 'lfs' is unknown; use one of guest_image"]


def test_specs_resolve_build_files_and_defaults() -> None:
    specs = image_specs([
        {"name": "k", "build": "guest_image", "disk_format": "aki"},
        {"name": "g", "build": "guest_image", "disk_format": "ami", "visibility": "public", "hidden": True, "tags": ["t"]},
        {"name": "old", "state": "absent", "protected": False},
        "garbage", {"no": "name"},
    ], "/b", "private")
    assert specs == [
        {"name": "k", "state": "present", "file": "/b/vmlinuz", "disk_format": "aki", "container_format": "aki",
         "visibility": "private"},
        {"name": "g", "state": "present", "file": "/b/disk.raw", "disk_format": "ami", "container_format": "ami",
         "visibility": "public", "hidden": True, "tags": ["t"]},
        {"name": "old", "state": "absent", "protected": False},
    ]


# --- planning helpers ---------------------------------------------------------


def test_wanted_values_are_what_glance_returns() -> None:
    spec = {"name": "g", "visibility": "public", "hidden": False, "min_disk": "1", "tags": ["b", "a", "b"],
            "properties": {"kernel": "k", "hw_video_ram": 64, "hw_qemu_guest_agent": True, "os_distro": "debian"}}
    assert wanted(spec, {"k": "id-k"}) == {"visibility": "public", "os_hidden": False, "min_disk": 1, "tags": ["a", "b"],
                                           "kernel_id": "id-k", "hw_video_ram": "64", "hw_qemu_guest_agent": "true",
                                           "os_distro": "debian"}
    with pytest.raises(KeyError):
        wanted({"name": "g", "properties": {"ramdisk": "r"}}, {})
    assert glance_string(False) == "false" and glance_string(1.5) == "1.5"


def test_differences_and_patch_ops_touch_only_what_differs() -> None:
    current = {"visibility": "shared", "tags": ["b", "a"], "os_distro": "debian", "hw_video_ram": "64"}
    want = {"visibility": "public", "tags": ["a", "b"], "os_distro": "debian", "hw_video_ram": "64", "a/b~c": "x"}
    diff = differences(current, want)
    assert diff == {"visibility": {"before": "shared", "after": "public"}, "a/b~c": {"before": None, "after": "x"}}
    assert patch_ops(current, diff) == [{"op": "replace", "path": "/visibility", "value": "public"},
                                        {"op": "add", "path": "/a~1b~0c", "value": "x"}]


def test_choose_keeps_the_oldest_matching_upload_and_retires_the_rest() -> None:
    images = [
        {"id": "3", "checksum": "m", "disk_format": "raw", "container_format": "bare", "created_at": "2025-03", "status": "active"},
        {"id": "1", "checksum": "old", "disk_format": "raw", "container_format": "bare", "created_at": "2025-01", "status": "active"},
        {"id": "2", "checksum": "m", "disk_format": "raw", "container_format": "bare", "created_at": "2025-02", "status": "active"},
        {"id": "4", "checksum": "m", "disk_format": "qcow2", "container_format": "bare", "created_at": "2025-00", "status": "active"},
    ]
    keep, retire = choose(images, "m", "raw", "bare")
    assert keep["id"] == "2" and [i["id"] for i in retire] == ["4", "1", "3"]
    assert choose([], "m", "raw", "bare") == (None, [])


def test_order_puts_referenced_images_first() -> None:
    specs = [{"name": "g", "properties": {"kernel": "k"}}, {"name": "k"}, {"name": "x", "properties": {"os_distro": "d"}}]
    assert [s["name"] for s in order(specs)] == ["k", "x", "g"]


# --- the module against an in-memory Glance -----------------------------------


class Response:
    def __init__(self, body: Any = None, status: int = 200) -> None:
        self.status_code = status
        self.body = body
        self.headers = {"content-type": "application/json"}
        self.content = b"{}"

    def json(self) -> Any:
        return copy.deepcopy(self.body)


class Listed:
    """What openstacksdk's image list yields (the attributes the module reads)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.id, self.name, self.checksum, self.status = raw["id"], raw["name"], raw.get("checksum"), raw["status"]
        self.disk_format, self.container_format = raw["disk_format"], raw["container_format"]
        self.created_at, self.is_protected = raw["created_at"], raw["protected"]


class Glance:
    """The parts of the image v2 API the module uses, with Glance's rules."""

    def __init__(self, project: str = "admin-project") -> None:
        self.project = project
        self.db: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple] = []
        self.clock = 0

    def add(self, name: str, data: bytes = b"", **attrs: Any) -> dict[str, Any]:
        self.clock += 1
        raw = {"id": str(uuid.uuid4()), "name": name, "status": "active", "checksum": hashlib.md5(data).hexdigest(),
               "disk_format": "raw", "container_format": "bare", "visibility": "shared", "protected": False,
               "os_hidden": False, "min_disk": 0, "min_ram": 0, "tags": [], "owner": self.project,
               "created_at": f"2025-01-01T00:00:{self.clock:02d}Z"}
        raw.update(attrs)
        self.db[raw["id"]] = raw
        return raw

    def images(self, name: str, owner: str, visibility: str, is_hidden: str) -> list[Listed]:
        assert visibility == "all"
        return [Listed(r) for r in self.db.values()
                if r["name"] == name and r["owner"] == owner and r["os_hidden"] == (is_hidden == "true")]

    def get(self, url: str) -> Response:
        return Response(self.db[url.rsplit("/", 1)[1]])

    def patch(self, url: str, json: list[dict[str, Any]], headers: dict[str, str]) -> Response:
        assert headers["Content-Type"] == "application/openstack-images-v2.1-json-patch"
        raw = self.db[url.rsplit("/", 1)[1]]
        for op in json:
            key = op["path"][1:].replace("~1", "/").replace("~0", "~")
            assert op["op"] == "add" or key in raw, f"Glance refuses replace of a missing {key}"
            assert key in ("name", "visibility", "protected", "os_hidden", "min_disk", "min_ram", "tags") \
                or isinstance(op["value"], str), f"extra property {key} must be a string"
            raw[key] = op["value"]
        self.writes.append(("patch", raw["name"], json))
        return Response(raw)

    def create_image(self, name: str, *, filename: str, md5: str, sha256: str, disk_format: str, container_format: str,
                     allow_duplicates: bool, validate_checksum: bool) -> Listed:
        data = Path(filename).read_bytes()
        assert md5 == hashlib.md5(data).hexdigest() and sha256 == hashlib.sha256(data).hexdigest()
        raw = self.add(name, data, disk_format=disk_format, container_format=container_format,
                       **{"owner_specified.openstack.md5": md5})
        self.writes.append(("upload", name))
        return Listed(raw)

    def reactivate_image(self, image_id: str) -> None:
        self.db[image_id]["status"] = "active"
        self.writes.append(("reactivate", image_id))

    def delete_image(self, image_id: str, ignore_missing: bool) -> None:
        assert not self.db[image_id]["protected"], "Glance refuses to delete a protected image"
        self.writes.append(("delete", self.db.pop(image_id)["name"]))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.db.values() if r["name"] == name]


class Conn:
    def __init__(self, glance: Glance) -> None:
        self.image = glance
        self.current_project_id = glance.project


class Failed(Exception):
    pass


@pytest.fixture(scope="module")
def images_module() -> Any:
    for util in ("rentstack_openstack", "rentstack_glance"):
        spec = importlib.util.spec_from_file_location(f"ansible.module_utils.{util}", ROOT / "plugins" / "module_utils" / f"{util}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    spec = importlib.util.spec_from_file_location("rentstack_lib_rentstack_images", ROOT / "plugins" / "modules" / "rentstack_images.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(images_module: Any, glance: Glance, images: list[dict[str, Any]], check: bool = False) -> dict[str, Any]:
    with patch_module_args({"images": images, "_ansible_check_mode": check}):
        mod = images_module.ImagesModule()
    mod._conn = Conn(glance)

    def fail(msg: str, **kwargs: Any) -> None:
        raise Failed(msg)

    mod.ansible.fail_json = fail
    return mod.run()


@pytest.fixture
def guest(tmp_path: Path) -> list[dict[str, Any]]:
    for name, data in (("vmlinuz", b"kernel-1"), ("initrd.gz", b"initrd-1"), ("disk.raw", b"\0" * 64)):
        (tmp_path / name).write_bytes(data)
    return image_specs(lab_images(), str(tmp_path), "private")


def test_first_run_uploads_and_links_second_run_changes_nothing(images_module: Any, guest: list, tmp_path: Path) -> None:
    glance = Glance()
    first = run(images_module, glance, guest)
    assert first["changed"] and [w for w in glance.writes if w[0] == "upload"] == [
        ("upload", "rentstack-guest-kernel"), ("upload", "rentstack-guest-ramdisk"), ("upload", "rentstack-guest")]
    boot, kernel, ramdisk = (glance.named(n)[0] for n in ("rentstack-guest", "rentstack-guest-kernel", "rentstack-guest-ramdisk"))
    assert (boot["kernel_id"], boot["ramdisk_id"]) == (kernel["id"], ramdisk["id"])
    assert boot["os_command_line"] == "console=tty0 console=ttyS0,115200n8 hpet=disable no_timer_check"
    assert {r["visibility"] for r in glance.db.values()} == {"public"}
    assert [i["name"] for i in first["images"]] == [s["name"] for s in guest]
    glance.writes.clear()
    second = run(images_module, glance, guest)
    assert not second["changed"] and glance.writes == [] and second["diff"] == []
    assert all(i["actions"] == [] and i["status"] == "active" for i in second["images"])


def test_check_mode_shows_the_plan_and_changes_nothing(images_module: Any, guest: list) -> None:
    glance = Glance()
    plan = run(images_module, glance, guest, check=True)
    assert plan["changed"] and glance.db == {} and glance.writes == []
    boot = next(i for i in plan["images"] if i["name"] == "rentstack-guest")
    assert boot["actions"][0].startswith("upload ") and "kernel_id" in boot["actions"][1]
    assert boot["changes"]["kernel_id"]["after"] == "(id of the new rentstack-guest-kernel upload)"
    assert any(d["after"].get("os_command_line") for d in plan["diff"] if isinstance(d["after"], dict))


def test_a_rebuilt_kernel_retires_the_old_upload_and_relinks(images_module: Any, guest: list, tmp_path: Path) -> None:
    glance = Glance()
    run(images_module, glance, guest)
    old_kernel = glance.named("rentstack-guest-kernel")[0]["id"]
    (tmp_path / "vmlinuz").write_bytes(b"kernel-2")
    glance.writes.clear()
    result = run(images_module, glance, guest)
    assert glance.db[old_kernel]["name"] == f"rentstack-guest-kernel-retired-{old_kernel[:8]}"
    new_kernel = glance.named("rentstack-guest-kernel")[0]["id"]
    assert new_kernel != old_kernel and glance.named("rentstack-guest")[0]["kernel_id"] == new_kernel
    assert [w for w in glance.writes if w[0] == "upload"] == [("upload", "rentstack-guest-kernel")]
    assert next(i for i in result["images"] if i["name"] == "rentstack-guest")["changes"] == {
        "kernel_id": {"before": old_kernel, "after": new_kernel}}
    assert not run(images_module, glance, guest)["changed"]


def test_typed_properties_hidden_protected_and_tags_converge(images_module: Any, tmp_path: Path) -> None:
    (tmp_path / "a.img").write_bytes(b"a")
    entry = [{"name": "a", "file": str(tmp_path / "a.img"), "disk_format": "qcow2", "visibility": "community",
              "protected": True, "hidden": True, "min_ram": 256, "tags": ["y", "x"],
              "properties": {"hw_video_ram": 64, "hw_qemu_guest_agent": True, "os_distro": "debian"}}]
    specs = image_specs(entry, "/unused")
    glance = Glance()
    run(images_module, glance, specs)
    raw = glance.named("a")[0]
    assert (raw["hw_video_ram"], raw["hw_qemu_guest_agent"], raw["os_hidden"], raw["protected"]) == ("64", "true", True, True)
    glance.writes.clear()
    raw["tags"] = ["x", "y"]  # Glance may return tags in another order
    assert not run(images_module, glance, specs)["changed"] and glance.writes == []


def test_an_existing_upload_is_adopted_and_only_its_attributes_set(images_module: Any, tmp_path: Path) -> None:
    (tmp_path / "a.img").write_bytes(b"a")
    glance = Glance()
    existing = glance.add("a", b"a", disk_format="qcow2", visibility="public", status="deactivated", os_distro="old")
    glance.add("a", b"a", disk_format="qcow2", owner="someone-else")  # another project's namesake: left alone
    specs = image_specs([{"name": "a", "file": str(tmp_path / "a.img"), "disk_format": "qcow2", "visibility": "public",
                          "properties": {"os_distro": "debian"}}], "/unused")
    result = run(images_module, glance, specs)["images"][0]
    assert result["actions"] == ["reactivate", "set os_distro"] and result["id"] == existing["id"]
    assert [w[0] for w in glance.writes] == ["reactivate", "patch"] and len(glance.db) == 2


def test_absent_refuses_a_protected_image_before_any_change(images_module: Any, tmp_path: Path) -> None:
    (tmp_path / "n.img").write_bytes(b"n")
    glance = Glance()
    old = glance.add("old", protected=True)
    new = {"name": "new", "file": str(tmp_path / "n.img"), "disk_format": "raw"}
    with pytest.raises(Failed, match=f"image old: {old['id']} is protected and Glance refuses to delete it; set protected: false"):
        run(images_module, glance, image_specs([new, {"name": "old", "state": "absent"}], "/unused"))
    assert glance.writes == [] and not glance.named("new")
    result = run(images_module, glance, image_specs([new, {"name": "old", "state": "absent", "protected": False}], "/unused"))
    assert result["images"][1]["actions"] == [f"unprotect {old['id']}", f"delete {old['id']}"]
    assert not glance.named("old") and glance.named("new")
    assert not run(images_module, glance, image_specs([{"name": "old", "state": "absent"}], "/unused"))["changed"]


def test_module_refuses_a_dangling_reference_before_any_change(images_module: Any, tmp_path: Path) -> None:
    (tmp_path / "g.img").write_bytes(b"g")
    glance = Glance()
    specs = image_specs([{"name": "g", "file": str(tmp_path / "g.img"), "disk_format": "raw", "properties": {"kernel": "k"}},
                         {"name": "k", "state": "absent"}], "/unused")
    with pytest.raises(Failed, match="image g: properties.kernel = k is not an image of this list with state present"):
        run(images_module, glance, specs)
    assert glance.writes == []
