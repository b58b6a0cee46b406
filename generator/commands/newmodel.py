"""``modelfleet new-model NAME --runtime R``: add a model to models.yaml with defaults that
suit its runtime, and the files its build context needs (services/NAME/ for python, the
model-settings.json MLServer reads for mlserver).

models.yaml is edited by ``yamledit.append_item``: every byte before and after the new item
stays as it was. An environment whose policy requires digests or pinned artifacts gets
``models.NAME: {enabled: false}`` (a new model has a tag and no checksum; ``promote`` brings
it there). The fleet must validate afterwards; otherwise every file is restored, the new
files are removed and the error is raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from generator.commands.initfiles import python_service
from generator.commands.yamledit import CannotEdit, YamlMap, append_item, edit
from generator.errors import Finding, Location, ModelfleetError
from generator.read.load import load_fleet
from generator.validation import validate_recorded
from generator.write.fs import write_atomic

MODELS_FILE = "models.yaml"

# What each runtime's model needs beyond name, owner and image, as YAML lines (keys at column 0).
# Artifact URIs are placeholders to replace; the sizes follow the example fleet's models.
_RUNTIME_LINES: dict[str, str] = {
    "python": (
        "build:\n"
        "  context: services/{name}\n"
        '  pythonVersion: "3.12"\n'
        '  command: ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8080"]\n'
    ),
    "mlserver": (
        "artifact:\n"
        "  uri: s3://models/{name}/1/  # replace: where the trained model lives\n"
        "config:\n"
        "  files: [services/{name}/model-settings.json]\n"
        "env:\n"
        "  MLSERVER_MODEL_NAME: {name}\n"
    ),
    "triton": (
        "artifact:\n"
        "  uri: s3://models/{name}/1/  # replace: a Triton model repository\n"
        "resources:\n"
        '  requests: {{cpu: "2", memory: 4Gi}}\n'
        "  limits: {{memory: 6Gi}}\n"
        "startup:\n"
        "  maxSeconds: 300\n"
    ),
    "torchserve": (
        "artifact:\n"
        "  uri: s3://models/{name}/1/  # replace: a directory of .mar archives\n"
        "startup:\n"
        "  maxSeconds: 300\n"
    ),
    "tfserving": (
        "artifact:\n"
        "  uri: s3://models/{name}/  # replace: holds the SavedModel version directories\n"
        "startup:\n"
        "  maxSeconds: 300\n"
    ),
    "vllm": (
        "artifact:\n"
        "  uri: hf://org/{name}  # replace: a Hugging Face repository, pinned with @<commit>\n"
        "resources:\n"
        '  requests: {{cpu: "4", memory: 24Gi}}\n'
        "  limits: {{memory: 32Gi}}\n"
        "  gpu: 1\n"
        "startup:\n"
        "  maxSeconds: 900\n"
        "scaling:\n"
        "  minReplicas: 1\n"
        "  maxReplicas: 4\n"
    ),
}


_DISABLED = YamlMap((("enabled", "false"),), flow=True)


@dataclass(frozen=True)
class NewModel:
    name: str
    runtime: str
    written: list[str]  # files created besides models.yaml, relative to the fleet root
    disabled_in: list[str]  # environments whose policy needs digests: the model starts disabled there


def _strict_environments(root: Path) -> dict[Path, str]:
    """Environment files whose policy requires digests or pinned artifacts, with their text:
    a new model (a tag, no checksum) cannot run there until it is promoted."""
    found = {}
    for path in sorted((root / "environments").glob("*.yaml")):
        text = path.read_bytes().decode("utf-8")
        data = yaml.safe_load(text)
        policy = data.get("policy") if isinstance(data, dict) else None
        if isinstance(policy, dict) and (policy.get("requireDigests") or policy.get("requirePinnedArtifacts")):
            found[path] = text
    return found


def model_entry(name: str, runtime: str, owner: str) -> str:
    """The new item of ``models:``, YAML text with its keys at column 0."""
    head = (
        f'name: {name}\ndescription: TODO describe {name}\nowner: {owner}\nruntime: {runtime}\nimage:\n  tag: "0.1.0"\n'
    )
    return head + _RUNTIME_LINES[runtime].format(name=name)


def context_files(name: str, runtime: str) -> dict[str, str]:
    """The files the model's build context needs, by path under the fleet root."""
    if runtime == "python":
        return python_service(name)
    if runtime == "mlserver":
        settings = {
            "name": name,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "/models/model.joblib"},
        }
        return {f"services/{name}/model-settings.json": json.dumps(settings, indent=2) + "\n"}
    return {}


def _existing(text: str) -> list[dict[str, object]]:
    data = yaml.safe_load(text)
    models = data.get("models") if isinstance(data, dict) else None
    return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []


def new_model(root: Path, name: str, runtime: str) -> NewModel:
    """Append ``name`` to models.yaml and write its build context; see the module docstring."""
    path = root / MODELS_FILE
    if not path.is_file():
        raise ModelfleetError(
            [Finding("not found", Location(str(path)), hint="run new-model in a fleet repository (or modelfleet init)")]
        )
    original = path.read_bytes()
    text = original.decode("utf-8")
    newline = "\r\n" if "\r\n" in text else "\n"
    models = _existing(text)
    if any(m.get("name") == name for m in models):
        raise ModelfleetError(
            [Finding(f"a model named '{name}' already exists", Location(MODELS_FILE), hint="choose another name")]
        )
    owner = next((str(m["owner"]) for m in reversed(models) if isinstance(m.get("owner"), str)), "team-ml")
    files = context_files(name, runtime)
    taken = [f for f in files if (root / f).exists()]
    if taken:
        raise ModelfleetError(
            Finding(
                "already exists; new-model overwrites nothing", Location(f), hint="move it away or pick another name"
            )
            for f in taken
        )
    try:
        edited = append_item(text, ("models",), model_entry(name, runtime, owner), newline)
    except (CannotEdit, yaml.YAMLError) as exc:
        raise ModelfleetError(
            [
                Finding(
                    f"cannot add a model to this file by machine: {exc}", Location(MODELS_FILE), hint="add it by hand"
                )
            ]
        ) from None
    strict = _strict_environments(root)
    try:
        disabled = {
            env: edit(text, [(("models", name), _DISABLED, {"enabled": False})], "\r\n" if "\r\n" in text else "\n")
            for env, text in strict.items()
        }
    except (CannotEdit, yaml.YAMLError) as exc:
        raise ModelfleetError(
            [
                Finding(
                    f"cannot disable the new model by machine: {exc}", Location("environments"), hint="add it by hand"
                )
            ]
        ) from None
    write_atomic(path, edited.encode("utf-8"), durable=True)
    written: list[str] = []
    try:
        for env, text in disabled.items():
            write_atomic(env, text.encode("utf-8"), durable=True)
        for name_, content in files.items():
            (root / name_).parent.mkdir(parents=True, exist_ok=True)
            (root / name_).write_bytes(content.encode("utf-8"))
            written.append(name_)
        validate_recorded(load_fleet(root))
    except BaseException:
        write_atomic(path, original, durable=True)  # never leave a fleet behind that does not validate
        for env, text in strict.items():
            write_atomic(env, text.encode("utf-8"), durable=True)
        for name_ in written:
            (root / name_).unlink(missing_ok=True)
        raise
    return NewModel(name, runtime, written, [env.stem for env in disabled])
