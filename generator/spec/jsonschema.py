"""JSON Schemas exported from the spec models: what an editor (yaml-language-server)
applies to models.yaml and environments/*.yaml, and what ``validate`` runs over the raw files."""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel

from generator.spec.environment import EnvironmentFile
from generator.spec.fleet import FleetFile
from generator.version import repository_url, version

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILES = ("environment.schema.json", "models.schema.json")
_MODELS: dict[str, type[BaseModel]] = {"models.schema.json": FleetFile, "environment.schema.json": EnvironmentFile}


def schema_id(filename: str) -> str:
    """The schema's stable ``$id``: where the release that exported it publishes it (the file
    at its tag), so two versions of a schema never share an id."""
    return f"{repository_url()}/raw/v{version()}/schemas/{filename}"


@functools.cache
def schema_for(filename: str) -> dict[str, Any]:
    schema = _MODELS[filename].model_json_schema(by_alias=True)
    return {"$schema": DRAFT, "$id": schema_id(filename), **schema}


def schema_text(filename: str) -> str:
    return json.dumps(schema_for(filename), indent=2, ensure_ascii=False) + "\n"


def schema_files() -> dict[str, str]:
    """File name under schemas/ -> content."""
    return {name: schema_text(name) for name in sorted(SCHEMA_FILES)}
