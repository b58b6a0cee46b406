"""Summaries of progressive delivery: rollout strategy and steps, analysis thresholds."""

from __future__ import annotations

import re
from typing import Any

from generator.commands.diffsummary.common import NONE, Summary, change, get
from generator.output.overlay import KubeObject

# ---------------------------------------------------------------------------
# progressive delivery


def _strategy_name(obj: KubeObject) -> str:
    strategy = get(obj, "spec", "strategy") or {}
    if obj.get("kind") == "Deployment":
        return str(strategy.get("type", "RollingUpdate"))
    return next(iter(strategy), NONE)


def _steps(obj: KubeObject) -> tuple[str, str]:
    weights, pauses = [], []
    for step in get(obj, "spec", "strategy", "canary", "steps") or []:
        if "setWeight" in step:
            weights.append(f"{step['setWeight']}%")
        if "pause" in step:
            pauses.append(str((step["pause"] or {}).get("duration", "until promoted")))
    return ", ".join(weights) or NONE, ", ".join(pauses) or NONE


def strategy_summary(old: KubeObject, new: KubeObject) -> Summary:
    if new.get("kind") not in {"Rollout", "Deployment"}:
        return Summary()
    old_name, new_name = _strategy_name(old), _strategy_name(new)
    if old_name != new_name:
        return Summary((change("rollout strategy:", old_name, new_name),), (r"^/spec/strategy(/.*)?$",))
    lines: list[str] = []
    covered: list[str] = []
    (old_weights, old_pauses), (new_weights, new_pauses) = _steps(old), _steps(new)
    if old_weights != new_weights:
        lines.append(change("rollout steps:", old_weights, new_weights))
    if old_pauses != new_pauses and (old_weights == new_weights or set(old_pauses) != set(new_pauses)):
        lines.append(change("rollout pauses:", old_pauses, new_pauses))
    if lines:
        covered.append(r"^/spec/strategy/canary/steps(/.*)?$")
    flag = ("spec", "strategy", "blueGreen", "autoPromotionEnabled")
    before, after = get(old, *flag), get(new, *flag)
    if before != after:
        lines.append(change("rollout auto-promotion:", _on_off(before), _on_off(after)))
        covered.append(r"^/spec/strategy/blueGreen/autoPromotionEnabled$")
    return Summary(tuple(lines), tuple(covered))


def _on_off(value: Any) -> str:
    return "off" if value is False else "on"  # Argo Rollouts promotes automatically unless told not to


_OPERATORS = {"<=": "≤", ">=": "≥"}
_CONDITION = re.compile(r"result\[0\]\s*(<=|>=|<|>|==)\s*([^\s&|)]+)")


def _threshold(condition: Any) -> str | None:
    matches = _CONDITION.findall(str(condition or ""))
    if not matches:
        return None
    operator, value = matches[-1]
    return f"{_OPERATORS.get(operator, operator)} {value}"


def analysis_summary(old: KubeObject, new: KubeObject) -> Summary:
    if new.get("kind") not in {"AnalysisTemplate", "ClusterAnalysisTemplate"}:
        return Summary()
    before = {m.get("name"): _threshold(m.get("successCondition")) for m in get(old, "spec", "metrics") or []}
    after = {m.get("name"): _threshold(m.get("successCondition")) for m in get(new, "spec", "metrics") or []}
    lines = [
        change(f"analysis {name}", before.get(name), after.get(name))
        for name in [*before, *(n for n in after if n not in before)]
        if before.get(name) != after.get(name)
    ]
    covered = (r"^/spec/metrics/\d+/(successCondition|failureCondition)$",)
    return Summary(tuple(lines), covered if lines else ())
