"""How a GitOps controller reaches rendered/: the repository, revision and path it reads
(fleet-wide in models.yaml), and the Argo CD project and controller namespace of the
objects, set fleet-wide and overridable per environment (a cluster's own Argo CD or Flux,
an AppProject per environment)."""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from generator.spec.base import Spec, field_error, spec_error
from generator.spec.names import DNSLabel, DNSSubdomain, Url

DEFAULT_NAMESPACES = {"argocd": "argocd", "flux": "flux-system"}
DEFAULT_PROJECT = "default"
DEFAULT_PATH = "rendered"

# '.', or '/'-separated segments with no empty, '.' or '..' one and no backslash.
REPO_PATH_PATTERN = r"^(\.|(?!/)(?!.*//)(?!.*/$)(?!(.*/)?\.\.?(/|$))[^\\\x00-\x1f\x7f]+)$"
REPO_PATH_RE = re.compile(REPO_PATH_PATTERN)


def _check_repo_path(value: str) -> str:
    if REPO_PATH_RE.match(value):
        return value
    if value.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", value):
        raise spec_error(f"'{value}' is an absolute path", "give the path from the top of the repository at repoURL")
    if "\\" in value:
        raise spec_error(f"'{value}' holds '\\'", "separate directories with '/'")
    normal = posixpath.normpath(value) if value else ""
    if normal == ".." or normal.startswith("../"):
        raise spec_error(f"'{value}' leaves the repository", "give the path from the top of the repository at repoURL")
    if not value or re.search(r"[\x00-\x1f\x7f]", value):
        raise spec_error(f"'{value}' is not a path", "for example 'rendered' or 'teams/search/rendered'")
    raise spec_error(f"'{value}' is not normalised (an empty, '.' or '..' segment)", f"write '{normal}'")


RepoPath = Annotated[
    str, AfterValidator(_check_repo_path), WithJsonSchema({"type": "string", "pattern": REPO_PATH_PATTERN})
]


class GitOps(Spec):
    controller: Literal["argocd", "flux"] = Field(
        "argocd", description="GitOps controller that applies rendered/: argocd or flux."
    )
    repoURL: Url = Field(description="Git URL of the repository holding rendered/.")
    targetRevision: str = Field("main", min_length=1, description="Branch, tag or commit the controller follows.")
    path: RepoPath = Field(
        DEFAULT_PATH,
        description="Where rendered/ is in the repository at repoURL, from its top: the controller applies "
        "<path>/overlays/<env>. '.' when rendered/'s content is the top of the repository. Set it when "
        "models.yaml is not at the top, as with several fleets in one repository (teams/search/rendered). "
        "It is not guessed from the checkout: the output depends on the fleet's files alone, and repoURL may "
        "name another repository than the one holding the fleet.",
    )
    project: DNSSubdomain = Field(
        DEFAULT_PROJECT,
        description="Argo CD project (AppProject) of the Applications; an environment's gitops.project "
        "overrides it. Argo CD only.",
    )
    namespace: DNSLabel | None = Field(
        None,
        description="Namespace of the controller's objects (the Argo CD Applications, or the Flux "
        "GitRepositories and Kustomizations), one the controller watches; an environment's "
        "gitops.namespace overrides it. Unset: argocd for Argo CD, flux-system for Flux.",
    )

    @model_validator(mode="after")
    def _project_needs_argocd(self) -> Self:
        if self.controller != "argocd" and self.project != DEFAULT_PROJECT:
            raise field_error(
                f"'{self.project}' is an Argo CD project, and the controller is {self.controller}, which has none",
                "remove project, or set controller: argocd",
                "project",
            )
        return self

    def overlay_path(self, env: str) -> str:
        """The path of ``env``'s overlay from the top of the repository."""
        return f"overlays/{env}" if self.path == "." else f"{self.path}/overlays/{env}"


class EnvironmentGitOps(Spec):
    project: DNSSubdomain | None = Field(
        None, description="Argo CD project of this environment's Application. Unset: fleet.gitops.project."
    )
    namespace: DNSLabel | None = Field(
        None,
        description="Namespace of this environment's controller objects, as for a cluster with an Argo CD or "
        "Flux of its own. Unset: fleet.gitops.namespace.",
    )
