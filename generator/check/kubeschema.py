"""Strict validation of Kubernetes objects against the upstream OpenAPI schemas.

The schemas are the upstream Kubernetes OpenAPI schemas converted to JSON Schema and
shipped as data files by the ``kubernetes-validate`` package, in their *strict* variant
(``v<version>-local-strict``), which forbids unknown fields. Only those data files are
used, laid out exactly as the package lays them out: ``<kind>-<group>-<version>.json``
per kind plus one ``_definitions.json`` per Kubernetes version.

``kubernetes_validate.validate`` itself is not called: it re-reads the 1.3 MB
definitions file and builds a new validator for every object, compares versions as
strings ("1.4" > "1.37") and raises bare ``KeyError`` on malformed objects. Here the
definitions are loaded once per version, validators are built and cached per (version,
apiVersion, kind), and every problem with an object comes back as a :class:`KubeError`
value, never as an exception.

How an object is checked against them, and how problems are worded, is in ``schemaengine``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from importlib.abc import Traversable
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from generator.check.schemaengine import KubeError, accepts, findings_of, kube_error, object_errors
from generator.errors import Finding
from generator.spec.kubernetes import resolve_version, version_dir

if TYPE_CHECKING:  # jsonschema and referencing load only to explain an object jsonschema-rs rejects
    from jsonschema import Draft202012Validator
    from referencing import Registry

__all__ = [
    "KubeValidator",
    "validate_objects",
]

# What Kubernetes accepts; also keeps file names built from them inside the schema dir.
_API_VERSION = re.compile(r"^(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?/)?v\d+(?:(?:alpha|beta)\d+)?$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


# ----------------------------------------------------------------------------- schemas


def _read_json(entry: Traversable) -> Any:
    return json.loads(entry.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=8)
def _definitions(schema_version: str) -> dict[str, Any]:
    """``_definitions.json`` of one version, read once per version (1.3 MB; never mutated)."""
    definitions: dict[str, Any] = _read_json(version_dir(schema_version) / "_definitions.json")
    return definitions


@functools.lru_cache(maxsize=8)
def _definitions_registry(schema_version: str) -> Registry[Any]:
    """A ``referencing`` registry holding ``_definitions.json`` of one version."""
    from referencing import Registry, Resource

    return Resource.from_contents(_definitions(schema_version)) @ Registry()


@functools.lru_cache(maxsize=8)
def _rs_definitions_registry(schema_version: str) -> jsonschema_rs.Registry:
    """The same definitions, as a ``jsonschema-rs`` registry."""
    definitions = _definitions(schema_version)
    return jsonschema_rs.Registry([(definitions["$id"], definitions)])


def _schema_file_name(api_version: str, kind: str) -> str:
    # As kubernetes-validate does: drop the group's domain, so that
    # rbac.authorization.k8s.io/v1 ClusterRole -> clusterrole-rbac-v1.json, v1 Pod -> pod-v1.json.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}.json"


def _group_version_kinds(schema: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The (apiVersion, kind) pairs a kind schema declares it is for."""
    pairs: set[tuple[str, str]] = set()
    for gvk in schema.get("x-kubernetes-group-version-kind") or ():
        group, version, kind = gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")
        pairs.add((f"{group}/{version}" if group else version, kind))
    return pairs


def _kind_schema(schema_version: str, api_version: str, kind: str) -> Mapping[str, Any] | None:
    entry = version_dir(schema_version) / _schema_file_name(api_version, kind)
    if not entry.is_file():
        return None
    schema: Mapping[str, Any] = _read_json(entry)
    # The file name drops the group's domain and the kind's case: check the real identity.
    if (api_version, kind) not in _group_version_kinds(schema):
        return None
    return schema


@functools.lru_cache(maxsize=512)
def _kind_validator(schema_version: str, api_version: str, kind: str) -> Draft202012Validator | None:
    """The one validator for a (version, apiVersion, kind), or None if there is no schema."""
    schema = _kind_schema(schema_version, api_version, kind)
    if schema is None:
        return None
    from jsonschema import Draft202012Validator
    from referencing import Resource

    registry: Registry[Any] = Resource.from_contents(schema) @ _definitions_registry(schema_version)
    return Draft202012Validator(schema, registry=registry)


