"""Synthetic fleets for the benchmark, cloned from the example fleet of this repository.

``generate(repo, dest, models=N, environments=E)`` writes a fleet root under ``dest``:

* ``models.yaml``: the example's fleet header and defaults, and its models cloned round-robin
  until there are ``N`` of them. Clone ``k`` of ``fraud-detector`` is ``fraud-detector-k``
  (``k`` zero-padded to 4 digits); every clone keeps its build context and config files,
  which point at the same ``services/`` directories (copied once into the fleet root).
* ``environments/*.yaml``: the example's environments cycled until there are ``E``. With
  ``E == 3`` they keep their names; otherwise environment ``i`` cloned from ``dev`` is
  ``dev-i`` with namespace ``ml-dev-i`` and its own cluster. Every per-model override of
  the example is repeated for every clone of that model, so each clone is overridden (or
  disabled) exactly as its original is.

``copy_example`` copies the example fleet unchanged (the targets on "the example fleet").
The first model that reads a config file reads a copy of its own (under ``OWN_CONFIG_DIR``), so that a config
file edit touches one model. ``change(root, kind, step)`` makes a one-model edit of each kind
a user makes (``EDIT_KINDS``), as text edits: an override in an environment file
(``change_one_model``), a model's entry in ``models.yaml``, or that config file.

Run as a script to write one fleet and print its root::

    python bench/fleetgen.py --models 100 --environments 3 /tmp/fleet
"""

from __future__ import annotations

import argparse
import copy
import shutil
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# The model and field `change_one_model` edits: present in every generated fleet.
CHANGED_ENV = "prod"
CHANGED_FIELD = ("scaling", "maxReplicas")
EDIT_KINDS = ("environment file", "models.yaml", "config file")
OWN_CONFIG_DIR = "services/own-config"


# PyYAML is imported where it is used: bench/run.py imports this module, and its `--help`
# child must not count PyYAML as an import of `modelfleet --help`.


def _read(path: Path) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


def _write(path: Path, data: Any, header: str = "") -> None:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False, width=1 << 20)
    path.write_text(header + text, encoding="utf-8")


def _clone_name(name: str, copy_index: int) -> str:
    return f"{name}-{copy_index:04d}"


def _copy_services(repo: Path, dest: Path) -> None:
    if (repo / "services").is_dir():
        shutil.copytree(repo / "services", dest / "services", dirs_exist_ok=True)


def copy_example(dest: Path, repo: Path = REPO) -> Path:
    """The example fleet, verbatim: models.yaml, environments/ and services/."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(repo / "models.yaml", dest / "models.yaml")
    shutil.copytree(repo / "environments", dest / "environments", dirs_exist_ok=True)
    _copy_services(repo, dest)
    return dest


def clone_models(fleet: dict[str, Any], count: int) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``fleet`` with ``count`` models cloned round-robin; also original name -> clone names."""
    originals = fleet["models"]
    out = copy.deepcopy(fleet)
    out["models"] = []
    clones: dict[str, list[str]] = {m["name"]: [] for m in originals}
    for index in range(count):
        source = originals[index % len(originals)]
        name = _clone_name(source["name"], index // len(originals))
        model = copy.deepcopy(source)
        model["name"] = name
        out["models"].append(model)
        clones[source["name"]].append(name)
    return out, clones


def clone_environment(env: dict[str, Any], name: str, clones: dict[str, list[str]], renamed: bool) -> dict[str, Any]:
    """``env`` renamed to ``name`` (own namespace and cluster), overrides repeated per clone."""
    out = copy.deepcopy(env)
    if renamed:
        suffix = name.removeprefix(env["name"])  # "-07"
        out["name"] = name
        out["namespace"] = f"{env['namespace']}{suffix}"
        cluster = out.get("cluster")
        if isinstance(cluster, dict):
            if "name" in cluster:
                cluster["name"] = f"{cluster['name']}{suffix}"
            server = cluster.get("server")
            if isinstance(server, str) and "://" in server:
                scheme, rest = server.split("://", 1)
                host, slash, path = rest.partition("/")
                first, dot, domain = host.partition(".")
                cluster["server"] = f"{scheme}://{first}{suffix}{dot}{domain}{slash}{path}"
    overrides = env.get("models") or {}
    if overrides:
        out["models"] = {}
        for original, override in overrides.items():
            for clone in clones.get(original, []):
                out["models"][clone] = copy.deepcopy(override)
        if not out["models"]:
            del out["models"]
    return out


def generate(dest: Path, *, models: int, environments: int, repo: Path = REPO) -> Path:
    """Write a fleet of ``models`` models and ``environments`` environments under ``dest``."""
    if models < 1 or environments < 1:
        raise ValueError("a fleet needs at least one model and one environment")
    dest.mkdir(parents=True, exist_ok=True)
    fleet = _read(repo / "models.yaml")
    cloned, clones = clone_models(fleet, models)
    _copy_services(repo, dest)
    _own_config(cloned, dest)
    _write(dest / "models.yaml", cloned, "# synthetic fleet generated by bench/fleetgen.py\n")
    env_sources = [_read(p) for p in sorted((repo / "environments").glob("*.yaml"))]
    # Keep the environment `change_one_model` edits first, so every fleet has it.
    env_sources.sort(key=lambda e: (e["name"] != CHANGED_ENV, e["name"]))
    env_dir = dest / "environments"
    env_dir.mkdir(exist_ok=True)
    for index in range(environments):
        source = env_sources[index % len(env_sources)]
        renamed = environments != len(env_sources)
        name = f"{source['name']}-{index // len(env_sources):02d}" if renamed else source["name"]
        env = clone_environment(source, name, clones, renamed)
        _write(env_dir / f"{name}.yaml", env)
    return dest


def _own_config(fleet: dict[str, Any], dest: Path) -> None:
    """Give the first model that reads a config file a copy of its own."""
    for model in fleet["models"]:
        files = (model.get("config") or {}).get("files") or []
        if files:
            source = dest / files[0]
            own = f"{OWN_CONFIG_DIR}/{model['name']}/{Path(files[0]).name}"
            (dest / own).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / own)
            model["config"]["files"] = [own, *files[1:]]
            return


