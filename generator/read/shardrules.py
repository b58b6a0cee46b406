"""The names of a sharded environment's GitOps objects (``fleet.gitops.shardBy``, an
environment's ``gitops.shardBy``): one Argo CD Application or Flux Kustomization per team or
model, named ``<fleet>-<env>-<team or model>``. Each name must be a DNS label of at most 63
characters (Argo CD and Flux put it in a label on every object applied), no two teams may
come to the same name, and none may take the platform shard's. Part of resolve: a finding
points at the owner or name that breaks (once, however many environments or models share
the problem: resolve keeps each located message once)."""

from __future__ import annotations

from collections.abc import Sequence

from generator.errors import Finding
from generator.read.envrules import LocatedModel
from generator.spec.environment import EnvironmentFile
from generator.spec.fleet import Fleet
from generator.spec.gitops import MAX_SHARD_NAME, PLATFORM_SHARD, shard_by, team_slug


def shard_findings(
    fleet: Fleet, environments: Sequence[tuple[EnvironmentFile, Sequence[LocatedModel]]]
) -> list[Finding]:
    """What keeps the sharded environments' shards from having names of their own
    (``environments``: each with the models enabled there)."""
    findings: list[Finding] = []
    longest: dict[str, tuple[int, Finding]] = {}  # by model: its longest shard name's finding
    for env, models in environments:
        by = shard_by(fleet.gitops, env.gitops)
        if by == "environment":
            continue
        seen: dict[str, str] = {}  # a team's slug -> the first owner spelled so
        setting = f"gitops.shardBy: {by}"
        for model in sorted(models, key=lambda m: m.spec.name):
            field = "owner" if by == "team" else "name"
            value = model.spec.owner if by == "team" else model.spec.name
            key = team_slug(value) if by == "team" else value
            document, path = model.locate((field,))
            name = f"{fleet.name}-{env.name}-{key}"
            # an owner is a label value: it starts and ends with a letter or digit, so its slug is never empty
            if key == PLATFORM_SHARD:
                findings.append(
                    document.finding(
                        path,
                        f"{by} '{value}' would give its shard the name of the environment's platform shard "
                        f"(<fleet>-<environment>-{PLATFORM_SHARD}, which applies the Namespace) ({setting})",
                        f"rename the {field}, or set gitops.shardBy to another value",
                    )
                )
            elif by == "team" and seen.setdefault(key, value) != value:
                findings.append(
                    document.finding(
                        path,
                        f"teams '{seen[key]}' and '{value}' would both name the shard <fleet>-<environment>-{key} "
                        f"({setting}: a team's shard is named for its owner in lower case, with '-' for other "
                        "characters)",
                        f"spell the owner of {model.spec.name} as '{seen[key]}', or give the teams names that "
                        "differ in more than case and punctuation",
                    )
                )
            elif len(name) > MAX_SHARD_NAME and len(name) > longest.get(model.spec.name, (0, None))[0]:
                finding = document.finding(
                    path,
                    f"the shard of {by} '{value}' would be named {name} in {env.name}, {len(name)} characters; "
                    f"Argo CD and Flux label what they apply with it, and a label value has at most {MAX_SHARD_NAME}",
                    f"shorten the {field}, the fleet's or the environment's name by {len(name) - MAX_SHARD_NAME}, "
                    "or shard by another value",
                )
                longest[model.spec.name] = (len(name), finding)
    return findings + [finding for _, finding in longest.values()]
