"""Scalar types of the spec: each carries its own check and a JSON Schema, so the layer
copies made by ``spec.partial`` keep every per-field rule."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

API_VERSION = "modelfleet/v1"
RUNTIMES = ("python", "mlserver", "triton", "torchserve", "tfserving", "vllm")
Runtime = Literal["python", "mlserver", "triton", "torchserve", "tfserving", "vllm"]

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
QUANTITY_RE = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
REPOSITORY_RE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
IMAGE_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@{}-]*$")
ARTIFACT_SCHEMES = ("s3://", "gs://", "pvc://", "oci://", "hf://", "image://")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
DEBIAN_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+:~-]+)?$")
# A ConfigMap or Secret key (the API server's IsConfigMapKey): not '.', not starting with '..'.
SECRET_KEY_RE = re.compile(r"^(?!\.$)(?!\.\.)[-._a-zA-Z0-9]{1,253}$")
# The tag is also the workload's app.kubernetes.io/version label, so it must be a label value too.
LABEL_TAG_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
# No path segment that is '..' (a name that merely starts with '..' is a file name).
REL_PATH_PATTERN = r"^(?!/)(?!(.*/)?\.\.(/|$))"
KUBE_VERSION_RE = re.compile(r"^1\.[0-9]{1,2}$")
MAX_CONFIG_BYTES = 1024 * 1024  # the API server's limit on a ConfigMap
# Characters `kubectl kustomize` cannot carry in a value: it fails on DEL, the C1 controls and
# U+FFFE/U+FFFF ("control characters are not allowed").
UNSAFE_CHARACTERS = re.compile("[\x7f-\x9f\ufffe\uffff]")
UNSAFE_HINT = "remove it; write what it stands for in words if it is meant as text"

# An HTTP path prefix as both Gateway API and Ingress accept it: absolute, no empty, '.' or '..'
# segment, no query or fragment (gateway-api HTTPPathMatch; networking/v1 HTTPIngressPath).
HTTP_PATH_RE = re.compile(r"^(?!.*//)/(?!(.*/)?\.\.?(/|$))[A-Za-z0-9/._~%!$&'()*+,;=:@-]*$")
PROM_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# A label or annotation key: an optional DNS-subdomain prefix and '/', then a name of at most 63.
QUALIFIED_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)

MODEL_CONFIG = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


def spec_error(message: str, hint: str = "") -> PydanticCustomError:
    return PydanticCustomError("modelfleet", "{message}", {"message": message, "hint": hint})


# ---------------------------------------------------------------------------
# Scalar types: each carries its own check, so partial() copies keep it.


def _check_dns_label(value: str) -> str:
    if len(value) > 63:
        raise spec_error(f"'{value}' is {len(value)} characters; a name has at most 63")
    if not DNS_LABEL_RE.match(value):
        suggestion = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:63] or "my-name"
        raise spec_error(
            f"'{value}' is not a valid name: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit",
            f"for example '{suggestion}'",
        )
    return value


def _check_dns_subdomain(value: str) -> str:
    if len(value) > 253 or not DNS_SUBDOMAIN_RE.match(value):
        raise spec_error(f"'{value}' is not a valid Kubernetes object name (DNS-1123 subdomain)")
    return value


def _check_label_value(value: str) -> str:
    if len(value) > 63 or not LABEL_VALUE_RE.match(value):
        raise spec_error(f"'{value}' is not a valid label value: at most 63 letters, digits, '-', '_' or '.'")
    return value


def _quantity_before(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return value


def _check_quantity(value: str) -> str:
    if not QUANTITY_RE.match(value) or value.startswith("-"):
        raise spec_error(
            f"'{value}' is not a Kubernetes quantity",
            "write CPU as '500m' or '2', memory as '512Mi' or '4Gi'",
        )
    return value


def _check_env_name(value: str) -> str:
    if not ENV_NAME_RE.match(value):
        raise spec_error(
            f"'{value}' is not a valid environment variable name",
            "use letters, digits and '_', not starting with a digit",
        )
    return value


def _check_url(value: str) -> str:
    if not URL_RE.match(value):
        raise spec_error(f"'{value}' is not an http(s) URL")
    return value


def _check_runbook_url(value: str) -> str:
    value = _check_url(value)
    if "{{" in value:
        raise spec_error(
            f"'{value}' holds '{{{{', which Prometheus would expand as a template in every alert's runbook_url",
            "percent-encode the braces as %7B%7B",
        )
    return value


def _check_analysis_query(value: str) -> str:
    if "{{" in value:
        raise spec_error(
            "the query holds '{{', which Argo Rollouts would read as one of its own {{...}} arguments "
            "in the canary analysis",
            "inside a PromQL string write '{' as \\x7b",
        )
    return value


def _check_instant_vector(value: str) -> str:
    """A whole query that KEDA reads: valid PromQL whose result is an instant vector."""
    from generator import promql  # the PromQL parser, only for fields that hold whole queries

    problem = promql.type_problem(value, promql.INSTANT_VECTOR)
    if problem is not None:
        raise spec_error(f"the query {problem}", "for example sum(my_queue_length{queue=\"scoring\"})")
    return value


def _fleet_root(info: ValidationInfo) -> Path | None:
    """The fleet root the parse stage passes in the validation context (None when validating
    without files, as the JSON Schema export does)."""
    root = info.context.get("root") if isinstance(info.context, dict) else None
    return root if isinstance(root, Path) else None


def validation_context(root: Path, paths: set[str] | None) -> dict[str, Any]:
    """The context the parse and resolve stages validate with: the fleet root that paths are
    checked against, and ``paths`` (when given), which collects every fleet-relative path
    validated (the input record must name every file the output depends on)."""
    return {"root": root, "paths": paths}


def _record_path(value: str, info: ValidationInfo) -> None:
    paths = info.context.get("paths") if isinstance(info.context, dict) else None
    if isinstance(paths, set):
        paths.add(value)


def _check_relative_path(value: str, info: ValidationInfo) -> str:
    """A relative path that stays inside the fleet root and exists there."""
    _record_path(value, info)
    pure = PurePosixPath(value)
    if value.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", value):
        raise spec_error(f"'{value}' is an absolute path", "give a path relative to the fleet root")
    if ".." in pure.parts or "\\" in value:
        raise spec_error(f"'{value}' leaves the fleet root", "give a path inside the fleet root")
    root = _fleet_root(info)
    if root is not None:
        target = root / value
        try:
            resolved = target.resolve(strict=True)
        except (FileNotFoundError, RuntimeError, OSError):
            raise spec_error(
                f"'{value}' does not exist",
                "create it, or fix the path (relative to the directory holding models.yaml)",
            ) from None
        if not resolved.is_relative_to(root.resolve()):
            raise spec_error(
                f"'{value}' points outside the fleet root (through a symlink)",
                "keep build contexts and config files inside the repository",
            )
    return value


def _check_relative_file(value: str, info: ValidationInfo) -> str:
    """A relative path inside the fleet root that is a regular file."""
    value = _check_relative_path(value, info)
    root = _fleet_root(info)
    if root is not None and not (root / value).is_file():
        raise spec_error(f"'{value}' is not a file", "list files here, not directories")
    return value


def _check_config_file(value: str, info: ValidationInfo) -> str:
    """A config file: a regular UTF-8 text file, small enough for a ConfigMap, whose name
    becomes a ConfigMap key."""
    value = _check_relative_file(value, info)
    _check_key(PurePosixPath(value).name, "ConfigMap")
    root = _fleet_root(info)
    if root is not None:
        _check_config_content(value, (root / value).read_bytes())
    return value


def _check_config_content(value: str, raw: bytes) -> None:
    if len(raw) > MAX_CONFIG_BYTES:
        raise spec_error(
            f"'{value}' is {len(raw)} bytes; a ConfigMap holds at most 1 MiB ({MAX_CONFIG_BYTES} bytes)",
            "ship large files in the image or as the model artifact",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise spec_error(
            f"'{value}' is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})",
            "config files must be UTF-8 text; ship binary files in the image or as the model artifact",
        ) from None
    found = UNSAFE_CHARACTERS.search(text)
    if found:
        line = text.count("\n", 0, found.start()) + 1
        raise spec_error(
            f"'{value}' holds the control character U+{ord(found.group()):04X} on line {line}, which kubectl "
            "kustomize cannot carry in a ConfigMap (DEL, U+0080 to U+009F, U+FFFE and U+FFFF are refused)",
            UNSAFE_HINT,
        )


def _check_directory(value: str, info: ValidationInfo) -> str:
    """A relative path inside the fleet root that is a directory."""
    value = _check_relative_path(value, info)
    root = _fleet_root(info)
    if root is not None and not (root / value).is_dir():
        raise spec_error(f"'{value}' is not a directory", "point build.context at the service's source directory")
    return value


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


def _check_kube_version(value: str) -> str:
    if not KUBE_VERSION_RE.match(value):
        raise spec_error(f"'{value}' is not a Kubernetes minor version", "write it as '1.31'")
    return value


def _check_key(value: str, what: str) -> str:
    if value in {".", ".."} or value.startswith(".."):
        raise spec_error(
            f"'{value}' cannot be a {what} key: the API server rejects '.', '..' and keys starting with '..'",
            "rename it",
        )
    if not SECRET_KEY_RE.match(value):
        raise spec_error(
            f"'{value}' cannot be a {what} key: at most 253 ASCII letters, digits, '-', '_' or '.'",
            "rename it without spaces or other characters",
        )
    return value


def _check_secret_key(value: str) -> str:
    return _check_key(value, "Secret")


def _check_duration(value: str) -> str:
    if not re.match(r"^([0-9]+(ms|s|m|h|d|w|y))+$", value):
        raise spec_error(f"'{value}' is not a Prometheus duration", "for example '5m' or '1h30m'")
    return value


def _check_hostname(value: str) -> str:
    if len(value) > 253 or not DNS_SUBDOMAIN_RE.match(value) or "." not in value:
        raise spec_error(
            f"'{value}' is not a host name: lower-case DNS labels joined by '.', such as fraud.example.com",
            "write the name clients use, without scheme, port or path",
        )
    return value


def _check_http_path(value: str) -> str:
    if len(value) > 1024 or not HTTP_PATH_RE.match(value):
        raise spec_error(
            f"'{value}' is not a path prefix: it starts with '/', has no '//', '.' or '..' segment and no '?' or '#'",
            "for example '/' or '/fraud'",
        )
    return value


def _check_prom_label(value: str) -> str:
    if not PROM_LABEL_RE.match(value):
        raise spec_error(f"'{value}' is not a Prometheus label name", "letters, digits and '_', not starting with a digit")
    return value


def _check_qualified_key(value: str) -> str:
    name = value.rpartition("/")[2]
    prefix = value.rpartition("/")[0]
    if len(name) > 63 or len(prefix) > 253 or not QUALIFIED_KEY_RE.match(value):
        raise spec_error(
            f"'{value}' is not a valid label or annotation key",
            "an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.': example.com/team",
        )
    return value


def _check_platform_label_value(value: str) -> str:
    shown = value.replace("{model}", "m")
    if len(shown) > 63 or (shown and not LABEL_VALUE_RE.match(shown)):
        raise spec_error(
            f"'{value}' is not a valid label value: at most 63 letters, digits, '-', '_' or '.' ({{model}} allowed)",
            "quote numbers and booleans: \"1\", \"true\"",
        )
    return value


PlatformLabelValue = Annotated[str, AfterValidator(_check_platform_label_value), WithJsonSchema({"type": "string"})]
Hostname = Annotated[
    str, AfterValidator(_check_hostname), WithJsonSchema({"type": "string", "pattern": DNS_SUBDOMAIN_RE.pattern})
]
HttpPath = Annotated[
    str, AfterValidator(_check_http_path), WithJsonSchema({"type": "string", "pattern": HTTP_PATH_RE.pattern})
]
PromLabel = Annotated[
    str, AfterValidator(_check_prom_label), WithJsonSchema({"type": "string", "pattern": PROM_LABEL_RE.pattern})
]
QualifiedKey = Annotated[
    str, AfterValidator(_check_qualified_key), WithJsonSchema({"type": "string", "pattern": QUALIFIED_KEY_RE.pattern})
]

DNSLabel = Annotated[
    str,
    AfterValidator(_check_dns_label),
    WithJsonSchema({"type": "string", "pattern": DNS_LABEL_RE.pattern, "maxLength": 63}),
]


def _check_model_name(value: str) -> str:
    value = _check_dns_label(value)
    if not value[0].isalpha():
        raise spec_error(
            f"'{value}' starts with a digit; a model name names its Services, which must start with a letter",
            f"for example 'm-{value}'",
        )
    return value


ModelName = Annotated[
    str,
    AfterValidator(_check_model_name),
    WithJsonSchema({"type": "string", "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}),
]
DNSSubdomain = Annotated[
    str, AfterValidator(_check_dns_subdomain), WithJsonSchema({"type": "string", "pattern": DNS_SUBDOMAIN_RE.pattern})
]
LabelValue = Annotated[
    str, AfterValidator(_check_label_value), WithJsonSchema({"type": "string", "pattern": LABEL_VALUE_RE.pattern})
]
Quantity = Annotated[
    str,
    BeforeValidator(_quantity_before),
    AfterValidator(_check_quantity),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": QUANTITY_RE.pattern}, {"type": "number", "minimum": 0}]}),
]
EnvName = Annotated[
    str, AfterValidator(_check_env_name), WithJsonSchema({"type": "string", "pattern": ENV_NAME_RE.pattern})
]
Url = Annotated[
    str, AfterValidator(_check_url), WithJsonSchema({"type": "string", "format": "uri", "pattern": "^https?://"})
]
RunbookUrl = Annotated[
    str,
    AfterValidator(_check_runbook_url),
    WithJsonSchema({"type": "string", "format": "uri", "pattern": "^https?://", "not": {"pattern": r"\{\{"}}),
]
AnalysisQuery = Annotated[
    str,
    Field(min_length=1),
    AfterValidator(_check_analysis_query),
    WithJsonSchema({"type": "string", "minLength": 1, "not": {"pattern": r"\{\{"}}),
]
DemandQuery = Annotated[
    str,
    Field(min_length=1),
    AfterValidator(_check_instant_vector),
    WithJsonSchema({"type": "string", "minLength": 1}),
]
RelFile = Annotated[
    str,
    AfterValidator(_check_relative_file),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": REL_PATH_PATTERN}),
]
ConfigFile = Annotated[
    str,
    AfterValidator(_check_config_file),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "pattern": REL_PATH_PATTERN + r"(.*/)?(?!\.$)(?!\.\.)[-._a-zA-Z0-9]{1,253}$"}
    ),
]
RelDir = Annotated[
    str,
    AfterValidator(_check_directory),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": REL_PATH_PATTERN}),
]
RelPath = Annotated[
    str, AfterValidator(_check_relative_path), WithJsonSchema({"type": "string", "pattern": REL_PATH_PATTERN})
]
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
KubeVersion = Annotated[
    str, AfterValidator(_check_kube_version), WithJsonSchema({"type": "string", "pattern": KUBE_VERSION_RE.pattern})
]
SecretKey = Annotated[
    str, AfterValidator(_check_secret_key), WithJsonSchema({"type": "string", "pattern": SECRET_KEY_RE.pattern})
]
Duration = Annotated[
    str, AfterValidator(_check_duration), WithJsonSchema({"type": "string", "pattern": r"^([0-9]+(ms|s|m|h|d|w|y))+$"})
]
Percent = Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)]
Port = Annotated[int, Field(ge=1, le=65535)]


_QUANTITY_SUFFIX: dict[str, int | Decimal] = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}  # fmt: skip


def quantity_value(text: str) -> Decimal:
    """The number a Kubernetes quantity stands for (``1Gi`` -> 1073741824)."""
    for suffix in sorted(_QUANTITY_SUFFIX, key=len, reverse=True):  # "Mi" before "M"
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * Decimal(_QUANTITY_SUFFIX[suffix])
    return Decimal(text)


def _check_surge(value: int | str) -> int | str:
    if isinstance(value, str) and not re.match(r"^(100|[1-9]?[0-9])%$", value):
        raise spec_error(f"'{value}' is not a pod count or a percentage", "write a whole number such as 1, or '25%'")
    if isinstance(value, int) and value < 0:
        raise spec_error(f"{value} is negative; a pod count is 0 or more", "write 0 or a positive number such as 1")
    return value


IntOrPercent = Annotated[
    int | str,
    Field(union_mode="left_to_right"),
    AfterValidator(_check_surge),
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^(100|[1-9]?[0-9])%$"}]}
    ),
]


def field_error(message: str, hint: str, field: str) -> PydanticCustomError:
    """A cross-field error reported at ``field`` (dotted, relative to the model being validated)."""
    return PydanticCustomError("modelfleet", "{message}", {"message": message, "hint": hint, "field": field})
