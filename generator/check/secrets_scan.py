"""Plaintext secrets in env values and config files.

Three detectors, strongest first; each env value or config line reports at most one reason:

1. **Known formats** — the regex detectors of Yelp's ``detect-secrets`` (AWS access key
   ids, PEM/OpenSSH/PGP private keys, GitHub, GitLab, Slack, JWT (decoded and checked),
   Stripe, OpenAI, PyPI, npm, SendGrid, Twilio, Discord, Telegram, Azure storage,
   Mailchimp, Square tokens, passwords in URLs), plus the few formats it lacks
   (GitHub fine-grained PATs, Hugging Face and Google API keys). ``detect-secrets`` is used
   as a library, offline: only its detector classes' ``analyze_string``; no baseline, no
   global settings, no verification (which would go to the network).
2. **Names** — an env var whose name has a part PASSWORD, PASSWD, PASSPHRASE, SECRET,
   TOKEN, CREDENTIAL(S) or APIKEY, or the pairs API_KEY, PRIVATE_KEY, ACCESS_KEY,
   SECRET_KEY, AUTH_KEY; and a config line assigning such a key (``password: x``,
   ``"db_password": "x"``, ``api-key = x``). Exempt: names ending in FILE, PATH, DIR,
   NAME, REF or URL (they point at a secret), and values that are not literals: empty,
   numbers, booleans, null, references (``$(VAR)``, ``${VAR}``, ``{{ x }}``,
   ``<placeholder>``) and absolute paths.
3. **Entropy** — Shannon entropy (bits per character, ``detect-secrets``' computation)
   of tokens of at least 20 characters:

   - hex tokens ``[0-9a-f]{20,}`` (a letter and a digit in it): >= 3.0 bits/char, except
     where the name or line mentions sha, md5, checksum, digest, hash, revision, commit
     or etag (artifact checksums, image digests and git revisions are not secrets);
   - base64 tokens ``[A-Za-z0-9+/=_-]{20,}`` with upper case, lower case and a digit:
     >= 4.0 bits/char *and* the character class (lower, upper, digit, other) changes at
     >= 45% of adjacent pairs. Random base64 changes class at about 64% of pairs; model
     ids and paths such as ``HuggingFaceH4/zephyr-7b-beta`` (4.2 bits/char) change at
     about 35%, so the second test keeps them out.

   UUIDs and sequential strings (``ABCDEF...``) are never reported.

False positives: a config line carrying ``modelfleet: allow-secret`` (in any comment
syntax, e.g. ``# modelfleet: allow-secret``) is skipped. Findings carry a stable
fingerprint, ``sha256(file NUL path NUL value)[:12]``, that an allowlist such as
``fleet.allowSecrets`` can name. Messages never contain the secret: at most the
format marker that starts a known token (``AKIA…``, ``ghp_…``) and its length.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from generator.errors import Finding, Location

if TYPE_CHECKING:
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin

__all__ = [
    "ALLOW_MARKER",
    "TextHit",
    "env_finding",
    "fingerprint",
    "scan_env",
    "scan_text",
    "text_findings",
    "text_hits",
]

ALLOW_MARKER = "modelfleet: allow-secret"
MIN_TOKEN = 20
WINDOW = 1024
WINDOW_OVERLAP = 256
BASE64_LIMIT = 4.0
HEX_LIMIT = 3.0
CLASS_CHANGE_RATIO = 0.45

_SECRET_PARTS = frozenset(
    {"PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL", "CREDENTIALS", "APIKEY"}
)
_SECRET_PAIRS = frozenset({("API", "KEY"), ("PRIVATE", "KEY"), ("ACCESS", "KEY"), ("SECRET", "KEY"), ("AUTH", "KEY")})
_POINTER_SUFFIXES = frozenset({"FILE", "PATH", "DIR", "NAME", "REF", "URL"})
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
# A secret-ish keyword, not part of a longer word (tokens, tokenizer, secretary, secretRef)
# but maybe inside a longer key (db_password, api_key_v2). Then, after the keyword, the rest
# of the key and an assignment: key = value, key: value, "key": "value". Every repetition is
# bounded and the keyword is found first, so a hostile 1 MiB line costs linear time.
_KEYWORD = re.compile(
    r"(?i)(?<![a-z])(?:password|passwd|passphrase|secret|token|credentials?"
    r"|api[_-]?key|private[_-]?key|access[_-]?key|auth[_-]?key)(?![a-z])"
)
_KEY_HEAD = re.compile(r"[A-Za-z0-9_.-]{0,64}$")
_KEY_REST_AND_VALUE = re.compile(
    r"""(?P<rest>[A-Za-z0-9_.-]{0,64})["']?[ \t]{0,16}[:=][ \t]{0,16}
    (?P<value>"[^"\n]{0,512}"|'[^'\n]{0,512}'|\$\{[^}\n]{0,512}\}|\{\{[^\n]{0,512}?\}\}|<[^<>\n]{0,512}>
    |[^\s,;#}\]]{1,512})""",
    re.VERBOSE,
)
_PEM_BOUNDARY = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]{1,40}-----")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=\s]*")
_COMMENT = re.compile(r"^\s*(?:#|//|--|;|<!--)")
_TRAILING_COMMENT = re.compile(r"\s(?:#|//).*$")
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
    """The detect-secrets regex detectors used, built once (importing the package costs ~0.1 s)."""
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


