"""``render`` after a small change: read, check and rebuild only the units whose sources
changed, and plan every other file by the digest the last render recorded (issue 8).

The delta path answers only when the last render's record (``generator.incremental.deltarecord``)
matches this generator and every input is as recorded except some environment files, and
in each changed environment file only per-model overrides of models that keep their
overrides changed, at most ``MAX_CHANGED_UNITS`` of them. Then:

1. each changed environment file is loaded and checked whole (JSON Schema, the spec
   model, its name), exactly as ``validate`` checks it;
2. each changed (environment, model) pair is validated and resolved on its own: a fleet of
   the recorded ``models.yaml`` header and that model's recorded entry, and an environment
   of the file's settings and that model's override. Resolution of one pair reads nothing
   else; every check ``validate`` makes across models (unknown overrides, image
   repositories, base images, Service names) reads only data that did not change, except
   the Service names of the pair's strategy, which are checked here against the
   environment's recorded model names;
3. the unit is built and checked (``incremental``'s unit code, unit cache included). When
   its share of the environment-wide files (kustomization entries, prometheus-adapter
   rules, compose entry, startup budget) differs from the recorded one, those files are
   rebuilt from every unit's recorded share (``units.shared_files``, the code the
   full path runs); otherwise they are unchanged;
4. a rebuilt unit's line of rendered/README.md (``overviewdoc.Readme``, made from
   ``overview.unit_row`` as the full path makes it) replaces its recorded line;
5. the plan is the recorded digests with the rebuilt files' bytes in their place.

Anything else (a finding, a model switched on or off, a changed setting, another input,
more units) returns None and the caller renders through ``incremental``, which reports
exactly what it always reports. So the delta path can make a render faster, never
different: ``tests/test_delta.py`` compares its plans with renders from scratch.
"""

from __future__ import annotations

import contextlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.build.compose import compose_entry
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
    environment_texts,
    load_record,
    load_shares,
    save_record,
    share_pack,
    unit_record,
)
from generator.incremental.inputrecord import RACY_NS, fleet_state, path_state
from generator.output.plan import overview_files
from generator.pipeline import Render
from generator.read.load import Document, Sources, load_file
from generator.read.parse import parse_environment_document
from generator.read.rawschema import jsonschema_findings
from generator.read.resolve import Resolution, ResolvedEnvironment, ResolvedModel
from generator.spec.rollout import service_names
from generator.units import namespace_object, share, shared_files
from generator.validation import validate_sources

MAX_CHANGED_UNITS = 32


@dataclass(frozen=True)
class Delta:
    """A planned tree: new bytes for the rebuilt units' files, the recorded digest for the rest."""

    files: dict[str, bytes | str]
    objects: int
    environments: int
    models: int
    referenced: frozenset[str]
    record: dict[str, Any]

    @property
    def digests(self) -> dict[str, str]:
        return {p: v if isinstance(v, str) else content_digest(v) for p, v in self.files.items()}


class _NoDelta(Exception):
    """The delta path cannot answer: render from scratch."""


def render_delta(root: Path, cache: UnitCache, started: int) -> Delta | None:
    """The plan after a small change of environment files, or None (render from scratch)."""
    result = attempt_delta(root, cache, started)
    return result if isinstance(result, Delta) else None


def attempt_delta(root: Path, cache: UnitCache, started: int) -> Delta | str:
    """``render_delta``, or why the delta path declined."""
    if not cache.enabled:
        return "the cache is disabled"
    record = load_record(root, cache)
    if record is None:
        return "no record of the last render by this generator"
    try:
        return _Delta(root, cache, started, record).run()
    except _NoDelta as exc:
        return str(exc)
    except ModelfleetError as exc:
        return f"a finding: {type(exc).__name__}"
    except (pickle.UnpicklingError, KeyError, ValueError, TypeError, IndexError) as exc:
        return f"an unusable record: {type(exc).__name__}: {exc}"


