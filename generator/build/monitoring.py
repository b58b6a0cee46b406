"""Monitoring per model: the PrometheusRule an environment receives, its promtool proof,
and the runbook. The semantic checks of ``monitoring`` are in ``alerts.monitoring_findings``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.build.alertmodel import Alert
from generator.build.alerts import model_alerts, prometheus_rule, rule_groups
from generator.build.alerttests import rules_test
from generator.build.identity import common_labels
from generator.build.platform import platform_settings
from generator.build.sli import Sli, sli_for
from generator.read.resolve import ResolvedModel


@dataclass(frozen=True)
class RuleProof:
    """The rules of one model in one environment as a plain rule file, and its unit tests."""

    environment: str
    model: str
    rules: dict[str, Any]
    tests: dict[str, Any]


@dataclass(frozen=True)
class ModelRules:
    """A model's alerts and rule groups in its environment: computed once for both the
    PrometheusRule the environment receives and its promtool proof."""

    sli: Sli
    alerts: list[Alert]
    groups: list[dict[str, Any]]


def model_rules(model: ResolvedModel) -> ModelRules:
    env = model.environment
    assert env is not None, "rules belong to an environment"
    sli = sli_for(model, env.namespace)
    alerts = model_alerts(model, sli)
    return ModelRules(sli, alerts, rule_groups(model, sli, env.name, alerts))


def environment_rule(model: ResolvedModel, rules: ModelRules | None = None) -> dict[str, Any]:
    """The PrometheusRule of a model in its environment (rules are scoped to the namespace)."""
    env = model.environment
    assert env is not None, "rules belong to an environment"
    known = rules if rules is not None else model_rules(model)
    labels = {**common_labels(model), **platform_settings(model).monitoring.labels}
    return prometheus_rule(model, known.sli, env.name, labels, known.groups)


def rule_proof(model: ResolvedModel, rules: ModelRules | None = None) -> RuleProof:
    env = model.environment
    assert env is not None, "rules belong to an environment"
    known = rules if rules is not None else model_rules(model)
    rule_file = f"{model.name}.rules.yaml"
    return RuleProof(
        environment=env.name,
        model=model.name,
        rules={"groups": known.groups},
        tests=rules_test(model, known.sli, env.name, rule_file, (known.alerts, known.groups)),
    )
