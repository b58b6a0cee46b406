"""The keys of the unit cache: each hashes everything one unit's computation reads.

A unit is a model's base, an (environment, model) pair, or an environment's shared files.
A key hashes the generator fingerprint, the fleet root, the fleet settings, the
environment's own settings (not the other models' overrides: no unit reads them), the
unit's resolved spec and per-model override, the state of each config file it reads and,
for an environment unit, the key of its base unit. The output of a unit is a function of
exactly those, so a hit serves what a fresh computation would give.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.digest import digest
from generator.incremental.fingerprint import generator_fingerprint
from generator.incremental.inputrecord import RACY_NS, path_state
from generator.read.resolve import Resolution, ResolvedEnvironment, ResolvedModel


def plain(value: Any) -> Any:
    """A pydantic model as JSON-able data (anything else as it is)."""
    dump: Callable[..., Any] | None = getattr(value, "model_dump", None)
    return dump(mode="json") if dump is not None else value


class UnitKeys:
    """The keys of one render's units, and whether a unit's inputs held still during it."""

    def __init__(self, root: Path, resolution: Resolution, started: int, *, enabled: bool = True) -> None:
        """``enabled=False`` (no cache to ask): every key is "" and nothing is hashed."""
        self.root, self.started, self.enabled = root, started, enabled
        self.fleet = digest(generator_fingerprint(), str(root.resolve()), plain(resolution.fleet)) if enabled else ""
        self.bases: dict[str, str] = {}  # model -> the key of its base unit
        self._envs: dict[int, Any] = {}
        self._config: dict[str, list[str]] = {}

    def settled(self, model: ResolvedModel) -> bool:
        """No config file of ``model`` changed since the run started (so the key's hashes are
        of the bytes the build read): only then may its units be stored."""
        for relative in model.spec.config.files:
            try:
                if (self.root / relative).stat().st_mtime_ns >= self.started - RACY_NS:
                    return False
            except OSError:
                return False
        return True

    def _model(self, model: ResolvedModel) -> Any:
        env = model.environment
        env_part: Any = None
        if env is not None:
            env_part = self._envs.get(id(env))
            if env_part is None:
                env_part = self._envs[id(env)] = env.model_dump(mode="json", exclude={"models"})
            env_part = [env_part, plain(env.models.get(model.name))]
        files = [self._config_state(relative) for relative in model.spec.config.files]
        return [plain(model.spec), env_part, files]

    def _config_state(self, relative: str) -> list[str]:
        """``path_state`` of a config file, once a run: a model's base and each of its units
        read the same files."""
        state = self._config.get(relative)
        if state is None:
            state = self._config[relative] = path_state(self.root, relative)[0]
        return state

    def base(self, model: ResolvedModel) -> str:
        key = self.bases[model.name] = digest("base", self.fleet, self._model(model)) if self.enabled else ""
        return key

    def environment(self, env: ResolvedEnvironment, ns_object: dict[str, Any]) -> str:
        if not self.enabled:
            return ""
        return digest("env", self.fleet, env.spec.model_dump(mode="json", exclude={"models"}), ns_object)

    def unit(self, env_key: str, model: ResolvedModel) -> str:
        return digest("unit", env_key, self._model(model), self.bases[model.name]) if self.enabled else ""

    def runbook(self, model: ResolvedModel, places: list[tuple[str, str]]) -> str:
        return digest("runbook", self.bases[model.name], places) if self.enabled else ""

    @staticmethod
    def compose(env_key: str, unit_keys: list[str]) -> str:
        return digest("compose", env_key, unit_keys)

    @staticmethod
    def shared(env_key: str, unit_keys: list[str]) -> str:
        return digest("shared", env_key, unit_keys)
