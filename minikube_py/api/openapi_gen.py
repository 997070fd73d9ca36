"""Regenerate api/data/openapi_definitions.json.gz from the official Python client.

The official `kubernetes` client (a test dependency) carries every field of
every Kubernetes type with its JSON name, type, requiredness and description,
generated from Kubernetes' own OpenAPI spec. This script walks the types our
kinds use and writes them as OpenAPI v2 definitions, so /openapi/v2 describes
exactly what kubectl knows without a runtime dependency on the client:

    .venv/bin/python -m minikube_py.api.openapi_gen
"""

from __future__ import annotations

import datetime
import gzip
import json
import re
import sys
import typing
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).parent / "data" / "openapi_definitions.json.gz"
ROOTS = ("V1Pod", "V1Service", "V1Endpoints", "V1Node", "V1Namespace", "V1ServiceAccount",
         "V1Secret", "V1ConfigMap", "CoreV1Event", "V1Deployment", "V1ReplicaSet", "V1Lease",
         "V1EndpointSlice", "V1Scale", "V1Status", "V1DeleteOptions", "V1Binding",
         "V1Job", "V1CronJob", "V1DaemonSet", "V1StatefulSet", "V1ControllerRevision",
         "V1ReplicationController", "V1PodDisruptionBudget", "V1Eviction", "V1Role", "V1ClusterRole", "V1RoleBinding",
         "V1ClusterRoleBinding", "V1PersistentVolume", "V1PersistentVolumeClaim",
         "V1StorageClass", "V1Ingress", "V1IngressClass", "V1NetworkPolicy", "V1APIService",
         "V1ValidatingWebhookConfiguration", "V1MutatingWebhookConfiguration",
         "V2HorizontalPodAutoscaler", "V1HorizontalPodAutoscaler")
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_META = {"ObjectMeta", "ListMeta", "LabelSelector", "LabelSelectorRequirement", "OwnerReference",
         "ManagedFieldsEntry", "Condition", "Status", "StatusDetails", "StatusCause",
         "DeleteOptions", "Preconditions"}
_APPS = {"Deployment", "DeploymentSpec", "DeploymentStatus", "DeploymentStrategy",
         "DeploymentCondition", "RollingUpdateDeployment", "ReplicaSet", "ReplicaSetSpec",
         "ReplicaSetStatus", "ReplicaSetCondition", "DaemonSet", "DaemonSetSpec",
         "DaemonSetStatus", "DaemonSetCondition", "DaemonSetUpdateStrategy",
         "RollingUpdateDaemonSet", "StatefulSet", "StatefulSetSpec", "StatefulSetStatus",
         "StatefulSetCondition", "StatefulSetUpdateStrategy", "RollingUpdateStatefulSetStrategy",
         "StatefulSetOrdinals", "StatefulSetPersistentVolumeClaimRetentionPolicy",
         "ControllerRevision"}
_BATCH = {"Job", "JobSpec", "JobStatus", "JobCondition", "JobTemplateSpec", "CronJob",
          "CronJobSpec", "CronJobStatus", "PodFailurePolicy", "PodFailurePolicyRule",
          "PodFailurePolicyOnExitCodesRequirement", "PodFailurePolicyOnPodConditionsPattern",
          "UncountedTerminatedPods", "SuccessPolicy", "SuccessPolicyRule",
          "JobSchedulingConfiguration"}
_POLICY = {"PodDisruptionBudget", "PodDisruptionBudgetSpec", "PodDisruptionBudgetStatus",
           "Eviction"}
_DISCOVERY = {"EndpointSlice", "Endpoint", "EndpointConditions", "EndpointHints",
              "DiscoveryV1EndpointPort", "ForZone", "ForNode"}
_RBAC = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "PolicyRule",
         "AggregationRule", "RoleRef", "RbacV1Subject", "Subject"}
_STORAGE = {"StorageClass"}
_NETWORKING = {"Ingress", "IngressSpec", "IngressStatus", "IngressRule", "IngressTLS",
               "IngressBackend", "IngressServiceBackend", "ServiceBackendPort",
               "HTTPIngressRuleValue", "HTTPIngressPath", "IngressLoadBalancerStatus",
               "IngressLoadBalancerIngress", "IngressPortStatus", "IngressClass",
               "IngressClassSpec", "IngressClassParametersReference",
               "NetworkPolicy", "NetworkPolicySpec", "NetworkPolicyIngressRule",
               "NetworkPolicyEgressRule", "NetworkPolicyPeer", "NetworkPolicyPort", "IPBlock"}
_ADMISSION = {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
              "ValidatingWebhook", "MutatingWebhook", "RuleWithOperations", "MatchCondition",
              "AdmissionregistrationV1WebhookClientConfig",
              "AdmissionregistrationV1ServiceReference"}
_APIREGISTRATION = {"APIService", "APIServiceSpec", "APIServiceStatus", "APIServiceCondition",
                    "ApiregistrationV1ServiceReference"}
