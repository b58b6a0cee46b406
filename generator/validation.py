"""What ``modelfleet validate`` checks, from loaded files to a resolved fleet.

Parse, resolve, the semantics that need the SLI (reachable objectives, latency buckets,
alert PromQL), the plaintext-secret scan and the JSON Schemas an editor applies to the raw
files. ``validate`` imports this module and not ``generator.pipeline``: it needs none of the
builders, templates or Kubernetes schemas.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.build.alerts import monitoring_findings
from generator.check.secrets import scan_secrets
from generator.errors import ModelfleetError
from generator.read.load import Sources, load_fleet
from generator.read.parse import parse
from generator.read.rawschema import sources_findings
from generator.read.resolve import Resolution, resolve


@dataclass(frozen=True)
class Validation:
    """A fleet that passed every check, and what the checks read."""

    resolution: Resolution
    referenced: frozenset[str]  # every file and directory the spec points at
    clean_secrets: frozenset[bytes]  # what the secret scan found clean (when asked to keep it)


def validate(root: Path) -> Resolution:
    """Everything `modelfleet validate` checks about the spec under ``root``."""
    return validate_sources(load_fleet(root)).resolution


def validate_recorded(sources: Sources) -> Validation:
    """Everything `validate` checks, including the JSON Schemas the editor applies to the raw files."""
    validation = validate_sources(sources)
    findings = sources_findings(sources)
    if findings:
        raise ModelfleetError(findings)
    return validation


def validate_sources(sources: Sources, known_clean: frozenset[bytes] | None = None) -> Validation:
    """`validate` on files already loaded. ``known_clean``: what an earlier run's secret scan
    found clean (skipped now); given, the result's ``clean_secrets`` holds this run's."""
    parsed = parse(sources)
    resolution = resolve(parsed)
    scan = scan_secrets(resolution, known_clean)
    findings = monitoring_findings(resolution) + scan.findings
    if findings:
        raise ModelfleetError(findings)
    return Validation(resolution, frozenset(parsed.paths), scan.clean)
