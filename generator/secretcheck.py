"""No plaintext secrets in the spec: env values and config files are scanned (names,
known token formats, entropy; see ``secrets_scan``). A false positive is allowed by its
fingerprint in ``fleet.allowSecrets``, or in a config file by an end-of-line comment
``# modelfleet: allow-secret``.

``secret_verdicts`` lets a caller reuse what an earlier run of the same generator found:
an env value (with its name) or a config file's text that scanned clean then is clean now,
since the scan reads nothing else. The delta path (``generator.delta``) passes the digests
its record kept, so validating one changed (environment, model) pair scans only the values
that changed, and does not import detect-secrets when none did."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar

from .errors import Finding
from .resolve import Resolution
from .secrets_scan import env_finding, env_suspect, text_findings, text_suspect

__all__ = ["CLEAN_DIGEST_SIZE", "secret_findings", "secret_verdicts"]

CLEAN_DIGEST_SIZE = 20
_VERDICTS: ContextVar[tuple[frozenset[bytes], set[bytes]] | None] = ContextVar("secret verdicts", default=None)


@contextlib.contextmanager
def secret_verdicts(known: Iterable[bytes] = ()) -> Iterator[set[bytes]]:
    """Inside the block, an env value or config text whose digest is in ``known`` (found
    clean by an earlier run of this generator) is not scanned again; the digests of all that
    is clean (known, or scanned and clean) collect in the yielded set."""
    clean: set[bytes] = set()
    token = _VERDICTS.set((frozenset(known), clean))
    try:
        yield clean
    finally:
        _VERDICTS.reset(token)


def _digest(kind: bytes, *parts: str) -> bytes:
    data = b"\0".join([kind, *(part.encode("utf-8", "surrogatepass") for part in parts)])
    return hashlib.blake2b(data, digest_size=CLEAN_DIGEST_SIZE).digest()


def secret_findings(resolution: Resolution) -> list[Finding]:
    allowed = set(resolution.fleet.allowSecrets)
    verdicts = _VERDICTS.get()
    findings: list[Finding] = []
    models = [*resolution.base, *(m for env in resolution.environments for m in env.models)]
    scanned: set[str] = set()
    for model in models:
        for name, value in model.spec.env.items():
            key = _digest(b"env", name, value) if verdicts is not None else b""
            if verdicts is not None and key in verdicts[0]:
                verdicts[1].add(key)
                continue
            if not env_suspect(name, value):
                if verdicts is not None:
                    verdicts[1].add(key)
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
            if verdicts is not None:
                key = _digest(b"file", text)
                if key in verdicts[0] or not text_suspect(text):
                    verdicts[1].add(key)
                    continue
            findings.extend(text_findings(text, file=relative, allowed=allowed))
    return findings
