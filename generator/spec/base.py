"""What every spec module shares: the spec version, the base of every spec model (strict, no
unknown keys) and the two errors a check raises (about the value itself, or about one field
of a model).

The scalar types live in ``names``, ``paths``, ``imagerefs``, ``quantities`` and ``queries``;
each carries its own check and JSON Schema, so the layer copies that ``layers.partial`` makes keep
every per-field rule.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

API_VERSION = "modelfleet/v1"

MODEL_CONFIG = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


class Spec(BaseModel):
    """Base of every spec model: unknown keys are errors, types are strict."""

    model_config = MODEL_CONFIG


def spec_error(message: str, hint: str = "") -> PydanticCustomError:
    return PydanticCustomError("modelfleet", "{message}", {"message": message, "hint": hint})


def field_error(message: str, hint: str, field: str) -> PydanticCustomError:
    """A cross-field error reported at ``field`` (dotted, relative to the model being validated)."""
    return PydanticCustomError("modelfleet", "{message}", {"message": message, "hint": hint, "field": field})
