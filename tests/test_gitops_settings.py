"""The GitOps settings (fleet.gitops.path, project and namespace, an environment's
gitops.project and namespace) as a user sees them: in the rendered Application or
Kustomization files, which still pass the upstream CRD schemas, and as located errors when
a value is bad. And GitHub annotations that name files from the repository's top."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from generator.check.crdschema import crd_errors, has_schema
from generator.cli import main

BASE = Path(__file__).resolve().parent / "invalid" / "_base"
FLEET_GITOPS = "    targetRevision: main\n"
ENV_GITOPS = "kubernetesVersion:"  # an environment's gitops: goes on the line before


class Edit(NamedTuple):
    """Setting ``text`` in file ``name`` (after ``models.yaml``'s gitops, or before an
    environment's kubernetesVersion) and the field path that an error in it names."""

    name: str
    text: str
    field: str

    def apply(self, root: Path) -> None:
        if self.name == "models.yaml":
            _edit(root, self.name, FLEET_GITOPS, FLEET_GITOPS + self.text)
        else:
            _edit(root, self.name, ENV_GITOPS, self.text + ENV_GITOPS)


def _fleet(tmp_path: Path) -> Path:
    root = tmp_path / "fleet"
    shutil.copytree(BASE, root)
    return root


def _edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {name} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _render(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, list[dict[str, Any]]]:
    """Render with the CLI and read each environment's rendered/gitops/<env>.yaml."""
    code = main(["--root", str(root), "render"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    objects = {
        path.stem: list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        for path in sorted((root / "rendered" / "gitops").glob("*.yaml"))
    }
    for env_objects in objects.values():
        for obj in env_objects:
            assert has_schema(obj["apiVersion"], obj["kind"]), obj["kind"]  # the vendored upstream CRD schema
            assert crd_errors(obj) == [], obj
    return objects


def test_defaults_are_the_controllers_usual_places(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    objects = _render(_fleet(tmp_path), capsys)
    (app,) = objects["dev"]
    assert app["metadata"]["namespace"] == "argocd"
    assert app["spec"]["project"] == "default"
    assert app["spec"]["source"]["path"] == "rendered/overlays/dev"


def test_argocd_settings_and_environment_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _fleet(tmp_path)
    settings = "    targetRevision: main\n    path: teams/search/rendered\n    project: ml\n    namespace: gitops\n"
    _edit(root, "models.yaml", FLEET_GITOPS, settings)
    Edit("environments/prod.yaml", "gitops: {project: ml-prod, namespace: argocd-prod}\n", "gitops").apply(root)
    objects = _render(root, capsys)
    (dev,) = objects["dev"]
    (prod,) = objects["prod"]
    assert (dev["metadata"]["namespace"], dev["spec"]["project"]) == ("gitops", "ml")
    assert (prod["metadata"]["namespace"], prod["spec"]["project"]) == ("argocd-prod", "ml-prod")
    assert dev["spec"]["source"]["path"] == "teams/search/rendered/overlays/dev"
    assert prod["spec"]["source"]["path"] == "teams/search/rendered/overlays/prod"


def test_flux_settings_and_environment_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _fleet(tmp_path)
    _edit(root, "models.yaml", "controller: argocd", "controller: flux")
    Edit("models.yaml", "    path: deploy/rendered\n", "fleet.gitops.path").apply(root)
    Edit("environments/prod.yaml", "gitops: {namespace: flux-prod}\n", "gitops").apply(root)
    objects = _render(root, capsys)
    for env, namespace in (("dev", "flux-system"), ("prod", "flux-prod")):
        repository, kustomization = objects[env]
        assert repository["metadata"]["namespace"] == kustomization["metadata"]["namespace"] == namespace
        assert kustomization["spec"]["path"] == f"./deploy/rendered/overlays/{env}"


def test_path_dot_is_the_repository_top(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _fleet(tmp_path)
    Edit("models.yaml", "    path: .\n", "fleet.gitops.path").apply(root)
    (app,) = _render(root, capsys)["dev"]
    assert app["spec"]["source"]["path"] == "overlays/dev"


def test_path_is_not_guessed_from_the_checkout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A fleet in a subdirectory of a Git repository renders the same bytes as anywhere
    else: the path is the spec's (fleet.gitops.path), not the checkout's."""
    repository = tmp_path / "repo"
    (repository / ".git").mkdir(parents=True)
    root = repository / "fleet"
    shutil.copytree(BASE, root)
    (app,) = _render(root, capsys)["dev"]
    assert app["spec"]["source"]["path"] == "rendered/overlays/dev"


# What is set, where an error points, the bad value as written and part of the message.
BAD = [
    (Edit("models.yaml", "    project: ML_Team\n", "fleet.gitops.project"), "ML_Team", "not a valid Kubernetes object"),
    (Edit("models.yaml", "    namespace: Argo.CD\n", "fleet.gitops.namespace"), "Argo.CD", "not a valid name"),
    (Edit("models.yaml", "    path: ../rendered\n", "fleet.gitops.path"), "../rendered", "leaves the repository"),
    (Edit("models.yaml", "    path: /srv/rendered\n", "fleet.gitops.path"), "/srv/rendered", "is an absolute path"),
    (Edit("models.yaml", "    path: a/./rendered/\n", "fleet.gitops.path"), "a/./rendered/", "is not normalised"),
    (Edit("models.yaml", "    path: a\\rendered\n", "fleet.gitops.path"), "a\\rendered", "holds '\\'"),
    (Edit("environments/prod.yaml", "gitops: {namespace: -prod}\n", "gitops.namespace"), "-prod", "not a valid name"),
    (Edit("environments/prod.yaml", "gitops: {project: a_b}\n", "gitops.project"), "a_b", "not a valid Kubernetes"),
]


@pytest.mark.parametrize(("edit", "value", "message"), BAD)
def test_bad_value_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Edit, value: str, message: str
) -> None:
    root = _fleet(tmp_path)
    edit.apply(root)
    code = main(["--root", str(root), "validate", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 1
    (error,) = json.loads(out)["errors"]
    lines = (root / edit.name).read_text(encoding="utf-8").splitlines()
    setting = f"{edit.field.rsplit('.', 1)[1]}: {value}"
    line = next(number for number, text in enumerate(lines, start=1) if setting in text)
    assert (error["file"], error["line"], error["column"]) == (edit.name, line, lines[line - 1].index(value) + 1)
    assert error["path"] == edit.field
    assert message in error["message"] and error["hint"]


@pytest.mark.parametrize(
    "edit",
    [
        Edit("models.yaml", "    project: ml\n", "fleet.gitops.project"),
        Edit("environments/prod.yaml", "gitops: {project: ml}\n", "gitops.project"),
    ],
)
def test_project_needs_argocd(tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Edit) -> None:
    """An Argo CD project under Flux would be ignored silently: it is an error, fleet-wide
    and in an environment."""
    root = _fleet(tmp_path)
    _edit(root, "models.yaml", "controller: argocd", "controller: flux")
    edit.apply(root)
    code = main(["--root", str(root), "validate", "--format", "json"])
    (error,) = json.loads(capsys.readouterr().out)["errors"]
    assert code == 1
    assert (error["file"], error["path"]) == (edit.name, edit.field)
    assert "is an Argo CD project, and" in error["message"] and "flux" in error["message"]
    line = (root / edit.name).read_text(encoding="utf-8").splitlines()[error["line"] - 1]
    assert line[error["column"] - 1 :].startswith("ml"), line
    assert error["hint"].startswith("remove project")


def _github(root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    Edit("models.yaml", "    project: ML_Team\n", "fleet.gitops.project").apply(root)
    code = main(["--root", str(root), "validate", "--format", "github"])
    assert code == 1
    return capsys.readouterr().out


def test_github_annotations_name_files_from_the_repository_top(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repository = tmp_path / "repo"
    (repository / ".git").mkdir(parents=True)
    root = repository / "fleet"
    shutil.copytree(BASE, root)
    out = _github(root, capsys)
    assert out.startswith("::error file=fleet/models.yaml,line="), out


def test_github_annotations_in_a_worktree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A linked worktree or submodule has a .git file, not a directory."""
    repository = tmp_path / "repo"
    root = repository / "ml" / "fleet"
    shutil.copytree(BASE, root)
    (repository / ".git").write_text("gitdir: /elsewhere/.git/worktrees/repo\n", encoding="utf-8")
    assert _github(root, capsys).startswith("::error file=ml/fleet/models.yaml,line=")


def test_github_annotations_outside_a_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if any((directory / ".git").exists() for directory in tmp_path.resolve().parents):
        pytest.skip("the temporary directory is inside a Git repository")
    root = _fleet(tmp_path)
    assert _github(root, capsys).startswith("::error file=models.yaml,line=")


def test_github_annotations_at_the_repository_top(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _fleet(tmp_path)
    (root / ".git").mkdir()
    assert _github(root, capsys).startswith("::error file=models.yaml,line=")


def test_a_changed_setting_reaches_a_cached_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The unit cache keys the GitOps objects on the settings: a second render after an
    edit writes the new namespace, and `render --check` agrees."""
    root = _fleet(tmp_path)
    assert _render(root, capsys)["prod"][0]["metadata"]["namespace"] == "argocd"
    Edit("environments/prod.yaml", "gitops: {namespace: argocd-prod}\n", "gitops").apply(root)
    assert _render(root, capsys)["prod"][0]["metadata"]["namespace"] == "argocd-prod"
    assert main(["--root", str(root), "render", "--check"]) == 0, capsys.readouterr().err
