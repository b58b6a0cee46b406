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

Two engines, one verdict: ``jsonschema-rs`` (compiled) decides whether an object is valid;
only an object it does not accept goes through ``jsonschema``, which has the last word and
writes the messages. So messages are those of ``jsonschema`` by construction, and where the
engines could differ the result is still ``jsonschema``'s as long as ``jsonschema-rs`` never
accepts what ``jsonschema`` rejects (``tests/test_schema_engine_parity.py`` holds them to
that over every rendered object and broken variants of each). Neither engine checks
``format``; ``jsonschema-rs`` regexes are stricter where they differ (``$`` does not match
before a final newline), which only sends an object to the slow path.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
import reprlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.abc import Traversable
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from generator.errors import Finding, Location
from generator.fastschema import fast_accepts
from generator.spec.kubernetes import resolve_version, version_dir

if TYPE_CHECKING:  # jsonschema and referencing load only to explain an object jsonschema-rs rejects
    from jsonschema import Draft202012Validator, ValidationError
    from jsonschema.protocols import Validator
    from referencing import Registry

__all__ = [
    "KubeError",
    "KubeValidator",
    "accepts",
    "validate_objects",
]

FieldPath = tuple[str | int, ...]

# What Kubernetes accepts; also keeps file names built from them inside the schema dir.
_API_VERSION = re.compile(r"^(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?/)?v\d+(?:(?:alpha|beta)\d+)?$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_FEW_FIELDS = 8
_MAX_INSTANCE_REPR = 80
_MAX_MESSAGE = 300

_short = reprlib.Repr()
_short.maxlevel = 2
_short.maxdict = 4
_short.maxlist = 4
_short.maxstring = 40
_short.maxother = 40


@dataclass(frozen=True)
class KubeError:
    """One schema violation in one Kubernetes object.

    ``path`` is a breadcrumb such as ``spec.template.spec.containers[0].name`` (empty for
    the object itself); ``parts`` is the same path as a tuple, for mapping it back to a
    line in the rendered YAML; ``hint`` says what to do when there is something to say.
    """

    path: str
    message: str
    hint: str = ""
    parts: FieldPath = ()


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


# ------------------------------------------------------------------------------ errors


def _format_path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):
            out += f"[{json.dumps(part)}]"
        elif out:
            out += f".{part}"
        else:
            out = part
    return out


def _natural_key(error: KubeError) -> tuple[tuple[tuple[int, str | int], ...], str]:
    chunks = re.split(r"(\d+)", error.path)
    key = tuple((1, int(c)) if c.isdigit() else (0, c) for c in chunks)
    return key, error.message


def _error(parts: Sequence[str | int], message: str, hint: str = "") -> KubeError:
    return KubeError(_format_path(parts), message, hint, tuple(parts))


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _shorten(message: str, instance: object) -> str:
    full = repr(instance)
    if len(full) > _MAX_INSTANCE_REPR and full in message:
        message = message.replace(full, _short.repr(instance))
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return message


