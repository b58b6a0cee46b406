"""``render`` after a small change: read, check and rebuild only the models an edit touched,
and plan every other file by the digest the last render recorded (issue 8, issue 19).

The delta path answers when the last render's record (``generator.incremental.deltarecord``)
matches this generator, the set of inputs is the same, and each changed input is one of:

* ``models.yaml`` or an environment file in which the edit lies inside one model's entry
  (``incremental.fragments``): that entry alone is parsed, and checked against the recorded
  text of the rest;
* a config file that models read (the record says which).

At most ``MAX_CHANGED_UNITS`` units may change. Then, for each touched model:

1. a fleet of the recorded ``models.yaml`` header and the model's entry, and environments of
   each file's recorded settings and the model's override, is checked as ``validate``
   checks it (JSON Schemas, the spec, resolution, the secret scan). Checks across models
   read only data that did not change, except the model's image repository and the Service
   names of its strategies, which are checked here against the recorded ones;
2. when its base changed (its entry or a config file), the base, runbook, image files, its
   docker-bake target and its overview line are rebuilt, and its unit in every environment;
   otherwise its units in the changed environment files;
3. each unit is built and checked (``incremental``'s unit code, unit cache included). When
   its share of the environment-wide files (kustomization entries, prometheus-adapter
   rules, compose entry, startup budget) differs from the recorded one, those files are
   rebuilt from every unit's recorded share (``units.shared_files``, the code the full
   path runs);
4. the rebuilt lines of rendered/README.md (``overviewdoc.Readme``) replace the recorded ones;
5. the plan is the recorded digests with the rebuilt files' bytes in their place.

Anything else (a finding, a model switched on or off, renamed, added or removed, a changed
setting or header, an edit across entries, another input) returns None and the caller
renders through ``incremental``, which reports exactly what it always reports. So the
delta path can make a render faster, never different: ``tests/test_delta.py`` compares its
plans with renders from scratch, for every kind of edit.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.build.compose import compose_entry
from generator.build.image import build_image, replace_bake_target
from generator.build.overview import unit_row
from generator.build.overviewdoc import Readme
from generator.build.scaling import model_adapter_rules
from generator.build.sli import sli_for
from generator.errors import ModelfleetError
from generator.incremental.cache import UnitCache, plain_loads
from generator.incremental.deltarecord import (
    clean_blob,
    clean_digests,
    content_digest,
    load_record,
    load_shares,
    save_record,
    share_pack,
    unit_record,
)
from generator.incremental.fragments import changed_entries, fragment_entries
from generator.incremental.inputrecord import RACY_NS, InputStates, fleet_state, input_states, path_state
from generator.output.plan import image_files, overview_files
from generator.pipeline import Render
from generator.read.load import Document, Sources
from generator.read.rawschema import sources_findings
from generator.read.resolve import Resolution, ResolvedEnvironment, ResolvedModel, image_repository
from generator.read.text import decode
from generator.spec.rollout import service_names
from generator.units import namespace_object, overview_model, share, shared_files
from generator.validation import validate_sources

MAX_CHANGED_UNITS = 32


@dataclass(frozen=True)
class Delta:
    """A planned tree: new bytes for the rebuilt units' files (``new``), the recorded digest
    for the rest (``kept``, path -> digest; the two never share a path)."""

    kept: dict[str, str]
    new: dict[str, bytes]
    objects: int
    environments: int
    models: int
    referenced: frozenset[str]
    record: dict[str, Any]

    @property
    def files(self) -> dict[str, bytes | str]:
        """The whole plan: each path's new bytes or recorded digest."""
        return {**self.kept, **self.new}

    @property
    def digests(self) -> dict[str, str]:
        return {**self.kept, **{path: content_digest(data) for path, data in self.new.items()}}


class _NoDelta(Exception):
    """The delta path cannot answer: render from scratch."""


