"""What ``modelfleet validate`` checks, from loaded files to a resolved fleet.

Parse, resolve, the semantics that need the SLI (reachable objectives, latency buckets,
alert PromQL), the plaintext-secret scan and the JSON Schemas an editor applies to the raw
files. ``validate`` imports this module and not ``generator.pipeline``: it needs none of the
builders, templates or Kubernetes schemas.
"""

from __future__ import annotations

from pathlib import Path

from .build.alerts import monitoring_findings
from .cache import current_unit_cache
from .digest import content_digest, digest
from .errors import Finding, ModelfleetError
from .fingerprint import generator_fingerprint
from .load import Sources, load_fleet
from .parse import parse
from .resolve import Resolution, resolve
from .schema import sources_findings
from .secretcheck import secret_findings
from .spectypes import recording_paths


def validate(root: Path) -> Resolution:
    """Everything `modelfleet validate` checks about the spec under ``root``."""
    return validate_sources(load_fleet(root))


def validate_recorded(sources: Sources) -> tuple[Resolution, set[str]]:
    """Everything `validate` checks, including the JSON Schemas the editor applies to the raw
    files, and the paths (config files, build contexts) the spec points at."""
    with recording_paths() as referenced:
        resolution = validate_sources(sources)
    findings = _schema_findings(sources)
    if findings:
        raise ModelfleetError(findings)
    return resolution, referenced


def _schema_findings(sources: Sources) -> list[Finding]:
    """``sources_findings``; inside ``cache.unit_cache``, skipped for data that already passed."""
    cache = current_unit_cache()
    if cache is None or not cache.enabled:
        return sources_findings(sources)
    import pickle

    documents = [sources.models, *sources.environments]
    data = pickle.dumps([(d.path, d.data) for d in documents], protocol=pickle.HIGHEST_PROTOCOL)
    key = digest("jsonschema", generator_fingerprint(), content_digest(data))
    if cache.get(key, lambda value: value is True):
        return []
    findings = sources_findings(sources)
    if not findings:
        cache.put(key, True)
    return findings


def validate_sources(sources: Sources) -> Resolution:
    """`validate` on files already loaded."""
    resolution = resolve(parse(sources))
    findings = monitoring_findings(resolution) + secret_findings(resolution)
    if findings:
        raise ModelfleetError(findings)
    return resolution
