"""The shapes of unit cache entries: what each kind of unit stores (its files by digest,
never their bytes) and the checks that a stored entry still has that shape (a mistyped
entry is a miss)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generator.build.compose import ComposeEntry
from generator.digest import content_digest
from generator.output.overlay import ModelObjects


def plain_objects(objects: ModelObjects) -> dict[str, Any]:
    return {
        "model": objects.model,
        "image_name": objects.image_name,
        "image_ref": objects.image_ref,
        "objects": list(objects.objects),
    }


def stored_objects(plain: Mapping[str, Any]) -> ModelObjects:
    return ModelObjects(plain["model"], plain["image_name"], plain["image_ref"], tuple(plain["objects"]))


def is_digests(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def file_digests(files: Mapping[str, bytes]) -> dict[str, str]:
    """What an entry stores of its files: each one's ``content_digest``."""
    return {path: content_digest(data) for path, data in files.items()}


def valid_base(entry: Any) -> bool:
    if not (isinstance(entry, dict) and is_digests(entry.get("files"))):
        return False
    objects = entry.get("objects")
    return (
        isinstance(objects, dict)
        and all(isinstance(objects.get(k), str) for k in ("model", "image_name", "image_ref"))
        and isinstance(objects.get("objects"), list)
        and all(isinstance(o, dict) for o in objects["objects"])
    )


def valid_unit(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and is_digests(entry.get("files"))
        and isinstance(entry.get("resources"), list)
        and all(isinstance(r, str) for r in entry["resources"])
        and isinstance(entry.get("patches"), list)
        and all(isinstance(p, dict) for p in entry["patches"])
        and isinstance(entry.get("images"), list)
        and all(isinstance(i, dict) for i in entry["images"])
        and isinstance(entry.get("objects"), int)
    )


def valid_compose(entry: Any) -> bool:
    return isinstance(entry, dict) and all(
        isinstance(k, str) and isinstance(v, list) and len(v) == len(ComposeEntry._fields) for k, v in entry.items()
    )


def without_bytes(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A unit entry with its files' paths only: the bytes went to the sink."""
    light = {key: entry[key] for key in ("resources", "patches", "images", "objects")}
    light["files"] = list(entry["files"])
    return light
