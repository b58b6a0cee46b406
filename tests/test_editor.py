"""Editor completion and validation in a fleet repository made by `init`, with nothing copied
by hand: yaml-language-server (pinned, from npm: `make npm-tools`) run as an editor runs it,
speaking LSP over stdio. The `$schema` modelines `init` writes must lead it to the schemas
`init` wrote, so it offers the spec's field names inside a model and flags a wrong field."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from generator.cli import main
from generator.spec.model import ModelSpec

pytestmark = pytest.mark.slow  # needs `make npm-tools`; starts node

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / ".venv" / "tools" / "yls" / "node_modules" / ".bin" / "yaml-language-server"
DEADLINE = 120.0  # seconds to wait for an answer; a hung server fails the test instead of hanging it


class Lsp:
    """A minimal LSP client: Content-Length framed JSON-RPC over the server's stdin/stdout."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_id = 0
        self.settings: dict[str, Any] = SETTINGS
        self.reader = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self.reader.start()

    def _read(self, stream: IO[bytes] | None) -> None:
        assert stream is not None
        while True:
            headers: dict[str, str] = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            if not headers:
                return
            self.inbox.put(json.loads(stream.read(int(headers["content-length"]))))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"method": method, "params": params})

    def wait_for(self, accept: Any) -> dict[str, Any]:
        """The first message ``accept`` takes, answering the server's own requests meanwhile."""
        while True:
            try:
                message = self.inbox.get(timeout=DEADLINE)
            except queue.Empty:
                raise AssertionError("yaml-language-server did not answer") from None
            if "id" in message and "method" in message:  # a request from the server
                result: Any = None
                if message["method"] == "workspace/configuration":
                    result = [self.settings.get(item.get("section"), {}) for item in message["params"]["items"]]
                self.send({"id": message["id"], "result": result})
            if accept(message):
                return message

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        ident = self.next_id
        self.send({"id": ident, "method": method, "params": params})
        return self.wait_for(lambda m: m.get("id") == ident and "method" not in m).get("result")


# What an editor sends; no schema mapping here: the modelines that init writes must suffice.
SETTINGS = {"yaml": {"validate": True, "completion": True, "hover": True, "schemaStore": {"enable": False}}}


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    assert SERVER.is_file(), "yaml-language-server is missing: run `make npm-tools` (make test does)"
    root = tmp_path / "fleet"
    assert main(["init", str(root)]) == 0
    return root


@contextlib.contextmanager
def started(fleet: Path, settings: dict[str, Any]) -> Iterator[Lsp]:
    """The server, initialized in ``fleet`` as an editor does, holding ``settings`` before any file opens."""
    process = subprocess.Popen([str(SERVER), "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=fleet)
    lsp = Lsp(process)
    lsp.settings = settings
    try:
        lsp.request(
            "initialize",
            {
                "processId": None,
                "rootUri": fleet.as_uri(),
                "workspaceFolders": [{"uri": fleet.as_uri(), "name": "fleet"}],
                "capabilities": {
                    "workspace": {"configuration": True},
                    "textDocument": {"completion": {"completionItem": {"snippetSupport": False}}},
                },
            },
        )
        lsp.notify("initialized", {})
        lsp.wait_for(lambda m: m.get("method") == "workspace/configuration")  # it pulls the settings
        yield lsp
    finally:
        process.kill()
        process.wait()
        lsp.reader.join(timeout=DEADLINE)  # it ends at the end of the killed server's output
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def server(fleet: Path) -> Iterator[tuple[Lsp, Path]]:
    with started(fleet, SETTINGS) as lsp:
        yield lsp, fleet


def open_document(lsp: Lsp, path: Path, text: str) -> str:
    uri = path.as_uri()
    lsp.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}})
    return uri


def is_diagnostics(message: dict[str, Any], uri: str) -> bool:
    return bool(message.get("method") == "textDocument/publishDiagnostics" and message["params"]["uri"] == uri)


def diagnostics(lsp: Lsp, uri: str) -> list[dict[str, Any]]:
    message = lsp.wait_for(lambda m: is_diagnostics(m, uri))
    found: list[dict[str, Any]] = message["params"]["diagnostics"]
    return found


def test_completion_offers_the_model_fields(server: tuple[Lsp, Path]) -> None:
    lsp, fleet = server
    text = (fleet / "models.yaml").read_text(encoding="utf-8")
    anchor = "    runtime: python\n"
    assert anchor in text
    text = text.replace(anchor, anchor + "    \n", 1)  # an empty line inside the model
    line = text[: text.index(anchor) + len(anchor)].count("\n")
    uri = open_document(lsp, fleet / "models.yaml", text)
    assert diagnostics(lsp, uri) == []
    result = lsp.request(
        "textDocument/completion", {"textDocument": {"uri": uri}, "position": {"line": line, "character": 4}}
    )
    items = result["items"] if isinstance(result, dict) else result
    offered = {item["label"] for item in items}
    present = {"name", "description", "owner", "runtime", "image", "build"}
    missing = set(ModelSpec.model_fields) - present - offered
    assert missing == set(), f"offered: {sorted(offered)}"
    assert {"scaling", "rollout", "monitoring", "resources"} <= offered


def test_a_wrong_field_gets_a_diagnostic(server: tuple[Lsp, Path]) -> None:
    lsp, fleet = server
    text = (
        (fleet / "models.yaml")
        .read_text(encoding="utf-8")
        .replace("    runtime: python\n", "    runtime: python\n    replicas: 3\n")
    )
    uri = open_document(lsp, fleet / "models.yaml", text)
    found = diagnostics(lsp, uri)
    messages = [d["message"] for d in found]
    assert any("replicas" in m and "not allowed" in m for m in messages), messages
    [wrong] = [d for d in found if "replicas" in d["message"]]
    assert wrong["range"]["start"]["line"] == text[: text.index("    replicas")].count("\n")


def test_an_environment_file_is_validated_too(server: tuple[Lsp, Path]) -> None:
    lsp, fleet = server
    path = fleet / "environments" / "dev.yaml"
    text = path.read_text(encoding="utf-8").replace("kubernetesVersion:", "kubernetesVersio:")
    found = diagnostics(lsp, open_document(lsp, path, text))
    assert any("kubernetesVersio" in d["message"] for d in found), found


def test_the_vscode_settings_map_the_schemas_without_modelines(fleet: Path) -> None:
    """.vscode/settings.json's yaml.schemas, as the VS Code extension passes it to the server."""
    vscode = json.loads((fleet / ".vscode" / "settings.json").read_text(encoding="utf-8"))
    path = fleet / "environments" / "prod.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[0].startswith("# yaml-language-server: $schema=")
    text = "".join(lines[1:]).replace("namespace:", "namespac:")
    with started(fleet, {"yaml": {**SETTINGS["yaml"], **settings_yaml(vscode)}}) as lsp:
        found = diagnostics(lsp, open_document(lsp, path, text))
    messages = [d["message"] for d in found]
    assert any("namespac" in m and "not allowed" in m for m in messages), messages


def settings_yaml(settings: dict[str, Any]) -> dict[str, Any]:
    """The `yaml.*` keys of a VS Code settings file as the extension sends them (nested)."""
    return {key.removeprefix("yaml."): value for key, value in settings.items() if key.startswith("yaml.")}
