"""Typed application state shared by the handlers (aiohttp AppKeys)."""

from __future__ import annotations

import asyncio
import ssl

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from minikube_py.apiserver.aggregation import Aggregator
from minikube_py.apiserver.aggregation_backend import Backends
from minikube_py.apiserver.allocators import Allocators
from minikube_py.apiserver.crd_registry import CrdRegistry
from minikube_py.apiserver.credential_index import CredentialIndex
from minikube_py.apiserver.front_proxy import FrontProxyPki
from minikube_py.apiserver.metrics import Metrics
from minikube_py.apiserver.node_graph import NodeGraph
from minikube_py.apiserver.nslifecycle import NamespaceLifecycle
from minikube_py.apiserver.objects import ObjectStore
from minikube_py.apiserver.rbac_index import RbacIndex
from minikube_py.apiserver.settings import ApiServerSettings
from minikube_py.apiserver.webhook_client import WebhookClients
from minikube_py.apiserver.webhook_index import WebhookIndex
from minikube_py.store import Storage, WatchHub
from minikube_py.store.watch_cache import WatchCache

SETTINGS = web.AppKey("settings", ApiServerSettings)
STORAGE = web.AppKey("storage", Storage)
OBJECTS = web.AppKey("objects", ObjectStore)
HUB = web.AppKey("watch_hub", WatchHub)
WATCH_CACHE = web.AppKey("watch_cache", WatchCache)
METRICS = web.AppKey("metrics", Metrics)
ALLOCATORS = web.AppKey("allocators", Allocators)
NAMESPACE_LIFECYCLE = web.AppKey("namespace_lifecycle", NamespaceLifecycle)
RBAC = web.AppKey("rbac_index", RbacIndex)
NODE_GRAPH = web.AppKey("node_graph", NodeGraph)
CREDENTIALS = web.AppKey("credential_index", CredentialIndex)
CRDS = web.AppKey("crd_registry", CrdRegistry)
AGGREGATOR = web.AppKey("aggregator", Aggregator)
BACKENDS = web.AppKey("aggregation_backends", Backends)
FRONT_PROXY = web.AppKey("front_proxy_pki", FrontProxyPki)
WEBHOOKS = web.AppKey("webhook_index", WebhookIndex)
WEBHOOK_CLIENTS = web.AppKey("webhook_clients", WebhookClients)
# The pump task of every open watch, cancelled on shutdown.
# How the api-server dials kubelets (server.kubelet_client_tls), made once at start.
KUBELET_TLS = web.AppKey("kubelet_tls", ssl.SSLContext)
# What TokenRequest signs with (D/pki/sa.key), read once at start.
SA_SIGNING_KEY = web.AppKey("sa_signing_key", rsa.RSAPrivateKey)
WATCH_PUMPS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("watch_pumps")