@functools.lru_cache(maxsize=512)
def _rs_kind_validator(schema_version: str, api_version: str, kind: str) -> jsonschema_rs.Validator | None:
    """The ``jsonschema-rs`` twin of :func:`_kind_validator`: same draft, no format checks."""
    schema = _kind_schema(schema_version, api_version, kind)
    if schema is None:
        return None
    return jsonschema_rs.Draft202012Validator(
        dict(schema), registry=_rs_definitions_registry(schema_version), validate_formats=False
    )


@functools.lru_cache(maxsize=64)
def _kinds_named(schema_version: str, kind: str) -> tuple[str, ...]:
    """``apiVersion Kind`` for every shipped schema whose kind is ``kind``, any case."""
    prefix = f"{kind.lower()}-"
    found: set[str] = set()
    for entry in version_dir(schema_version).iterdir():
        if entry.name.startswith(prefix) and entry.name.endswith(".json"):
            for api_version, real_kind in _group_version_kinds(_read_json(entry)):
                if real_kind.lower() == kind.lower():
                    found.add(f"{api_version} {real_kind}")
    return tuple(sorted(found))


# --------------------------------------------------------------------------- validator


class KubeValidator:
    """Validates Kubernetes objects against the strict schemas of one Kubernetes version.

    Validators are built once per (version, apiVersion, kind) and shared by every
    ``KubeValidator``; building one never reads ``_definitions.json`` again.
    """

    def __init__(self, version: str) -> None:
        """Use the schemas for Kubernetes ``version``; raises :class:`UnknownVersion`."""
        self.version, self.schema_version = resolve_version(version)

    def _describe_version(self) -> str:
        if self.version == self.schema_version:
            return f"Kubernetes {self.version}"
        return f"Kubernetes {self.version} (schemas of {self.schema_version})"

    def _no_schema(self, api_version: str, kind: str) -> KubeError:
        message = f"no schema for {api_version} {kind} in {self._describe_version()}"
        hint = ""
        if _KIND.fullmatch(kind):
            known = [k for k in _kinds_named(self.schema_version, kind) if k != f"{api_version} {kind}"]
            if known:
                hint = f"{self._describe_version()} has {' and '.join(known)}"
        return kube_error([], message, hint)

    def validator_for(self, api_version: str, kind: str) -> Draft202012Validator | None:
        """The cached validator for ``apiVersion``/``kind``, or None if there is no schema."""
        if not (_API_VERSION.fullmatch(api_version) and _KIND.fullmatch(kind)):
            return None
        return _kind_validator(self.schema_version, api_version, kind)

    def fast_validator_for(self, api_version: str, kind: str) -> jsonschema_rs.Validator | None:
        """The cached ``jsonschema-rs`` validator for ``apiVersion``/``kind``, or None."""
        if not (_API_VERSION.fullmatch(api_version) and _KIND.fullmatch(kind)):
            return None
        return _rs_kind_validator(self.schema_version, api_version, kind)

    def accepts(self, obj: object) -> bool:
        """True when ``obj`` is certainly valid (``jsonschema-rs`` accepts it): the fast path."""
        return accepts(obj, self.fast_validator_for)

    def errors(self, obj: Mapping[str, Any]) -> list[KubeError]:
        """Every schema violation in ``obj``, sorted by path; empty when it is valid.

        Never raises for a malformed object: a non-mapping, a missing or non-string
        ``apiVersion``/``kind`` and a kind without a schema are reported as errors.
        """
        return object_errors(obj, self.validator_for, self._no_schema, self.fast_validator_for)


def validate_objects(objects: Iterable[tuple[str, Mapping[str, Any]]], version: str) -> list[Finding]:
    """Validate rendered objects, given as ``(display_file, object)`` pairs.

    Returns one :class:`~generator.errors.Finding` per problem, located at the display
    file, with ``path`` ``"Kind/name: field.path"``. The messages of identical invalid
    objects (same canonical JSON) are worked out once. Raises :class:`UnknownVersion` for a
    bad ``version``; check the environment's ``kubernetesVersion`` with
    :func:`schema_version_for` earlier to report it at its line.
    """
    validator = KubeValidator(version)
    return findings_of(objects, validator.errors, validator.accepts)
