"""A spec file's text before YAML reads it: UTF-8, and no tab or NEL where YAML parsers
disagree or refuse; each problem a located error."""

from __future__ import annotations

from generator.errors import Finding, Location, ModelfleetError


def decode(raw: bytes, display: str) -> str:
    """The file's bytes as text: UTF-8 (a located error otherwise), without a BOM, with \\n line breaks."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = raw[: exc.start]
        line = prefix.count(b"\n") + 1
        line_start = prefix.rfind(b"\n") + 1
        column = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        raise ModelfleetError(
            [
                Finding(
                    f"byte 0x{raw[exc.start]:02x} is not valid UTF-8",
                    Location(display, line, column),
                    hint="save the file as UTF-8",
                )
            ]
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n")


def check_line_breaks(text: str, display: str, lines: tuple[str, ...]) -> None:
    """NEL (U+0085) is a line break to PyYAML but not to kustomize's YAML parser."""
    offset = text.find("\x85")
    if offset < 0:
        return
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    raise ModelfleetError(
        [
            Finding(
                "the file holds NEL (U+0085), a line break to some YAML parsers and not to others",
                Location(display, line, column),
                hint="replace it with a plain line break or a space",
                source_line=lines[line - 1] if line <= len(lines) else None,
            )
        ]
    )


def check_tabs(text: str, display: str, lines: tuple[str, ...]) -> None:
    """A tab in a line's indentation is a located error (YAML indents with spaces)."""
    for number, line in enumerate(lines, start=1):
        stripped = line.lstrip(" \t")
        indent = line[: len(line) - len(stripped)]
        if "\t" in indent and stripped and not stripped.startswith("#"):
            column = indent.index("\t") + 1
            raise ModelfleetError(
                [
                    Finding(
                        "a tab is used for indentation",
                        Location(display, number, column),
                        hint="YAML indents with spaces only; replace the tab with spaces",
                        source_line=line,
                    )
                ]
            )
