"""What a GitOps controller needs to apply an environment's overlay from Git: an Argo CD
Application, or a Flux GitRepository and Kustomization, in the controller's namespace
(``fleet.gitops.namespace``, an environment's ``gitops.namespace``), pointing at
``<fleet.gitops.path>/overlays/<env>`` in the repository.

A sharded environment (``gitops.shardBy: team`` or ``model``) gets instead one Argo CD
ApplicationSet whose list generator holds a shard per element, or a Flux Kustomization per
shard, each depending on the platform shard's (the Namespace first); ``generator.spec.gitops.sharding``
names the shards and the directories they apply.

Automatic sync (with pruning and self-heal) is on where the environment allows it and off
in production by default: there a person presses sync (Argo CD) or resumes the
Kustomization (``flux resume kustomization``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from generator.build.traffic import IN_PROGRESS_LABEL
from generator.read.resolve import Resolution, ResolvedEnvironment
from generator.spec.gitops import DEFAULT_NAMESPACES, PLATFORM_SHARD, GitOps, Sharding

ARGOCD_FINALIZER = "resources-finalizer.argocd.argoproj.io"  # deleting the Application deletes what it applied
SHARD_LABEL = "modelfleet.io/shard"


def controller_namespace(gitops: GitOps, env: ResolvedEnvironment) -> str:
    """Where the controller's objects go: the environment's setting, the fleet's, or the
    controller's usual namespace."""
    return env.spec.gitops.namespace or gitops.namespace or DEFAULT_NAMESPACES[gitops.controller]


def argocd_project(gitops: GitOps, env: ResolvedEnvironment) -> str:
    return env.spec.gitops.project or gitops.project


def auto_sync(env: ResolvedEnvironment) -> bool:
    configured = env.spec.policy.autoSync
    if configured is not None:
        return configured
    name = env.spec.name
    return not (name == "prod" or name.startswith("prod-"))


def _labels(resolution: Resolution, env: ResolvedEnvironment) -> dict[str, str]:
    return {
        "app.kubernetes.io/part-of": resolution.fleet.name,
        "app.kubernetes.io/managed-by": "modelfleet",
        "modelfleet.io/environment": env.spec.name,
    }


def _application_spec(resolution: Resolution, env: ResolvedEnvironment, path: str) -> dict[str, Any]:
    """An Application's spec applying ``path``: the environment's project, cluster and sync policy."""
    gitops = resolution.fleet.gitops
    sync: dict[str, Any] = {
        "syncOptions": [
            "ServerSideApply=true",  # Rollouts and dashboards outgrow the last-applied annotation
            "SkipDryRunOnMissingResource=true",  # the CRDs (Argo Rollouts, KEDA, ...) may come later
            "PruneLast=true",
        ],
        "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}},
    }
    if auto_sync(env):
        sync = {"automated": {"prune": True, "selfHeal": True}, **sync}
    spec: dict[str, Any] = {}
    if env.spec.traffic.router == "gatewayAPI":
        # Argo Rollouts' Gateway API plugin moves a canary's route weights and labels the route
        # meanwhile; Argo CD must neither report nor revert that (the plugin's
        # docs/features/multiple-routes.md, "Working with GitOps controllers"). The setting
        # follows the environment, not its models, so it holds for any canary added later.
        spec["ignoreDifferences"] = [
            {
                "group": "gateway.networking.k8s.io",
                "kind": "HTTPRoute",
                "jqPathExpressions": [
                    f'select(.metadata.labels["{IN_PROGRESS_LABEL}"] == "in-progress") | .spec.rules'
                ],
            }
        ]
        sync["syncOptions"] = [*sync["syncOptions"], "RespectIgnoreDifferences=true"]
    return {
        "project": argocd_project(gitops, env),
        "source": {"repoURL": gitops.repoURL, "targetRevision": gitops.targetRevision, "path": path},
        "destination": {"server": env.spec.cluster.server, "namespace": env.spec.namespace},
        **spec,
        "syncPolicy": sync,
    }


def argocd_application(resolution: Resolution, env: ResolvedEnvironment) -> dict[str, Any]:
    gitops = resolution.fleet.gitops
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": f"{resolution.fleet.name}-{env.spec.name}",
            "namespace": controller_namespace(gitops, env),
            "labels": _labels(resolution, env),
            "finalizers": [ARGOCD_FINALIZER],
        },
        "spec": _application_spec(resolution, env, gitops.overlay_path(env.spec.name)),
    }


