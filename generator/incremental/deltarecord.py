"""The delta record: what the last render read and wrote, unit by unit, so that a render
after a small change rebuilds only what changed (``generator.commands.delta``).

It is stored in the unit cache (``.modelfleet-cache/units/``, plain data only) under a key
of the fleet root, and holds:

* the generator fingerprint and the state of every input (as ``inputs.fleet_state``);
* the raw data of ``models.yaml``: its header and defaults, and each model's entry;
* per environment file: a canonical text of its settings (everything but ``models``) and of
  each per-model override, and the settings' raw data;
* the text of each input file and the lines of each entry in it (``fragments``), so that
  an edit of one entry is parsed alone;
* each model's image repository, and which models read each config file;
* the digests of the env values and config files the secret scan found clean
  (``secretcheck.scan_secrets``), so that the delta path scans only what changed;
* per environment and model (a unit): the paths of its files, the digest of what it adds to
  the environment-wide files (its kustomization entries, prometheus-adapter rules, compose
  entry and startup budget) and its object count;
* every planned path with the digest of its bytes;
* rendered/README.md's lines (``build.overviewdoc.Readme``), each unit's replaced when it is rebuilt.

What each unit adds (its "share", 2 KB a unit) is read only when an environment's shared
files are rebuilt, so it is kept apart: one entry per environment (``share_key``), each
share with the digest the record holds for it. The shares are most of the record, which
a render after one change would otherwise read and write whole. A record in
memory holds the packs to store under ``"shares"`` (environment -> pack); ``save_record``
stores them first, then the record without them, so a pack never names a share the record
does not know: a pack that does not match the record (a run stopped between the two) is
only a render from scratch.

Canonical texts are ``repr`` of the loaded data: unlike ``==`` it tells ``1``, ``1.0`` and
``True`` apart, and keys that are not strings from strings.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from generator.check.secrets import CLEAN_DIGEST_SIZE
from generator.digest import content_digest, digest
from generator.incremental.cache import UnitCache
from generator.incremental.fingerprint import generator_fingerprint
from generator.incremental.fragments import file_spans
from generator.read.load import Document
from generator.read.resolve import Resolution, image_repository

__all__ = [
    "RecordBuilder",
    "clean_blob",
    "clean_digests",
    "content_digest",
    "load_record",
    "load_shares",
    "save_record",
    "share_key",
    "share_pack",
    "unit_record",
]

RECORD_VERSION = 6  # 2: shares apart; 3: clean secrets; 4: the overview; 5: its lines; 6: texts, model lines


def canonical(value: Any) -> str:
    return repr(value)


def contribution(share: Mapping[str, Any]) -> str:
    """The digest of what one unit adds to its environment's shared files (``incremental.share``)."""
    return digest(share)


def record_key(root: Path) -> str:
    return digest("delta-record", str(root.resolve()))


class RecordBuilder:
    """Collects the record while ``incremental`` renders every unit."""

    def __init__(self) -> None:
        self.units: dict[str, dict[str, dict[str, Any]]] = {}
        self.env_models: dict[str, list[str]] = {}
        self.base_keys: dict[str, str] = {}
        self.shared_paths: dict[str, list[str]] = {}
        self.shares: dict[str, dict[str, bytes]] = {}
        self.overview: dict[str, Any] = {}  # overviewdoc.Readme.plain(): rendered/README.md's lines

    def unit(self, env: str, model: str, entry: Mapping[str, Any], share: Mapping[str, Any]) -> None:
        unit, blob = unit_record(entry, share)
        self.units.setdefault(env, {})[model] = unit
        self.shares.setdefault(env, {})[model] = blob

    def environment(self, env: str, models: Iterable[str], shared_paths: list[str]) -> None:
        self.env_models[env] = list(models)
        self.shared_paths[env] = shared_paths
        self.units.setdefault(env, {})

    def finish(
        self,
        *,
        documents: Sequence[Document],
        resolution: Resolution,
        referenced: Iterable[str],
        clean_secrets: Iterable[bytes],
        digests: Mapping[str, str],
        summary: Mapping[str, int],
    ) -> dict[str, Any]:
        models_data = documents[0].data
        fleet_raw = {k: v for k, v in models_data.items() if k != "models"}
        models_raw = {str(m["name"]): _blob(m) for m in models_data.get("models") or []}
        envs: dict[str, Any] = {}
        for document in documents[1:]:
            envs[document.path] = {
                **environment_texts(document.data),
                "settings_raw": _blob({k: v for k, v in document.data.items() if k != "models"}),
            }
        texts: dict[str, Any] = {}
        for document in documents:
            spans = file_spans(document)
            if spans is not None:
                texts[document.path] = {"text": "\n".join(document.lines), "spans": spans}
        readers: dict[str, set[str]] = {}
        for model in [*resolution.base, *(m for env in resolution.environments for m in env.models)]:
            for relative in model.spec.config.files:
                readers.setdefault(relative, set()).add(model.name)
        return {
            "version": RECORD_VERSION,
            "fingerprint": generator_fingerprint(),
            "inputs": [],  # the inputs' state is taken when the record is saved (delta.save_delta_record)
            "referenced": sorted(set(referenced)),
            "clean_secrets": clean_blob(clean_secrets),
            "fleet_raw": _blob(fleet_raw),
            "models_raw": models_raw,
            "envs": envs,
            "texts": texts,
            "repositories": {model.name: image_repository(model) for model in resolution.base},
            "config_readers": {path: sorted(names) for path, names in sorted(readers.items())},
            "units": self.units,
            "env_models": self.env_models,
            "base_keys": self.base_keys,
            "shared_paths": self.shared_paths,
            "files": dict(sorted(digests.items())),
            "summary": dict(summary),
            "overview": self.overview,
            "shares": {env: share_pack(self.units[env], blobs) for env, blobs in self.shares.items()},
        }


