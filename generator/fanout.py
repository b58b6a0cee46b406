"""A render's units built ahead in forked workers: one model at a time, all of its units.

``pipeline.Render`` hands each model to ``ModelWork`` in a worker (``forked.fork_map``) and
merges what comes back in model order, exactly as it would have built it: the files, the
kustomization entries and the findings are the same, and so is everything after. A worker
builds only what the unit cache misses (and stores it there, as the render would); for a
hit it sends back ``HIT`` and the render takes the entry itself, so whether a cached file
can be planned by digest is still decided by the one sink. A worker sends files as bytes
and small plain data, never objects: ``objects`` only when the render may need the base to
rebuild a hit its tree no longer holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.build.alerts import alert_docs
from generator.build.runbook import runbook
from generator.build.workload import KubeObject
from generator.errors import Finding, ModelfleetError
from generator.incremental.cache import UnitCache
from generator.incremental.entries import (
    file_digests,
    is_digests,
    plain_objects,
    stored_objects,
    valid_base,
    valid_unit,
)
from generator.incremental.keys import UnitKeys
from generator.output.overlay import ModelObjects
from generator.output.plan import base_files, runbook_files
from generator.read.resolve import ResolvedEnvironment, ResolvedModel
from generator.units import BuiltUnit, build_unit, model_objects, overview_model

HIT = "hit"  # the unit cache holds this unit: the render takes it itself


@dataclass(frozen=True)
class BuiltBase:
    """A model's base built by a worker (a cache miss)."""

    key: str
    files: dict[str, bytes]
    row: dict[str, Any]  # overview_model
    objects: dict[str, Any] | None  # plain_objects, only when a unit or the runbook was a hit


@dataclass(frozen=True)
class BuiltEnvUnit:
    """A model in an environment built by a worker (a cache miss)."""

    key: str
    entry: dict[str, Any]  # as ``build_unit`` made it, files as bytes
    findings: list[Finding]


@dataclass(frozen=True)
class BuiltModel:
    """What a worker sends back for one model. ``base``: built, ``HIT``, or the findings
    that stop it (then nothing else is built); ``units``: by environment name, each built,
    ``HIT`` or the findings of a unit that cannot be built; ``runbook``: files or ``HIT``."""

    base: BuiltBase | str | list[Finding]
    units: dict[str, BuiltEnvUnit | str | list[Finding]]
    runbook: dict[str, bytes] | str | None
    misses: int  # the cache misses this model's lookups counted


@dataclass(frozen=True)
class Place:
    """An environment as a worker needs it."""

    env: ResolvedEnvironment
    ns_object: KubeObject
    key: str
    models: Mapping[str, ResolvedModel]


class ModelWork:
    """Builds every unit of one model, as ``pipeline.Render`` would, from a worker."""

    def __init__(
        self,
        root: Path,
        keys: UnitKeys,
        cache: UnitCache,
        *,
        allowed: Callable[[str], bool],
        places: Sequence[Place],
        runbook_places: Mapping[str, list[tuple[str, str]]],
    ) -> None:
        self.root, self.keys, self.cache, self.allowed = root, keys, cache, allowed
        self.places, self.runbook_places = places, runbook_places

    def __call__(self, model: ResolvedModel) -> BuiltModel:
        misses = self.cache.misses
        base_key = self.keys.base(model)
        stored = self.cache.get(base_key, valid_base)
        base: BuiltBase | str | list[Finding]
        if stored is not None:
            objects: ModelObjects = stored_objects(stored["objects"])
            base = HIT
        else:
            try:
                objects, files = fresh_base(model, self.root, self.keys, self.cache, base_key)
            except ModelfleetError as exc:
                return BuiltModel(exc.findings, {}, None, self.cache.misses - misses)
            base = BuiltBase(base_key, files, overview_model(model, objects), None)
        units: dict[str, BuiltEnvUnit | str | list[Finding]] = {}
        for place in self.places:
            env_model = place.models.get(model.name)
            if env_model is not None:
                units[place.env.spec.name] = self._unit(place, env_model, objects)
        book = self._runbook(model)
        hits = book == HIT or any(unit == HIT for unit in units.values())
        if isinstance(base, BuiltBase) and hits:
            base = BuiltBase(base.key, base.files, base.row, plain_objects(objects))
        return BuiltModel(base, units, book, self.cache.misses - misses)

    def _unit(self, place: Place, model: ResolvedModel, base: ModelObjects) -> BuiltEnvUnit | str | list[Finding]:
        key = self.keys.unit(place.key, model)
        if self.cache.get(key, valid_unit) is not None:
            return HIT
        try:
            built = fresh_unit(
                place.env,
                model,
                place.ns_object,
                base,
                root=self.root,
                allowed=self.allowed,
                keys=self.keys,
                cache=self.cache,
                key=key,
            )
        except ModelfleetError as exc:
            return exc.findings
        return BuiltEnvUnit(key, built.entry, built.findings)

    def _runbook(self, model: ResolvedModel) -> dict[str, bytes] | str:
        places = self.runbook_places.get(model.name, [])
        key = self.keys.runbook(model, places)
        if self.cache.get(key, is_digests) is not None:
            return HIT
        return fresh_runbook(model, places, self.keys, self.cache, key)


# ------------------------------------------------------------------ building a missed unit
# What a unit the cache did not hold costs, for the render and its workers alike: build it,
# and store it when its inputs held still (``store`` False: the cache holds an entry the
# render could not use, which stays).


def fresh_base(
    model: ResolvedModel, root: Path, keys: UnitKeys, cache: UnitCache, key: str, *, store: bool = True
) -> tuple[ModelObjects, dict[str, bytes]]:
    """A model's base objects and files (``ModelfleetError`` when it cannot be built)."""
    objects = model_objects(model, root)
    files = base_files(objects)
    if store and keys.settled(model):
        cache.put(key, {"files": file_digests(files), "objects": plain_objects(objects)})
    return objects, dict(files)


def fresh_unit(
    env: ResolvedEnvironment,
    model: ResolvedModel,
    ns_object: KubeObject,
    base: ModelObjects,
    *,
    root: Path,
    allowed: Callable[[str], bool],
    keys: UnitKeys,
    cache: UnitCache,
    key: str,
    store: bool = True,
) -> BuiltUnit:
    """An (environment, model) unit built against its base; stored only without findings."""
    built = build_unit(env, model, ns_object, base, root=root, allowed=allowed)
    if store and not built.findings and keys.settled(model):
        cache.put(key, {**built.entry, "files": file_digests(built.entry["files"])})
    return built


def fresh_runbook(
    model: ResolvedModel,
    places: list[tuple[str, str]],
    keys: UnitKeys,
    cache: UnitCache,
    key: str,
    *,
    store: bool = True,
) -> dict[str, bytes]:
    """A model's runbook file, for the (environment, namespace) pairs that run it."""
    text = runbook(model, alert_docs(model), [env for env, _ in places], dict(places))
    files = runbook_files({model.name: text})
    if store and keys.settled(model):
        cache.put(key, file_digests(files))
    return dict(files)
