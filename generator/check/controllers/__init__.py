"""Controller rules (part of the check stage): what Argo Rollouts, the HorizontalPodAutoscaler,
prometheus-adapter, KEDA and the Prometheus Operator will do with an environment's objects.

Schemas say an object is well-formed; these rules say it behaves as promised once the
controllers read it. Each rule cites the upstream source that decides, and each has a test
with an object that breaks it. Findings are located at ``rendered/overlays/<env>`` with
``path`` ``"Kind/name: field"``, like the policy findings; the objects come from validated
input, so a finding here is a modelfleet bug that the check keeps from reaching a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from generator.check.controllers.argo_rollouts import rollout_findings
from generator.check.controllers.autoscaling import autoscaling_findings
from generator.check.controllers.common import Objects
from generator.check.controllers.platform import platform_findings
from generator.check.controllers.queries import query_type_findings
from generator.check.controllers.scraping import scrape_findings
from generator.errors import Finding

__all__ = ["controller_findings"]


def controller_findings(
    env_name: str, objects: Sequence[Mapping[str, Any]], adapter_values: Mapping[str, Any]
) -> list[Finding]:
    """Every controller rule over the objects ``env_name`` receives and the
    prometheus-adapter rules rendered for it."""
    found = Objects(env_name, objects)
    return [
        *rollout_findings(found),
        *autoscaling_findings(found, adapter_values),
        *scrape_findings(found),
        *platform_findings(found),
        *query_type_findings(found, adapter_values),
    ]
