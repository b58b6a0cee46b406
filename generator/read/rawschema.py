"""The exported JSON Schemas run over the raw files, so the editor (yaml-language-server)
and the CLI agree on what is valid."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from generator.errors import Finding
from generator.fastschema import fast_accepts
from generator.read.load import Document, Sources

if TYPE_CHECKING:
    from jsonschema.protocols import Validator


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
