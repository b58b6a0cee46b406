"""No plaintext secrets in the spec: env values and config files are scanned (names,
known token formats, entropy; see ``secrets_scan``). A false positive is allowed by its
fingerprint in ``fleet.allowSecrets``, or in a config file by an end-of-line comment
``# modelfleet: allow-secret``."""

from __future__ import annotations

from .errors import Finding
from .resolve import Resolution
from .secrets_scan import env_finding, env_suspect, text_findings


def secret_findings(resolution: Resolution) -> list[Finding]:
    allowed = set(resolution.fleet.allowSecrets)
    findings: list[Finding] = []
    models = [*resolution.base, *(m for env in resolution.environments for m in env.models)]
    scanned: set[str] = set()
    for model in models:
        for name, value in model.spec.env.items():
            if not env_suspect(name, value):
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
            findings.extend(text_findings(text, file=relative, allowed=allowed))
    return findings
