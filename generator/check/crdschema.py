"""Strict validation of custom resources against vendored upstream CRD schemas.

The schemas live in ``schemas/crds/`` (shipped in the wheel as package data of
``generator.schemas``), one JSON Schema per kind, named ``<group>_<version>_<Kind>.json``.
They are written by ``tools/vendor_crds.py`` (``make crds``) from pinned registry packages;
``schemas/crds/PROVENANCE.md`` says which package and which upstream release each came from.

The files are enforced exactly as committed: unknown fields are already forbidden in them
(``additionalProperties: false`` wherever the CRD lists its fields and allows no others),
because the API server would prune such fields silently (argo-cd#17135). Each file declares
its JSON Schema draft in ``$schema``; Draft 7 is the default, being closest to the OpenAPI v3
schemas of CRDs. One validator per engine is built per kind, once (``jsonschema-rs`` decides
validity, ``jsonschema`` explains an object it does not accept, through
:mod:`generator.check.schemaengine`), and every problem comes back as a
:class:`~generator.check.schemaengine.KubeError` value with the same paths and messages as the
core-object validation.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from importlib.abc import Traversable
from importlib.resources import files
from typing import Any

import jsonschema_rs
from jsonschema import Draft4Validator, Draft6Validator, Draft7Validator, Draft201909Validator, Draft202012Validator
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from generator.check.schemaengine import KubeError, accepts, findings_of, kube_error, object_errors
from generator.errors import Finding

__all__ = [
    "BrokenSchema",
    "crd_errors",
    "crd_kinds",
    "has_schema",
    "validate_custom_objects",
]

_SCHEMA_PACKAGE = "generator.schemas"
_CRD_DIR = "crds"
# <group>_<version>_<Kind>.json, e.g. argoproj.io_v1alpha1_Rollout.json
_FILE_NAME = re.compile(
    r"^(?P<group>[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?)_(?P<version>v\d+(?:(?:alpha|beta)\d+)?)_(?P<kind>[A-Za-z][A-Za-z0-9]*)\.json$"
)


class BrokenSchema(RuntimeError):
    """A vendored schema file that does not describe the kind its name says: re-run ``make crds``."""


@functools.cache
def _crd_root() -> Traversable:
    return files(_SCHEMA_PACKAGE) / _CRD_DIR


@functools.cache
def _schema_files() -> dict[tuple[str, str], str]:
    """(apiVersion, kind) -> file name, for every vendored schema."""
    root = _crd_root()
    found: dict[tuple[str, str], str] = {}
    if not root.is_dir():
        return found
    for entry in root.iterdir():
        match = _FILE_NAME.fullmatch(entry.name)
        if match is not None and entry.is_file():
            found[(f"{match['group']}/{match['version']}", match["kind"])] = entry.name
    return found


def crd_kinds() -> tuple[tuple[str, str], ...]:
    """Every ``(apiVersion, kind)`` with a vendored schema, sorted."""
    return tuple(sorted(_schema_files()))


def has_schema(api_version: str, kind: str) -> bool:
    """Whether a vendored CRD schema exists for ``apiVersion``/``kind``."""
    return (api_version, kind) in _schema_files()


@functools.cache
def _schema(api_version: str, kind: str) -> Mapping[str, Any] | None:
    name = _schema_files().get((api_version, kind))
    if name is None:
        return None
    schema: Mapping[str, Any] = json.loads((_crd_root() / name).read_text(encoding="utf-8"))
    group, _, version = api_version.rpartition("/")
    declared = schema.get("x-kubernetes-group-version-kind")
    if declared != [{"group": group, "kind": kind, "version": version}]:
        raise BrokenSchema(f"schemas/crds/{name} declares {declared!r}, not {api_version} {kind}; run `make crds`")
    return schema


def _validator_class(schema: Mapping[str, Any]) -> type[Validator]:
    """The draft a schema declares in ``$schema``; Draft 7 when it declares none (or one unknown)."""
    cls: type[Validator] = validator_for(schema, default=Draft7Validator)
    return cls


@functools.cache
def _validator(api_version: str, kind: str) -> Validator | None:
    """The one validator for ``apiVersion``/``kind``, or None if there is no vendored schema."""
    schema = _schema(api_version, kind)
    if schema is None:
        return None
    validator: Validator = _validator_class(schema)(schema)
    return validator


# The jsonschema-rs validator of the same draft as each jsonschema one.
_RS_DRAFTS: dict[type[Validator], type[jsonschema_rs.Validator]] = {
    Draft4Validator: jsonschema_rs.Draft4Validator,
    Draft6Validator: jsonschema_rs.Draft6Validator,
    Draft7Validator: jsonschema_rs.Draft7Validator,
    Draft201909Validator: jsonschema_rs.Draft201909Validator,
    Draft202012Validator: jsonschema_rs.Draft202012Validator,
}


@functools.cache
def _fast_validator(api_version: str, kind: str) -> jsonschema_rs.Validator | None:
    """The ``jsonschema-rs`` twin of :func:`_validator` (same draft, no format checks), or None
    when there is no vendored schema or no twin for its draft (then ``jsonschema`` decides)."""
    schema = _schema(api_version, kind)
    if schema is None:
        return None
    cls = _RS_DRAFTS.get(_validator_class(schema))
    return None if cls is None else cls(dict(schema), validate_formats=False)


def _no_schema(api_version: str, kind: str) -> KubeError:
    message = f"no vendored CRD schema for {api_version} {kind}"
    same_kind = [f"{a} {k}" for a, k in crd_kinds() if k.lower() == kind.lower()]
    if same_kind:
        hint = f"schemas/crds has {' and '.join(same_kind)}"
    else:
        hint = "add the kind to tools/vendor_crds.py and run `make crds`"
    return kube_error([], message, hint)


def crd_errors(obj: Mapping[str, Any]) -> list[KubeError]:
    """Every violation of the vendored CRD schema in ``obj``, sorted by path; empty when valid.

    Never raises for a malformed object: a non-mapping, a missing or non-string
    ``apiVersion``/``kind`` and a kind without a vendored schema are reported as errors.
    """
    return object_errors(obj, _validator, _no_schema, _fast_validator)


def crd_accepts(obj: Mapping[str, Any]) -> bool:
    """True when ``obj`` is certainly valid against its vendored schema (the fast engine's verdict)."""
    return accepts(obj, _fast_validator)


def _custom_identity(obj: object) -> tuple[str, str] | None:
    if not isinstance(obj, Mapping):
        return None
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if isinstance(api_version, str) and isinstance(kind, str) and has_schema(api_version, kind):
        return api_version, kind
    return None


def validate_custom_objects(objects: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Finding]:
    """Validate rendered custom resources, given as ``(display_file, object)`` pairs.

    Objects whose ``apiVersion``/``kind`` has no vendored schema are skipped: core kinds are
    :func:`generator.check.kubeschema.validate_objects`' job. Returns one
    :class:`~generator.errors.Finding` per problem, located at the display file, with
    ``path`` ``"Kind/name: field.path"``. The messages of identical invalid objects are worked
    out once.
    """
    return findings_of(((f, o) for f, o in objects if _custom_identity(o) is not None), crd_errors, crd_accepts)
