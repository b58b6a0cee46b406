"""JSON Schemas exported from the spec models, and the same schemas run over raw files
with ``jsonschema`` so the editor (yaml-language-server) and the CLI agree."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from .errors import Finding
from .fastschema import fast_accepts
from .load import Document, Sources

if TYPE_CHECKING:
    from jsonschema.protocols import Validator
    from pydantic import BaseModel

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILES = ("environment.schema.json", "models.schema.json")


def _spec_model(filename: str) -> type[BaseModel]:
    from .spec import EnvironmentFile, FleetFile

    models: dict[str, type[BaseModel]] = {"models.schema.json": FleetFile, "environment.schema.json": EnvironmentFile}
    return models[filename]


@functools.cache
def schema_for(filename: str) -> dict[str, Any]:
    model = _spec_model(filename)
    schema = model.model_json_schema(by_alias=True)
    return {"$schema": DRAFT, **schema}


def schema_text(filename: str) -> str:
    return json.dumps(schema_for(filename), indent=2, ensure_ascii=False) + "\n"


def schema_files() -> dict[str, str]:
    """File name under schemas/ -> content."""
    return {name: schema_text(name) for name in sorted(SCHEMA_FILES)}


def generated_files() -> dict[str, str]:
    """Every file `modelfleet schema` writes, by path under the fleet root."""
    from .reference import reference_markdown

    files = {f"schemas/{name}": text for name, text in schema_files().items()}
    files["docs/reference.md"] = reference_markdown()
    return files


def stale_generated(root: Path) -> list[str]:
    return [
        name
        for name, text in generated_files().items()
        if not (root / name).is_file() or (root / name).read_text(encoding="utf-8") != text
    ]


def write_generated(root: Path) -> list[str]:
    """Write the schemas and the spec reference; return the paths whose content changed."""
    changed = stale_generated(root)
    files = generated_files()
    for name in changed:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(files[name], encoding="utf-8")
    return changed


def write_schemas(directory: Path) -> list[str]:
    """Write the schemas; return the names of files whose content changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed: list[str] = []
    for name, text in schema_files().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(name)
    return changed


@functools.cache
def committed_schema(filename: str) -> dict[str, Any]:
    """The schema as shipped in ``generator.schemas`` (``schemas/`` in a checkout), which
    ``modelfleet schema --check`` keeps equal to ``schema_for``: exporting it from pydantic
    on every run would cost more than the validation itself."""
    from importlib.resources import files

    schema: dict[str, Any] = json.loads((files("generator.schemas") / filename).read_text(encoding="utf-8"))
    return schema


@functools.cache
def _validator(filename: str) -> Validator:
    """The ``jsonschema`` validator that words the errors (imported only for a rejection)."""
    from jsonschema.validators import validator_for

    schema = committed_schema(filename)
    validator: Validator = validator_for(schema)(schema)
    return validator


@functools.cache
def _fast_validator(filename: str) -> jsonschema_rs.Validator:
    """The ``jsonschema-rs`` twin of :func:`_validator` (Draft 2020-12, no format checks)."""
    return jsonschema_rs.Draft202012Validator(committed_schema(filename), validate_formats=False)


def jsonschema_findings(document: Document, filename: str) -> list[Finding]:
    """Validate a raw document with the exported schema, as an editor would. jsonschema-rs
    decides validity; jsonschema explains a document it does not accept (the parity test in
    ``tests/test_schema_engine_parity.py`` holds the two to the same verdicts)."""
    if fast_accepts(_fast_validator(filename), document.data):
        return []
    findings: list[Finding] = []
    for error in _validator(filename).iter_errors(document.data):
        path = tuple(error.absolute_path)
        message = error.message
        if len(message) > 200:
            message = message[:197] + "..."
        findings.append(
            document.finding(path, f"{message} (JSON Schema {filename})", "the editor shows the same error")
        )
    return findings


def sources_findings(sources: Sources) -> list[Finding]:
    """The JSON Schema checks of ``validate`` (and ``render``) over every loaded file."""
    findings = jsonschema_findings(sources.models, "models.schema.json")
    for document in sources.environments:
        findings += jsonschema_findings(document, "environment.schema.json")
    return findings