_AUTOSCALING_V2 = {
    "HorizontalPodAutoscaler", "HorizontalPodAutoscalerSpec", "HorizontalPodAutoscalerStatus",
    "HorizontalPodAutoscalerCondition", "HorizontalPodAutoscalerBehavior", "HPAScalingRules",
    "HPAScalingPolicy", "MetricSpec", "MetricStatus", "MetricTarget", "MetricValueStatus",
    "MetricIdentifier", "ResourceMetricSource", "ResourceMetricStatus",
    "ContainerResourceMetricSource", "ContainerResourceMetricStatus", "PodsMetricSource",
    "PodsMetricStatus", "ObjectMetricSource", "ObjectMetricStatus", "ExternalMetricSource",
    "ExternalMetricStatus", "CrossVersionObjectReference"}
_PACKAGES = [(_META, "io.k8s.apimachinery.pkg.apis.meta.v1"), (_APPS, "io.k8s.api.apps.v1"),
             (_STORAGE, "io.k8s.api.storage.v1"), (_NETWORKING, "io.k8s.api.networking.v1"),
             (_APIREGISTRATION, "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1"),
             (_AUTOSCALING_V2, "io.k8s.api.autoscaling.v2"),
             (_ADMISSION, "io.k8s.api.admissionregistration.v1"),
             (_RBAC, "io.k8s.api.rbac.v1"),
             ({"Lease", "LeaseSpec"}, "io.k8s.api.coordination.v1"),
             (_DISCOVERY, "io.k8s.api.discovery.v1"), (_BATCH, "io.k8s.api.batch.v1"),
             (_POLICY, "io.k8s.api.policy.v1"),
             ({"Scale", "ScaleSpec", "ScaleStatus"}, "io.k8s.api.autoscaling.v1")]


# autoscaling/v1's own types: the v1 client classes of names autoscaling/v2 also has.
_AUTOSCALING_V1 = {"V1HorizontalPodAutoscaler", "V1HorizontalPodAutoscalerSpec",
                   "V1HorizontalPodAutoscalerStatus", "V1CrossVersionObjectReference"}


def definition_name(class_name: str) -> str:
    short = re.sub(r"^(CoreV1|V\d+(?:alpha\d+|beta\d+)?)", "", class_name)
    if class_name in _AUTOSCALING_V1:
        return f"io.k8s.api.autoscaling.v1.{short}"
    for names, package in _PACKAGES:
        if short in names:
            return f"{package}.{_unprefixed(short)}"
    return f"io.k8s.api.core.v1.{short}"


def _unprefixed(short: str) -> str:
    """The client's group-qualified class names (RbacV1Subject) as Kubernetes names them."""
    for prefix in ("DiscoveryV1", "RbacV1", "ApiregistrationV1", "AdmissionregistrationV1"):
        short = short.removeprefix(prefix)
    return short


class _Walker:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.definitions: dict[str, Any] = {
            INT_OR_STRING: {"type": "string", "format": "int-or-string",
                            "description": "IntOrString is a type that can hold an int32 or a "
                                           "string."}}

    def schema(self, annotation: Any) -> dict[str, Any]:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is typing.Annotated:
            return self.schema(args[0])
        if origin is typing.Union:
            kinds = [a for a in args if a is not type(None)]
            plain = {typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a
                     for a in kinds}
            if plain == {int, str}:
                return {"$ref": f"#/definitions/{INT_OR_STRING}"}
            if plain == {bytes, str}:
                return {"type": "string", "format": "byte"}
            if len(kinds) == 1:
                return self.schema(kinds[0])
            return {}
        if origin in (list, list):
            return {"type": "array", "items": self.schema(args[0])}
        if origin in (dict, dict):
            return {"type": "object", "additionalProperties": self.schema(args[1])}
        simple = {str: {"type": "string"}, int: {"type": "integer", "format": "int64"},
                  bool: {"type": "boolean"}, float: {"type": "number", "format": "double"},
                  bytes: {"type": "string", "format": "byte"},
                  datetime.datetime: {"type": "string", "format": "date-time"}}
        if annotation in simple:
            return dict(simple[annotation])
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            return {"$ref": f"#/definitions/{self.model(annotation)}"}
        return {}

    def model(self, cls: type) -> str:
        name = definition_name(cls.__name__)
        if name in self.definitions:
            return name
        self.definitions[name] = {}  # placeholder stops recursion
        properties, required = {}, []
        for attr, info in cls.model_fields.items():  # type: ignore[attr-defined]
            json_name = info.serialization_alias or attr
            prop = self.schema(info.annotation)
            if info.description:
                prop["description"] = info.description
            properties[json_name] = prop
            if info.is_required():
                required.append(json_name)
        doc = (cls.__doc__ or "").split("Attributes:")[0].strip()
        definition: dict[str, Any] = {"type": "object", "properties": properties}
        if doc and not doc.startswith("NOTE"):
            definition["description"] = " ".join(doc.split())
        if required:
            definition["required"] = required
        self.definitions[name] = definition
        return name


def generate() -> dict[str, Any]:
    import kubernetes.client

    walker = _Walker(kubernetes.client)
    for root in ROOTS:
        walker.model(getattr(kubernetes.client, root))
    return dict(sorted(walker.definitions.items()))


def main() -> int:
    definitions = generate()
    OUTPUT.parent.mkdir(exist_ok=True)
    data = json.dumps(definitions, sort_keys=True, separators=(",", ":")).encode()
    OUTPUT.write_bytes(gzip.compress(data, mtime=0))
    sys.stderr.write(f"wrote {len(definitions)} definitions to {OUTPUT}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
