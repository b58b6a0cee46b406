"""``modelfleet overview``: the fleet at a glance as one self-contained HTML page (issue 18).

The data is the render's own: ``pipeline.render`` runs (with the unit cache, each file
reduced to its digest as ``render --check`` does), and its overview, the rows
rendered/README.md is made of, becomes the page. The page goes to ``--output``, by default
``overview.html`` in the current directory, outside rendered/: rendered/ holds what
``render`` writes and ``render --check`` compares. Its links to runbooks, dashboards and
bases are relative to where the page is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from generator.build.overviewpage import overview_page
from generator.errors import Finding, Location, ModelfleetError
from generator.incremental.cache import UnitCache
from generator.incremental.sinks import DigestSink
from generator.pipeline import render

DEFAULT_OUTPUT = "overview.html"


def overview_command(root: Path, output: Path, *, use_cache: bool) -> str:
    """Write the page to ``output``; the summary line. ``ModelfleetError`` on a finding of
    the fleet or when the page cannot be written."""
    rendered = render(root, UnitCache(root, enabled=use_cache), DigestSink())
    overview = rendered.overview
    assert overview is not None, "a render that succeeds has an overview"
    target = output if output.is_absolute() else Path.cwd() / output
    target = target.parent.resolve() / target.name
    href = Path(os.path.relpath((root / "rendered").resolve(), target.parent)).as_posix()
    page = overview_page(overview, href).encode("utf-8")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(page)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ModelfleetError(
            [
                Finding(
                    f"cannot write the overview page: {reason}",
                    Location(str(output)),
                    hint="pass --output with a file in a directory that exists and is writable",
                )
            ]
        ) from None
    units = sum(len(rows) for rows in overview.units.values())
    return (
        f"{output} written: {len(overview.models)} models, {units} (model, environment) pairs "
        f"in {len(overview.environments)} environments"
    )