# ------------------------------------------------------------------------------ detectors


@dataclass(frozen=True)
class _Hit:
    reason: str
    secret: str  # never shown; only hashed into the fingerprint


def _is_reference(secret: str) -> bool:
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
    detect-secrets, which imports an HTTP stack for its verification feature, is not loaded,
    about 60 ms of ``validate``. tests/test_secrets_scan.py holds every detector's pattern to it."""
    return _MAYBE_KNOWN.search(text) is not None or ("://" in text and "@" in text)


def _known_format(text: str) -> _Hit | None:
    if not _maybe_known(text):
        return None
    for window in _windows(text):
        hit = _known_format_in(window)
        if hit is not None:
            return hit
    return None


def _known_format_in(text: str) -> _Hit | None:
    for detector in _detectors():
        for regex in detector.denylist:
            for match in regex.finditer(text):
                # analyze_string applies the detector's own checks (a JWT must decode)
                if any(s and not _is_reference(s) for s in detector.analyze_string(match.group())):
                    return _Hit(
                        _KNOWN_REASONS.get(detector.secret_type, "")
                        or _format_reason(detector.secret_type, match.group()),
                        match.group(),
                    )
    for kind, pattern in _EXTRA_FORMATS:
        found = pattern.search(text)
        if found:
            return _Hit(_format_reason(kind, found.group()), found.group())
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


def _high_entropy(text: str, context: str) -> _Hit | None:
    checksum_context = bool(_CHECKSUM_CONTEXT.search(context))
    for token in _HEX_TOKEN.findall(text):
        has_letter, has_digit = any(c.isalpha() for c in token), any(c.isdigit() for c in token)
        if checksum_context or not (has_letter and has_digit) or _is_sequential(token):
            continue
        bits = _entropy(token, "hex")
        if bits >= HEX_LIMIT:
            return _Hit(f"high-entropy hex string ({len(token)} characters, {bits:.1f} bits/char)", token)
    for token in _B64_TOKEN.findall(text):
        if not (
            any(c.islower() for c in token) and any(c.isupper() for c in token) and any(c.isdigit() for c in token)
        ):
            continue  # (before the sequence test, which loads detect-secrets)
        if _UUID.search(token) or _HEX_TOKEN.fullmatch(token) or _is_sequential(token):
            continue
        bits = _entropy(token, "base64")
        if bits >= BASE64_LIMIT and _class_changes(token) >= CLASS_CHANGE_RATIO:
            return _Hit(f"high-entropy string ({len(token)} characters, {bits:.1f} bits/char)", token)
    return None


def _secret_name(name: str) -> str | None:
    """The part of an env var name that says it holds a secret, or None."""
    parts = [p for p in re.split(r"[_.-]+", name.upper()) if p]
    if not parts or parts[-1] in _POINTER_SUFFIXES:
        return None
    for part in parts:
        if part in _SECRET_PARTS:
            return part
    for pair in itertools.pairwise(parts):
        if pair in _SECRET_PAIRS:
            return "_".join(pair)
    return None


def _assignment(line: str) -> _Hit | None:
    if _COMMENT.match(line):
        return None
    line = _TRAILING_COMMENT.sub("", line)
    for keyword in _KEYWORD.finditer(line):
        tail = _KEY_REST_AND_VALUE.match(line, keyword.end())
        if tail is None:
            continue
        head = _KEY_HEAD.search(line, max(0, keyword.start() - 64), keyword.start())
        key = (head.group() if head else "") + keyword.group() + tail.group("rest")
        value = tail.group("value").strip("\"'")
        if re.split(r"[_.-]+", key.upper())[-1] in _POINTER_SUFFIXES or _is_reference(value):
            continue
        return _Hit(f"{key!r} is assigned a literal value ({len(value)} characters)", value)
    return None


