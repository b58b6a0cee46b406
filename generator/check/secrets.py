"""No plaintext secrets in the spec: env values and config files are scanned (names,
known token formats, entropy; see ``secrets_scan``). A false positive is allowed by its
fingerprint in ``fleet.allowSecrets``, or in a config file by an end-of-line comment
``# modelfleet: allow-secret``.

A caller may pass what an earlier run of the same generator found clean (``known``): an
env value (with its name) or a config file's text that scanned clean then is clean now,
since the scan reads nothing else. The delta path passes the digests its record kept, so
validating one changed (environment, model) pair scans only the values that changed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from generator.check.secrets_scan import env_finding, env_suspect, text_findings, text_suspect
from generator.errors import Finding
from generator.read.resolve import Resolution

__all__ = ["CLEAN_DIGEST_SIZE", "SecretScan", "scan_secrets"]

CLEAN_DIGEST_SIZE = 20


@dataclass(frozen=True)
class SecretScan:
    findings: list[Finding]
    clean: frozenset[bytes]  # digests of every value and text found clean (empty when not asked for)


def _digest(kind: bytes, *parts: str) -> bytes:
    data = b"\0".join([kind, *(part.encode("utf-8", "surrogatepass") for part in parts)])
    return hashlib.blake2b(data, digest_size=CLEAN_DIGEST_SIZE).digest()


def scan_secrets(resolution: Resolution, known: frozenset[bytes] | None = None) -> SecretScan:
    """Scan every model's env values and config files. With ``known`` (digests found clean
    by an earlier run), those are skipped and the clean digests are collected."""
    allowed = set(resolution.fleet.allowSecrets)
    keep = known is not None
    known = known or frozenset()
    clean: set[bytes] = set()
    findings: list[Finding] = []
    models = [*resolution.base, *(m for env in resolution.environments for m in env.models)]
    scanned: set[str] = set()
    for model in models:
        for name, value in model.spec.env.items():
            key = _digest(b"env", name, value) if keep else b""
            if keep and key in known:
                clean.add(key)
                continue
            if not env_suspect(name, value):
                if keep:
                    clean.add(key)
                continue  # (locating a value costs a merge with provenance: only for suspects)
            document, path = model.locate(("env", name))
            finding = env_finding(
                name,
                value,
                location=document.locate(path),
                file=document.path,
                path=f"{model.name}.env.{name}",
                allowed=allowed,
            )
            if finding is not None:  # re-located, so the report shows the line and a caret
                findings.append(document.finding(path, finding.message, finding.hint))
        for relative in model.spec.config.files:
            if relative in scanned:
                continue
            scanned.add(relative)
            text = (resolution.root / relative).read_text(encoding="utf-8", errors="replace")
            if keep:
                key = _digest(b"file", text)
                if key in known or not text_suspect(text):
                    clean.add(key)
                    continue
            findings.extend(text_findings(text, file=relative, allowed=allowed))
    return SecretScan(findings, frozenset(clean))
