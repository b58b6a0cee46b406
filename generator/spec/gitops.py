"""How a GitOps controller reaches rendered/: the repository, revision and path it reads
(fleet-wide in models.yaml), and the Argo CD project and controller namespace of the
objects, set fleet-wide and overridable per environment (a cluster's own Argo CD or Flux,
an AppProject per environment)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from generator.spec.base import Spec, field_error, spec_error
from generator.spec.names import DNSLabel, DNSSubdomain, Url

DEFAULT_NAMESPACES = {"argocd": "argocd", "flux": "flux-system"}
DEFAULT_PROJECT = "default"
DEFAULT_PATH = "rendered"

ShardBy = Literal["environment", "team", "model"]
SHARD_BY_HELP = (
    "How many Argo CD Applications (through an ApplicationSet) or Flux Kustomizations apply an "
    "environment: environment (one for all of it), team (one per model owner, plus one for the "
    "environment's shared objects that the others depend on) or model (one per model, plus that one). "
    "docs/scale.md says which to choose at which size."
)

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
    shardBy: ShardBy = Field(
        "environment", description=f"{SHARD_BY_HELP} An environment's gitops.shardBy overrides it."
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
    shardBy: ShardBy | None = Field(None, description=f"{SHARD_BY_HELP} Unset: fleet.gitops.shardBy.")


def team_slug(owner: str) -> str:
    """A team's part of a shard's name: the owner label value in lower case, with every run of
    characters other than a-z and 0-9 made one '-' ('Team_Risk' -> 'team-risk'); '' when none is left."""
    return re.sub(r"[^a-z0-9]+", "-", owner.lower()).strip("-")


PLATFORM_SHARD = "platform"  # the platform shard's name is <fleet>-<env>-platform
PLATFORM_DIR = "platform"  # under overlays/<env>/: the environment's shared objects (its Namespace)
MAX_SHARD_NAME = 63  # an Application's or Kustomization's name is a label value on what it applies


@dataclass(frozen=True)
class Shard:
    """One Argo CD Application or Flux Kustomization of a sharded environment: its name, the
    directory under ``overlays/<env>/`` it applies, and the models it holds (none: the platform)."""

    key: str  # the team's slug or the model's name; "" for the platform shard
    name: str
    directory: str
    models: tuple[str, ...]


@dataclass(frozen=True)
class Sharding:
    """How an environment is split: ``platform`` first, then one shard per team or model."""

    by: ShardBy
    platform: Shard
    shards: tuple[Shard, ...]

    @property
    def all(self) -> tuple[Shard, ...]:
        return (self.platform, *self.shards)


def model_directory(model: str) -> str:
    """A model's kustomization under ``overlays/<env>/`` in a sharded environment."""
    return f"models/{model}"


def sharding(fleet: str, env: str, by: ShardBy, owners: Sequence[tuple[str, str]]) -> Sharding:
    """The shards of environment ``env`` from its (model, owner) pairs in model order. Names
    are not checked here: ``read.shards`` reports a name that breaks (too long, two teams alike)."""
    prefix = f"{fleet}-{env}"
    platform = Shard("", f"{prefix}-{PLATFORM_SHARD}", PLATFORM_DIR, ())
    groups: dict[str, list[str]] = {}
    for model, owner in owners:
        key = team_slug(owner) if by == "team" else model
        groups.setdefault(key, []).append(model)
    directory = "teams/{}" if by == "team" else "models/{}"
    shards = tuple(
        Shard(key, f"{prefix}-{key}", directory.format(key), tuple(models)) for key, models in sorted(groups.items())
    )
    return Sharding(by, platform, shards)


def shard_by(gitops: GitOps, env: EnvironmentGitOps) -> ShardBy:
    """An environment's sharding: its own setting, else the fleet's."""
    return env.shardBy or gitops.shardBy
