"""Bytes per model x environment by file family (issue 19, point 3): where a rendered tree's
bytes go, so cuts to bytes that carry no information can be measured before and after.

A family is the kind of file: a base's object (``base: rollout``), an overlay's resource or
patch (``overlay resource: prometheusrule``), the rule tests and the rules they load
(``tests: rules-test``), and the fleet-wide or environment-wide files (``gitops``,
``compose``, ``platform``, ``overlay: kustomization``, ``runbooks``, ``images``). Each
family's bytes are divided by models x environments, the fleet's size.

Run as a script on a rendered tree::

    python bench/sizes.py rendered/ --models 100 --environments 3
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

# A model's own file under overlays/<env>/resources/ or patches/: "<model>-<what>.yaml".
_MODEL_FILE = re.compile(r"^[a-z0-9-]+?-\d{4}-(?P<what>[a-z0-9-]+)\.yaml$")


def family_of(path: str) -> str:
    """The family of a file of rendered/, by its path (``/`` separated, relative to it)."""
    parts = path.split("/")
    top, name = parts[0], parts[-1]
    stem = name.removesuffix(".yaml")
    if top == "base" and len(parts) == 3:
        return f"base: {stem}"
    if top == "overlays" and len(parts) == 4:
        where = "resource" if parts[2] == "resources" else "patch"
        return f"overlay {where}: {_what(stem)}"
    if top == "overlays":
        return f"overlay: {stem}"
    if top == "tests":
        return f"tests: {stem.rsplit('.', 1)[-1]}"
    if top == "images":
        return "images: " + ("Dockerfile" if name == "Dockerfile" else name)
    return top if len(parts) > 1 else name


def _what(stem: str) -> str:
    """What a model's overlay file holds: the part after ``<model>-``; a model's name may
    hold dashes, and the part after it may too (``service-canary``)."""
    match = _MODEL_FILE.match(stem + ".yaml")
    if match:
        return match["what"]
    return stem.split("-", 1)[-1]


def bytes_by_family(rendered: Path) -> dict[str, tuple[int, int]]:
    """Family -> (files, bytes) of every file under ``rendered``."""
    totals: dict[str, tuple[int, int]] = {}
    for path in sorted(rendered.rglob("*")):
        if path.is_file() and not path.is_symlink():
            family = family_of(path.relative_to(rendered).as_posix())
            files, size = totals.get(family, (0, 0))
            totals[family] = (files + 1, size + path.stat().st_size)
    return totals


def table(rendered: Path, models: int, environments: int, *, before: Path | None = None) -> str:
    """A markdown table: each family's bytes per model x environment (largest first), and
    the total; with ``before``, a rendered tree of the same fleet to compare with."""
    units = max(1, models * environments)
    now = bytes_by_family(rendered)
    old = bytes_by_family(before) if before is not None else {}
    total = sum(size for _, size in now.values())
    head = "| family | files | bytes per model × env | share |"
    rule = "|---|---:|---:|---:|"
    if before is not None:
        head = "| family | files | before | bytes per model × env | change |"
        rule = "|---|---:|---:|---:|---:|"
    lines = [f"Bytes per model × environment by family ({models} × {environments}, {units} pairs):", "", head, rule]
    for family in sorted(now.keys() | old.keys(), key=lambda f: (-now.get(f, (0, 0))[1], f)):
        files, size = now.get(family, (0, 0))
        if before is not None:
            was = old.get(family, (0, 0))[1]
            lines.append(f"| {family} | {files} | {was / units:,.0f} | {size / units:,.0f} | {_change(was, size)} |")
        else:
            lines.append(f"| {family} | {files} | {size / units:,.0f} | {size / max(total, 1):.1%} |")
    files = sum(count for count, _ in now.values())
    if before is not None:
        was_total = sum(size for _, size in old.values())
        lines.append(
            f"| **total** | {files} | {was_total / units:,.0f} | {total / units:,.0f} | {_change(was_total, total)} |"
        )
    else:
        lines.append(f"| **total** | {files} | {total / units:,.0f} | 100% |")
    return "\n".join(lines)


def _change(before: int, after: int) -> str:
    return "new" if before == 0 else f"{(after - before) / before:+.1%}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rendered", type=Path)
    parser.add_argument("--models", type=int, required=True)
    parser.add_argument("--environments", type=int, required=True)
    parser.add_argument("--before", type=Path, help="a rendered tree of the same fleet to compare with")
    args = parser.parse_args(argv)
    print(table(args.rendered, args.models, args.environments, before=args.before))
    return 0


if __name__ == "__main__":
    sys.exit(main())
