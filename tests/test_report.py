"""Tests for generator.report: every output format, asserted as exact strings."""

from __future__ import annotations

import json

from generator.errors import Finding, Location
from generator.report import format_github, format_json, format_ok, format_text

MIN_OVER_MAX = Finding(
    message="minReplicas 12 is more than maxReplicas 10",
    location=Location("models.yaml", 14, 20),
    path="models[0].scaling.minReplicas",
    hint="lower minReplicas or raise maxReplicas",
    source_line="      minReplicas: 12",
)

# 0-padded numbers, so the trimmed window can be checked by eye: "040" starts at column 174.
LONG_LINE = "      image: " + ",".join(f"{i:03d}" for i in range(80))


def located(line: int, column: int, source_line: str, file: str = "m.yaml") -> Finding:
    return Finding("bad", Location(file, line, column), source_line=source_line)


# ---------------------------------------------------------------- text


def test_text_located_finding_with_hint() -> None:
    assert format_text([MIN_OVER_MAX]) == (
        "models.yaml:14:20: error: models[0].scaling.minReplicas:"
        " minReplicas 12 is more than maxReplicas 10\n"
        "   14 |       minReplicas: 12\n"
        "      |                    ^\n"
        "  hint: lower minReplicas or raise maxReplicas\n"
        "\n"
        "1 error in models.yaml\n"
    )


def test_text_finding_without_location() -> None:
    finding = Finding("at least one model is required", path="models", hint="add a model")
    assert format_text([finding]) == ("error: models: at least one model is required\n  hint: add a model\n\n1 error\n")


def test_text_without_path_line_or_column() -> None:
    findings = [
        Finding("the file is empty", Location("models.yaml")),
        Finding("no column here", Location("models.yaml", 3), source_line="a: b"),
    ]
    assert format_text(findings) == (
        "models.yaml: error: the file is empty\n"
        "\n"
        "models.yaml:3: error: no column here\n"
        "    3 | a: b\n"
        "\n"
        "2 errors in models.yaml\n"
    )


def test_text_blank_line_between_findings_and_order_kept() -> None:
    second = Finding("unknown field", Location("environments/prod.yaml", 2, 1), "replica")
    assert format_text([second, MIN_OVER_MAX]) == (
        "environments/prod.yaml:2:1: error: replica: unknown field\n"
        "\n"
        "models.yaml:14:20: error: models[0].scaling.minReplicas:"
        " minReplicas 12 is more than maxReplicas 10\n"
        "   14 |       minReplicas: 12\n"
        "      |                    ^\n"
        "  hint: lower minReplicas or raise maxReplicas\n"
        "\n"
        "2 errors in 2 files\n"
    )


def test_text_caret_lines_up_after_tabs() -> None:
    # "12" is character 15; the tabs expand to stops of 8, so it is shown at column 25.
    assert format_text([located(3, 15, "\tminReplicas:\t12")]) == (
        "m.yaml:3:15: error: bad\n"
        "    3 |         minReplicas:    12\n"
        "      |                         ^\n"
        "\n"
        "1 error in m.yaml\n"
    )


def test_text_caret_counts_wide_characters_twice() -> None:
    assert format_text([located(1, 13, "owner: 機械学習 x")]) == (
        "m.yaml:1:13: error: bad\n    1 | owner: 機械学習 x\n      |                 ^\n\n1 error in m.yaml\n"
    )


def test_text_long_line_trimmed_around_the_column() -> None:
    assert format_text([located(7, 174, LONG_LINE)]) == (
        "m.yaml:7:174: error: bad\n"
        "    7 | …20,021,022,023,024,025,026,027,028,029,030,031,032,033,034,035,036,037,038,039,"
        "040,041,042,043,044,045,046,047,048,049,050,051,052,053,054,055,056,057,058,059…\n"
        "      |                                                                   "
        "              ^\n"
        "\n"
        "1 error in m.yaml\n"
    )


def test_text_long_line_trimmed_at_start_and_end() -> None:
    at_start = format_text([located(7, 14, LONG_LINE)]).splitlines()[1:3]
    assert at_start == [
        "    7 |       image: 000,001,002,003,004,005,006,007,008,009,010,011,012,013,014,015,"
        "016,017,018,019,020,021,022,023,024,025,026,027,028,029,030,031,032,033,034,035,0…",
        "      |              ^",
    ]
    at_end = format_text([located(7, 333, LONG_LINE)]).splitlines()[1:3]
    assert at_end == [
        "    7 | …40,041,042,043,044,045,046,047,048,049,050,051,052,053,054,055,056,057,058,"
        "059,060,061,062,063,064,065,066,067,068,069,070,071,072,073,074,075,076,077,078,079",
        "      | " + " " * 159 + "^",
    ]


