"""What images are built from and pinned by: repositories, tags, digests, image references,
artifact URIs and their checksums, Debian packages and the Python version of the base image."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from generator.spec.base import spec_error

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
REPOSITORY_RE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
IMAGE_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@{}-]*$")
ARTIFACT_SCHEMES = ("s3://", "gs://", "pvc://", "oci://", "hf://", "image://")
DEBIAN_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+:~-]+)?$")
# The tag is also the workload's app.kubernetes.io/version label, so it must be a label value too.
LABEL_TAG_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")


def _check_tag(value: str) -> str:
    if value == "latest":
        raise spec_error(
            "the tag 'latest' is not allowed: it changes under you and cannot be rolled back",
            "pin a version such as '2.3.1', or use digest: sha256:...",
        )
    if not TAG_RE.match(value):
        raise spec_error(f"'{value}' is not a valid image tag")
    if not LABEL_TAG_RE.match(value):
        raise spec_error(
            f"the tag '{value}' cannot label the workload: app.kubernetes.io/version takes at most 63 characters "
            "and must start and end with a letter or digit",
            "retag the image (for example without the leading or trailing symbol), or pin it by digest",
        )
    return value


def _check_digest(value: str) -> str:
    if not DIGEST_RE.match(value):
        raise spec_error(
            f"'{value}' is not an image digest",
            "write 'sha256:' followed by 64 lower-case hex digits",
        )
    return value


def _check_artifact_uri(value: str) -> str:
    if not value.startswith(ARTIFACT_SCHEMES) or len(value) <= len(value.split("://", maxsplit=1)[0]) + 3:
        raise spec_error(
            f"'{value}' is not a supported artifact URI",
            "start it with one of: " + ", ".join(ARTIFACT_SCHEMES),
        )
    if any(ch.isspace() for ch in value):
        raise spec_error(f"'{value}' contains white space")
    return value


def _check_sha256(value: str) -> str:
    if not SHA256_RE.match(value):
        raise spec_error(f"'{value}' is not a sha256 checksum", "write 64 lower-case hex digits")
    return value


def _check_repository(value: str) -> str:
    if not REPOSITORY_RE.match(value):
        raise spec_error(f"'{value}' is not a valid image repository")
    return value


def _check_image_ref(value: str) -> str:
    if not IMAGE_REF_RE.match(value) or value.endswith(":latest"):
        raise spec_error(f"'{value}' is not a pinned image reference")
    return value


def _check_package(value: str) -> str:
    if not DEBIAN_PACKAGE_RE.match(value):
        raise spec_error(f"'{value}' is not a Debian package name")
    return value


def _check_python_version(value: str) -> str:
    if not re.match(r"^3\.(9|1[0-9])$", value):
        raise spec_error(f"'{value}' is not a supported Python version", "use '3.10' ... '3.13'")
    return value


Tag = Annotated[
    str,
    AfterValidator(_check_tag),
    WithJsonSchema({"type": "string", "pattern": LABEL_TAG_RE.pattern, "not": {"const": "latest"}}),
]
Digest = Annotated[str, AfterValidator(_check_digest), WithJsonSchema({"type": "string", "pattern": DIGEST_RE.pattern})]
Sha256 = Annotated[str, AfterValidator(_check_sha256), WithJsonSchema({"type": "string", "pattern": SHA256_RE.pattern})]
ArtifactUri = Annotated[
    str,
    AfterValidator(_check_artifact_uri),
    WithJsonSchema({"type": "string", "pattern": "^(s3|gs|pvc|oci|hf|image)://"}),
]
Repository = Annotated[
    str, AfterValidator(_check_repository), WithJsonSchema({"type": "string", "pattern": REPOSITORY_RE.pattern})
]
ImageRef = Annotated[
    str, AfterValidator(_check_image_ref), WithJsonSchema({"type": "string", "pattern": IMAGE_REF_RE.pattern})
]
DebianPackage = Annotated[
    str, AfterValidator(_check_package), WithJsonSchema({"type": "string", "pattern": DEBIAN_PACKAGE_RE.pattern})
]
PythonVersion = Annotated[
    str, AfterValidator(_check_python_version), WithJsonSchema({"type": "string", "pattern": r"^3\.(9|1[0-9])$"})
]
