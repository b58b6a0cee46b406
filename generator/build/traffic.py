"""How client traffic reaches a model: the environment's router (Gateway API or NGINX
Ingress), the objects that expose a model through it, and how a canary's share is set.

A canary of an exposed model behind a router gets stable and canary Services and Argo
Rollouts' trafficRouting: the route's weights (Gateway API plugin) or a canary Ingress
(NGINX) send it exactly its step's share of the router's requests. Any other canary has no
such Services, so the model's Service keeps selecting every pod and the canary gets a share
by its share of replicas (see ``rollout``). Blue-green needs no router support: Argo Rollouts
switches the active Service, which the route or Ingress points at.

Sources: argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi pkg/plugin/types.go (the
plugin's configuration: httpRoute, namespace), httproute.go setHTTPRouteWeight (it sets the
weights of the backendRefs named after the two Services); argo-rollouts
rollout/trafficrouting/nginx/nginx.go and utils/ingress GetCanaryIngressName (the canary
Ingress ``<rollout>-<stableIngress>-canary``, a copy of the stable one's rules that use the
stableService).
"""

from __future__ import annotations

from typing import Any

from generator.build.identity import serving_port
from generator.read.resolve import ResolvedModel

GATEWAY_API_PLUGIN = "argoproj-labs/gatewayAPI"
# What the plugin labels a route with while it holds canary weights (pkg/plugin/labels.go,
# defaults.InProgressLabelKey); the plugin's docs have Argo CD ignore the route's rules then.
IN_PROGRESS_LABEL = "rollouts.argoproj.io/gatewayapi-canary"


def router(model: ResolvedModel) -> str:
    env = model.environment
    return "none" if env is None else env.traffic.router


def exposed(model: ResolvedModel) -> bool:
    """The model has a route or Ingress here (validation requires a router wherever it is exposed)."""
    return model.spec.expose is not None and router(model) != "none"


def routed_canary(model: ResolvedModel) -> bool:
    return model.spec.rollout.strategy == "canary" and exposed(model)


def canary_service(model: ResolvedModel) -> str:
    return f"{model.name}-canary"


def preview_service(model: ResolvedModel) -> str:
    return f"{model.name}-preview"


def canary_ingress(model: ResolvedModel) -> str:
    """The Ingress Argo Rollouts creates for an NGINX canary."""
    return f"{model.name}-{model.name}-canary"


def services(model: ResolvedModel) -> list[str]:
    """The model's Services, its own first: a routed canary's canary Service, a blue-green's preview."""
    if routed_canary(model):
        return [model.name, canary_service(model)]
    if model.spec.rollout.strategy == "blueGreen":
        return [model.name, preview_service(model)]
    return [model.name]


def canary_routing(model: ResolvedModel) -> dict[str, Any]:
    """The Rollout's stable/canary Services and trafficRouting (empty without a router)."""
    if not routed_canary(model):
        return {}
    if router(model) == "gatewayAPI":
        routing: dict[str, Any] = {"plugins": {GATEWAY_API_PLUGIN: {"httpRoute": model.name}}}
    else:
        routing = {"nginx": {"stableIngress": model.name}}
    return {"stableService": model.name, "canaryService": canary_service(model), "trafficRouting": routing}


def route_objects(model: ResolvedModel, labels: dict[str, str]) -> list[dict[str, Any]]:
    """The HTTPRoute or Ingress that exposes the model (none when it is not exposed)."""
    expose = model.spec.expose
    env = model.environment
    if expose is None or env is None or not exposed(model):
        return []
    port = serving_port(model)
    metadata = {"name": model.name, "labels": labels}
    if env.traffic.router == "gatewayAPI":
        gateway = env.traffic.gatewayAPI
        assert gateway is not None, "validated: router gatewayAPI names its Gateway"
        parent: dict[str, Any] = {"name": gateway.gateway.name}
        if gateway.gateway.namespace is not None:
            parent["namespace"] = gateway.gateway.namespace
        if gateway.gateway.sectionName is not None:
            parent["sectionName"] = gateway.gateway.sectionName
        backends = [{"name": model.name, "port": port, "weight": 100}]
        if routed_canary(model):
            backends.append({"name": canary_service(model), "port": port, "weight": 0})
        rule = {"matches": [{"path": {"type": "PathPrefix", "value": expose.path}}], "backendRefs": backends}
        return [
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": metadata,
                "spec": {"parentRefs": [parent], "hostnames": [expose.host], "rules": [rule]},
            }
        ]
    backend = {"service": {"name": model.name, "port": {"name": "http"}}}
    path = {"path": expose.path, "pathType": "Prefix", "backend": backend}
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": metadata,
            "spec": {
                "ingressClassName": env.traffic.nginx.ingressClassName,
                "rules": [{"host": expose.host, "http": {"paths": [path]}}],
            },
        }
    ]


def router_request_rate(model: ResolvedModel, window: str) -> str:
    """Requests per second the router received for the model, whether or not it has pods:
    ingress-nginx counts a request to an Ingress without endpoints as a 503 in
    nginx_ingress_controller_requests{namespace, ingress} (kubernetes/ingress-nginx
    internal/ingress/metric/collectors/socket.go; rootfs/etc/nginx/lua/balancer.lua rewrite),
    and the stable and canary Ingresses together carry all of it."""
    env = model.environment
    assert env is not None and env.traffic.router == "nginx", "validated: wakeUp.router needs router nginx"
    label = env.traffic.nginx.namespaceLabel
    ingress = f'ingress="{model.name}"'
    if routed_canary(model):
        ingress = f'ingress=~"{model.name}|{canary_ingress(model)}"'
    selector = f'nginx_ingress_controller_requests{{{label}="{env.namespace}",{ingress}}}'
    return f"sum(rate({selector}[{window}]))"
