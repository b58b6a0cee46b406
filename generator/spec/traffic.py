"""How client traffic reaches a model: the environment's router (Gateway API or ingress-nginx)
and the host and path a model is exposed at."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from generator.spec.base import Spec, field_error
from generator.spec.names import DNSLabel, DNSSubdomain, Hostname, HttpPath, PromLabel


class Expose(Spec):
    host: Hostname = Field(description="Host name clients use; the model's HTTPRoute or Ingress matches it.")
    path: HttpPath = Field("/", description="Path prefix sent to the model.")


class GatewayRef(Spec):
    name: DNSSubdomain = Field(description="Name of the Gateway the models' HTTPRoutes attach to.")
    namespace: DNSLabel | None = Field(None, description="Its namespace; defaults to the environment's.")
    sectionName: DNSSubdomain | None = Field(None, description="The Gateway listener to attach to; all by default.")


class GatewayApiRouter(Spec):
    gateway: GatewayRef = Field(description="The Gateway in front of the models.")


class NginxRouter(Spec):
    ingressClassName: DNSSubdomain = Field("nginx", description="IngressClass of the ingress-nginx controller.")
    namespaceLabel: PromLabel = Field(
        "exported_namespace",
        description="The label that holds an Ingress's namespace on nginx_ingress_controller_requests as your Prometheus stores it: exported_namespace when the controller is scraped with honorLabels false (the charts' default), namespace with honorLabels true.",
    )


class Traffic(Spec):
    router: Literal["none", "gatewayAPI", "nginx"] = Field(
        "none",
        description="What routes client traffic to exposed models: none, gatewayAPI (HTTPRoutes; canaries through the Argo Rollouts Gateway API plugin) or nginx (Ingresses; canaries through Argo Rollouts' NGINX support).",
    )
    gatewayAPI: GatewayApiRouter | None = Field(None, description="Settings of router gatewayAPI.")
    nginx: NginxRouter = Field(default_factory=NginxRouter, description="Settings of router nginx.")

    @model_validator(mode="after")
    def _settings(self) -> Self:
        if self.router == "gatewayAPI" and self.gatewayAPI is None:
            raise field_error(
                "traffic.router gatewayAPI needs traffic.gatewayAPI.gateway",
                "name the Gateway: gatewayAPI: {gateway: {name: public, namespace: gateway-system}}",
                "gatewayAPI",
            )
        return self
