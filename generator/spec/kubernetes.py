"""The Kubernetes versions modelfleet can check objects for: those whose strict schemas the
``kubernetes-validate`` package ships (``v<version>-local-strict`` directories). An
environment's ``kubernetesVersion`` must name one of them (or a patch release of one).
``KubeVersion`` is that field's type: a minor version written as "1.31"."""

from __future__ import annotations

import functools
import importlib.util
import re
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from generator.spec.base import spec_error

__all__ = ["KubeVersion", "UnknownVersion", "schema_version_for", "supported_versions"]

_SCHEMA_PACKAGE = "kubernetes_validate"
_SCHEMA_DIR = "kubernetes-json-schema"
_STRICT_DIR = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-local-strict$")
# "1.31", "1.31.2", "v1.31", and what `kubectl version` prints: "v1.31.2-eks-1234".
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+(?:[-+][0-9A-Za-z.+-]+)?)?$")
KUBE_VERSION_RE = re.compile(r"^1\.[0-9]{1,2}$")


def _check_kube_version(value: str) -> str:
    if not KUBE_VERSION_RE.match(value):
        raise spec_error(f"'{value}' is not a Kubernetes minor version", "write it as '1.31'")
    return value


KubeVersion = Annotated[
    str, AfterValidator(_check_kube_version), WithJsonSchema({"type": "string", "pattern": KUBE_VERSION_RE.pattern})
]


class UnknownVersion(ValueError):
    """A Kubernetes version that is malformed or has no shipped schemas."""


def _parse_minor(version: str) -> tuple[int, int] | None:
    match = _VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def minor_str(minor: tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


@functools.cache
def schema_root() -> Traversable:
    """kubernetes-validate's schema directory, found without importing the package: its
    ``__init__`` imports jsonschema, which only explaining a rejected object needs."""
    spec = importlib.util.find_spec(_SCHEMA_PACKAGE)
    locations = spec.submodule_search_locations if spec is not None else None
    if not locations:  # not a plain directory package: let importlib.resources find it
        return files(_SCHEMA_PACKAGE) / _SCHEMA_DIR
    return Path(locations[0]) / _SCHEMA_DIR


@functools.cache
def strict_dirs() -> tuple[tuple[tuple[int, int], str], ...]:
    """Shipped (major, minor) -> strict schema directory name, sorted numerically."""
    best: dict[tuple[int, int], tuple[int, str]] = {}
    for entry in schema_root().iterdir():
        match = _STRICT_DIR.fullmatch(entry.name)
        if match is None or not entry.is_dir():
            continue
        minor = (int(match.group(1)), int(match.group(2)))
        patch = int(match.group(3))
        if minor not in best or patch > best[minor][0]:
            best[minor] = (patch, entry.name)
    return tuple((minor, best[minor][1]) for minor in sorted(best))


def supported_versions() -> tuple[str, ...]:
    """The Kubernetes minor versions with shipped schemas, oldest first: ``("1.25", ...)``."""
    return tuple(minor_str(minor) for minor, _ in strict_dirs())


def supported_range() -> str:
    versions = supported_versions()
    if not versions:
        return "no schemas are installed; reinstall kubernetes-validate"
    return f"supported: {versions[0]} to {versions[-1]}"


def resolve_version(version: str) -> tuple[str, str]:
    """(requested minor, shipped minor to use), or UnknownVersion."""
    requested = _parse_minor(version)
    if requested is None:
        raise UnknownVersion(
            f"{version!r} is not a Kubernetes version; write it as a quoted "
            f'MAJOR.MINOR string such as "1.31" ({supported_range()})'
        )
    shipped = [minor for minor, _ in strict_dirs()]
    if not shipped or requested < shipped[0]:
        raise UnknownVersion(
            f"Kubernetes {minor_str(requested)} is older than the oldest version with schemas ({supported_range()})"
        )
    if requested > shipped[-1]:
        raise UnknownVersion(
            f"Kubernetes {minor_str(requested)} is newer than the newest version with "
            f"schemas ({supported_range()}); upgrade kubernetes-validate"
        )
    return minor_str(requested), minor_str(max(m for m in shipped if m <= requested))


def schema_version_for(version: str) -> str:
    """The shipped minor version whose schemas validate objects for Kubernetes ``version``.

    Accepts ``"1.31"``, ``"1.31.2"`` and ``"v1.31"`` and returns the newest shipped
    minor version that is not newer than the requested one (compared as numbers).
    Raises :class:`UnknownVersion` (a ``ValueError``, so pydantic validators can call
    this) for a malformed version or one outside the shipped range.
    """
    return resolve_version(version)[1]


def version_dir(schema_version: str) -> Traversable:
    """The directory of strict schemas for a shipped minor version (``schema_version_for``)."""
    for minor, name in strict_dirs():
        if minor_str(minor) == schema_version:
            return schema_root() / name
    raise UnknownVersion(f"no schemas for Kubernetes {schema_version} ({supported_range()})")
