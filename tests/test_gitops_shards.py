"""GitOps that shards (fleet.gitops.shardBy, an environment's gitops.shardBy): per team or
per model, an environment is applied by an Application per shard (one Argo CD
ApplicationSet) or a Kustomization per shard (Flux, each depending on the platform shard's).

What a user relies on, proven with `kubectl kustomize` on the rendered files: the
directories the controller objects point at exist, build, and together hold exactly the
environment's objects, no object in two of them (no two Applications own one object); the
overlay as a whole still builds to the resolved objects. And the cases that bite: a model
moved to another team (with the cache of the render before), a
team with a single model, a model switched off in an environment, Flux's dependsOn naming
Kustomizations that exist; every new object passes its upstream CRD schema, which rejects
a broken field; names that would break are located errors.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import pipeline
from generator.check.crdschema import crd_errors, has_schema
from generator.check.schemas import check_gitops
from generator.cli import main
from generator.commands.delta import Delta, attempt_delta
from generator.incremental.cache import UnitCache
from generator.output.overlay import identity, json_patch
from tests.test_kustomize import kustomize

REPO = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("dev", "prod", "staging")
Identity = tuple[str, str, str]
FLEET_GITOPS = "    targetRevision: main\n"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {path.name} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _shard_fleet(root: Path, by: str, *, controller: str = "argocd") -> Path:
    """The example fleet sharded ``by`` team or model fleet-wide; sentiment joins churn-model's
    team, so team-growth has two models and the others one each."""
    _edit(root / "models.yaml", FLEET_GITOPS, f"{FLEET_GITOPS}    shardBy: {by}\n")
    _edit(root / "models.yaml", "owner: team-retention", "owner: team-growth")
    if controller == "flux":
        _edit(root / "models.yaml", "controller: argocd", "controller: flux")
        # Flux would reset a Gateway API canary's weights (a finding): nginx in prod
        _edit(root / "environments" / "prod.yaml", "router: gatewayAPI", "router: nginx")
    return root


def _render(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, list[dict[str, Any]]]:
    """``modelfleet render``, then each environment's rendered/gitops/<env>.yaml."""
    code = main(["--root", str(root), "render"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return {
        path.stem: list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        for path in sorted((root / "rendered" / "gitops").glob("*.yaml"))
    }


def _shard_paths(objects: list[dict[str, Any]]) -> dict[str, str]:
    """Shard name -> the repository path its Application or Kustomization applies."""
    paths: dict[str, str] = {}
    for obj in objects:
        if obj["kind"] == "ApplicationSet":
            for generator in obj["spec"]["generators"]:
                for element in generator["list"]["elements"]:
                    paths[element["name"]] = element["path"]
        elif obj["kind"] == "Kustomization":
            paths[obj["metadata"]["name"]] = obj["spec"]["path"].removeprefix("./")
    return paths


def _by_identity(objects: list[dict[str, Any]]) -> dict[Identity, dict[str, Any]]:
    table = {identity(obj): obj for obj in objects}
    assert len(table) == len(objects), "two objects share apiVersion group, kind and name"
    return table


def _assert_shards_are_the_overlay(root: Path, env: str, paths: dict[str, str]) -> dict[str, set[Identity]]:
    """Each shard builds; no object is in two shards; together they are the whole overlay,
    object for object; and the overlay builds to what the generator resolved. The shards'
    objects, by shard name."""
    whole = _by_identity(kustomize(root / "rendered" / "overlays" / env))
    owner: dict[Identity, str] = {}
    held: dict[str, set[Identity]] = {}
    for name, path in sorted(paths.items()):
        assert path.startswith(f"rendered/overlays/{env}/"), path
        objects = _by_identity(kustomize(root / path))
        assert objects, f"shard {name} ({path}) applies nothing"
        held[name] = set(objects)
        for key, obj in objects.items():
            assert key not in owner, f"{key} is in shards {owner[key]} and {name}"
            owner[key] = name
            assert key in whole, f"{key} of shard {name} is not in the overlay"
            assert json_patch(whole[key], obj) == [], f"{key} differs in shard {name}"
    assert sorted(owner) == sorted(whole), "objects of the overlay in no shard"
    [output] = [e for e in pipeline.render(root).environments if e.name == env]
    expected = _by_identity([json.loads(json.dumps(o)) for o in output.objects])
    assert sorted(expected) == sorted(whole)
    for key, obj in expected.items():
        assert json_patch(whole[key], obj) == [], f"{key} differs after kustomize"
    return held


def _models_in(held: dict[str, set[Identity]]) -> dict[str, set[str]]:
    """Shard name -> the models whose Deployment or Rollout it applies."""
    return {name: {n for _, kind, n in ids if kind in {"Deployment", "Rollout"}} for name, ids in held.items()}


@pytest.mark.parametrize("controller", ["argocd", "flux"])
@pytest.mark.parametrize("by", ["team", "model"])
def test_shards_together_are_the_overlay(
    by: str, controller: str, example_fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gitops = _render(_shard_fleet(example_fleet, by, controller=controller), capsys)
    for env in ENVIRONMENTS:
        for obj in gitops[env]:
            assert has_schema(obj["apiVersion"], obj["kind"]) and crd_errors(obj) == [], obj
        paths = _shard_paths(gitops[env])
        models = _models_in(_assert_shards_are_the_overlay(example_fleet, env, paths))
        assert models.pop(f"acme-ml-{env}-platform") == set()  # the Namespace alone
        if by == "team":
            assert models[f"acme-ml-{env}-team-growth"] == {"sentiment", "churn-model"}
            assert models[f"acme-ml-{env}-team-risk"] == {"fraud-detector"}  # a team with one model
        else:
            assert models[f"acme-ml-{env}-sentiment"] == {"sentiment"}
        # support-llm is switched off in dev: its team (or it) has no shard there
        shard = f"acme-ml-{env}-team-support" if by == "team" else f"acme-ml-{env}-support-llm"
        assert (shard in models) == (env != "dev"), sorted(models)
        assert len(models) == (4 if by == "team" else 5) - (env == "dev")
    assert not (example_fleet / "rendered" / "overlays" / "dev" / "models" / "support-llm").exists()


def test_argocd_applicationset_applications(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One ApplicationSet per environment, a list element per shard: names are DNS labels of
    at most 63 characters, each Application applies its own directory, prod syncs by hand."""
    gitops = _render(_shard_fleet(example_fleet, "team"), capsys)
    for env in ENVIRONMENTS:
        (appset,) = gitops[env]
        assert appset["kind"] == "ApplicationSet"
        assert appset["metadata"]["name"] == f"acme-ml-{env}"
        (generator,) = appset["spec"]["generators"]
        elements = generator["list"]["elements"]
        names = [e["name"] for e in elements]
        assert len(set(names)) == len(names)
        assert len({e["path"] for e in elements}) == len(elements)
        assert all(len(n) <= 63 and n == n.lower() for n in names)
        template = appset["spec"]["template"]
        assert template["metadata"]["name"] == "{{.name}}"
        assert template["spec"]["source"]["path"] == "{{.path}}"
        assert template["spec"]["destination"]["namespace"] == f"ml-{env}"
        assert ("automated" in template["spec"]["syncPolicy"]) == (env != "prod")
        # where a person syncs, a shard that goes away keeps its Application (and objects)
        policy = appset["spec"].get("syncPolicy")
        assert policy == ({"applicationsSync": "create-update"} if env == "prod" else None)


def test_flux_depends_on_names_existing_kustomizations(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gitops = _render(_shard_fleet(example_fleet, "team", controller="flux"), capsys)
    for env in ENVIRONMENTS:
        repository, platform, *shards = gitops[env]
        assert repository["kind"] == "GitRepository"
        kustomizations = {(k["metadata"]["namespace"], k["metadata"]["name"]) for k in (platform, *shards)}
        assert platform["metadata"]["name"] == f"acme-ml-{env}-platform"
        assert platform["spec"]["path"] == f"./rendered/overlays/{env}/platform"
        assert "dependsOn" not in platform["spec"]
        assert shards
        for shard in (platform, *shards):
            assert shard["kind"] == "Kustomization"
            assert shard["spec"]["sourceRef"] == {"kind": "GitRepository", "name": repository["metadata"]["name"]}
            assert shard["spec"]["suspend"] is (env == "prod")
        for shard in shards:
            for dependency in shard["spec"]["dependsOn"]:
                namespace = dependency.get("namespace", shard["metadata"]["namespace"])
                assert (namespace, dependency["name"]) in kustomizations, dependency
            assert shard["spec"]["dependsOn"] == [{"name": platform["metadata"]["name"]}]
    by_name = {k["metadata"]["name"]: k for k in gitops["prod"][1:]}
    # the timeout outlasts the slowest startup of the shard's own models: support-llm's 900 s
    assert by_name["acme-ml-prod-team-support"]["spec"]["timeout"] == "20m"
    assert by_name["acme-ml-prod-team-risk"]["spec"]["timeout"] != "20m"


def _tree(root: Path) -> dict[str, bytes]:
    target = root / "rendered"
    return {p.relative_to(target).as_posix(): p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()}


def _age(root: Path) -> None:
    """Inputs older than the racy window, so the render's record is kept for the next one."""
    past = time.time() - 3600
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


def test_model_moved_between_teams(
    example_fleet: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """fraud-detector, team-risk's only model, moves to team-vision (an edit of its entry in
    models.yaml: the delta path): team-risk's shard and directory go away, team-vision's
    applies both models, and the result is byte for byte a render from scratch."""
    from generator.commands.delta import Delta, attempt_delta
    from generator.incremental.cache import UnitCache

    root = _shard_fleet(example_fleet, "team")
    _render(root, capsys)
    _age(root)
    _render(root, capsys)
    _edit(root / "models.yaml", "owner: team-risk", "owner: team-vision")
    delta = attempt_delta(root, UnitCache(root), time.time_ns())
    assert isinstance(delta, Delta), delta
    gitops = _render(root, capsys)
    monkeypatch.setenv("MODELFLEET_NO_CACHE", "1")
    assert _tree(root) == {**pipeline.render(root).plan.files}
    for env in ENVIRONMENTS:
        models = _models_in(_assert_shards_are_the_overlay(root, env, _shard_paths(gitops[env])))
        assert models[f"acme-ml-{env}-team-vision"] == {"fraud-detector", "image-classifier"}
        assert f"acme-ml-{env}-team-risk" not in models
        assert not (root / "rendered" / "overlays" / env / "teams" / "team-risk").exists()
    assert main(["--root", str(root), "render", "--check"]) == 0, capsys.readouterr().err


def test_an_override_edit_in_a_sharded_environment_takes_the_delta_path(
    example_fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model's files live in its own directory when sharded: the delta path rebuilds them
    there, and its plan is byte for byte a render from scratch."""
    root = _shard_fleet(example_fleet, "model")
    _age(root)
    _render(root, capsys)
    before = _tree(root)
    _edit(root / "environments" / "prod.yaml", "scaling: {maxReplicas: 60}", "scaling: {maxReplicas: 61}")
    delta = attempt_delta(root, UnitCache(root), time.time_ns())
    assert isinstance(delta, Delta), delta
    planned = {p: before[p] if isinstance(v, str) else v for p, v in delta.files.items()}
    assert planned == pipeline.render(root).plan.files
    rebuilt = sorted(p for p, v in delta.files.items() if isinstance(v, bytes))
    assert "overlays/prod/models/fraud-detector/patches/fraud-detector-horizontalpodautoscaler.yaml" in rebuilt


def test_only_the_environment_that_opts_in_changes(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    committed = _tree(REPO)
    prod = example_fleet / "environments" / "prod.yaml"
    _edit(prod, "kubernetesVersion:", "gitops: {shardBy: model}\nkubernetesVersion:")
    gitops = _render(example_fleet, capsys)
    after = _tree(example_fleet)
    changed = {p for p in set(committed) | set(after) if committed.get(p) != after.get(p)}
    assert changed, "prod is sharded"
    assert all(p.startswith("overlays/prod/") or p == "gitops/prod.yaml" for p in changed), sorted(changed)
    assert not (example_fleet / "rendered" / "overlays" / "prod" / "patches").exists()  # moved under models/
    (dev,) = gitops["dev"]
    assert dev["kind"] == "Application"
    _assert_shards_are_the_overlay(example_fleet, "prod", _shard_paths(gitops["prod"]))


def _set(obj: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(obj)
    target: Any = broken
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return broken


# (field, a broken value, the error's path, part of its message)
BROKEN_APPLICATIONSET = [
    (("spec", "generators", 0, "list", "elementz"), [], "spec.generators[0].list.elementz", "unknown field"),
    (("spec", "template", "spec", "source", "pathh"), "x", "spec.template.spec.source.pathh", "did you mean 'path'"),
    (("spec", "goTemplate"), "yes", "spec.goTemplate", "'yes' is not of type 'boolean'"),
    (("spec", "template", "metadata", "labelz"), {}, "spec.template.metadata.labelz", "unknown field"),
]
BROKEN_KUSTOMIZATION = [
    (("spec", "dependsOn", 0, "nam"), "x", "spec.dependsOn[0].nam", "did you mean 'name'"),
    (("spec", "dependsOn"), [{"namespace": "flux-system"}], "spec.dependsOn[0]", "missing required field 'name'"),
    (("spec", "dependsOn"), "acme-ml-dev-platform", "spec.dependsOn", "is not of type 'array'"),
]


def _rejects(obj: dict[str, Any], cases: list[tuple[tuple[str | int, ...], Any, str, str]]) -> None:
    for field, value, where, message in cases:
        errors = crd_errors(_set(obj, field, value))
        assert any(e.path == where and message in e.message for e in errors), (field, errors)


def test_crd_schemas_reject_a_broken_field(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (appset,) = _render(_shard_fleet(example_fleet, "model"), capsys)["dev"]
    assert crd_errors(appset) == []
    _rejects(appset, BROKEN_APPLICATIONSET)
    # the render's own check of rendered/gitops/<env>.yaml is the same schema
    field, value, where, message = BROKEN_APPLICATIONSET[0]
    (finding,) = check_gitops("dev", [_set(appset, field, value)])
    assert finding.location is not None and finding.location.file == "rendered/gitops/dev.yaml"
    assert where in f"{finding.path} {finding.message}" and message in finding.message, finding
    models = example_fleet / "models.yaml"
    _edit(models, "controller: argocd", "controller: flux")
    _edit(example_fleet / "environments" / "prod.yaml", "router: gatewayAPI", "router: nginx")
    _, _, shard, *_ = _render(example_fleet, capsys)["dev"]
    assert shard["spec"]["dependsOn"] and crd_errors(shard) == []
    _rejects(shard, BROKEN_KUSTOMIZATION)


# (text in models.yaml, its replacement, where the error points, part of its message)
NAME_ERRORS = {
    "two owners alike": (
        "owner: team-retention",
        "owner: Team_Growth",
        "models.yaml:134:12",  # sentiment's owner, team-growth; churn-model's comes first
        "teams 'Team_Growth' and 'team-growth' would both name the shard <fleet>-<environment>-team-growth",
    ),
    "a team named platform": (
        "owner: team-risk",
        "owner: platform",
        "models.yaml:45:12",
        "team 'platform' would give its shard the name of the environment's platform shard",
    ),
    "a long name": (
        "name: acme-ml\n",
        "name: acme-machine-learning-fleet-of-the-risk-department\n",
        "models.yaml:134:12",
        "would be named acme-machine-learning-fleet-of-the-risk-department-staging-team-growth in staging, "
        "70 characters",
    ),
}


@pytest.mark.parametrize("case", sorted(NAME_ERRORS))
def test_names_that_break_are_located_errors(
    case: str, example_fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new, where, message = NAME_ERRORS[case]
    _edit(example_fleet / "models.yaml", FLEET_GITOPS, f"{FLEET_GITOPS}    shardBy: team\n")
    _edit(example_fleet / "models.yaml", old, new)
    assert main(["--root", str(example_fleet), "validate"]) == 1
    err = capsys.readouterr().err
    assert f"{where}: error: " in err and message in err, err
    assert err.count(message) == 1, err  # once, not once per environment
    assert "Traceback" not in err
