"""Monitoring per model: the PrometheusRule an environment receives, its promtool proof,
and the runbook. The semantic checks of ``monitoring`` are in ``alerts.monitoring_findings``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.build.alerts import prometheus_rule, rule_groups
from generator.build.alerttests import rules_test
from generator.build.identity import common_labels
from generator.build.platform import platform_settings
from generator.build.sli import sli_for
from generator.read.resolve import ResolvedModel


@dataclass(frozen=True)
class RuleProof:
    """The rules of one model in one environment as a plain rule file, and its unit tests."""

    environment: str
    model: str
    rules: dict[str, Any]
    tests: dict[str, Any]


def environment_rule(model: ResolvedModel) -> dict[str, Any]:
    """The PrometheusRule of a model in its environment (rules are scoped to the namespace)."""
    env = model.environment
    assert env is not None, "rules belong to an environment"
    labels = {**common_labels(model), **platform_settings(model).monitoring.labels}
    return prometheus_rule(model, sli_for(model, env.namespace), env.name, labels)


def rule_proof(model: ResolvedModel) -> RuleProof:
    env = model.environment
    assert env is not None, "rules belong to an environment"
    sli = sli_for(model, env.namespace)
    rule_file = f"{model.name}.rules.yaml"
    return RuleProof(
        environment=env.name,
        model=model.name,
        rules={"groups": rule_groups(model, sli, env.name)},
        tests=rules_test(model, sli, env.name, rule_file),
    )
