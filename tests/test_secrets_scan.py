"""Plaintext-secret detection in env values and config files: true positives, true
negatives, the allow marker, fingerprints, and that no message ever carries the secret."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.check import secrettokens
from generator.check.secrets_scan import (
    ALLOW_MARKER,
    env_finding,
    fingerprint,
    scan_env,
    scan_text,
    text_findings,
    text_hits,
)
from generator.errors import Finding, Location

REPO = Path(__file__).resolve().parent.parent

# Test values are assembled at run time so that this file itself holds no token-shaped literal.
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
JWT = ".".join(
    [
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ",
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ]
)
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
HF = "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH"
RANDOM_B64 = "k8Jd93hHsQ0pLz7X" + "v2MnBq5Rt1Wy4Ua6"
RANDOM_HEX = "f763353ce15d2eb5" + "bc8a23"
SHA256 = "8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f"

POSITIVE_ENV = [
    ("AWS access key id", "AWS_ACCESS_KEY_ID", AWS_KEY, "AWS Access Key format (AKIA…"),
    ("AWS key under an innocent name", "UPLOAD_ID", AWS_KEY, "AWS Access Key"),
    ("PEM private key", "TLS_KEY_PEM", PEM, "private key block"),
    ("GitHub token", "GIT_CREDENTIAL_HELPER_VALUE", GITHUB, "GitHub Token format (ghp_…, 40 characters)"),
    ("Slack token", "NOTIFY", SLACK, "Slack Token format (xoxb…"),
    ("JWT", "AUTH_HEADER", JWT, "JSON Web Token format (eyJh…"),
    ("Hugging Face token", "HF_TOKEN", HF, "Hugging Face token format (hf_a…"),
    ("high-entropy base64 in DB_PASSWORD", "DB_PASSWORD", RANDOM_B64, "PASSWORD"),
    ("high-entropy base64, innocent name", "SETTING", RANDOM_B64, "high-entropy string (32 characters"),
    ("high-entropy hex", "SETTING", RANDOM_HEX, "high-entropy hex string (22 characters"),
    ("plain password by name", "SMTP_PASSWORD", "hunter2", "the name says it holds a secret (PASSWORD)"),
    ("api key by name", "OPENWEATHER_API_KEY", "abc123", "(API_KEY)"),
    ("token by name", "FEATURE_STORE_TOKEN", "tok", "(TOKEN)"),
    ("password in a URL", "DATABASE_URL", "postgres://app:hunter22@db:5432/x", "URL with an embedded password"),
    ("password in an option string", "DB_OPTS", "user=app password=hunter22", "'password' is assigned"),
]


@pytest.mark.parametrize(("case", "name", "value", "words"), POSITIVE_ENV, ids=[c[0] for c in POSITIVE_ENV])
def test_env_true_positives(case: str, name: str, value: str, words: str) -> None:
    reason = scan_env(name, value)
    assert reason is not None, case
    assert words in reason
    assert value not in reason


NEGATIVE_ENV = [
    ("LOG_LEVEL", "info"),
    ("SCORE_THRESHOLD", "0.82"),
    ("MLSERVER_MODEL_NAME", "sentiment"),
    ("MODEL_DIR", "/models/v7"),
    ("ENDPOINT", "https://feature-store.acme.example/v1/features?team=risk"),
    ("EXPECTED_SHA256", SHA256),
    ("ARTIFACT_DIGEST", "sha256:" + SHA256),
    ("IMAGE", f"registry.acme.example/ml/churn-model@sha256:{SHA256}"),
    ("MODEL_REVISION", "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"),
    ("MODEL_ID", "HuggingFaceH4/zephyr-7b-beta"),
    ("EMBEDDINGS", "sentence-transformers/all-MiniLM-L6-v2"),
    ("SERVED_MODEL", "meta-llama/Llama-3.1-8B-Instruct"),
    ("REQUEST_ID_PREFIX", "123e4567-e89b-12d3-a456-426614174000"),
    ("TOKENIZERS_PARALLELISM", "false"),
    ("MAX_TOKENS", "512"),
    ("HF_TOKEN", ""),
    ("HF_TOKEN_PATH", "/var/run/secrets/hf/token"),
    ("DB_PASSWORD_FILE", "/run/secrets/db-password"),
    ("DB_SECRET_NAME", "churn-db"),
    ("DB_PASSWORD", "$(DB_PASSWORD_FROM_SECRET)"),
    ("DATABASE_URL", "postgres://app:$(DB_PASSWORD)@db:5432/churn"),
    ("API_KEY", "${API_KEY}"),
    ("USE_AUTH_TOKEN", "true"),
    ("TOKEN_TTL_SECONDS", "3600"),
    ("ALPHABET", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
]


@pytest.mark.parametrize(("name", "value"), NEGATIVE_ENV)
def test_env_true_negatives(name: str, value: str) -> None:
    assert scan_env(name, value) is None


CONFIG = f"""\
# Model settings
model:
  id: HuggingFaceH4/zephyr-7b-beta
  revision: 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b
  sha256: {SHA256}
  checksum: "{SHA256}"
  max_tokens: 512
  tokenizer: /models/tokenizer.json
  score_threshold: 0.82
