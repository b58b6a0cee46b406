"""Stage 3, resolve: one ModelSpec per (environment, model), with provenance.

Layers apply in this order: fleet defaults <- model <- environment defaults <-
environment per-model override. Mappings merge key by key; lists, scalars and the
atomic fields (image, artifact) replace. Every value remembers the file:line that set
it, and the files before it that it overrides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from generator.errors import Finding, Location, ModelfleetError
from generator.read.envrules import gitops_findings, platform_label_findings, traffic_findings
from generator.read.load import Document, FieldPath, copy_loaded
from generator.read.parse import Parsed, ParsedEnvironment, did_you_mean, translate
from generator.read.shardrules import shard_findings
from generator.spec.environment import EnvironmentFile
from generator.spec.fleet import FETCHER_OF_SCHEME, Fleet
from generator.spec.kubernetes import UnknownVersion, schema_version_for
from generator.spec.layers import ATOMIC_FIELDS
from generator.spec.model import ModelSpec
from generator.spec.paths import validation_context
from generator.spec.rollout import service_names


@dataclass(frozen=True)
class Origin:
    """Where one value was set."""

    location: Location
    layer: str

    def __str__(self) -> str:
        return f"{self.location}  ({self.layer})"


@dataclass(frozen=True)
class Layer:
    data: Mapping[str, Any]
    document: Document
    prefix: FieldPath
    name: str


@dataclass
class _Merge:
    """The merged data of a model's layers and, when ``track`` is set, where each value came
    from (``origins``) and which document path set it (``sources``)."""

    track: bool = True
    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[FieldPath, list[Origin]] = field(default_factory=dict)
    sources: dict[FieldPath, tuple[Document, FieldPath]] = field(default_factory=dict)

    def forget_below(self, path: FieldPath) -> None:
        depth = len(path)
        for table in (self.origins, self.sources):
            for key in [k for k in table if len(k) > depth and k[:depth] == path]:
                del table[key]

    def record(self, layer: Layer, path: FieldPath, value: Any) -> None:
        if not self.track:
            return
        doc_path = layer.prefix + path
        self.origins.setdefault(path, []).append(Origin(layer.document.locate(doc_path), layer.name))
        self.sources[path] = (layer.document, doc_path)
        if isinstance(value, dict):
            for key, child in value.items():
                self.record(layer, (*path, key), child)
        elif isinstance(value, list):
            for index, child in enumerate(value):
                self.record(layer, (*path, index), child)

    def apply(self, layer: Layer, target: dict[str, Any], values: Mapping[str, Any], path: FieldPath) -> None:
        for key, value in values.items():
            child = (*path, key)
            mergeable = isinstance(value, dict) and isinstance(target.get(key), dict)
            if mergeable and not (len(path) == 0 and key in ATOMIC_FIELDS):
                if self.track:
                    self.origins.setdefault(child, []).append(
                        Origin(layer.document.locate(layer.prefix + child), layer.name)
                    )
                    self.sources.setdefault(child, (layer.document, layer.prefix + child))
                self.apply(layer, target[key], value, child)
            else:
                if self.track and isinstance(target.get(key), (dict, list)):  # only a container has entries below
                    self.forget_below(child)
                target[key] = copy_loaded(value)
                self.record(layer, child, value)


class Provenance:
    """Where each value of a resolved model came from, worked out when first asked for (an
    error message, ``explain``): it is the merge of the same layers again, with tracking.
    Holding it for every (environment, model) pair would cost more memory than the specs."""

    __slots__ = ("_entry", "_layers", "_merge")

    def __init__(self, layers: Sequence[Layer], entry: Layer, merge: _Merge | None = None) -> None:
        self._layers, self._entry = tuple(layers), entry
        self._merge = merge if merge is not None and merge.track else None

    def merge(self) -> _Merge:
        if self._merge is None:
            self._merge = _merge_layers(list(self._layers), self._entry, track=True)
        return self._merge


@dataclass(frozen=True)
class ResolvedModel:
    """One model as it runs in one environment (or in the shared base when env is None)."""

    spec: ModelSpec
    fleet: Fleet
    environment: EnvironmentFile | None
    provenance: Provenance = field(compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def origins(self) -> Mapping[FieldPath, tuple[Origin, ...]]:
        return {path: tuple(chain) for path, chain in self.provenance.merge().origins.items()}

    @property
    def sources(self) -> Mapping[FieldPath, tuple[Document, FieldPath]]:
        return self.provenance.merge().sources

    def origin_chain(self, path: FieldPath) -> tuple[Origin, ...]:
        return tuple(self.provenance.merge().origins.get(path, ()))

    def locate(self, path: FieldPath) -> tuple[Document, FieldPath]:
        """The document and path that set ``path`` (or its nearest set ancestor)."""
        current = tuple(path)
        while current:
            if current in self.sources:
                document, doc_path = self.sources[current]
                return document, doc_path + tuple(path[len(current) :])
            current = current[:-1]
        return self.sources[()]


@dataclass(frozen=True)
class ResolvedEnvironment:
    spec: EnvironmentFile
    document: Document
    models: tuple[ResolvedModel, ...]


@dataclass(frozen=True)
class Resolution:
    """The whole fleet: the shared base and every environment, models sorted by name."""

    root: Path
    fleet: Fleet
    base: tuple[ResolvedModel, ...]
    environments: tuple[ResolvedEnvironment, ...]

    def environment(self, name: str) -> ResolvedEnvironment | None:
        for env in self.environments:
            if env.spec.name == name:
                return env
        return None


def _merge_layers(layers: list[Layer], entry: Layer, *, track: bool = False) -> _Merge:
    merge = _Merge(track=track)
    merge.sources[()] = (entry.document, entry.prefix)
    for layer in layers:
        merge.apply(layer, merge.data, layer.data, ())
    return merge


def _validate(
    merge: _Merge,
    fleet: Fleet,
    env: EnvironmentFile | None,
    parsed: Parsed,
    *,
    layers: list[Layer],
    entry: Layer,
) -> ResolvedModel:
    provenance = Provenance(layers, entry, merge)
    try:
        spec = ModelSpec.model_validate(
            merge.data, context=validation_context(parsed.root, parsed.paths, parsed.passed)
        )
    except ValidationError as exc:
        merge = provenance.merge()

        def locate(path: FieldPath) -> tuple[Document, FieldPath]:
            current = tuple(path)
            while current not in merge.sources:
                current = current[:-1]
            document, doc_path = merge.sources[current]
            return document, doc_path + tuple(path[len(current) :])

        findings = translate(exc, ModelSpec, locate)
        suffix = f" (in environment {env.name})" if env is not None else ""
        models = (str(merge.data["name"]),) if isinstance(merge.data.get("name"), str) else ()
        findings = [
            Finding(f"{f.message}{suffix}", f.location, f.path, f.hint, f.source_line, models) for f in findings
        ]
        raise ModelfleetError(findings) from None
    return ResolvedModel(spec, fleet, env, provenance)


def _registry(model: ResolvedModel) -> list[Finding]:
    repository = model.spec.image.repository
    registry = model.fleet.registry
    if repository is None or repository.startswith(registry + "/"):
        return []
    document, path = model.locate(("image", "repository"))
    return [
        document.finding(
            path,
            f"image repository '{repository}' is outside the fleet's registry {registry}",
            f"push the image to {registry}/... (images run only from fleet.registry)",
        )
    ]


def _policy(model: ResolvedModel, env: EnvironmentFile) -> list[Finding]:
    findings: list[Finding] = _registry(model)
    spec = model.spec
    if env.policy.requireDigests and spec.image.digest is None:
        document, path = model.locate(("image",))
        findings.append(
            document.finding(
                path,
                f"environment {env.name} requires image digests, but {spec.name} uses tag '{spec.image.tag}'",
                f"in environments/{env.name}.yaml set models.{spec.name}.image.digest: sha256:...",
            )
        )
    artifact = spec.artifact
    fetcher = FETCHER_OF_SCHEME.get(artifact.uri.split("://", 1)[0]) if artifact is not None else None
    if env.policy.requireDigests and fetcher is not None and "@sha256:" not in model.fleet.fetcher_image(fetcher):
        document, path = model.locate(("artifact", "uri"))
        findings.append(
            document.finding(
                path,
                f"environment {env.name} requires image digests, but {spec.name}'s artifact is fetched by "
                f"{model.fleet.fetcher_image(fetcher)}, which is pinned by tag only",
                f"mirror that image into {model.fleet.registry} and set fleet.fetcherImages.{fetcher} to "
                "the mirror with its digest (<repository>:<tag>@sha256:...)",
            )
        )
    external = artifact is not None and not artifact.uri.startswith("image://")
    if env.policy.requirePinnedArtifacts and external and artifact is not None and artifact.sha256 is None:
        document, path = model.locate(("artifact",))
        findings.append(
            document.finding(
                path,
                f"environment {env.name} requires pinned artifacts, but {spec.name}'s artifact has no sha256",
                "add artifact.sha256 (64 hex digits) for this environment",
            )
        )
    return findings


def _check_base_images(parsed: Parsed, runtimes: set[str]) -> list[Finding]:
    """Base images are shared by every environment: one that demands digests binds them all."""
    demanding = [env for env in parsed.environments if env.spec.policy.requireBaseImageDigests]
    if not demanding:
        return []
    fleet = parsed.fleet.fleet
    findings: list[Finding] = []
    for runtime in sorted(runtimes):
        image = fleet.base_image(runtime)
        if "@sha256:" in image:
            continue
        message = f"environment {demanding[0].spec.name} requires base image digests, but {runtime} uses '{image}'"
        hint = f'pin it: fleet.baseImages.{runtime}: "{image.split("@")[0]}@sha256:<digest>"'
        if runtime in fleet.baseImages:
            findings.append(parsed.document.finding(("fleet", "baseImages", runtime), message, hint))
        else:
            path = ("policy", "requireBaseImageDigests")
            findings.append(demanding[0].document.finding(path, message + " (the built-in default)", hint))
    return findings


def image_repository(model: ResolvedModel) -> str:
    """The repository of the model's image: an overlay pins images by it, so each model has its own."""
    return model.spec.image.repository or f"{model.fleet.registry}/{model.name}"


