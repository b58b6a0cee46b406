"""The units a render is made of, each built and checked on its own: a model's base, a
model in an environment, and an environment's shared files, built from each unit's share.

``pipeline.render`` puts them together; the delta path rebuilds single units with them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.build.compose import ComposeEntry, compose_document, compose_entry, validate_compose
from generator.build.dashboard import dashboard_configmap, model_dashboard_text
from generator.build.gitops import gitops_objects, slowest_of
from generator.build.identity import common_labels, image_reference, image_repository
from generator.build.monitoring import ModelRules, environment_rule, model_rules, rule_proof
from generator.build.overview import model_row
from generator.build.platform import dashboards_namespace
from generator.build.scaling import model_adapter_rules
from generator.build.sli import sli_for
from generator.build.templating import render_documents
from generator.build.workload import KubeObject, build_workload
from generator.check.controllers import controller_findings
from generator.check.policy import image_allowlist, policy_findings
from generator.check.schemas import check_environment, check_gitops
from generator.errors import Finding, ModelfleetError
from generator.output.overlay import ModelObjects, file_stem, namespaced, overlay
from generator.output.plan import (
    OverlayPart,
    compose_files,
    gitops_file,
    model_overlay_part,
    overlay_frame,
    overlay_part,
    platform_files,
    proof_files,
    sharded_frame,
)
from generator.read.resolve import Resolution, ResolvedEnvironment, ResolvedModel
from generator.spec.gitops import shard_by, sharding


def model_objects(model: ResolvedModel, root: Path, rules: ModelRules | None = None) -> ModelObjects:
    """The objects of one model. Alert rules exist only in an environment (their queries are
    scoped to its namespace), so the overlay adds them to the base; ``rules``: the model's
    ``model_rules`` there, when known."""
    objects = [*build_workload(model, root), model_dashboard(model)]
    if model.environment is not None:
        objects.append(environment_rule(model, rules))
    return ModelObjects(
        model=model.name,
        image_name=image_repository(model),
        image_ref=image_reference(model),
        objects=tuple(objects),
    )


def model_dashboard(model: ResolvedModel) -> KubeObject:
    """The model's Grafana dashboard, as a ConfigMap the Grafana sidecar discovers."""
    return dashboard_configmap(model, model_dashboard_text(model), common_labels(model))


def namespace_object(env: ResolvedEnvironment, fleet: str) -> KubeObject:
    documents = render_documents(
        "k8s/namespace.yaml.j2",
        {
            "namespace": env.spec.namespace,
            "fleet": fleet,
            "environment": env.spec.name,
            "pss_version": f"v{env.spec.kubernetesVersion}",
        },
    )
    return documents[0]


def allowed_images(resolution: Resolution) -> Callable[[str], bool]:
    """Images a pod may run: the fleet's registry and the pinned artifact fetchers."""
    return image_allowlist(resolution.fleet.registry, resolution.fleet.fetcher_images())


def adapter_values(rules: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """prometheus-adapter Helm values holding ``rules`` (the HPAs' external metrics)."""
    return {"rules": {"external": list(rules)}}


def environment_findings(
    env: ResolvedEnvironment, objects: Sequence[KubeObject], adapter: Mapping[str, Any], allowed: Callable[[str], bool]
) -> list[Finding]:
    """Every check of objects an environment receives: their schemas, the controllers'
    rules and the pod policy. Run on one unit's objects, it is stricter than on the whole
    environment's (a pod's NetworkPolicy must then be its own unit's)."""
    name = env.spec.name
    return [
        *check_environment(name, env.spec.kubernetesVersion, objects),
        *controller_findings(name, objects, adapter),
        *policy_findings(name, objects, allowed, require_digests=env.spec.policy.requireDigests),
    ]


@dataclass(frozen=True)
class BuiltUnit:
    """A model in an environment: its files, its kustomization entries and what it checked."""

    entry: dict[str, Any]  # files, resources, patches, images, objects (a count): what the cache stores
    received: tuple[KubeObject, ...]  # the objects the environment receives from it, namespaced
    findings: list[Finding]


def build_unit(
    env: ResolvedEnvironment,
    model: ResolvedModel,
    ns_object: KubeObject,
    base: ModelObjects,
    *,
    root: Path,
    allowed: Callable[[str], bool],
) -> BuiltUnit:
    """One model in one environment, checked on its own (``ModelfleetError`` when it cannot
    be built)."""
    rules = model_rules(model)
    built = model_objects(model, root, rules)
    received = tuple(namespaced(obj, env.spec.namespace) for obj in built.objects)
    adapter = adapter_values(model_adapter_rules(model, sli_for(model, env.spec.namespace)))
    findings = environment_findings(env, received, adapter, allowed)
    keep = dashboards_namespace(model.fleet, env.spec.platform) is not None
    item = overlay(env.spec.name, ns_object, [base], [built], keep_namespaces=keep)
    if shard_by(model.fleet.gitops, env.spec.gitops) == "environment":
        part = overlay_part(item, model.name)
    else:
        part = model_overlay_part(item, model.name)
    files = {**part.files, **proof_files(rule_proof(model, rules))}
    entry = {
        "files": files,
        "resources": part.resources,
        "patches": part.patches,
        "images": part.images,
        "objects": len(received),
    }
    return BuiltUnit(entry, received, findings)


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
        "team": model.spec.owner,
    }


