"""The installed modelfleet's version and home, read from the package metadata.

pyproject.toml is the one place both are written (``version`` and ``[project.urls]
Repository``); ``--version``, the schemas' ``$id`` and the files ``init`` writes (the
pinned requirement, the pre-commit ``rev:``) read them here.
"""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "modelfleet"
UNKNOWN_VERSION = "0+unknown"  # running from a source tree that was never installed
UNKNOWN_REPOSITORY = "https://example.invalid/modelfleet"


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


def repository_url() -> str:
    """The ``Repository`` project URL: where the release tags (and the hooks) live."""
    try:
        urls = metadata.metadata(DISTRIBUTION).get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return UNKNOWN_REPOSITORY
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return str(url).strip()
    return UNKNOWN_REPOSITORY
