"""The fleet overview as one self-contained HTML page (``modelfleet overview``, issue 18).

A sortable table with a row per (model, environment), and a ``<details>`` section per
model with its values in every environment and links to its runbook, dashboard ConfigMap
and base. The page is ``templates/html/overview.html.j2`` rendered by a jinja2
environment of its own with autoescape on (the YAML templates' environment quotes values
for YAML instead), so a description holding ``<script>`` shows as text. Inline CSS and
JS only: the page loads nothing. The same overview gives the same bytes.
"""

from __future__ import annotations

from typing import Any

import jinja2

from generator.build.overview import Overview, short_image
from generator.build.templating import strict_environment

TEMPLATE = "html/overview.html.j2"

# The main table's columns, in the template's order; "number" columns sort numerically.
COLUMNS = (
    ("Model", "text"),
    ("Environment", "text"),
    ("Owner", "text"),
    ("Image", "text"),
    ("Min replicas", "number"),
    ("Max replicas", "number"),
    ("Scaling", "text"),
    ("Rollout", "text"),
    ("Availability SLO", "number"),
)


def _environment() -> jinja2.Environment:
    return strict_environment(autoescape=True)


def overview_page(overview: Overview, rendered: str) -> str:
    """The page's text; ``rendered``: the rendered/ directory relative to the page (its links)."""
    owners = {str(row["name"]): str(row["owner"]) for row in overview.models}
    units: list[dict[str, Any]] = []
    models: list[dict[str, Any]] = []
    for row in overview.models:
        name = str(row["name"])
        runs = [(env, rows[name]) for env in overview.environments if name in (rows := overview.units.get(env, {}))]
        models.append({**row, "units": runs})
        units += [
            {"model": name, "env": env, "owner": owners[name], "image": short_image(str(unit["image"])), "row": unit}
            for env, unit in runs
        ]
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            fleet=overview.fleet,
            environments=list(overview.environments),
            columns=[{"title": title, "type": kind} for title, kind in COLUMNS],
            units=units,
            models=models,
            rendered=rendered,
        )
    )
