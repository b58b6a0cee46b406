"""The names of a sharded environment's GitOps objects (``fleet.gitops.shardBy``, an
environment's ``gitops.shardBy``): one Argo CD Application or Flux Kustomization per team or
model, named ``<fleet>-<env>-<team or model>``. Each name must be a DNS label of at most 63
characters (Argo CD and Flux put it in a label on every object applied), no two teams may
come to the same name, and none may take the platform shard's. Part of resolve: a finding
points at the owner or name that breaks."""

from __future__ import annotations

from collections.abc import Sequence

from generator.errors import Finding
from generator.read.envrules import LocatedModel
from generator.spec.environment import EnvironmentFile
from generator.spec.fleet import Fleet
from generator.spec.gitops import MAX_SHARD_NAME, PLATFORM_SHARD, shard_by, team_slug


def shard_findings(fleet: Fleet, env: EnvironmentFile, models: Sequence[LocatedModel]) -> list[Finding]:
    """What keeps ``env``'s shards from having names of their own (``models``: those enabled there)."""
    by = shard_by(fleet.gitops, env.gitops)
    if by == "environment":
        return []
    findings: list[Finding] = []
    seen: dict[str, str] = {}  # a team's slug -> the first owner spelled so
    setting = f"gitops.shardBy: {by}"
    for model in sorted(models, key=lambda m: m.spec.name):
        field = "owner" if by == "team" else "name"
        value = model.spec.owner if by == "team" else model.spec.name
        key = team_slug(value) if by == "team" else value

        def add(message: str, hint: str, model: LocatedModel = model, field: str = field) -> None:
            document, path = model.locate((field,))
            findings.append(document.finding(path, message, hint))

        name = f"{fleet.name}-{env.name}-{key}"
        if by == "team" and not key:
            add(
                f"owner '{value}' of {model.spec.name} leaves no letter or digit to name its team's shard in "
                f"{env.name} ({setting})",
                "give the owner a team name such as team-risk",
            )
        elif key == PLATFORM_SHARD:
            add(
                f"{by} '{value}' would name its shard {name}, the name of {env.name}'s platform shard "
                f"(its Namespace) ({setting})",
                f"rename the {field}, or set gitops.shardBy to another value in environments/{env.name}.yaml",
            )
        elif by == "team" and seen.setdefault(key, value) != value:
            add(
                f"teams '{seen[key]}' and '{value}' would both name the shard {name} in {env.name} "
                f"({setting}: an owner's shard name is in lower case, with '-' for other characters)",
                f"spell the owner of {model.spec.name} as '{seen[key]}', or give the teams names that differ "
                "in more than case and punctuation",
            )
        elif len(name) > MAX_SHARD_NAME:
            add(
                f"the shard of {by} '{value}' in {env.name} would be named {name}, {len(name)} characters; "
                f"Argo CD and Flux label what they apply with it, and a label value has at most {MAX_SHARD_NAME}",
                f"shorten the {field}, the fleet's or the environment's name by {len(name) - MAX_SHARD_NAME}, "
                "or shard by another value",
            )
    return _first_per_key(findings)


def _first_per_key(findings: list[Finding]) -> list[Finding]:
    """One finding per message: a long team name breaks once, not once per model."""
    out: dict[str, Finding] = {}
    for finding in findings:
        out.setdefault(finding.message, finding)
    return list(out.values())
