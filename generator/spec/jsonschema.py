"""JSON Schemas exported from the spec models: what an editor (yaml-language-server)
applies to models.yaml and environments/*.yaml, and what ``validate`` runs over the raw files."""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel

from generator.spec.environment import EnvironmentFile
from generator.spec.fleet import FleetFile

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILES = ("environment.schema.json", "models.schema.json")
_MODELS: dict[str, type[BaseModel]] = {"models.schema.json": FleetFile, "environment.schema.json": EnvironmentFile}


@functools.cache
def schema_for(filename: str) -> dict[str, Any]:
    schema = _MODELS[filename].model_json_schema(by_alias=True)
    return {"$schema": DRAFT, **schema}


def schema_text(filename: str) -> str:
    return json.dumps(schema_for(filename), indent=2, ensure_ascii=False) + "\n"


def schema_files() -> dict[str, str]:
    """File name under schemas/ -> content."""
    return {name: schema_text(name) for name in sorted(SCHEMA_FILES)}
