"""The wire's shapes: TypedDicts for the objects and the parts our components read.

One module, not one per kind group: these are declarations only (no logic), the kinds
reference each other (a ReplicaSet holds a PodTemplateSpec, an EndpointSlice an
ObjectReference), and one import line serves a controller that reads four kinds.

As kopf's `_cogs/structs/bodies.py`: the JSON stays a plain dict at runtime, the types
only tell mypy (and the reader) which keys exist. Kubernetes marks most fields optional
(`omitempty`), hence `total=False`; `Required[...]` marks what the API always sets or
validation demands. Kinds and parts no component reads field by field are left out;
use `Object` for raw bodies (request bodies before validation, discovery and OpenAPI
documents, patches) where no TypedDict fits. Validation code keeps reading `Any`
(untrusted input may have any shape); these types describe objects after the
api-server accepted them.
"""

from __future__ import annotations

from typing import Any, Required, TypedDict

# A JSON object as decoded: a raw Kubernetes object or any document of the API.
Object = dict[str, Any]


# meta/v1 ------------------------------------------------------------------------------

class OwnerReference(TypedDict, total=False):
    apiVersion: Required[str]
    kind: Required[str]
    name: Required[str]
    uid: Required[str]
    controller: bool
    blockOwnerDeletion: bool


class ObjectMeta(TypedDict, total=False):
    name: str
    generateName: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    deletionGracePeriodSeconds: int
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]
    finalizers: list[str]
    managedFields: list[Object]


# The functional form: "continue" is a Python keyword.
ListMeta = TypedDict("ListMeta", {"resourceVersion": str, "continue": str,
                                  "remainingItemCount": int}, total=False)


class LabelSelectorRequirement(TypedDict, total=False):
    key: Required[str]
    operator: Required[str]
    values: list[str]


class LabelSelector(TypedDict, total=False):
    matchLabels: dict[str, str]
    matchExpressions: list[LabelSelectorRequirement]


class Condition(TypedDict, total=False):
    """metav1.Condition and the per-kind conditions (PodCondition, NodeCondition,
    DeploymentCondition ...): same keys, some kinds add lastProbe/lastUpdate/Heartbeat."""
    type: Required[str]
    status: Required[str]
    reason: str
    message: str
    lastTransitionTime: str
    lastProbeTime: str | None  # a zero metav1.Time is null
    lastUpdateTime: str
    lastHeartbeatTime: str
    observedGeneration: int


class ObjectReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    namespace: str
    name: str
    uid: str
    resourceVersion: str
    fieldPath: str


class KubeObject(TypedDict, total=False):
    """Every kind's envelope; the kinds below add spec and status."""
    apiVersion: str
    kind: str
    metadata: ObjectMeta


