"""The one-way pipeline: load -> parse -> resolve -> build -> check -> layout -> plan.

Every stage is a pure function of the previous stage's output; only ``write`` (called by
the CLI) touches rendered/.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.build.compose import compose_file, validate_compose
from generator.build.dashboard import dashboard, dashboard_configmap, dashboard_sli
from generator.build.gitops import gitops_objects
from generator.build.identity import common_labels, image_reference, image_repository
from generator.build.image import ImageFiles, build_bake, build_image
from generator.build.monitoring import RuleProof, environment_rule, rule_proof, runbooks
from generator.build.platform import dashboards_namespace
from generator.build.scaling import adapter_rules
from generator.build.sli import sli_for
from generator.build.templating import render_documents
from generator.build.workload import KubeObject, build_workload
from generator.check.controllers import controller_findings
from generator.check.policy import image_allowlist, policy_findings
from generator.check.schemas import check_environment, check_gitops
from generator.errors import Finding, ModelfleetError
from generator.output.overlay import ModelObjects, Overlay, namespaced, overlay
from generator.output.plan import Plan, plan
from generator.read.load import load_fleet
from generator.read.resolve import Resolution, ResolvedEnvironment, ResolvedModel
from generator.validation import validate_recorded


@dataclass(frozen=True)
class EnvironmentOutput:
    name: str
    version: str
    objects: tuple[KubeObject, ...]  # what the cluster receives, namespaced
    overlay: Overlay
    adapter_values: dict[str, Any]  # prometheus-adapter rules serving the HPAs' custom metrics
    gitops: tuple[KubeObject, ...]  # the controller's objects that apply this overlay
    proofs: tuple[RuleProof, ...]  # each model's alert rules as a rule file, with promtool tests
    compose: dict[str, Any]  # a Docker Compose project running this environment's models locally


@dataclass(frozen=True)
class Rendered:
    resolution: Resolution
    base: tuple[ModelObjects, ...]
    environments: tuple[EnvironmentOutput, ...]
    plan: Plan
    referenced: frozenset[str] = frozenset()  # every file and directory the spec points at
    cached_objects: int | None = None  # the object count, when the unit cache served the objects
    delta_record: dict[str, Any] | None = None  # what `generator.incremental.delta` needs next time (unit cache only)

    @property
    def object_count(self) -> int:
        """How many objects the environments receive (the CLI's summary)."""
        if self.cached_objects is not None:
            return self.cached_objects
        return sum(len(e.objects) for e in self.environments)


def model_objects(model: ResolvedModel, root: Path) -> ModelObjects:
    """The objects of one model. Alert rules exist only in an environment (their queries are
    scoped to its namespace), so the overlay adds them to the base."""
    objects = [*build_workload(model, root), model_dashboard(model)]
    if model.environment is not None:
        objects.append(environment_rule(model))
    return ModelObjects(
        model=model.name,
        image_name=image_repository(model),
        image_ref=image_reference(model),
        objects=tuple(objects),
    )


def model_dashboard(model: ResolvedModel) -> KubeObject:
    """The model's Grafana dashboard, as a ConfigMap the Grafana sidecar discovers."""
    return dashboard_configmap(model, dashboard(model, dashboard_sli(model)), common_labels(model))


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


def _collect(findings: list[Finding], error: ModelfleetError) -> None:
    findings.extend(error.findings)


def build_environment(
    env: ResolvedEnvironment, base: Sequence[ModelObjects], resolution: Resolution
) -> EnvironmentOutput:
    root, fleet = resolution.root, resolution.fleet.name
    models = [model_objects(model, root) for model in env.models]
    ns = namespace_object(env, fleet)
    objects = [ns] + [namespaced(obj, env.spec.namespace) for m in models for obj in m.objects]
    return EnvironmentOutput(
        name=env.spec.name,
        version=env.spec.kubernetesVersion,
        objects=tuple(objects),
        overlay=overlay(
            env.spec.name,
            ns,
            base,
            models,
            keep_namespaces=dashboards_namespace(resolution.fleet, env.spec.platform) is not None,
        ),
        adapter_values=adapter_rules([(m, sli_for(m, env.spec.namespace)) for m in env.models]),
        gitops=tuple(gitops_objects(resolution, env)),
        proofs=tuple(rule_proof(model) for model in env.models),
        compose=compose_file(env, root, fleet=fleet),
    )


def render(root: Path) -> Rendered:
    """Run every stage for the fleet under ``root``; raise ModelfleetError on any finding.
    (``incremental.render_cached`` does the same with a unit cache and an output sink.)"""
    validation = validate_recorded(load_fleet(root))
    resolution = validation.resolution
    findings: list[Finding] = []
    base: list[ModelObjects] = []
    for model in resolution.base:
        try:
            base.append(model_objects(model, root))
        except ModelfleetError as exc:
            _collect(findings, exc)
    if findings:
        raise ModelfleetError(findings)
    environments: list[EnvironmentOutput] = []
    for env in resolution.environments:
        try:
            output = build_environment(env, base, resolution)
        except ModelfleetError as exc:
            _collect(findings, exc)
            continue
        findings.extend(check_environment(output.name, output.version, output.objects))
        findings.extend(controller_findings(output.name, output.objects, output.adapter_values))
        findings.extend(
            policy_findings(
                output.name,
                output.objects,
                allowed_images(resolution),
                require_digests=env.spec.policy.requireDigests,
            )
        )
        findings.extend(check_gitops(output.name, output.gitops))
        problems = validate_compose(output.compose)
        if problems:  # compose files are built from validated data: a problem is a modelfleet bug
            raise RuntimeError(f"rendered/compose/{output.name}.yaml breaks the compose-spec schema: {problems[0]}")
        environments.append(output)
    if findings:
        raise ModelfleetError(findings)
    images: list[ImageFiles] = [build_image(model) for model in resolution.base]
    bake = build_bake(resolution.base)
    return Rendered(
        resolution,
        tuple(base),
        tuple(environments),
        plan(
            base,
            [e.overlay for e in environments],
            images=images,
            bake=bake,
            adapter_values={e.name: e.adapter_values for e in environments},
            gitops={e.name: e.gitops for e in environments},
            compose={e.name: e.compose for e in environments},
            proofs=[proof for e in environments for proof in e.proofs],
            runbooks=runbooks(resolution),
        ),
        validation.referenced,
    )


def allowed_images(resolution: Resolution) -> Callable[[str], bool]:
    """Images a pod may run: the fleet's registry and the pinned artifact fetchers."""
    return image_allowlist(resolution.fleet.registry, resolution.fleet.fetcher_images())
