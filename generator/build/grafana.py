"""The pieces of a Grafana dashboard's JSON model: queries (targets), time series and stat
panels, rows and the grid they are laid out on. What a model's dashboard shows is in
``dashboard``."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from generator.build.numbertext import plain

GRID_WIDTH = 24
PANEL_HEIGHT = 8
HALF = 12
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
DASHED = {"custom.lineStyle": {"fill": "dash", "dash": [10, 10]}}

Panel = dict[str, Any]


def _number(value: Decimal) -> float | int:
    """A JSON number printed exactly as the decimal reads (0.005, never 0.0050000000000000044)."""
    text = plain(value)
    return int(text) if "." not in text else float(text)


def _target(expr: str, legend: str, ref: str, instant: bool = False) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": expr,
        "instant": instant,
        "legendFormat": legend,
        "range": not instant,
        "refId": ref,
    }


def _targets(queries: Sequence[tuple[str, str]], instant: bool = False) -> list[dict[str, Any]]:
    """Targets A, B, C... from (expression, legend) pairs."""
    return [_target(expr, legend, chr(ord("A") + i), instant) for i, (expr, legend) in enumerate(queries)]


def _thresholds(steps: Sequence[tuple[str, Decimal | None]]) -> dict[str, Any]:
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": None if value is None else _number(value)} for color, value in steps],
    }


def timeseries(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[tuple[str, str]],
    *,
    limit: Decimal | None = None,
    dashed: Sequence[str] = (),
    width: int = HALF,
) -> Panel:
    """A time series panel; ``limit`` draws a red dashed threshold line, ``dashed`` names
    the series drawn as dashed lines (bounds such as requests and limits)."""
    steps: list[tuple[str, Decimal | None]] = [("green", None)]
    if limit is not None:
        steps.append(("red", limit))
    custom = {
        "drawStyle": "line",
        "fillOpacity": 10,
        "lineWidth": 1,
        "showPoints": "never",
        "spanNulls": False,
        "thresholdsStyle": {"mode": "dashed" if limit is not None else "off"},
    }
    overrides = [
        {"matcher": {"id": "byName", "options": name}, "properties": [{"id": key, "value": value}]}
        for name in dashed
        for key, value in DASHED.items()
    ]
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": PANEL_HEIGHT, "w": width, "x": 0, "y": 0},
        "fieldConfig": {
            "defaults": {"unit": unit, "min": 0, "custom": custom, "thresholds": _thresholds(steps)},
            "overrides": overrides,
        },
        "options": {
            "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "none"},
        },
        "targets": _targets(queries),
    }


def stat(
    title: str, description: str, unit: str, query: tuple[str, str], steps: Sequence[tuple[str, Decimal | None]]
) -> Panel:
    """A stat panel: the last value of one instant query, coloured by ``steps``."""
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": PANEL_HEIGHT, "w": HALF, "x": 0, "y": 0},
        "fieldConfig": {"defaults": {"unit": unit, "thresholds": _thresholds(steps)}, "overrides": []},
        "options": {
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": "auto",
        },
        "targets": _targets([query], instant=True),
    }


def _row(title: str) -> Panel:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": 0},
    }


def layout(sections: Sequence[tuple[str, Sequence[Panel]]]) -> list[Panel]:
    """Number the panels and place them: a row per section, then the section's panels left
    to right, wrapping at the grid's width. Empty sections are left out."""
    placed: list[Panel] = []
    y = 0
    for title, panels in sections:
        if not panels:
            continue
        placed.append({**_row(title), "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y}})
        y += 1
        x, height = 0, 0
        for panel in panels:
            grid = panel["gridPos"]
            if x + grid["w"] > GRID_WIDTH:
                x, y, height = 0, y + height, 0
            placed.append({**panel, "gridPos": {**grid, "x": x, "y": y}})
            x, height = x + grid["w"], max(height, grid["h"])
        y += height
    return [{**panel, "id": index} for index, panel in enumerate(placed, start=1)]
