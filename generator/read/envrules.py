"""What a model needs of the environment it runs in, beyond its own spec: a traffic router
for what it exposes and for a router wake-up (Flux cannot hold a Gateway API canary's
weights), an Argo CD project only where Argo CD applies the environment, and platform
label values that stay label values once {model} is filled in. Part of resolve: each
finding points at the field that asks for it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from generator.errors import Finding
from generator.read.load import Document, FieldPath
from generator.spec.environment import EnvironmentFile
from generator.spec.fleet import Fleet
from generator.spec.model import ModelSpec
from generator.spec.names import LABEL_VALUE_RE
from generator.spec.platform import Platform


class LocatedModel(Protocol):
    """What the rules read of a resolved model: its spec, the fleet, where a field was set."""

    @property
    def spec(self) -> ModelSpec: ...

    @property
    def fleet(self) -> Fleet: ...

    def locate(self, path: FieldPath) -> tuple[Document, FieldPath]: ...


def traffic_findings(model: LocatedModel, env: EnvironmentFile) -> list[Finding]:
    """Exposure, routed canaries and router wake-ups need the environment's router."""
    spec, router = model.spec, env.traffic.router
    findings: list[Finding] = []

    def add(path: FieldPath, message: str, hint: str) -> None:
        document, doc_path = model.locate(path)
        findings.append(document.finding(doc_path, message, hint))

    if spec.expose is not None and router == "none":
        add(
            ("expose",),
            f"{spec.name} is exposed, but environment {env.name} has no traffic router",
            f"set traffic.router (gatewayAPI or nginx) in environments/{env.name}.yaml, "
            f"or models.{spec.name}.expose: null there",
        )
    wake = spec.scaling.wakeUp
    if wake is not None and wake.router:
        if router != "nginx":
            why = " (Gateway API implementations each count requests their own way)" if router != "none" else ""
            add(
                ("scaling", "wakeUp", "router"),
                f"scaling.wakeUp.router reads ingress-nginx's request count, and environment {env.name}'s router is "
                f"{router}{why}",
                "set traffic.router: nginx there, or use scaling.wakeUp.query with a signal of your own "
                "(your gateway's request count for this route, a queue length)",
            )
        elif spec.expose is None:
            add(
                ("scaling", "wakeUp", "router"),
                f"scaling.wakeUp.router counts the requests of {spec.name}'s Ingress, and the model is not exposed",
                "set expose.host (the Ingress is what the router counts)",
            )
    canary_behind_gateway = spec.rollout.strategy == "canary" and spec.expose is not None and router == "gatewayAPI"
    if canary_behind_gateway and model.fleet.gitops.controller == "flux":
        add(
            ("rollout", "strategy"),
            f"a canary behind the Gateway API in {env.name} needs the controller that applies rendered/ to leave "
            "the HTTPRoute's weights alone while Argo Rollouts moves them; Flux reverts them on every reconcile",
            "use traffic.router: nginx there (Argo Rollouts then adds a canary Ingress of its own), "
            "or fleet.gitops.controller: argocd",
        )
    return findings


def gitops_findings(document: Document, env: EnvironmentFile, fleet: Fleet) -> list[Finding]:
    """An environment's gitops.project names an Argo CD project: Flux has none to put it in."""
    controller = fleet.gitops.controller
    if env.gitops.project is None or controller == "argocd":
        return []
    return [
        document.finding(
            ("gitops", "project"),
            f"'{env.gitops.project}' is an Argo CD project, and fleet.gitops.controller is {controller}, "
            "which has none",
            "remove project here, or set fleet.gitops.controller: argocd in models.yaml",
        )
    ]


def platform_label_findings(
    document: Document, prefix: FieldPath, platform: Platform, models: Sequence[str]
) -> list[Finding]:
    """Platform label values that hold {model} must stay label values for every model's name."""
    findings: list[Finding] = []
    for section in ("serviceAccount", "pods", "services", "monitoring", "dashboards"):
        for key, value in getattr(platform, section).labels.items():
            if "{model}" not in value:
                continue
            for model in models:
                shown = value.replace("{model}", model)
                if len(shown) > 63 or not LABEL_VALUE_RE.match(shown):
                    findings.append(
                        document.finding(
                            (*prefix, section, "labels", key),
                            f"with model {model}, label {key} would be '{shown}', not a label value "
                            "(at most 63 letters, digits, '-', '_' or '.')",
                            "shorten the value, or move {model} into an annotation",
                        )
                    )
                    break
    return findings
