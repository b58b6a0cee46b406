"""Names, labels and image references of a model, shared by every artifact family."""

from __future__ import annotations

from generator.read.resolve import ResolvedModel
from generator.spec.runtimes import facts

CONTAINER = "model"  # the model container of every pod: named in probes, metrics and alerts


def image_repository(model: ResolvedModel) -> str:
    return model.spec.image.repository or f"{model.fleet.registry}/{model.spec.name}"


def image_reference(model: ResolvedModel) -> str:
    image = model.spec.image
    repository = image_repository(model)
    if image.digest is not None:
        return f"{repository}@{image.digest}"
    return f"{repository}:{image.tag}"


def serving_port(model: ResolvedModel) -> int:
    return model.spec.port or facts(model.spec.runtime).port


def hpa_name(model: ResolvedModel) -> str:
    """The model's HorizontalPodAutoscaler: named after the model, or ``keda-hpa-<model>``,
    the one KEDA creates for a ScaledObject."""
    return f"keda-hpa-{model.name}" if model.spec.scaling.engine == "keda" else model.name


def selector_labels(model: ResolvedModel) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": model.spec.name,
        "app.kubernetes.io/instance": model.spec.name,
    }


def version_label(model: ResolvedModel) -> str:
    """The image tag, or the first 12 hex digits of its digest."""
    return model.spec.image.tag or (model.spec.image.digest or "")[7:19]


def common_labels(model: ResolvedModel) -> dict[str, str]:
    """Labels on every object. The version label sits only on the workload, so that an
    image change patches one object, not all of them."""
    return {
        **selector_labels(model),
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/part-of": model.fleet.name,
        "app.kubernetes.io/managed-by": "modelfleet",
        "modelfleet.io/owner": model.spec.owner,
        "modelfleet.io/runtime": model.spec.runtime,
    }
