"""Names, keys and addresses in the spec: Kubernetes object names (DNS labels and subdomains,
model names), label values and keys, environment variable names, ConfigMap and Secret keys,
Prometheus label names, host names, HTTP paths and URLs."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from generator.spec.base import spec_error

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
# A ConfigMap or Secret key (the API server's IsConfigMapKey): not '.', not starting with '..'.
SECRET_KEY_RE = re.compile(r"^(?!\.$)(?!\.\.)[-._a-zA-Z0-9]{1,253}$")

# An HTTP path prefix as both Gateway API and Ingress accept it: absolute, no empty, '.' or '..'
# segment, no query or fragment (gateway-api HTTPPathMatch; networking/v1 HTTPIngressPath).
HTTP_PATH_RE = re.compile(r"^(?!.*//)/(?!(.*/)?\.\.?(/|$))[A-Za-z0-9/._~%!$&'()*+,;=:@-]*$")
PROM_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# A label or annotation key: an optional DNS-subdomain prefix and '/', then a name of at most 63.
QUALIFIED_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


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
        suggestion = re.sub(r"[^a-z0-9.-]+", "-", value.lower()).strip("-.")[:253] or "my-name"
        raise spec_error(
            f"'{value}' is not a valid Kubernetes object name (DNS-1123 subdomain)",
            "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit: "
            f"for example '{suggestion}'",
        )
    return value


def _check_label_value(value: str) -> str:
    if len(value) > 63 or not LABEL_VALUE_RE.match(value):
        raise spec_error(f"'{value}' is not a valid label value: at most 63 letters, digits, '-', '_' or '.'")
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


def check_key(value: str, what: str) -> str:
    """A ConfigMap or Secret key (``what`` says which): config file names become ConfigMap keys."""
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
    return check_key(value, "Secret")


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
        raise spec_error(
            f"'{value}' is not a Prometheus label name", "letters, digits and '_', not starting with a digit"
        )
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
SecretKey = Annotated[
    str, AfterValidator(_check_secret_key), WithJsonSchema({"type": "string", "pattern": SECRET_KEY_RE.pattern})
]
