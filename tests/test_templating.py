"""templating: every interpolation is escaped, so no value can change a manifest's
structure; raw text passes only through `bare`; undefined variables are template bugs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.build.templating import Bare, TemplateBug, bare, environment, quote, render_documents, render_text

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("a\nb", '"a\\nb"'),
        ("a\rb", '"a\\rb"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("---", '"---"'),
        ("{{ secret }}", '"{{ secret }}"'),
        ("line\u2028sep\u2029", '"line\\u2028sep\\u2029"'),
        ("next\x85line", '"next\\u0085line"'),
        ("del\x7f", '"del\\u007f"'),
        ("bom\ufeff", '"bom\\ufeff"'),
        ("nul\x00", '"nul\\u0000"'),
        ("tab\t", '"tab\\t"'),
        ("café ✓", '"café ✓"'),
    ],
)
def test_quote_escapes(value: str, literal: str) -> None:
    assert quote(value) == literal
    assert yaml.safe_load(f"key: {literal}\n") == {"key": value}


@pytest.mark.parametrize(
    ("value", "literal"),
    [(5, "5"), (1.5, "1.5"), (True, "true"), (None, "null"), ([1, "a"], '[1, "a"]'), ({"k": "v"}, '{"k": "v"}')],
)
def test_quote_non_strings_as_json(value: Any, literal: str) -> None:
    assert quote(value) == literal
    assert yaml.safe_load(f"key: {literal}\n") == {"key": value}


def test_quote_rejects_nan() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        quote(float("nan"))


HOSTILE = "x\"\n---\nkind: Secret\n{{ evil }} #c: &a *b \u2028\u2029\x85\x7f\ufeff' [] {}"


def test_hostile_values_cannot_change_the_structure() -> None:
    labels = {
        HOSTILE: HOSTILE,
        "app.kubernetes.io/name": "---",
        "yes": "no",
        "0755": "3.10",
        "k: v": "- item",
        "null": "~",
    }
    documents = render_documents("k8s/serviceaccount.yaml.j2", {"name": HOSTILE, "labels": labels})
    assert documents == [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": HOSTILE, "labels": labels},
            "automountServiceAccountToken": False,
        }
    ]


def test_yaml11_lookalike_strings_stay_strings() -> None:
    [document] = render_documents("k8s/serviceaccount.yaml.j2", {"name": "no", "labels": {"on": "0755"}})
    assert document["metadata"] == {"name": "no", "labels": {"on": "0755"}}


def test_every_character_round_trips() -> None:
    # all of Unicode except surrogates, which no YAML (or UTF-8) file can hold
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    [document] = render_documents("k8s/serviceaccount.yaml.j2", {"name": text, "labels": {}})
    assert document["metadata"]["name"] == text


@pytest.mark.parametrize(
    "value", ["reg.example/ml/m:1.0", "reg.example/ml/m@sha256:" + "a" * 64, "requirements.txt", "a=b,c+d%e", ""]
)
def test_bare_accepts_safe_text(value: str) -> None:
    result = bare(value)
    assert isinstance(result, Bare)
    assert result == value


@pytest.mark.parametrize("value", ["a b", "a\nb", 'x"y', "x'y", "{{", "#c", "a;b", "$HOME", "a\tb", "`cmd`", "a\\b"])
def test_bare_rejects_unsafe_text(value: str) -> None:
    with pytest.raises(TemplateBug) as info:
        bare(value)
    assert str(info.value) == f"value {value!r} is not safe to emit unquoted"


def test_bare_value_is_emitted_unquoted_and_others_quoted() -> None:
    template = environment().from_string("FROM {{ image | bare }}\nLABEL a={{ label }}\n")
    text = template.render(image="python:3.11-slim", label="x y")
    assert text == 'FROM python:3.11-slim\nLABEL a="x y"\n'


def test_undefined_variable_through_a_filter_names_template_and_line() -> None:
    with pytest.raises(TemplateBug) as info:
        render_text("docker/python.Dockerfile.j2", {})
    match = re.search(r"docker/python\.Dockerfile\.j2:(\d+): '(\w+)' is undefined$", str(info.value))
    assert match, str(info.value)
    line, name = int(match[1]), match[2]
    source = (TEMPLATES / "docker" / "python.Dockerfile.j2").read_text(encoding="utf-8").splitlines()
    assert "{{ " + name in source[line - 1]


def test_undefined_plain_variable_names_template_and_line() -> None:
    with pytest.raises(TemplateBug) as info:
        render_documents("k8s/serviceaccount.yaml.j2", {"name": "m"})
    assert re.search(r"k8s/serviceaccount\.yaml\.j2:\d+: 'labels' is undefined$", str(info.value))


def test_unknown_template_is_a_template_bug() -> None:
    with pytest.raises(TemplateBug, match=r"^k8s/absent\.yaml\.j2: "):
        render_text("k8s/absent.yaml.j2", {})


def test_namespace_template_renders() -> None:
    [namespace] = render_documents(
        "k8s/namespace.yaml.j2",
        {"namespace": "ml-prod", "fleet": "acme", "environment": "prod", "pss_version": "v1.31"},
    )
    assert namespace["metadata"]["name"] == "ml-prod"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.31"


MIXED_DOCUMENTS = """\
apiVersion: v1
kind: ConfigMap
data: {a: "1", b: 2, c: 2.5, d: true, e: null, f: ~, g: "yes", h: yes, i: 0o17, j: 1_000}
list: [1, "1", [], {}, [x, {y: z}]]
base: &base {k: v, n: 3}
merged: {<<: *base, k: w}
keys: {1: one, true: yes, null: nothing, "2": two}
empty:
items: [*base, *base]
---
apiVersion: v1
kind: List
items: [-1, .5, .inf, 2026-12-07]
"""


def test_the_template_loader_builds_what_the_safe_loader_builds() -> None:
    """The loader's one-pass construction of strings, mappings and sequences gives the safe
    loader's very values and types; every other node goes through the safe constructor."""
    from generator.build.templating import _Loader

    def typed(value: Any) -> Any:  # == alone would take True for 1 and 1.0 for 1
        if isinstance(value, dict):
            return [(typed(k), typed(v)) for k, v in value.items()]
        if isinstance(value, list):
            return [typed(item) for item in value]
        return (type(value).__name__, value)

    fast = list(yaml.load_all(MIXED_DOCUMENTS, Loader=_Loader))
    safe = list(yaml.load_all(MIXED_DOCUMENTS, Loader=yaml.SafeLoader))
    assert typed(fast) == typed(safe)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=12) | st.text(st.sampled_from(list(' !"#\\/az~\x7f\x00é\u2028')), max_size=8) | st.integers())
def test_quote_is_the_json_literal_with_unsafe_characters_escaped(value: object) -> None:
    """quote's shortcut for plain ASCII text and integers gives json.dumps's literal."""
    from generator.build.templating import _UNSAFE_RE

    expected = _UNSAFE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))
    assert quote(value) == expected
