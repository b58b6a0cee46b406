"""Files the spec points at: paths relative to the fleet root, checked against it when the
parse stage passes it in the validation context (which also collects every path checked), and
config files, whose content must fit in a ConfigMap that ``kubectl kustomize`` can carry."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationInfo, WithJsonSchema

from generator.spec.base import spec_error
from generator.spec.names import check_key

# No path segment that is '..' (a name that merely starts with '..' is a file name).
REL_PATH_PATTERN = r"^(?!/)(?!(.*/)?\.\.(/|$))"
MAX_CONFIG_BYTES = 1024 * 1024  # the API server's limit on a ConfigMap
# Characters `kubectl kustomize` cannot carry in a value: it fails on DEL, the C1 controls and
# U+FFFE/U+FFFF ("control characters are not allowed").
UNSAFE_CHARACTERS = re.compile("[\x7f-\x9f\ufffe\uffff]")
UNSAFE_HINT = "remove it; write what it stands for in words if it is meant as text"


def _fleet_root(info: ValidationInfo) -> Path | None:
    """The fleet root the parse stage passes in the validation context (None when validating
    without files, as the JSON Schema export does)."""
    root = info.context.get("root") if isinstance(info.context, dict) else None
    return root if isinstance(root, Path) else None


def validation_context(
    root: Path, paths: set[str] | None, passed: set[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """The context the parse and resolve stages validate with: the fleet root that paths are
    checked against, ``paths`` (when given), which collects every fleet-relative path
    validated (the input record must name every file the output depends on), and ``passed``
    (when given), the file-system checks already passed in this validation: a thousand models
    built from one directory ask the same questions of the disk."""
    return {"root": root, "paths": paths, "passed": passed}


def _passed(info: ValidationInfo) -> set[tuple[str, str]]:
    """The file-system checks (check, path) already passed in this validation (an empty set,
    kept nowhere, when the context has none). A check is added only once it has passed, so
    every field that fails reports its own error."""
    passed = info.context.get("passed") if isinstance(info.context, dict) else None
    return passed if isinstance(passed, set) else set()


def _record_path(value: str, info: ValidationInfo) -> None:
    paths = info.context.get("paths") if isinstance(info.context, dict) else None
    if isinstance(paths, set):
        paths.add(value)


def _check_relative_path(value: str, info: ValidationInfo) -> str:
    """A relative path that stays inside the fleet root and exists there."""
    _record_path(value, info)
    passed = _passed(info)
    if ("inside", value) in passed:
        return value  # every check below passed for this text already
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
        passed.add(("inside", value))
    return value


def _check_relative_file(value: str, info: ValidationInfo) -> str:
    """A relative path inside the fleet root that is a regular file."""
    value = _check_relative_path(value, info)
    root = _fleet_root(info)
    passed = _passed(info)
    if root is not None and ("file", value) not in passed:
        if not (root / value).is_file():
            raise spec_error(f"'{value}' is not a file", "list files here, not directories")
        passed.add(("file", value))
    return value


def _check_config_file(value: str, info: ValidationInfo) -> str:
    """A config file: a regular UTF-8 text file, small enough for a ConfigMap, whose name
    becomes a ConfigMap key."""
    value = _check_relative_file(value, info)
    check_key(PurePosixPath(value).name, "ConfigMap")
    root = _fleet_root(info)
    passed = _passed(info)
    if root is not None and ("config", value) not in passed:
        _check_config_content(value, (root / value).read_bytes())
        passed.add(("config", value))
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
    passed = _passed(info)
    if root is not None and ("directory", value) not in passed:
        if not (root / value).is_dir():
            raise spec_error(f"'{value}' is not a directory", "point build.context at the service's source directory")
        passed.add(("directory", value))
    return value


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
