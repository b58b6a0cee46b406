"""How an update may proceed: surge and unavailability, and whether a GPU pool can take it.

One source for validation (spec) and for the Deployment / Rollout objects (build).

The GPU rule: a pod that needs a GPU can only start where a GPU is free. By default a GPU
model's pool is assumed full, so updates never surge (maxSurge 0, maxUnavailable 1: one old
pod goes before one new pod comes); a model that declares ``resources.spareGpus`` may surge
as many pods as those GPUs hold, and a combination that would need more is rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class UpdateBudget:
    max_surge: int | str
    max_unavailable: int | str


def budget(gpu: int, max_surge: int | str | None, max_unavailable: int | str | None) -> UpdateBudget:
    """Surge and unavailability, with the defaults for CPU and GPU models."""
    if gpu:
        return UpdateBudget(0 if max_surge is None else max_surge, 1 if max_unavailable is None else max_unavailable)
    return UpdateBudget("25%" if max_surge is None else max_surge, 0 if max_unavailable is None else max_unavailable)


def pods(value: int | str, replicas: int, *, round_up: bool) -> int:
    """Pods a count or percentage stands for at ``replicas`` (Kubernetes rounds surge up, unavailable down)."""
    if isinstance(value, int):
        return value
    share = int(value.rstrip("%")) * replicas / 100
    return math.ceil(share) if round_up else math.floor(share)


def can_progress(update: UpdateBudget, replicas: int) -> bool:
    """An update needs room to add a pod or leave to remove one."""
    surge = pods(update.max_surge, replicas, round_up=True)
    unavailable = pods(update.max_unavailable, replicas, round_up=False)
    return surge > 0 or unavailable > 0


def gpus_for_surge(update: UpdateBudget, replicas: int, gpu: int) -> int:
    return pods(update.max_surge, replicas, round_up=True) * gpu
