"""Layers: the spec models with every field optional.

The files hold layers: ``defaults:`` and per-environment overrides set only some keys, so
they are validated against ``partial()`` copies of the models, in which every field is
optional and cross-field rules wait for the merged result (a ``ModelSpec``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

from pydantic import BaseModel, Field, create_model

from generator.spec.base import Spec
from generator.spec.model import ModelSpec

# Fields of ModelSpec that an override replaces as a whole instead of merging key by key.
ATOMIC_FIELDS = frozenset({"image", "artifact"})


_PARTIALS: dict[tuple[type[BaseModel], frozenset[str], frozenset[str]], type[BaseModel]] = {}


def _partial_annotation(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Spec):
        return partial(annotation)
    if origin is Annotated:
        inner, *meta = get_args(annotation)
        return Annotated[(_partial_annotation(inner), *meta)]
    args = get_args(annotation)
    if args and type(None) in args:  # X | None
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _partial_annotation(rest[0]) | None
    return annotation


def partial(
    model: type[BaseModel],
    *,
    exclude: frozenset[str] = frozenset(),
    required: frozenset[str] = frozenset(),
    name: str | None = None,
) -> type[BaseModel]:
    """A copy of ``model`` where every field is optional (lists stay whole, since
    overrides replace lists) and model-level rules are dropped until merge."""
    key = (model, exclude, required)
    if key in _PARTIALS:
        return _PARTIALS[key]
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        if field_name in exclude:
            continue
        annotation = info.annotation
        if field_name not in ATOMIC_FIELDS:
            annotation = _partial_annotation(annotation)
        typed: Any = Annotated[(annotation, *info.metadata)] if info.metadata else annotation
        if field_name in required:
            fields[field_name] = (typed, Field(description=info.description, alias=info.alias))
        else:
            fields[field_name] = (typed | None, Field(None, description=info.description, alias=info.alias))
    created: type[BaseModel] = create_model(
        name or f"{model.__name__}Layer",
        __base__=Spec,
        __doc__=f"Any subset of {model.__name__}'s fields.",
        **fields,
    )
    _PARTIALS[key] = created
    return created


if TYPE_CHECKING:  # the layer classes are made at import time; to mypy they are models
    ModelEntry = BaseModel
    ModelDefaults = BaseModel
    ModelOverride = BaseModel

MODEL_ENTRY = partial(ModelSpec, required=frozenset({"name"}), name="ModelEntry")
MODEL_DEFAULTS = partial(
    ModelSpec,
    exclude=frozenset({"name", "description", "image", "artifact", "build", "enabled"}),
    name="ModelDefaults",
)
MODEL_OVERRIDE = partial(
    ModelSpec,
    exclude=frozenset({"name", "description", "owner", "runtime", "build"}),
    name="ModelOverride",
)

if not TYPE_CHECKING:
    ModelEntry, ModelDefaults, ModelOverride = MODEL_ENTRY, MODEL_DEFAULTS, MODEL_OVERRIDE
