#!/usr/bin/env python3
"""Vendor the Compose Specification JSON schema that ``rendered/compose/<env>.yaml`` is checked against.

Run as ``make compose-schema`` (or ``.venv/bin/python tools/vendor_compose_schema.py``); it needs
network access to the npm registry only, plus ``npm`` on the PATH. The download goes into a
temporary directory that is removed afterwards. It writes ``schemas/compose/compose-spec.json``
and ``schemas/compose/PROVENANCE.md``.

Where the schema comes from: the npm package ``dclint`` (Docker Compose Linter) ships the
upstream ``schema/compose-spec.json`` of github.com/compose-spec/compose-spec unchanged, as
``schemas/compose.schema.json``, for its own schema validation. The package is pinned by version
and tarball sha256, and the schema file inside it by its own sha256: that value is the sha256 of
the upstream file at the commit named below (compared byte for byte with the upstream history when
the pin was chosen), so the tool proves offline that the bytes it vendors are upstream's.

The only change: a ``$comment`` naming the package, the upstream commit and this tool, and an
``x-modelfleet-provenance`` object, both added at the top level after ``$id`` (JSON Schema ignores
them when validating). Everything else keeps upstream's content and key order; the file is
written with two-space indent, non-ASCII as is, and a trailing newline, so the same pin always
gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _pinned import VendorError, npm_member, npm_pack, sha256_of  # tools/ is the script's directory
from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "schemas" / "compose"
SCHEMA_FILE = "compose-spec.json"


@dataclass(frozen=True)
class Pin:
    """The pinned npm package, the schema file inside it and the upstream file it is a copy of."""

    name: str
    version: str
    sha256: str  # of the npm tarball
    license: str  # as package.json states it
    member: str  # path of the schema inside the package
    member_sha256: str  # of the schema file: equals the upstream file at upstream_commit
    upstream: str
    upstream_path: str
    upstream_commit: str
    upstream_date: str
    upstream_license: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def label(self) -> str:
        return f"npm {self.spec}"


DCLINT = Pin(
    name="dclint",
    version="3.1.0",
    sha256="73fc6079a0408c80c7ccea9e9e5c21c40551afaf15e8c1ee25a5ad6af1ec0414",
    license="MIT",
    member="schemas/compose.schema.json",
    member_sha256="46b7d35f19dd93a05f8fea530291bf84d881c1791ec167ecf0e6fb94e639d496",
    upstream="github.com/compose-spec/compose-spec",
    upstream_path="schema/compose-spec.json",
    upstream_commit="58a2548c4a5c81454433d91d4da18210d6dc0e46",
    upstream_date="2025-07-20",
    upstream_license="Apache-2.0",
)


TOOL = "tools/vendor_compose_schema.py"


# ------------------------------------------------------------------------- download


def download(pin: Pin, dest: Path) -> Path:
    """``npm pack`` the pinned package (the registry's own tarball) and check its hash."""
    return npm_pack(pin.spec, pin.label, pin.sha256, dest, TOOL)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        raise VendorError(f"duplicate keys {duplicated} in the schema")
    return dict(pairs)


def read_schema(pin: Pin, tarball: Path) -> dict[str, Any]:
    """The upstream schema from the package, after checking the package and the file are the pinned ones."""
    meta = json.loads(npm_member(tarball, "package.json"))
    if meta.get("name") != pin.name or meta.get("version") != pin.version:
        raise VendorError(f"{tarball.name}: package.json names {meta.get('name')}@{meta.get('version')}")
    if meta.get("license") != pin.license:
        raise VendorError(f"{pin.label}: license {meta.get('license')!r}, pinned {pin.license!r}")
    raw = npm_member(tarball, pin.member)
    actual = sha256_of(raw)
    if actual != pin.member_sha256:
        raise VendorError(
            f"{pin.label}: {pin.member} has sha256 {actual}, not {pin.member_sha256} (the upstream "
            f"{pin.upstream_path} at {pin.upstream_commit[:12]}); compare it with upstream before re-pinning"
        )
    schema = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    if not isinstance(schema, dict) or schema.get("title") != "Compose Specification":
        raise VendorError(f"{pin.label}: {pin.member} is not the Compose Specification schema")
    return schema


# ------------------------------------------------------------------------ checks


def _patterns(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            found.append(node["pattern"])
        if isinstance(node.get("patternProperties"), dict):
            found.extend(node["patternProperties"])
        for value in node.values():
            found.extend(_patterns(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_patterns(value))
    return found


def check(schema: dict[str, Any]) -> None:
    """The schema is a valid Draft 7 schema whose patterns Python's ``re`` (used by jsonschema) compiles."""
    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:
        raise VendorError(f"not a valid Draft 7 schema: {exc.message}") from exc
    for pattern in _patterns(schema):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise VendorError(f"pattern {pattern!r} is not a Python regular expression: {exc}") from exc


# ------------------------------------------------------------------------- output


def provenance_fields(pin: Pin) -> dict[str, str]:
    return {
        "license": pin.license,
        "member": pin.member,
        "memberSha256": pin.member_sha256,
        "package": pin.name,
        "registry": "npm",
        "sha256": pin.sha256,
        "upstream": pin.upstream,
        "upstreamCommit": pin.upstream_commit,
        "upstreamDate": pin.upstream_date,
        "upstreamLicense": pin.upstream_license,
        "upstreamPath": pin.upstream_path,
        "version": pin.version,
    }


def finish(pin: Pin, schema: dict[str, Any]) -> dict[str, Any]:
    """The schema to write: upstream's, with ``$comment`` and ``x-modelfleet-provenance`` after ``$id``."""
    for key in ("$comment", "x-modelfleet-provenance"):
        if key in schema:
            raise VendorError(f"upstream schema already has {key!r}; adapt tools/vendor_compose_schema.py")
    comment = (
        f"The Compose Specification schema: {pin.upstream} {pin.upstream_path} at commit {pin.upstream_commit} "
        f"({pin.upstream_date}, {pin.upstream_license}), vendored unchanged by tools/vendor_compose_schema.py from "
        f"npm {pin.spec} ({pin.member}, {pin.license}). Do not edit: run `make compose-schema`."
    )
    out: dict[str, Any] = {}
    for key, value in schema.items():
        out[key] = value
        if key == "$id":
            out["$comment"] = comment
            out["x-modelfleet-provenance"] = provenance_fields(pin)
    if "$comment" not in out:
        out = {"$comment": comment, "x-modelfleet-provenance": provenance_fields(pin), **out}
    return out


def dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def provenance(pin: Pin) -> str:
    return "\n".join(
        [
            "# Vendored Compose Specification schema",
            "",
            "Generated by `tools/vendor_compose_schema.py` (`make compose-schema`); do not edit by hand.",
            "`generator/build/compose.py` validates every `rendered/compose/<env>.yaml` against it.",
            "",
            "| file | upstream | package | license (package; upstream) |",
            "| --- | --- | --- | --- |",
            f"| `{SCHEMA_FILE}` | {pin.upstream} `{pin.upstream_path}` at `{pin.upstream_commit}` "
            f"({pin.upstream_date}) | npm `{pin.spec}`, file `{pin.member}` | "
            f"{pin.license}; {pin.upstream_license} |",
            "",
            "## Checks made by the tool",
            "",
            f"- The npm tarball's sha256 is `{pin.sha256}`, and its package.json names `{pin.spec}`",
            f"  with license {pin.license}.",
            f"- The schema file's sha256 is `{pin.member_sha256}`. That is the sha256 of",
            f"  `{pin.upstream_path}` at upstream commit `{pin.upstream_commit}`, found by comparing the",
            "  file with the upstream history byte for byte when this version was pinned: the package ships",
            "  upstream's file unchanged (dclint downloads it from upstream with its `update-compose-schema`",
            "  script). Newer upstream commits add only fields modelfleet does not write",
            "  (`build.provenance`, `build.sbom`, `develop.watch[].initial_sync`, as of 2025-10-21).",
            "- It is a valid Draft 7 schema, and every `pattern` compiles with Python's `re`.",
            "",
            "## Transformations",
            "",
            "None to the schema itself. A top-level `$comment` and `x-modelfleet-provenance` object naming",
            "the package and the upstream commit are inserted after `$id`; validators ignore both. Upstream's",
            "key order is kept, so the file diffs cleanly against the upstream file.",
            "",
            "## Notes",
            "",
            '- Upstream declares `"$schema": "https://json-schema.org/draft-07/schema"` (https, no `#`), which',
            "  `jsonschema.validators.validator_for` does not recognise; modelfleet uses `Draft7Validator`",
            "  explicitly.",
            "- The schema has no `format` constraints; durations such as `10s` and byte sizes such as `4g`",
            "  are plain strings to it, so the generator writes them in the forms Docker Compose documents.",
            "",
        ]
    )


# -------------------------------------------------------------------------- main


def vendor(out_dir: Path, pin: Pin = DCLINT) -> list[Path]:
    """Download, check and write the schema and PROVENANCE.md; returns the files written."""
    with tempfile.TemporaryDirectory(prefix="vendor-compose-") as tmp:
        tarball = download(pin, Path(tmp))
        schema = read_schema(pin, tarball)
    check(schema)
    out_dir.mkdir(parents=True, exist_ok=True)
    schema_path = out_dir / SCHEMA_FILE
    schema_path.write_text(dump(finish(pin, schema)), encoding="utf-8")
    provenance_path = out_dir / "PROVENANCE.md"
    provenance_path.write_text(provenance(pin), encoding="utf-8")
    return [schema_path, provenance_path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: schemas/compose)")
    args = parser.parse_args(argv)
    if shutil.which("npm") is None:
        print("vendor_compose_schema: npm is required (apt-get install npm)", file=sys.stderr)
        return 1
    try:
        written = vendor(args.out)
    except VendorError as exc:
        print(f"vendor_compose_schema: {exc}", file=sys.stderr)
        return 1
    for path in written:
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
