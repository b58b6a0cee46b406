"""Checking an object against its JSON Schema, and its problems as :class:`KubeError` values
with readable messages; shared by ``kubeschema`` (core kinds) and ``crdschema`` (custom
resources).

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
import hashlib
import json
import re
import reprlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from generator.errors import Finding, Location
from generator.fastschema import fast_accepts
from generator.read.load import FieldPath

if TYPE_CHECKING:  # jsonschema loads only to explain an object jsonschema-rs rejects
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

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


def kube_error(parts: Sequence[str | int], message: str, hint: str = "") -> KubeError:
    """The KubeError at the field ``parts`` (empty: the object itself)."""
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
        yield kube_error([*parent, name], message)


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
            yield kube_error(parts, message)
    elif error.validator in ("oneOf", "anyOf") and (types := _any_of_types(error)):
        yield kube_error(parts, types)
    else:
        yield kube_error(parts, _shorten(error.message, error.instance))


# ------------------------------------------------------------------------------ checking


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
        return [kube_error([], f"expected a Kubernetes object (a mapping), got {_type_name(obj)}")]
    problems: list[KubeError] = []
    identity: list[str] = []
    for key in ("apiVersion", "kind"):
        value = obj.get(key)
        if value is None:
            problems.append(kube_error([], f"missing required field {key!r}"))
        elif not isinstance(value, str):
            problems.append(kube_error([key], f"{_short.repr(value)} is not of type 'string'"))
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