def _unknown_fields(error: ValidationError) -> Iterator[KubeError]:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    allowed = sorted(schema.get("properties") or {})
    patterns = list((schema.get("patternProperties") or {}).keys())
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    parent = list(error.absolute_path)
    for key in instance:
        name = str(key)  # YAML can produce int or bool keys; never a list index here
        if key in allowed or any(re.search(p, name) for p in patterns):
            continue
        message = f"unknown field {name!r}"
        close = difflib.get_close_matches(name, allowed, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        if not allowed:
            message += "; no fields are allowed here"
        elif len(allowed) <= _FEW_FIELDS:
            message += f" (allowed fields: {', '.join(allowed)})"
        yield _error([*parent, name], message)


def _any_of_types(error: ValidationError) -> str | None:
    """'x is not of type a, b' for a oneOf/anyOf of plain types (IntOrString, Quantity)."""
    context = error.context or []
    if not context or any(e.validator != "type" or e.relative_path for e in context):
        return None
    types: list[str] = []
    for sub in context:
        value = sub.validator_value
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for name in names:
            if isinstance(name, str) and name != "null" and name not in types:
                types.append(name)
    if not types:
        return None
    return f"{_short.repr(error.instance)} is not of type {', '.join(map(repr, types))}"


def _convert(error: ValidationError) -> Iterator[KubeError]:
    parts = list(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        yield from _unknown_fields(error)
    elif error.validator == "required" and isinstance(error.instance, Mapping):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [name for name in required if name not in error.instance]
        for name in missing or [None]:
            message = f"missing required field {name!r}" if name else error.message
            yield _error(parts, message)
    elif error.validator in ("oneOf", "anyOf") and (types := _any_of_types(error)):
        yield _error(parts, types)
    else:
        yield _error(parts, _shorten(error.message, error.instance))


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
        return _error([], message, hint)

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


FastValidatorFor = Callable[[str, str], jsonschema_rs.Validator | None]


def accepts(obj: object, fast_validator_for: FastValidatorFor) -> bool:
    """Whether ``jsonschema-rs`` finds ``obj`` valid against the schema of its apiVersion/kind.

    False means "not known to be valid": the object has no identity or schema, holds a value
    JSON has no exact counterpart for (a date, an int key, a str subclass), or is invalid.
    """
    if not isinstance(obj, Mapping):
        return False
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return False
    validator = fast_validator_for(api_version, kind)
    return validator is not None and fast_accepts(validator, obj)


def object_errors(
    obj: object,
    validator_for: Callable[[str, str], Validator | None],
    no_schema: Callable[[str, str], KubeError],
    fast_validator_for: FastValidatorFor,
) -> list[KubeError]:
    """Every schema violation in ``obj`` (core kinds and CRDs alike), sorted by path.

    An object ``jsonschema-rs`` accepts has none; any other goes through ``jsonschema``.
    Never raises for a malformed object: a non-mapping, a missing or non-string
    ``apiVersion``/``kind`` and a kind without a schema (``no_schema``) are reported as errors.
    """
    if accepts(obj, fast_validator_for):
        return []
    if not isinstance(obj, Mapping):
        return [_error([], f"expected a Kubernetes object (a mapping), got {_type_name(obj)}")]
    problems: list[KubeError] = []
    identity: list[str] = []
    for key in ("apiVersion", "kind"):
        value = obj.get(key)
        if value is None:
            problems.append(_error([], f"missing required field {key!r}"))
        elif not isinstance(value, str):
            problems.append(_error([key], f"{_short.repr(value)} is not of type 'string'"))
        else:
            identity.append(value)
    if problems:
        return problems
    api_version, kind = identity
    validator = validator_for(api_version, kind)
    if validator is None:
        return [no_schema(api_version, kind)]
    unique: dict[tuple[str, str], KubeError] = {}
    for error in validator.iter_errors(obj):
        for converted in _convert(error):
            unique.setdefault((converted.path, converted.message), converted)
    return sorted(unique.values(), key=_natural_key)


# -------------------------------------------------------------------------- pipeline


def _canonical_key(obj: object) -> str | None:
    """A hash of the object's canonical JSON, or None when JSON cannot represent it exactly."""
    try:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    # int keys, tuples, NaN... do not survive the round trip: do not share their results.
    if json.loads(text) != obj:
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _object_label(obj: object) -> str:
    if not isinstance(obj, Mapping):
        return "?"
    kind = obj.get("kind")
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return f"{kind if isinstance(kind, str) else '?'}/{name if isinstance(name, str) else '?'}"


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


def findings_of(
    objects: Iterable[tuple[str, Mapping[str, Any]]],
    check: Callable[[Mapping[str, Any]], list[KubeError]],
    accepted: Callable[[Mapping[str, Any]], bool],
) -> list[Finding]:
    """Findings of ``check`` over (display_file, object) pairs.

    ``accepted`` objects (the fast engine's verdict, cheaper than hashing them) have none;
    ``check`` runs once per distinct other object.
    """
    seen: dict[str, list[KubeError]] = {}
    findings: list[Finding] = []
    for display_file, obj in objects:
        if accepted(obj):
            continue
        key = _canonical_key(obj)
        errors = seen.get(key) if key is not None else None
        if errors is None:
            errors = check(obj)
            if key is not None:
                seen[key] = errors
        label = _object_label(obj)
        for error in errors:
            path = f"{label}: {error.path}" if error.path else label
            findings.append(Finding(error.message, Location(display_file), path, error.hint))
    return findings
