"""The template files of ``init`` and ``new-model``: package data under
generator/commands/skeleton/, filled by plain ``__NAME__`` replacement (the CI workflow and
the Makefile are full of ``${{ }}`` and ``$(...)``, which a template engine would read)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib.resources import files

PACKAGE = "generator.commands"
_PLACEHOLDER = re.compile(r"__[A-Z][A-Z_]*__")


def template(name: str, values: Mapping[str, str] | None = None) -> str:
    """The text of ``skeleton/<name>`` with each ``__KEY__`` replaced by ``values[KEY]``."""
    text = (files(PACKAGE) / "skeleton" / name).read_text(encoding="utf-8")
    for key, value in (values or {}).items():
        text = text.replace(f"__{key}__", value)
    leftover = _PLACEHOLDER.search(text)
    if leftover:
        raise ValueError(f"skeleton/{name}: no value for {leftover.group()}")
    return text


def python_service(model: str) -> dict[str, str]:
    """The build context of a ``runtime: python`` model, by path under services/<model>/."""
    values = {"MODEL": model}
    return {
        f"services/{model}/app.py": template("python-service/app.py.tmpl", values),
        f"services/{model}/requirements.txt": template("python-service/requirements.txt.tmpl", values),
        f"services/{model}/README.md": template("python-service/README.md.tmpl", values),
    }