feature_store:
  url: https://feature-store.acme.example/v1
  token_url: https://auth.acme.example/oauth/token
  password: ${{FEATURE_STORE_PASSWORD}}
  secret_ref: feature-store
  # password: set from the Secret, never here
  api_key: "{{{{ .Values.apiKey }}}}"
  client_secret: <set at deploy time>
"""


def test_config_true_negatives() -> None:
    assert scan_text(CONFIG) == []


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("password: hunter22", "'password' is assigned a literal value (8 characters)"),
        ('  "db_password": "s3cr3t!"', "'db_password' is assigned"),
        ("api-key = abc123def", "'api-key' is assigned"),
        ("client_secret: zzz # note", "'client_secret' is assigned"),
        (f"aws_access_key_id = {AWS_KEY}", "AWS Access Key format"),
        ("-----BEGIN OPENSSH " + "PRIVATE KEY-----", "private key block"),
        (f'{{"token": "{GITHUB}"}}', "GitHub Token format"),
        (f"webhook: {SLACK}", "Slack Token format"),
        (f"bearer: {JWT}", "JSON Web Token format"),
        (f"blob: {RANDOM_B64}", "high-entropy string"),
        (f"salt: {RANDOM_HEX}", "high-entropy hex string"),
    ],
)
def test_config_true_positives(line: str, words: str) -> None:
    hits = scan_text(f"model:\n  name: churn\n{line}\n")
    assert len(hits) == 1
    number, reason = hits[0]
    assert number == 3
    assert words in reason


def test_allow_marker_on_the_same_line() -> None:
    text = f"password: hunter22  # {ALLOW_MARKER}\nother: {RANDOM_B64} // {ALLOW_MARKER}\npassword: again2\n"
    assert scan_text(text) == [(3, "'password' is assigned a literal value (6 characters)")]


SECRETS = [AWS_KEY, GITHUB, SLACK, JWT, HF, RANDOM_B64, RANDOM_HEX, "hunter22", "s3cr3t!"]


@pytest.mark.parametrize("secret", SECRETS)
def test_no_secret_value_in_messages(secret: str) -> None:
    finding = env_finding("DB_PASSWORD", secret, location=Location("models.yaml", 3, 5), file="models.yaml", path="p")
    assert finding is not None
    text = f"password: {secret}\nvalue: {secret}\n"
    findings = [finding, *text_findings(text, file="services/x/config.yaml")]
    for f in findings:
        for part in (f.message, f.hint, f.path):
            assert secret not in part
            # nothing beyond a 4-character format marker
            assert secret[4:12] not in part


def test_fingerprints_are_stable_and_allow_a_finding() -> None:
    mark = fingerprint("models.yaml", "fraud-detector.env.DB_PASSWORD", "hunter22")
    assert mark == fingerprint("models.yaml", "fraud-detector.env.DB_PASSWORD", "hunter22")
    assert len(mark) == 12 and int(mark, 16) >= 0
    assert mark != fingerprint("models.yaml", "fraud-detector.env.DB_PASSWORD", "hunter23")
    assert mark != fingerprint("environments/prod.yaml", "fraud-detector.env.DB_PASSWORD", "hunter22")

    def finding_for(name: str, value: str, allowed: set[str] | None = None) -> Finding | None:
        path = "fraud-detector.env.DB_PASSWORD"
        return env_finding(name, value, location=None, file="models.yaml", path=path, allowed=allowed or set())

    finding = finding_for("DB_PASSWORD", "hunter22")
    assert finding is not None
    assert finding.message.startswith("env.DB_PASSWORD looks like a plaintext secret: the name says")
    assert mark in finding.hint
    assert finding_for("DB_PASSWORD", "hunter22", allowed={mark}) is None
    assert finding_for("LOG_LEVEL", "info") is None


def test_text_fingerprints_follow_the_secret_not_the_line() -> None:
    first = text_hits("password: hunter22\n", "services/a/config.yaml")
    moved = text_hits("# moved down\n\npassword: hunter22\n", "services/a/config.yaml")
    assert [h.line for h in first] == [1] and [h.line for h in moved] == [3]
    assert first[0].fingerprint == moved[0].fingerprint
    findings = text_findings("x: 1\npassword: hunter22\n", file="services/a/config.yaml")
    assert [(f.location, f.message) for f in findings] == [
        (
            Location("services/a/config.yaml", 2),
            "config file line looks like a plaintext secret: 'password' is assigned a literal value (8 characters)",
        )
    ]
    assert ALLOW_MARKER in findings[0].hint
    assert (
        text_findings("x: 1\npassword: hunter22\n", file="services/a/config.yaml", allowed={first[0].fingerprint}) == []
    )


def test_example_fleet_has_no_plaintext_secret() -> None:
    """The committed example: every env value in models.yaml and every config file."""
    import yaml

    fleet = yaml.safe_load((REPO / "models.yaml").read_text(encoding="utf-8"))
    for model in fleet["models"]:
        for name, value in (model.get("env") or {}).items():
            assert scan_env(name, str(value)) is None, (model["name"], name)
        for file in (model.get("config") or {}).get("files") or []:
            assert scan_text((REPO / file).read_text(encoding="utf-8")) == [], file


def pem(label: str, lines: int = 12) -> str:
    body = "\n".join(("MIIB" + RANDOM_B64 + RANDOM_B64)[i % 7 :][:64] + f"{i:02d}" for i in range(lines))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


def test_certificates_are_not_secrets() -> None:
    text = "ca_bundle: |\n" + "\n".join("  " + line for line in pem("CERTIFICATE").splitlines()) + "\n"
    assert scan_text(text) == []
    assert scan_env("CA_BUNDLE", pem("CERTIFICATE")) is None
    assert scan_env("JWT_VERIFY_KEY", pem("PUBLIC KEY")) is None


def test_a_private_key_is_reported_once_at_its_begin_line() -> None:
    text = "key: |\n" + pem("RSA " + "PRIVATE KEY") + "\npassword: hunter22\n"
    assert scan_text(text) == [
        (2, "contains a private key block (-----BEGIN … PRIVATE KEY-----)"),
        (16, "'password' is assigned a literal value (8 characters)"),
    ]


def test_a_pem_block_without_end_does_not_hide_later_lines() -> None:
    text = "-----BEGIN CERTIFICATE-----\nMIIBabc\nnot: base64 here\npassword: hunter22\n"
    assert scan_text(text) == [(4, "'password' is assigned a literal value (8 characters)")]


@pytest.mark.parametrize(
    "unit", ["://a:", "password.", 'password="', "eyJa.", "-----BEGIN A-----", "ab12", "aB3", "gl", "AC", "1:", "://a@"]
)
def test_hostile_long_lines_take_linear_time(unit: str) -> None:
    """A 256 KiB line of a pattern that makes a naive regex quadratic (detect-secrets' URL
    password regex, a keyword regex with unbounded key parts) is scanned in seconds, not hours."""
    line = unit * ((256 << 10) // len(unit))
    scan_text("warm up")
    start = time.perf_counter()
    scan_text(line)
    scan_env("VALUE", line)
    assert time.perf_counter() - start < 5


# ---------------------------------------------------------------- the known-format gate

KNOWN_FORMATS: list[tuple[str, re.Pattern[str]]] = [
    (type(detector).__name__, regex) for detector in secrettokens._detectors() for regex in detector.denylist
] + [(kind, pattern) for kind, pattern in secrettokens._EXTRA_FORMATS]

# The detectors of detect-secrets 1.5.0, as the gate was checked against them. A release that
# changes a pattern fails here: check _MAYBE_KNOWN against the new patterns, then update this.
DETECTORS_DIGEST = "043f77599a7520691bc79b23320b25fe391b41149222b51914c9e25d4ccc5244"


def test_the_gate_was_checked_against_these_detect_secrets_patterns() -> None:
    patterns = sorted(
        f"{type(d).__name__}\0{regex.pattern}\0{regex.flags}"
        for d in secrettokens._detectors()
        for regex in d.denylist
    )
    assert hashlib.sha256("\n".join(patterns).encode()).hexdigest() == DETECTORS_DIGEST


@pytest.mark.parametrize(
    "pattern", [p for _, p in KNOWN_FORMATS], ids=[f"{kind}-{i}" for i, (kind, _) in enumerate(KNOWN_FORMATS)]
)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_text_any_known_format_matches_passes_the_gate(pattern: re.Pattern[str], data: st.DataObject) -> None:
    text = data.draw(st.from_regex(pattern))
    assert secrettokens._maybe_known(text), text


@pytest.mark.parametrize(
    "text", ["info", "0.82", "https://runbooks.acme.example/ml", "s3://acme-models/fraud/2.3.1/", "a" * 19]
)
def test_plain_values_skip_the_detectors(text: str) -> None:
    assert not secrettokens._maybe_known(text)


def test_validating_the_example_fleet_does_not_load_detect_secrets() -> None:
    code = (
        "import sys\nfrom pathlib import Path\nfrom generator.validation import validate\n"
        f"validate(Path({str(REPO)!r}))\nprint(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('detect_secrets', 'requests')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