def clean_blob(digests: Iterable[bytes]) -> bytes:
    """The digests of what the secret scan found clean (``secretcheck.scan_secrets``), sorted
    and concatenated."""
    return b"".join(sorted(set(digests)))


def clean_digests(blob: bytes) -> frozenset[bytes]:
    """``clean_blob`` read back (``ValueError`` for a blob of the wrong size)."""
    size = CLEAN_DIGEST_SIZE
    if len(blob) % size:
        raise ValueError("clean secret digests of the wrong size")
    return frozenset(blob[i : i + size] for i in range(0, len(blob), size))


def unit_record(entry: Mapping[str, Any], share: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
    """A unit in the record (its files, the digest of its share of the shared files, its
    objects) and its share, stored apart (``share_pack``)."""
    unit = {"paths": sorted(entry["files"]), "contrib": contribution(share), "objects": int(entry["objects"])}
    return unit, _blob(dict(share))


def share_pack(units: Mapping[str, Mapping[str, Any]], blobs: Mapping[str, bytes]) -> dict[str, Any]:
    """An environment's shares, each with the digest its unit's record holds."""
    return {"contribs": {name: units[name]["contrib"] for name in blobs}, "shares": dict(blobs)}


def share_key(root: Path, env: str) -> str:
    return digest("delta-shares", str(root.resolve()), env)


def load_shares(root: Path, cache: UnitCache, env: str, units: Mapping[str, Mapping[str, Any]]) -> dict[str, bytes]:
    """The shares of ``env``'s units whose digests match ``units`` (the record's), by model."""
    pack = cache.get(share_key(root, env), _valid_pack, count=False)
    if pack is None:
        return {}
    contribs, shares = pack["contribs"], pack["shares"]
    return {name: shares[name] for name, unit in units.items() if contribs.get(name) == unit["contrib"]}


def _valid_pack(pack: Any) -> bool:
    return (
        isinstance(pack, dict)
        and isinstance(pack.get("contribs"), dict)
        and isinstance(pack.get("shares"), dict)
        and pack["contribs"].keys() == pack["shares"].keys()
        and all(isinstance(v, bytes) for v in pack["shares"].values())
    )


def environment_texts(data: Any) -> dict[str, Any]:
    """The canonical texts of an environment file's settings and overrides."""
    raw = data if isinstance(data, dict) else {}
    overrides = raw.get("models") or {}
    return {
        "settings": canonical({k: v for k, v in raw.items() if k != "models"}),
        "names": canonical(list(overrides)) if isinstance(overrides, dict) else canonical(overrides),
        "overrides": {str(k): canonical(v) for k, v in overrides.items()} if isinstance(overrides, dict) else {},
    }


def _blob(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _valid(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and record.get("version") == RECORD_VERSION
        and all(
            isinstance(record.get(k), t)
            for k, t in (
                ("inputs", list),
                ("referenced", list),
                ("clean_secrets", bytes),
                ("fleet_raw", bytes),
                ("models_raw", dict),
                ("envs", dict),
                ("units", dict),
                ("env_models", dict),
                ("base_keys", dict),
                ("shared_paths", dict),
                ("files", dict),
                ("summary", dict),
                ("overview", dict),
                ("texts", dict),
                ("repositories", dict),
                ("config_readers", dict),
            )
        )
    )


def load_record(root: Path, cache: UnitCache) -> dict[str, Any] | None:
    """The record of the last render of ``root`` by this generator, or None."""
    record = cache.get(record_key(root), _valid, count=False)
    if record is None or record.get("fingerprint") != generator_fingerprint():
        return None
    result: dict[str, Any] = record
    return result


def save_record(root: Path, cache: UnitCache, record: Mapping[str, Any]) -> None:
    """Store the record's share packs (``"shares"``), then the record without them."""
    for env, pack in sorted(record.get("shares", {}).items()):
        if not cache.put(share_key(root, env), pack):
            return
    cache.put(record_key(root), {k: v for k, v in record.items() if k != "shares"})