def argocd_application_set(resolution: Resolution, env: ResolvedEnvironment, shards: Sharding) -> dict[str, Any]:
    """One ApplicationSet whose list generator holds a shard per element: an Application per
    shard, each applying its own directory, so no object has two Applications. The list is
    written out (not a git directory generator) so the shards are in the reviewed diff and
    their names are modelfleet's, checked, not derived from paths by the controller."""
    gitops = resolution.fleet.gitops
    overlay = gitops.overlay_path(env.spec.name)
    elements = [
        {"name": shard.name, "shard": shard.key or PLATFORM_SHARD, "path": f"{overlay}/{shard.directory}"}
        for shard in shards.all
    ]
    labels = _labels(resolution, env)
    policy: dict[str, Any] = {}
    if not auto_sync(env):
        # Where a person syncs, a shard that is gone (a model switched off, a team's last
        # model moved) must not take its objects along unasked: the controller then keeps
        # its Application, for a person to delete. It heeds this only with policy override
        # on (--enable-policy-override; Argo CD's "Controlling Resource Modification").
        policy = {"syncPolicy": {"applicationsSync": "create-update"}}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {
            "name": f"{resolution.fleet.name}-{env.spec.name}",
            "namespace": controller_namespace(gitops, env),
            "labels": labels,
        },
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"list": {"elements": elements}}],
            "template": {
                "metadata": {
                    "name": "{{.name}}",
                    "labels": {**labels, SHARD_LABEL: "{{.shard}}"},
                    "finalizers": [ARGOCD_FINALIZER],
                },
                "spec": _application_spec(resolution, env, "{{.path}}"),
            },
            **policy,
        },
    }


def _git_ref(revision: str) -> dict[str, str]:
    if re.fullmatch(r"[0-9a-f]{40}", revision):
        return {"commit": revision}
    if re.fullmatch(r"v?[0-9]+\.[0-9]+\.[0-9]+([-+].*)?", revision):
        return {"tag": revision}
    return {"branch": revision}


def slowest_of(startups: Iterable[int]) -> int:
    return max(startups, default=300)


def _timeout(slowest: int) -> str:
    """Longer than the slowest model's startup budget, so `wait` never gives up early."""
    return f"{math.ceil((slowest + 300) / 60)}m"


def _kustomization(
    name: str, namespace: str, labels: dict[str, str], path: str, *, env: ResolvedEnvironment, slowest: int
) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "interval": "10m",
            "retryInterval": "2m",
            "path": f"./{path}",
            "prune": True,
            "wait": True,  # health-checks every applied object, Rollouts included
            "timeout": _timeout(slowest),
            "suspend": not auto_sync(env),
            "sourceRef": {"kind": "GitRepository", "name": ""},
        },
    }


def flux_objects(
    resolution: Resolution,
    env: ResolvedEnvironment,
    *,
    slowest_startup: int | None = None,
    shards: Sharding | None = None,
    startups: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    """A GitRepository and the Kustomization of the environment's overlay; sharded, a
    Kustomization per shard instead, each depending on the platform shard's (the Namespace
    first). ``startups``: each model's ``startup.maxSeconds``, for a shard's timeout."""
    gitops = resolution.fleet.gitops
    name = f"{resolution.fleet.name}-{env.spec.name}"
    labels = _labels(resolution, env)
    namespace = controller_namespace(gitops, env)
    repository = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"interval": "1m", "url": gitops.repoURL, "ref": _git_ref(gitops.targetRevision)},
    }
    overlay = gitops.overlay_path(env.spec.name)
    if shards is None:
        slowest = slowest_startup
        if slowest is None:
            slowest = slowest_of(m.spec.startup.maxSeconds for m in env.models)
        kustomizations = [_kustomization(name, namespace, labels, overlay, env=env, slowest=slowest)]
    else:
        times = startups or {}
        platform = shards.platform
        kustomizations = [
            _kustomization(
                platform.name, namespace, labels, f"{overlay}/{platform.directory}", env=env, slowest=slowest_of([])
            )
        ]
        for shard in shards.shards:
            slowest = slowest_of(times.get(model, 0) for model in shard.models)
            labelled = {**labels, SHARD_LABEL: shard.key}
            path = f"{overlay}/{shard.directory}"
            kustomization = _kustomization(shard.name, namespace, labelled, path, env=env, slowest=slowest)
            kustomization["spec"]["dependsOn"] = [{"name": platform.name}]
            kustomizations.append(kustomization)
    for kustomization in kustomizations:
        kustomization["spec"]["sourceRef"]["name"] = name
    return [repository, *kustomizations]


def gitops_objects(
    resolution: Resolution,
    env: ResolvedEnvironment,
    *,
    slowest_startup: int | None = None,
    shards: Sharding | None = None,
    startups: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    """The controller's objects for ``env``. ``slowest_startup``: the largest
    ``startup.maxSeconds`` of the environment's models, when ``env.models`` is not all of them.
    ``shards``: the environment's shards, when it has more than one (``startups`` then gives
    each model's ``startup.maxSeconds``)."""
    if resolution.fleet.gitops.controller == "flux":
        return flux_objects(resolution, env, slowest_startup=slowest_startup, shards=shards, startups=startups)
    if shards is not None:
        return [argocd_application_set(resolution, env, shards)]
    return [argocd_application(resolution, env)]
