"""Stage 2, parse: loaded documents to validated spec layers, with located errors.

Pydantic errors are translated into Findings that name the file, line and column,
the field path, what is wrong and how to fix it (did-you-mean for typos, "quote it"
for YAML 1.1 coercions).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

from generator.errors import Finding, ModelfleetError
from generator.read.load import Document, FieldPath, Sources
from generator.spec.base import API_VERSION
from generator.spec.environment import EnvironmentFile
from generator.spec.fleet import FleetFile
from generator.spec.paths import validation_context

Locator = Callable[[FieldPath], tuple[Document, FieldPath]]


@dataclass(frozen=True)
class ParsedEnvironment:
    spec: EnvironmentFile
    document: Document


@dataclass(frozen=True)
class Parsed:
    """The validated layers of a fleet and the documents they came from."""

    root: Path
    fleet: FleetFile
    document: Document
    environments: tuple[ParsedEnvironment, ...]
    paths: set[str]  # every fleet-relative path validated so far (resolve adds its own)
    passed: set[tuple[str, str]] = field(default_factory=set)  # file-system checks passed (spec.paths)


# ---------------------------------------------------------------------------
# Walking model classes along an error path


def unwrap_annotation(annotation: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``X | None`` (what an error path walks into)."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        args = get_args(annotation)
        if args and type(None) in args and origin is not dict and origin is not list:
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1:
                annotation = rest[0]
                continue
        return annotation


def _field_by_name(model: type[BaseModel], name: str) -> Any:
    for field_name, info in model.model_fields.items():
        if name in (field_name, info.alias):
            return info.annotation
    return None


def annotation_at(model: type[BaseModel], loc: Iterable[str | int]) -> Any:
    """The (unwrapped) annotation reached by following ``loc`` from ``model``."""
    current: Any = model
    for part in loc:
        current = unwrap_annotation(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            current = _field_by_name(current, str(part))
        elif get_origin(current) is list:
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
        if current is None:
            return None
    return unwrap_annotation(current)


def allowed_keys(model: type[BaseModel], loc: Iterable[str | int]) -> list[str]:
    target = annotation_at(model, loc)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return [info.alias or name for name, info in target.model_fields.items()]
    return []


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    options = list(choices)
    lowered = {choice.lower(): choice for choice in options}
    if word.lower() in lowered:
        return f"did you mean '{lowered[word.lower()]}'?"
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if options:
        return "allowed here: " + ", ".join(sorted(options))
    return ""


# ---------------------------------------------------------------------------
# Pydantic errors -> Findings


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"'{value}'"
    return repr(value)


def _expected(error_type: str) -> str:
    return {
        "string_type": "text",
        "int_type": "a whole number",
        "int_from_float": "a whole number",
        "float_type": "a number",
        "bool_type": "true or false",
        "dict_type": "a mapping (key: value)",
        "list_type": "a list",
        "model_type": "a mapping (key: value)",
        "model_attributes_type": "a mapping (key: value)",
    }.get(error_type, "")


def translate_error(error: Any, model: type[BaseModel], locate: Locator, prefix: FieldPath = ()) -> Finding:
    """One pydantic error dict -> one Finding located in its source document."""
    loc: FieldPath = tuple(error["loc"])
    on_key = bool(loc) and loc[-1] == "[key]"  # a bad mapping key: point at the key itself
    if on_key:
        loc = loc[:-1]
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    hint = str(ctx.get("hint", ""))
    message: str
    if kind == "modelfleet":
        message = str(ctx["message"])
        field = ctx.get("field")
        if field:
            loc = loc + tuple(int(p) if p.isdigit() else p for p in str(field).split("."))
    elif kind == "extra_forbidden":
        key = str(loc[-1])
        message = f"unknown field '{key}'"
        hint = did_you_mean(key, allowed_keys(model, loc[:-1]))
        if "secretRef" in allowed_keys(model, loc[:-1]) and key in {"value", "secret", "password", "token"}:
            message = "plaintext secret values are not allowed in the spec"
            hint = "store the value in a Kubernetes Secret and reference it: secretRef: {name: ..., key: ...}"
    elif kind == "missing":
        message = f"missing required field '{loc[-1]}'"
        hint = f"add '{loc[-1]}:' here"
    elif kind == "literal_error":
        choices = [str(c) for c in get_args(annotation_at(model, loc))] or []
        message = f"{_describe(value)} is not one of: {', '.join(choices)}"
        if isinstance(value, str):
            hint = did_you_mean(value, choices)
    elif _expected(kind):
        message = f"expected {_expected(kind)}, got {_describe(value)}"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
        if value is not None and not isinstance(value, dict | list):
            message = f"{_describe(value)}: {message[0].lower()}{message[1:]}"
    document, doc_path = locate(prefix + loc)
    plain = document.plain_text.get(doc_path)
    if plain is not None and kind == "string_type":
        message = f"{plain} was read by YAML as {_describe(value)}, not as the text '{plain}'"
        hint = f'quote it: "{plain}"'
    elif plain is not None and kind in {"int_type", "float_type"} and isinstance(value, bool):
        message = f"{plain} was read by YAML as {_describe(value)}"
    at_key = kind == "extra_forbidden" or on_key
    return document.finding(doc_path, message, hint, key=at_key)


def translate(exc: ValidationError, model: type[BaseModel], locate: Locator, prefix: FieldPath = ()) -> list[Finding]:
    return [translate_error(error, model, locate, prefix) for error in exc.errors()]


def _same_document(document: Document) -> Locator:
    return lambda path: (document, path)


# ---------------------------------------------------------------------------
# Whole-file checks


def _check_header(document: Document, kind: Literal["ModelFleet", "Environment"]) -> list[Finding]:
    data = document.data
    findings: list[Finding] = []
    api = data.get("apiVersion")
    if api is not None and api != API_VERSION:
        findings.append(
            document.finding(("apiVersion",), f"unsupported apiVersion '{api}'", f"write apiVersion: {API_VERSION}")
        )
    found = data.get("kind")
    if found is not None and found != kind:
        hint = (
            "models.yaml holds kind: ModelFleet; environment files live in environments/"
            if kind == "ModelFleet"
            else "environment files hold kind: Environment"
        )
        findings.append(document.finding(("kind",), f"expected kind {kind}, found '{found}'", hint))
    return findings


def _unique_models(fleet: FleetFile, document: Document) -> list[Finding]:
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for index, model in enumerate(fleet.models):
        name = str(model.name)  # type: ignore[attr-defined]
        first = seen.get(name.lower())
        if first is not None:
            where = document.locate(("models", first, "name"))
            findings.append(
                document.finding(
                    ("models", index, "name"),
                    f"model name '{name}' is used twice (first at line {where.line})",
                    "give every model its own name",
                )
            )
        else:
            seen[name.lower()] = index
    return findings


def parse_fleet_document(
    document: Document, root: Path, paths: set[str] | None = None, passed: set[tuple[str, str]] | None = None
) -> FleetFile:
    findings = _check_header(document, "ModelFleet")
    if findings:
        raise ModelfleetError(findings)
    try:
        fleet = FleetFile.model_validate(document.data, context=validation_context(root, paths, passed))
    except ValidationError as exc:
        raise ModelfleetError(translate(exc, FleetFile, _same_document(document))) from None
    findings = _unique_models(fleet, document)
    if findings:
        raise ModelfleetError(findings)
    return fleet


def parse_environment_document(
    document: Document, root: Path, paths: set[str] | None = None, passed: set[tuple[str, str]] | None = None
) -> EnvironmentFile:
    findings = _check_header(document, "Environment")
    if findings:
        raise ModelfleetError(findings)
    try:
        env = EnvironmentFile.model_validate(document.data, context=validation_context(root, paths, passed))
    except ValidationError as exc:
        raise ModelfleetError(translate(exc, EnvironmentFile, _same_document(document))) from None
    stem = Path(document.path).stem
    if env.name != stem:
        raise ModelfleetError(
            [
                document.finding(
                    ("name",),
                    f"environment name '{env.name}' does not match its file name '{Path(document.path).name}'",
                    f"rename the file to environments/{env.name}.yaml or set name: {stem}",
                )
            ]
        )
    return env


def parse(sources: Sources) -> Parsed:
    """Validate every file; report the problems of all files together."""
    findings: list[Finding] = []
    paths: set[str] = set()
    passed: set[tuple[str, str]] = set()
    fleet: FleetFile | None = None
    try:
        fleet = parse_fleet_document(sources.models, sources.root, paths, passed)
    except ModelfleetError as exc:
        findings.extend(exc.findings)
    environments: list[ParsedEnvironment] = []
    seen: dict[str, Document] = {}
    for document in sources.environments:
        try:
            env = parse_environment_document(document, sources.root, paths, passed)
        except ModelfleetError as exc:
            findings.extend(exc.findings)
            continue
        other = seen.get(env.name.lower())
        if other is not None:
            findings.append(
                document.finding(
                    ("name",),
                    f"environment '{env.name}' collides with {other.path}",
                    "environment names must differ by more than letter case",
                )
            )
        seen[env.name.lower()] = document
        environments.append(ParsedEnvironment(env, document))
    if not sources.environments:
        findings.append(
            sources.models.finding(
                (),
                "no environments/*.yaml found",
                "add at least one environment file, for example environments/dev.yaml",
            )
        )
    if findings or fleet is None:
        raise ModelfleetError(findings)
    return Parsed(sources.root, fleet, sources.models, tuple(environments), paths, passed)
