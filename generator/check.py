"""Stage 5, check: every object an environment receives is validated strictly against
the Kubernetes schemas of that environment's version (see ``kubeschema``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import Finding
from .kubeschema import validate_objects


def check_environment(name: str, version: str, objects: Sequence[Mapping[str, Any]]) -> list[Finding]:
    display = f"rendered/overlays/{name}"
    return validate_objects(((display, obj) for obj in objects), version)
