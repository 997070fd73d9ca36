"""Cluster DNS (`minikube-py dns`): Services and endpoints by name, as the Kubernetes
DNS-Based Service Discovery specification says; everything else forwarded upstream."""

from minikube_py.dns.app import run, serving
from minikube_py.dns.settings import DnsSettings

__all__ = ["DnsSettings", "run", "serving"]