def overview_model(model: ResolvedModel, base: ModelObjects) -> dict[str, Any]:
    """The model's row of the fleet overview, with the path of its dashboard's file in its base."""
    name = f"{model.name}-dashboard"  # dashboard_configmap's name in a base
    dashboard = next(obj for obj in base.objects if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == name)
    return model_row(model, f"base/{model.name}/{file_stem(dashboard, base.objects, model.name)}.yaml")


@dataclass(frozen=True)
class SharedFiles:
    """An environment's shared files, and the documents they hold that checks and tests read."""

    files: dict[str, bytes]
    gitops: tuple[KubeObject, ...]
    compose: dict[str, Any]
    adapter: dict[str, Any]
    findings: list[Finding]


def shared_files(
    resolution: Resolution, env: ResolvedEnvironment, ns_object: KubeObject, shares: Sequence[Mapping[str, Any]]
) -> SharedFiles:
    """The environment-wide files from the units' shares (in model order): the overlay's
    kustomization.yaml and namespace.yaml, the prometheus-adapter values, the GitOps objects
    and the compose file."""
    name, fleet = env.spec.name, resolution.fleet.name
    names = [str(s["compose"][0]) for s in shares]
    parts = [OverlayPart({}, s["resources"], s["patches"], s["images"]) for s in shares]
    keep = dashboards_namespace(resolution.fleet, env.spec.platform) is not None
    by = shard_by(resolution.fleet.gitops, env.spec.gitops)
    shards = None
    if by == "environment":
        files = overlay_frame(name, str(ns_object["metadata"]["name"]), ns_object, names, parts, keep_namespaces=keep)
    else:
        shards = sharding(fleet, name, by, [(n, str(s["team"])) for n, s in zip(names, shares, strict=True)])
        files = sharded_frame(name, ns_object, shards)
    adapter = adapter_values([rule for s in shares for rule in s["adapter"]])
    files.update(platform_files({name: adapter}))
    startups = {n: int(s["startup"]) for n, s in zip(names, shares, strict=True)}
    gitops = tuple(
        gitops_objects(resolution, env, slowest_startup=slowest_of(startups.values()), shards=shards, startups=startups)
    )
    findings = check_gitops(name, gitops)
    files.update(gitops_file(name, gitops))
    compose = compose_document(name, fleet, [ComposeEntry(*s["compose"]) for s in shares])
    problems = validate_compose(compose)
    if problems:  # compose files are built from validated data: a problem is a modelfleet bug
        raise RuntimeError(f"rendered/compose/{name}.yaml breaks the compose-spec schema: {problems[0]}")
    files.update(compose_files(name, compose))
    return SharedFiles(files, gitops, compose, adapter, findings)


@dataclass(frozen=True)
class ClosedEnvironment:
    """An environment closed: each model's compose entry, each unit's share, and the shared
    files built (None: the cache holds them; findings: they cannot be built)."""

    composed: dict[str, Any]
    shares: list[dict[str, Any]]
    built: SharedFiles | list[Finding] | None


@dataclass(frozen=True)
class ClosingEnvironment:
    """An environment whose units are all in, with the cache's answers for its shared parts:
    what ``close`` needs, in the render or in a worker (``pipeline.Render._close_all``)."""

    env: ResolvedEnvironment
    ns_object: KubeObject
    entries: list[dict[str, Any]]  # each model's unit entry, without bytes
    compose_key: str
    composed: dict[str, Any] | None  # the cached compose entries
    shared_key: str
    stored: dict[str, str] | None  # the cached shared files (path -> digest)
    usable: dict[str, str] | None  # ``stored``, when they can be planned by digest

    @property
    def todo(self) -> bool:
        return self.composed is None or self.usable is None

    def close(self, resolution: Resolution, root: Path, *, keep: bool) -> ClosedEnvironment:
        """The compose entries (a model's reads the environment's settings, the model and its
        place among the environment's models), the shares, and the shared files; ``keep``:
        with the documents they hold (else only the files and findings)."""
        env = self.env
        composed = self.composed
        if composed is None:
            entries = (compose_entry(m, root, env_name=env.spec.name, index=i) for i, m in enumerate(env.models))
            composed = {e.model: list(e) for e in entries}
        shares = [
            share(entry, model_adapter_rules(model, sli_for(model, env.spec.namespace)), composed[model.name], model)
            for entry, model in zip(self.entries, env.models, strict=True)
        ]
        built: SharedFiles | list[Finding] | None = None
        if self.usable is None:
            try:
                built = shared_files(resolution, env, self.ns_object, shares)
            except ModelfleetError as exc:
                built = exc.findings
            else:
                built = built if keep else SharedFiles(built.files, (), {}, {}, built.findings)
        return ClosedEnvironment(composed, shares, built)
