"""``render`` with the unit cache: build, check and serialise only the units whose inputs
changed, one unit at a time, model by model (a model's base, its unit in each environment,
its runbook), then each environment's shared files. A disabled cache serves a streaming
render too (``render --no-cache``): every unit is then a miss.

Units: each base model (``base/<model>/``), and each (environment, model) pair (its
overlay resources and patches, its kustomization entries, its rule tests). A unit's key
hashes the generator fingerprint, the fleet root, the fleet settings, the environment's own
settings (not the other models' overrides: no unit reads them), the unit's resolved spec
and per-model override, the state (real path and content hash) of each config file it
reads and, for an environment unit, the key of its base unit (the patches diff against
it). The output of a unit is a function of exactly those, so a hit serves what a fresh
computation would give.

A unit is cached only when it has no finding when checked on its own: strict schema
checks and the pod policy (every object is checked by itself; a pod's NetworkPolicy must
be its own unit's). Any finding, build error or check failure abandons the cached path and
runs ``pipeline.render`` from scratch, which reports exactly what it always reported (and
renders the fleet when the finding was only a NetworkPolicy of another model covering a pod).

Environment-wide files (kustomization.yaml, namespace, GitOps objects, prometheus-adapter
values, the compose file) are built by ``shared_files`` from each unit's share (``share``:
its kustomization entries, adapter rules, compose entry and startup budget) and cached
under the keys of the environment's units; the compose entries too, and the runbooks (per
model). Fleet-wide files (Dockerfiles, bake file) are rebuilt every time: they are cheap.

With a sink, every file goes to it as soon as it exists (``render_cached``), and the
record for ``generator.delta`` (``deltarecord.RecordBuilder``) is filled as units pass.

Entries hold the digests of their files' bytes, not the bytes: the trees the writer keeps
(``rendered/`` and ``.rendered.kept``) hold those. A hit is used only when the sink holds
every file of the entry by its digest (``Sink.holds``), and its files go to the sink as
``Kept`` digests; otherwise the unit is built as on a miss. At 1000x3 the cache is 65 MB;
it was 256 MB when entries held the bytes, a second copy of the tree written on every
render from scratch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .build.alerts import alert_docs
from .build.compose import ComposeEntry, compose_document, compose_entry, validate_compose
from .build.gitops import gitops_objects, slowest_of
from .build.image import build_bake, build_image
from .build.monitoring import rule_proof
from .build.platform import dashboards_namespace
from .build.runbook import runbook
from .build.scaling import model_adapter_rules
from .cache import UnitCache
from .check import check_environment, check_gitops
from .controllers import controller_findings
from .deltarecord import RecordBuilder
from .digest import content_digest, digest
from .errors import ModelfleetError
from .fingerprint import generator_fingerprint
from .inputs import RACY_NS, now_ns, path_state
from .layout import ModelObjects, namespaced, overlay
from .load import load_fleet
from .pipeline import Rendered, allowed_images, model_objects, namespace_object, render_fresh
from .plan import (
    OverlayPart,
    Plan,
    base_files,
    compose_files,
    gitops_file,
    image_files,
    overlay_frame,
    overlay_part,
    platform_files,
    proof_files,
    runbook_files,
)
from .policy import policy_findings
from .resolve import Resolution, ResolvedEnvironment, ResolvedModel
from .secretcheck import secret_verdicts
from .sli import sli_for
from .validation import validate_recorded
from .write.planned import Kept


class _Uncacheable(Exception):
    """A finding or an error on the cached path: render from scratch instead."""


Files = dict[str, bytes | str]  # path -> bytes, or the digest of bytes a hit's entry names


class Sink(Protocol):
    """Where a streaming render hands its files (the writer, or ``render --check``'s digests)."""

    def __call__(self, path: str, content: bytes | Kept) -> str:
        """Take a planned file (``Kept``: the bytes of that digest); return its ``content_digest``."""

    def holds(self, files: Mapping[str, str]) -> bool:
        """True when every file (path -> digest) can be handed on as ``Kept``."""


class _SinkFailed(Exception):
    """The sink (the writer) refused a file: its error, carried past the findings handler."""

    def __init__(self, error: ModelfleetError) -> None:
        super().__init__(str(error))
        self.error = error


class Unstreamable(Exception):
    """``render_cached`` with a sink met a finding after handing files on: render without
    streaming (the full path reports the finding)."""


@dataclass(frozen=True)
class Validated:
    """A fleet that passed every check of ``validate``, ready to be rendered."""

    started: int
    resolution: Resolution
    referenced: frozenset[str]
    models_data: Any
    env_data: dict[str, Any]
    clean_secrets: frozenset[bytes] = frozenset()  # what the secret scan found clean (secret_verdicts)


def validate_for_render(root: Path) -> Validated:
    """Load and check the fleet (``ModelfleetError`` on any finding)."""
    started = now_ns()
    sources = load_fleet(root)
    with secret_verdicts() as clean:
        resolution, referenced = validate_recorded(sources)
    env_data = {document.path: document.data for document in sources.environments}
    return Validated(started, resolution, frozenset(referenced), sources.models.data, env_data, frozenset(clean))


def render_cached(
    root: Path, cache: UnitCache, sink: Sink | None = None, validated: Validated | None = None
) -> Rendered:
    """``pipeline.render`` reusing every cached unit; the same files, or the same findings.

    With ``sink``, every planned file is handed to it as soon as it exists and not kept
    (the returned plan is empty; ``delta_record["files"]`` has every path's digest), so a
    render never holds the whole tree's bytes. A finding then raises ``Unstreamable``."""
    if validated is None:
        validated = validate_for_render(root)
    resolution = validated.resolution
    units = _Units(root, resolution, cache, validated.started, sink)
    try:
        files, objects = units.run()
    except _SinkFailed as failed:
        raise failed.error from None
    except (_Uncacheable, ModelfleetError):
        if sink is not None:
            raise Unstreamable from None
        return render_fresh(root)
    record = units.record.finish(
        models_data=validated.models_data,
        env_data=validated.env_data,
        referenced=validated.referenced,
        clean_secrets=validated.clean_secrets,
        digests=units.digests,
        summary={"objects": objects, "environments": len(resolution.environments), "models": len(resolution.base)},
    )
    return Rendered(resolution, (), (), Plan(files), validated.referenced, objects, record)


def _json(value: Any) -> Any:
    dump: Callable[..., Any] | None = getattr(value, "model_dump", None)
    return dump(mode="json") if dump is not None else value


def _plain_objects(objects: ModelObjects) -> dict[str, Any]:
    return {
        "model": objects.model,
        "image_name": objects.image_name,
        "image_ref": objects.image_ref,
        "objects": list(objects.objects),
    }


def _model_objects(plain: Mapping[str, Any]) -> ModelObjects:
    return ModelObjects(plain["model"], plain["image_name"], plain["image_ref"], tuple(plain["objects"]))


def _is_digests(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _digests(files: Mapping[str, bytes]) -> dict[str, str]:
    """What an entry stores of its files: each one's ``content_digest``."""
    return {path: content_digest(data) for path, data in files.items()}


def _valid_base(entry: Any) -> bool:
    if not (isinstance(entry, dict) and _is_digests(entry.get("files"))):
        return False
    objects = entry.get("objects")
    return (
        isinstance(objects, dict)
        and all(isinstance(objects.get(k), str) for k in ("model", "image_name", "image_ref"))
        and isinstance(objects.get("objects"), list)
        and all(isinstance(o, dict) for o in objects["objects"])
    )


def _without_bytes(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A unit entry with its files' paths only: the bytes went to the writer."""
    light = {key: entry[key] for key in ("resources", "patches", "images", "objects")}
    light["files"] = list(entry["files"])
    return light


def _valid_compose(entry: Any) -> bool:
    return isinstance(entry, dict) and all(
        isinstance(k, str) and isinstance(v, list) and len(v) == len(ComposeEntry._fields) for k, v in entry.items()
    )


def share(
    entry: Mapping[str, Any], adapter: list[dict[str, Any]], compose: list[Any], model: ResolvedModel
) -> dict[str, Any]:
    """What one unit puts into its environment's shared files (plain data)."""
    return {
        "resources": entry["resources"],
        "patches": entry["patches"],
        "images": entry["images"],
        "adapter": adapter,
        "compose": compose,
        "startup": model.spec.startup.maxSeconds,
    }


def shared_files(
    resolution: Resolution, env: ResolvedEnvironment, ns_object: dict[str, Any], shares: list[dict[str, Any]]
) -> dict[str, bytes]:
    """The environment-wide files from the units' shares (in model order): the overlay's
    kustomization.yaml and namespace.yaml, the prometheus-adapter values, the GitOps objects
    and the compose file. Raises ``_Uncacheable`` on a finding (the full path reports it)."""
    name, fleet = env.spec.name, resolution.fleet.name
    names = [str(s["compose"][0]) for s in shares]
    parts = [OverlayPart({}, s["resources"], s["patches"], s["images"]) for s in shares]
    keep = dashboards_namespace(resolution.fleet, env.spec.platform) is not None
    files = overlay_frame(name, str(ns_object["metadata"]["name"]), ns_object, names, parts, keep_namespaces=keep)
    files.update(platform_files({name: {"rules": {"external": [rule for s in shares for rule in s["adapter"]]}}}))
    gitops = tuple(gitops_objects(resolution, env, slowest_startup=slowest_of(int(s["startup"]) for s in shares)))
    if check_gitops(name, gitops):
        raise _Uncacheable(name)
    files.update(gitops_file(name, gitops))
    compose = compose_document(name, fleet, [ComposeEntry(*s["compose"]) for s in shares])
    if validate_compose(compose):
        raise _Uncacheable(name)
    files.update(compose_files(name, compose))
    return files


def _valid_unit(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and _is_digests(entry.get("files"))
        and isinstance(entry.get("resources"), list)
        and all(isinstance(r, str) for r in entry["resources"])
        and isinstance(entry.get("patches"), list)
        and all(isinstance(p, dict) for p in entry["patches"])
        and isinstance(entry.get("images"), list)
        and all(isinstance(i, dict) for i in entry["images"])
        and isinstance(entry.get("objects"), int)
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
    objects: int = 1  # the namespace
    settled: bool = True


class _Units:
    def __init__(
        self,
        root: Path,
        resolution: Resolution,
        cache: UnitCache,
        started: int,
        sink: Sink | None = None,
        *,
        holds: Callable[[Mapping[str, str]], bool] | None = None,
    ) -> None:
        """``holds``: whether a hit's files (path -> digest) can be planned by digest; by
        default the sink's ``holds``, and never without a sink (the files are kept as bytes)."""
        self.root, self.resolution, self.cache, self.started = root, resolution, cache, started
        self.sink = sink
        self.holds = holds if holds is not None else sink.holds if sink is not None else None
        self.files: dict[str, bytes] = {}
        self.digests: dict[str, str] = {}
        fleet = resolution.fleet
        self.fleet_key = digest(generator_fingerprint(), str(root.resolve()), _json(fleet))
        self.allowed = allowed_images(resolution)
        self.base_keys: dict[str, str] = {}
        self.env_keys: dict[int, Any] = {}
        self.config_states: dict[str, list[str]] = {}
        self.record = RecordBuilder()
        self.record.base_keys = self.base_keys

    def _settled(self, model: ResolvedModel) -> bool:
        """No config file of ``model`` changed since the run started (so the key's hashes are
        of the bytes the build read)."""
        for relative in model.spec.config.files:
            try:
                if (self.root / relative).stat().st_mtime_ns >= self.started - RACY_NS:
                    return False
            except OSError:
                return False
        return True

    def _model_key(self, model: ResolvedModel) -> Any:
        env = model.environment
        env_part: Any = None
        if env is not None:
            env_part = self.env_keys.get(id(env))
            if env_part is None:
                env_part = self.env_keys[id(env)] = env.model_dump(mode="json", exclude={"models"})
            override = env.models.get(model.name)
            env_part = [env_part, _json(override)]
        files = [self._config_state(relative) for relative in model.spec.config.files]
        return [_json(model.spec), env_part, files]

    def _config_state(self, relative: str) -> list[str]:
        """``path_state`` of a config file, once a run: a model's base and each of its units
        read the same files (a file changed during the run leaves its units unsettled, so
        not stored, whatever state their keys hold)."""
        state = self.config_states.get(relative)
        if state is None:
            state = self.config_states[relative] = path_state(self.root, relative)[0]
        return state

    def _usable(self, entry: Mapping[str, str] | None) -> bool:
        """A hit whose files (path -> digest) can be planned by digest."""
        return entry is not None and self.holds is not None and self.holds(entry)

    def emit(self, files: Mapping[str, bytes | str]) -> None:
        """Hand planned files on: to the sink (which hashes them; a digest goes as ``Kept``),
        or into ``self.files``; keep their digests."""
        for path, data in files.items():
            if self.sink is None:
                assert isinstance(data, bytes), "a hit is used without a sink only by the delta path"
                self.files[path] = data
                self.digests[path] = content_digest(data)
                continue
            try:
                self.digests[path] = self.sink(path, Kept(data) if isinstance(data, str) else data)
            except ModelfleetError as exc:  # the writer's error, not a finding of the fleet
                raise _SinkFailed(exc) from None

    def run(self) -> tuple[dict[str, bytes], int]:
        """Every unit, model by model: a model's base, then its unit in each environment, so
        its base objects and the memoised texts it shares with them are released at once,
        then each environment's shared files from the units' shares."""
        resolution = self.resolution
        opened = [self._open(env) for env in resolution.environments]
        where: dict[str, list[tuple[str, str]]] = {}
        for env in resolution.environments:
            for model in env.models:
                where.setdefault(model.name, []).append((env.spec.name, env.spec.namespace))
        for model in resolution.base:
            files, base = self._base(model)
            self.emit(files)
            for state in opened:
                env_model = state.models.get(model.name)
                if env_model is not None:
                    self._add_unit(state, env_model, base)
            self.emit(self._runbook(model, where.get(model.name, [])))
        objects = sum(self._close(state) for state in opened)
        images = [build_image(model) for model in resolution.base]
        self.emit(image_files(images, build_bake(resolution.base)))
        return dict(sorted(self.files.items())), objects

    def _runbook(self, model: ResolvedModel, places: list[tuple[str, str]]) -> dict[str, bytes]:
        """``runbook_files`` of one model, cached: a runbook reads the base model and the
        (environment, namespace) pairs that run it."""
        key = digest("runbook", self.base_keys[model.name], places)
        entry = self.cache.get(key, _is_digests)
        if self._usable(entry):
            return dict(entry)
        text = runbook(model, alert_docs(model), [e for e, _ in places], dict(places))
        files = runbook_files({model.name: text})
        if entry is None and self._settled(model):
            self.cache.put(key, _digests(files))
        return dict(files)

    def _base(self, model: ResolvedModel) -> tuple[Files, ModelObjects]:
        """The files and objects of ``model``'s base, from the cache or computed (and stored
        when settled)."""
        key = digest("base", self.fleet_key, self._model_key(model))
        self.base_keys[model.name] = key
        entry = self.cache.get(key, _valid_base)
        if entry is not None and self._usable(entry["files"]):
            return dict(entry["files"]), _model_objects(entry["objects"])
        computed = model_objects(model, self.root)
        if entry is None and self._settled(model):
            self.cache.put(key, {"files": _digests(base_files(computed)), "objects": _plain_objects(computed)})
        return dict(base_files(computed)), computed

    def env_key(self, env: ResolvedEnvironment, ns_object: dict[str, Any]) -> str:
        return digest("env", self.fleet_key, env.spec.model_dump(mode="json", exclude={"models"}), ns_object)

    def unit_entry(
        self,
        env: ResolvedEnvironment,
        model: ResolvedModel,
        env_key: str,
        ns_object: dict[str, Any],
        base: ModelObjects,
    ) -> tuple[str, dict[str, Any]]:
        """The unit's key and its entry, from the cache or computed against its ``base`` (and
        stored when settled)."""
        key = digest("unit", env_key, self._model_key(model), self.base_keys[model.name])
        entry = self.cache.get(key, _valid_unit)
        if entry is not None and self._usable(entry["files"]):
            return key, entry
        computed = self._unit(env, model, ns_object, base)
        if entry is None and self._settled(model):
            self.cache.put(key, {**computed, "files": _digests(computed["files"])})
        return key, computed

    def _open(self, env: ResolvedEnvironment) -> _Environment:
        name = env.spec.name
        ns_object = namespace_object(env, self.resolution.fleet.name)
        if check_environment(name, env.spec.kubernetesVersion, [ns_object]) or policy_findings(
            name, [ns_object], self.allowed
        ):
            raise _Uncacheable(name)
        return _Environment(env, ns_object, self.env_key(env, ns_object), {m.name: m for m in env.models})

    def _add_unit(self, state: _Environment, model: ResolvedModel, base: ModelObjects) -> None:
        key, entry = self.unit_entry(state.env, model, state.env_key, state.ns_object, base)
        state.keys[model.name] = key
        state.settled = self._settled(model) and state.settled
        self.emit(entry["files"])
        state.objects += entry["objects"]
        state.entries[model.name] = _without_bytes(entry)

    def _close(self, state: _Environment) -> int:
        """Emit the environment's shared files from its units' shares; its object count."""
        env, name = state.env, state.env.spec.name
        keys = [state.keys[model.name] for model in env.models]
        entries = [state.entries[model.name] for model in env.models]
        composed = self._compose_entries(env, digest("compose", state.env_key, keys), state.settled)
        shares = [
            share(entry, model_adapter_rules(model, sli_for(model, env.spec.namespace)), composed[model.name], model)
            for entry, model in zip(entries, env.models, strict=True)
        ]
        shared_key = digest("shared", state.env_key, keys)
        stored = self.cache.get(shared_key, _is_digests)
        shared: Files
        if self._usable(stored):
            shared = dict(stored)
        else:
            built = shared_files(self.resolution, env, state.ns_object, shares)
            shared = dict(built)
            if stored is None and state.settled:
                self.cache.put(shared_key, _digests(built))
        self.emit(shared)
        self.record.environment(name, [m.name for m in env.models], sorted(shared))
        for model, entry, unit_share in zip(env.models, entries, shares, strict=True):
            self.record.unit(name, model.name, entry, unit_share)
        return state.objects

    def _compose_entries(self, env: ResolvedEnvironment, key: str, settled: bool) -> dict[str, Any]:
        """Each model's compose entry: it reads the environment's settings and the model (its
        spec and config files) and its place among the environment's models, which ``key``
        covers through the units' keys."""
        entry = self.cache.get(key, _valid_compose)
        if entry is None:
            name = env.spec.name
            entry = {
                e.model: list(e)
                for e in (compose_entry(m, self.root, env_name=name, index=i) for i, m in enumerate(env.models))
            }
            if settled:
                self.cache.put(key, entry)
        return dict(entry)

    def _unit(
        self, env: ResolvedEnvironment, model: ResolvedModel, ns_object: dict[str, Any], base: ModelObjects
    ) -> dict[str, Any]:
        name = env.spec.name
        built = model_objects(model, self.root)
        received = [namespaced(obj, env.spec.namespace) for obj in built.objects]
        adapter = {"rules": {"external": model_adapter_rules(model, sli_for(model, env.spec.namespace))}}
        if (
            check_environment(name, env.spec.kubernetesVersion, received)
            or policy_findings(name, received, self.allowed, require_digests=env.spec.policy.requireDigests)
            or controller_findings(name, received, adapter)
        ):
            raise _Uncacheable(f"{name}/{model.name}")
        item = overlay(name, ns_object, [base], [built])
        part = overlay_part(item, model.name)
        files = {**part.files, **proof_files(rule_proof(model))}
        return {
            "files": files,
            "resources": part.resources,
            "patches": part.patches,
            "images": part.images,
            "objects": len(received),
        }
