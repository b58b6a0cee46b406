"""Stage 5, check: every object an environment receives is validated strictly, core kinds
against the Kubernetes schemas of that environment's version (``kubeschema``), custom
resources against their vendored upstream CRD schemas (``crdschema``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from generator.check.crdschema import has_schema, validate_custom_objects
from generator.check.kubeschema import validate_objects
from generator.errors import Finding


def _is_custom(obj: Mapping[str, Any]) -> bool:
    return has_schema(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))


def check_environment(name: str, version: str, objects: Sequence[Mapping[str, Any]]) -> list[Finding]:
    display = f"rendered/overlays/{name}"
    core = [(display, obj) for obj in objects if not _is_custom(obj)]
    custom = [(display, obj) for obj in objects if _is_custom(obj)]
    return validate_objects(core, version) + validate_custom_objects(custom)


def check_gitops(name: str, objects: Sequence[Mapping[str, Any]]) -> list[Finding]:
    return validate_custom_objects((f"rendered/gitops/{name}.yaml", obj) for obj in objects)