def render_delta(
    root: Path,
    cache: UnitCache,
    started: int,
    record: dict[str, Any] | None = None,
    holds: Callable[[str, str], bool] | None = None,
) -> Delta | None:
    """The plan after a small change of environment files, or None (render from scratch).
    ``record``: the delta record, when the caller has loaded it (``load_record``)."""
    result = attempt_delta(root, cache, started, record, holds)
    return result if isinstance(result, Delta) else None


def attempt_delta(
    root: Path,
    cache: UnitCache,
    started: int,
    record: dict[str, Any] | None = None,
    holds: Callable[[str, str], bool] | None = None,
) -> Delta | str:
    """``render_delta``, or why the delta path declined. ``holds(path, digest)``: whether
    rendered/'s trees hold those bytes there (``TreeWriter.may_hold``), so that a unit the
    cache serves is planned by its digests; by default only the recorded tree is known."""
    if not cache.enabled:
        return "the cache is disabled"
    if record is None:
        record = load_record(root, cache)
    if record is None:
        return "no record of the last render by this generator"
    try:
        return _Delta(root, cache, started, record, holds).run()
    except _NoDelta as exc:
        return str(exc)
    except ModelfleetError as exc:
        return f"a finding: {type(exc).__name__}"
    except (pickle.UnpicklingError, KeyError, ValueError, TypeError, IndexError) as exc:
        return f"an unusable record: {type(exc).__name__}: {exc}"