def test_text_line_of_exactly_160_characters_is_not_trimmed() -> None:
    line = "x" * 160
    assert format_text([located(1, 1, line)]).splitlines()[1] == "    1 | " + line


def test_text_summary_pluralisation() -> None:
    one_file = [located(1, 1, "a"), located(2, 1, "b")]
    assert format_text(one_file).endswith("\n\n2 errors in m.yaml\n")
    three_in_two = [*one_file, located(1, 1, "c", file="n.yaml")]
    assert format_text(three_in_two).endswith("\n\n3 errors in 2 files\n")
    unlocated = [Finding("a"), Finding("b")]
    assert format_text(unlocated) == "error: a\n\nerror: b\n\n2 errors\n"


def test_text_no_findings_is_empty() -> None:
    assert format_text([]) == ""


def test_text_color_only_when_asked() -> None:
    finding = Finding("bad", Location("m.yaml", 1, 2), "a")
    assert format_text([finding], color=True) == (
        "\x1b[36mm.yaml:1:2\x1b[0m: \x1b[1;31merror\x1b[0m: a: bad\n\n1 error in m.yaml\n"
    )
    assert "\x1b" not in format_text([finding])


def test_text_control_characters_cannot_reach_the_terminal() -> None:
    finding = Finding("bad \x1b[2J", Location("m.yaml", 1, 4), source_line="a: \x1b[31mred\r")
    assert format_text([finding], color=False) == (
        "m.yaml:1:4: error: bad ?[2J\n    1 | a: ?[31mred?\n      |    ^\n\n1 error in m.yaml\n"
    )


def test_format_ok() -> None:
    summary = "4 models × 3 environments valid"  # noqa: RUF001
    assert format_ok(summary) == "ok: 4 models × 3 environments valid\n"  # noqa: RUF001


# ---------------------------------------------------------------- json


def test_json_exact_document() -> None:
    assert format_json([MIN_OVER_MAX, Finding("no file")]) == (
        "{\n"
        '  "version": 1,\n'
        '  "valid": false,\n'
        '  "errors": [\n'
        "    {\n"
        '      "file": "models.yaml",\n'
        '      "line": 14,\n'
        '      "column": 20,\n'
        '      "path": "models[0].scaling.minReplicas",\n'
        '      "message": "minReplicas 12 is more than maxReplicas 10",\n'
        '      "hint": "lower minReplicas or raise maxReplicas"\n'
        "    },\n"
        "    {\n"
        '      "file": null,\n'
        '      "line": null,\n'
        '      "column": null,\n'
        '      "path": "",\n'
        '      "message": "no file",\n'
        '      "hint": ""\n'
        "    }\n"
        "  ]\n"
        "}\n"
    )


def test_json_round_trip_and_key_order() -> None:
    findings = [MIN_OVER_MAX, Finding("x", Location("env/prod.yaml", 3), "p", "h")]
    document = json.loads(format_json(findings))
    assert list(document) == ["version", "valid", "errors"]
    keys = ["file", "line", "column", "path", "message", "hint"]
    assert [list(error) for error in document["errors"]] == [keys, keys]
    assert document["errors"][1] == {
        "file": "env/prod.yaml",
        "line": 3,
        "column": None,
        "path": "p",
        "message": "x",
        "hint": "h",
    }
    assert format_json(findings) == json.dumps(document, indent=2) + "\n"


def test_json_no_findings_is_valid() -> None:
    assert format_json([]) == '{\n  "version": 1,\n  "valid": true,\n  "errors": []\n}\n'


# ---------------------------------------------------------------- github


def test_github_located_finding_with_hint() -> None:
    assert format_github([MIN_OVER_MAX]) == (
        "::error file=models.yaml,line=14,col=20,title=models[0].scaling.minReplicas"
        "::minReplicas 12 is more than maxReplicas 10"
        " (hint: lower minReplicas or raise maxReplicas)\n"
    )


def test_github_escapes_message_and_properties() -> None:
    finding = Finding(
        message="100% wrong:\r\nsee a, b",
        location=Location("dir,x/a:b%.yaml", 2, 5),
        path="models[0].env.A:B,C%",
    )
    assert format_github([finding]) == (
        "::error file=dir%2Cx/a%3Ab%25.yaml,line=2,col=5,title=models[0].env.A%3AB%2CC%25"
        "::100%25 wrong:%0D%0Asee a, b\n"
    )


def test_github_omits_unknown_properties() -> None:
    findings = [
        Finding("no column", Location("models.yaml", 4)),
        Finding("only a file", Location("models.yaml")),
        Finding("nothing known", hint="try this"),
    ]
    assert format_github(findings) == (
        "::error file=models.yaml,line=4::no column\n"
        "::error file=models.yaml::only a file\n"
        "::error::nothing known (hint: try this)\n"
    )


def test_github_no_findings_is_empty() -> None:
    assert format_github([]) == ""