def _shared_repositories(base: list[ResolvedModel]) -> list[Finding]:
    """Each model needs its own image repository: an overlay sets images by repository name."""
    owners: dict[str, str] = {}
    findings: list[Finding] = []
    for model in base:
        repository = image_repository(model)
        other = owners.setdefault(repository, model.name)
        if other != model.name:
            document, path = model.locate(("image", "repository"))
            findings.append(
                document.finding(
                    path,
                    f"models {other} and {model.name} share the image repository {repository}",
                    "give each model its own repository (an overlay pins images by repository name)",
                )
            )
    return findings


def _service_collisions(models: Sequence[ResolvedModel]) -> list[Finding]:
    """A strategy's second Service (<model>-canary, <model>-preview) must not take another
    model's name: the two Services would be one object."""
    by_name = {model.name: model for model in models}
    findings: list[Finding] = []
    for model in models:
        strategy = model.spec.rollout.strategy
        for service in service_names(model.name, strategy)[1:]:
            other = by_name.get(service)
            if other is not None:
                document, path = other.locate(("name",))
                findings.append(
                    document.finding(
                        path,
                        f"model '{service}' has the name of the {strategy} Service of model '{model.name}'",
                        f"rename model '{service}' (or '{model.name}'): both would render a Service '{service}'",
                    )
                )
    return findings