def change_model_entry(root: Path, step: int) -> tuple[str, str]:
    """Change the ``maxReplicas`` of ``changed_target``'s model in its ``models.yaml`` entry
    (a text edit, as a person makes it) to a value it never had: like a person's edit, and
    like every kind's, the unit cache cannot answer it. Returns (file, model)."""
    _, model = changed_target(root)
    path = root / "models.yaml"
    text = path.read_text(encoding="utf-8")
    entry = text.index(f"- name: {model}\n")
    end = text.find("\n- name: ", entry + 1)
    scaling = text.index("maxReplicas: ", entry)
    if end != -1 and scaling > end:
        raise ValueError(f"{model} has no maxReplicas in its models.yaml entry")
    line_end = text.index("\n", scaling)
    value = int(text[scaling + len("maxReplicas: ") : line_end])
    new = value + 1
    path.write_text(f"{text[:scaling]}maxReplicas: {new}{text[line_end:]}", encoding="utf-8")
    return "models.yaml", model


def change_config_file(root: Path, step: int) -> tuple[str, str]:
    """Change a comment line of the config file only one model reads. Returns (file, model)."""
    own = sorted((root / OWN_CONFIG_DIR).glob("*/*"))[0]
    marker = "# modelfleet bench edit "
    text = own.read_text(encoding="utf-8")
    lines = [line for line in text.split("\n") if not line.startswith(marker)]
    own.write_text("\n".join([*lines[:-1], f"{marker}{step}", lines[-1]]), encoding="utf-8")
    return own.relative_to(root).as_posix(), own.parent.name


def change(root: Path, kind: str, step: int) -> tuple[str, str]:
    """One one-model edit of ``kind`` (``EDIT_KINDS``); returns (file, model)."""
    if kind == "environment file":
        name, model = change_one_model(root, step)
        return f"environments/{name}", model
    if kind == "models.yaml":
        return change_model_entry(root, step)
    if kind == "config file":
        return change_config_file(root, step)
    raise ValueError(f"unknown edit kind {kind!r}")


def changed_target(root: Path) -> tuple[Path, str]:
    """(environment file, model) that ``change_one_model`` edits in the fleet at ``root``."""
    env_dir = root / "environments"
    candidates = sorted(env_dir.glob(f"{CHANGED_ENV}*.yaml"))
    path = candidates[0] if candidates else sorted(env_dir.glob("*.yaml"))[0]
    env = _read(path)
    names = [m["name"] for m in _read(root / "models.yaml")["models"]]
    overridden = env.get("models") or {}
    for name in names:
        override = overridden.get(name)
        if override is not None and override.get("enabled", True) is not False:
            return path, name
    return path, names[0]


def change_one_model(root: Path, step: int) -> tuple[str, str]:
    """Change one model's ``scaling.maxReplicas`` in one environment to a value it never had.

    Returns (environment file name, model). Each timed render has one change to make, and
    the unit cache cannot answer it (an edit going back and forth would be served from it
    from the third render on, which a person's edit is not).
    """
    path, model = changed_target(root)
    env = _read(path)
    overrides = env.setdefault("models", {})
    override = overrides.setdefault(model, {})
    scaling = override.setdefault("scaling", {})
    current = int(scaling.get("maxReplicas", 10))
    scaling["maxReplicas"] = current + 1
    _write(path, env)
    return path.name, model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--environments", type=int, default=3)
    parser.add_argument("--example", action="store_true", help="copy the example fleet unchanged")
    parser.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    if args.example:
        root = copy_example(args.dest)
    else:
        root = generate(args.dest, models=args.models, environments=args.environments)
    print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