def _scan_env(name: str, value: str) -> _Hit | None:
    if not value.strip():
        return None
    hit = _known_format(value)
    if hit is not None:
        return hit
    part = _secret_name(name)
    if part is not None and not _is_reference(value):
        return _Hit(
            f"the name says it holds a secret ({part}) and it has a literal value ({len(value)} characters)", value
        )
    outside = "\n".join(line for _, line in _outside_pem_bodies(value.splitlines()))
    return _assignment(value) or _high_entropy(outside, f"{name} {value}")


def _scan_line(line: str) -> _Hit | None:
    if ALLOW_MARKER in line or not line.strip():
        return None
    return _known_format(line) or _assignment(line) or _high_entropy(line, line)


def _outside_pem_bodies(lines: Sequence[str]) -> Iterator[tuple[int, str]]:
    """``(index, line)`` except the base64 body lines of PEM blocks: a certificate's body is
    public and a private key is reported at its BEGIN line, not once per body line. A block
    ends at its END line or at the first line that is not base64."""
    inside = False
    for index, line in enumerate(lines):
        if inside and _PEM_BODY.fullmatch(line):
            continue
        inside = False
        boundary = _PEM_BOUNDARY.search(line)
        if boundary is not None and boundary.group(1) == "BEGIN":
            inside = True
        yield index, line


# ---------------------------------------------------------------------------------- API


def scan_env(name: str, value: str) -> str | None:
    """Why the env var ``name=value`` looks like a plaintext secret, or None."""
    hit = _scan_env(name, value)
    return hit.reason if hit else None


def scan_text(text: str) -> list[tuple[int, str]]:
    """``(line, reason)`` for each line (1-based) of a config file that looks like it holds
    a plaintext secret; lines with ``modelfleet: allow-secret`` are skipped."""
    return [(hit.line, hit.reason) for hit in text_hits(text, "")]


def fingerprint(file: str, path: str, value: str) -> str:
    """A stable id for one secret-looking value at one place: 12 hex digits of sha256.

    For an env var use the file that sets it and ``<model>.env.<NAME>``; for a config
    file, the file (relative to the fleet root) and an empty path. A changed value gets a
    new fingerprint, so an allowlist entry never covers a later real secret.
    """
    return hashlib.sha256(f"{file}\0{path}\0{value}".encode()).hexdigest()[:12]


@dataclass(frozen=True)
class TextHit:
    line: int
    reason: str
    fingerprint: str


def text_hits(text: str, file: str) -> list[TextHit]:
    """Like :func:`scan_text`, with each hit's fingerprint (over ``file`` and the secret)."""
    return list(_text_hits(text, file))


def _text_hits(text: str, file: str) -> Iterator[TextHit]:
    for index, line in _outside_pem_bodies(text.splitlines()):
        hit = _scan_line(line)
        if hit is not None:
            yield TextHit(index + 1, hit.reason, fingerprint(file, "", hit.secret))


_HINT = (
    "keep secrets out of models.yaml and config files: put it in a Kubernetes Secret and "
    "reference it with secrets: [{{env: NAME, secretRef: {{name, key}}}}]; if it is not a secret, {allow}"
)


def text_suspect(text: str) -> bool:
    """Whether any line of a config file's ``text`` looks like a plaintext secret (before any
    allowance)."""
    return next(_text_hits(text, ""), None) is not None


def env_suspect(name: str, value: str) -> bool:
    """Whether env var ``name`` = ``value`` looks like a plaintext secret (before any allowance):
    a caller can skip working out where the value was set when it does not."""
    return _scan_env(name, value) is not None


def env_finding(
    name: str,
    value: str,
    *,
    location: Location | None,
    file: str,
    path: str,
    allowed: Collection[str] = (),
) -> Finding | None:
    """A finding for a plaintext secret in env var ``name``, unless its fingerprint is in
    ``allowed``. ``path`` is the finding's field path (e.g. ``models[2].env.DB_PASSWORD``)
    and also goes into the fingerprint: prefer one that does not move when models are
    reordered, such as ``fraud-detector.env.DB_PASSWORD``."""
    hit = _scan_env(name, value)
    if hit is None:
        return None
    mark = fingerprint(file, path, value)
    if mark in allowed:
        return None
    return Finding(
        f"env.{name} looks like a plaintext secret: {hit.reason}",
        location,
        path,
        _HINT.format(allow=f"allow it by its fingerprint {mark}"),
    )


def text_findings(text: str, *, file: str, allowed: Collection[str] = ()) -> list[Finding]:
    """A finding, located at its line, for each secret-looking line of config file ``file``."""
    return [
        Finding(
            f"config file line looks like a plaintext secret: {hit.reason}",
            Location(file, hit.line),
            "",
            _HINT.format(allow=f"end the line with a comment '{ALLOW_MARKER}' or allow fingerprint {hit.fingerprint}"),
        )
        for hit in _text_hits(text, file)
        if hit.fingerprint not in allowed
    ]