def _unique(findings: list[Finding]) -> list[Finding]:
    """Findings in order, each (location, message) once."""
    seen: set[tuple[Location | None, str]] = set()
    unique: list[Finding] = []
    for finding in findings:
        key = (finding.location, finding.message)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique


def _check_overrides(env: ParsedEnvironment, names: list[str]) -> list[Finding]:
    findings: list[Finding] = []
    known = set(names)
    for name in env.spec.models:
        if name not in known:
            findings.append(
                env.document.finding(
                    ("models", name),
                    f"override for unknown model '{name}'",
                    did_you_mean(name, names),
                    key=True,
                )
            )
    return findings


def _check_version(env: ParsedEnvironment) -> list[Finding]:
    try:
        schema_version_for(env.spec.kubernetesVersion)
    except UnknownVersion as exc:
        return [env.document.finding(("kubernetesVersion",), str(exc), "pick a supported version")]
    return []


def _resolve_environment(
    env: ParsedEnvironment,
    model_layers: dict[str, list[Layer]],
    entries: dict[str, Layer],
    fleet: Fleet,
    parsed: Parsed,
) -> tuple[ResolvedEnvironment, list[Finding]]:
    """Every model of one environment (models that failed in the base are left out: their
    problem is reported once, there)."""
    findings: list[Finding] = []
    env_raw = env.document.data
    env_defaults = Layer(env_raw.get("defaults") or {}, env.document, ("defaults",), f"{env.spec.name} defaults")
    resolved: list[ResolvedModel] = []
    for name, base_layers in model_layers.items():
        layers = [*base_layers, env_defaults]
        override = (env_raw.get("models") or {}).get(name)
        if override is not None:
            layers.append(Layer(override, env.document, ("models", name), f"{env.spec.name} override"))
        merged = _merge_layers(layers, entries[name])
        if merged.data.get("enabled", True) is False:
            continue  # not deployed here: nothing of it is rendered or checked
        try:
            model = _validate(merged, fleet, env.spec, parsed, layers=layers, entry=entries[name])
        except ModelfleetError as exc:
            findings.extend(exc.findings)
            continue
        findings.extend(_policy(model, env.spec))
        findings.extend(traffic_findings(model, env.spec))
        resolved.append(model)
    ordered = tuple(sorted(resolved, key=lambda m: m.name))
    return ResolvedEnvironment(env.spec, env.document, ordered), findings


