"""The render: load -> parse -> resolve -> build -> check -> layout -> plan, unit by unit.

One orchestrator serves every caller. It goes model by model (a model's base, then the
model in each environment, then its runbook), then builds each environment's shared files
from its units' shares, and rendered/README.md from every model's and unit's overview row.
Each unit is checked on its own; when one has a finding, every environment is checked
whole at the end, as the cluster would receive it, and all findings are reported together.
Given a unit cache, units whose inputs did not change come from it; given a sink, each
file goes to it as soon as it exists and the render never holds the whole tree. Without a
sink the files come back in the plan, with the objects of every environment (for ``diff``
and the tests).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.build.image import build_bake, build_image
from generator.build.overview import Overview, unit_row
from generator.build.overviewdoc import overview_readme
from generator.build.scaling import model_adapter_rules
from generator.build.sli import sli_for
from generator.build.workload import KubeObject
from generator.digest import content_digest, digest
from generator.errors import Finding, ModelfleetError
from generator.fanout import BuiltEnvUnit, BuiltModel, ModelWork, Place, fresh_base, fresh_runbook, fresh_unit
from generator.forked import available_cores, fork_map
from generator.incremental.cache import UnitCache
from generator.incremental.deltarecord import RecordBuilder
from generator.incremental.entries import (
    file_digests,
    is_digests,
    stored_objects,
    valid_base,
    valid_compose,
    valid_unit,
    without_bytes,
)
from generator.incremental.fingerprint import generator_fingerprint
from generator.incremental.inputrecord import now_ns
from generator.incremental.keys import UnitKeys
from generator.output.overlay import ModelObjects, namespaced
from generator.output.plan import Plan, image_files, overview_files
from generator.output.rendered import EnvironmentOutput, Rendered, Sink, UnitProgress
from generator.output.shard import Shard
from generator.read.load import Document, Sources, load_fleet
from generator.read.rawschema import sources_findings
from generator.read.resolve import Resolution, ResolvedEnvironment, ResolvedModel
from generator.units import (
    ClosedEnvironment,
    ClosingEnvironment,
    adapter_values,
    allowed_images,
    environment_findings,
    model_objects,
    namespace_object,
    overview_model,
)
from generator.validation import validate_sources
from generator.write.planned import Kept

Files = dict[str, bytes | str]  # path -> bytes, or the digest of bytes a hit's entry names

PARALLEL_MIN_UNITS = 24  # a render of fewer units stays in one process: forking would not pay
JOBS_VARIABLE = "MODELFLEET_JOBS"  # how many processes a render may use (default: every core)


def render_jobs(units: int) -> int:
    """How many worker processes a streaming render of ``units`` units uses: ``MODELFLEET_JOBS``
    when set to a positive integer (1: no workers), else every core this process may use,
    and 1 below ``PARALLEL_MIN_UNITS`` units."""
    value = os.environ.get(JOBS_VARIABLE, "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return available_cores() if units >= PARALLEL_MIN_UNITS else 1


@dataclass(frozen=True)
class Validated:
    """A fleet that passed every check of ``validate``, ready to be rendered."""

    started: int
    resolution: Resolution
    referenced: frozenset[str]
    documents: tuple[Document, ...]  # models.yaml, then each environment file
    clean_secrets: frozenset[bytes] = frozenset()  # what the secret scan found clean


def validate_for_render(root: Path, cache: UnitCache | None) -> Validated:
    """Load and check the fleet (``ModelfleetError`` on any finding)."""
    started = now_ns()
    sources = load_fleet(root)
    validation = validate_sources(sources, known_clean=frozenset())
    findings = _schema_findings(sources, cache)
    if findings:
        raise ModelfleetError(findings)
    return Validated(
        started,
        validation.resolution,
        validation.referenced,
        (sources.models, *sources.environments),
        validation.clean_secrets,
    )


def _schema_findings(sources: Sources, cache: UnitCache | None) -> list[Finding]:
    """``sources_findings``, skipped when ``cache`` holds a pass for the same raw data."""
    if cache is None or not cache.enabled:
        return sources_findings(sources)
    documents = [sources.models, *sources.environments]
    data = pickle.dumps([(d.path, d.data) for d in documents], protocol=pickle.HIGHEST_PROTOCOL)
    key = digest("jsonschema", generator_fingerprint(), hashlib.blake2b(data, digest_size=20).hexdigest())
    if cache.get(key, lambda value: value is True):
        return []
    findings = sources_findings(sources)
    if not findings:
        cache.put(key, True)
    return findings


class _SinkFailed(Exception):
    """The sink (the writer) refused a file: its error, carried past the findings handler."""

    def __init__(self, error: ModelfleetError) -> None:
        super().__init__(str(error))
        self.error = error


def render(
    root: Path,
    cache: UnitCache | None = None,
    sink: Sink | None = None,
    validated: Validated | None = None,
    progress: UnitProgress | None = None,
    *,
    shard: Shard | None = None,
    jobs: int | None = None,
) -> Rendered:
    """Render the fleet under ``root``; ``ModelfleetError`` with every finding, if any.
    ``cache``: reuse and store units; ``sink``: hand each file on (see the module doc);
    ``progress``: told after each unit; ``shard``: render only its files (``output.shard``);
    ``jobs``: worker processes building units ahead (default ``render_jobs``; only with a
    sink), the output is the same whatever it is."""
    if validated is None:
        validated = validate_for_render(root, cache)
    run = Render(
        root,
        validated.resolution,
        cache or UnitCache(root, enabled=False),
        validated.started,
        sink,
        progress=progress,
        shard=shard or Shard(),
        jobs=jobs,
    )
    try:
        files, objects = run.run()
    except _SinkFailed as failed:
        raise failed.error from None
    resolution = validated.resolution
    record = None
    if cache is not None and cache.enabled and run.shard.whole:
        record = run.record.finish(
            documents=validated.documents,
            resolution=resolution,
            referenced=validated.referenced,
            clean_secrets=validated.clean_secrets,
            digests=run.digests,
            summary={"objects": objects, "environments": len(resolution.environments), "models": len(resolution.base)},
        )
    return Rendered(
        resolution,
        tuple(run.bases),
        tuple(run.outputs),
        Plan(files),
        validated.referenced,
        objects,
        record,
        run.overview(),
    )


@dataclass
class _Environment:
    """An environment while its units are rendered: what its shared files need of them."""

    env: ResolvedEnvironment
    ns_object: dict[str, Any]
    env_key: str
    models: dict[str, ResolvedModel]  # by name
    keys: dict[str, str] = field(default_factory=dict)  # model -> unit key
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> entry without bytes
    received: list[KubeObject] = field(default_factory=list)  # kept without a sink
    objects: int = 1  # the namespace
    settled: bool = True
    broken: Finding | None = None  # the first unit that could not be built: the environment's finding


class Render:
    """One render: units, their files, and the findings that stop it."""

    def __init__(
        self,
        root: Path,
        resolution: Resolution,
        cache: UnitCache,
        started: int,
        sink: Sink | None,
        *,
        holds: Callable[[Mapping[str, str]], bool] | None = None,
        progress: UnitProgress | None = None,
        shard: Shard | None = None,
        jobs: int | None = None,
    ) -> None:
        """``holds``: whether a hit's files (path -> digest) can be planned by digest; by
        default the sink's ``holds``, and never without a sink (files are kept as bytes).
        ``progress``: told after each unit; ``shard``: the part to render (default: all);
        ``jobs``: see ``render``."""
        self.root, self.resolution, self.cache, self.sink = root, resolution, cache, sink
        self.progress, self.jobs = progress, jobs
        self.shard = shard or Shard()
        self.keys = UnitKeys(root, resolution, started, enabled=cache.enabled)
        self.holds = holds if holds is not None else sink.holds if sink is not None else None
        self.files: dict[str, bytes] = {}
        self.digests: dict[str, str] = {}
        self.allowed = allowed_images(resolution)
        self.record = RecordBuilder()
        self.record.base_keys = self.keys.bases
        self.keep = sink is None  # keep every object for the caller
        self.bases: list[ModelObjects] = []
        self.outputs: list[EnvironmentOutput] = []
        self.base_errors: list[Finding] = []
        self.findings: list[Finding] = []
        self.checked_alone = True  # every unit passed its own checks
        self.overview_models: list[dict[str, Any]] = []  # overview.model_row of each model
        self.overview_units: dict[str, dict[str, dict[str, Any]]] = {}  # env -> model -> overview.unit_row

    def _usable(self, entry: Mapping[str, str] | None) -> bool:
        """A hit whose files (path -> digest) can be planned by digest."""
        return entry is not None and self.holds is not None and self.holds(entry)

    def emit(self, files: Mapping[str, bytes | str]) -> None:
        """Hand planned files on: to the sink (a digest goes as ``Kept``), or into ``self.files``."""
        for path, data in files.items():
            if self.sink is None:
                assert isinstance(data, bytes), "a hit is used only with a sink"
                self.files[path] = data
                self.digests[path] = content_digest(data)
                continue
            try:
                self.digests[path] = self.sink(path, Kept(data) if isinstance(data, str) else data)
            except ModelfleetError as exc:  # the writer's error, not a finding of the fleet
                raise _SinkFailed(exc) from None

    def run(self) -> tuple[dict[str, bytes], int]:
        """Every unit, model by model, then each environment's shared files and the fleet's
        images; ``ModelfleetError`` with every finding at the end."""
        resolution, shard = self.resolution, self.shard
        opened = [self._open(env) for env in resolution.environments if shard.has_environment(env.spec.name)]
        where: dict[str, list[tuple[str, str]]] = {}
        for env in resolution.environments:
            for model in env.models:
                where.setdefault(model.name, []).append((env.spec.name, env.spec.namespace))
        total = sum(len(s.models) if shard.models is None else len(shard.models & s.models.keys()) for s in opened)
        done = 0
        selected = [model for model in resolution.base if shard.has_model(model.name)]
        with contextlib.closing(self._ahead(opened, where, total, selected)) as ahead:
            for model, built_ahead in zip(selected, ahead, strict=True):
                built = self._base(model, built_ahead)
                if built is None:
                    done += sum(model.name in state.models for state in opened)
                    continue  # reported once, for the base; its units would fail the same way
                files, base, row = built
                self.emit(files)
                self.overview_models.append(row)
                for state in opened:
                    env_model = state.models.get(model.name)
                    if env_model is not None:
                        unit = built_ahead.units[state.env.spec.name] if built_ahead is not None else None
                        self._add_unit(state, env_model, base, unit)
                        done += 1
                        if self.progress is not None:
                            self.progress.on_unit(state.env.spec.name, model.name, done, total)
                book = built_ahead.runbook if built_ahead is not None else None
                self.emit(book if isinstance(book, dict) else self.runbook_unit(model, where.get(model.name, [])))
        if self.base_errors:
            raise ModelfleetError(self.base_errors)
        objects = self._close_all(opened, total) if shard.models is None else 0
        if not self.checked_alone:
            for state in opened:
                if state.broken is None:
                    self.findings.extend(self._whole_environment(state))
        if self.findings:
            raise ModelfleetError(self.findings)
        if shard.models is None:  # the files that combine every model (each shard of all models checks them)
            for env in resolution.environments:  # the rows of environments the shard leaves out: cheap
                self.overview_units.setdefault(env.spec.name, {model.name: unit_row(model) for model in env.models})
            readme = overview_readme(self.overview())
            self.emit(overview_files(readme.text))
            self.record.overview = readme.plain()
            self.emit(image_files([build_image(model) for model in resolution.base], build_bake(resolution.base)))
        else:  # the selected models' own images, without the bake file of them all
            own = image_files([build_image(m) for m in resolution.base if shard.has_model(m.name)], "")
            self.emit({path: data for path, data in own.items() if not path.endswith(".hcl")})
        return dict(sorted(self.files.items())), objects

    def _ahead(
        self,
        opened: list[_Environment],
        where: dict[str, list[tuple[str, str]]],
        total: int,
        models: list[ResolvedModel],
    ) -> Generator[BuiltModel | None, None, None]:
        """Each model's units built ahead by forked workers (``fanout``), in model order, or
        None for each model when the render builds them itself: without a sink (the objects
        are kept), with one job, or where forking is not available."""
        jobs = self.jobs if self.jobs is not None else render_jobs(total)
        if self.keep or jobs < 2 or len(models) < 2 or not hasattr(os, "fork"):
            return (None for _ in models)
        places = [Place(state.env, state.ns_object, state.env_key, state.models) for state in opened]
        work = ModelWork(self.root, self.keys, self.cache, allowed=self.allowed, places=places, runbook_places=where)
        return fork_map(work, models, jobs)

    def overview(self) -> Overview:
        """The fleet at a glance (rendered/README.md): each model's row and each unit's."""
        return Overview(
            self.resolution.fleet.name,
            tuple(self.overview_models),
            tuple(env.spec.name for env in self.resolution.environments),
            self.overview_units,
        )

    def _base(
        self, model: ResolvedModel, ahead: BuiltModel | None
    ) -> tuple[Files, ModelObjects | None, dict[str, Any]] | None:
        """``base_unit`` with the model's overview row, or what a worker built ahead (its
        objects only when a hit may need them)."""
        if ahead is not None:
            self.cache.misses += ahead.misses
            if isinstance(ahead.base, list):
                self.base_errors.extend(ahead.base)
                return None
            if not isinstance(ahead.base, str):
                self.keys.bases[model.name] = ahead.base.key
                plain = ahead.base.objects
                return dict(ahead.base.files), None if plain is None else stored_objects(plain), ahead.base.row
        built = self.base_unit(model)
        return None if built is None else (built[0], built[1], overview_model(model, built[1]))

    def base_unit(self, model: ResolvedModel) -> tuple[Files, ModelObjects] | None:
        """The files and objects of ``model``'s base, from the cache or built (and stored when
        settled); None when it cannot be built (its finding is kept)."""
        key = self.keys.base(model)
        entry = self.cache.get(key, valid_base)
        if entry is not None and self._usable(entry["files"]):
            if self.keep:
                self.bases.append(stored_objects(entry["objects"]))
            return dict(entry["files"]), stored_objects(entry["objects"])
        try:
            computed, files = fresh_base(model, self.root, self.keys, self.cache, key, store=entry is None)
        except ModelfleetError as exc:
            self.base_errors.extend(exc.findings)
            return None
        if self.keep:
            self.bases.append(computed)
        return dict(files), computed

    def env_unit(
        self, env: ResolvedEnvironment, model: ResolvedModel, env_key: str, ns_object: KubeObject, base: ModelObjects
    ) -> tuple[str, dict[str, Any], list[Finding], tuple[KubeObject, ...]]:
        """The unit's key, its entry (from the cache or built against ``base``, and stored
        when settled and without findings), its own findings and, when built, its objects."""
        key = self.keys.unit(env_key, model)
        entry = self.cache.get(key, valid_unit)
        if entry is not None and self._usable(entry["files"]):
            return key, entry, [], ()
        built = fresh_unit(
            env,
            model,
            ns_object,
            base,
            root=self.root,
            allowed=self.allowed,
            keys=self.keys,
            cache=self.cache,
            key=key,
            store=entry is None,
        )
        return key, built.entry, built.findings, built.received

    def _open(self, env: ResolvedEnvironment) -> _Environment:
        ns_object = namespace_object(env, self.resolution.fleet.name)
        if environment_findings(env, [ns_object], adapter_values([]), self.allowed):
            self.checked_alone = False
        env_key = self.keys.environment(env, ns_object)
        return _Environment(env, ns_object, env_key, {m.name: m for m in env.models}, received=[ns_object])

    def _add_unit(
        self,
        state: _Environment,
        model: ResolvedModel,
        base: ModelObjects | None,
        ahead: BuiltEnvUnit | str | list[Finding] | None = None,
    ) -> None:
        """Add one unit (built ahead by a worker, or here) to its environment."""
        if state.broken is not None:
            return  # the environment reports its first unit that could not be built
        if isinstance(ahead, list):
            state.broken = ahead[0]
            self.findings.extend(ahead)
            return
        received: tuple[KubeObject, ...] = ()
        try:
            if isinstance(ahead, BuiltEnvUnit):
                key, entry, findings = ahead.key, ahead.entry, ahead.findings
            else:
                assert base is not None, "a worker sends the base's objects with a hit"
                key, entry, findings, received = self.env_unit(state.env, model, state.env_key, state.ns_object, base)
        except ModelfleetError as exc:
            state.broken = exc.findings[0]
            self.findings.extend(exc.findings)
            return
        if findings:
            self.checked_alone = False
        state.keys[model.name] = key
        state.settled = self.keys.settled(model) and state.settled
        self.emit(entry["files"])
        state.objects += entry["objects"]
        state.entries[model.name] = without_bytes(entry)
        if self.keep:
            state.received.extend(received)

    def _close_all(self, opened: list[_Environment], units: int) -> int:
        """Close every environment; their shared files are built in forked workers when
        several need building (the same files: each is a function of its units' shares)."""
        plans = [self._closing(state) for state in opened]
        todo = [plan for plan in plans if plan is not None and plan.todo]
        jobs = self.jobs if self.jobs is not None else render_jobs(units)
        if self.keep or jobs < 2 or len(todo) < 2 or not hasattr(os, "fork"):
            closed = {id(plan): plan.close(self.resolution, self.root, keep=self.keep) for plan in todo}
        else:
            # The render only waits meanwhile: one worker more than it may use keeps every core
            # busy when the environments do not divide evenly (three on two cores).
            work = functools.partial(ClosingEnvironment.close, resolution=self.resolution, root=self.root, keep=False)
            done = fork_map(work, todo, min(len(todo), jobs + 1))
            closed = {id(plan): result for plan, result in zip(todo, done, strict=True)}
        return sum(
            self._close(state, plan, closed.get(id(plan))) if plan is not None else 0
            for state, plan in zip(opened, plans, strict=True)
        )

    def _closing(self, state: _Environment) -> ClosingEnvironment | None:
        """What closing ``state`` takes: its units' entries and the cache's answers, or None
        when a unit could not be built."""
        if state.broken is not None:
            return None
        env = state.env
        keys = [state.keys[model.name] for model in env.models]
        compose_key = UnitKeys.compose(state.env_key, keys)
        composed = self.cache.get(compose_key, valid_compose)
        shared_key = UnitKeys.shared(state.env_key, keys)
        stored = self.cache.get(shared_key, is_digests)
        usable = stored if self._usable(stored) and not self.keep else None
        entries = [state.entries[model.name] for model in env.models]
        return ClosingEnvironment(env, state.ns_object, entries, compose_key, composed, shared_key, stored, usable)

    def _close(self, state: _Environment, plan: ClosingEnvironment, closed: ClosedEnvironment | None) -> int:
        """Emit the environment's shared files (built in ``closed``, or from the cache); its
        object count."""
        env, name = state.env, state.env.spec.name
        if closed is None:
            closed = plan.close(self.resolution, self.root, keep=self.keep)
        if plan.composed is None and state.settled:
            self.cache.put(plan.compose_key, closed.composed)
        self.overview_units[name] = {model.name: unit_row(model) for model in env.models}
        files: Files
        built = closed.built
        if built is None:
            assert plan.usable is not None, "only a usable entry is not built"
            files = dict(plan.usable)
        elif isinstance(built, list):
            state.broken = built[0]
            self.findings.extend(built)
            return 0
        else:
            self.findings.extend(built.findings)
            files = dict(built.files)
            if plan.stored is None and state.settled and not built.findings:
                self.cache.put(plan.shared_key, file_digests(built.files))
            if self.keep:
                output = EnvironmentOutput(
                    name, env.spec.kubernetesVersion, tuple(state.received), built.adapter, built.gitops, built.compose
                )
                self.outputs.append(output)
        self.emit(files)
        self.record.environment(name, [m.name for m in env.models], sorted(files))
        for model, entry, unit_share in zip(env.models, plan.entries, closed.shares, strict=True):
            self.record.unit(name, model.name, entry, unit_share)
        return state.objects

    def _whole_environment(self, state: _Environment) -> list[Finding]:
        """The checks of the environment as the cluster receives it, all units together: a
        unit's finding may be answered by another unit (a NetworkPolicy covering its pods)."""
        env = state.env
        objects = [state.ns_object]
        for model in env.models:
            objects.extend(namespaced(obj, env.spec.namespace) for obj in model_objects(model, self.root).objects)
        namespace = env.spec.namespace
        rules = [rule for model in env.models for rule in model_adapter_rules(model, sli_for(model, namespace))]
        return environment_findings(env, objects, adapter_values(rules), self.allowed)

    def runbook_unit(self, model: ResolvedModel, places: list[tuple[str, str]]) -> dict[str, bytes]:
        """``runbook_files`` of one model, cached: a runbook reads the base model and the
        (environment, namespace) pairs that run it."""
        key = self.keys.runbook(model, places)
        entry = self.cache.get(key, is_digests)
        if self._usable(entry):
            return dict(entry)
        return fresh_runbook(model, places, self.keys, self.cache, key, store=entry is None)
