"""The one strict jinja2 environment, built once.

Every ``{{ value }}`` is emitted as a quoted scalar (a JSON string, number, list or
mapping, which YAML reads back unchanged), so no value can change the structure of
a manifest or a Dockerfile: the YAML counterpart of HTML autoescape. A template that
needs raw text (an image reference after FROM) pipes it through ``bare``, which only
lets a conservative character set through. Undefined variables are errors.

Many models render the same text (a model unchanged between environments, the same
ServiceAccount everywhere): the documents of each distinct text are parsed once and kept
in ``marshal`` form, which loads back much faster than YAML parses and gives every
caller objects of its own.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
import marshal
import re
from collections.abc import Mapping
from typing import Any

import jinja2
import yaml

try:
    from yaml import CSafeLoader as _CLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _CLoader  # type: ignore[assignment]


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


class _Loader(_CLoader):
    """The safe loader, with strings, string-keyed mappings and sequences built in one pass.

    What a template renders is nearly all of those; any other node (a number, a merge key, a
    non-string key) is built by the safe constructor, so the result is exactly its result.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        try:
            return self._plain(node)
        finally:
            self.constructed_objects, self.recursive_objects = {}, {}

    def _plain(self, node: yaml.Node) -> Any:
        tag = node.tag
        if tag == _STR_TAG and type(node) is yaml.ScalarNode:
            return node.value
        if tag == _MAP_TAG and type(node) is yaml.MappingNode:
            mapping = {}
            for key, value in node.value:
                if key.tag != _STR_TAG or type(key) is not yaml.ScalarNode:
                    return super().construct_document(node)
                mapping[key.value] = self._plain(value)
            return mapping
        if tag == _SEQ_TAG and type(node) is yaml.SequenceNode:
            return [self._plain(item) for item in node.value]
        return self.construct_object(node, deep=True)


class TemplateBug(Exception):
    """A template failed: always a modelfleet bug, reported with template file:line."""


class Bare(str):
    """Text already checked to be safe to emit without quotes."""

    __slots__ = ()


_BARE_RE = re.compile(r"^[A-Za-z0-9._:/@+=,%-]*$")
# Characters YAML does not allow raw inside a double-quoted scalar, or reads as line breaks.
_UNSAFE_RE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


# Printable ASCII but '"' and '\\': such a string's JSON literal is itself in quotes.
_PLAIN_STRING = re.compile(r"[ !#-\[\]-~]*")


def quote(value: Any) -> str:
    """A YAML/JSON-safe literal for ``value``."""
    kind = type(value)
    if kind is str and _PLAIN_STRING.fullmatch(value):
        return f'"{value}"'  # what json.dumps gives, without its call
    if kind is int:
        return str(value)
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return _UNSAFE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _finalize(value: Any) -> str:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()  # raises UndefinedError, reported with template:line
    if isinstance(value, Bare):
        return str(value)
    return quote(value)


def bare(value: Any) -> Bare:
    """Pass ``value`` through unquoted, after checking it holds only safe characters."""
    text = str(value)
    if not _BARE_RE.match(text):
        raise TemplateBug(f"value {text!r} is not safe to emit unquoted")
    return Bare(text)


def strict_environment(*, autoescape: bool) -> jinja2.Environment:
    """A jinja2 environment over the packaged templates: undefined variables are errors,
    blocks trim their newlines, and HTML autoescape is on or off."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(importlib.resources.files("generator.templates"))),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # the templates ship with the package: no stat of the file on every use
    )


@functools.cache
def environment() -> jinja2.Environment:
    """The YAML templates' environment: every value quoted by ``_finalize``."""
    env = strict_environment(autoescape=False)
    env.finalize = _finalize
    env.filters["bare"] = bare
    return env


def _template_position(exc: BaseException) -> str:
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def render_text(template: str, context: Mapping[str, Any]) -> str:
    """Render one template to text."""
    try:
        return environment().get_template(template).render(**context)
    except TemplateBug:
        raise
    except jinja2.TemplateError as exc:
        where = _template_position(exc) or template
        raise TemplateBug(f"{where}: {exc}") from None


# BLAKE2b-256 of a rendered text -> marshal of its documents, oldest first. About 1.4 KB an
# entry. A text recurs within one model (its base, then its units; a render goes model by
# model), so a few hundred entries serve every hit.
_PARSED: dict[bytes, bytes] = {}
_PARSED_MAX = 1 << 8


def _parse(template: str, text: str) -> list[dict[str, Any]]:
    try:
        documents = [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
    except yaml.YAMLError as exc:
        raise TemplateBug(f"{template} rendered invalid YAML: {exc}") from None
    for doc in documents:
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            raise TemplateBug(f"{template} rendered a document without apiVersion and kind")
    return documents


def render_documents(template: str, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Render a YAML template and parse it back into Kubernetes-style objects.

    The objects are the caller's own (no two calls share any part), however often the same
    text is rendered.
    """
    text = render_text(template, context)
    key = hashlib.blake2b(text.encode("utf-8"), digest_size=32).digest()
    frozen = _PARSED.get(key)
    if frozen is not None:
        documents: list[dict[str, Any]] = marshal.loads(frozen)
        return documents
    documents = _parse(template, text)
    try:
        frozen = marshal.dumps(documents)
    except ValueError:  # a value marshal cannot hold (a YAML timestamp): not kept
        return documents
    if len(_PARSED) >= _PARSED_MAX:
        del _PARSED[next(iter(_PARSED))]
    _PARSED[key] = frozen
    return documents