def save_delta_record(
    root: Path, cache: UnitCache, record: dict[str, Any], started: int, states: InputStates | None = None
) -> None:
    """Store ``record`` with the state of the inputs. An input modified shortly before or
    during the run is recorded as racy (its hash might not be of the bytes the run read): the
    next run then reads an environment file again, and declines for any other input. The
    record's texts of the environment files are of the data the run read, so comparing
    with them stays exact. ``states``: the inputs' states taken after the run with
    ``racy_after=started - RACY_NS`` (``input_states``), when the caller has them."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        if states is None or states.referenced != frozenset(record["referenced"]):
            states = input_states(root, record["referenced"], racy_after=started - RACY_NS)
        save_record(root, cache, {**record, "inputs": states.marked})


@dataclass
class _Touched:
    """What the edits changed of one model."""

    overrides: dict[str, Any] = field(default_factory=dict)  # environment file -> its new override
    base: bool = False  # its entry or a config file it reads changed: everything of it is rebuilt


class _Delta:
    def __init__(
        self,
        root: Path,
        cache: UnitCache,
        started: int,
        record: dict[str, Any],
        holds: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.root, self.cache, self.started, self.record = root, cache, started, record
        written: dict[str, str] = record["files"]  # what the last render wrote
        self.holds = holds or (lambda path, digest: written.get(path) == digest)
        self.kept: dict[str, str] = dict(record["files"])  # path -> digest: planned as kept
        self.new: dict[str, bytes] = {}  # path -> the rebuilt bytes
        self.objects = int(record["summary"]["objects"])
        self.units = {env: dict(units) for env, units in record["units"].items()}
        self.envs = dict(record["envs"])
        self.texts = dict(record["texts"])
        self.models_raw = dict(record["models_raw"])
        self.base_keys = dict(record["base_keys"])
        self.repositories = dict(record["repositories"])
        self.shared_paths: dict[str, list[str]] = dict(record["shared_paths"])
        self.dirty: dict[str, tuple[Resolution, ResolvedEnvironment, Any]] = {}
        self.new_shares: dict[str, dict[str, bytes]] = {}  # env -> model -> share, of the rebuilt units
        self.packs: dict[str, dict[str, Any]] = {}  # env -> its share pack to store, when its shared files changed
        self.clean = clean_digests(record["clean_secrets"])  # what the secret scan found clean
        self.readme = Readme.of(record["overview"])
        self.readme_changed = False
        self.touched: dict[str, _Touched] = {}

    def run(self) -> Delta:
        record = self.record
        state, _ = fleet_state(self.root, record["referenced"])
        before = record["inputs"]
        if len(state) != len(before) or "--" not in state or state.index("--") != before.index("--"):
            raise _NoDelta("the set of inputs changed")
        inputs = state.index("--")
        for index, (now, then) in enumerate(zip(state, before, strict=True)):
            if now == then:
                continue
            if not isinstance(now, list) or not isinstance(then, list) or now[0] != then[0]:
                raise _NoDelta("the set of inputs changed")
            path = str(now[0])
            if index < inputs:
                self._input_file(path, now)
            else:
                readers = record["config_readers"].get(path)
                if not readers:
                    raise _NoDelta(f"{path} changed, which no model reads as a config file")
                for name in readers:
                    self.touched.setdefault(name, _Touched()).base = True
        units = sum(len(self.envs) if t.base else len(t.overrides) for t in self.touched.values())
        if units > MAX_CHANGED_UNITS:
            raise _NoDelta("too many units changed")
        for name, touched in sorted(self.touched.items()):
            self._model(name, touched)
        for env_name, (resolution, env, ns_object) in sorted(self.dirty.items(), key=lambda item: item[0]):
            self._shared(env_name, resolution, env, ns_object)
        if self.readme_changed:
            self._put(overview_files(self.readme.text))
        record = {
            **record,
            "inputs": state,
            "envs": self.envs,
            "texts": self.texts,
            "models_raw": self.models_raw,
            "base_keys": self.base_keys,
            "repositories": self.repositories,
            "units": self.units,
            "shared_paths": self.shared_paths,
            "summary": {**record["summary"], "objects": self.objects},
            "shares": self.packs,
            "clean_secrets": clean_blob(self.clean),
            "overview": self.readme.plain(),
        }
        delta = Delta(
            self.kept,
            self.new,
            self.objects,
            int(record["summary"]["environments"]),
            int(record["summary"]["models"]),
            frozenset(record["referenced"]),
            record,
        )
        record["files"] = delta.digests
        return delta

    def _held(self, files: Mapping[str, str]) -> bool:
        return all(self.holds(path, digest) for path, digest in files.items())

    def _put(self, files: Mapping[str, bytes | str]) -> None:
        """Plan ``files``: new bytes, or a digest (a unit the cache served) kept."""
        for path, value in files.items():
            if isinstance(value, str):
                self.kept[path] = value
                self.new.pop(path, None)
            else:
                self.new[path] = value
                self.kept.pop(path, None)

    def _drop(self, path: str) -> None:
        """Plan nothing at ``path`` (``KeyError`` when nothing is planned there)."""
        if self.kept.pop(path, None) is None:
            del self.new[path]

    def _input_file(self, path: str, state: Any) -> None:
        """Read the one entry an edit of ``models.yaml`` or an environment file changed."""
        recorded = self.texts.get(path)
        if recorded is None:
            raise _NoDelta(f"{path} cannot be read entry by entry")
        try:
            raw = (self.root / path).read_bytes()
        except OSError as exc:
            raise _NoDelta(f"{path} cannot be read: {exc}") from None
        if path_state(self.root, path)[0] != state:
            raise _NoDelta(f"{path} changed while it was read")
        text = decode(raw, path)
        if path != "models.yaml" and path not in self.envs:
            raise _NoDelta(f"{path} is not a recorded input file")
        spans = recorded["spans"]
        edit = changed_entries(recorded["text"], text, spans, lambda name: self._canonical(path, name), path)
        if isinstance(edit, str):
            raise _NoDelta(f"{path}: {edit}")
        self.texts[path] = {"text": text, "spans": edit.spans}
        for name, data in edit.entries.items():
            if repr(data) == self._canonical(path, name):
                continue  # comments or layout only
            touched = self.touched.setdefault(name, _Touched())
            if path == "models.yaml":
                touched.base = True
                self.models_raw[name] = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
            else:
                texts = self.envs[path]
                touched.overrides[path] = data
                self.envs[path] = {**texts, "overrides": {**texts["overrides"], name: repr(data)}}

    def _canonical(self, path: str, name: str) -> str | None:
        """The canonical text of ``name``'s recorded entry in ``path``, or None."""
        if path == "models.yaml":
            blob = self.record["models_raw"].get(name)
            return None if blob is None else repr(plain_loads(blob))
        text: str | None = self.envs[path]["overrides"].get(name)
        return text

    def _override(self, path: str, name: str, touched: _Touched) -> Any:
        """``name``'s override in the environment file at ``path``: the edited one, or the
        recorded one (parsed from its lines), or None."""
        if path in touched.overrides:
            return touched.overrides[path]
        if name not in self.envs[path]["overrides"]:
            return None
        recorded = self.texts.get(path)
        if recorded is None:
            raise _NoDelta(f"{path} cannot be read entry by entry")
        start, end = recorded["spans"][name]
        entries = fragment_entries(recorded["text"][start:end], path)
        if entries is None or list(entries) != [name] or repr(entries[name][0]) != self.envs[path]["overrides"][name]:
            raise _NoDelta(f"the recorded lines of {name} in {path} are not its override")
        return entries[name][0]

    def _model(self, name: str, touched: _Touched) -> None:
        """Check ``name`` alone and rebuild what the edits changed of it."""
        raw = self.models_raw.get(name)
        if raw is None:
            raise _NoDelta(f"no recorded model {name}")
        if not touched.base and not touched.overrides:
            return  # comments or layout only
        paths = sorted(self.envs) if touched.base else sorted(touched.overrides)
        fleet = {**plain_loads(self.record["fleet_raw"]), "models": [plain_loads(raw)]}
        documents = []
        for path in paths:
            data = dict(plain_loads(self.envs[path]["settings_raw"]))
            override = self._override(path, name, touched)
            if override is not None:
                data["models"] = {name: override}
            documents.append(Document(path, data))
        sources = Sources(self.root, Document("models.yaml", fleet), tuple(documents))
        validation = validate_sources(sources, self.clean)
        if sources_findings(sources):
            raise _NoDelta(f"{name} breaks a schema")
        resolution = validation.resolution
        self.clean = self.clean | validation.clean_secrets
        if not validation.referenced <= set(self.record["referenced"]):
            raise _NoDelta(f"{name} points at files the last render did not read")
        # A unit the cache serves is planned by its digests only where rendered/ holds them (a
        # unit back in a state of three or more renders ago is in neither tree): else it is built.
        units = Render(self.root, resolution, self.cache, self.started, sink=None, holds=self._held)
        model = resolution.base[0]
        built = units.base_unit(model)
        if built is None:
            raise _NoDelta(f"the base of {name} cannot be built")
        base_files, base = built
        if units.keys.bases[name] != self.base_keys.get(name):
            if not touched.base:
                raise _NoDelta(f"the base of {name} differs from the recorded one")
            self._base(units, resolution, model, base_files, base)
        for env in resolution.environments:
            self._unit(units, resolution, env, name, base)

    def _base(
        self, units: Render, resolution: Resolution, model: ResolvedModel, files: dict[str, bytes | str], base: Any
    ) -> None:
        """Replace the files of ``model`` that every environment shares: its base, runbook,
        image files, docker-bake target and overview line."""
        name = model.name
        repository = image_repository(model)
        if any(other != name and repo == repository for other, repo in self.repositories.items()):
            raise _NoDelta(f"{name} takes another model's image repository")
        if set(service_names(name, model.spec.rollout.strategy)[1:]) & self.models_raw.keys():
            raise _NoDelta(f"a Service of {name} takes another model's name")
        bake_path = "images/docker-bake.hcl"
        try:
            bake_bytes = (self.root / "rendered" / bake_path).read_bytes()
        except OSError:
            raise _NoDelta("rendered/images/docker-bake.hcl cannot be read") from None
        if bake_path in self.new or content_digest(bake_bytes) != self.kept.get(bake_path):
            raise _NoDelta("rendered/images/docker-bake.hcl is not the recorded one")
        bake = replace_bake_target(bake_bytes.decode("utf-8"), model)
        if bake is None:
            raise _NoDelta(f"docker-bake.hcl has no single target {name}")
        places = [(env.spec.name, env.spec.namespace) for env in resolution.environments if name in self._models(env)]
        own = (f"base/{name}/", f"images/{name}/")
        for old in [path for path in [*self.kept, *self.new] if path.startswith(own)]:
            self._drop(old)
        self._put(files)
        self._put(units.runbook_unit(model, places))
        self._put(image_files([build_image(model)], bake))
        self.base_keys[name] = units.keys.bases[name]
        self.repositories[name] = repository
        where = [env for env, _ in places]
        if self.readme.set_model(overview_model(model, base), where):
            self.readme_changed = True

    @staticmethod
    def _models(env: ResolvedEnvironment) -> set[str]:
        return {model.name for model in env.models}

    def _unit(self, units: Render, resolution: Resolution, env: ResolvedEnvironment, name: str, base: Any) -> None:
        env_name = env.spec.name
        model: ResolvedModel | None = next((m for m in env.models if m.name == name), None)
        names: list[str] = self.record["env_models"][env_name]
        recorded = self.units[env_name].get(name)
        if model is None or recorded is None:
            if (model is None) != (recorded is None):
                raise _NoDelta(f"{name} was switched on or off in {env_name}")
            return
        if set(service_names(name, model.spec.rollout.strategy)[1:]) & set(names):
            raise _NoDelta(f"a Service of {name} takes another model's name")
        ns_object = namespace_object(env, resolution.fleet.name)
        _, entry, findings, _ = units.env_unit(env, model, units.keys.environment(env, ns_object), ns_object, base)
        if findings:
            raise _NoDelta(f"{name} in {env_name} has a finding")
        rules = model_adapter_rules(model, sli_for(model, env.spec.namespace))
        compose = compose_entry(model, self.root, env_name=env_name, index=names.index(name))
        unit_share = share(entry, rules, list(compose), model)
        unit, blob = unit_record(entry, unit_share)
        if self.readme.set_unit(env_name, name, unit_row(model)):
            self.readme_changed = True
        if unit["contrib"] != recorded["contrib"]:
            self.dirty[env_name] = (resolution, env, ns_object)
            self.new_shares.setdefault(env_name, {})[name] = blob
        for old in recorded["paths"]:
            self._drop(old)
        self._put(entry["files"])
        self.objects += int(entry["objects"]) - int(recorded["objects"])
        self.units[env_name] = {**self.units[env_name], name: unit}

    def _shared(self, env_name: str, resolution: Resolution, env: ResolvedEnvironment, ns_object: Any) -> None:
        """Rebuild an environment's shared files from every unit's recorded share."""
        units = self.units[env_name]
        names = self.record["env_models"][env_name]
        blobs = {**load_shares(self.root, self.cache, env_name, units), **self.new_shares[env_name]}
        if set(names) - blobs.keys():
            raise _NoDelta(f"the stored shares of {env_name} do not match the record")
        shared = shared_files(resolution, env, ns_object, [plain_loads(blobs[name]) for name in names])
        if shared.findings:
            raise _NoDelta(f"the shared files of {env_name} have a finding")
        files = shared.files
        self.packs[env_name] = share_pack(units, {name: blobs[name] for name in names})
        for old in self.shared_paths[env_name]:
            self._drop(old)
        self._put(files)
        self.shared_paths[env_name] = sorted(files)


__all__ = ["Delta", "attempt_delta", "render_delta", "save_delta_record"]
