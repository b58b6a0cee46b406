"""Init containers that put a model artifact into MODEL_DIR before the server starts.

- ``image://``: baked into the image at build time; nothing to fetch.
- ``s3://`` and ``gs://``: rclone (on-the-fly remotes, credentials from the pod's
  workload identity through ``env_auth``).
- ``oci://``: ``oras pull``.
- ``hf://org/name@revision``: ``huggingface-cli download`` in the model's own image
  (vLLM's image ships it; a custom image must include huggingface_hub).
- ``pvc://claim/sub/path``: the claim mounted read-only; nothing to fetch.

When ``artifact.sha256`` is set, a second init container (the model's own image, which
has ``sh`` and ``sha256sum``) checks it: for a single file, the file's checksum; for a
directory, the checksum of the ``sha256sum`` listing of its files sorted by path. The
expected value is passed as an environment variable, never spliced into the script.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.build.identity import image_reference
from generator.read.resolve import ResolvedModel
from generator.spec.runtimes import MODEL_DIR

VOLUME = "models"
HF_TOKEN_VARS = frozenset({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"})

VERIFY_SCRIPT = """set -eu
cd "$MODEL_DIR"
count=$(find . -type f | wc -l)
if [ "$count" -eq 1 ]; then
  sum=$(find . -type f -exec sha256sum {} + | cut -d' ' -f1)
else
  sum=$(find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
fi
if [ "$sum" != "$EXPECTED_SHA256" ]; then
  echo "artifact checksum mismatch: got $sum, expected $EXPECTED_SHA256" >&2
  exit 1
fi
echo "artifact checksum ok"
"""

_INIT_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
_TMP_ENV = [{"name": "HOME", "value": "/tmp"}]


@dataclass(frozen=True)
class FetchPlan:
    volume: dict[str, Any]
    init_containers: list[dict[str, Any]]
    model_dir: str
    needs_network: bool


def _fetch_container(model: ResolvedModel, scheme: str, rest: str, image: str) -> dict[str, Any]:
    mounts = [{"name": VOLUME, "mountPath": MODEL_DIR}, {"name": "tmp", "mountPath": "/tmp"}]
    env: list[dict[str, Any]] = list(_TMP_ENV)
    if scheme in {"s3", "gs"}:
        backend = "s3" if scheme == "s3" else "gcs"
        command = ["rclone", "copy", "--config=/tmp/rclone.conf", f":{backend},env_auth=true:{rest}", MODEL_DIR]
        image = model.fleet.fetcher_image("rclone")
    elif scheme == "oci":
        command = ["oras", "pull", rest, "--output", MODEL_DIR]
        image = model.fleet.fetcher_image("oras")
    else:  # hf
        repo, _, revision = rest.partition("@")
        command = ["huggingface-cli", "download", repo, "--local-dir", MODEL_DIR]
        if revision:
            command += ["--revision", revision]
        env.append({"name": "HF_HOME", "value": "/tmp/huggingface"})
        # gated models need the token: hand over the model's own HF_TOKEN secret reference
        env.extend(
            {
                "name": secret.env,
                "valueFrom": {"secretKeyRef": {"name": secret.secretRef.name, "key": secret.secretRef.key}},
            }
            for secret in model.spec.secrets
            if secret.env in HF_TOKEN_VARS
        )
    return {
        "name": "fetch-model",
        "image": image,
        "command": command,
        "env": env,
        "resources": _INIT_RESOURCES,
        "mounts": mounts,
    }


def _verify_container(sha256: str, image: str) -> dict[str, Any]:
    return {
        "name": "verify-model",
        "image": image,
        "command": ["sh", "-c", VERIFY_SCRIPT],
        "env": [
            {"name": "MODEL_DIR", "value": MODEL_DIR},
            {"name": "EXPECTED_SHA256", "value": sha256},
        ],
        "resources": _INIT_RESOURCES,
        "mounts": [{"name": VOLUME, "mountPath": MODEL_DIR, "readOnly": True}],
    }


def fetch_plan(model: ResolvedModel, own_image: str | None = None) -> FetchPlan | None:
    """How the artifact reaches MODEL_DIR, or None when it is baked into the image."""
    artifact = model.spec.artifact
    if artifact is None or artifact.uri.startswith("image://"):
        return None
    image = own_image or image_reference(model)
    scheme, _, rest = artifact.uri.partition("://")
    init: list[dict[str, Any]] = []
    if scheme == "pvc":
        claim, _, sub_path = rest.partition("/")
        volume: dict[str, Any] = {
            "name": VOLUME,
            "persistentVolumeClaim": {"claimName": claim, "readOnly": True},
        }
        needs_network = False
        model_dir = f"{MODEL_DIR}/{sub_path}".rstrip("/") if sub_path else MODEL_DIR
    else:
        volume = {"name": VOLUME, "emptyDir": {}}
        init.append(_fetch_container(model, scheme, rest, image))
        needs_network = True
        model_dir = MODEL_DIR
    if artifact.sha256 is not None:
        verify = _verify_container(artifact.sha256, image)
        verify["env"][0]["value"] = model_dir
        init.append(verify)
    return FetchPlan(volume, init, model_dir, needs_network)