def resolve(parsed: Parsed) -> Resolution:
    """Resolve every (environment, model) pair; collect all findings before failing."""
    fleet_file = parsed.fleet
    document = parsed.document
    findings: list[Finding] = []
    raw_models = document.data["models"]
    defaults_raw = document.data.get("defaults") or {}
    names = [str(raw["name"]) for raw in raw_models]
    base: list[ResolvedModel] = []
    broken: set[str] = set()
    model_layers: dict[str, list[Layer]] = {}
    entries: dict[str, Layer] = {}
    for index, raw in enumerate(raw_models):
        entry = Layer(raw, document, ("models", index), "model")
        layers = [Layer(defaults_raw, document, ("defaults",), "fleet defaults"), entry]
        model_layers[raw["name"]] = layers
        entries[raw["name"]] = entry
        try:
            merged = _merge_layers(layers, entry)
            resolved_base = _validate(merged, fleet_file.fleet, None, parsed, layers=layers, entry=entry)
            base.append(resolved_base)
            findings.extend(_registry(resolved_base))
        except ModelfleetError as exc:
            findings.extend(exc.findings)
            broken.add(raw["name"])
    environments: list[ResolvedEnvironment] = []
    for env in parsed.environments:
        findings.extend(_check_overrides(env, names))
        findings.extend(_check_version(env))
        findings.extend(gitops_findings(env.document, env.spec, fleet_file.fleet))
        layers_of = {name: model_layers[name] for name in names if name not in broken}
        resolved_env, env_findings = _resolve_environment(env, layers_of, entries, fleet_file.fleet, parsed)
        environments.append(resolved_env)
        findings.extend(env_findings)
    findings.extend(_unique(shard_findings(fleet_file.fleet, [(e.spec, e.models) for e in environments])))
    findings.extend(platform_label_findings(document, ("fleet", "platform"), fleet_file.fleet.platform, names))
    for env in parsed.environments:
        findings.extend(platform_label_findings(env.document, ("platform",), env.spec.platform, names))
    findings.extend(_check_base_images(parsed, {m.spec.runtime for m in base}))
    findings.extend(_shared_repositories(base))
    collisions = _service_collisions(base) + [f for e in environments for f in _service_collisions(e.models)]
    findings.extend(_unique(collisions))
    if findings:
        raise ModelfleetError(findings)
    return Resolution(
        parsed.root,
        fleet_file.fleet,
        tuple(sorted(base, key=lambda m: m.name)),
        tuple(sorted(environments, key=lambda e: e.spec.name)),
    )
