"""What a plaintext secret looks like, whatever it is called: a known token format (the
detectors of ``detect-secrets`` and the few formats it lacks) or a high-entropy string.
These are detectors 1 and 3 of ``secrets_scan``, which documents the rules."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin

MIN_TOKEN = 20
WINDOW = 1024
WINDOW_OVERLAP = 256
BASE64_LIMIT = 4.0
HEX_LIMIT = 3.0
CLASS_CHANGE_RATIO = 0.45
_CHECKSUM_CONTEXT = re.compile(r"sha|md5|checksum|digest|hash|revision|commit|etag", re.IGNORECASE)
_NOT_LITERAL = re.compile(
    r"""^(?:
        |[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?     # numbers
        |(?i:true|false|yes|no|on|off|null|none|~)
        |\$\([A-Za-z_][A-Za-z0-9_]*\)            # Kubernetes $(VAR)
        |\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*    # shell ${VAR}, $VAR
        |\{\{.*\}\}|<[^<>]*>                     # templates, <placeholders>
        |[A-Za-z_][\w.]*\(.*                    # code: os.getenv(...), bool(x)
        |(?:/|\./|~/)\S*                         # paths
    )$""",
    re.VERBOSE,
)
_HEX_TOKEN = re.compile(rf"(?<![0-9A-Za-z])[0-9a-fA-F]{{{MIN_TOKEN},}}(?![0-9A-Za-z])")
_B64_TOKEN = re.compile(rf"[A-Za-z0-9+/=_-]{{{MIN_TOKEN},}}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# Formats detect-secrets 1.5 does not know: (description, pattern).
_EXTRA_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("GitHub fine-grained token", re.compile(r"github_pat_[A-Za-z0-9_]{60,}")),
    ("Hugging Face token", re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}")),
    ("Google API key", re.compile(r"AIza[0-9A-Za-z_-]{35}")),
)
# Whatever a known-format detector (detect-secrets' or _EXTRA_FORMATS) can match contains one of
# these: a detector's fixed marker (compared as that detector compares: some ignore case), or, for
# the three formats without one, the part of their shape that only they have. With both "://" and
# "@" (a URL with a password) this is all a detector can find. See _maybe_known.
_MAYBE_KNOWN = re.compile(
    r"(?i:private key|putty-user-key|xox|hooks\.slack\.com|aws)"  # private keys, Slack, AWS secret keys
    r"|A3T|ABIA|ACCA|AKIA|ASIA|eyJ|_authToken|gh[pousr]_|github_pat_|gl[a-z]{2,5}-|GR1348941|[rs]k_live_"
    r"|T3BlbkFJ|pypi-|SG\.|AccountKey=|sq0csp-|hf_|AIza|-us[0-9]"  # OpenAI, PyPI, ..., Mailchimp
    r"|(?:AC|SK)[a-z0-9]{32}|\.[\w-]{6}\.|\d:[\w-]{35}"  # Twilio, Discord, Telegram
)
# Known tokens start with a format marker (AKIA, ghp_, xoxb, eyJh): messages show that much.
_SHOW_PREFIX = 4


@functools.cache
def _detectors() -> tuple[RegexBasedDetector, ...]:
    """The detect-secrets regex detectors used, built once (importing the package is slow)."""
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
    from detect_secrets.plugins.basic_auth import BasicAuthDetector
    from detect_secrets.plugins.discord import DiscordBotTokenDetector
    from detect_secrets.plugins.github_token import GitHubTokenDetector
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.mailchimp import MailchimpDetector
    from detect_secrets.plugins.npm import NpmDetector
    from detect_secrets.plugins.openai import OpenAIDetector
    from detect_secrets.plugins.private_key import PrivateKeyDetector
    from detect_secrets.plugins.pypi_token import PypiTokenDetector
    from detect_secrets.plugins.sendgrid import SendGridDetector
    from detect_secrets.plugins.slack import SlackDetector
    from detect_secrets.plugins.square_oauth import SquareOAuthDetector
    from detect_secrets.plugins.stripe import StripeDetector
    from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
    from detect_secrets.plugins.twilio import TwilioKeyDetector

    return (
        PrivateKeyDetector(),
        AWSKeyDetector(),
        GitHubTokenDetector(),
        GitLabTokenDetector(),
        SlackDetector(),
        JwtTokenDetector(),
        StripeDetector(),
        OpenAIDetector(),
        PypiTokenDetector(),
        NpmDetector(),
        SendGridDetector(),
        TwilioKeyDetector(),
        DiscordBotTokenDetector(),
        TelegramBotTokenDetector(),
        AzureStorageKeyDetector(),
        MailchimpDetector(),
        SquareOAuthDetector(),
        BasicAuthDetector(),
    )


@functools.cache
def _entropy_plugins() -> dict[str, HighEntropyStringsPlugin]:
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString

    return {"hex": HexHighEntropyString(limit=HEX_LIMIT), "base64": Base64HighEntropyString(limit=BASE64_LIMIT)}


def _entropy(token: str, charset: str) -> float:
    """Shannon entropy in bits per character, as detect-secrets computes it for ``charset``
    (for hex, it discounts strings of digits only)."""
    return float(_entropy_plugins()[charset].calculate_shannon_entropy(token))


def _is_sequential(token: str) -> bool:
    from detect_secrets.filters.heuristic import is_sequential_string

    return bool(is_sequential_string(token))


@dataclass(frozen=True)
class Hit:
    """Why a value looks like a secret, and the value."""

    reason: str
    secret: str  # never shown; only hashed into the fingerprint


def is_reference(secret: str) -> bool:
    """Whether ``secret`` is no literal: empty, a number, a boolean, null, a reference or a path."""
    return bool(_NOT_LITERAL.fullmatch(secret.strip()))


def _windows(text: str) -> Iterator[str]:
    """``text`` in overlapping windows of at most WINDOW characters: some detect-secrets
    regexes (the URL-password one) take quadratic time on long pathological lines."""
    if len(text) <= WINDOW:
        yield text
        return
    for start in range(0, len(text) - WINDOW_OVERLAP, WINDOW - WINDOW_OVERLAP):
        yield text[start : start + WINDOW]


def _maybe_known(text: str) -> bool:
    """False when no known-format detector can match ``text`` (in linear time): then
    detect-secrets, which imports an HTTP stack for its verification feature, is not loaded.
    tests/test_secrets_scan.py holds every detector's pattern to it."""
    return _MAYBE_KNOWN.search(text) is not None or ("://" in text and "@" in text)


def known_format(text: str) -> Hit | None:
    """The first token in ``text`` of a known secret format, or None."""
    if not _maybe_known(text):
        return None
    for window in _windows(text):
        hit = _known_format_in(window)
        if hit is not None:
            return hit
    return None


def _known_format_in(text: str) -> Hit | None:
    for detector in _detectors():
        for regex in detector.denylist:
            for match in regex.finditer(text):
                # analyze_string applies the detector's own checks (a JWT must decode)
                if any(s and not is_reference(s) for s in detector.analyze_string(match.group())):
                    return Hit(
                        _KNOWN_REASONS.get(detector.secret_type, "")
                        or _format_reason(detector.secret_type, match.group()),
                        match.group(),
                    )
    for kind, pattern in _EXTRA_FORMATS:
        found = pattern.search(text)
        if found:
            return Hit(_format_reason(kind, found.group()), found.group())
    return None


_KNOWN_REASONS = {
    "Private Key": "contains a private key block (-----BEGIN … PRIVATE KEY-----)",
    "Basic Auth Credentials": "contains a URL with an embedded password",
}


def _format_reason(kind: str, secret: str) -> str:
    return f"matches the {kind} format ({_marker(secret)})"


def _marker(secret: str) -> str:
    return f"{secret[:_SHOW_PREFIX]}…, {len(secret)} characters"


def _class_changes(token: str) -> float:
    def cls(char: str) -> int:
        return 0 if char.islower() else 1 if char.isupper() else 2 if char.isdigit() else 3

    changes = sum(cls(a) != cls(b) for a, b in itertools.pairwise(token))
    return changes / max(len(token) - 1, 1)


def high_entropy(text: str, context: str) -> Hit | None:
    """The first high-entropy token in ``text``, or None; hex tokens are exempt when ``context``
    (the env var or the line) speaks of a checksum."""
    checksum_context = bool(_CHECKSUM_CONTEXT.search(context))
    for token in _HEX_TOKEN.findall(text):
        has_letter, has_digit = any(c.isalpha() for c in token), any(c.isdigit() for c in token)
        if checksum_context or not (has_letter and has_digit) or _is_sequential(token):
            continue
        bits = _entropy(token, "hex")
        if bits >= HEX_LIMIT:
            return Hit(f"high-entropy hex string ({len(token)} characters, {bits:.1f} bits/char)", token)
    for token in _B64_TOKEN.findall(text):
        if not (
            any(c.islower() for c in token) and any(c.isupper() for c in token) and any(c.isdigit() for c in token)
        ):
            continue  # (before the sequence test, which loads detect-secrets)
        if _UUID.search(token) or _HEX_TOKEN.fullmatch(token) or _is_sequential(token):
            continue
        bits = _entropy(token, "base64")
        if bits >= BASE64_LIMIT and _class_changes(token) >= CLASS_CHANGE_RATIO:
            return Hit(f"high-entropy string ({len(token)} characters, {bits:.1f} bits/char)", token)
    return None
