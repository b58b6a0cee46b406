"""GitOps controller objects: one per environment, applying that environment's overlay;
automatic sync everywhere but prod unless the environment's policy says otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generator.check.crdschema import crd_errors
from generator.pipeline import render

REPO = Path(__file__).resolve().parent.parent


def _gitops(root: Path) -> dict[str, tuple[dict[str, Any], ...]]:
    return {e.name: e.gitops for e in render(root).environments}


def test_argocd_application_per_environment() -> None:
    objects = _gitops(REPO)
    assert sorted(objects) == ["dev", "prod", "staging"]
    for env, (app,) in objects.items():
        assert crd_errors(app) == []
        assert app["kind"] == "Application"
        assert app["spec"]["source"]["path"] == f"rendered/overlays/{env}"
        assert app["spec"]["destination"]["namespace"] == f"ml-{env}"
        assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
    assert objects["dev"][0]["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "automated" not in objects["prod"][0]["spec"]["syncPolicy"], "prod syncs by hand by default"


def test_policy_can_turn_auto_sync_on_in_prod(example_fleet: Path) -> None:
    prod = example_fleet / "environments" / "prod.yaml"
    prod.write_text(prod.read_text().replace("policy: {", "policy: {autoSync: true, "))
    (app,) = _gitops(example_fleet)["prod"]
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_flux_objects(example_fleet: Path) -> None:
    models = example_fleet / "models.yaml"
    models.write_text(models.read_text().replace("controller: argocd", "controller: flux"))
    prod = example_fleet / "environments" / "prod.yaml"  # Flux would reset a Gateway API canary's weights
    prod.write_text(prod.read_text().replace("router: gatewayAPI", "router: nginx"))
    objects = _gitops(example_fleet)
    for env, (repository, kustomization) in objects.items():
        assert crd_errors(repository) == [] and crd_errors(kustomization) == []
        assert repository["spec"]["ref"] == {"branch": "main"}
        assert kustomization["spec"]["path"] == f"./rendered/overlays/{env}"
        assert kustomization["spec"]["prune"] is True and kustomization["spec"]["wait"] is True
        assert kustomization["spec"]["sourceRef"] == {"kind": "GitRepository", "name": repository["metadata"]["name"]}
    assert objects["prod"][1]["spec"]["suspend"] is True
    assert objects["dev"][1]["spec"]["suspend"] is False
    # support-llm (prod only) starts within 900 s: the timeout must exceed it
    assert objects["prod"][1]["spec"]["timeout"] == "20m"