class ObjectList(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ListMeta
    items: list[Object]


# core/v1 Pod --------------------------------------------------------------------------

class ContainerPort(TypedDict, total=False):
    name: str
    containerPort: Required[int]
    hostPort: int
    hostIP: str
    protocol: str


class EnvVar(TypedDict, total=False):
    name: Required[str]
    value: str
    valueFrom: Object


# resource.Quantity: a string on Kubernetes' wire ("500m", "1Gi"); a client may send a number.
Quantity = str | int | float


class ResourceRequirements(TypedDict, total=False):
    requests: dict[str, Quantity]
    limits: dict[str, Quantity]


class Probe(TypedDict, total=False):
    exec: Object
    httpGet: Object
    tcpSocket: Object
    grpc: Object
    initialDelaySeconds: int
    timeoutSeconds: int
    periodSeconds: int
    successThreshold: int
    failureThreshold: int
    terminationGracePeriodSeconds: int


class VolumeMount(TypedDict, total=False):
    name: Required[str]
    mountPath: Required[str]
    subPath: str
    readOnly: bool


class Container(TypedDict, total=False):
    name: Required[str]
    image: str
    imagePullPolicy: str
    command: list[str]
    args: list[str]
    workingDir: str
    ports: list[ContainerPort]
    env: list[EnvVar]
    envFrom: list[Object]
    resources: ResourceRequirements
    volumeMounts: list[VolumeMount]
    livenessProbe: Probe
    readinessProbe: Probe
    startupProbe: Probe
    lifecycle: Object
    securityContext: Object
    terminationMessagePath: str
    terminationMessagePolicy: str
    restartPolicy: str
    stdin: bool
    tty: bool


class Toleration(TypedDict, total=False):
    key: str
    operator: str
    value: str
    effect: str
    tolerationSeconds: float  # int64 on the wire; controllers compute with seconds as floats


class Volume(TypedDict, total=False):
    """A name plus exactly one source (emptyDir, hostPath, configMap, secret, projected
    ...), each read by the kubelet's volume code as a raw Object."""
    name: Required[str]
    emptyDir: Object
    hostPath: Object
    configMap: Object
    secret: Object
    projected: Object
    downwardAPI: Object
    persistentVolumeClaim: Object
    nfs: Object


class PodSpec(TypedDict, total=False):
    # Validation requires containers; not Required[] here, so a tolerant read types:
    # `spec: PodSpec = pod.get("spec") or {}`.
    containers: list[Container]
    initContainers: list[Container]
    volumes: list[Volume]
    restartPolicy: str
    terminationGracePeriodSeconds: int
    activeDeadlineSeconds: int
    dnsPolicy: str
    nodeSelector: dict[str, str]
    serviceAccountName: str
    serviceAccount: str
    automountServiceAccountToken: bool
    nodeName: str
    hostNetwork: bool
    hostPID: bool
    hostname: str
    subdomain: str
    affinity: Object
    schedulerName: str
    tolerations: list[Toleration]
    priority: int
    priorityClassName: str
    overhead: dict[str, Quantity]
    securityContext: Object
    enableServiceLinks: bool


class ContainerStateWaiting(TypedDict, total=False):
    reason: str
    message: str


class ContainerStateRunning(TypedDict, total=False):
    startedAt: str | None


class ContainerStateTerminated(TypedDict, total=False):
    exitCode: Required[int]
    signal: int
    reason: str
    message: str
    startedAt: str | None  # null: the container never started
    finishedAt: str | None
    containerID: str


class ContainerState(TypedDict, total=False):
    waiting: ContainerStateWaiting
    running: ContainerStateRunning
    terminated: ContainerStateTerminated


class ContainerStatus(TypedDict, total=False):
    name: Required[str]
    state: ContainerState
    lastState: ContainerState
    ready: bool
    restartCount: int
    image: str
    imageID: str
    containerID: str
    started: bool


class PodIP(TypedDict):
    ip: str


class PodStatus(TypedDict, total=False):
    phase: str
    conditions: list[Condition]
    message: str
    reason: str
    hostIP: str
    hostIPs: list[PodIP]
    podIP: str | None  # the kubelet writes null until the sandbox has an address
    podIPs: list[PodIP]
    startTime: str
    initContainerStatuses: list[ContainerStatus]
    containerStatuses: list[ContainerStatus]
    qosClass: str


class Pod(KubeObject, total=False):
    spec: PodSpec
    status: PodStatus


class PodTemplateSpec(TypedDict, total=False):
    metadata: ObjectMeta
    spec: PodSpec


# core/v1 Service, Endpoints; discovery/v1 EndpointSlice -----------------------------

class ServicePort(TypedDict, total=False):
    name: str
    protocol: str
    appProtocol: str
    port: Required[int]
    targetPort: int | str
    nodePort: int


class ServiceSpec(TypedDict, total=False):
    type: str
    selector: dict[str, str]
    ports: list[ServicePort]
    clusterIP: str
    clusterIPs: list[str]
    externalIPs: list[str]
    externalName: str
    externalTrafficPolicy: str
    internalTrafficPolicy: str
    sessionAffinity: str
    sessionAffinityConfig: Object
    publishNotReadyAddresses: bool
    ipFamilies: list[str]
    ipFamilyPolicy: str
    loadBalancerIP: str
    loadBalancerClass: str
    loadBalancerSourceRanges: list[str]
    healthCheckNodePort: int
    allocateLoadBalancerNodePorts: bool


class Service(KubeObject, total=False):
    spec: ServiceSpec
    status: Object


class EndpointAddress(TypedDict, total=False):
    ip: Required[str]
    hostname: str
    nodeName: str
    targetRef: ObjectReference


class EndpointPort(TypedDict, total=False):
    name: str
    port: Required[int]
    protocol: str
    appProtocol: str


class EndpointSubset(TypedDict, total=False):
    addresses: list[EndpointAddress]
    notReadyAddresses: list[EndpointAddress]
    ports: list[EndpointPort]


class Endpoints(KubeObject, total=False):
    subsets: list[EndpointSubset]


class EndpointConditions(TypedDict, total=False):
    ready: bool
    serving: bool
    terminating: bool


class Endpoint(TypedDict, total=False):
    """discovery/v1 Endpoint: one backend of an EndpointSlice."""
    addresses: Required[list[str]]
    conditions: EndpointConditions
    hostname: str
    targetRef: ObjectReference
    nodeName: str
    zone: str


class EndpointSlice(KubeObject, total=False):
    addressType: str
    endpoints: list[Endpoint]
    ports: list[EndpointPort]


# core/v1 Node, Namespace, ServiceAccount, Secret, ConfigMap ------------------------

class Taint(TypedDict, total=False):
    key: Required[str]
    value: str
    effect: Required[str]
    timeAdded: str


class NodeSpec(TypedDict, total=False):
    podCIDR: str
    podCIDRs: list[str]
    taints: list[Taint]
    unschedulable: bool
    providerID: str


class NodeAddress(TypedDict):
    type: str
    address: str


class NodeSystemInfo(TypedDict, total=False):
    machineID: str
    systemUUID: str
    bootID: str
    kernelVersion: str
    osImage: str
    containerRuntimeVersion: str
    kubeletVersion: str
    kubeProxyVersion: str
    operatingSystem: str
    architecture: str


class NodeStatus(TypedDict, total=False):
    capacity: dict[str, Quantity]
    allocatable: dict[str, Quantity]
    conditions: list[Condition]
    addresses: list[NodeAddress]
    nodeInfo: NodeSystemInfo
    daemonEndpoints: Object
    images: list[Object]


class Node(KubeObject, total=False):
    spec: NodeSpec
    status: NodeStatus


class Namespace(KubeObject, total=False):
    spec: Object
    status: Object


class ServiceAccount(KubeObject, total=False):
    secrets: list[ObjectReference]
    automountServiceAccountToken: bool


class Secret(KubeObject, total=False):
    type: str
    data: dict[str, str]
    stringData: dict[str, str]


class ConfigMap(KubeObject, total=False):
    data: dict[str, str]
    binaryData: dict[str, str]


# apps/v1 ReplicaSet, Deployment -----------------------------------------------------

class ReplicaSetSpec(TypedDict, total=False):
    replicas: int
    minReadySeconds: int
    selector: LabelSelector
    template: PodTemplateSpec


class ReplicaSetStatus(TypedDict, total=False):
    replicas: int
    fullyLabeledReplicas: int
    readyReplicas: int
    availableReplicas: int
    observedGeneration: int
    conditions: list[Condition]


class ReplicaSet(KubeObject, total=False):
    spec: ReplicaSetSpec
    status: ReplicaSetStatus


class RollingUpdateDeployment(TypedDict, total=False):
    maxUnavailable: int | str
    maxSurge: int | str


class DeploymentStrategy(TypedDict, total=False):
    type: str
    rollingUpdate: RollingUpdateDeployment


class DeploymentSpec(TypedDict, total=False):
    replicas: int
    selector: LabelSelector
    template: PodTemplateSpec
    strategy: DeploymentStrategy
    minReadySeconds: int
    revisionHistoryLimit: int
    paused: bool
    progressDeadlineSeconds: int


class DeploymentStatus(TypedDict, total=False):
    observedGeneration: int
    replicas: int
    updatedReplicas: int
    readyReplicas: int
    availableReplicas: int
    unavailableReplicas: int
    conditions: list[Condition]
    collisionCount: int


class Deployment(KubeObject, total=False):
    spec: DeploymentSpec
    status: DeploymentStatus


# coordination/v1 Lease, events ---------------------------------------------------------

class LeaseSpec(TypedDict, total=False):
    holderIdentity: str
    leaseDurationSeconds: int
    acquireTime: str
    renewTime: str
    leaseTransitions: int


class Lease(KubeObject, total=False):
    spec: LeaseSpec


class Event(KubeObject, total=False):
    """core/v1 Event (what kubectl describe and get events read)."""
    involvedObject: ObjectReference
    reason: str
    message: str
    type: str
    count: int
    source: Object
    firstTimestamp: str
    lastTimestamp: str
    eventTime: str
    reportingComponent: str
    reportingInstance: str