def save_delta_record(root: Path, cache: UnitCache, record: dict[str, Any], started: int) -> None:
    """Store ``record`` with the state of the inputs. An input modified shortly before or
    during the run is recorded as racy (its hash might not be of the bytes the run read): the
    next run then reads an environment file again, and declines for any other input. The
    record's texts of the environment files are of the data the run read, so comparing
    with them stays exact."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        state, _ = fleet_state(root, record["referenced"], racy_after=started - RACY_NS)
        save_record(root, cache, {**record, "inputs": state})


class _Delta:
    def __init__(self, root: Path, cache: UnitCache, started: int, record: dict[str, Any]) -> None:
        self.root, self.cache, self.started, self.record = root, cache, started, record
        self.files: dict[str, bytes | str] = dict(record["files"])
        self.objects = int(record["summary"]["objects"])
        self.units = {env: dict(units) for env, units in record["units"].items()}
        self.envs = dict(record["envs"])
        self.shared_paths: dict[str, list[str]] = dict(record["shared_paths"])
        self.dirty: dict[str, tuple[Resolution, ResolvedEnvironment, Any]] = {}
        self.new_shares: dict[str, dict[str, bytes]] = {}  # env -> model -> share, of the rebuilt units
        self.packs: dict[str, dict[str, Any]] = {}  # env -> its share pack to store, when its shared files changed
        self.clean = clean_digests(record["clean_secrets"])  # what the secret scan found clean
        self.readme = Readme.of(record["overview"])
        self.readme_changed = False

    def run(self) -> Delta:
        record = self.record
        state, _ = fleet_state(self.root, record["referenced"])
        before = record["inputs"]
        if len(state) != len(before) or "--" not in state or state.index("--") != before.index("--"):
            raise _NoDelta("the set of inputs changed")
        changed = [now for now, then in zip(state[: state.index("--")], before, strict=False) if now != then]
        if not all(isinstance(now, list) and str(now[0]).startswith("environments/") for now in changed):
            raise _NoDelta("more than environment files changed")
        if state[state.index("--") :] != before[before.index("--") :]:
            raise _NoDelta("a referenced file changed")
        budget = MAX_CHANGED_UNITS
        for now in changed:
            budget -= self._environment_file(str(now[0]), now, budget)
        for env_name, (resolution, env, ns_object) in sorted(self.dirty.items(), key=lambda item: item[0]):
            self._shared(env_name, resolution, env, ns_object)
        if self.readme_changed:
            self.files.update(overview_files(self.readme.text))
        record = {
            **record,
            "inputs": state,
            "envs": self.envs,
            "units": self.units,
            "shared_paths": self.shared_paths,
            "summary": {**record["summary"], "objects": self.objects},
            "shares": self.packs,
            "clean_secrets": clean_blob(self.clean),
            "overview": self.readme.plain(),
        }
        delta = Delta(
            self.files,
            self.objects,
            int(record["summary"]["environments"]),
            int(record["summary"]["models"]),
            frozenset(record["referenced"]),
            record,
        )
        record["files"] = delta.digests
        return delta

    def _environment_file(self, path: str, state: Any, budget: int) -> int:
        """Rebuild the units a changed environment file changed; return how many."""
        document = load_file(self.root / path, path)
        if path_state(self.root, path)[0] != state:
            raise _NoDelta(f"{path} changed while it was read")
        if jsonschema_findings(document, "environment.schema.json"):
            raise _NoDelta(f"{path} breaks its schema")
        spec = parse_environment_document(document, self.root)
        texts = environment_texts(document.data)
        recorded = self.envs.get(path)
        if recorded is None or texts["settings"] != recorded["settings"] or texts["names"] != recorded["names"]:
            raise _NoDelta(f"{path}: settings or the set of overrides changed")
        models = [name for name, text in texts["overrides"].items() if recorded["overrides"].get(name) != text]
        if len(models) > budget:
            raise _NoDelta("too many units changed")
        overrides = document.data.get("models") or {}
        settings = {k: v for k, v in document.data.items() if k != "models"}
        for name in models:
            self._unit(path, spec.name, name, settings, overrides[name])
        self.envs[path] = texts
        return len(models)

    def _resolve(self, path: str, name: str, settings: dict[str, Any], override: Any) -> Resolution:
        """The fleet of ``name`` alone, in the environment of ``path`` with only its override."""
        raw = self.record["models_raw"].get(name)
        if raw is None:
            raise _NoDelta(f"no recorded model {name}")
        fleet = {**plain_loads(self.record["fleet_raw"]), "models": [plain_loads(raw)]}
        env = {**settings, "models": {name: override}}
        sources = Sources(self.root, Document("models.yaml", fleet), (Document(path, env),))
        validation = validate_sources(sources, self.clean)
        resolution = validation.resolution
        self.clean = self.clean | validation.clean_secrets
        if not validation.referenced <= set(self.record["referenced"]):
            raise _NoDelta(f"{name} points at files the last render did not read")
        return resolution

    def _unit(self, path: str, env_name: str, name: str, settings: dict[str, Any], override: Any) -> None:
        resolution = self._resolve(path, name, settings, override)
        env: ResolvedEnvironment = resolution.environments[0]
        model: ResolvedModel | None = next((m for m in env.models if m.name == name), None)
        names: list[str] = self.record["env_models"][env_name]
        recorded = self.units[env_name].get(name)
        if model is None or recorded is None:
            if (model is None) != (recorded is None):
                raise _NoDelta(f"{name} was switched on or off in {env_name}")
            return
        if set(service_names(name, model.spec.rollout.strategy)[1:]) & set(names):
            raise _NoDelta(f"a Service of {name} takes another model's name")
        # A hit's files are planned by digest: write_tree finds them in a kept tree or declines.
        units = Render(self.root, resolution, self.cache, self.started, sink=None, holds=lambda files: True)
        built = units.base_unit(resolution.base[0])
        if built is None:
            raise _NoDelta(f"the base of {name} cannot be built")
        _, base = built
        if units.keys.bases[name] != self.record["base_keys"].get(name):
            raise _NoDelta(f"the base of {name} differs from the recorded one")
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
            del self.files[old]
        self.files.update(entry["files"])
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
            del self.files[old]
        self.files.update(files)
        self.shared_paths[env_name] = sorted(files)


__all__ = ["Delta", "attempt_delta", "render_delta", "save_delta_record"]
