"""A shard: the part of a fleet one CI job checks (``render --check`` and ``validate`` with
``--env`` and ``--model``), and which files under rendered/ are its own.

A shard of environments checks every file of those environments (its units and the files
its models share: overlay, gitops, compose, platform) and every fleet-wide file (bases,
images, runbooks, README.md); those are cheap next to the units, and checking them in every
shard means no choice of shards can leave one unchecked. A shard limited to models checks
only what those models own (their bases, runbooks, images and units): the files that
combine models are checked by a shard of all models. So the shards of a partition of the
environments together check exactly what one full check checks.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

ENV_DIRS = ("overlays", "platform", "tests", "gitops", "compose")  # <dir>/<env>/... or <dir>/<env>.yaml


def environment_of(path: str, environments: Collection[str]) -> str | None:
    """The environment a path under rendered/ belongs to, by the layout; None for a
    fleet-wide path (and for one under a directory of no environment of the fleet)."""
    parts = path.split("/")
    if len(parts) < 2 or parts[0] not in ENV_DIRS:
        return None
    name = parts[1] if len(parts) > 2 else parts[1].removesuffix(".yaml")
    return name if name in environments else None


@dataclass(frozen=True)
class Shard:
    """Environments and models to check; None: all of them."""

    environments: frozenset[str] | None = None
    models: frozenset[str] | None = None

    @property
    def whole(self) -> bool:
        """True when the shard is the whole fleet."""
        return self.environments is None and self.models is None

    def has_environment(self, name: str) -> bool:
        return self.environments is None or name in self.environments

    def has_model(self, name: str) -> bool:
        return self.models is None or name in self.models

    def owns(self, path: str, environments: Collection[str]) -> bool:
        """Whether a file under rendered/ that no render plans (an extra file) is this
        shard's to report: a file of one of its environments, or a fleet-wide one. A shard
        limited to models reports none: only a shard of all models knows what else belongs."""
        if self.models is not None:
            return False
        env = environment_of(path, environments)
        return env is None or self.has_environment(env)

    def describe(self) -> str:
        """The shard in a summary line, e.g. "environment prod"; "" for the whole fleet."""
        parts = []
        for what, names in (("environment", self.environments), ("model", self.models)):
            if names is not None:
                parts.append(f"{what}{'' if len(names) == 1 else 's'} {', '.join(sorted(names))}")
        return "; ".join(parts)
