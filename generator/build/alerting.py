"""What an alert means to a human: shared by the rules (annotations), the runbooks and
the dashboards, so the three never describe an alert differently."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AlertDoc:
    """One alert of one model, as a person on call needs it."""

    name: str  # the alert's name in the PrometheusRule (CamelCase, shared by every model)
    severity: str  # "page" or "ticket"
    summary: str  # one line, no template variables
    meaning: str  # what firing means and why it matters
    queries: tuple[str, ...]  # the first queries to run (PromQL), most useful first
    anchor: str  # the runbook section id: runbook_url = <base>/<model>.md#<anchor>


def anchor_for(name: str) -> str:
    """The Markdown heading id GitHub and most renderers give to a heading ``name``."""
    return name.lower()
