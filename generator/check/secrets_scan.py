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

Detectors 1 and 3 look only at the value and live in ``secrettokens``; the names detector and
what the scan reports are here.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from generator.check.secrettokens import Hit, high_entropy, is_reference, known_format
from generator.errors import Finding, Location

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

_SECRET_PARTS = frozenset(
    {"PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL", "CREDENTIALS", "APIKEY"}
)
_SECRET_PAIRS = frozenset({("API", "KEY"), ("PRIVATE", "KEY"), ("ACCESS", "KEY"), ("SECRET", "KEY"), ("AUTH", "KEY")})
_POINTER_SUFFIXES = frozenset({"FILE", "PATH", "DIR", "NAME", "REF", "URL"})
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


def _assignment(line: str) -> Hit | None:
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
        if re.split(r"[_.-]+", key.upper())[-1] in _POINTER_SUFFIXES or is_reference(value):
            continue
        return Hit(f"{key!r} is assigned a literal value ({len(value)} characters)", value)
    return None


def _scan_env(name: str, value: str) -> Hit | None:
    if not value.strip():
        return None
    hit = known_format(value)
    if hit is not None:
        return hit
    part = _secret_name(name)
    if part is not None and not is_reference(value):
        return Hit(
            f"the name says it holds a secret ({part}) and it has a literal value ({len(value)} characters)", value
        )
    outside = "\n".join(line for _, line in _outside_pem_bodies(value.splitlines()))
    return _assignment(value) or high_entropy(outside, f"{name} {value}")


def _scan_line(line: str) -> Hit | None:
    if ALLOW_MARKER in line or not line.strip():
        return None
    return known_format(line) or _assignment(line) or high_entropy(line, line)


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
